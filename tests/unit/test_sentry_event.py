"""The Sentry event of a crash report (``exporters/_sentry.py``) and HTTP outcomes (``_delivery.py``)."""

from __future__ import annotations

import json
import logging
import platform
import time
from email.utils import formatdate
from pathlib import Path
from typing import Any, Optional

import pytest
from inline_snapshot import snapshot
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.trace import INVALID_SPAN_CONTEXT, SpanContext

from otel_telemetry import _attributes as attr
from otel_telemetry import _log
from otel_telemetry.exporters import Delivery, ExporterContext, FileSpanExporter
from otel_telemetry.exporters._delivery import delivery_from_status, retry_after_seconds
from otel_telemetry.exporters._sentry import (
    EVENT_KEYS,
    SentrySpanExporter,
    _allow_listed,
    _post_envelope,
    _rate_limit_seconds,
    create_sentry_exporter,
    sentry_event,
)
from tests.payloads import CRAWL_CHAIN as CHAIN

CONTEXT = SpanContext(0x0AF7651916CD43DD8448EB211C80319C, 0xB7AD6B7169203331, is_remote=False)


def report(
    attributes: Optional[dict[str, Any]] = None,
    event_attributes: Optional[dict[str, Any]] = None,
    chain: Optional[str] = json.dumps(CHAIN),
    event_name: str = attr.EVENT_EXCEPTION,
    context: SpanContext = CONTEXT,
) -> ReadableSpan:
    event = {
        attr.EXCEPTION_TYPE: "acme.errors.CrawlError",
        attr.EXCEPTION_MESSAGE: "no config for [url]",
        **(event_attributes or {}),
    }
    if chain is not None:
        event[attr.EXCEPTION_CHAIN] = chain
    return ReadableSpan(
        name=attr.SPAN_EXCEPTION,
        context=context,
        attributes={
            attr.KIND: attr.KIND_EXCEPTION,
            attr.MECHANISM: "excepthook",
            attr.HANDLED: False,
            attr.MODE: "interactive",
            **(attributes or {}),
        },
        events=[Event(event_name, event, timestamp=1_700_000_000_500_000_000)],
        start_time=1_700_000_000_000_000_000,
        end_time=1_700_000_000_600_000_000,
    )


def event_of(span: ReadableSpan) -> dict[str, Any]:
    event = sentry_event(span, release="acme@1.2.3", environment="production")
    assert event is not None
    return event


def test_the_whole_event_of_a_chain_with_a_cause() -> None:
    event = event_of(report())

    event_id = event.pop("event_id")
    assert len(event_id) == 32
    assert int(event_id, 16) >= 0
    assert event["tags"].pop("python") == platform.python_version()
    assert event["tags"].pop("os") == (platform.system() or "unknown")
    assert event == snapshot(
        {
            "timestamp": 1700000000.5,
            "platform": "python",
            "level": "error",
            "exception": {
                "values": [
                    {
                        "type": "KeyError",
                        "value": "'site'",
                        "module": None,
                        "mechanism": {
                            "type": "chained",
                            "handled": False,
                            "exception_id": 1,
                            "source": "__cause__",
                            "parent_id": 0,
                        },
                        "stacktrace": {
                            "frames": [
                                {
                                    "filename": "acme/config.py",
                                    "function": "lookup",
                                    "lineno": 12,
                                    "module": "acme.config",
                                    "in_app": True,
                                }
                            ]
                        },
                    },
                    {
                        "type": "CrawlError",
                        "value": "no config for [url]",
                        "module": "acme.errors",
                        "mechanism": {"type": "excepthook", "handled": False, "exception_id": 0},
                        "stacktrace": {
                            "frames": [
                                {
                                    "filename": "<user code>",
                                    "function": "<user code>",
                                    "lineno": 0,
                                    "module": "<user code>",
                                    "in_app": False,
                                },
                                {
                                    "filename": "acme/crawler.py",
                                    "function": "Crawler.run",
                                    "lineno": 40,
                                    "module": "acme.crawler",
                                    "in_app": True,
                                },
                            ]
                        },
                    },
                ]
            },
            "release": "acme@1.2.3",
            "environment": "production",
            "tags": {"mode": "interactive"},
            "contexts": {
                "trace": {
                    "trace_id": "0af7651916cd43dd8448eb211c80319c",
                    "span_id": "b7ad6b7169203331",
                }
            },
        }
    )


