"""Exporter names to exporters: the built-ins first, then the entry-point group."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional
from urllib.parse import urlsplit, urlunsplit

from opentelemetry.sdk.trace.export import SpanExporter

from otel_telemetry._layout import Layout
from otel_telemetry._log import warn_once

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


@dataclass(frozen=True)
class ExporterContext:
    """What an exporter factory may know about the host. No user data is here."""

    app: str
    """The host's app name (``acme``)."""
    version: str
    """The host's version as given (a str; ``unknown`` when the host gave none or a bad
    one). Not scrubbed: what an exporter sends is the span's resource (``service.version``),
    which is."""
    config_dir: Path
    """``<config dir>``: exporters that write files do so under ``telemetry/`` in it."""
    environ: Mapping[str, str] = field(default_factory=dict)
    """The process environment, for a third-party exporter's own variables. The built-in
    exporters read nothing from it: their settings are the fields below."""
    sentry_dsn: Optional[str] = None
    """The DSN in force (``<APP>_SENTRY_DSN`` or the baked-in one), if any."""
    sentry_dsn_source: Optional[str] = None
    """Where the DSN came from (``baked in`` or the variable's name), for messages."""
    packages: tuple[str, ...] = ()
    """The host's module prefixes (frames under them are ``in_app``)."""
    otlp: OtlpRoute = OtlpRoute()
    """The ``otlp`` exporter's destination, resolved; never from ``OTEL_EXPORTER_OTLP_*``."""
    environment: Optional[str] = None
    """The deployment environment in force (``<APP>_ENVIRONMENT`` or the argument), if any.
    Exporters that send it read it from the report's scrubbed resource
    (``deployment.environment.name``), not from here."""

    @property
    def reports_dir(self) -> Path:
        """``<config dir>/telemetry/reports``, where the ``file`` exporter writes."""
        return Layout(self.config_dir).reports_dir


ExporterFactory = Callable[[ExporterContext], Optional[SpanExporter]]
"""Builds an exporter for a host, or returns None when it cannot work here."""


def delivers_locally(exporter: SpanExporter) -> bool:
    """True for an exporter that only writes on this machine (a file, the console).

    Such an exporter cannot be offline, so its reports need no copy in the outbox
    first. An exporter says so with a class attribute ``delivers_locally = True``;
    every other exporter, third-party ones included, is treated as remote.
    """
    return getattr(exporter, "delivers_locally", False) is True


ENTRY_POINT_GROUP = "otel_telemetry.exporters"

BUILTIN_EXPORTERS: Mapping[str, str] = {
    "otlp": "otel_telemetry.exporters._otlp:create_otlp_exporter",
    "file": "otel_telemetry.exporters._file:create_file_exporter",
    "console": "otel_telemetry.exporters._console:create_console_exporter",
    "sentry": "otel_telemetry.exporters._sentry:create_sentry_exporter",
}


def create_exporters(names: Sequence[str], context: ExporterContext) -> dict[str, SpanExporter]:
    """Build the named exporters, by name; an unknown or failing one is warned about and skipped."""
    exporters: dict[str, SpanExporter] = {}
    for name in names:
        if name == "none":
            continue
        factory = _find_factory(name)
        if factory is None:
            warn_once(f"exporter:{name}", f"Unknown telemetry exporter {name!r}; it is ignored.")
            continue
        try:
            exporter = factory(context)
        except Exception as exc:
            warn_once(f"exporter:{name}", f"Telemetry exporter {name!r} is not available: {exc}")
            continue
        if exporter is not None:
            exporters[name] = exporter
    return exporters


def _find_factory(name: str) -> Optional[ExporterFactory]:
    target = BUILTIN_EXPORTERS.get(name)
    if target is not None:
        module, _, attribute = target.partition(":")
        factory: ExporterFactory = getattr(importlib.import_module(module), attribute)
        return factory
    from importlib.metadata import entry_points

    if sys.version_info >= (3, 10):
        candidates = list(entry_points(group=ENTRY_POINT_GROUP, name=name))
    else:  # pragma: no cover - Python 3.9
        candidates = [ep for ep in entry_points().get(ENTRY_POINT_GROUP, ()) if ep.name == name]
    if not candidates:
        return None
    loaded: ExporterFactory = candidates[0].load()
    return loaded
