"""A burst of 10,000 distinct crashes in one process: how many arrive, and how fast.

What is measured: one process reports ``CRASHES`` distinct crashes, one after the other
as fast as it can (``burst``), or ``PACED_CRASHES`` in runs of ``PACE`` crashes each
followed by the contender's own flush (``paced``: what the worker and the exporter
sustain when the queue in front of them is not the limit). A loopback receiver (``_receiver.py``, in the
harness process, the same for all) counts the reports that arrived and notes when each
request came. Two figures per contender and round:

- delivered: reports that reached the receiver, of ``CRASHES``;
- reports/s: delivered / (last arrival - first capture), i.e. throughput from the
  app's first capture of the burst to the last report's arrival, whatever hands them
  on in between (a queue, the outbox on disk, a sender thread or process).

Contenders, each in a fresh process per round (interleaved), each warmed first by one
crash that is sent and flushed before the burst (imports, connections, threads: the
first report's cost is ``first_report.py``'s subject, not this one's):

- ours: ``Telemetry(exporters="otlp")``, consent by ``<APP>_TELEMETRY=1``, each crash
  through ``capture_exception``, the durable outbox on (the default: every report is on
  disk before it is sent). The storm guard is kept but raised (``storm_limit=STORM_LIMIT``,
  so its global limit, 10 x that per window, lets all ``CRASHES`` through): the crashes
  are distinct anyway (``SITES`` raise sites, functions compiled under their own file
  names, so their own fingerprints, and a message of their own each). The outbox
  bounds (200 reports, 4 MB, README "What waits on disk") are the defaults: no documented
  setting raises them, so "delivered" also shows whether sending keeps the outbox within
  them;
- the OpenTelemetry SDK: ``BatchSpanProcessor`` (defaults: queue 2,048, batches of 512,
  5 s delay) + ``OTLPSpanExporter`` (OTLP/HTTP), a span per crash with
  ``record_exception``;
- sentry-sdk: ``sentry_sdk.init(dsn)`` (defaults), ``capture_exception`` per crash.

Every contender raises the same exceptions from the same sites in the same order, and
after the last capture calls its own flush (ours ``flush``, OTel ``force_flush``,
sentry-sdk ``flush``), then exits; the receiver is watched until all ``CRASHES`` arrived or
nothing came for ``QUIET`` s, so a report handed on at exit (to a thread or a process that
outlives the crashing one) still counts, at the time it arrived.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _config import config_dir  # sibling modules, not a package
from _process import start_ready
from _receiver import Receiver, contender_env

OURS = "otel_telemetry (otlp, durable outbox)"
OTEL = "OTel SDK BatchSpanProcessor + OTLPSpanExporter"
SENTRY = "sentry-sdk init + capture_exception"

CRASHES = 10_000
PACED_CRASHES = 2_000  # paced: a rate, which needs fewer (sentry-sdk sends one at a time)
SITES = 1_000
STORM_LIMIT = 2_000  # per fingerprint and window; the global limit is 10x: 20,000
PACE = 100  # paced: crashes between two flushes
QUIET = 3.0  # seconds without a request that end the wait for stragglers
WAIT = 120.0  # seconds at most for one contender's process and its stragglers

_SETUP = {
    OURS: f"""
from otel_telemetry import Telemetry
telemetry = Telemetry(app="bench", package="__main__", exporters="otlp",
                      storm_limit={STORM_LIMIT})
telemetry.install()
capture = telemetry.capture_exception
def flush():
    telemetry.flush(60)
""",
    OTEL: """
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
provider = TracerProvider()
provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
tracer = provider.get_tracer("bench")
def capture(exc):
    with tracer.start_as_current_span("request", record_exception=False) as span:
        span.record_exception(exc)
def flush():
    provider.force_flush(60_000)
""",
    SENTRY: """
import os
import sentry_sdk
sentry_sdk.init(dsn=os.environ["BENCH_DSN"])
capture = sentry_sdk.capture_exception
def flush():
    sentry_sdk.flush(60)