def test_every_key_of_an_event_is_allowed() -> None:
    event = event_of(
        report(
            {
                attr.USER_EMAIL: "dev@example.org",
                attr.OCCURRENCES: 3,
                attr.HTTP_METHOD: "POST",
                attr.HTTP_ROUTE: "/crawl/{site}",
            }
        )
    )
    assert set(event) <= EVENT_KEYS
    assert set(event) == EVENT_KEYS - {"sdk", "type"}


@pytest.mark.parametrize(
    ("request_attributes", "tags", "transaction"),
    [
        pytest.param(
            {attr.HTTP_METHOD: "POST", attr.HTTP_ROUTE: "/crawl/{site}"},
            {"http.request.method": "POST", "http.route": "/crawl/{site}"},
            "POST /crawl/{site}",
            id="method and route",
        ),
        pytest.param(
            {attr.HTTP_ROUTE: "/crawl/{site}"},
            {"http.route": "/crawl/{site}"},
            "/crawl/{site}",
            id="route alone",
        ),
        pytest.param(
            {attr.HTTP_METHOD: "_OTHER"},
            {"http.request.method": "_OTHER"},
            None,
            id="method alone: no transaction",
        ),
        pytest.param({}, {}, None, id="not a request"),
        pytest.param(
            {attr.HTTP_METHOD: "GET", attr.HTTP_ROUTE: "/a\n/" + "b" * 300},
            {"http.request.method": "GET", "http.route": ("/a /" + "b" * 300)[:200]},
            ("GET /a /" + "b" * 300)[:200],
            id="one line, at most 200 characters",
        ),
        pytest.param(
            {attr.HTTP_METHOD: "  ", attr.HTTP_ROUTE: 7},
            {},
            None,
            id="blank or not a str: left out",
        ),
    ],
)
def test_a_request_report_carries_its_method_and_route(
    request_attributes: dict[str, Any], tags: dict[str, str], transaction: Optional[str]
) -> None:
    event = event_of(report(request_attributes))

    assert {k: v for k, v in event["tags"].items() if k.startswith("http.")} == tags
    assert event.get("transaction") == transaction
    if transaction is None:
        assert "transaction_info" not in event
    else:
        assert event["transaction_info"] == {"source": "route"}


def test_a_context_relation_is_a_context_source() -> None:
    chain = [dict(CHAIN[0], relation="context"), CHAIN[1]]
    [root, _] = event_of(report(chain=json.dumps(chain)))["exception"]["values"]
    assert root["mechanism"]["source"] == "__context__"


@pytest.mark.parametrize(
    ("attributes", "mechanism", "handled"),
    [
        pytest.param({}, "excepthook", False, id="excepthook, unhandled"),
        pytest.param(
            {attr.MECHANISM: "capture_exception", attr.HANDLED: True},
            "capture_exception",
            True,
            id="capture_exception, handled",
        ),
        pytest.param(
            {attr.MECHANISM: None, attr.HANDLED: None}, "otel_telemetry", False, id="absent"
        ),
    ],
)
def test_mechanism_and_handled(attributes: dict, mechanism: str, handled: bool) -> None:
    span = report({k: v for k, v in attributes.items() if v is not None})
    if None in attributes.values():
        span = ReadableSpan(
            name=span.name,
            context=span.context,
            attributes={attr.KIND: attr.KIND_EXCEPTION},
            events=span.events,
        )

    values = event_of(span)["exception"]["values"]

    assert values[-1]["mechanism"] == {"type": mechanism, "handled": handled, "exception_id": 0}
    assert values[0]["mechanism"]["handled"] is handled  # the chained one says so too
    assert values[0]["mechanism"]["type"] == "chained"


@pytest.mark.parametrize(
    ("attributes", "user", "tags"),
    [
        pytest.param({}, None, {"mode": "interactive"}, id="nothing extra"),
        pytest.param(
            {attr.USER_EMAIL: "dev@example.org"},
            {"email": "dev@example.org"},
            {"mode": "interactive"},
            id="user email",
        ),
        pytest.param({attr.USER_EMAIL: ""}, None, {"mode": "interactive"}, id="empty email"),
        pytest.param(
            {attr.OCCURRENCES: 42}, None, {"mode": "interactive", "occurrences": "42"}, id="storm"
        ),
        pytest.param({attr.MODE: "server"}, None, {"mode": "server"}, id="server mode"),
    ],
)
def test_user_and_tags(attributes: dict, user: Optional[dict], tags: dict) -> None:
    event = event_of(report(attributes))

    assert event.get("user") == user
    assert {k: v for k, v in event["tags"].items() if k not in ("python", "os")} == tags


