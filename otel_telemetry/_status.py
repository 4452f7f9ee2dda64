"""What ``status()`` returns and ``<app> telemetry status`` prints."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from ._settings import Settings
    from .consent._consent import Consent
    from .consent._types import Level, Mode
    from .pipeline._pipeline import Pipeline


@dataclass(frozen=True)
class TelemetryStatus:
    """Whether reports are sent, what decided it, and where they go."""

    app: str
    """The host's app name."""
    enabled: Optional[bool]
    """True: reports are sent. False: nothing is sent (off, or ``local``: recorded on this
    machine only). None: the user is asked first."""
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
    oldest ones when the outbox was full (the sum of ``drops``). Of this process only:
    ``<app> telemetry status``, a process of its own, always shows 0. A report refused by
    a variable (``<APP>_TELEMETRY=0``, ``DO_NOT_TRACK``) is never captured, so it is not
    counted either."""
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
    level: Level = "crash"
    """What is collected: ``off``, ``crash`` (crash reports), ``all`` (and usage events)
    or ``local`` (everything recorded on this machine, never uploaded); ``crash`` while
    the user is asked."""
    policy_version: int = 1
    """The host's version of what it collects: a yes given for an older one is asked again."""
    outdated_policy: Optional[int] = None
    """The ``policy_version`` of a saved yes that no longer counts (the host raised it
    since): the user is asked again; None when there is none."""
    held: int = 0
    """Reports held in this process while the user is asked (0 in another process)."""
    sent: int = 0
    """Reports in the record of what was sent from this machine (the newest 100 at most)."""
    drops: dict[str, int] = field(default_factory=dict, hash=False)
    """``dropped`` by reason: ``no consent``, ``usage events off``, ``queue full``,
    ``scrubbing failed``, ``outbox full``, ``failed checks``."""
    reports_dir: Optional[Path] = None
    """Where the ``file`` exporter keeps reports: in ``local`` mode, every report."""
    posthog_key_source: Optional[str] = None
    """With the ``posthog`` exporter in force: where its key came from (``baked in`` or
    ``<APP>_POSTHOG_KEY``), None when there is none; never the key."""
    posthog_host: Optional[str] = None
    """With the ``posthog`` exporter in force: where it sends, ``scheme://host[:port]``
    only; None otherwise, or when the host given is not a usable URL."""

    def __str__(self) -> str:
        # Every string may come from config.json, a variable or an argument: escaped, so
        # that status never prints a terminal escape sequence.
        exporters = ", ".join(printable(name) for name in self.exporters) or "none"
        if self._local:
            exporters = f"file (local mode; configured: {exporters})"
        lines = [
            f"Telemetry for {printable(self.app)}: {self._state()}"
            f" (decided by {printable(self.decided_by)})",
            f"  mode:      {printable(self.mode)}",
            f"  exporters: {exporters}",
            f"  config:    {printable(str(self.config_file))}",
            f"  email:     {printable(self.email) if self.email else '-'}",
        ]
        if not self._local:  # local mode uploads nothing: no destination to name
            source = self.sentry_dsn_source
            lines.append(f"  sentry:    {f'DSN {printable(source)}' if source else 'no DSN'}")
            if self.otlp_endpoint:
                lines.append(
                    f"  otlp:      {printable(self.otlp_endpoint)}"
                    f" ({printable(str(self.otlp_endpoint_source))})"
                )
            elif self.otlp_problem:
                lines.append(
                    f"  otlp:      nothing sent, {printable(self.otlp_problem)};"
                    " kept in the local file"
                )
            if "posthog" in self.exporters:
                lines.append(f"  posthog:   {self._posthog()}")
        reasons = ", ".join(
            f"{count} {printable(reason)}" for reason, count in self.drops.items() if count
        )
        dropped = f"dropped {self.dropped}" + (f" ({reasons})" if reasons else "")
        lines.append(
            f"  reports:   waiting {self.waiting}, sent {self.sent};"
            f" in this process: held {self.held}, {dropped}"
        )
        lines.append(f"  policy:    version {self.policy_version}{self._outdated()}")
        return "\n".join(lines)

    def _posthog(self) -> str:
        """Where the ``posthog`` exporter sends and where its key came from, never the key."""
        if self.posthog_host is None:
            return "nothing sent, the host given is not an http(s) URL; kept in the local file"
        if self.posthog_key_source is None:
            return "nothing sent, no key is set; kept in the local file"
        source = printable(self.posthog_key_source)
        key = "key baked in" if source == "baked in" else f"key from {source}"
        return f"{key}, host {printable(self.posthog_host)}"

    def _outdated(self) -> str:
        """What happens to a saved yes given for an older policy version, if there is one."""
        if self.outdated_policy is None:
            return ""
        then = {
            "server": "the server default applies, after its notice",
            "non-interactive": "nothing is sent until you say yes again",
        }.get(self.mode, "you will be asked again")
        return f" (your saved yes was for version {self.outdated_policy}: {then})"

    @property
    def _local(self) -> bool:
        return self.enabled is False and self.level == "local"

    def _state(self) -> str:
        """The first line's verdict: what happens to a report now."""
        if self.enabled is None:
            return "ask at the first crash"
        if self._local:
            where = f" in {printable(str(self.reports_dir))}" if self.reports_dir else ""
            return f"local: recorded on this machine{where}, never uploaded"
        if not self.enabled:
            return "off"
        if self.level == "all":
            return "crash reports and usage events sent"
        return "crash reports sent"


def current_status(settings: Settings, consent: Consent, pipeline: Pipeline) -> TelemetryStatus:
    """The status of one host now: the live decision, settings and pipeline counts."""
    from .pipeline._sent import SentLog

    decision = consent.decide()
    layout = settings.layout()
    exporters = settings.exporter_names()
    otlp, otlp_source, otlp_problem = (
        settings.otlp_destination() if "otlp" in exporters else (None, None, None)
    )
    posthog_source, posthog_host = (
        settings.posthog_destination() if "posthog" in exporters else (None, None)
    )
    drops = pipeline.drops()
    enabled = (
        None if decision.state == "ask" else decision.state == "granted" and not decision.local
    )
    return TelemetryStatus(
        app=settings.app,
        enabled=enabled,
        decided_by=decision.source,
        mode=settings.mode(),
        exporters=exporters,
        config_file=consent.store.path,
        email=decision.email,
        sentry_dsn_source=settings.sentry_dsn()[1],
        dropped=sum(drops.values()),
        waiting=pipeline.waiting(),
        otlp_endpoint=otlp,
        otlp_endpoint_source=otlp_source,
        otlp_problem=otlp_problem,
        level=decision.level,
        policy_version=settings.policy_version,
        outdated_policy=decision.outdated_policy,
        held=pipeline.held(),
        sent=SentLog(layout.sent_dir).count(),
        drops=drops,
        reports_dir=layout.reports_dir,
        posthog_key_source=posthog_source,
        posthog_host=posthog_host,
    )


def printable(text: str) -> str:
    r"""``text`` as one line that cannot drive a terminal.

    Every character Python does not call printable (controls, format and bidi
    characters, line and paragraph separators, surrogates) is written as its escape
    (``\x1b``, ``\u202e``, ``\U000e0001``); other text, non-ASCII letters included, is
    kept as it is.
    """
    if text.isprintable():
        return text
    from ._view import code_escape  # the report's own escapes, without their short names

    return "".join(c if c.isprintable() else code_escape(c) for c in text)
