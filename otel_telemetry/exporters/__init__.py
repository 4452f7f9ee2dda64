"""Exporters: where scrubbed reports go, chosen by name.

Built in: ``sentry``, ``otlp``, ``file``, ``console`` and ``none``. A third party adds one by
registering a factory under the entry-point group :data:`ENTRY_POINT_GROUP`::

    [project.entry-points."otel_telemetry.exporters"]
    mybackend = "mypackage.telemetry:create_exporter"

where ``create_exporter(context: ExporterContext) -> SpanExporter | None``. Exporters are
plain OpenTelemetry span exporters and only ever receive consented, scrubbed spans. An
exporter that writes only on this machine sets ``delivers_locally = True``; every
other one gets a copy of each report in the outbox first, until it confirms delivery.

Each name below is imported on first use: importing this package loads no exporter,
no OpenTelemetry SDK and no Sentry.
"""

from __future__ import annotations

from otel_telemetry._lazy import lazy_exports

from ._delivery import Delivery

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ._console import JsonConsoleSpanExporter
    from ._file import FileSpanExporter
    from ._otlp_json import encode_otlp_json
    from ._registry import (
        BUILTIN_EXPORTERS,
        ENTRY_POINT_GROUP,
        ExporterContext,
        ExporterFactory,
        create_exporters,
        delivers_locally,
    )
    from ._route import OtlpRoute
    from ._sentry import SentrySpanExporter

__all__ = [
    "BUILTIN_EXPORTERS",
    "ENTRY_POINT_GROUP",
    "Delivery",
    "ExporterContext",
    "ExporterFactory",
    "FileSpanExporter",
    "JsonConsoleSpanExporter",
    "OtlpRoute",
    "SentrySpanExporter",
    "create_exporters",
    "delivers_locally",
    "encode_otlp_json",
]

__getattr__ = lazy_exports(
    __name__,
    {
        "BUILTIN_EXPORTERS": "._registry",
        "ENTRY_POINT_GROUP": "._registry",
        "ExporterContext": "._registry",
        "ExporterFactory": "._registry",
        "OtlpRoute": "._route",
        "create_exporters": "._registry",
        "delivers_locally": "._registry",
        "FileSpanExporter": "._file",
        "JsonConsoleSpanExporter": "._console",
        "SentrySpanExporter": "._sentry",
        "encode_otlp_json": "._otlp_json",
    },
)


def __dir__() -> list[str]:
    return sorted(__all__)