def test_a_span_without_a_valid_context_has_no_trace_context() -> None:
    assert "contexts" not in event_of(report(context=INVALID_SPAN_CONTEXT))


FLAT = [{"type": "acme.errors.CrawlError", "value": "no config for [url]", "frames": []}]


@pytest.mark.parametrize(
    ("chain", "expected"),
    [
        pytest.param(None, FLAT, id="no chain attribute"),
        pytest.param("{not json", FLAT, id="unreadable chain"),
        pytest.param("[]", FLAT, id="empty chain"),
        pytest.param('{"type": "X"}', FLAT, id="an object, not a list"),
        pytest.param("[1, 2]", FLAT, id="a list of non-objects"),
        pytest.param('[{"type": "X"}, 3]', [{"type": "X", "value": "", "frames": []}], id="mixed"),
    ],
)
def test_without_a_readable_chain_the_flat_attributes_are_used(chain, expected) -> None:
    values = event_of(report(chain=chain))["exception"]["values"]
    assert [
        {"type": v["type"], "value": v["value"], "frames": v["stacktrace"]["frames"]}
        for v in values
    ] == expected


def test_flat_attributes_default_when_absent() -> None:
    span = ReadableSpan(
        name="exception",
        context=CONTEXT,
        attributes={attr.KIND: attr.KIND_EXCEPTION},
        events=[Event(attr.EVENT_EXCEPTION, {}, timestamp=0)],
        end_time=2_000_000_000,
    )
    event = event_of(span)
    [value] = event["exception"]["values"]
    assert (value["type"], value["value"], value["module"]) == ("Exception", "", None)
    assert event["timestamp"] == 2.0  # the span's end when the event has no time
    assert event["tags"]["mode"] == "unknown"


@pytest.mark.parametrize(
    ("entry", "type_", "module"),
    [
        pytest.param(
            {"type": "ValueError", "module": "builtins"}, "ValueError", None, id="builtin"
        ),
        pytest.param({"type": "a.b.Err", "module": "a.b"}, "Err", "a.b", id="qualified"),
        pytest.param({"type": "a.b.Outer.Err", "module": "a.b"}, "Outer.Err", "a.b", id="nested"),
        pytest.param({"type": "Err", "module": "a.b"}, "Err", "a.b", id="already short"),
        pytest.param({"type": "Err"}, "Err", None, id="no module"),
        pytest.param({}, "Exception", None, id="nothing"),
    ],
)
def test_type_and_module(entry: dict, type_: str, module: Optional[str]) -> None:
    [value] = event_of(report(chain=json.dumps([entry])))["exception"]["values"]
    assert (value["type"], value["module"]) == (type_, module)
    assert value["stacktrace"] == {"frames": []}


@pytest.mark.parametrize(
    "span",
    [
        pytest.param(
            ReadableSpan(name="page_view", attributes={attr.KIND: attr.KIND_EVENT}),
            id="usage event",
        ),
        pytest.param(report(event_name="log"), id="other event name"),
    ],
)
def test_a_span_without_an_exception_event_is_no_event(span: ReadableSpan) -> None:
    assert sentry_event(span, release="acme@1", environment="production") is None


def test_only_allowed_keys_leave() -> None:
    event = {key: "kept" for key in EVENT_KEYS}
    event.update(server_name="alice-laptop", modules={"x": "1"}, extra={"sys.argv": []})

    assert _allow_listed(event, None) == {key: "kept" for key in EVENT_KEYS}


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        pytest.param(None, 0.0, id="absent"),
        pytest.param("", 0.0, id="empty"),
        pytest.param("60::organization", 60.0, id="all categories"),
        pytest.param("60", 60.0, id="seconds only"),
        pytest.param("30:error:organization", 30.0, id="error"),
        pytest.param("30:transaction:organization", 0.0, id="transaction only"),
        pytest.param("30:transaction;error:key", 30.0, id="error among several"),
        pytest.param("30:default;error;security:organization:quota", 30.0, id="with reason"),
        pytest.param("10:error:key, 120::organization", 120.0, id="the longest"),
        pytest.param("120:session:key, 10:error:key", 10.0, id="only those covering errors"),
        pytest.param("soon:error:key, 5:error", 5.0, id="unreadable one skipped"),
        pytest.param("2.5:error", 2.5, id="fraction"),
    ],
)
def test_rate_limit_seconds(header: Optional[str], seconds: float) -> None:
    assert _rate_limit_seconds(header) == seconds


