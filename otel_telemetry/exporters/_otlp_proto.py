"""OTLP protobuf encoding of spans, written directly as protobuf's wire format.

The bytes are those of the SDK's own encoding (``encode_spans(spans).SerializeToString()``):
the same messages, fields in field-number order, defaults left out as proto3 leaves them
out. They are written here directly from the spans: building a protobuf object per span,
attribute and value, then serialising it, was most of the sending thread's work in a
burst (``benchmarks/burst_throughput.py``). ``tests/unit/test_otlp_encoders.py`` holds the
two to the same bytes, as it holds :mod:`._otlp_json` to the SDK's JSON.

Wire format (https://protobuf.dev/programming-guides/encoding/): a field is a key
(``field_number << 3 | wire_type``) and its value: a varint (0), 8 bytes little-endian
(1), a length and that many bytes (2: strings, bytes, messages), or 4 bytes (5). proto3
writes a scalar only when it is not its default (0, "", empty) and a message field
whenever it is set, even empty; a member of a ``oneof`` is written whenever set.

Values are read as protobuf reads them, not through methods a subclass may override: a
``str`` subclass's own ``encode``, an ``int`` subclass's ``__int__`` or a ``bytes``
subclass's ``__len__`` play no part. An attribute the SDK's encoder leaves out (any
error while encoding it, a key that is not text) is left out here too, and so is one
nested more than :data:`MAX_DEPTH` deep, which the SDK's encoder would send for the
receiver to refuse (protobuf decoders stop at 100 nested messages) or fail on itself.
"""

from __future__ import annotations

import operator
import struct
from collections.abc import Mapping, Sequence
from typing import Any, Optional

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext

from ._otlp_common import MAX_DEPTH, as_int64, as_string, group_spans

_UINT64 = 2**64 - 1
_UINT32 = 2**32 - 1
# Span.SpanFlags: the parent's remoteness is known; and it is remote.
_HAS_IS_REMOTE = 0x100
_IS_REMOTE = 0x200
_DOUBLE = struct.Struct("<d")
_FIXED64 = struct.Struct("<Q")
_FIXED32 = struct.Struct("<I")


def encode_otlp_proto(spans: Sequence[ReadableSpan]) -> bytes:
    """Return a serialized ``ExportTraceServiceRequest`` holding ``spans``.

    Spans are grouped by resource, then by instrumentation scope, in the order first met,
    as the SDK's encoder groups them.

    Raises:
        ValueError: a span's field cannot be encoded, as the SDK's encoder raises for it:
            a name or string outside the attributes with a lone surrogate
            (``UnicodeEncodeError``), a time or a dropped count out of its range.
        TypeError: a span's field of a type protobuf refuses (a time that is a bool).
    """
    request = bytearray()
    for resource, scopes in group_spans(spans).items():
        resource_spans = bytearray()
        _message(resource_spans, 1, _attributes_message(resource.attributes))
        for scope, members in scopes.items():
            scope_spans = bytearray()
            _message(scope_spans, 1, _scope(scope))
            for span in members:
                _message(scope_spans, 2, _span(span))
            if scope is not None and scope.schema_url:
                _string(scope_spans, 3, scope.schema_url)
            _message(resource_spans, 2, scope_spans)
        if resource.schema_url:
            _string(resource_spans, 3, resource.schema_url)
        _message(request, 1, resource_spans)
    return bytes(request)


class NotPlain(Exception):
    """Records that :func:`encode_otlp_proto_records` leaves to the spans they hold."""


