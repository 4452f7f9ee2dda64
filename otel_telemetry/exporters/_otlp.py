"""The ``otlp`` exporter: OTLP over HTTP (protobuf) or gRPC, configured by the environment.

The standard ``OTEL_EXPORTER_OTLP_*`` and ``OTEL_EXPORTER_OTLP_TRACES_*`` variables
(endpoint, headers, timeout, compression, certificates, protocol) are honoured. gRPC
needs the ``grpc`` extra: without it, one warning and HTTP.

OTLP/HTTP is sent by our own small client (``_http``), with the standard OTLP protobuf
encoding: it reads no ``~/.netrc`` and no proxy variable (the user's credentials never
reach a collector or a proxy), logs nothing into loggers a host captures, and reads no
answer body. gRPC is sent on a channel with proxies switched off, once per export: the
standard exporter's retries and error logs are not used. Retrying is the outbox's job
(later flushes and runs, with the endpoint's ``Retry-After`` honoured across runs), so
a crashing process never spends its exit budget sleeping between retries.
"""

from __future__ import annotations

import gzip
from collections.abc import Mapping, Sequence
from typing import Any, Optional
from urllib.parse import urlsplit

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from otel_telemetry._log import warn_once
from otel_telemetry._version import __version__

from ._delivery import Delivery
from ._http import delivery_of_post, tls_from_files
from ._registry import ExporterContext

DEFAULT_HTTP_ENDPOINT = "http://localhost:4318"
DEFAULT_TIMEOUT = 10.0


def _setting(environ: Mapping[str, str], name: str) -> Optional[str]:
    """``OTEL_EXPORTER_OTLP_TRACES_<name>``, else ``OTEL_EXPORTER_OTLP_<name>``, else None."""
    value = environ.get(f"OTEL_EXPORTER_OTLP_TRACES_{name}") or environ.get(
        f"OTEL_EXPORTER_OTLP_{name}"
    )
    return value.strip() if value and value.strip() else None


def _timeout(environ: Mapping[str, str]) -> float:
    try:
        timeout = float(_setting(environ, "TIMEOUT") or DEFAULT_TIMEOUT)
    except ValueError:
        return DEFAULT_TIMEOUT
    return timeout if 0 < timeout < 3600 else DEFAULT_TIMEOUT


def _headers(environ: Mapping[str, str]) -> dict[str, str]:
    from opentelemetry.util.re import parse_env_headers

    return dict(parse_env_headers(_setting(environ, "HEADERS") or "", liberal=True))


def unreachable_warning(name: str, url: str, delivery: Delivery) -> None:
    """One warning per run that exporter ``name`` could not deliver; the URL without its secrets."""
    parts = urlsplit(url)
    where = f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    warn_once(
        f"undelivered:{name}",
        f"Telemetry exporter {name!r} could not deliver to {where} ({delivery.detail});"
        " reports wait on disk and are sent later.",
    )


class OtlpHttpSpanExporter(SpanExporter):
    """OTLP/HTTP (protobuf) to the configured endpoint; tells how each send went.

    Args:
        environ: the environment to read the ``OTEL_EXPORTER_OTLP_*`` settings from; the
            process's own when not given.
    """

    def __init__(self, environ: Optional[Mapping[str, str]] = None) -> None:
        if environ is None:
            import os

            environ = os.environ
        traces = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
        base = environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip() or DEFAULT_HTTP_ENDPOINT
        # The signal's own variable is the whole URL; the generic one gets /v1/traces.
        self.endpoint = traces or f"{base.rstrip('/')}/v1/traces"
        self.timeout = _timeout(environ)
        self.gzip = (_setting(environ, "COMPRESSION") or "none").lower() == "gzip"
        self._headers = {
            **_headers(environ),
            "Content-Type": "application/x-protobuf",
            "User-Agent": f"otel_telemetry/{__version__}",
        }
        if self.gzip:
            self._headers["Content-Encoding"] = "gzip"
        self._tls_files = (
            _setting(environ, "CERTIFICATE"),
            _setting(environ, "CLIENT_CERTIFICATE"),
            _setting(environ, "CLIENT_KEY"),
        )
        # Imported here, while the pipeline is built (with the host's warnings filters
        # kept), not at the first export on the sending thread.
        from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

        self._encode = encode_spans
        self._shutdown = False
        self.last_delivery: Optional[Delivery] = None

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Send ``spans`` in one request; SUCCESS only when the endpoint answered 2xx."""
        if self._shutdown:
            return SpanExportResult.FAILURE
        body: bytes = self._encode(spans).SerializeToString()
        if self.gzip:
            body = gzip.compress(body)
        try:
            tls = tls_from_files(*self._tls_files)
        except (OSError, ValueError) as error:
            self.last_delivery = Delivery(ok=False, fatal=True, detail=type(error).__name__)
            return SpanExportResult.FAILURE
        self.last_delivery, _ = delivery_of_post(
            self.endpoint, body, self._headers, timeout=self.timeout, tls=tls
        )
        if not self.last_delivery.ok:
            unreachable_warning("otlp", self.endpoint, self.last_delivery)
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self._shutdown = True

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True  # each export is sent at once


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
    return OtlpHttpSpanExporter(environ)


GRPC_EXTRA_HINT = "pip install 'otel-telemetry[grpc]'"

#: gRPC reads ``http_proxy``/``https_proxy``/``grpc_proxy`` (and the credentials in them)
#: unless told not to. The value must be an int: C-core ignores a string there.
GRPC_CHANNEL_OPTIONS: Any = (("grpc.enable_http_proxy", 0),)


def _grpc_span_exporter() -> Optional[SpanExporter]:
    """The OTLP/gRPC exporter, or None (with one warning) without the grpc extra."""
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

    class OtlpGrpcSpanExporter(GrpcSpanExporter):
        """The standard exporter's settings and channel (proxies off), one quiet attempt per export.

        The standard ``export`` retries for up to its timeout and logs each failure at
        WARNING or ERROR on the ``opentelemetry`` loggers, which a host's logging or Sentry
        captures: here a failure is one ``Delivery``, and one warning of ours per run.
        """

        def __init__(self) -> None:
            super().__init__(channel_options=GRPC_CHANNEL_OPTIONS)
            self.last_delivery: Optional[Delivery] = None

        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            self.last_delivery = self._send_once(spans)
            if not self.last_delivery.ok:
                unreachable_warning("otlp", f"grpc://{self._endpoint}", self.last_delivery)
                return SpanExportResult.FAILURE
            return SpanExportResult.SUCCESS

        def _send_once(self, spans: Sequence[ReadableSpan]) -> Delivery:
            import grpc

            client: Any = self._client  # the standard exporter's stub, on our channel
            try:
                # The standard exporter's request, metadata and timeout; no retry loop.
                client.Export(
                    request=self._translate_data(spans),
                    metadata=self._headers,
                    timeout=self._timeout,
                )
            except grpc.RpcError as error:
                code = error.code() if callable(getattr(error, "code", None)) else None
                if code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
                    return Delivery(ok=False, fatal=True, detail=code.name)
                if code is grpc.StatusCode.RESOURCE_EXHAUSTED:
                    return Delivery(ok=False, retry_after=60.0, detail=code.name)
                return Delivery(ok=False, detail=code.name if code is not None else "RpcError")
            except Exception as error:  # a closed channel, an encoding failure
                return Delivery(ok=False, detail=type(error).__name__)
            return Delivery(ok=True)

    exporter: SpanExporter = OtlpGrpcSpanExporter()
    return exporter
