"""Exit delay of a crashing process when the endpoint is blackholed (accepts, never answers).

Side by side, same machine, same run: ours (``Telemetry`` with the ``otlp`` exporter,
default 1 s budget), the plain OpenTelemetry SDK (``BatchSpanProcessor`` +
``OTLPSpanExporter``, as its documentation sets it up) and sentry-sdk (``sentry_sdk.init``).
Each process reports one exception, writes the time, and exits; the delay is from that
moment to the process's end, as seen by this process.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.processes import exit_delay
from tests.receivers.faulty import FaultyEndpoint

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
    try:
        raise ValueError("crash")
    except ValueError as exc:
        span.record_exception(exc)
sys.stderr.write(f"@@ {time.monotonic()!r}\\n")
""",
    SENTRY: """
import os, sys, time
import sentry_sdk
sentry_sdk.init(dsn=os.environ["BENCH_DSN"])
try:
    raise ValueError("crash")
except ValueError as exc:
    sentry_sdk.capture_exception(exc)
sys.stderr.write(f"@@ {time.monotonic()!r}\\n")
""",
}


def measure(rounds: int) -> dict[str, list[float]]:
    """Seconds of exit delay per round for each contender (interleaved)."""
    endpoint = FaultyEndpoint()  # its blackhole accepts connections and never answers
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "BENCH_", "SENTRY_"))}
    env.update(
        BENCH_OTLP_ENDPOINT=f"http://127.0.0.1:{endpoint.hole_port}",  # ours (app "bench")
        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{endpoint.hole_port}",  # the OTel peer's
        BENCH_DSN=f"http://0123456789abcdef0123456789abcdef@127.0.0.1:{endpoint.hole_port}/1",
        BENCH_TELEMETRY="1",
    )
    results: dict[str, list[float]] = {name: [] for name in _SCRIPTS}
    try:
        for _ in range(rounds):
            for name, script in _SCRIPTS.items():
                with tempfile.TemporaryDirectory() as config:
                    delay, _ = exit_delay(
                        [sys.executable, "-c", script], {**env, "BENCH_CONFIG_DIR": config}
                    )
                    results[name].append(delay)
    finally:
        endpoint.close()
    return results


if __name__ == "__main__":
    for name, values in measure(1).items():
        print(f"{name}: {values}")
