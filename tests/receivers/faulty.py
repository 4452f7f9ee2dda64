"""An OTLP/HTTP and Sentry endpoint on loopback that fails on demand, for fault tests.

Modes: ``ok`` (accepts, records), ``500``, ``401``, ``429`` (with ``Retry-After`` and Sentry's
``X-Sentry-Rate-Limits``), ``slow`` (answers after 10 s, and records only if the client
is still there to receive the answer), ``blackhole`` (accepts connections, never reads
or answers) and ``refused`` (nothing listens on the port). Only a request that was
answered with success counts as delivered.
"""

from __future__ import annotations

import json
import select
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

MODES = ("refused", "blackhole", "500", "429", "slow")


@dataclass
class Delivered:
    kind: str  # "otlp" or "sentry"
    span_ids: list[str]  # ids of the reports delivered (Sentry: the trace context's span)
    body: bytes


class FaultyEndpoint:
    def __init__(self, retry_after: int = 2, slow_seconds: float = 10.0) -> None:
        self.mode = "ok"
        self.retry_after = retry_after
        self.slow_seconds = slow_seconds
        self.delivered: list[Delivered] = []
        self.attempts = 0
        self._lock = threading.Lock()
        self._closed = threading.Event()  # releases the handlers of "slow" at close()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with endpoint._lock:
                    endpoint.attempts += 1
                mode = endpoint.mode
                if mode in ("500", "401"):
                    self._answer(int(mode), b"")
                    return
                if mode == "429":
                    self._answer(
                        429,
                        b"",
                        {
                            "Retry-After": str(endpoint.retry_after),
                            "X-Sentry-Rate-Limits": f"{endpoint.retry_after}:error:organization",
                        },
                    )
                    return
                if mode == "slow":
                    endpoint._closed.wait(endpoint.slow_seconds)
                    if not _still_connected(self.connection):
                        return  # nobody to answer: not delivered
                delivered = _parse(self.path, body)
                self._answer(200, b"{}" if delivered.kind == "sentry" else _otlp_ok())
                with endpoint._lock:
                    endpoint.delivered.append(delivered)

            def _answer(
                self, status: int, body: bytes, headers: dict[str, str] | None = None
            ) -> None:
                answer(self, status, body, headers)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        # The blackhole: a listening socket whose connections are accepted and held.
        self._hole = socket.socket()
        self._hole.bind(("127.0.0.1", 0))
        self._hole.listen(64)
        self.hole_port = self._hole.getsockname()[1]
        self._held: list[socket.socket] = []
        threading.Thread(target=self._hold, daemon=True).start()
        # Refused: a port that was free a moment ago, with nothing listening.
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.refused_port = probe.getsockname()[1]

    def port_for(self, mode: str) -> int:
        return {"refused": self.refused_port, "blackhole": self.hole_port}.get(mode, self.port)

    def close(self) -> None:
        self._closed.set()
        self._server.shutdown()
        self._server.server_close()
        self._hole.close()
        for connection in self._held:
            connection.close()

    def _hold(self) -> None:
        while True:
            try:
                connection, _ = self._hole.accept()
            except OSError:
                return
            self._held.append(connection)


def _still_connected(connection: socket.socket) -> bool:
    readable, _, _ = select.select([connection], [], [], 0)
    if not readable:
        return True
    try:
        return connection.recv(1, socket.MSG_PEEK) != b""
    except OSError:
        return False


def answer(
    handler: BaseHTTPRequestHandler,
    status: int,
    body: bytes,
    headers: dict[str, str] | None = None,
) -> None:
    """Answer a request with ``status``, ``headers`` and ``body`` (its length set)."""
    handler.send_response(status)
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def _otlp_ok() -> bytes:
    return trace_service_pb2.ExportTraceServiceResponse().SerializeToString()


def _parse(path: str, body: bytes) -> Delivered:
    if path.endswith("/envelope/"):
        lines = body.split(b"\n")
        event = json.loads(lines[2])
        return Delivered("sentry", [event["contexts"]["trace"]["span_id"]], body)
    request = trace_service_pb2.ExportTraceServiceRequest.FromString(body)
    ids = [
        span.span_id.hex()
        for resource in request.resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
    ]
    return Delivered("otlp", ids, body)
