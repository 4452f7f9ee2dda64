"""Consent precedence: whether a report may leave, as one pure function.

First match wins:

1. ``DO_NOT_TRACK``, ``OTEL_SDK_DISABLED``, or one of the host's ``opt_out_env``
   variables set false-ish (``ANONYMIZED_TELEMETRY=false``) → denied.
2. ``<APP>_TELEMETRY``: ``0`` off, ``1``/``crash``, ``all`` or ``local``.
3. The choice made in this process (``enable(always=False)``, or a save that failed).
4. The choice saved in ``config.json``; a yes saved for an older ``policy_version``
   than the host's no longer counts (the user is asked again), a no always does.
5. The question was already answered in this process without a lasting choice
   (``[1]``, or no answer) → denied: a process asks at most once.
6. The mode's default: ``server`` granted at the host's ``server_level``;
   ``interactive`` and ``notebook`` ask; ``non-interactive`` denied.

A decision also says what is collected, its *level*: ``crash`` (crash reports),
``all`` (crash reports and usage events) or ``local`` (both, recorded on this machine
and never uploaded); ``off`` when denied.

:func:`decide` reads nothing: the caller gathers the inputs (variables, the saved file,
the mode) into :class:`ConsentInputs`, so the whole table is tested without a file or
an environment. The decision is made again for every report, so revoking consent takes
effect at once.
"""

from __future__ import annotations

from otel_telemetry._value import Frozen, values_of

# Decided on the host's thread at its first crash (the question): nothing here imports
# ``re``, ``dataclasses`` or ``typing`` at run time.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from re import Pattern
    from typing import Optional

    from ._types import ConsentState, Level, Mode

ANSWERED = "prompt:answered"
"""The source of a denial because the question was answered in this process without a
lasting yes: later reports are not sent; the one ``[1]`` released still is."""

_EMAIL = r"[^@\s]{1,64}@[^@\s.]{1,63}(?:\.[^@\s.]{1,63}){0,8}\.[A-Za-z]{2,24}"
_compiled: list[Pattern[str]] = []  # compiled at the first address checked


class Value(Frozen):
    """Attributes set once, at creation; compared, hashed and shown by their values.

    What ``dataclass(frozen=True)`` gives (:class:`otel_telemetry._value.Frozen`, which
    imports nothing: consent is decided on the host's thread at its first crash), and
    hashable: every attribute of a consent value is. Subclasses list their attributes in
    ``__slots__`` and set them with :meth:`_set` in ``__init__``.
    """

    __slots__ = ()

    def __hash__(self) -> int:
        return hash(values_of(self))


class ConsentDecision(Value):
    """The outcome of the gate for one report.

    Attributes:
        state: ``granted`` sends, ``denied`` drops, ``ask`` waits for the user (question
            pending).
        source: what decided it, for ``status()``: a variable name, ``config``,
            ``session``, ``prompt:answered`` or ``mode:<mode>``.
        email: the address the user typed, sent only as the report's user email.
        level: what is collected: ``off`` when denied; ``crash``, ``all`` or ``local``
            when granted; ``crash`` while asking (what the question is about).
        outdated_policy: the ``policy_version`` of a saved yes that no longer counts
            (the host raised it).
    """

    __slots__ = ("email", "level", "outdated_policy", "source", "state")
    state: ConsentState
    source: str
    email: Optional[str]
    level: Level
    outdated_policy: Optional[int]

    def __init__(
        self,
        state: ConsentState,
        source: str,
        email: Optional[str] = None,
        level: Level = "crash",
        outdated_policy: Optional[int] = None,
    ) -> None:
        self._set(
            state=state, source=source, email=email, level=level, outdated_policy=outdated_policy
        )

    @property
    def local(self) -> bool:
        """Reports are recorded on this machine only, never uploaded."""
        return self.state == "granted" and self.level == "local"

    @property
    def usage(self) -> bool:
        """Usage events may be recorded (level ``all``, or ``local``)."""
        return self.state == "granted" and self.level in ("all", "local")


class SessionChoice(Value):
    """A choice that lives for this process only: ``enable(always=False)``, or a save that failed.

    Attributes:
        enabled: yes or no.
        email: the address typed with a yes.
        level: ``crash``, ``all`` or ``local`` for a yes (None: ``crash``); ignored for a no.
    """

    __slots__ = ("email", "enabled", "level")
    enabled: bool
    email: Optional[str]
    level: Optional[Level]

    def __init__(
        self, enabled: bool, email: Optional[str] = None, level: Optional[Level] = None
    ) -> None:
        self._set(enabled=enabled, email=email, level=level)


