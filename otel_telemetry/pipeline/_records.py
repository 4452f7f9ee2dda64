"""Records and spans: the SDK's ``ReadableSpan`` as a record (``_report``), and back.

The record keeps everything an exporter needs to send the span again, its trace and
span ids included, so a report resent by a later run is the same report.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Optional

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

from ._report import Record


def span_to_record(span: ReadableSpan) -> Record:
    """A scrubbed span as JSON-ready data, everything an exporter needs to send it again."""
    return record_of(
        span,
        span.name,
        span.attributes,
        [(e.name, e.attributes, e.timestamp) for e in span.events],
        span.status,
        span.resource,
    )


def record_of(
    span: ReadableSpan,
    name: str,
    attributes: Optional[Mapping[str, Any]],
    events: Sequence[tuple[str, Optional[Mapping[str, Any]], int]],
    status: Status,
    resource: Resource,
) -> Record:
    """The record of ``span`` with other strings: :func:`span_to_record` of the span they make.

    The consent processor's way from a span and its scrubbed strings to the sending
    processor's record, without making the scrubbed span in between: the ids, kind,
    times and scope are ``span``'s; everything else is given. ``status`` is the
    SDK's ``Status`` of the new description (which it may have left out).
    """
    context = span.context
    scope = span.instrumentation_scope
    return {
        "name": name,
        "trace_id": f"{context.trace_id:032x}" if context else None,
        "span_id": f"{context.span_id:016x}" if context else None,
        "kind": span.kind.value,
        "start": span.start_time,
        "end": span.end_time,
        "attributes": _attributes(attributes),
        "events": [
            {"name": n, "timestamp": timestamp, "attributes": _attributes(values)}
            for n, values, timestamp in events
        ],
        "status": {"code": status.status_code.value, "description": status.description},
        "resource": _resource_record(resource),
        "scope": {"name": scope.name, "version": scope.version} if scope else None,
    }


def record_to_span(record: Record) -> ReadableSpan:
    """The span written by :func:`span_to_record`."""
    context = None
    if record.get("trace_id") and record.get("span_id"):
        context = SpanContext(
            trace_id=int(record["trace_id"], 16),
            span_id=int(record["span_id"], 16),
            is_remote=False,
            trace_flags=_SAMPLED,
        )
    scope = record.get("scope")
    status = record["status"]
    code = _CODES.get(status["code"]) or StatusCode(status["code"])
    return ReadableSpan(
        name=record["name"],
        context=context,
        resource=_resource(record["resource"]),
        attributes=_values(record["attributes"]),
        events=[
            Event(e["name"], _values(e["attributes"]), timestamp=e["timestamp"])
            for e in record["events"]
        ],
        kind=_KINDS.get(record["kind"]) or SpanKind(record["kind"]),
        status=Status(code, status["description"] if code is StatusCode.ERROR else None),
        start_time=record["start"],
        end_time=record["end"],
        instrumentation_scope=InstrumentationScope(scope["name"], scope["version"])
        if scope
        else None,
    )


# Looked up, not called: an Enum's call is a microsecond, three per record on a burst.
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_KINDS = {kind.value: kind for kind in SpanKind}
_CODES = {code.value: code for code in StatusCode}


def _resource_record(resource: Resource) -> dict[str, Any]:
    """``_attributes`` of a resource; worked out once for the resource every span shares."""
    global _last_record
    known, values = _last_record
    if known is not resource:
        values = _attributes(resource.attributes)
        _last_record = (resource, values)
    return dict(values)  # a record of its own: a record is the caller's to change


def _resource(attributes: dict[str, Any]) -> Resource:
    """The resource of a record: one object for the records that hold the same one.

    Building a ``Resource`` checks every value, and the encoders group spans by it
    (its hash encodes it as JSON): one per distinct resource, not one per record.
    """
    values = _values(attributes)
    if not all(type(value) is str for value in values.values()):
        # Ours are all text. Others are not looked up: True, 1 and 1.0 are one key.
        return Resource(values)
    key = tuple(values.items())
    known = _resources.get(key)
    if known is None:
        if len(_resources) >= _RESOURCES_MAX:
            _resources.clear()
        known = _resources[key] = Resource(values)
    return known


_RESOURCES_MAX = 16
_resources: dict[Any, Resource] = {}
_last_record: tuple[Any, dict[str, Any]] = (None, {})


def _attributes(attributes: Any) -> dict[str, Any]:
    return {
        k: list(v) if isinstance(v, (list, tuple)) else v for k, v in (attributes or {}).items()
    }


def _values(attributes: dict[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in attributes.items()}
