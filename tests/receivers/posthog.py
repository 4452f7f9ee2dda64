"""PostHog's capture API on loopback, for tests of the ``posthog`` exporter and the SDK.

PostHog itself (ClickHouse, Kafka, Postgres) cannot run here, so this receiver does what
its capture service documents for clients, and no more:

* ``POST /batch/`` takes ``{"api_key": ..., "batch": [event, ...], "sent_at": ...}``;
  ``POST /i/v0/e/`` (also ``/e/``, ``/capture/``, ``/track/``) takes one event (with
  ``api_key`` or ``token``, at the top or in its properties), a list of events, or a
  batch as above. Every event needs an ``event`` name and a ``distinct_id`` (at the top,
  or ``properties.distinct_id``).
* Bodies are JSON, plain or gzip-compressed: ``Content-Encoding: gzip``, or the
  ``compression=gzip`` / ``compression=gzip-js`` query of PostHog's SDKs; a
  ``Content-Encoding: deflate`` body is inflated too.
* Answers as PostHog does: 200 ``{"status": 1}``; 401 without an api key; 400 for a body
  that is not JSON or an event without a name or a ``distinct_id``; 404 elsewhere.

``mode`` makes it fail on demand: ``429`` (with ``Retry-After``), ``500``, ``401`` (a
key PostHog does not know), ``hang`` (reads the request, never answers, until
:meth:`close`), ``endless`` (200 with a 1 GiB ``Content-Length`` and a body streamed
until the client hangs up), and ``refused``: :meth:`host_for` gives a port where nothing
listens. Only requests answered 200 count as delivered (``captures``); every request
counts in ``attempts``.
"""

from __future__ import annotations

import gzip
import json
import socket
import threading
import zlib
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional
from urllib.parse import parse_qs, urlsplit

MODES = ("ok", "429", "500", "401", "hang", "endless", "refused")

SINGLE_EVENT_PATHS = ("/i/v0/e/", "/e/", "/capture/", "/track/")
BATCH_PATHS = ("/batch/",)


@dataclass
class Capture:
    """One request PostHog would have accepted, as it arrived."""

    path: str
    """Without the query."""
    query: dict[str, str]
    headers: dict[str, str]
    """Names in lower case."""
    body: bytes
    """As sent (compressed, if it was)."""
    encoding: str
    """``plain``, ``gzip`` or ``deflate``: how the body came."""
    payload: Any
    """The JSON document of the body."""
    api_key: str
    events: list[dict[str, Any]]
    """The events of the request, exactly as they arrived."""


class BadRequest(ValueError):
    """What PostHog answers 400 for."""


