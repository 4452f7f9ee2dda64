"""The request being served, so that a report made inside it names its route.

Set by the ASGI middleware for the duration of a request; read when a report is
captured, wherever in the request that happens (a decorated library call, the
middleware itself). Only the HTTP method and the route *template* ever leave: never the
URL, the query, headers, cookies, the body or the client's address.

Nothing of the request outlives it here (the exception of a crashed request is kept by
the reporter until its next report: see ``asgi.py``). The context variable holds a ``RequestScope``,
a small view of the ASGI scope, not the scope itself, and the middleware ends the view
when the request ends. Contexts are copied and kept past a request (uvicorn schedules
its keep-alive timer from inside the response, so the timer keeps a copy of the
request's context for seconds): a scope kept there would keep each request's dicts
alive into the garbage collector's older generations, and the full collections that
follow would pause the server.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any, Optional, Protocol

from otel_telemetry._attributes import HTTP_METHOD, HTTP_ROUTE


class ScopeView(Protocol):
    """What is read of a request: its scope's values by key (a scope itself will do)."""

    def get(self, key: str, /) -> Any:
        """The scope's value for ``key``, or None."""


class RequestScope:
    """A view of one request's ASGI scope while it is served; empty once it has ended.

    The scope is read lazily, at a capture, because the router fills in the matched
    route (``scope["route"]``) only after the middleware has started the request.
    """

    __slots__ = ("_scope",)

    def __init__(self, scope: Mapping[str, Any]) -> None:
        self._scope: Optional[Mapping[str, Any]] = scope

    def get(self, key: str, /) -> Any:
        """The scope's value for ``key``; None if it has none or the request has ended."""
        scope = self._scope
        return None if scope is None else scope.get(key)

    def end(self) -> None:
        """Let go of the scope: the request has ended (copies of the context keep only this)."""
        self._scope = None


# The request being served in this context, if any.
current_scope: ContextVar[Optional[ScopeView]] = ContextVar(
    "otel_telemetry_request_scope", default=None
)

_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}
)


def request_attributes() -> dict[str, str]:
    """``http.request.method`` and ``http.route`` of the current request, if any.

    Empty outside a request, and once it has ended (in a task or thread it started
    that outlives it).
    """
    scope = current_scope.get()
    if scope is None:
        return {}
    attributes: dict[str, str] = {}
    method = scope.get("method")
    if isinstance(method, str):
        # Semantic conventions: unknown methods become _OTHER (they are free text).
        attributes[HTTP_METHOD] = method if method in _METHODS else "_OTHER"
    template = getattr(scope.get("route"), "path", None)
    if isinstance(template, str):
        attributes[HTTP_ROUTE] = template
    return attributes
