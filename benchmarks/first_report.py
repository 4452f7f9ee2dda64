"""A long-running server's first crash, and its later ones: from the crash to the receiver.

What is measured: in a server process that started, installed its crash reporting and
then sat idle as a server does between requests (``IDLE`` s), the time from a crash in a
request-like call to the moment the report *arrived* at a loopback receiver; then the
same for ``len(GAPS)`` more crashes of the same process, each ``GAPS[i]`` s after the
previous report arrived, whose median is the "later crashes" figure. The pauses are
spread evenly over the OpenTelemetry SDK's 5 s export period (a crash right after an
export would wait the whole period, one right before it almost nothing): its median is
then its expected wait for a crash at a random moment, and the pauses are the same for
every contender.

Side by side, each round a fresh process per contender (interleaved), each set up the
way its documentation says, sending to the same loopback receiver (``_receiver.py``: the
arrival time is taken by the receiver, before it answers, on the clock the crashing
process used for its own timestamp):

- ours: ``Telemetry(exporters="otlp").install(mode="server")`` (consent by server mode,
  as a deployed server has it), each crash reported by ``capture_exception``;
- the OpenTelemetry SDK: ``TracerProvider`` + ``BatchSpanProcessor`` (defaults: 5 s
  schedule delay) + ``OTLPSpanExporter`` (OTLP/HTTP), the request in a span that records
  the exception as it leaves (what OTel's instrumentations do);
- sentry-sdk: ``sentry_sdk.init(dsn)`` (defaults), each crash reported by
  ``sentry_sdk.capture_exception``.

The request-like call is the same for all three: a handler that raises, called by a
"framework" function that catches the exception and reports it, on the main thread.
The crash's time is ``time.monotonic()`` written just before the handler raises, so every
contender's capture, hand-off and sending is counted, and nothing before it: the first
report of a server is what goal 2 of issue 20 is about, i.e. whether the imports and
set-up of the reporting pipeline still lie between the crash and the receiver.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _config import config_dir  # sibling modules, not a package
from _process import start_ready
from _receiver import Receiver, contender_env

OURS = "otel_telemetry (otlp, server mode)"
OTEL = "OTel SDK BatchSpanProcessor + OTLPSpanExporter"
SENTRY = "sentry-sdk init + capture_exception"

IDLE = 1.0  # seconds a server sits idle after start before its first crash
GAPS = (0.8, 2.5, 4.2)  # seconds from a report's arrival to the next crash: 1/6, 3/6, 5/6 of 5 s
LATER = len(GAPS)
WAIT = 20.0  # seconds to wait for one report (the SDK's batch delay is 5 s)

_SETUP = {
    OURS: """
from otel_telemetry import Telemetry
telemetry = Telemetry(app="bench", package="__main__", exporters="otlp")
telemetry.install(mode="server")
def serve(request):
    try:
        handle(request)
    except ValueError as exc:
        telemetry.capture_exception(exc)
""",
    OTEL: """
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
provider = TracerProvider()
provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
trace.set_tracer_provider(provider)
tracer = trace.get_tracer("bench")
def serve(request):
    try:
        with tracer.start_as_current_span("request"):  # records the exception as it leaves
            handle(request)
    except ValueError:
        pass
""",
    SENTRY: """
import os
import sentry_sdk
sentry_sdk.init(dsn=os.environ["BENCH_DSN"])
def serve(request):
    try:
        handle(request)
    except ValueError as exc:
        sentry_sdk.capture_exception(exc)
""",
}

_SERVER = """
import sys, time
IDLE, GAPS = float(sys.argv[1]), [float(gap) for gap in sys.argv[2].split(",")]
CRASHES = 1 + len(GAPS)
def handle(request):
    raise ValueError(f"request {{request}} failed")
{setup}
print("ready", flush=True)
time.sleep(IDLE)  # a server between requests
for request in range(CRASHES):
    if request:
        if not sys.stdin.readline():  # the previous report arrived (or the harness gave up)
            break
        time.sleep(GAPS[request - 1])
    print(f"@@ {{time.monotonic()!r}}", flush=True)
    serve(request)
sys.stdin.readline()  # stay up until the harness is done
"""


def _one(name: str, receiver: Receiver) -> list[Optional[float]]:
    """One server process of ``name``: seconds from each crash to its report's arrival."""
    receiver.reset()
    latencies: list[Optional[float]] = []
    crashes = 1 + LATER
    code = _SERVER.format(setup=_SETUP[name])
    with config_dir() as config, tempfile.TemporaryFile() as stderr:
        process = start_ready(
            name,
            [sys.executable, "-c", code, str(IDLE), ",".join(map(str, GAPS))],
            contender_env(receiver.port, BENCH_CONFIG_DIR=config),
            stderr,
            "ready",
        )
        assert process.stdin is not None
        assert process.stdout is not None
        try:
            for count in range(1, crashes + 1):
                line = process.stdout.readline()
                if not line.startswith("@@ "):
                    break  # the process ended
                crashed = float(line[3:])
                arrived = receiver.wait_for(count, WAIT)
                latencies.append(None if arrived is None else arrived - crashed)
                if arrived is None:
                    break  # its later reports could not be told apart
                process.stdin.write("next\n")
                process.stdin.flush()
        finally:
            process.stdin.close()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    return latencies + [None] * (crashes - len(latencies))


def measure(rounds: int) -> tuple[dict[str, list[float]], dict[str, list[float]], dict[str, int]]:
    """Per contender: ms from the first crash to its arrival, one value per round; the
    median ms of the later crashes per round; and how many first reports arrived (a
    report that never came is left out of the times and counted here).
    """
    first: dict[str, list[float]] = {name: [] for name in _SETUP}
    later: dict[str, list[float]] = {name: [] for name in _SETUP}
    delivered = dict.fromkeys(_SETUP, 0)
    receiver = Receiver()
    try:
        for _ in range(rounds):
            for name in _SETUP:
                latencies = _one(name, receiver)
                if latencies[0] is not None:
                    first[name].append(latencies[0] * 1000)
                    delivered[name] += 1
                arrived = [value * 1000 for value in latencies[1:] if value is not None]
                if arrived:
                    later[name].append(statistics.median(arrived))
    finally:
        receiver.close()
    for results in (first, later):
        for values in results.values():
            if not values:
                values.append(WAIT * 1000)  # none arrived: at least the whole wait
    return first, later, delivered


if __name__ == "__main__":
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    first, later, delivered = measure(rounds)
    for name in first:
        print(
            f"{name}: first crash -> receiver {statistics.median(first[name]):.1f} ms"
            f" ({min(first[name]):.1f} - {max(first[name]):.1f}),"
            f" later {statistics.median(later[name]):.1f} ms"
            f" ({min(later[name]):.1f} - {max(later[name]):.1f});"
            f" {delivered[name]} of {rounds} first reports arrived"
        )
