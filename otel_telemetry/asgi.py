"""ASGI middleware for API servers (FastAPI, Starlette, any ASGI app).

Usage::

    from otel_telemetry.asgi import TelemetryMiddleware

    telemetry.install(mode="server")
    app.add_middleware(TelemetryMiddleware, telemetry=telemetry)

It reports exceptions escaping request handling, then re-raises them unchanged, so the
server's own error response and logging are as before. A report carries the HTTP method
and the route template (``/crawl/{site}``) at most: no URL, query string, header,
cookie, body or client address is ever read into it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Awaitable, Callable, MutableMapping

from .capture._request import current_scope, request_attributes

if TYPE_CHECKING:
    from ._telemetry import Telemetry

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

__all__ = ["TelemetryMiddleware"]


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
        if scope.get("type") not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        token = current_scope.set(scope)
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
            current_scope.reset(token)
