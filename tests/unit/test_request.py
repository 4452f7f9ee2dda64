"""The request context (``capture/_request.py``) and the ASGI middleware (``asgi.py``)."""

from __future__ import annotations

import asyncio
import contextvars
import os
import weakref
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from otel_telemetry import Telemetry
from otel_telemetry import _attributes as attr
from otel_telemetry.asgi import TelemetryMiddleware
from otel_telemetry.capture._request import RequestScope, current_scope, request_attributes
from otel_telemetry.testing import capture_reports

ROUTE = SimpleNamespace(path="/crawl/{site}")


def _ended(scope: dict) -> RequestScope:
    view = RequestScope(scope)
    view.end()
    return view


@pytest.mark.parametrize(
    ("scope", "attributes"),
    [
        pytest.param(None, {}, id="no request"),
        pytest.param(
            {"method": "GET", "route": ROUTE},
            {attr.HTTP_METHOD: "GET", attr.HTTP_ROUTE: "/crawl/{site}"},
            id="method and route template",
        ),
        pytest.param({"method": "BREW"}, {attr.HTTP_METHOD: "_OTHER"}, id="unknown method"),
        pytest.param({"method": "get"}, {attr.HTTP_METHOD: "_OTHER"}, id="not canonical"),
        pytest.param({"route": ROUTE}, {attr.HTTP_ROUTE: "/crawl/{site}"}, id="websocket"),
        pytest.param({"method": b"GET", "route": object()}, {}, id="unreadable values"),
        pytest.param(
            {
                "method": "POST",
                "path": "/crawl/alice-secret-site",
                "query_string": b"token=abc123",
                "headers": [(b"cookie", b"session=1")],
                "client": ("203.0.113.7", 5555),
            },
            {attr.HTTP_METHOD: "POST"},
            id="nothing else of the request",
        ),
        pytest.param(
            RequestScope({"method": "GET", "route": ROUTE}),
            {attr.HTTP_METHOD: "GET", attr.HTTP_ROUTE: "/crawl/{site}"},
            id="a request being served",
        ),
        pytest.param(_ended({"method": "GET", "route": ROUTE}), {}, id="a request that ended"),
    ],
)
def test_request_attributes(scope: Any, attributes: dict) -> None:
    token = current_scope.set(scope)
    try:
        assert request_attributes() == attributes
    finally:
        current_scope.reset(token)


@pytest.fixture
def telemetry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    for name in list(os.environ):
        if name.startswith("ACME_"):
            monkeypatch.delenv(name)
    host = Telemetry(app="acme", package="tests", version="1.0", config_dir=tmp_path)
    yield host
    host.shutdown()


async def _noop_receive() -> dict:
    return {"type": "http.request"}


async def _noop_send(message: Any) -> None:
    pass


def _serve(middleware: TelemetryMiddleware, scope: dict) -> None:
    asyncio.run(middleware(scope, _noop_receive, _noop_send))


def test_an_exception_escaping_a_request_is_reported_and_re_raised(telemetry: Telemetry) -> None:
    seen: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        scope["route"] = ROUTE  # the router matches after the middleware started
        seen.append(request_attributes())
        raise ValueError("crawl failed")

    scope = {
        "type": "http",
        "method": "GET",
        "path": "/crawl/alice-private",
        "query_string": b"token=abc123",
    }
    with capture_reports(telemetry) as reports:
        with pytest.raises(ValueError, match="crawl failed"):
            _serve(TelemetryMiddleware(app, telemetry), scope)
        assert telemetry.flush(10)

    [report] = reports
    assert report.attributes[attr.HTTP_METHOD] == "GET"
    assert report.attributes[attr.HTTP_ROUTE] == "/crawl/{site}"
    assert report.attributes[attr.MECHANISM] == "asgi"
    assert "alice-private" not in str(dict(report.attributes))
    assert "abc123" not in str(dict(report.attributes))
    assert seen == [{attr.HTTP_METHOD: "GET", attr.HTTP_ROUTE: "/crawl/{site}"}]
    assert current_scope.get() is None  # reset after the request


@pytest.mark.parametrize("scope_type", ["lifespan", "http"])
def test_requests_that_succeed_or_are_not_http_pass_through(
    telemetry: Telemetry, scope_type: str
) -> None:
    calls: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        view = current_scope.get()
        calls.append(view is not None and view.get("method") == "GET")
        await send({"type": "done"})

    with capture_reports(telemetry) as reports:
        _serve(TelemetryMiddleware(app, telemetry), {"type": scope_type, "method": "GET"})
        assert telemetry.flush(10)

    assert calls == [scope_type == "http"]
    assert reports == []


class _Scope(dict):
    """An ASGI scope that can be watched (a weak reference) to learn when it is gone."""


def test_nothing_of_a_request_outlives_it(telemetry: Telemetry) -> None:
    """A copy of the request's context kept after it ends keeps nothing of the request.

    uvicorn schedules its keep-alive timer from inside the response, so the timer keeps
    a copy of the request's context for seconds; a task started in the request does too.
    """
    from fastapi import FastAPI

    app = FastAPI()
    app.add_middleware(TelemetryMiddleware, telemetry=telemetry)
    timers: list[asyncio.TimerHandle] = []  # as the server's keep-alive timer
    contexts: list[contextvars.Context] = []  # as a task or thread the request started
    during: list[dict] = []
    sent: list[Any] = []

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict:
        during.append(request_attributes())
        timers.append(asyncio.get_running_loop().call_later(3600, lambda: None))
        contexts.append(contextvars.copy_context())
        return {"item": item_id}

    async def send(message: Any) -> None:
        sent.append(message)

    async def serve() -> weakref.ref:
        scope = _Scope(
            type="http",
            asgi={"version": "3.0"},
            http_version="1.1",
            method="GET",
            scheme="http",
            path="/items/42",
            raw_path=b"/items/42",
            query_string=b"token=abc123",
            root_path="",
            headers=[(b"host", b"example.com")],
            client=("203.0.113.7", 5555),
            server=("127.0.0.1", 8000),
        )
        await app(scope, _noop_receive, send)
        return weakref.ref(scope)

    async def main() -> bool:
        watched = await serve()
        # While the loop still holds the timer; and without gc.collect(): the request
        # leaves no cycle either, which would wait for a collection to go.
        gone = watched() is None
        for timer in timers:
            timer.cancel()
        return gone

    gone = asyncio.run(main())

    assert sent[0]["status"] == 200
    assert during == [{attr.HTTP_METHOD: "GET", attr.HTTP_ROUTE: "/items/{item_id}"}]
    assert gone, "the request's scope outlived it"
    [context] = contexts
    assert context.get(current_scope) is not None  # the copy holds the ended view...
    assert context.run(request_attributes) == {}  # ...which names no request any more
    assert current_scope.get() is None
