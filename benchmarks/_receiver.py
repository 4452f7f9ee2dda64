"""A loopback receiver for the benchmarks: when each crash report arrived, for every contender.

One HTTP server on ``127.0.0.1`` takes what the three contenders send, each where its
documentation points it: OTLP/HTTP protobuf (``POST /v1/traces``: ours and the
OpenTelemetry SDK's exporter) and Sentry envelopes (``POST /api/<project>/envelope/``:
sentry-sdk). It reads each request whole, counts the crash reports it carries (OTLP: spans
with an ``exception`` event, decoded with the official ``opentelemetry-proto`` messages;
Sentry: envelope items of type ``event``), notes ``time.monotonic()`` (one clock for every
process of the machine, so a crashing process's own timestamps compare with it) *before*
answering, and answers 200 at once (an empty ``ExportTraceServiceResponse``, or ``{}``).

So the time of arrival is taken by the receiver, the same way for all three, and what is
counted is what reached it: a report sent and lost in between is not counted.

Run as a script (``python benchmarks/_receiver.py``), it serves in a process of its own,
prints its port on stdout and stops when its stdin closes: a sink whose CPU is not the
measured process's (``capture_cost.py``).
"""

from __future__ import annotations

import gzip
import json
import os
import sys
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Optional


def contender_env(port: int, **extra: str) -> dict[str, str]:
    """The environment of a contender's process that sends to ``127.0.0.1:<port>``.

    This process's environment without the variables that configure a contender
    (``OTEL_*``, ``BENCH_*``, ``SENTRY_*``), then each contender's endpoint where its
    documentation points it: ours (app ``bench``) by ``BENCH_OTLP_ENDPOINT``, the OTel
    SDK's exporter by ``OTEL_EXPORTER_OTLP_ENDPOINT``, sentry-sdk by the DSN in
    ``BENCH_DSN`` (the scripts pass it to ``sentry_sdk.init``); then ``extra``.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "BENCH_", "SENTRY_"))}
    env.update(
        BENCH_OTLP_ENDPOINT=f"http://127.0.0.1:{port}",
        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{port}",
        BENCH_DSN=_dsn(port),
        **extra,
    )
    return env


def _dsn(port: int) -> str:
    return f"http://0123456789abcdef0123456789abcdef@127.0.0.1:{port}/1"


def otlp_reports(body: bytes) -> int:
    """Spans that carry an ``exception`` event in an ``ExportTraceServiceRequest``."""
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

    request = trace_service_pb2.ExportTraceServiceRequest.FromString(body)
    return sum(
        any(event.name == "exception" for event in span.events)
        for resource_spans in request.resource_spans
        for scope_spans in resource_spans.scope_spans
        for span in scope_spans.spans
    )


def envelope_reports(body: bytes) -> int:
    """Items of type ``event`` in a Sentry envelope (header line, then items)."""
    count = 0
    _, _, rest = body.partition(b"\n")  # the envelope's header
    while rest.strip():
        line, _, rest = rest.partition(b"\n")
        if not line.strip():
            continue
        header = json.loads(line)
        length = header.get("length")
        if length is None:  # the payload runs to the end of its line
            _, _, rest = rest.partition(b"\n")
        else:
            rest = rest[int(length) :].lstrip(b"\n")
        count += header.get("type") == "event"
    return count


def _decoded(body: bytes, encoding: str) -> bytes:
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    if encoding == "br":
        import brotli  # type: ignore[import-not-found]  # only when sentry-sdk found it

        return brotli.decompress(body)  # type: ignore[no-any-return]
    return body


class Receiver:
    """``http://127.0.0.1:<port>``: OTLP/HTTP traces and Sentry envelopes, timed on arrival.

    ``arrivals`` holds ``(time.monotonic(), reports)`` per request that carried at least
    one report, in the order they arrived.
    """

    def __init__(self) -> None:
        self.arrivals: list[tuple[float, int]] = []
        self.requests = 0
        self.errors = 0  # bodies that could not be read: a contender sent something else
        self._cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as collectors and Sentry allow
            # The answer's header and body are two writes: without TCP_NODELAY the body
            # would wait for the client's delayed ACK (40 ms), a cost of this receiver's.
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                envelope = self.path.endswith("/envelope/")
                try:
                    body = _decoded(raw, self.headers.get("Content-Encoding", ""))
                    count = envelope_reports(body) if envelope else otlp_reports(body)
                except Exception:
                    count = -1
                receiver._arrived(time.monotonic(), count)  # before answering
                reply = b"{}" if envelope else b""  # an empty ExportTraceServiceResponse
                self.send_response(200)
                self.send_header(
                    "Content-Type", "application/json" if envelope else "application/x-protobuf"
                )
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port: int = self._server.server_address[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.dsn = _dsn(self.port)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def _arrived(self, when: float, count: int) -> None:
        with self._cond:
            self.requests += 1
            if count < 0:
                self.errors += 1
            elif count:
                self.arrivals.append((when, count))
            self._cond.notify_all()

    def reports(self) -> int:
        """Crash reports received so far."""
        with self._cond:
            return sum(count for _, count in self.arrivals)

    def reset(self) -> None:
        """Forget what arrived (between contenders)."""
        with self._cond:
            self.arrivals.clear()
            self.requests = 0
            self.errors = 0

    def wait_for(self, reports: int, timeout: float) -> Optional[float]:
        """When the ``reports``-th report arrived, waiting up to ``timeout`` s; None if not."""

        def reached() -> Optional[float]:
            total = 0
            for when, count in self.arrivals:
                total += count
                if total >= reports:
                    return when
            return None

        with self._cond:
            self._cond.wait_for(lambda: reached() is not None, timeout)
            return reached()

    def wait_quiet(self, quiet: float, timeout: float, done: Callable[[], bool]) -> None:
        """Wait until ``done()`` or nothing arrived for ``quiet`` s (at most ``timeout`` s)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not done() and time.monotonic() < deadline:
                seen = self.requests
                self._cond.wait(quiet)
                if self.requests == seen:
                    return

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def main() -> None:
    """Serve until stdin closes; the port is the first line on stdout."""
    receiver = Receiver()
    print(receiver.port, flush=True)
    sys.stdin.read()
    receiver.close()


if __name__ == "__main__":
    main()
