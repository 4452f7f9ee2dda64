"""App-thread time to capture one exception with a 20-frame traceback.

Side by side, same exceptions, same process: ours (``Telemetry.capture_exception``, with
consent, to the ``none`` exporter), sentry-sdk (``Client.capture_event`` of
``event_from_exception``, default options, a transport that drops envelopes) and the
plain OpenTelemetry SDK (``span.record_exception`` on a span of a provider with no
processor). Each capture gets a fresh exception object, raised through 20 frames; only
the capture call is timed. Our worker thread is drained between batches (not timed), so
it competes with the measured thread as little as it would in a host.
"""

from __future__ import annotations

import os
import tempfile
import time
from typing import Any, Callable

DEPTH = 20
BATCH = 200

OURS = "otel_telemetry capture_exception"
STORM = "otel_telemetry, storm (counted, not sent)"
SENTRY = "sentry-sdk capture_event(event_from_exception)"
OTEL = "OTel SDK span.record_exception"


def _raise_at_depth(depth: int) -> None:
    if depth <= 1:
        raise ValueError("crawl failed for https://example.com/x?token=abc")
    _raise_at_depth(depth - 1)


def _fresh_exceptions(count: int) -> list[BaseException]:
    exceptions = []
    for _ in range(count):
        try:
            _raise_at_depth(DEPTH - 1)  # + this frame = DEPTH frames in the traceback
        except ValueError as exc:
            exceptions.append(exc)
    return exceptions


def _ours() -> tuple[Callable[[BaseException], Any], Callable[[], Any]]:
    os.environ.update(
        BENCH_TELEMETRY="1",
        BENCH_TELEMETRY_EXPORTER="none",
        BENCH_CONFIG_DIR=tempfile.mkdtemp(prefix="otel-telemetry-bench-"),
    )
    from otel_telemetry import Telemetry

    telemetry = Telemetry(app="bench", package=__name__, version="1.0")
    return telemetry.capture_exception, lambda: telemetry.flush(30)


def _storm() -> Callable[[BaseException], Any]:
    """Every exception here is the same crash: after the storm limit, each is only counted."""
    from otel_telemetry import Telemetry

    telemetry = Telemetry(app="bench", package=__name__, version="1.0", storm_limit=5)
    return telemetry.capture_exception


def _sentry() -> Callable[[BaseException], Any]:
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

    return capture


def _otel() -> Callable[[BaseException], Any]:
    from opentelemetry.sdk.trace import TracerProvider

    span = TracerProvider().get_tracer("bench").start_span("bench")
    return span.record_exception


def measure(rounds: int) -> dict[str, list[float]]:
    """Microseconds per capture, one median-able value per round and contender."""
    ours, drain = _ours()  # sets the BENCH_* variables the storm contender shares
    contenders = {OURS: ours, STORM: _storm(), SENTRY: _sentry(), OTEL: _otel()}
    results: dict[str, list[float]] = {name: [] for name in contenders}
    for capture in contenders.values():  # warm-up: imports, caches, the worker thread
        for exc in _fresh_exceptions(20):
            capture(exc)
    drain()
    for _ in range(rounds):
        for name, capture in contenders.items():
            exceptions = _fresh_exceptions(BATCH)
            started = time.perf_counter()
            for exc in exceptions:
                capture(exc)
            elapsed = time.perf_counter() - started
            results[name].append(elapsed / BATCH * 1e6)
            drain()
    return results
