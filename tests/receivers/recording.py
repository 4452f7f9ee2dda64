"""An HTTP endpoint on loopback that records every request as it arrives, for OTLP and Sentry.

Unlike the other receivers it keeps each request's headers and records it before
answering, whatever it answers: so a test can see what a client sent (an
``Authorization`` header it should not have), and an answer can come too late
(``late``), be an error (``status``) or never end (``endless``).
"""

from __future__ import annotations

import gzip
import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional

from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from tests.receivers.faulty import answer


@dataclass
class Request:
    """One request as it arrived."""

    method: str
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes

    @property
    def kind(self) -> str:
        """``sentry`` (an envelope), ``otlp`` (an OTLP/HTTP export), or ``other``."""
        if self.path.endswith("/envelope/"):
            return "sentry"
        if self.path.endswith("/v1/traces"):
            return "otlp"
        return "other"

    def span_ids(self) -> list[str]:
        """The span ids of an OTLP export, in hex."""
        request = trace_service_pb2.ExportTraceServiceRequest.FromString(self.body)
        return [
            span.span_id.hex()
            for resource in request.resource_spans
            for scope in resource.scope_spans
            for span in scope.spans
        ]

    def envelope_items(self) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """A Sentry envelope's items, as (item header, payload) pairs of JSON items."""
        lines = self.body.split(b"\n")
        items = []
        index = 1
        while index + 1 < len(lines):
            header = json.loads(lines[index])
            payload = lines[index + 1]
            length = header.get("length")
            if length is not None and len(payload) != length:  # a payload spanning lines
                payload = b"\n".join(lines[index + 1 :])[:length]
                index += payload.count(b"\n")
            try:
                items.append((header, json.loads(payload)))
            except ValueError:
                items.append((header, {}))
            index += 2
        return items

    def events(self) -> list[dict[str, Any]]:
        """The events (``type`` event) of a Sentry envelope."""
        return [payload for header, payload in self.envelope_items() if header["type"] == "event"]


class RecordingEndpoint:
    """``http://127.0.0.1:<port>``: records every POST, then answers as ``mode`` says.

    Modes: ``ok`` (200), ``status`` (``status_code``), ``late`` (answers 200 once
    :meth:`release` is called, even if the client has gone) and ``endless`` (200 with a
    1 GiB ``Content-Length`` and a body streamed until the client hangs up).
    """

    def __init__(self, mode: str = "ok", status_code: int = 400) -> None:
        self.mode = mode
        self.status_code = status_code
        self.answer_headers: dict[str, str] = {}  # sent with ``status`` answers
        self.requests: list[Request] = []
        self.streamed = 0
        self._lock = threading.Lock()
        self._released = threading.Event()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = _decoded(self.rfile.read(length), self.headers.get("Content-Encoding"))
                request = Request(
                    "POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body
                )
                with endpoint._lock:
                    endpoint.requests.append(request)
                self._answer_as(endpoint.mode, request)

            def do_CONNECT(self) -> None:  # as a proxy: record, refuse
                with endpoint._lock:
                    endpoint.requests.append(
                        Request(
                            "CONNECT",
                            self.path,
                            {k.lower(): v for k, v in self.headers.items()},
                            b"",
                        )
                    )
                self._send(405, b"")

            def _answer_as(self, mode: str, request: Request) -> None:
                if mode == "late":
                    endpoint._released.wait(120)
                    mode = "ok"
                if mode == "status":
                    self._send(endpoint.status_code, b"", endpoint.answer_headers)
                elif mode == "endless":
                    self._endless()
                else:
                    self._send(200, _ok_body(request))

            def _send(
                self, status: int, body: bytes, headers: Optional[dict[str, str]] = None
            ) -> None:
                try:
                    answer(self, status, body, headers)
                except OSError:
                    pass  # the client went away

            def _endless(self) -> None:
                chunk = b"\0" * 65536
                try:
                    self.send_response(200)
                    self.send_header("Content-Length", str(1 << 30))
                    self.end_headers()
                    for _ in range((1 << 30) // len(chunk)):
                        self.wfile.write(chunk)
                        with endpoint._lock:
                            endpoint.streamed += len(chunk)
                except OSError:
                    pass
                self.close_connection = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def dsn(self, project: int = 42, key: str = "0123456789abcdef0123456789abcdef") -> str:
        """A Sentry DSN whose envelopes come here."""
        return f"http://{key}@127.0.0.1:{self.port}/{project}"

    def of_kind(self, kind: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.kind == kind]

    def release(self) -> None:
        """Let the answers of ``late`` go, now and from now on."""
        self._released.set()

    def close(self) -> None:
        self._released.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> RecordingEndpoint:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _decoded(body: bytes, encoding: Optional[str]) -> bytes:
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "br":
        import brotli  # sentry-sdk compresses with brotli when it is installed

        return bytes(brotli.decompress(body))
    return body


def _ok_body(request: Optional[Request]) -> bytes:
    if request is not None and request.kind == "otlp":
        return trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
    return b"{}"
