"""The request being served, so that a report made inside it names its route.

Set by the ASGI middleware for the duration of a request; read when a report is
captured, wherever in the request that happens (a decorated library call, the
middleware itself). Only the HTTP method and the route *template* ever leave: never the
URL, the query, headers, cookies, the body or the client's address.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from contextvars import ContextVar
from typing import Any, Optional

from otel_telemetry._attributes import HTTP_METHOD, HTTP_ROUTE

# The ASGI scope of the current request; read lazily, because the router fills in the
# matched route only after the middleware has started the request.
current_scope: ContextVar[Optional[MutableMapping[str, Any]]] = ContextVar(
    "otel_telemetry_request_scope", default=None
)

_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}
)


def request_attributes() -> dict[str, str]:
    """``http.request.method`` and ``http.route`` of the current request, if any."""
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
