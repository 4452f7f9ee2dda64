"""OTLP/JSON encoding of spans, as the OTLP specification and the Collector write it.

The document is what protobuf's JSON mapping makes of the SDK's own OTLP encoding
(``MessageToDict(encode_spans(spans), use_integers_for_enums=True)``), with ids in
lower-case hex as OTLP/JSON wants them: the same keys, in the same order, with the same
values left out. It is built here directly from the spans: protobuf's pure-Python JSON
printer took most of a flush (the record of sent reports encodes each delivered one).
``tests/unit/test_otlp_json.py`` holds the two to the same output.

The rules of the mapping kept here: keys in field-number order; a field at its default
(0, "", an empty list, an unset message) is left out, a member of a ``oneof`` never is;
64-bit integers are strings; ``double`` NaN and infinities are strings; bytes are base64.
Values are read as protobuf reads them, and what ``_otlp_proto`` leaves out (an
attribute that cannot be encoded, or nested deeper than ``MAX_DEPTH``) is left out here.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping, Sequence
from typing import Any, Optional

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext

from ._otlp_common import MAX_DEPTH, as_int64, as_string, group_spans

# Span.SpanFlags: the parent's remoteness is known; and it is remote.
_HAS_IS_REMOTE = 0x100
_IS_REMOTE = 0x200


def encode_otlp_json(spans: Sequence[ReadableSpan]) -> dict[str, Any]:
    """Return an ``ExportTraceServiceRequest`` as an OTLP/JSON document.

    Spans are grouped by resource, then by instrumentation scope, in the order first met,
    as the SDK's encoder groups them.
    """
    resource_spans = []
    for resource, scopes in group_spans(spans).items():
        scope_spans = []
        for scope, members in scopes.items():
            entry: dict[str, Any] = {"scope": _scope(scope), "spans": [_span(s) for s in members]}
            if scope is not None and scope.schema_url:
                entry["schemaUrl"] = scope.schema_url
            scope_spans.append(entry)
        entry = {"resource": _attributes_only(resource.attributes), "scopeSpans": scope_spans}
        if resource.schema_url:
            entry["schemaUrl"] = resource.schema_url
        resource_spans.append(entry)
    return {"resourceSpans": resource_spans} if resource_spans else {}


def _span(span: ReadableSpan) -> dict[str, Any]:
    context = span.get_span_context()
    assert context is not None  # a ReadableSpan the SDK made has one
    encoded: dict[str, Any] = {
        "traceId": f"{context.trace_id:032x}",
        "spanId": f"{context.span_id:016x}",
    }
    trace_state = ",".join(f"{key}={value}" for key, value in (context.trace_state or {}).items())
    if trace_state:
        encoded["traceState"] = trace_state
    if span.parent:
        encoded["parentSpanId"] = f"{span.parent.span_id:016x}"
    if span.name:
        encoded["name"] = span.name
    encoded["kind"] = span.kind.value + 1  # SPAN_KIND_INTERNAL is 1: 0 is UNSPECIFIED
    if span.start_time:
        encoded["startTimeUnixNano"] = str(span.start_time)
    if span.end_time:
        encoded["endTimeUnixNano"] = str(span.end_time)
    _put_attributes(encoded, span.attributes)
    if span.dropped_attributes:
        encoded["droppedAttributesCount"] = span.dropped_attributes
    if span.events:
        encoded["events"] = [_event(event) for event in span.events]
    if span.dropped_events:
        encoded["droppedEventsCount"] = span.dropped_events
    if span.links:
        encoded["links"] = [_link(link) for link in span.links]
    if span.dropped_links:
        encoded["droppedLinksCount"] = span.dropped_links
    status: dict[str, Any] = {}
    if span.status.description:
        status["message"] = span.status.description
    if span.status.status_code.value:
        status["code"] = span.status.status_code.value
    encoded["status"] = status
    encoded["flags"] = _flags(span.parent)
    return encoded


def _event(event: Any) -> dict[str, Any]:
    encoded: dict[str, Any] = {}
    if event.timestamp:
        encoded["timeUnixNano"] = str(event.timestamp)
    if event.name:
        encoded["name"] = event.name
    _put_attributes(encoded, event.attributes)
    if event.dropped_attributes:
        encoded["droppedAttributesCount"] = event.dropped_attributes
    return encoded


def _link(link: Any) -> dict[str, Any]:
    encoded: dict[str, Any] = {
        "traceId": f"{link.context.trace_id:032x}",
        "spanId": f"{link.context.span_id:016x}",
    }
    _put_attributes(encoded, link.attributes)
    if link.dropped_attributes:
        encoded["droppedAttributesCount"] = link.dropped_attributes
    encoded["flags"] = _flags(link.context)
    return encoded


def _flags(parent: Optional[SpanContext]) -> int:
    return _HAS_IS_REMOTE | (_IS_REMOTE if parent is not None and parent.is_remote else 0)


def _scope(scope: Optional[InstrumentationScope]) -> dict[str, Any]:
    encoded: dict[str, Any] = {}
    if scope is None:
        return encoded
    if scope.name:
        encoded["name"] = scope.name
    if scope.version:
        encoded["version"] = scope.version
    _put_attributes(encoded, scope.attributes)
    return encoded


def _attributes_only(attributes: Optional[Mapping[str, Any]]) -> dict[str, Any]:
    encoded: dict[str, Any] = {}
    _put_attributes(encoded, attributes)
    return encoded


def _put_attributes(encoded: dict[str, Any], attributes: Optional[Mapping[str, Any]]) -> None:
    """``encoded["attributes"]``: each attribute the SDK's encoder would keep, if any."""
    if not attributes:
        return
    values = []
    for key, value in attributes.items():
        try:
            values.append(_key_value(key, value, 0))
        except Exception:  # the SDK's encoder skips on any error too
            continue  # it logs and skips a value it cannot encode
    if values:
        encoded["attributes"] = values


def _key_value(key: Any, value: Any, depth: int) -> dict[str, Any]:
    text = "" if key is None else as_string(key)  # None: the field unset, as protobuf takes it
    encoded: dict[str, Any] = {"key": text} if text else {}
    encoded["value"] = _value(value, depth)
    return encoded


def _value(value: Any, depth: int) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, str):
        return {"stringValue": str.__str__(value)}
    if isinstance(value, int):
        return {"intValue": str(as_int64(value))}
    if isinstance(value, float):
        if math.isnan(value):
            return {"doubleValue": "NaN"}
        if math.isinf(value):
            return {"doubleValue": "Infinity" if value > 0 else "-Infinity"}
        return {"doubleValue": value}
    if isinstance(value, bytes):
        return {"bytesValue": base64.b64encode(bytes(memoryview(value))).decode("ascii")}
    if depth >= MAX_DEPTH:
        raise ValueError("nested too deep")
    if isinstance(value, Sequence):
        items = [_value(item, depth + 1) for item in value]
        return {"arrayValue": {"values": items} if items else {}}
    if isinstance(value, Mapping):
        pairs = [_key_value(str(k), v, depth + 1) for k, v in value.items()]
        return {"kvlistValue": {"values": pairs} if pairs else {}}
    raise TypeError(f"no OTLP value for {type(value).__name__}")
