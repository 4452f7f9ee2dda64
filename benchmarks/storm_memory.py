"""Memory of a crash storm: 100,000 identical crashes, reported with telemetry on.

Growth of the process's peak RSS from crash 1,000 to crash 100,000, beside the plain
OpenTelemetry SDK recording each exception on a span (``BatchSpanProcessor`` with its
bounded queue, exporting nowhere), in the same way.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

OURS = "otel_telemetry, 100,000 identical crashes"
OTEL = "OTel SDK record_exception + BatchSpanProcessor"

_LOOP = """
import resource
def rss_kb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
def handle(request):
    raise ConnectionResetError("upstream reset")
for i in range(100_000):
    if i == 1_000:
        settle()  # the first reports went through the pipeline: its imports are done
        before = rss_kb()
    try:
        handle(i)
    except ConnectionResetError as exc:
        report(exc)
print(rss_kb() - before)
"""

_SCRIPTS = {
    OURS: """
from otel_telemetry import Telemetry
t = Telemetry(app="bench", package="__main__", exporters="none")
report = t.capture_exception
def settle():
    t.flush(60)
""",
    OTEL: """
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
class Nowhere(SpanExporter):
    def export(self, spans):
        return SpanExportResult.SUCCESS
provider = TracerProvider()
provider.add_span_processor(BatchSpanProcessor(Nowhere()))
tracer = provider.get_tracer("bench")
def report(exc):
    with tracer.start_as_current_span("request") as span:
        span.record_exception(exc)
def settle():
    provider.force_flush()
""",
}


def measure(rounds: int) -> dict[str, list[float]]:
    """Peak RSS growth in MB per round (interleaved)."""
    results: dict[str, list[float]] = {name: [] for name in _SCRIPTS}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "BENCH_"))}
    for _ in range(rounds):
        for name, script in _SCRIPTS.items():
            with tempfile.TemporaryDirectory() as config:
                out = subprocess.run(
                    [sys.executable, "-c", script + _LOOP],
                    env={**env, "BENCH_TELEMETRY": "1", "BENCH_CONFIG_DIR": config},
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    text=True,
                    check=True,
                    timeout=300,
                ).stdout
            results[name].append(int(out.split()[-1]) / 1024)
    return results
