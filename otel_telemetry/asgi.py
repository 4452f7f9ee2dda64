"""ASGI middleware for API servers (FastAPI, Starlette, any ASGI app).

Usage::

    from otel_telemetry.asgi import TelemetryMiddleware

    telemetry.install(mode="server")
    app.add_middleware(TelemetryMiddleware, telemetry=telemetry)

It reports exceptions escaping request handling, then re-raises them unchanged, so the
server's own error response and logging are as before. A report carries the HTTP method
and the route template (``/crawl/{site}``) at most: no URL, query string, header,
cookie, body or client address is ever read into it. Nothing of a request that ends
normally is kept past its end (``capture/_request.py``): what outlives it, in the
copies of its context a server keeps for a while, is an emptied view of a few bytes,
not the request's dicts. The exception of a request that crashed is kept in memory
(never on disk, never sent beyond its report) until the next report, so that another
hook that meets it again does not report it twice; its traceback holds the request's
frames until then.

When the server stops, the app's lifespan ends (``lifespan.shutdown``): before the app's
``lifespan.shutdown.complete`` (or ``.failed``) reaches the server, what is counted and
queued is flushed within ``flush_timeout``, on a thread of ours while the event loop
goes on. That starts the process's exit budget: the SIGTERM that uvicorn hands back
afterwards, and ``atexit``, get what is left of it, so a shutdown waits one budget.
(A test client that runs lifespans again and again in one process sends later reports
at its next run, from the outbox.) Every lifespan message passes unchanged;
an app without lifespan support, or whose startup fails, is not touched.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Awaitable, Callable, MutableMapping

from otel_telemetry._log import debug

from .capture._lifecycle import exit_begins
from .capture._request import RequestScope, current_scope, request_attributes

if TYPE_CHECKING:
    from ._telemetry import Telemetry

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

__all__ = ["TelemetryMiddleware"]

# What an app sends when its lifespan shutdown is over: the server goes on to exit then.
_SHUTDOWN_ENDS = ("lifespan.shutdown.complete", "lifespan.shutdown.failed")


class TelemetryMiddleware:
    """Reports exceptions that escape an ASGI application; never changes the response.

    Args:
        app: the wrapped ASGI application.
        telemetry: the host's ``Telemetry``.
    """

    def __init__(self, app: ASGIApp, telemetry: Telemetry) -> None:
        self.app = app
        self.telemetry = telemetry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope.get("type")
        if kind == "lifespan":
            await self._lifespan(scope, receive, send)
            return
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        # A view, not the scope: what copies the context (a timer, a task) keeps only it,
        # and ending it lets the request's dicts go with the request.
        request = RequestScope(scope)
        token = current_scope.set(request)
        try:
            await self.app(scope, receive, send)
        except BaseException as exc:
            try:
                self.telemetry.reporter.report(
                    exc, "asgi", handled=False, attributes=request_attributes()
                )
            except Exception:  # RecursionError near the limit: the app's exception wins
                pass
            raise
        finally:
            request.end()
            current_scope.reset(token)

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The app's lifespan, unchanged; a flush before its shutdown is complete."""
        state = {"stopping": False, "flushed": False}

        async def receive_noting_shutdown() -> MutableMapping[str, Any]:
            message = await receive()
            if message.get("type") == "lifespan.shutdown":
                state["stopping"] = True
            return message

        async def send_after_flush(message: MutableMapping[str, Any]) -> None:
            if state["stopping"] and not state["flushed"] and message.get("type") in _SHUTDOWN_ENDS:
                state["flushed"] = True
                await self._flush()
            await send(message)

        try:
            await self.app(scope, receive_noting_shutdown, send_after_flush)
        finally:
            # An app that ended its lifespan without a word after the shutdown message.
            if state["stopping"] and not state["flushed"]:
                state["flushed"] = True
                await self._flush()

    async def _flush(self) -> None:
        """Queue the storm counts and flush, on a thread of ours; never raises."""
        telemetry = self.telemetry

        def flush() -> None:
            try:
                timeout = exit_begins(telemetry.settings.flush_timeout)
                telemetry.reporter.send_counted()  # the server stops: every count goes
                telemetry.flush(timeout)
            except Exception:
                debug("otel_telemetry: flush at lifespan shutdown failed", exc_info=True)

        try:
            import asyncio

            loop = asyncio.get_running_loop()
        except RuntimeError:  # another event loop than asyncio's (trio): waits here, bounded
            flush()
            return
        done = loop.create_future()

        def finished() -> None:
            if not done.done():
                done.set_result(None)

        def run() -> None:
            try:
                flush()
            finally:
                try:
                    loop.call_soon_threadsafe(finished)
                except RuntimeError:  # the loop is closed: nobody waits any more
                    pass

        try:
            threading.Thread(target=run, name="otel_telemetry.lifespan", daemon=True).start()
        except RuntimeError:
            flush()
            return
        await done
