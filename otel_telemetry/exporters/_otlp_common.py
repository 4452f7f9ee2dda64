"""What our two OTLP encodings (``_otlp_json``, ``_otlp_proto``) share.

Spans grouped as an OTLP request holds them, by resource, then by instrumentation scope,
as the SDK's encoder groups them: equal resources (and scopes) together, in the order first met. A ``Resource``'s
hash encodes its attributes as JSON each time it is asked for, so each resource *object*
is hashed once here, however many spans share it (all of a batch's, as a rule).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

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
