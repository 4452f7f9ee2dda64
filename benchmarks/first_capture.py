"""The first capture of a process: time on the app thread.

What is measured: in a fresh process, after the library was set up (``install()``, or
the peer's set-up), the wall time the app thread spends in its first capture call of an
exception it already holds (made before the clock starts). This is the call a crashing
program or a failing request waits on, before any report can leave; whatever the call
hands to a worker is not counted here (``capture_cost.py`` counts every thread's CPU).

Contenders, a fresh process each per round (interleaved), each set up as its
documentation says and pointed at the same loopback receiver (``_receiver.py``):

- ours, consent granted (``<APP>_TELEMETRY=1``, exporter ``otlp``): ``sys.excepthook``,
  the path a crash takes, called by the program's own code (so it hands over the report
  and returns: the wait at the end of a program is ``exit_delay.py``'s subject), right
  after ``install()`` (a CLI that fails at once) and after ``IDLE`` s (a server whose
  first request fails: anything ``install()`` started on a worker is done by then);
- ours, consent denied (``<APP>_TELEMETRY=0``): the same call, which must only decline;
- the OpenTelemetry SDK: ``span.record_exception`` on a started span of a
  ``TracerProvider`` with ``BatchSpanProcessor`` + ``OTLPSpanExporter``;
- sentry-sdk: ``sentry_sdk.capture_exception`` after ``sentry_sdk.init(dsn)`` (defaults).

Before the set-up, ``sys.excepthook`` is replaced by a function that does nothing, so the
hook ours chains to prints no traceback: the time is ours alone, as the peers' is theirs.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _config import config_dir  # sibling modules, not a package
from _receiver import Receiver, contender_env

OURS = "otel_telemetry sys.excepthook, consent granted, at once after install()"
OURS_IDLE = "otel_telemetry sys.excepthook, consent granted, 1 s after install()"
OURS_DENIED = "otel_telemetry sys.excepthook, consent denied"
OTEL = "OTel SDK span.record_exception (BatchSpanProcessor + OTLP)"
SENTRY = "sentry-sdk capture_exception (init defaults)"
GOAL_MS = 1.0
IDLE = 1.0

_OURS = """
from otel_telemetry import Telemetry
Telemetry(app="bench", package="__main__", exporters="otlp").install()
def capture(exc):
    sys.excepthook(type(exc), exc, exc.__traceback__)
"""

_SETUP = {
    OURS: (_OURS, {"BENCH_TELEMETRY": "1"}, 0.0),
    OURS_IDLE: (_OURS, {"BENCH_TELEMETRY": "1"}, IDLE),
    OURS_DENIED: (_OURS, {"BENCH_TELEMETRY": "0"}, 0.0),
    OTEL: (
        """
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
provider = TracerProvider()
provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
span = provider.get_tracer("bench").start_span("request")
capture = span.record_exception
""",
        {},
        0.0,
    ),
    SENTRY: (
        """
import os
import sentry_sdk
sentry_sdk.init(dsn=os.environ["BENCH_DSN"])
capture = sentry_sdk.capture_exception
""",
        {},
        0.0,
    ),
}

_PROCESS = """
import sys, time
sys.excepthook = lambda *args: None  # what ours chains to: no traceback printed, not timed
{setup}
def crash():
    raise ValueError("the first crash of this process")
try:
    crash()
except ValueError as exc:
    error = exc
time.sleep(float(sys.argv[1]))
started = time.perf_counter()
capture(error)
elapsed = time.perf_counter() - started
print(repr(elapsed), flush=True)
"""


def _one(name: str, receiver: Receiver) -> float:
    """Milliseconds of the first capture in a fresh process of ``name``."""
    setup, extra, idle = _SETUP[name]
    with config_dir() as config:
        done = subprocess.run(
            [sys.executable, "-c", _PROCESS.format(setup=setup), str(idle)],
            env=contender_env(receiver.port, BENCH_CONFIG_DIR=config, **extra),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
        )
    if done.returncode or not done.stdout.strip():
        raise RuntimeError(f"{name} failed: {done.stderr[-2000:]}")
    return float(done.stdout.split()[-1]) * 1000


def measure(rounds: int) -> dict[str, list[float]]:
    """Milliseconds of the first capture, per contender, one fresh process per round."""
    results: dict[str, list[float]] = {name: [] for name in _SETUP}
    receiver = Receiver()
    try:
        for _ in range(rounds):
            for name in _SETUP:
                results[name].append(_one(name, receiver))
    finally:
        receiver.close()
    return results


if __name__ == "__main__":
    results = measure(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
    otel = statistics.median(results[OTEL])
    for name, values in results.items():
        print(
            f"{name}: {statistics.median(values):.3f} ms ({min(values):.3f} - {max(values):.3f});"
            f" {statistics.median(values) / otel:.2f}x OTel"
        )
