"""The ``otlp`` exporter: the standard OTLP span exporters, configured by the environment.

All ``OTEL_EXPORTER_OTLP_*`` and ``OTEL_EXPORTER_OTLP_TRACES_*`` variables are read by the
standard exporters themselves; this module only picks the protocol.
"""

from __future__ import annotations

from opentelemetry.sdk.trace.export import SpanExporter

from otel_telemetry._log import warn_once

from ._registry import ExporterContext


def create_otlp_exporter(context: ExporterContext) -> SpanExporter:
    environ = context.environ
    protocol = (
        environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    ).strip()
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
            OTLPSpanExporter as GrpcSpanExporter,
        )

        return GrpcSpanExporter()
    if protocol != "http/protobuf":
        warn_once(
            f"otlp-protocol:{protocol}",
            f"OTLP protocol {protocol!r} is not supported here; using http/protobuf.",
        )
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()