def encode_otlp_proto_records(records: Sequence[Mapping[str, Any]]) -> bytes:
    """:func:`encode_otlp_proto` of the spans ``records`` hold, written from the records.

    The bytes are those of ``encode_otlp_proto([record_to_span(r) for r in records])``,
    held to them by ``tests/unit/test_otlp_encoders.py``: a burst's reports are sent from
    the records the outbox stored, without a ``ReadableSpan`` made back from each first.

    Args:
        records: records of the shape ``check_record`` accepts (the sending processor's).

    Raises:
        NotPlain: a resource with a value that is not text, or an empty key, which the
            SDK's ``Resource`` would group or drop in its own ways; a span without ids,
            an event without a time, a kind or status code no enum holds. Send such
            records through their spans.
        ValueError, TypeError: a field protobuf refuses, as :func:`encode_otlp_proto`.
    """
    request = bytearray()
    Scope = Optional[Mapping[str, Any]]
    Members = tuple[Scope, list[Mapping[str, Any]]]
    groups: dict[frozenset[tuple[str, str]], tuple[Mapping[str, Any], dict[Any, Members]]] = {}
    for record in records:
        resource = record["resource"]
        key = _resource_key(resource)
        group = groups.get(key)
        if group is None:
            group = groups[key] = (resource, {})
        scope = record["scope"] or None  # as record_to_span reads it
        scope_key = None if scope is None else (scope["name"], scope["version"])
        members: Optional[Members] = group[1].get(scope_key)
        if members is None:
            members = group[1][scope_key] = (scope, [])
        members[1].append(record)
    for resource, scopes in groups.values():
        resource_spans = bytearray()
        _message(resource_spans, 1, _attributes_message(resource))
        for scope, scoped in scopes.values():
            scope_spans = bytearray()
            scope_message = bytearray()
            if scope is not None:
                if scope["name"]:
                    _string(scope_message, 1, scope["name"])
                if scope["version"]:
                    _string(scope_message, 2, scope["version"])
            _message(scope_spans, 1, scope_message)
            for record in scoped:
                _message(scope_spans, 2, _record_span(record))
            _message(resource_spans, 2, scope_spans)
        _message(request, 1, resource_spans)
    return bytes(request)


def _resource_key(resource: Mapping[str, Any]) -> frozenset[tuple[str, str]]:
    """Equal for the resources the SDK puts in one group: text values, non-empty keys."""
    for key, value in resource.items():
        if type(value) is not str or not key or type(key) is not str:
            raise NotPlain("a resource value that is not text, or an empty key")
    return frozenset(resource.items())


def _record_span(record: Mapping[str, Any]) -> bytes:
    # What _span writes of record_to_span(record): no trace state, parent or links, and
    # nothing dropped (a record's attributes and events are plain lists and dicts).
    trace_id, span_id = record["trace_id"], record["span_id"]
    kind = _KIND_FIELD.get(record["kind"])
    status = record["status"]
    code = _STATUS_CODE.get(status["code"])
    if not (trace_id and span_id) or kind is None or code is None:
        raise NotPlain("no ids, or a kind or status code of no enum")
    out = bytearray()
    _bytes(out, 1, int(trace_id, 16).to_bytes(16, "big"))
    _bytes(out, 2, int(span_id, 16).to_bytes(8, "big"))
    if record["name"]:
        _string(out, 5, record["name"])
    _varint_field(out, 6, kind)
    if record["start"]:
        out += b"\x39" + _fixed64(record["start"])  # field 7
    if record["end"]:
        out += b"\x41" + _fixed64(record["end"])  # field 8
    _attributes(out, 9, record["attributes"])
    for event in record["events"]:
        timestamp = event["timestamp"]
        if timestamp is None:
            raise NotPlain("an event without a time (the SDK's Event takes the clock's)")
        message = bytearray()
        if timestamp:
            message += b"\x09" + _fixed64(timestamp)  # field 1
        if event["name"]:
            _string(message, 2, event["name"])
        _attributes(message, 3, event["attributes"])
        _message(out, 11, message)
    message = bytearray()
    description = status["description"]
    # The SDK's Status keeps a description of an error only, and only text.
    if code == _ERROR and description and isinstance(description, str):
        _string(message, 2, description)
    _varint_field(message, 3, code)
    _message(out, 15, message)
    out += b"\x85\x01" + _FIXED32.pack(_HAS_IS_REMOTE)  # field 16: a root span's flags
    return bytes(out)


# SpanKind's values (0 is INTERNAL) and OTLP's (0 is UNSPECIFIED, INTERNAL is 1); looked
# up, so that a value the enum would not take is left to the span path.
_KIND_FIELD = {value: value + 1 for value in range(5)}
_STATUS_CODE = {value: value for value in range(3)}  # UNSET, OK, ERROR
_ERROR = 2