""",
}

_BURST = """
import sys, time
CRASHES, SITES, PACE = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
def site(name):
    # A raise site of its own (file and function name): a crash fingerprint of its own.
    scope = {{}}
    exec(compile(f"def {{name}}(message):\\n    raise ValueError(message)\\n",
                 f"{{name}}.py", "exec"), scope)
    return scope[name]
sites = [site(f"crash_{{index}}") for index in range(SITES)]
def crash(raiser, message):
    try:
        raiser(message)
    except ValueError as exc:
        capture(exc)
{setup}
crash(site("warm_up"), "warm-up")
flush()
print("warm", flush=True)
sys.stdin.readline()
print(f"@@ {{time.monotonic()!r}}", flush=True)
for index in range(CRASHES):
    crash(sites[index % SITES], f"request {{index}} failed for job {{index * 7919 % 100003}}")
    if PACE and (index + 1) % PACE == 0:
        flush()
flush()
"""


def _one(name: str, receiver: Receiver, crashes: int, pace: int) -> tuple[int, float]:
    """One process of ``name``: reports delivered, and reports per second."""
    receiver.reset()
    code = _BURST.format(setup=_SETUP[name])
    with config_dir() as config, tempfile.TemporaryFile() as stderr:
        process = start_ready(
            name,
            [sys.executable, "-c", code, str(crashes), str(SITES), str(pace)],
            contender_env(receiver.port, BENCH_TELEMETRY="1", BENCH_CONFIG_DIR=config),
            stderr,
            "warm",
        )
        assert process.stdin is not None
        assert process.stdout is not None
        try:
            if receiver.wait_for(1, 30) is None:
                raise RuntimeError(f"{name}: the warm-up report never arrived")
            receiver.reset()
            process.stdin.write("go\n")
            process.stdin.close()
            started = float(process.stdout.readline()[3:])
            try:
                process.wait(timeout=WAIT)
            except subprocess.TimeoutExpired:
                pass  # what arrived by then counts; the process is stopped below
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        receiver.wait_quiet(QUIET, WAIT, lambda: receiver.reports() >= crashes)
        if receiver.errors:
            raise RuntimeError(f"{name}: {receiver.errors} requests the receiver could not read")
    delivered = receiver.reports()
    if not delivered:
        return 0, 0.0
    last = receiver.arrivals[-1][0]
    return delivered, delivered / (last - started)


def measure(rounds: int, pace: int = 0) -> tuple[dict[str, list[float]], dict[str, list[int]]]:
    """Per contender and round (interleaved): reports/s, and reports delivered.

    ``pace`` 0 is the burst of ``CRASHES``; otherwise ``PACED_CRASHES``, each contender
    flushing after every ``pace`` crashes.
    """
    crashes = PACED_CRASHES if pace else CRASHES
    rates: dict[str, list[float]] = {name: [] for name in _SETUP}
    delivered: dict[str, list[int]] = {name: [] for name in _SETUP}
    receiver = Receiver()
    try:
        for _ in range(rounds):
            for name in _SETUP:
                count, rate = _one(name, receiver, crashes, pace)
                delivered[name].append(count)
                rates[name].append(rate)
    finally:
        receiver.close()
    return rates, delivered


if __name__ == "__main__":
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    for pace in (0, PACE):
        rates, delivered = measure(rounds, pace)
        kind = f"paced (flush every {pace})" if pace else "burst"
        crashes = PACED_CRASHES if pace else CRASHES
        for name in rates:
            print(
                f"{kind}: {name}: {statistics.median(rates[name]):,.0f} reports/s"
                f" ({min(rates[name]):,.0f} - {max(rates[name]):,.0f}),"
                f" delivered {statistics.median(delivered[name]):,.0f} of {crashes:,}"
                f" ({min(delivered[name]):,} - {max(delivered[name]):,})"
            )
