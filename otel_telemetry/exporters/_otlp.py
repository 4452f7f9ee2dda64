"""The ``otlp`` exporter: the standard OTLP span exporters, configured by the environment.

All ``OTEL_EXPORTER_OTLP_*`` and ``OTEL_EXPORTER_OTLP_TRACES_*`` variables are read by the
standard exporters themselves; this module picks the protocol (gRPC needs the ``grpc``
extra: without it, one warning and HTTP), and for HTTP lends the exporter a ``requests``
session that reports each answer. Retrying is the outbox's job (later flushes and runs,
with the endpoint's ``Retry-After`` honoured across runs), so the session turns a failed
attempt into an answer the exporter does not retry: a crashing process then never spends
its exit budget sleeping between retries.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from otel_telemetry._log import warn_once

from ._delivery import Delivery, delivery_from_status
from ._registry import ExporterContext


class OtlpHttpSpanExporter(SpanExporter):
    """The standard OTLP/HTTP span exporter, which also tells how each send went."""

    def __init__(self) -> None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        self._session = _observing_session()
        self._exporter: Any = OTLPSpanExporter(session=self._session)
        self.last_delivery: Optional[Delivery] = None

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self._session.delivery = None
        result: SpanExportResult = self._exporter.export(spans)
        self.last_delivery = self._session.delivery or Delivery(
            ok=result is SpanExportResult.SUCCESS
        )
        return result

    def shutdown(self) -> None:
        self._exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return bool(self._exporter.force_flush(timeout_millis))


def _observing_session() -> Any:
    import requests

    class ObservingSession(requests.Session):
        delivery: Optional[Delivery] = None

        def request(self, method: Any, url: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                response = super().request(method, url, *args, **kwargs)
            except requests.RequestException as error:  # refused, unreachable, timed out
                self.delivery = Delivery(ok=False, detail=type(error).__name__)
                return _final_failure(url)
            headers = {k.lower(): v for k, v in response.headers.items()}
            self.delivery = delivery_from_status(
                response.status_code, headers, f"HTTP {response.status_code}"
            )
            return response if self.delivery.ok else _final_failure(url)

    def _final_failure(url: Any) -> Any:
        # 400 is an answer the exporter does not retry: the outbox retries, later.
        response = requests.Response()
        response.status_code = 400
        response.url = str(url)
        response._content = b""
        return response

    return ObservingSession()


def create_otlp_exporter(context: ExporterContext) -> SpanExporter:
    environ = context.environ
    protocol = (
        environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    ).strip()
    if protocol == "grpc":
        grpc_exporter = _grpc_span_exporter()
        if grpc_exporter is not None:
            return grpc_exporter
    elif protocol != "http/protobuf":
        warn_once(
            f"otlp-protocol:{protocol}",
            f"OTLP protocol {protocol!r} is not supported here; using http/protobuf.",
        )
    return OtlpHttpSpanExporter()


GRPC_EXTRA_HINT = "pip install 'otel-telemetry[grpc]'"


def _grpc_span_exporter() -> Optional[SpanExporter]:
    """The standard OTLP/gRPC exporter, or None (with one warning) without the grpc extra."""
    try:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
            OTLPSpanExporter as GrpcSpanExporter,
        )
    except ImportError:
        warn_once(
            "otlp-protocol:grpc",
            f"OTLP protocol 'grpc' needs the grpc extra ({GRPC_EXTRA_HINT}); using http/protobuf.",
        )
        return None
    exporter: SpanExporter = GrpcSpanExporter()
    return exporter
