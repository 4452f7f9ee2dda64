"""Consent precedence: whether a report may leave, as one pure function.

First match wins:

1. ``DO_NOT_TRACK`` or ``OTEL_SDK_DISABLED`` → denied.
2. ``<APP>_TELEMETRY`` on or off.
3. The choice made in this process (``enable(always=False)``, or a save that failed).
4. The choice saved in ``config.json``.
5. The question was already answered in this process without a lasting choice
   (``[1]``, or no answer) → denied: a process asks at most once.
6. The mode's default: ``server`` granted; ``interactive`` and ``notebook`` ask;
   ``non-interactive`` denied.

:func:`decide` reads nothing: the caller gathers the inputs (variables, the saved file,
the mode) into :class:`ConsentInputs`, so the whole table is tested without a file or
an environment. The decision is made again for every report, so revoking consent takes
effect at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from ._types import ConsentState, Mode

_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s.]{1,63}(?:\.[^@\s.]{1,63}){0,8}\.[A-Za-z]{2,24}")


@dataclass(frozen=True)
class ConsentDecision:
    """The outcome of the gate for one report."""

    state: ConsentState
    """``granted`` sends, ``denied`` drops, ``ask`` waits for the user (question pending)."""
    source: str
    """What decided it, for ``status()``: a variable name, ``config``, ``session``,
    ``prompt:answered`` or ``mode:<mode>``."""
    email: Optional[str] = None
    """The address the user typed, sent only as the report's user email."""


@dataclass(frozen=True)
class SessionChoice:
    """A choice that lives for this process only: ``enable(always=False)``, or a save that failed."""

    enabled: bool
    email: Optional[str] = None


@dataclass(frozen=True)
class SavedChoice:
    """What the user chose, as stored in ``config.json``."""

    enabled: Optional[bool] = None
    """True or False once the user decided; None when never asked or answered."""
    email: Optional[str] = None
    """The address the user typed to be contacted, if any."""


@dataclass(frozen=True)
class ConsentInputs:
    """Everything the precedence looks at, gathered by the caller."""

    mode: Mode
    disabled_by: Optional[str] = None
    """The variable that switches all telemetry off (``DO_NOT_TRACK``...), if any."""
    switch: Optional[bool] = None
    """``<APP>_TELEMETRY``, when set to a valid value."""
    switch_name: str = "TELEMETRY"
    session: Optional[SessionChoice] = None
    saved: SavedChoice = SavedChoice()
    answered: bool = False
    """The question was answered (or dismissed) in this process."""


def decide(inputs: ConsentInputs) -> ConsentDecision:
    """Apply the precedence and return the decision of the first rule that matches."""
    if inputs.disabled_by is not None:
        return ConsentDecision("denied", inputs.disabled_by)
    session_email = inputs.session.email if inputs.session is not None else None
    if inputs.switch is not None:
        state: ConsentState = "granted" if inputs.switch else "denied"
        return ConsentDecision(state, inputs.switch_name, session_email or inputs.saved.email)
    if inputs.session is not None:
        state = "granted" if inputs.session.enabled else "denied"
        return ConsentDecision(state, "session", session_email or inputs.saved.email)
    if inputs.saved.enabled is not None:
        state = "granted" if inputs.saved.enabled else "denied"
        return ConsentDecision(state, "config", inputs.saved.email)
    if inputs.mode == "server":
        return ConsentDecision("granted", "mode:server")
    if inputs.mode in ("interactive", "notebook"):
        if inputs.answered:
            return ConsentDecision("denied", "prompt:answered")
        return ConsentDecision("ask", f"mode:{inputs.mode}")
    return ConsentDecision("denied", f"mode:{inputs.mode}")


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
