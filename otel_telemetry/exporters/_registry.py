"""Exporter names to exporters: the built-ins first, then the entry-point group."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from opentelemetry.sdk.trace.export import SpanExporter

from otel_telemetry._layout import Layout
from otel_telemetry._log import warn_once

from ._route import OtlpRoute


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
    otlp: OtlpRoute = field(default_factory=OtlpRoute)
    """The ``otlp`` exporter's destination, resolved; never from ``OTEL_EXPORTER_OTLP_*``."""
    environment: Optional[str] = None
    """The deployment environment in force (``<APP>_ENVIRONMENT`` or the argument), if any.
    Exporters that send it read it from the report's scrubbed resource
    (``deployment.environment.name``), not from here."""
    posthog_key: Optional[str] = None
    """The ``posthog`` exporter's project key in force (``<APP>_POSTHOG_KEY`` or the
    baked-in one); None when there is none, or no usable host: then nothing is sent."""
    posthog_key_source: Optional[str] = None
    """Where the key came from (``baked in`` or the variable's name), for messages;
    never the key."""
    posthog_host: Optional[str] = None
    """The PostHog host to send to (``<APP>_POSTHOG_HOST``, the argument, else
    ``https://us.i.posthog.com``); None when the one given is not a usable URL (fail
    closed: never another host in its place)."""

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
    "posthog": "otel_telemetry.exporters._posthog:create_posthog_exporter",
}


def create_exporters(names: Sequence[str], context: ExporterContext) -> dict[str, SpanExporter]:
    """Build the named exporters, by name; an unknown or failing one is warned about and skipped."""
    exporters: dict[str, SpanExporter] = {}
    for name in names:
        if name == "none":
            continue
        factory = find_factory(name)
        if factory is None:
            warn_once(f"exporter:{name}", f"Unknown telemetry exporter {name!r}; it is ignored.")
            continue
        try:
            exporter = factory(context)
        except Exception as exc:
            warn_once(f"exporter:{name}", f"Telemetry exporter {name!r} is not available: {exc}")
            continue
        if exporter is not None and not _writes_like_one_of(exporter, exporters.values()):
            exporters[name] = exporter
    return exporters


def _writes_like_one_of(exporter: SpanExporter, others: Iterable[SpanExporter]) -> bool:
    """The same local writer as one already built: it would store each report twice.

    ``sentry,file`` without a DSN: the ``sentry`` exporter stands in with the file one.
    """
    directory = getattr(exporter, "directory", None)
    return directory is not None and any(
        type(other) is type(exporter) and getattr(other, "directory", None) == directory
        for other in others
    )


def find_factory(name: str) -> Optional[ExporterFactory]:
    """The factory of a built-in or entry-point exporter; None when there is none."""
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
