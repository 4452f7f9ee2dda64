"""The ``console`` exporter: each report as indented OTLP/JSON on stderr."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Optional, TextIO

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from ._otlp_json import encode_otlp_json
from ._registry import ExporterContext


class JsonConsoleSpanExporter(SpanExporter):
    """Writes exactly what would be sent, as OTLP/JSON, to stderr (never stdout).

    Args:
        out: the stream; ``sys.stderr`` at the time of each export when None.
    """

    delivers_locally = True
    """Written here, never offline: reports need no outbox copy first."""
    exports_batches = True
    """One ``export`` of many spans is one write, and its result stands for each."""

    def __init__(self, out: Optional[TextIO] = None) -> None:
        self._out = out

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        out = self._out or sys.stderr
        try:
            # One document per report, as a person reads them; one write for all.
            out.write(
                "".join(
                    json.dumps(encode_otlp_json((span,)), indent=2, ensure_ascii=False) + "\n"
                    for span in spans
                )
            )
            out.flush()
        except (OSError, ValueError):
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def create_console_exporter(context: ExporterContext) -> SpanExporter:
    return JsonConsoleSpanExporter()