class PosthogReceiver:
    """``http://127.0.0.1:<port>``: PostHog's capture endpoints (see the module)."""

    def __init__(self, retry_after: int = 2) -> None:
        self.mode = "ok"
        self.retry_after = retry_after
        self.captures: list[Capture] = []
        self.attempts = 0
        self.streamed = 0
        self._cond = threading.Condition()
        self._closed = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._cond:
                    receiver.attempts += 1
                mode = receiver.mode
                if mode == "hang":
                    receiver._closed.wait(120)
                    self.close_connection = True
                    return
                if mode == "endless":
                    self._endless()
                    return
                if mode in ("500", "401", "429"):
                    self._fail(int(mode))
                    return
                try:
                    capture = receiver.parse(self.path, dict(self.headers.items()), body)
                except BadRequest as error:
                    self._json(400, {"type": "validation_error", "detail": str(error)})
                    return
                except PermissionError as error:
                    self._json(401, {"type": "authentication_error", "detail": str(error)})
                    return
                except LookupError:
                    self._json(404, {"detail": "not found"})
                    return
                with receiver._cond:
                    receiver.captures.append(capture)
                    receiver._cond.notify_all()
                self._json(200, {"status": 1})

            def _fail(self, status: int) -> None:
                headers = {"Retry-After": str(receiver.retry_after)} if status == 429 else {}
                detail = {
                    401: "Project API key invalid. You can find your project API key in"
                    " PostHog project settings.",
                    429: "Rate limit exceeded",
                    500: "Internal server error",
                }[status]
                self._json(status, {"type": "error", "detail": detail}, headers)

            def _json(self, status: int, document: Any, headers: Optional[dict] = None) -> None:
                body = json.dumps(document).encode()
                try:
                    self.send_response(status)
                    for name, value in (headers or {}).items():
                        self.send_header(name, value)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the client went away

            def _endless(self) -> None:
                chunk = b"\0" * 65536
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(1 << 30))
                    self.end_headers()
                    for _ in range((1 << 30) // len(chunk)):
                        self.wfile.write(chunk)
                        with receiver._cond:
                            receiver.streamed += len(chunk)
                except OSError:
                    pass
                self.close_connection = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.host = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        # Refused: a port that was free a moment ago, with nothing listening.
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.refused_port = probe.getsockname()[1]

    def host_for(self, mode: str) -> str:
        """The host to configure for ``mode``: nothing listens behind ``refused``."""
        port = self.refused_port if mode == "refused" else self.port
        return f"http://127.0.0.1:{port}"

    @staticmethod
    def parse(target: str, headers: dict[str, str], body: bytes) -> Capture:
        """A request as PostHog's capture reads it.

        Raises:
            LookupError: not a capture path (404).
            PermissionError: no api key (401).
            BadRequest: not JSON, or an event without a name or distinct id (400).
        """
        parts = urlsplit(target)
        path = parts.path if parts.path.endswith("/") else parts.path + "/"
        if path not in SINGLE_EVENT_PATHS + BATCH_PATHS:
            raise LookupError(path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        lower = {k.lower(): v for k, v in headers.items()}
        raw, encoding = _decompressed(body, lower.get("content-encoding", ""), query)
        try:
            payload = json.loads(raw)
        except ValueError as error:
            raise BadRequest(f"the body is not JSON: {error}") from None
        if isinstance(payload, list):
            events, key = payload, None
        elif isinstance(payload, dict) and "batch" in payload:
            events, key = payload["batch"], payload.get("api_key") or payload.get("token")
        elif isinstance(payload, dict):
            events, key = [payload], payload.get("api_key") or payload.get("token")
        else:
            raise BadRequest("expected an event, a list of events or a batch")
        if not isinstance(events, list) or not events:
            raise BadRequest("no events")
        for event in events:
            if not isinstance(event, dict):
                raise BadRequest("an event is not an object")
            properties = event.get("properties") or {}
            key = key or event.get("api_key") or event.get("token") or properties.get("token")
            if not isinstance(event.get("event"), str) or not event["event"]:
                raise BadRequest("an event has no name")
            distinct_id = event.get("distinct_id", properties.get("distinct_id"))
            if distinct_id in (None, ""):
                raise BadRequest("an event has no distinct_id")
        if not key:
            raise PermissionError("No api key")
        return Capture(path, query, lower, body, encoding, payload, key, events)

    def events(self) -> list[dict[str, Any]]:
        """Every event delivered so far, in the order they arrived."""
        with self._cond:
            return [event for capture in self.captures for event in capture.events]

    def wait_for_events(self, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        """The events delivered so far, once there are at least ``count`` of them."""
        with self._cond:
            total = lambda: sum(len(c.events) for c in self.captures)  # noqa: E731
            if not self._cond.wait_for(lambda: total() >= count, timeout):
                raise AssertionError(f"expected {count} PostHog event(s), got {total()}")
        return self.events()

    def close(self) -> None:
        self._closed.set()  # releases the handlers of "hang"
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> PosthogReceiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _QuietServer(ThreadingHTTPServer):
    """A client that hangs up (what ``hang``, ``endless`` and timeouts make) is no error."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


def _decompressed(body: bytes, content_encoding: str, query: dict[str, str]) -> tuple[bytes, str]:
    content_encoding = content_encoding.strip().lower()
    compression = query.get("compression", "").lower()
    try:
        if content_encoding == "gzip" or compression in ("gzip", "gzip-js"):
            return gzip.decompress(body), "gzip"
        if content_encoding == "deflate":
            return zlib.decompress(body), "deflate"
    except (OSError, zlib.error, EOFError) as error:
        raise BadRequest(f"the body is not {content_encoding or compression}: {error}") from None
    return body, "plain"
