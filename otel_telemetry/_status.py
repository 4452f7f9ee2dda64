"""What ``status()`` returns and ``<app> telemetry status`` prints."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from ._settings import Settings
    from .consent._consent import Consent
    from .consent._types import Mode
    from .pipeline._pipeline import Pipeline


@dataclass(frozen=True)
class TelemetryStatus:
    """Whether reports are sent, what decided it, and where they go."""

    app: str
    """The host's app name."""
    enabled: Optional[bool]
    """True: reports are sent. False: nothing is sent. None: the user is asked first."""
    decided_by: str
    """The consent rule that decided: a variable, ``config``, ``session`` or ``mode:*``."""
    mode: Mode
    """``server``, ``interactive``, ``notebook`` or ``non-interactive``."""
    exporters: tuple[str, ...]
    """The exporter names in force."""
    config_file: Path
    """Where the choice is saved."""
    email: Optional[str]
    """The address the user gave, sent only with crash reports."""
    sentry_dsn_source: Optional[str]
    """``baked in``, the ``<APP>_SENTRY_DSN`` variable's name, or None; never the DSN."""
    dropped: int = 0
    """Reports dropped in this process: no consent, a full queue, a failed scrub, or the
    oldest ones when the outbox was full."""
    waiting: int = 0
    """Reports in the outbox, waiting for an exporter to confirm them."""
    otlp_endpoint: Optional[str] = None
    """With the ``otlp`` exporter in force: where it sends, ``scheme://host[:port]`` only
    (no path, query or user info); None otherwise."""
    otlp_endpoint_source: Optional[str] = None
    """Where that endpoint came from: ``argument otlp_endpoint`` or the variable's name
    (``<APP>_OTLP_ENDPOINT``), ``not set`` when there is none; never a header value."""
    otlp_problem: Optional[str] = None
    """With the ``otlp`` exporter in force but no usable endpoint (none set, or a malformed
    one, named): why; it then sends nothing and the local file keeps the reports."""

    def __str__(self) -> str:
        state = {True: "enabled", False: "disabled", None: "ask at the first crash"}[self.enabled]
        dsn = f"DSN {self.sentry_dsn_source}" if self.sentry_dsn_source else "no DSN"
        lines = [
            f"Telemetry for {self.app}: {state} (decided by {self.decided_by})",
            f"  mode:      {self.mode}",
            f"  exporters: {', '.join(self.exporters) or 'none'}",
            f"  config:    {self.config_file}",
            f"  email:     {self.email or '-'}",
            f"  sentry:    {dsn}",
        ]
        if self.otlp_endpoint:
            lines.append(f"  otlp:      {self.otlp_endpoint} ({self.otlp_endpoint_source})")
        elif self.otlp_problem:
            lines.append(f"  otlp:      nothing sent, {self.otlp_problem}; kept in the local file")
        lines.append(f"  waiting:   {self.waiting} report(s) in the outbox; {self.dropped} dropped")
        return "\n".join(lines)


def current_status(settings: Settings, consent: Consent, pipeline: Pipeline) -> TelemetryStatus:
    """The status of one host now: the live decision, settings and pipeline counts."""
    decision = consent.decide()
    exporters = settings.exporter_names()
    otlp, otlp_source, otlp_problem = (
        settings.otlp_destination() if "otlp" in exporters else (None, None, None)
    )
    return TelemetryStatus(
        app=settings.app,
        enabled={"granted": True, "denied": False, "ask": None}[decision.state],
        decided_by=decision.source,
        mode=settings.mode(),
        exporters=exporters,
        config_file=consent.store.path,
        email=decision.email,
        sentry_dsn_source=settings.sentry_dsn()[1],
        dropped=pipeline.dropped,
        waiting=pipeline.waiting(),
        otlp_endpoint=otlp,
        otlp_endpoint_source=otlp_source,
        otlp_problem=otlp_problem,
    )
