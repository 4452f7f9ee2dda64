"""The Spotlight sidecar (``@spotlightjs/spotlight``) as a real Sentry receiver for tests.

Sentry SDKs post envelopes to ``/api/<project>/envelope/`` of the DSN's host; the sidecar
accepts them and replays every envelope it holds, parsed, on its ``/stream`` endpoint
(server-sent events). The sidecar comes from the pinned ``package-lock.json`` beside this
file, installed by ``make test`` with ``npm ci``.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

PACKAGE = Path(__file__).resolve().parent / "spotlight"
BIN = PACKAGE / "node_modules" / ".bin" / "spotlight"
_LISTENING = re.compile(r"listening on (\d+)")


class SpotlightSidecar:
    """``spotlight server`` on a free loopback port."""

    def __init__(self) -> None:
        if not BIN.exists():
            raise RuntimeError(f"{BIN} is missing: run `make test` (it runs `npm ci`)")
        self._process = subprocess.Popen(
            [str(BIN), "server", "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        self.port = self._wait_for_port()
        self._drain = threading.Thread(target=self._process.stdout.read, daemon=True)  # type: ignore[union-attr]
        self._drain.start()

    def dsn(self, project: int = 42, key: str = "0123456789abcdef0123456789abcdef") -> str:
        return f"http://{key}@127.0.0.1:{self.port}/{project}"

    def events(self, count: int, timeout: float = 20.0) -> list[dict[str, Any]]:
        """Every event the sidecar holds, once it holds at least ``count``.

        Each look replays what the sidecar holds; at least ``count`` events, and the same
        number in two looks in a row, is all of it. With ``count`` 0 this waits
        ``timeout`` seconds for events that should not come, and returns what came.
        """
        deadline = time.monotonic() + timeout
        previous = -1
        while True:
            events = self._read_stream(idle=0.3)
            if count and len(events) >= count and len(events) == previous:
                return events
            if time.monotonic() >= deadline:
                if count:
                    raise AssertionError(f"expected {count} event(s), got {len(events)}")
                return events
            previous = len(events)

    def errors(self, count: int, timeout: float = 20.0) -> list[dict[str, Any]]:
        """Every error event (one with an exception), once there are ``count``; exactly that many."""
        errors = [e for e in self.events(count, timeout) if "exception" in e]
        assert len(errors) == count, f"expected {count} error event(s), got {len(errors)}"
        return errors

    def close(self) -> None:
        # Its graceful stop can take seconds (after a test that sent from this very
        # process); nothing it holds is needed any more.
        self._process.terminate()
        try:
            self._process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=10)

    def _wait_for_port(self) -> int:
        assert self._process.stdout is not None
        deadline = time.monotonic() + 60
        lines = []
        while time.monotonic() < deadline:
            line = self._process.stdout.readline()
            if not line:
                break
            lines.append(line)
            match = _LISTENING.search(line)
            if match:
                return int(match.group(1))
        self.close()
        raise RuntimeError("spotlight did not start:\n" + "".join(lines))

    def _read_stream(self, idle: float) -> list[dict[str, Any]]:
        """Everything the sidecar replays on connect, read until ``idle`` seconds pass quietly."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=idle)
        events: list[dict[str, Any]] = []
        try:
            connection.request("GET", "/stream", headers={"Accept": "text/event-stream"})
            response = connection.getresponse()
            while True:
                line = response.fp.readline()
                if not line:
                    break
                if line.startswith(b"data:"):
                    events.extend(_envelope_events(json.loads(line[5:])))
        except (TimeoutError, socket.timeout):
            pass
        finally:
            connection.close()
        return events


def _envelope_events(envelope: Any) -> list[dict[str, Any]]:
    _header, items = envelope
    return [payload for item_header, payload in items if item_header.get("type") == "event"]
