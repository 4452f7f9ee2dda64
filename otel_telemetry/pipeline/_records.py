"""Records and spans: the SDK's ``ReadableSpan`` as a record (``_report``), and back.

The record keeps everything an exporter needs to send the span again, its trace and
span ids included, so a report resent by a later run is the same report.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

from ._report import Record


def span_to_record(span: ReadableSpan) -> Record:
    """A scrubbed span as JSON-ready data, everything an exporter needs to send it again."""
    context = span.context
    scope = span.instrumentation_scope
    return {
        "name": span.name,
        "trace_id": f"{context.trace_id:032x}" if context else None,
        "span_id": f"{context.span_id:016x}" if context else None,
        "kind": span.kind.value,
        "start": span.start_time,
        "end": span.end_time,
        "attributes": _attributes(span.attributes),
        "events": [
            {"name": e.name, "timestamp": e.timestamp, "attributes": _attributes(e.attributes)}
            for e in span.events
        ],
        "status": {"code": span.status.status_code.value, "description": span.status.description},
        "resource": _attributes(span.resource.attributes),
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
            trace_flags=TraceFlags(TraceFlags.SAMPLED),
        )
    scope = record.get("scope")
    status = record["status"]
    code = StatusCode(status["code"])
    return ReadableSpan(
        name=record["name"],
        context=context,
        resource=Resource(_values(record["resource"])),
        attributes=_values(record["attributes"]),
        events=[
            Event(e["name"], _values(e["attributes"]), timestamp=e["timestamp"])
            for e in record["events"]
        ],
        kind=SpanKind(record["kind"]),
        status=Status(code, status["description"] if code is StatusCode.ERROR else None),
        start_time=record["start"],
        end_time=record["end"],
        instrumentation_scope=InstrumentationScope(scope["name"], scope["version"])
        if scope
        else None,
    )


def _attributes(attributes: Any) -> dict[str, Any]:
    return {
        k: list(v) if isinstance(v, (list, tuple)) else v for k, v in (attributes or {}).items()
    }


def _values(attributes: dict[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in attributes.items()}
