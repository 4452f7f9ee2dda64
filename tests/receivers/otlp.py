"""A real OTLP trace receiver for tests, built on the official opentelemetry-proto messages.

It listens on loopback over HTTP (``POST /v1/traces``, protobuf, optionally gzip) and
over gRPC (``TraceService/Export``), decodes every request with the generated
``ExportTraceServiceRequest`` class, and keeps the raw bytes beside the decoded message.
"""

from __future__ import annotations

import gzip
import threading
from concurrent import futures
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc


@dataclass
class Received:
    """One export request as it arrived."""

    transport: str
    body: bytes
    headers: dict[str, str]
    request: trace_service_pb2.ExportTraceServiceRequest

    def spans(self) -> list[dict[str, Any]]:
        """Every span of the request, as protobuf's JSON mapping (``tests.payloads.attributes``
        turns its ``attributes`` into a dict)."""
        return [
            MessageToDict(span)
            for resource_spans in self.request.resource_spans
            for scope_spans in resource_spans.scope_spans
            for span in scope_spans.spans
        ]

    def span(self) -> dict[str, Any]:
        """The one span of the request."""
        [span] = self.spans()
        return span


@dataclass
class _Inbox:
    requests: list[Received] = field(default_factory=list)
    cond: threading.Condition = field(default_factory=threading.Condition)

    def add(self, item: Received) -> None:
        with self.cond:
            self.requests.append(item)
            self.cond.notify_all()

    def wait_for(self, count: int, timeout: float = 20.0) -> list[Received]:
        with self.cond:
            if not self.cond.wait_for(lambda: len(self.requests) >= count, timeout):
                raise AssertionError(
                    f"expected {count} export request(s), got {len(self.requests)}"
                )
            return list(self.requests)

    def wait_for_spans(self, count: int, timeout: float = 20.0) -> list[dict[str, Any]]:
        """The spans of every request so far, once there are at least ``count`` of them."""

        def spans() -> int:
            return sum(
                len(scope_spans.spans)
                for received in self.requests
                for resource_spans in received.request.resource_spans
                for scope_spans in resource_spans.scope_spans
            )

        with self.cond:
            if not self.cond.wait_for(lambda: spans() >= count, timeout):
                raise AssertionError(f"expected {count} span(s), got {spans()}")
            requests = list(self.requests)
        return [span for received in requests for span in received.spans()]


class OtlpHttpReceiver(_Inbox):
    """``POST /v1/traces`` on ``127.0.0.1:<free port>``.

    While ``down`` is true it answers 503 and keeps nothing: a collector that flaps.
    """

    def __init__(self) -> None:
        super().__init__()
        inbox = self
        self.down = False

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if inbox.down:
                    self.send_error(503)
                    return
                raw = (
                    gzip.decompress(body)
                    if self.headers.get("Content-Encoding") == "gzip"
                    else body
                )
                if self.path != "/v1/traces":
                    self.send_error(404)
                    return
                request = trace_service_pb2.ExportTraceServiceRequest.FromString(raw)
                inbox.add(Received("http", raw, dict(self.headers.items()), request))
                reply = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> OtlpHttpReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class OtlpGrpcReceiver(_Inbox):
    """``opentelemetry.proto.collector.trace.v1.TraceService`` on ``127.0.0.1:<free port>``."""

    def __init__(self) -> None:
        super().__init__()
        inbox = self

        class Service(trace_service_pb2_grpc.TraceServiceServicer):
            def Export(self, request: Any, context: grpc.ServicerContext) -> Any:
                metadata = {item.key: item.value for item in context.invocation_metadata()}
                inbox.add(Received("grpc", request.SerializeToString(), metadata, request))
                return trace_service_pb2.ExportTraceServiceResponse()

        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Service(), self._server)
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> OtlpGrpcReceiver:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop(grace=None)
