"""The PostHog event of a report (``exporters/_posthog.py``), and the exporter's fallbacks.

In-process and without the ``posthog`` package: the events are built here, and the
factory's fallbacks (no key, no host, no package, a package too old) are what a host
meets without the extra. The real SDK on the wire is ``tests/test_posthog_exporter.py``.
"""

from __future__ import annotations

import json
import logging
import sys
import types
import uuid
from pathlib import Path
from typing import Any, Optional

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.trace import INVALID_SPAN_CONTEXT, SpanContext

from otel_telemetry import _attributes as attr
from otel_telemetry import _log
from otel_telemetry._chain import Chain
from otel_telemetry._version import __version__
from otel_telemetry.exporters import ExporterContext, FileSpanExporter
from otel_telemetry.exporters._posthog import (
    ANONYMOUS_ID,
    EXTRA_HINT,
    create_posthog_exporter,
    event_uuid,
    exception_list,
    posthog_event,
)
from otel_telemetry.exporters._registry import BUILTIN_EXPORTERS, find_factory
from tests.payloads import CRAWL_CHAIN as CHAIN

CONTEXT = SpanContext(0x0AF7651916CD43DD8448EB211C80319C, 0xB7AD6B7169203331, is_remote=False)
INSTALL_ID = "0b5f3e0c-4a51-4d6b-9a57-3d0c8f6b2a11"
RESOURCE = Resource(
    {
        attr.SERVICE_NAME: "acme",
        attr.SERVICE_VERSION: "1.2.3",
        attr.SDK_NAME: "opentelemetry",  # not one PostHog gets
        attr.PROCESS_RUNTIME_NAME: "cpython",
        attr.PROCESS_RUNTIME_VERSION: "3.11.7",
        attr.OS_TYPE: "linux",
    }
)
POSTHOG_OWN = {
    "$lib": "otel_telemetry",
    "$lib_version": __version__,
    "$geoip_disable": True,
    "$process_person_profile": False,
}
FROM_RESOURCE = {
    "service.name": "acme",
    "service.version": "1.2.3",
    "process.runtime.name": "cpython",
    "process.runtime.version": "3.11.7",
    "os.type": "linux",
}


def crash(
    attributes: Optional[dict[str, Any]] = None,
    chain: Optional[str] = json.dumps(CHAIN),
    context: SpanContext = CONTEXT,
) -> ReadableSpan:
    event: dict[str, Any] = {
        attr.EXCEPTION_TYPE: "acme.errors.CrawlError",
        attr.EXCEPTION_MESSAGE: "no config for [url]",
        attr.EXCEPTION_STACKTRACE: 'Traceback (most recent call last):\n  File "acme/crawler.py"',
    }
    if chain is not None:
        event[attr.EXCEPTION_CHAIN] = chain
    return ReadableSpan(
        name=attr.SPAN_EXCEPTION,
        context=context,
        resource=RESOURCE,
        attributes={
            attr.KIND: attr.KIND_EXCEPTION,
            attr.MECHANISM: "excepthook",
            attr.HANDLED: False,
            attr.MODE: "interactive",
            attr.SCRUBBED: "url:1",
            **(attributes or {}),
        },
        events=[Event(attr.EVENT_EXCEPTION, event, timestamp=1_700_000_000_500_000_000)],
        start_time=1_700_000_000_000_000_000,
        end_time=1_700_000_000_600_000_000,
    )


def usage(
    name: str = "crawl_finished",
    payload: Optional[dict[str, Any]] = None,
    context: SpanContext = CONTEXT,
) -> ReadableSpan:
    return ReadableSpan(
        name=name,
        context=context,
        resource=RESOURCE,
        attributes={
            attr.KIND: attr.KIND_EVENT,
            **(payload if payload is not None else {"pages": 3, "browser": "chromium"}),
            attr.INSTALL_ID: INSTALL_ID,
            attr.MODE: "server",
        },
        start_time=1_700_000_000_000_000_000,
        end_time=1_700_000_000_250_000_000,
    )


def event_of(span: ReadableSpan) -> dict[str, Any]:
    event = posthog_event(span)
    assert event is not None
    return event


def test_the_whole_event_of_a_usage_event() -> None:
    span = usage(payload={"pages": 3, "success": True, "ratio": 0.5, "browsers": ("a", "b")})

    event = event_of(span)

    assert event == {
        "event": "crawl_finished",
        "distinct_id": INSTALL_ID,
        "uuid": event_uuid(span),
        "timestamp": event["timestamp"],
        "properties": {
            "pages": 3,
            "success": True,
            "ratio": 0.5,
            "browsers": ["a", "b"],
            "otel_telemetry.mode": "server",
            **FROM_RESOURCE,
            **POSTHOG_OWN,
        },
    }
    assert event["timestamp"].isoformat() == "2023-11-14T22:13:20.250000+00:00"
    json.dumps(event["properties"], allow_nan=False)  # JSON as it is


