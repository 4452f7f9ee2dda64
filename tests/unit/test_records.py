"""Records (``pipeline/_records.py``): a span as JSON-ready data, and back, for the outbox."""

from __future__ import annotations

import json
from typing import Any

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.trace import SpanKind, Status, StatusCode

from otel_telemetry.pipeline._records import record_to_span, span_to_record
from tests.unit import exception_span, finished_span


def through_json(span: ReadableSpan) -> ReadableSpan:
    """What a later run reads back from the outbox."""
    text = json.dumps(span_to_record(span), ensure_ascii=False)
    return record_to_span(json.loads(text))


def summary(span: ReadableSpan) -> dict:
    context = span.context
    scope = span.instrumentation_scope
    return {
        "name": span.name,
        "ids": (context.trace_id, context.span_id) if context else None,
        "kind": span.kind,
        "times": (span.start_time, span.end_time),
        "attributes": dict(span.attributes or {}),
        "events": [(e.name, e.timestamp, dict(e.attributes or {})) for e in span.events],
        "status": (span.status.status_code, span.status.description),
        "resource": dict(span.resource.attributes),
        "scope": (scope.name, scope.version) if scope else None,
    }


@pytest.mark.parametrize(
    "span",
    [
        pytest.param(exception_span(), id="crash report"),
        pytest.param(
            finished_span(
                "päge view ✓",
                attributes={"s": "é", "i": -3, "f": 0.25, "b": True, "seq": ("a", "b"), "e": ()},
                kind=SpanKind.CLIENT,
                status=Status(StatusCode.OK),
            ),
            id="usage event, unicode, every value type",
        ),
        pytest.param(finished_span("unset"), id="status unset, no events"),
        pytest.param(
            ReadableSpan(
                name="bare",
                resource=Resource({"service.name": "acme"}),
                events=[Event("e", {"k": "v"}, timestamp=1)],
                status=Status(StatusCode.ERROR),
            ),
            id="no context, no scope, no times",
        ),
    ],
)
def test_round_trip(span: ReadableSpan) -> None:
    assert summary(through_json(span)) == summary(span)


def test_the_record_is_plain_json_with_hex_ids() -> None:
    span = exception_span()
    record = span_to_record(span)

    assert record["trace_id"] == f"{span.context.trace_id:032x}"
    assert record["span_id"] == f"{span.context.span_id:016x}"
    assert json.loads(json.dumps(record)) == record  # nothing but JSON types


@pytest.mark.parametrize(
    ("code", "description", "read_back"),
    [
        (StatusCode.ERROR, "ValueError: boom", "ValueError: boom"),
        (StatusCode.ERROR, None, None),
        (StatusCode.OK, "ignored", None),
        (StatusCode.UNSET, "ignored", None),
    ],
)
def test_status_description_only_for_errors(code, description, read_back) -> None:
    record = span_to_record(finished_span())
    record["status"] = {"code": code.value, "description": description}
    assert record_to_span(record).status.description == read_back


@pytest.mark.parametrize("kind", list(SpanKind))
def test_every_kind(kind: SpanKind) -> None:
    assert through_json(finished_span(kind=kind)).kind is kind


def test_a_read_back_span_is_sampled() -> None:
    assert through_json(exception_span()).context.trace_flags.sampled


def _record(resource: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": "n",
        "trace_id": "1" * 32,
        "span_id": "2" * 16,
        "kind": 0,
        "start": 1,
        "end": 1,
        "attributes": {},
        "events": [],
        "status": {"code": 0, "description": None},
        "resource": resource,
        "scope": None,
    }


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ({"v": True}, {"v": 1}),
        ({"v": 1}, {"v": 1.0}),
        ({"v": 0.0}, {"v": -0.0}),
        ({"v": [1, 2]}, {"v": [True, 2.0]}),
        ({"v": "a"}, {"v": "a", "w": "b"}),
    ],
)
def test_a_resource_read_back_holds_its_own_values_whatever_came_before(
    first: dict[str, Any], second: dict[str, Any]
) -> None:
    # Found by a red team: resources were shared by equality, and True == 1 == 1.0.
    record_to_span(_record(first))
    values = dict(record_to_span(_record(second)).resource.attributes)
    # As a Resource of its own holds them (SDK 1.41 leaves out an array of mixed types).
    alone = Resource({k: tuple(v) if isinstance(v, list) else v for k, v in second.items()})
    assert repr(values) == repr(dict(alone.attributes))


def test_records_of_one_resource_read_back_share_one() -> None:
    resource = {"service.name": "acme", "service.version": "1.0"}
    first, second = (record_to_span(_record(dict(resource))) for _ in range(2))
    assert first.resource is second.resource
