"""Exporters: where scrubbed reports go, chosen by name (DESIGN §2).

Built in: ``sentry``, ``otlp``, ``file``, ``console`` and ``none``. A third party adds one by
registering a factory under the entry-point group :data:`ENTRY_POINT_GROUP`::

    [project.entry-points."otel_telemetry.exporters"]
    mybackend = "mypackage.telemetry:create_exporter"

where ``create_exporter(context: ExporterContext) -> SpanExporter | None``. Exporters are
plain OpenTelemetry span exporters and only ever receive consented, scrubbed spans.
"""

from ._console import JsonConsoleSpanExporter
from ._delivery import Delivery
from ._file import FileSpanExporter
from ._otlp_json import encode_otlp_json
from ._registry import (
    BUILTIN_EXPORTERS,
    ENTRY_POINT_GROUP,
    ExporterContext,
    ExporterFactory,
    create_exporters,
)
from ._sentry import SentrySpanExporter

__all__ = [
    "BUILTIN_EXPORTERS",
    "ENTRY_POINT_GROUP",
    "Delivery",
    "ExporterContext",
    "ExporterFactory",
    "FileSpanExporter",
    "JsonConsoleSpanExporter",
    "SentrySpanExporter",
    "create_exporters",
    "encode_otlp_json",
]