def test_the_whole_event_of_a_crash_with_a_cause() -> None:
    span = crash()

    event = event_of(span)

    assert event == {
        "event": "$exception",
        "distinct_id": ANONYMOUS_ID,
        "uuid": event_uuid(span),
        "timestamp": event["timestamp"],
        "properties": {
            "otel_telemetry.mechanism": "excepthook",
            "otel_telemetry.handled": False,
            "otel_telemetry.mode": "interactive",
            **FROM_RESOURCE,
            "$exception_list": [
                {
                    "type": "CrawlError",
                    "value": "no config for [url]",
                    "module": "acme.errors",
                    "mechanism": {
                        "type": "excepthook",
                        "handled": False,
                        "synthetic": False,
                        "exception_id": 0,
                    },
                    "stacktrace": {
                        "type": "raw",
                        "frames": [
                            {
                                "platform": "python",
                                "filename": "<user code>",
                                "function": "<user code>",
                                "lineno": 0,
                                "module": "<user code>",
                                "in_app": False,
                            },
                            {
                                "platform": "python",
                                "filename": "acme/crawler.py",
                                "function": "Crawler.run",
                                "lineno": 40,
                                "module": "acme.crawler",
                                "in_app": True,
                            },
                        ],
                    },
                },
                {
                    "type": "KeyError",
                    "value": "'site'",
                    "mechanism": {
                        "type": "chained",
                        "parent_id": 0,
                        "source": "cause",
                        "synthetic": False,
                        "exception_id": 1,
                    },
                    "stacktrace": {
                        "type": "raw",
                        "frames": [
                            {
                                "platform": "python",
                                "filename": "acme/config.py",
                                "function": "lookup",
                                "lineno": 12,
                                "module": "acme.config",
                                "in_app": True,
                            }
                        ],
                    },
                },
            ],
            "$exception_level": "error",
            **POSTHOG_OWN,
        },
    }
    # The exception event's time, not the span's end.
    assert event["timestamp"].isoformat() == "2023-11-14T22:13:20.500000+00:00"


def test_a_chain_of_three_links_each_cause_to_the_one_before() -> None:
    middle = {**CHAIN[1], "relation": "context"}
    chain: Chain = [CHAIN[0], middle, {**CHAIN[1], "type": "RuntimeError", "module": ""}]

    values = exception_list(chain, mechanism="logging", handled=True)

    assert [v["type"] for v in values] == ["RuntimeError", "CrawlError", "KeyError"]
    assert [v["mechanism"] for v in values] == [
        {"type": "logging", "handled": True, "synthetic": False, "exception_id": 0},
        {
            "type": "chained",
            "parent_id": 0,
            "source": "context",
            "synthetic": False,
            "exception_id": 1,
        },
        {
            "type": "chained",
            "parent_id": 1,
            "source": "cause",
            "synthetic": False,
            "exception_id": 2,
        },
    ]


def test_a_crash_from_elsewhere_without_a_chain_keeps_its_type_and_message() -> None:
    values = event_of(crash(chain=None))["properties"]["$exception_list"]

    assert values == [
        {
            "type": "acme.errors.CrawlError",
            "value": "no config for [url]",
            "mechanism": {
                "type": "excepthook",
                "handled": False,
                "synthetic": False,
                "exception_id": 0,
            },
            "stacktrace": {"type": "raw", "frames": []},
        }
    ]


def test_request_attributes_count_and_the_email_typed_at_opt_in_go_with_a_crash() -> None:
    span = crash(
        {
            attr.OCCURRENCES: 7,
            attr.HTTP_METHOD: "POST",
            attr.HTTP_ROUTE: "/crawl/{site}",
            attr.USER_EMAIL: "you@example.com",
            attr.INSTALL_ID: INSTALL_ID,  # never on a crash today; used if one comes
        }
    )

    event = event_of(span)

    properties = event["properties"]
    assert properties["otel_telemetry.occurrences"] == 7
    assert properties["http.request.method"] == "POST"
    assert properties["http.route"] == "/crawl/{site}"
    assert properties["user.email"] == "you@example.com"
    assert event["distinct_id"] == INSTALL_ID
    # The kind is the event, the install id is its distinct_id, the audit stays here.
    for ours in (attr.KIND, attr.INSTALL_ID, attr.SCRUBBED):
        assert ours not in properties


def test_only_the_named_resource_attributes_go() -> None:
    properties = event_of(usage())["properties"]

    assert attr.SDK_NAME not in properties
    assert {k: properties[k] for k in FROM_RESOURCE} == FROM_RESOURCE


def test_posthog_names_of_a_payload_are_left_out_and_its_own_values_win() -> None:
    payload = {
        "$set": '{"email":"[email]"}',
        "$ip": "[ip]",
        "$groups": "{}",
        "$process_person_profile": True,
        "$lib": "evil",
        "pages": 1,
    }

    properties = event_of(usage(payload=payload))["properties"]

    assert properties == {
        "pages": 1,
        "otel_telemetry.mode": "server",
        **FROM_RESOURCE,
        **POSTHOG_OWN,
    }