def _span(span: ReadableSpan) -> bytes:
    context = span.get_span_context()
    assert context is not None  # a ReadableSpan the SDK made has one
    out = bytearray()
    _bytes(out, 1, context.trace_id.to_bytes(16, "big"))
    _bytes(out, 2, context.span_id.to_bytes(8, "big"))
    if context.trace_state:
        _string(out, 3, ",".join(f"{key}={value}" for key, value in context.trace_state.items()))
    if span.parent:
        _bytes(out, 4, span.parent.span_id.to_bytes(8, "big"))
    if span.name:
        _string(out, 5, span.name)
    _varint_field(out, 6, span.kind.value + 1)  # SPAN_KIND_INTERNAL is 1: 0 is UNSPECIFIED
    if span.start_time:
        out += b"\x39" + _fixed64(span.start_time)  # field 7
    if span.end_time:
        out += b"\x41" + _fixed64(span.end_time)  # field 8
    _attributes(out, 9, span.attributes)
    _count_field(out, 10, span.dropped_attributes)
    for event in span.events:
        _message(out, 11, _event(event))
    _count_field(out, 12, span.dropped_events)
    for link in span.links:
        _message(out, 13, _link(link))
    _count_field(out, 14, span.dropped_links)
    status = bytearray()
    if span.status.description:
        _string(status, 2, span.status.description)
    _varint_field(status, 3, span.status.status_code.value)
    _message(out, 15, status)
    out += b"\x85\x01" + _FIXED32.pack(_flags(span.parent))  # field 16, fixed32
    return bytes(out)


def _event(event: Any) -> bytearray:
    out = bytearray()
    if event.timestamp:
        out += b"\x09" + _fixed64(event.timestamp)  # field 1
    if event.name:
        _string(out, 2, event.name)
    _attributes(out, 3, event.attributes)
    _count_field(out, 4, event.dropped_attributes)
    return out


def _link(link: Any) -> bytearray:
    out = bytearray()
    _bytes(out, 1, link.context.trace_id.to_bytes(16, "big"))
    _bytes(out, 2, link.context.span_id.to_bytes(8, "big"))
    _attributes(out, 4, link.attributes)
    _count_field(out, 5, link.dropped_attributes)
    out += b"\x35" + _FIXED32.pack(_flags(link.context))  # field 6, fixed32
    return out


def _flags(parent: Optional[SpanContext]) -> int:
    return _HAS_IS_REMOTE | (_IS_REMOTE if parent is not None and parent.is_remote else 0)


def _scope(scope: Optional[InstrumentationScope]) -> bytearray:
    out = bytearray()
    if scope is None:
        return out
    if scope.name:
        _string(out, 1, scope.name)
    if scope.version:
        _string(out, 2, scope.version)
    _attributes(out, 3, scope.attributes)
    return out


def _attributes_message(attributes: Optional[Mapping[str, Any]]) -> bytearray:
    out = bytearray()
    _attributes(out, 1, attributes)
    return out


def _attributes(out: bytearray, field: int, attributes: Optional[Mapping[str, Any]]) -> None:
    """Each attribute the SDK's encoder would keep, as a repeated ``KeyValue`` field."""
    if not attributes:
        return
    global _fields_size
    for key, value in attributes.items():
        kind = type(value)
        # Text and flags repeat from report to report (kind, mechanism, a placeholder
        # message, the stack text of the same crash): each field is encoded once.
        remembered = (kind is str or kind is bool) and type(key) is str
        if remembered:
            known = _FIELDS.get((field, key, value))
            if known is not None:
                out += known
                continue
        try:
            encoded = _key_value(key, value, 0)
        except Exception:  # the SDK's encoder skips on any error too
            continue  # it logs and skips a value it cannot encode
        start = len(out)
        _message(out, field, encoded)
        size = len(out) - start
        if remembered and size <= _FIELD_LONGEST:
            if _fields_size + size > _FIELDS_SIZE:
                _FIELDS.clear()
                _fields_size = 0
            _FIELDS[(field, key, value)] = bytes(out[start:])
            _fields_size += size