@pytest.mark.parametrize(
    ("status", "headers", "expected"),
    [
        pytest.param(200, {}, Delivery(ok=True), id="200"),
        pytest.param(202, {}, Delivery(ok=True), id="202"),
        pytest.param(299, {}, Delivery(ok=True), id="299"),
        pytest.param(300, {}, Delivery(ok=False, detail="d"), id="300 retried"),
        pytest.param(400, {}, Delivery(ok=False, detail="d"), id="400 retried"),
        pytest.param(500, {}, Delivery(ok=False, detail="d"), id="500 retried"),
        pytest.param(503, {"retry-after": "9"}, Delivery(ok=False, detail="d"), id="503"),
        pytest.param(401, {}, Delivery(ok=False, fatal=True, detail="d"), id="401 fatal"),
        pytest.param(403, {}, Delivery(ok=False, fatal=True, detail="d"), id="403 fatal"),
        pytest.param(
            429, {"retry-after": "30"}, Delivery(ok=False, retry_after=30.0, detail="d"), id="429"
        ),
        pytest.param(429, {}, Delivery(ok=False, retry_after=60.0, detail="d"), id="429 bare"),
        pytest.param(
            429,
            {"retry-after": "later"},
            Delivery(ok=False, retry_after=60.0, detail="d"),
            id="bad",
        ),
    ],
)
def test_delivery_from_status(status: int, headers: dict, expected: Delivery) -> None:
    assert delivery_from_status(status, headers, "d") == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(None, None, id="absent"),
        pytest.param("", None, id="empty"),
        pytest.param("120", 120.0, id="seconds"),
        pytest.param(" 5 ", 5.0, id="padded"),
        pytest.param("1.5", 1.5, id="fraction"),
        pytest.param("-3", 0.0, id="negative"),
        pytest.param("soon", None, id="unreadable"),
        pytest.param("Wed, 21 Oct 2015 07:28:00 GMT", 0.0, id="date in the past"),
    ],
)
def test_retry_after_seconds(value: Optional[str], expected: Optional[float]) -> None:
    assert retry_after_seconds(value) == expected


def test_retry_after_an_http_date_in_the_future() -> None:
    seconds = retry_after_seconds(formatdate(time.time() + 120, usegmt=True))
    assert seconds is not None
    assert 110 <= seconds <= 121


@pytest.fixture
def context(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ExporterContext:
    monkeypatch.setattr(_log, "_warned", set())
    return ExporterContext(app="acme", version="1.2.3", config_dir=tmp_path, environ={})


@pytest.mark.parametrize(
    ("dsn", "warning"),
    [
        pytest.param(None, "has no DSN", id="no DSN"),
        pytest.param("not a dsn", "is not a valid DSN", id="invalid DSN"),
    ],
)
def test_without_a_valid_dsn_reports_stay_in_the_file(
    context: ExporterContext, caplog: pytest.LogCaptureFixture, dsn, warning: str
) -> None:
    from dataclasses import replace

    context = replace(context, sentry_dsn=dsn, sentry_dsn_source="ACME_SENTRY_DSN")
    with caplog.at_level(logging.WARNING, logger="otel_telemetry"):
        exporter = create_sentry_exporter(context)

    assert isinstance(exporter, FileSpanExporter)
    assert exporter.directory == context.reports_dir
    [record] = caplog.records
    assert warning in record.getMessage()
    if dsn:
        assert dsn not in record.getMessage()  # the DSN holds the project's key


def test_a_valid_dsn_gives_a_sentry_exporter_that_opens_nothing_for_other_spans(
    context: ExporterContext,
) -> None:
    from dataclasses import replace

    dsn = "https://0123456789abcdef0123456789abcdef@o0.ingest.sentry.io/7"
    exporter = create_sentry_exporter(replace(context, sentry_dsn=dsn))
    assert isinstance(exporter, SentrySpanExporter)

    usage = ReadableSpan(name="page_view", attributes={attr.KIND: attr.KIND_EVENT})
    from opentelemetry.sdk.trace.export import SpanExportResult

    assert exporter.export([usage]) is SpanExportResult.SUCCESS  # no event, nothing sent
    # Done, and said so: nothing was sent, so the record of sent reports skips it.
    assert exporter.last_delivery == Delivery(ok=True, sent=False)
    assert exporter.force_flush(100) is True
    exporter.shutdown()
    exporter.shutdown()  # idempotent
    assert exporter.force_flush(100) is True


def test_posting_without_a_dsn_is_refused_for_good() -> None:
    assert _post_envelope(None, b"", 1.0) == Delivery(ok=False, fatal=True, detail="no DSN")