@pytest.mark.parametrize("name", ["$identify", "$exception", "$groupidentify", "$set"])
def test_a_usage_event_with_a_posthog_name_is_not_sent(name: str) -> None:
    assert posthog_event(usage(name=name)) is None


def test_the_uuid_is_the_reports_own_on_every_resend() -> None:
    first = event_uuid(usage())
    again = event_uuid(usage(payload={"pages": 4}))  # the same ids: the same report
    other = event_uuid(usage(context=SpanContext(CONTEXT.trace_id, 0x1, is_remote=False)))

    assert first == again != other
    assert uuid.UUID(first).version == 5
    assert event_of(crash())["uuid"] == event_uuid(crash())


def test_a_span_without_ids_gets_a_uuid_from_its_content() -> None:
    first = event_uuid(usage(context=INVALID_SPAN_CONTEXT))

    assert first == event_uuid(usage(context=INVALID_SPAN_CONTEXT))
    assert first != event_uuid(usage(payload={"pages": 4}, context=INVALID_SPAN_CONTEXT))


def test_a_usage_event_without_an_install_id_is_anonymous() -> None:
    span = usage()
    attributes = {k: v for k, v in (span.attributes or {}).items() if k != attr.INSTALL_ID}
    span = ReadableSpan(name=span.name, context=CONTEXT, attributes=attributes, end_time=1)

    assert event_of(span)["distinct_id"] == ANONYMOUS_ID


# The factory: what a host meets without a key, a host or the package.


@pytest.fixture
def fresh_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forget the warnings given so far, so that this test sees its own."""
    monkeypatch.setattr(_log, "_warned", set())


def _context(tmp_path: Path, **posthog: Optional[str]) -> ExporterContext:
    settings = {"posthog_key": "phc_test", "posthog_host": "http://127.0.0.1:9", **posthog}
    return ExporterContext(app="acme", version="1.0", config_dir=tmp_path, **settings)


def _built(
    context: ExporterContext, caplog: pytest.LogCaptureFixture
) -> tuple[list[Any], list[str]]:
    with caplog.at_level(logging.WARNING, logger="otel_telemetry"):
        exporters = [create_posthog_exporter(context) for _ in range(3)]
    warnings = [r.getMessage() for r in caplog.records if r.name.startswith("otel_telemetry")]
    return exporters, warnings


def test_posthog_is_a_built_in_exporter() -> None:
    assert "posthog" in BUILTIN_EXPORTERS
    assert find_factory("posthog") is create_posthog_exporter


@pytest.mark.usefixtures("fresh_warnings")
@pytest.mark.parametrize(
    ("settings", "missing"),
    [({"posthog_key": None}, "no project key"), ({"posthog_host": None}, "no valid host")],
)
def test_without_a_key_or_a_host_the_file_keeps_the_reports(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, settings: dict[str, None], missing: str
) -> None:
    context = _context(tmp_path, **settings)

    exporters, warnings = _built(context, caplog)

    assert all(isinstance(e, FileSpanExporter) for e in exporters)
    assert {e.directory for e in exporters} == {context.reports_dir}
    assert len(warnings) == 1, warnings
    assert missing in warnings[0]
    assert str(context.reports_dir) in warnings[0]
    assert "phc_test" not in warnings[0]


@pytest.mark.usefixtures("fresh_warnings")
def test_without_the_package_the_file_keeps_the_reports(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "posthog", None)  # as without the extra
    context = _context(tmp_path)

    exporters, warnings = _built(context, caplog)

    assert all(isinstance(e, FileSpanExporter) for e in exporters)
    assert len(warnings) == 1, warnings
    assert "the posthog package is not installed" in warnings[0]
    assert EXTRA_HINT in warnings[0]
    assert str(context.reports_dir) in warnings[0]


@pytest.mark.usefixtures("fresh_warnings")
def test_a_package_without_the_session_seam_is_too_old(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # posthog 6: its request takes no session (it would send through its shared one).
    old = types.ModuleType("posthog")
    request = types.ModuleType("posthog.request")

    def post(api_key: str, host: Optional[str] = None, path: Optional[str] = None) -> None:
        raise AssertionError("never sent")

    def batch_post(api_key: str, host: Optional[str] = None, **kwargs: Any) -> None:
        raise AssertionError("never sent")

    request.post = post  # type: ignore[attr-defined]
    request.batch_post = batch_post  # type: ignore[attr-defined]
    old.request = request  # type: ignore[attr-defined]
    old.VERSION = "6.9.3"  # type: ignore[attr-defined]
    old.Posthog = object  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "posthog", old)
    monkeypatch.setitem(sys.modules, "posthog.request", request)

    exporters, warnings = _built(_context(tmp_path), caplog)

    assert all(isinstance(e, FileSpanExporter) for e in exporters)
    assert len(warnings) == 1, warnings
    assert "posthog 7.4 or newer is needed, 6.9.3 is installed" in warnings[0]
    assert EXTRA_HINT in warnings[0]