# (field, key, value) -> the field's bytes, for text and flags; bounded in bytes, then
# forgotten all at once. True and "True" are other keys; numbers are never remembered
# (True == 1 == 1.0 as keys, and their encodings differ).
_FIELDS: dict[tuple[int, str, Any], bytes] = {}
_FIELDS_SIZE = 1 << 20
_FIELD_LONGEST = 16 * 1024
_fields_size = 0


def _key_value(key: Any, value: Any, depth: int) -> bytearray:
    # The key's field, worked out once per key: a batch repeats the same few keys.
    out = bytearray(_KEYS.get(key, b"") if type(key) is str else b"")
    if not out:
        text = b"" if key is None else _text(key)  # None: the field unset, as protobuf takes it
        if text:
            _bytes(out, 1, text)
            if type(key) is str and len(_KEYS) < _KEYS_MAX:
                _KEYS[key] = bytes(out)
    _message(out, 2, _value(value, depth))
    return out


_KEYS: dict[str, bytes] = {}
_KEYS_MAX = 1024


def _value(value: Any, depth: int) -> bytearray:
    # AnyValue: a oneof, so the member is written even when it holds its default.
    out = bytearray()
    if value is None:
        return out
    if isinstance(value, bool):
        out += b"\x10\x01" if value else b"\x10\x00"  # field 2
    elif isinstance(value, str):
        _bytes(out, 1, str.encode(value, "utf-8"))
    elif isinstance(value, int):
        out.append(0x18)  # field 3
        _varint(out, as_int64(value) & _UINT64)
    elif isinstance(value, float):
        out += b"\x21" + _DOUBLE.pack(value)  # field 4, double
    elif isinstance(value, bytes):
        _bytes(out, 7, value if type(value) is bytes else bytes(memoryview(value)))
    elif depth >= MAX_DEPTH:
        raise ValueError("nested too deep")
    elif isinstance(value, Sequence):
        items = bytearray()
        for item in value:
            _message(items, 1, _value(item, depth + 1))
        _message(out, 5, items)
    elif isinstance(value, Mapping):
        pairs = bytearray()
        for k, v in value.items():
            _message(pairs, 1, _key_value(str(k), v, depth + 1))
        _message(out, 6, pairs)
    else:
        raise TypeError(f"no OTLP value for {type(value).__name__}")
    return out


def _text(value: Any) -> bytes:
    """A protobuf ``string`` field's bytes (:func:`as_string`, UTF-8)."""
    return as_string(value).encode("utf-8")


def _fixed64(value: Any) -> bytes:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"a {type(value).__name__} is no time")
    number = operator.index(value)
    if not 0 <= number <= _UINT64:
        raise ValueError("a time out of the range of a fixed64")
    return _FIXED64.pack(number)


def _count_field(out: bytearray, field: int, count: int) -> None:
    """A ``uint32`` count (of dropped attributes, events, links), range-checked as protobuf."""
    if not 0 <= count <= _UINT32:
        raise ValueError("a count out of the range of a uint32")
    _varint_field(out, field, count)


def _varint(out: bytearray, number: int) -> None:
    if number < 0x80:  # tags, and most lengths
        out.append(number)
        return
    while number > 0x7F:
        out.append((number & 0x7F) | 0x80)
        number >>= 7
    out.append(number)


def _varint_field(out: bytearray, field: int, number: int) -> None:
    if number:
        _varint(out, field << 3)
        _varint(out, number & _UINT64)


def _bytes(out: bytearray, field: int, value: bytes | bytearray) -> None:
    out.append(field << 3 | 2)  # every field of ours is below 16: a one-byte tag
    size = len(value)
    if size < 0x80:
        out.append(size)
    else:
        _varint(out, size)
    out += value


def _string(out: bytearray, field: int, value: Any) -> None:
    _bytes(out, field, _text(value))


_message = _bytes
"""A message field: its encoding, length-delimited (a call less than wrapping ``_bytes``)."""
