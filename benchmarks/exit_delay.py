"""Exit delay of a crashing process, endpoint healthy and endpoint blackholed.

Side by side, same machine, same run: ours (``Telemetry`` with the ``otlp`` exporter,
default 1 s budget), the plain OpenTelemetry SDK (``BatchSpanProcessor`` +
``OTLPSpanExporter``, as its documentation sets it up) and sentry-sdk (``sentry_sdk.init``,
defaults). Each process writes the time just before it raises, reports the exception,
and exits; the delay is from that moment to the process's end, as seen by this process,
so it counts the same thing for all three: the capture, and whatever exit waits for.
Rounds interleave the contenders, each in a fresh process with a fresh config directory.

Two endpoints, the same for all three (each addressed the way its documentation says):

- healthy: a loopback HTTP server that reads each request and answers 200 at once (an
  empty ``ExportTraceServiceResponse`` to OTLP, ``{}`` to Sentry envelopes); what the
  process waits for is its own work at exit: imports, building and sending the report.
  Every process must deliver its report (counted per contender): a delay bought by
  dropping the report would not count.
- blackholed: a socket that accepts connections and never answers; what the process waits
  for is its exit budget or its exporter's timeout.
"""

from __future__ import annotations

import gzip
import os
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

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


class HealthyEndpoint:
    """``127.0.0.1:<port>``: answers every POST with 200 at once and keeps what came."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str, bytes]] = []  # path, encoding, body
        self._lock = lock = threading.Lock()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with lock:  # before answering: once the process has ended, it is counted
                    endpoint.received.append(
                        (self.path, self.headers.get("Content-Encoding", ""), raw)
                    )
                # An empty ExportTraceServiceResponse is zero bytes of protobuf.
                body = b"{}" if self.path.endswith("/envelope/") else b""
                kind = "application/json" if body else "application/x-protobuf"
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def reports(self) -> int:
        """Requests that carried a crash report (the raised ``ValueError``)."""
        with self._lock:
            received = list(self.received)
        return sum(
            b"ValueError" in (gzip.decompress(body) if encoding == "gzip" else body)
            for _, encoding, body in received
        )

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _env(port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "BENCH_", "SENTRY_"))}
    env.update(
        BENCH_OTLP_ENDPOINT=f"http://127.0.0.1:{port}",  # ours (app "bench")
        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{port}",  # the OTel peer's
        BENCH_DSN=f"http://0123456789abcdef0123456789abcdef@127.0.0.1:{port}/1",
        BENCH_TELEMETRY="1",
    )
    return env


def _delay(name: str, env: dict[str, str]) -> float:
    """One crashing process of ``name``, with a config directory of its own."""
    with tempfile.TemporaryDirectory() as config:
        delay, _ = exit_delay(
            [sys.executable, "-c", _SCRIPTS[name]], {**env, "BENCH_CONFIG_DIR": config}
        )
    return delay


def measure(rounds: int) -> dict[str, list[float]]:
    """Seconds of exit delay per round for each contender (interleaved), endpoint blackholed."""
    endpoint = FaultyEndpoint()  # its blackhole accepts connections and never answers
    env = _env(endpoint.hole_port)
    results: dict[str, list[float]] = {name: [] for name in _SCRIPTS}
    try:
        for _ in range(rounds):
            for name in _SCRIPTS:
                results[name].append(_delay(name, env))
    finally:
        endpoint.close()
    return results


def measure_healthy(rounds: int) -> tuple[dict[str, list[float]], dict[str, int]]:
    """Endpoint healthy: seconds of exit delay per round, and reports delivered, per contender.

    A round's report counts as delivered when a request of that process carried the
    crash (read before it was answered, so by the process's end); ``rounds`` delivered
    means none was lost.
    """
    endpoint = HealthyEndpoint()
    env = _env(endpoint.port)
    results: dict[str, list[float]] = {name: [] for name in _SCRIPTS}
    delivered = dict.fromkeys(_SCRIPTS, 0)
    try:
        for _ in range(rounds):
            for name in _SCRIPTS:
                before = endpoint.reports()
                results[name].append(_delay(name, env))
                delivered[name] += min(1, endpoint.reports() - before)
    finally:
        endpoint.close()
    return results, delivered


if __name__ == "__main__":
    healthy, delivered = measure_healthy(1)
    for name, values in healthy.items():
        print(f"healthy: {name}: {values} s, {delivered[name]} delivered")
    for name, values in measure(1).items():
        print(f"blackholed: {name}: {values} s")
