"""Cost of capturing one exception with a 20-frame traceback: app thread, and all threads.

Side by side, same exceptions, same process: ours (``Telemetry.capture_exception``, with
consent), sentry-sdk (``Client.capture_event`` of ``event_from_exception``, default
options, a transport that drops envelopes) and the plain OpenTelemetry SDK
(``span.record_exception`` on a span of a provider with no processor; and, for the
totals, a span per exception, ``record_exception``, ended into a ``BatchSpanProcessor``,
as an SDK set up to send would do).

The exceptions are raised from ``SITES`` distinct crash sites (functions compiled under
their own file names), each with its own message, so each capture of ours is a new crash
that goes through the whole pipeline; ours runs with the storm limit raised so that none
is only counted. The storm row is the other path: one site, one message, storm limit 5,
so all but the first five are counted and not sent.

Two figures per contender and round (interleaved, ``BATCH`` captures, fresh exception
objects made before the clock starts):

- app-thread time: wall time of the capture calls only, on the calling thread. Ours
  hands the capture to a worker thread there; each peer's call is its whole work (the
  batch processor's export aside). So this figure compares our hand-off with the peers'
  work: it is what the host's thread waits, not what a report costs;
- total CPU per report: process CPU time (every thread: ours includes its worker's
  scrubbing, span building, outbox and export) from the first capture until the
  contender has flushed (ours ``flush``, OTel ``force_flush``), divided by ``BATCH``.
  This is the figure that compares the same work: what a report costs the host,
  wherever it runs.

The totals come in two pairs, each with the same kind of exporter on both sides:

- in memory: ours with the ``none`` exporter, the SDK's batch processor with an exporter
  that drops the batch (no encoding, no request);
- OTLP/HTTP to a loopback receiver (``_receiver.py``, run as a process of its own, so its
  CPU is not counted): ours with ``exporters="otlp"`` (the durable outbox on, as by
  default: each report written to disk before it is sent) and the SDK's
  ``OTLPSpanExporter`` (protobuf over HTTP, as ours).

Our worker thread is drained between batches, so it competes with the measured thread as
little as it would in a host.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

DEPTH = 20
BATCH = 200  # below the worker's queue bound (256): nothing is dropped
SITES = 50

OURS = "otel_telemetry capture_exception (exporter none)"
OURS_OTLP = "otel_telemetry capture_exception (otlp to loopback, outbox on)"
STORM = "otel_telemetry, storm (counted, not sent)"
SENTRY = "sentry-sdk capture_event(event_from_exception) (transport drops)"
OTEL = "OTel SDK span.record_exception (no processor)"
OTEL_BATCH = "OTel SDK span + record_exception + BatchSpanProcessor (exporter drops)"
OTEL_OTLP = "OTel SDK span + record_exception + BatchSpanProcessor + OTLPSpanExporter (loopback)"
IN_MEMORY = (OURS, STORM, SENTRY, OTEL, OTEL_BATCH)
"""Contenders whose reports stay in the process (the ``none`` exporter, or one that drops)."""
LOOPBACK = (OURS_OTLP, OTEL_OTLP)
"""Contenders that send each report over OTLP/HTTP to a receiver in another process."""

Capture = Callable[[BaseException], Any]
Drain = Callable[[], Any]


def _no_drain() -> None:
    pass


def _site(index: int) -> Callable[[int, str], None]:
    """A crash site of its own (file name, function name): its own crash fingerprint."""
    source = (
        f"def crash_{index}(depth, message):\n"
        "    if depth <= 1:\n"
        "        raise ValueError(message)\n"
        f"    crash_{index}(depth - 1, message)\n"
    )
    scope: dict[str, Any] = {}
    exec(compile(source, f"site_{index}.py", "exec"), scope)
    return scope[f"crash_{index}"]  # type: ignore[no-any-return]


_SITES = [_site(index) for index in range(SITES)]
_counter = 0


def _fresh_exceptions(count: int, distinct: bool = True) -> list[BaseException]:
    """``count`` new exceptions, ``DEPTH`` frames each; distinct sites and messages or one."""
    global _counter
    exceptions = []
    for _ in range(count):
        _counter += 1
        site = _SITES[_counter % SITES] if distinct else _SITES[0]
        message = (
            f"crawl {_counter} failed for https://example.com/x?token=abc"
            if distinct
            else "crawl failed for https://example.com/x?token=abc"
        )
        try:
            site(DEPTH - 1, message)  # + this frame = DEPTH frames in the traceback
        except ValueError as exc:
            exceptions.append(exc)
    return exceptions


def _ours() -> tuple[Capture, Drain]:
    os.environ.update(
        BENCH_TELEMETRY="1",
        BENCH_TELEMETRY_EXPORTER="none",
        BENCH_CONFIG_DIR=tempfile.mkdtemp(prefix="otel-telemetry-bench-"),
    )
    from otel_telemetry import Telemetry

    # Every crash is sent: no storm limit counts any of them (the peers count none).
    telemetry = Telemetry(app="bench", package=__name__, version="1.0", storm_limit=10**9)
    return telemetry.capture_exception, lambda: telemetry.flush(30)


def _ours_otlp(endpoint: str) -> tuple[Capture, Drain]:
    os.environ.update(
        BENCHOTLP_TELEMETRY="1",
        BENCHOTLP_CONFIG_DIR=tempfile.mkdtemp(prefix="otel-telemetry-bench-"),
    )
    from otel_telemetry import Telemetry

    telemetry = Telemetry(
        app="benchotlp",
        package=__name__,
        version="1.0",
        exporters="otlp",
        otlp_endpoint=endpoint,
        storm_limit=10**9,
    )
    return telemetry.capture_exception, lambda: telemetry.flush(30)


def _storm() -> tuple[Capture, Drain]:
    """Every exception here is the same crash: after the storm limit, each is only counted."""
    from otel_telemetry import Telemetry

    telemetry = Telemetry(app="bench", package=__name__, version="1.0", storm_limit=5)
    return telemetry.capture_exception, lambda: telemetry.flush(30)


def _sentry() -> tuple[Capture, Drain]:
    import sentry_sdk
    from sentry_sdk.transport import Transport
    from sentry_sdk.utils import event_from_exception

    class NullTransport(Transport):
        def capture_envelope(self, envelope: Any) -> None:
            pass

    client = sentry_sdk.Client(
        dsn="http://0123456789abcdef@127.0.0.1:9/1",
        transport=NullTransport,
        default_integrations=False,  # do not patch this benchmark's process
    )

    def capture(exc: BaseException) -> Any:
        event, hint = event_from_exception(exc, client_options=client.options)
        return client.capture_event(event, hint)

    return capture, lambda: client.flush(30)


def _otel() -> tuple[Capture, Drain]:
    from opentelemetry.sdk.trace import TracerProvider

    span = TracerProvider().get_tracer("bench").start_span("bench")
    return span.record_exception, _no_drain


def _otel_batch() -> tuple[Capture, Drain]:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        SpanExporter,
        SpanExportResult,
    )

    class Nowhere(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Nowhere()))
    tracer = provider.get_tracer("bench")

    def capture(exc: BaseException) -> None:
        with tracer.start_as_current_span("request", record_exception=False) as span:
            span.record_exception(exc)

    return capture, lambda: provider.force_flush()


def _otel_otlp(endpoint: str) -> tuple[Capture, Drain]:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(f"{endpoint}/v1/traces")))
    tracer = provider.get_tracer("bench")

    def capture(exc: BaseException) -> None:
        with tracer.start_as_current_span("request", record_exception=False) as span:
            span.record_exception(exc)

    return capture, lambda: provider.force_flush()


def _sink() -> tuple[subprocess.Popen[str], str]:
    """The loopback receiver in a process of its own, and its endpoint."""
    sink = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve().parent / "_receiver.py")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert sink.stdout is not None
    return sink, f"http://127.0.0.1:{int(sink.stdout.readline())}"


def measure_both(rounds: int) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Per contender and round: app-thread µs per capture, and total CPU µs per report."""
    sink, endpoint = _sink()
    try:
        return _measure(rounds, endpoint)
    finally:
        assert sink.stdin is not None
        sink.stdin.close()
        sink.wait(timeout=30)


