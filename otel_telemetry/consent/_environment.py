"""The ``<APP>_*`` environment variables (see README), read in one place.

Nothing here writes to the environment or to disk: environment variables override the
saved choice but are never persisted.
"""

from __future__ import annotations

import os

from otel_telemetry._log import warn_once

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Optional

_TRUE = frozenset({"1", "true", "on", "yes"})
_FALSE = frozenset({"0", "false", "off", "no"})


def env_prefix(app: str) -> str:
    """Return the variable prefix of an app: ``"my-app"`` gives ``"MY_APP"``."""
    words = "".join(c if c.isascii() and c.isalnum() else " " for c in app).split()
    return "_".join(words).upper()


def parse_switch(name: str, value: Optional[str]) -> Optional[bool]:
    """Read an on/off variable; an unknown value is warned about once and ignored."""
    if value is None or not value.strip():
        return None
    normalized = value.strip().lower()
    if normalized in _TRUE:
        return True
    if normalized in _FALSE:
        return False
    warn_once(
        f"{name}={value}",
        f"Ignoring {name}={value!r}: expected one of 0/false/off/no or 1/true/on/yes.",
    )
    return None


def globally_disabled(environ: Mapping[str, str]) -> Optional[str]:
    """Return the name of the variable that switches every telemetry off, if any."""
    if environ.get("DO_NOT_TRACK", "").strip().lower() in {"1", "true", "yes"}:
        return "DO_NOT_TRACK"
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return "OTEL_SDK_DISABLED"
    return None


def split_names(raw: str) -> tuple[str, ...]:
    """Split a comma list of exporter names, lower-cased, without blanks or repeats."""
    names: list[str] = []
    for part in raw.split(","):
        name = part.strip().lower()
        if name and name not in names:
            names.append(name)
    return tuple(names)


class AppEnvironment:
    """The ``<APP>_*`` variables of one host app, read from the live environment."""

    __slots__ = ("environ", "prefix")

    def __init__(self, app: str, environ: Optional[Mapping[str, str]] = None) -> None:
        self.prefix = env_prefix(app)
        self.environ: Mapping[str, str] = os.environ if environ is None else environ

    def name(self, suffix: str) -> str:
        """The full variable name: ``name("TELEMETRY")`` is ``ACME_TELEMETRY``."""
        return f"{self.prefix}_{suffix}"

    def get(self, suffix: str) -> Optional[str]:
        """The stripped value of ``<APP>_<suffix>``; None when unset or blank."""
        value = self.environ.get(self.name(suffix))
        if value is None or not value.strip():
            return None
        return value.strip()

    @property
    def telemetry_switch(self) -> Optional[bool]:
        """``<APP>_TELEMETRY``: explicit on/off, or None when unset or malformed."""
        return parse_switch(self.name("TELEMETRY"), self.get("TELEMETRY"))

    @property
    def debug(self) -> bool:
        """``<APP>_TELEMETRY_DEBUG``: print scrubbed reports instead of sending them."""
        return bool(parse_switch(self.name("TELEMETRY_DEBUG"), self.get("TELEMETRY_DEBUG")))

    @property
    def widgets(self) -> Optional[bool]:
        """``<APP>_TELEMETRY_WIDGETS``: 0 where the front end cannot render ipywidgets."""
        return parse_switch(self.name("TELEMETRY_WIDGETS"), self.get("TELEMETRY_WIDGETS"))

    @property
    def exporters(self) -> Optional[tuple[str, ...]]:
        """``<APP>_TELEMETRY_EXPORTER``: the exporter names, or None when unset."""
        raw = self.get("TELEMETRY_EXPORTER")
        return None if raw is None else split_names(raw)

    @property
    def mode(self) -> Optional[str]:
        """``<APP>_TELEMETRY_MODE``, lower-cased, or None when unset."""
        raw = self.get("TELEMETRY_MODE")
        return None if raw is None else raw.lower()

    @property
    def sentry_dsn(self) -> Optional[str]:
        """``<APP>_SENTRY_DSN``: replaces the DSN baked into the host."""
        return self.get("SENTRY_DSN")

    @property
    def flush_timeout(self) -> Optional[float]:
        """``<APP>_TELEMETRY_FLUSH_TIMEOUT``: seconds that exit may wait, or None when unset."""
        return self.seconds("TELEMETRY_FLUSH_TIMEOUT")

    def seconds(self, suffix: str) -> Optional[float]:
        """A duration variable in seconds; a malformed one is warned about once and ignored."""
        raw = self.get(suffix)
        if raw is None:
            return None
        try:
            value = float(raw)
        except ValueError:
            value = -1.0
        if not 0 <= value < float("inf"):  # negative, NaN or infinite
            name = self.name(suffix)
            warn_once(f"{name}={raw}", f"Ignoring {name}={raw!r}: expected seconds >= 0.")
            return None
        return value

    @property
    def config_dir(self) -> Optional[str]:
        """``<APP>_CONFIG_DIR``, user-expanded, or None when unset."""
        raw = self.get("CONFIG_DIR")
        return None if raw is None else os.path.expanduser(raw)
