"""The consent gate: whether a report may leave, by the precedence of DESIGN §3.

First match wins: ``DO_NOT_TRACK``/``OTEL_SDK_DISABLED``, then ``<APP>_TELEMETRY``, then
the choice made in this process, then the saved choice, then the mode's default. The
decision is made again for every report, so revoking consent takes effect at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Optional

from ._config_store import ConfigStore
from ._environment import AppEnvironment, globally_disabled

if TYPE_CHECKING:
    from ._mode import Mode

ConsentState = Literal["granted", "denied", "ask"]

_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s.]{1,63}(?:\.[^@\s.]{1,63}){0,8}\.[A-Za-z]{2,24}")


@dataclass(frozen=True)
class ConsentDecision:
    """The outcome of the gate for one report."""

    state: ConsentState
    """``granted`` sends, ``denied`` drops, ``ask`` waits for the user (prompt pending)."""
    source: str
    """What decided it, for ``status()``: a variable name, ``config``, ``session`` or the mode."""
    email: Optional[str] = None
    """The address the user typed, sent only as the report's user email."""


@dataclass
class SessionChoice:
    """A choice that lives for this process only: ``enable(always=False)``, or a save that failed."""

    enabled: bool
    email: Optional[str] = None


def decide(
    env: AppEnvironment,
    store: ConfigStore,
    mode: Mode,
    session: Optional[SessionChoice],
) -> ConsentDecision:
    """Apply the precedence of DESIGN §3 and return the first rule that matches."""
    disabled_by = globally_disabled(env.environ)
    if disabled_by is not None:
        return ConsentDecision("denied", disabled_by)
    switch = env.telemetry_switch
    saved = store.load()
    if switch is not None:
        email = (session.email if session else None) or saved.email
        return ConsentDecision("granted" if switch else "denied", env.name("TELEMETRY"), email)
    if session is not None:
        return ConsentDecision(
            "granted" if session.enabled else "denied", "session", session.email or saved.email
        )
    if saved.enabled is not None:
        return ConsentDecision("granted" if saved.enabled else "denied", "config", saved.email)
    if mode == "server":
        return ConsentDecision("granted", "mode:server")
    if mode in ("interactive", "notebook"):
        return ConsentDecision("ask", f"mode:{mode}")
    return ConsentDecision("denied", f"mode:{mode}")


def validated_email(email: Optional[str]) -> Optional[str]:
    """Return the stripped address, None for blank.

    Raises:
        ValueError: ``email`` is not an email address.
    """
    if email is None or not email.strip():
        return None
    email = email.strip()
    if not _EMAIL.fullmatch(email):
        raise ValueError(f"not an email address: {email!r}")
    return email