def _measure(rounds: int, endpoint: str) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    ours = _ours()  # sets the BENCH_* variables the storm contender shares
    contenders = {
        OURS: ours,
        OURS_OTLP: _ours_otlp(endpoint),
        STORM: _storm(),
        SENTRY: _sentry(),
        OTEL: _otel(),
        OTEL_BATCH: _otel_batch(),
        OTEL_OTLP: _otel_otlp(endpoint),
    }
    app: dict[str, list[float]] = {name: [] for name in contenders}
    cpu: dict[str, list[float]] = {name: [] for name in contenders}
    for name, (capture, drain) in contenders.items():  # warm-up: imports, caches, threads
        for exc in _fresh_exceptions(20, distinct=name != STORM):
            capture(exc)
        drain()
    for _ in range(rounds):
        for name, (capture, drain) in contenders.items():
            exceptions = _fresh_exceptions(BATCH, distinct=name != STORM)
            cpu_started = time.process_time()
            started = time.perf_counter()
            for exc in exceptions:
                capture(exc)
            elapsed = time.perf_counter() - started
            drain()
            cpu_elapsed = time.process_time() - cpu_started
            app[name].append(elapsed / BATCH * 1e6)
            cpu[name].append(cpu_elapsed / BATCH * 1e6)
    return app, cpu


def measure(rounds: int) -> dict[str, list[float]]:
    """App-thread microseconds per capture, one value per round and contender."""
    return measure_both(rounds)[0]


if __name__ == "__main__":
    import statistics

    app, cpu = measure_both(5)
    for name in app:
        print(
            f"{name}: app thread {statistics.median(app[name]):.1f} µs,"
            f" total CPU, all threads {statistics.median(cpu[name]):.1f} µs per report"
        )
