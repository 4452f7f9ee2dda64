"""OTLP/JSON encoding of spans, as the OTLP specification and the Collector write it."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

_ID_FIELDS = ("traceId", "spanId", "parentSpanId")


def encode_otlp_json(spans: Sequence[ReadableSpan]) -> dict[str, Any]:
    """Return an ``ExportTraceServiceRequest`` as an OTLP/JSON document.

    The protobuf JSON mapping writes ids in base64 and enums by name; OTLP/JSON wants
    ids in lower-case hex and enums as integers, so both are converted.
    """
    from google.protobuf.json_format import MessageToDict
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    document: dict[str, Any] = MessageToDict(encode_spans(spans), use_integers_for_enums=True)
    for resource_spans in document.get("resourceSpans", ()):
        for scope_spans in resource_spans.get("scopeSpans", ()):
            for span in scope_spans.get("spans", ()):
                _hex_ids(span)
                for link in span.get("links", ()):
                    _hex_ids(link)
    return document


def _hex_ids(message: dict[str, Any]) -> None:
    for name in _ID_FIELDS:
        if name in message:
            message[name] = base64.b64decode(message[name]).hex()