class SavedChoice(Value):
    """What the user chose, as stored in ``config.json``.

    Attributes:
        enabled: True once the user said yes (``crash`` or ``all``) or ``local``; False
            for a no; None when never asked or answered.
        email: the address the user typed to be contacted, if any.
        level: ``off``, ``crash``, ``all`` or ``local``; None when never decided.
        policy_version: the host's ``policy_version`` the choice was given for (1 in
            files that lack it).
    """

    __slots__ = ("email", "enabled", "level", "policy_version")
    enabled: Optional[bool]
    email: Optional[str]
    level: Optional[Level]
    policy_version: int

    def __init__(
        self,
        enabled: Optional[bool] = None,
        email: Optional[str] = None,
        level: Optional[Level] = None,
        policy_version: int = 1,
    ) -> None:
        self._set(enabled=enabled, email=email, level=level, policy_version=policy_version)


_NO_CHOICE = SavedChoice()


class ConsentInputs(Value):
    """Everything the precedence looks at, gathered by the caller.

    Attributes:
        mode: where the host runs.
        disabled_by: the variable that switches all telemetry off (``DO_NOT_TRACK``...),
            if any.
        switch: ``<APP>_TELEMETRY``, when set to a valid value.
        switch_name: the name of that variable, for the decision's source.
        session: the choice made in this process, if any.
        saved: the choice saved in ``config.json``.
        answered: the question was answered (or dismissed) in this process.
        level: ``<APP>_TELEMETRY`` as a level, when set to a valid value (wins over
            ``switch``).
        policy_version: the host's ``policy_version``: a saved yes for an older one no
            longer counts.
        server_level: what server mode collects by default: ``crash`` or ``all``.
    """

    __slots__ = (
        "answered",
        "disabled_by",
        "level",
        "mode",
        "policy_version",
        "saved",
        "server_level",
        "session",
        "switch",
        "switch_name",
    )
    mode: Mode
    disabled_by: Optional[str]
    switch: Optional[bool]
    switch_name: str
    session: Optional[SessionChoice]
    saved: SavedChoice
    answered: bool
    level: Optional[Level]
    policy_version: int
    server_level: Level

    def __init__(
        self,
        mode: Mode,
        disabled_by: Optional[str] = None,
        switch: Optional[bool] = None,
        switch_name: str = "TELEMETRY",
        session: Optional[SessionChoice] = None,
        saved: SavedChoice = _NO_CHOICE,
        answered: bool = False,
        level: Optional[Level] = None,
        policy_version: int = 1,
        server_level: Level = "crash",
    ) -> None:
        self._set(
            mode=mode,
            disabled_by=disabled_by,
            switch=switch,
            switch_name=switch_name,
            session=session,
            saved=saved,
            answered=answered,
            level=level,
            policy_version=policy_version,
            server_level=server_level,
        )


def decide(inputs: ConsentInputs) -> ConsentDecision:
    """Apply the precedence and return the decision of the first rule that matches."""
    if inputs.disabled_by is not None:
        return ConsentDecision("denied", inputs.disabled_by, level="off")
    saved = inputs.saved
    session_email = inputs.session.email if inputs.session is not None else None
    switch = inputs.level
    if switch is None and inputs.switch is not None:
        switch = "crash" if inputs.switch else "off"
    if switch is not None:
        return _decision(switch, inputs.switch_name, session_email or saved.email)
    if inputs.session is not None:
        level = (inputs.session.level or "crash") if inputs.session.enabled else "off"
        return _decision(level, "session", session_email or saved.email)
    outdated = None
    saved_level = saved.level or _level_of(saved.enabled)
    if saved_level is not None:
        if saved_level in ("crash", "all") and saved.policy_version < inputs.policy_version:
            outdated = saved.policy_version  # what is collected changed: ask again
        else:
            return _decision(saved_level, "config", saved.email)
    if inputs.mode == "server":
        return ConsentDecision(
            "granted", "mode:server", level=inputs.server_level, outdated_policy=outdated
        )
    if inputs.mode in ("interactive", "notebook"):
        if inputs.answered:
            return ConsentDecision("denied", ANSWERED, level="off", outdated_policy=outdated)
        return ConsentDecision("ask", f"mode:{inputs.mode}", outdated_policy=outdated)
    return ConsentDecision("denied", f"mode:{inputs.mode}", level="off", outdated_policy=outdated)


def _decision(level: Level, source: str, email: Optional[str]) -> ConsentDecision:
    if level == "off":
        return ConsentDecision("denied", source, level="off")
    # The email goes with crash reports; a local record keeps it too (nothing leaves).
    return ConsentDecision("granted", source, email, level=level)


def _level_of(enabled: Optional[bool]) -> Optional[Level]:
    return None if enabled is None else "crash" if enabled else "off"


def validated_email(email: Optional[str]) -> Optional[str]:
    """Return the stripped address, None for blank.

    Raises:
        ValueError: ``email`` is not an email address.
    """
    if email is None or not email.strip():
        return None
    email = email.strip()
    if not _compiled:
        import re

        _compiled.append(re.compile(_EMAIL))
    if not _compiled[0].fullmatch(email):
        raise ValueError(f"not an email address: {email!r}")
    return email
