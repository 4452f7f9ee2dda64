"""The ``otlp`` exporter's route: where it sends, and with which headers.

Plain data, without the OpenTelemetry SDK, so that the settings can resolve it (for
``status`` too) without importing an exporter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional
from urllib.parse import urlsplit, urlunsplit

DEFAULT_OTLP_HTTP_ENDPOINT = "http://localhost:4318"
"""Where OTLP/HTTP goes when no endpoint is configured (a collector on this machine)."""
DEFAULT_OTLP_GRPC_ENDPOINT = "http://localhost:4317"
"""Where OTLP/gRPC goes when no endpoint is configured."""
TRACES_PATH = "/v1/traces"


@dataclass(frozen=True)
class OtlpRoute:
    """Where the ``otlp`` exporter sends, and with which headers: the library's own route.

    Resolved from ``Telemetry(otlp_endpoint=..., otlp_headers=..., otlp_protocol=...)``
    and the ``<APP>_OTLP_*`` variables, with the meanings and formats of OpenTelemetry's
    ``OTEL_EXPORTER_OTLP_*``. Those generic variables belong to the host application's
    own telemetry and are never read: a host's collector and its auth headers never
    receive the library's reports.
    """

    endpoint: Optional[str] = None
    """The base URL (as ``OTEL_EXPORTER_OTLP_ENDPOINT``). None with no ``problem``: a
    collector on this machine (only a route built by hand; the settings never resolve to
    it, see ``problem``)."""
    traces_endpoint: Optional[str] = None
    """The whole traces URL, used as it is (as ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``)."""
    headers: tuple[tuple[str, str], ...] = ()
    """Headers (gRPC metadata) sent with every export, names in lower case."""
    protocol: str = "http/protobuf"
    """``http/protobuf`` or ``grpc``."""
    source: str = "default"
    """Where the endpoint came from (``default``, the argument, or a variable's name), for
    messages; never a URL or a header value."""
    problem: Optional[str] = None
    """Why there is no endpoint to send to, in words that hold no URL: none was
    configured, or the one configured (named) is malformed. The ``otlp`` exporter then
    sends nothing and keeps reports in the local file instead: neither a collector on
    this machine (perhaps the host application's own) nor another configured endpoint
    receives reports meant for a mistyped one."""
    problem_warned: bool = False
    """The problem was warned about already (a bad argument, at ``Telemetry()``)."""

    def http_url(self) -> str:
        """The OTLP/HTTP URL: the traces endpoint as it is, else the base with ``/v1/traces``.

        ``/v1/traces`` goes at the end of the base's path, before its query; a base whose
        path already ends in ``/v1/traces`` is used as it is. A fragment is never sent.
        """
        if self.traces_endpoint:
            return self.traces_endpoint
        parts = urlsplit(self.endpoint or DEFAULT_OTLP_HTTP_ENDPOINT)
        path = parts.path.rstrip("/")
        if not path.endswith(TRACES_PATH):
            path = f"{path}{TRACES_PATH}"
        return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))

    def grpc_url(self) -> str:
        """The OTLP/gRPC endpoint: ``scheme://host:port`` (a path is ignored, as gRPC does)."""
        return self.traces_endpoint or self.endpoint or DEFAULT_OTLP_GRPC_ENDPOINT
