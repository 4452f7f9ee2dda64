"""The ASGI middleware at lifespan shutdown: it flushes, and changes nothing else.

A stand-in ``Telemetry`` notes the flush; real servers stopping are in
``tests/test_asgi_server.py`` and ``tests/test_server_signals.py``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any, Callable, Optional

import pytest

from otel_telemetry.asgi import TelemetryMiddleware
from otel_telemetry.capture import _lifecycle

WAIT = 5.0  # seconds; only reached when a test fails

Message = dict[str, Any]


@pytest.fixture(autouse=True)
def no_exit_begun(monkeypatch: pytest.MonkeyPatch) -> None:
    """The process's exit budget as in a process whose exit has not begun."""
    monkeypatch.setattr(_lifecycle, "_deadline", None)


class StandIn:
    """What the middleware uses of a ``Telemetry``; notes each call in ``events``."""

    def __init__(self, events: list[str], flush: Optional[Callable[[float], None]] = None):
        self.events = events
        self.timeouts: list[float] = []
        self.settings = type("Settings", (), {"flush_timeout": 2.0})()
        self.reporter = self
        self._flush = flush

    def send_counted(self, *, final: bool = True) -> None:
        self.events.append(f"counted final={final}")

    def flush(self, timeout: Optional[float] = None) -> bool:
        assert timeout is not None
        self.timeouts.append(timeout)
        if self._flush is not None:
            self._flush(timeout)
        self.events.append("flush")
        return True


def lifespan_app(events: list[str], *, complete: bool = True) -> Any:
    """A raw ASGI app with lifespan support, as the ASGI spec describes it."""

    async def app(scope: Message, receive: Any, send: Any) -> None:
        assert scope["type"] == "lifespan"
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                events.append("app shutdown")
                if complete:
                    await send({"type": "lifespan.shutdown.complete"})
                return

    return app


async def run_lifespan(app: Any, messages: list[Message], events: list[str]) -> list[Message]:
    """Drive ``app``'s lifespan as a server does; what it sent, as the server got it."""
    incoming = list(messages)
    sent: list[Message] = []

    async def receive() -> Message:
        return incoming.pop(0)

    async def send(message: Message) -> None:
        events.append(f"server got {message['type']}")
        sent.append(message)

    await app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send)
    return sent


STARTUP = {"type": "lifespan.startup"}
SHUTDOWN = {"type": "lifespan.shutdown"}


def test_the_flush_comes_after_the_apps_shutdown_and_before_the_server_hears_of_it() -> None:
    events: list[str] = []
    telemetry = StandIn(events)
    middleware = TelemetryMiddleware(lifespan_app(events), telemetry)  # type: ignore[arg-type]

    sent = asyncio.run(run_lifespan(middleware, [STARTUP, SHUTDOWN], events))

    assert sent == [{"type": "lifespan.startup.complete"}, {"type": "lifespan.shutdown.complete"}]
    assert events == [
        "server got lifespan.startup.complete",
        "app shutdown",
        "counted final=True",  # the server stops: every storm count goes
        "flush",
        "server got lifespan.shutdown.complete",
    ]
    assert telemetry.timeouts == [2.0]


def test_the_flush_never_blocks_the_event_loop() -> None:
    events: list[str] = []
    loop_ran = threading.Event()

    def flush(timeout: float) -> None:
        # Only a coroutine on the event loop sets it: a flush blocking the loop waits in vain.
        events.append("loop ran" if loop_ran.wait(WAIT) else "loop blocked")

    telemetry = StandIn(events, flush)
    middleware = TelemetryMiddleware(lifespan_app(events), telemetry)  # type: ignore[arg-type]

    async def main() -> None:
        async def tick() -> None:
            deadline = time.monotonic() + WAIT
            while not loop_ran.is_set() and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
                if "counted final=True" in events:  # the flush has begun
                    loop_ran.set()

        ticking = asyncio.ensure_future(tick())
        await run_lifespan(middleware, [STARTUP, SHUTDOWN], events)
        await ticking

    asyncio.run(main())

    assert "loop ran" in events


def test_an_app_without_lifespan_support_fails_as_before_and_nothing_is_flushed() -> None:
    events: list[str] = []

    async def http_only(scope: Message, receive: Any, send: Any) -> None:
        assert scope["type"] == "http", "no lifespan here"

    middleware = TelemetryMiddleware(http_only, StandIn(events))  # type: ignore[arg-type]

    with pytest.raises(AssertionError, match="no lifespan here"):
        asyncio.run(run_lifespan(middleware, [STARTUP], events))
    assert events == []


def test_a_failed_startup_passes_through_unflushed() -> None:
    events: list[str] = []

    async def failing(scope: Message, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "no database"})

    middleware = TelemetryMiddleware(failing, StandIn(events))  # type: ignore[arg-type]

    sent = asyncio.run(run_lifespan(middleware, [STARTUP], events))

    assert sent == [{"type": "lifespan.startup.failed", "message": "no database"}]
    assert events == ["server got lifespan.startup.failed"]


def test_an_app_that_ends_without_completing_its_shutdown_is_flushed_too() -> None:
    events: list[str] = []
    middleware = TelemetryMiddleware(
        lifespan_app(events, complete=False),
        StandIn(events),  # type: ignore[arg-type]
    )

    asyncio.run(run_lifespan(middleware, [STARTUP, SHUTDOWN], events))

    assert events[-3:] == ["app shutdown", "counted final=True", "flush"]


def test_a_failing_flush_never_reaches_the_server() -> None:
    events: list[str] = []

    def broken(timeout: float) -> None:
        raise RuntimeError("our bug")

    middleware = TelemetryMiddleware(lifespan_app(events), StandIn(events, broken))  # type: ignore[arg-type]

    sent = asyncio.run(run_lifespan(middleware, [STARTUP, SHUTDOWN], events))

    assert sent[-1] == {"type": "lifespan.shutdown.complete"}


def test_an_exit_already_begun_bounds_the_flush(monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[str] = []
    telemetry = StandIn(events)
    middleware = TelemetryMiddleware(lifespan_app(events), telemetry)  # type: ignore[arg-type]
    # SIGTERM settled first (uvicorn's command: our handler in front of uvicorn's).
    monkeypatch.setattr(_lifecycle, "_deadline", time.monotonic() + 0.5)

    asyncio.run(run_lifespan(middleware, [STARTUP, SHUTDOWN], events))

    [timeout] = telemetry.timeouts
    assert 0.0 <= timeout <= 0.5


def test_a_fastapi_apps_shutdown_handlers_run_before_the_flush() -> None:
    from contextlib import asynccontextmanager

    from fastapi import FastAPI

    events: list[str] = []

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        yield
        events.append("app shutdown")

    app = FastAPI(lifespan=lifespan)
    app.add_middleware(TelemetryMiddleware, telemetry=StandIn(events))

    asyncio.run(run_lifespan(app, [STARTUP, SHUTDOWN], events))

    assert events[-4:] == [
        "app shutdown",
        "counted final=True",
        "flush",
        "server got lifespan.shutdown.complete",
    ]
