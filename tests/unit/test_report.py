"""Records (``pipeline/_report.py``): the exit path writes what the SDK path writes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from otel_telemetry import _attributes as attr
from otel_telemetry.capture._snapshot import CapturedEvent, capture_exception
from otel_telemetry.pipeline._provider import SpanRecorder
from otel_telemetry.pipeline._records import record_to_span, span_to_record
from otel_telemetry.pipeline._report import (
    MAX_CHAIN,
    MAX_STRING,
    bound_record,
    check_record,
    new_record,
    resource_attributes,
    scrub_record,
)
from otel_telemetry.pipeline._spans import record_span
from otel_telemetry.scrubbing import Scrubber, ScrubbingOptions

RESOURCE = resource_attributes("acme", "1.4.0")
PACKAGES = ("tests.unit",)


def _crash() -> Any:
    try:
        raise ValueError("no page for alice@example.com in /home/alice/cache")
    except ValueError as exc:
        return capture_exception(exc, "excepthook", handled=False, packages=PACKAGES)


def _sdk_record(captured: Any, install_id: Any = None) -> dict[str, Any]:
    exporter = InMemorySpanExporter()
    recorder = SpanRecorder(
        SimpleSpanProcessor(exporter), Resource.create(), InstrumentationScope("otel_telemetry")
    )
    record_span(
        recorder,
        captured,
        packages=PACKAGES,
        mode="server",
        install_id=install_id,
    )
    [span] = exporter.get_finished_spans()
    return span_to_record(span)


def _without_ids(record: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v for k, v in record.items() if k not in ("trace_id", "span_id", "resource", "scope")
    }


@pytest.mark.parametrize(
    "captured",
    [
        pytest.param(_crash(), id="crash"),
        pytest.param(CapturedEvent("crawl_started", {"pages": 3, "tags": ["a", "b"]}), id="event"),
    ],
)
def test_the_record_written_at_exit_is_the_record_the_sdk_path_writes(captured: Any) -> None:
    install_id = None if captured.__class__.__name__ == "CapturedException" else "an-id"
    at_exit = new_record(
        captured, packages=PACKAGES, mode="server", install_id=install_id, resource=RESOURCE
    )

    assert _without_ids(at_exit) == _without_ids(_sdk_record(captured, install_id))
    assert at_exit["resource"] == RESOURCE
    # What is written is what is read back, and what becomes a span again.
    reread = check_record(json.loads(json.dumps(at_exit)))
    assert reread == at_exit
    assert span_to_record(record_to_span(reread)) == at_exit


def test_scrubbing_twice_finds_nothing_more_and_keeps_the_audit() -> None:
    scrubber = Scrubber(ScrubbingOptions())
    record = new_record(
        _crash(), packages=PACKAGES, mode="server", install_id=None, resource=RESOURCE
    )

    once = scrub_record(record, scrubber, email="me@example.com")
    twice = scrub_record(json.loads(json.dumps(once)), scrubber, email="me@example.com")

    assert twice == once
    text = json.dumps(once)
    assert "alice" not in text
    assert once["attributes"][attr.USER_EMAIL] == "me@example.com"
    assert any(item.startswith("email:") for item in once["attributes"][attr.SCRUBBED])


def test_an_email_that_is_not_the_users_is_removed_not_kept() -> None:
    scrubber = Scrubber(ScrubbingOptions())
    record = new_record(
        _crash(), packages=PACKAGES, mode="server", install_id=None, resource=RESOURCE
    )
    record["attributes"][attr.USER_EMAIL] = "mallory@example.com"

    assert attr.USER_EMAIL not in scrub_record(record, scrubber)["attributes"]
    assert (
        scrub_record(record, scrubber, email="me@example.com")["attributes"][attr.USER_EMAIL]
        == "me@example.com"
    )


def test_bounds_cut_strings_and_keep_the_chain_json() -> None:
    record = new_record(
        _crash(), packages=PACKAGES, mode="server", install_id=None, resource=RESOURCE
    )
    [event] = record["events"]
    event["attributes"][attr.EXCEPTION_MESSAGE] = "m" * (MAX_STRING * 4)
    chain = json.loads(event["attributes"][attr.EXCEPTION_CHAIN])
    chain[0]["message"] = "c" * (MAX_CHAIN * 2)
    event["attributes"][attr.EXCEPTION_CHAIN] = json.dumps(chain)

    bounded = bound_record(record)

    [event] = bounded["events"]
    assert len(event["attributes"][attr.EXCEPTION_MESSAGE]) < MAX_STRING + 64
    cut_chain = json.loads(event["attributes"][attr.EXCEPTION_CHAIN])  # still JSON
    assert len(cut_chain) == len(chain)
    assert cut_chain[0]["message"].endswith("characters cut]")
    assert check_record(bounded) is bounded


@pytest.mark.parametrize(
    "where",
    ["name", "description", "attribute", "list item", "event attribute", "chain", "none"],
)
def test_a_record_within_the_bounds_is_kept_as_it_is_and_one_over_is_cut(where: str) -> None:
    # Checked without a copy (a burst bounds every record): the check and the cut agree.
    record = new_record(
        _crash(), packages=PACKAGES, mode="server", install_id=None, resource=RESOURCE
    )
    record["attributes"]["list"] = ["short", "also short"]
    over = "x" * (MAX_STRING + 1)
    [event] = record["events"]
    if where == "name":
        record["name"] = "n" * 257
    elif where == "description":
        record["status"]["description"] = over
    elif where == "attribute":
        record["attributes"]["note"] = over
    elif where == "list item":
        record["attributes"]["list"] = ["short", over]
    elif where == "event attribute":
        event["attributes"][attr.EXCEPTION_MESSAGE] = over
    elif where == "chain":
        chain = json.loads(event["attributes"][attr.EXCEPTION_CHAIN])
        chain[0]["message"] = over
        event["attributes"][attr.EXCEPTION_CHAIN] = json.dumps(chain)
    before = json.dumps(record)

    bounded = bound_record(record)

    assert json.dumps(record) == before  # the input is never changed
    if where == "none":
        assert bounded is record
    else:
        assert bounded is not record
        assert json.dumps(bounded) != before
        assert bound_record(bounded) is bounded  # cut once, within the bounds after


def test_a_chain_too_deep_to_parse_is_bounded_to_an_empty_one() -> None:
    # Found by a red team: a chain of nested JSON over the bound raised RecursionError.
    record = new_record(
        _crash(), packages=PACKAGES, mode="server", install_id=None, resource=RESOURCE
    )
    [event] = record["events"]
    event["attributes"][attr.EXCEPTION_CHAIN] = "[" * 100_000 + "]" * 100_000

    bounded = bound_record(record)

    assert bounded["events"][0]["attributes"][attr.EXCEPTION_CHAIN] == "[]"


def _parts(scrubber: Scrubber, **changes: Any) -> Any:
    from otel_telemetry.pipeline._report import scrub_parts

    report: dict[str, Any] = {
        "name": "exception",
        "attributes": {
            attr.KIND: attr.KIND_EXCEPTION,
            attr.HANDLED: True,
            "note": "to bob@example.com",
        },
        "events": [("exception", {attr.EXCEPTION_MESSAGE: "mail alice@example.com", "k": None})],
        "description": "ValueError: mail alice@example.com",
        "resource": None,
    }
    report.update(changes)
    return scrub_parts(scrubber, **report)


def test_a_report_met_again_is_scrubbed_alike_and_its_parts_are_its_own() -> None:
    # Reports of text and flags are remembered whole: the second is a lookup, which
    # must give what scrubbing gives, audit included, in containers of its own.
    scrubber = Scrubber()
    first = _parts(scrubber)
    first.attributes["note"] = "changed"
    first.events[0][1][attr.EXCEPTION_MESSAGE] = "changed"
    second = _parts(scrubber)
    fresh = _parts(Scrubber())
    assert second == fresh
    assert second.attributes["note"] == "to [email]"
    assert second.attributes[attr.SCRUBBED] == ("email:3",)
    assert second.events == [("exception", {attr.EXCEPTION_MESSAGE: "mail [email]", "k": None})]


@pytest.mark.parametrize(
    "changes",
    [
        {"name": "alice@example.com"},
        {"description": None},
        {"description": "other"},
        {"events": []},
        {"events": [("carol@example.com", {})]},
        {"resource": {"host.name": "alice-laptop"}},
        {"resource": {}},
        {"attributes": {attr.KIND: attr.KIND_EXCEPTION, "n": 4111111111111111}},
        {"attributes": {attr.KIND: attr.KIND_EXCEPTION, "flag": "True"}},
        {"attributes": {attr.KIND: attr.KIND_EXCEPTION, "flag": True}},
    ],
    ids=lambda changes: repr(changes)[:40],
)
def test_a_report_that_differs_in_any_part_is_not_given_anothers_parts(
    changes: dict[str, Any],
) -> None:
    scrubber = Scrubber()
    _parts(scrubber)  # remembered
    assert _parts(scrubber, **changes) == _parts(Scrubber(), **changes)
    assert _parts(scrubber, **changes) == _parts(Scrubber(), **changes)  # and remembered
