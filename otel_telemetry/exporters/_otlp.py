"""The ``otlp`` exporter: OTLP over HTTP (protobuf) or gRPC, on the library's own route.

Its destination is an :class:`OtlpRoute`, resolved from ``Telemetry(otlp_endpoint=...,
otlp_headers=..., otlp_protocol=...)`` and the ``<APP>_OTLP_*`` variables. The generic
``OTEL_EXPORTER_OTLP_*`` variables (endpoint, headers, certificates, timeout,
compression, protocol) belong to the host application's own OpenTelemetry set-up and
are never read, here or by a library we call: a host that sends its traces to its
collector, with its auth headers, never sends the library's reports there too.

OTLP/HTTP is sent by our own small client (``_http``), with the standard OTLP protobuf
encoding: it reads no ``~/.netrc`` and no proxy variable (the user's credentials never
reach a collector or a proxy), logs nothing into loggers a host captures, and reads no
answer body. OTLP/gRPC (the ``grpc`` extra) is sent by our own small client too: a
gRPC channel built here with proxies off and the standard protobuf stub, so that the
OpenTelemetry SDK's gRPC exporter, which reads ``OTEL_EXPORTER_OTLP_*`` in its
constructor, is never built. One attempt per export: retrying is the outbox's job
(later flushes and runs, with the endpoint's ``Retry-After`` honoured across runs), so
a crashing process never spends its exit budget sleeping between retries.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, Callable, Optional
from urllib.parse import urlsplit

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from otel_telemetry._log import warn_once
from otel_telemetry._version import __version__

from ._delivery import Delivery, record_delivery_id, span_delivery_id
from ._file import FileSpanExporter
from ._http import delivery_of_post
from ._otlp_proto import NotPlain, encode_otlp_proto, encode_otlp_proto_records
from ._registry import ExporterContext
from ._route import OtlpRoute

DEFAULT_TIMEOUT = 10.0
"""Seconds each socket operation (HTTP) or each call (gRPC) of one export may take."""

#: Headers our transport sets itself; a configured header of the same name is left out.
_OWN_HEADERS = frozenset({"content-type", "content-length", "content-encoding", "host"})


def unreachable_warning(name: str, url: str, delivery: Delivery) -> None:
    """One warning per run that exporter ``name`` could not deliver; the URL without its secrets."""
    parts = urlsplit(url)
    where = f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    warn_once(
        f"undelivered:{name}",
        f"Telemetry exporter {name!r} could not deliver to {where} ({delivery.detail});"
        " reports wait on disk and are sent later.",
    )


class _SentAtOnce(SpanExporter):
    """An OTLP exporter whose every export is one send, made at once.

    Subclasses say how to send (:meth:`_send`) and where, for the warning (``where``,
    ``scheme://host:port`` at most: never a secret).
    """

    where: str
    exports_batches = True
    """Many spans are one request, confirmed (or not) as a whole."""

    def __init__(self) -> None:
        self._shutdown = False
        self.last_delivery: Optional[Delivery] = None

    def _send(self, body: bytes) -> Delivery:
        """Send one encoded ``ExportTraceServiceRequest``."""
        raise NotImplementedError

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Send ``spans`` at once; SUCCESS only when the endpoint confirmed them."""
        # One report per export (the sending processor's): the collector knows it by its ids.
        ids = span_delivery_id(spans[0]) if len(spans) == 1 else None
        return self._export(lambda: encode_otlp_proto(spans), ids)

    def export_records(
        self,
        records: Sequence[Mapping[str, Any]],
        spans: Callable[[], Sequence[ReadableSpan]],
    ) -> SpanExportResult:
        """:meth:`export` of the spans ``records`` hold, encoded from the records.

        The sending processor's way: what it stored is sent without a span made back
        from each record. ``spans()`` makes them for records the direct encoding leaves
        to them (none of ours).
        """
        ids = record_delivery_id(records[0]) if len(records) == 1 else None

        def body() -> bytes:
            try:
                return encode_otlp_proto_records(records)
            except NotPlain:
                return encode_otlp_proto(spans())

        return self._export(body, ids)

    def _export(self, body: Callable[[], bytes], ids: Optional[str]) -> SpanExportResult:
        if self._shutdown:
            return SpanExportResult.FAILURE
        try:
            encoded = body()
        except Exception as error:  # a span of a field protobuf refuses (not one of ours)
            delivery = Delivery(ok=False, detail=type(error).__name__)
        else:
            delivery = self._send(encoded)
        self.last_delivery = replace(delivery, id=ids)
        if not self.last_delivery.ok:
            unreachable_warning("otlp", self.where, self.last_delivery)
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self._shutdown = True

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True  # each export is sent at once


class OtlpHttpSpanExporter(_SentAtOnce):
    """OTLP/HTTP (protobuf) to the route's endpoint; tells how each send went.

    Args:
        route: where to send and with which headers; a collector on this machine
            (``http://localhost:4318/v1/traces``) when not given.
        timeout: seconds each socket operation of a send may take.
    """

    def __init__(
        self, route: Optional[OtlpRoute] = None, *, timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        super().__init__()
        route = route or OtlpRoute()
        self.endpoint = self.where = route.http_url()
        self.timeout = timeout
        self._headers = {
            **{k: v for k, v in route.headers if k.lower() not in _OWN_HEADERS},
            "Content-Type": "application/x-protobuf",
        }
        self._headers.setdefault("user-agent", f"otel_telemetry/{__version__}")

    def _send(self, body: bytes) -> Delivery:
        """One request; delivered only when the endpoint answered 2xx."""
        delivery, _ = delivery_of_post(self.endpoint, body, self._headers, timeout=self.timeout)
        return delivery


def create_otlp_exporter(context: ExporterContext) -> SpanExporter:
    """The ``otlp`` exporter of the context's route: gRPC when asked and installed, else HTTP.

    A route without a usable endpoint (none configured, or a malformed one) sends
    nothing: one warning naming what is missing or malformed (never a URL), and the
    ``file`` exporter keeps the reports instead, as ``sentry`` does without a DSN.
    """
    route = context.otlp
    if route.problem is not None:
        # Fail closed: never a default collector on this machine (it may be the host
        # application's own) nor another endpoint in place of a mistyped one.
        reports = context.reports_dir
        if not route.problem_warned:
            warn_once(
                f"otlp:{route.problem}",
                f"The 'otlp' telemetry exporter sends nothing: {route.problem}; reports are"
                f" kept in {reports} instead.",
            )
        return FileSpanExporter(reports)
    if route.protocol == "grpc":
        grpc_exporter = _grpc_span_exporter(route)
        if grpc_exporter is not None:
            return grpc_exporter
    elif route.protocol != "http/protobuf":
        warn_once(
            f"otlp-protocol:{route.protocol}",
            f"OTLP protocol {route.protocol!r} is not supported here; using http/protobuf.",
        )
    return OtlpHttpSpanExporter(route)


GRPC_EXTRA_HINT = "pip install 'otel-telemetry[grpc]'"

#: The OTLP trace service's one method (opentelemetry-proto's ``trace_service.proto``).
_EXPORT_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"

#: gRPC reads ``http_proxy``/``https_proxy``/``grpc_proxy`` (and the credentials in them)
#: unless told not to. The value must be an int: C-core ignores a string there.
GRPC_CHANNEL_OPTIONS: Any = (
    ("grpc.enable_http_proxy", 0),
    ("grpc.primary_user_agent", f"otel_telemetry/{__version__}"),
)


def _grpc_span_exporter(route: OtlpRoute) -> Optional[SpanExporter]:
    """Our OTLP/gRPC exporter, or None (with one warning) without the grpc extra."""
    try:
        import grpc  # noqa: F401 - the extra's C library
    except ImportError:
        warn_once(
            "otlp-protocol:grpc",
            f"OTLP protocol 'grpc' needs the grpc extra ({GRPC_EXTRA_HINT}); using http/protobuf.",
        )
        return None
    return OtlpGrpcSpanExporter(route)


class OtlpGrpcSpanExporter(_SentAtOnce):
    """OTLP/gRPC to the route's endpoint, one quiet attempt per export.

    Built from the route alone, on a channel of ours: every setting is explicit, so no
    ``OTEL_EXPORTER_OTLP_*`` value can reach it (the SDK's own gRPC exporter reads them in
    its constructor, hence it is not used). Proxies are off. ``https`` endpoints use
    TLS with the default roots; ``http`` ones a plaintext channel. A failure is one
    :class:`Delivery` and one warning of ours per run, never a log record on the
    ``opentelemetry`` or ``grpc`` loggers that a host's logging or Sentry captures.

    Args:
        route: where to send and with which metadata.
        timeout: seconds each export may take.
    """

    def __init__(self, route: OtlpRoute, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        import grpc

        super().__init__()
        url = route.grpc_url()
        parts = urlsplit(url if "://" in url else f"http://{url}")
        self.endpoint = url
        self.target = parts.netloc.rpartition("@")[2]
        self.secure = parts.scheme == "https"
        self.timeout = timeout
        self.metadata = tuple((k.lower(), v) for k, v in route.headers)
        if self.secure:
            self._channel = grpc.secure_channel(
                self.target, grpc.ssl_channel_credentials(), options=GRPC_CHANNEL_OPTIONS
            )
        else:
            self._channel = grpc.insecure_channel(self.target, options=GRPC_CHANNEL_OPTIONS)
        # The request is our own encoding's bytes and the answer is never read: no
        # serializer either way (gRPC then sends and hands back bytes as they are).
        self._call: Any = self._channel.unary_unary(_EXPORT_METHOD)
        self.where = f"{'https' if self.secure else 'http'}://{self.target}"

    def _send(self, body: bytes) -> Delivery:
        """One call; delivered only when the endpoint answered OK."""
        import grpc

        try:
            self._call(body, metadata=self.metadata, timeout=self.timeout)
        except grpc.RpcError as error:
            code = error.code() if callable(getattr(error, "code", None)) else None
            if code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
                return Delivery(ok=False, fatal=True, detail=code.name)
            if code is grpc.StatusCode.RESOURCE_EXHAUSTED:
                return Delivery(ok=False, retry_after=60.0, detail=code.name)
            return Delivery(ok=False, detail=code.name if code is not None else "RpcError")
        except Exception as error:  # a closed channel, bad metadata
            return Delivery(ok=False, detail=type(error).__name__)
        return Delivery(ok=True)

    def shutdown(self) -> None:
        if not self._shutdown:
            super().shutdown()
            try:
                self._channel.close()
            except Exception:  # already closed, or the interpreter is ending
                pass
