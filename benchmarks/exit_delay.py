"""Exit delay of a crashing process, endpoint healthy and endpoint blackholed.

Side by side, same machine, same run: ours (``Telemetry`` with the ``otlp`` exporter,
default 1 s budget), the plain OpenTelemetry SDK (``BatchSpanProcessor`` +
``OTLPSpanExporter``, as its documentation sets it up) and sentry-sdk (``sentry_sdk.init``,
defaults). Each process writes the time just before it raises, reports the exception,
and exits; the delay is from that moment to the process's end, as seen by this process,
so it counts the same thing for all three: the capture, and whatever exit waits for.
Rounds interleave the contenders, each in a fresh process with a fresh config directory.

Two endpoints, the same for all three (each addressed the way its documentation says):

- healthy: a loopback HTTP server (``_receiver.py``) that reads each request, notes when
  each crash report arrived and answers 200 at once (an empty
  ``ExportTraceServiceResponse`` to OTLP, ``{}`` to Sentry envelopes); what the
  process waits for is its own work at exit: imports, building and sending the report.
  Every process must deliver its report (counted per contender): a delay bought by
  dropping the report would not count. Ours hands the report to a detached sender that
  delivers it after the process ended, so a report counts as delivered when it reached
  the endpoint within :data:`DELIVERY_LIMIT` (2 s) of the crash, whoever sent it; the
  peers send before they exit, so theirs are there by the process's end. The time from
  the crash to the report's arrival is kept too (:func:`measure_delivery`).
- blackholed: a socket that accepts connections and never answers; what the process waits
  for is its exit budget or its exporter's timeout.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _receiver import Receiver, contender_env  # a sibling module, not a package

from otel_telemetry.pipeline._handoff import running_senders
from tests.processes import exit_delay
from tests.receivers.faulty import FaultyEndpoint

DELIVERY_LIMIT = 2.0
"""Seconds after the crash by which a report must be at the healthy endpoint."""

OURS = "otel_telemetry (otlp, 1 s budget)"
OTEL = "OTel SDK BatchSpanProcessor + OTLPSpanExporter"
SENTRY = "sentry-sdk init + capture_exception"

_SCRIPTS = {
    OURS: """
import sys, time
from otel_telemetry import Telemetry
t = Telemetry(app="bench", package="__main__", exporters="otlp")
t.install()
def crash():
    raise ValueError("crash")
sys.stderr.write(f"@@ {time.monotonic()!r}\\n")
crash()
""",
    OTEL: """
import sys, time
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
provider = TracerProvider()
provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
trace.set_tracer_provider(provider)
with trace.get_tracer("bench").start_as_current_span("crash") as span:
    sys.stderr.write(f"@@ {time.monotonic()!r}\\n")
    try:
        raise ValueError("crash")
    except ValueError as exc:
        span.record_exception(exc)
""",
    SENTRY: """
import os, sys, time
import sentry_sdk
sentry_sdk.init(dsn=os.environ["BENCH_DSN"])
sys.stderr.write(f"@@ {time.monotonic()!r}\\n")
try:
    raise ValueError("crash")
except ValueError as exc:
    sentry_sdk.capture_exception(exc)
""",
}


def _delay(
    name: str, env: dict[str, str], endpoint: Optional[Receiver] = None
) -> tuple[float, Optional[float]]:
    """One crashing process of ``name``, with a config directory of its own.

    Returns:
        The exit delay, and the seconds from the crash to its report's arrival at
        ``endpoint`` (None: not within :data:`DELIVERY_LIMIT`, or no endpoint given).
        The config directory is kept until the detached sender it started has ended.
    """
    with tempfile.TemporaryDirectory() as config:
        before = endpoint.reports() if endpoint is not None else 0
        delay, result = exit_delay(
            [sys.executable, "-c", _SCRIPTS[name]], {**env, "BENCH_CONFIG_DIR": config}
        )
        crashed = _crash_time(result.stderr)
        arrival = None
        if endpoint is not None:
            limit = crashed + DELIVERY_LIMIT
            arrived = endpoint.wait_for(before + 1, max(0.0, limit - time.monotonic()))
            if arrived is not None and arrived <= limit:
                arrival = arrived - crashed
        deadline = time.monotonic() + 60
        while running_senders(config) and time.monotonic() < deadline:
            time.sleep(0.01)
    return delay, arrival


def _crash_time(stderr: str) -> float:
    marker = next(line for line in stderr.splitlines() if line.startswith("@@ "))
    return float(marker[3:])


def measure(rounds: int) -> dict[str, list[float]]:
    """Seconds of exit delay per round for each contender (interleaved), endpoint blackholed."""
    endpoint = FaultyEndpoint()  # its blackhole accepts connections and never answers
    env = contender_env(endpoint.hole_port, BENCH_TELEMETRY="1")
    results: dict[str, list[float]] = {name: [] for name in _SCRIPTS}
    try:
        for _ in range(rounds):
            for name in _SCRIPTS:
                results[name].append(_delay(name, env)[0])
    finally:
        endpoint.close()
    return results


def measure_healthy(rounds: int) -> tuple[dict[str, list[float]], dict[str, int]]:
    """Endpoint healthy: seconds of exit delay per round, and reports delivered, per contender.

    A round's report counts as delivered when it reached the endpoint within
    :data:`DELIVERY_LIMIT` of the crash; ``rounds`` delivered means none was lost.
    """
    delays, arrivals = measure_delivery(rounds)
    delivered = {name: sum(a is not None for a in values) for name, values in arrivals.items()}
    return delays, delivered


def measure_delivery(
    rounds: int,
) -> tuple[dict[str, list[float]], dict[str, list[Optional[float]]]]:
    """Endpoint healthy: exit delays, and seconds from each crash to its report's arrival.

    An arrival is None when the report was not at the endpoint within
    :data:`DELIVERY_LIMIT` of the crash.
    """
    endpoint = Receiver()  # answers 200 at once; notes each report's arrival
    env = contender_env(endpoint.port, BENCH_TELEMETRY="1")
    results: dict[str, list[float]] = {name: [] for name in _SCRIPTS}
    arrivals: dict[str, list[Optional[float]]] = {name: [] for name in _SCRIPTS}
    try:
        for _ in range(rounds):
            for name in _SCRIPTS:
                delay, arrival = _delay(name, env, endpoint)
                results[name].append(delay)
                arrivals[name].append(arrival)
    finally:
        endpoint.close()
    return results, arrivals


if __name__ == "__main__":
    healthy, arrivals = measure_delivery(1)
    for name, values in healthy.items():
        print(f"healthy: {name}: {values} s, crash to receiver {arrivals[name]} s")
    for name, values in measure(1).items():
        print(f"blackholed: {name}: {values} s")
