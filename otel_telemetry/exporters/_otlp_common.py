"""What our two OTLP encodings (``_otlp_json``, ``_otlp_proto``) share.

Spans grouped as an OTLP request holds them, by resource, then by instrumentation scope,
as the SDK's encoder groups them: equal resources (and scopes) together, in the order
first met. A ``Resource``'s hash encodes its attributes as JSON each time it is asked
for, so each resource *object* is hashed once here, however many spans share it (all of
a batch's, as a rule).

And values read as protobuf reads them, not through methods a subclass may override.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any, Optional

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

MAX_DEPTH = 32
"""The deepest nesting of arrays and maps in an attribute's value that is encoded: a
protobuf decoder refuses a message nested 100 deep, and each level of a value is two
messages (``AnyValue``, then ``ArrayValue`` or ``KeyValueList``) under the six of a request."""

Groups = dict[Resource, dict[Optional[InstrumentationScope], list[ReadableSpan]]]


def group_spans(spans: Sequence[ReadableSpan]) -> Groups:
    """``{resource: {scope or None: [span, ...]}}``, each in the order first met."""
    grouped: Groups = {}
    by_object: dict[int, dict[Optional[InstrumentationScope], list[ReadableSpan]]] = {}
    for span in spans:
        resource = span.resource
        scopes = by_object.get(id(resource))  # the spans hold each resource alive meanwhile
        if scopes is None:
            scopes = by_object[id(resource)] = grouped.setdefault(resource, {})
        scopes.setdefault(span.instrumentation_scope or None, []).append(span)
    return grouped


def as_string(value: Any) -> str:
    """What a protobuf ``string`` field makes of ``value``: text, or bytes that are UTF-8.

    A ``str`` subclass gives its text (never its own ``__str__``).

    Raises:
        TypeError: neither text nor bytes.
        UnicodeDecodeError: bytes that are not UTF-8.
    """
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, bytes):
        return bytes(memoryview(value)).decode("utf-8")
    raise TypeError(f"a {type(value).__name__} is no protobuf string")


def as_int64(value: Any) -> int:
    """What a protobuf ``int64`` field makes of ``value``, as an exact int.

    Read through ``__index__`` as protobuf reads it (never ``__int__``); exact, since
    3.9's ``operator.index`` of an IntEnum is the member, whose str() is its name.

    Raises:
        ValueError: out of the range of an int64.
    """
    number = int.__index__(operator.index(value))
    if not INT64_MIN <= number <= INT64_MAX:
        raise ValueError("out of the range of an int64")
    return number
