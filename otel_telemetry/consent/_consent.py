"""Consent: the live decision for one host, and the choices that feed it.

Gathers the inputs of :func:`~._precedence.decide` (variables, the saved file, the
choice made in this process, whether the question was answered) and applies a choice:
saved to ``config.json`` when asked to, for this process only when the save fails.
"""

from __future__ import annotations

import os

from otel_telemetry._layout import config_file
from otel_telemetry._log import warn_once

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

    from otel_telemetry._settings import Settings

    from ._precedence import ConsentDecision, SessionChoice
    from ._store import ConfigStore
    from ._types import Level


class Consent:
    """Whether reports of one host may leave, decided anew each time it is asked.

    Args:
        settings: the host's settings, read live.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._session: Optional[SessionChoice] = None
        self._store: Optional[ConfigStore] = None
        self.answered = False
        """The question was answered (or dismissed) in this process."""
        self._forced = False

    def mark_answered(self) -> None:
        """The question was answered: from now on, what would ask is denied."""
        self.answered = True

    def force_granted(self, forced: bool) -> None:
        """Grant every report while ``forced``, reading no variable and no file.

        For :mod:`otel_telemetry.testing` only: a test of the host sees its reports
        whatever the developer's machine says, and nothing is saved.
        """
        self._forced = forced

    @property
    def store(self) -> ConfigStore:
        """The ``config.json`` of the config dir in force."""
        from ._store import ConfigStore

        config_dir = self._settings.config_dir_path()  # a string: no pathlib to read it
        if self._store is None or self._store.config_dir != config_dir:
            self._store = ConfigStore(config_dir)
        return self._store

    def prepare(self) -> None:
        """Import now what deciding needs (called by ``install()``).

        A decision on the host's thread (the question's, at its first crash) then
        imports nothing: these modules import only the standard library's ``os``,
        ``time``, ``codecs`` and the C ``_json``.
        """
        import _json  # noqa: F401

        from . import _precedence, _store  # noqa: F401

    def environment_denies(self) -> bool:
        """The app thread's early out: variables only, no file, no terminal check.

        ``DO_NOT_TRACK``, ``OTEL_SDK_DISABLED``, the host's ``opt_out_env`` variables
        set false-ish, or ``<APP>_TELEMETRY=0``.
        """
        if self._forced:
            return False
        env = self._settings.env
        return env.disabled_by is not None or env.telemetry_switch is False

    def refuses(self) -> bool:
        """``decide().state == "denied"``, without reading ``config.json`` when it can.

        The host's thread asks it at a crash (is a report to be made at all?). When
        :meth:`known` answers, nothing is read or imported for it.
        """
        known = self.known()
        return self.decide().state == "denied" if known is None else known == "denied"

    def grants(self) -> bool:
        """``decide().state == "granted"``, without reading ``config.json`` when it can."""
        known = self.known()
        return self.decide().state == "granted" if known is None else known == "granted"

    def declines(self) -> bool:
        """A no known without reading ``config.json`` or importing anything.

        ``known() == "denied"``: a variable says no, or no choice is saved and made and
        the mode cannot ask (no terminal, as in CI). The host's thread asks it first at
        a crash, before anything is imported for a capture.
        """
        return self.known() == "denied"

    def known(self) -> Optional[str]:
        """``decide().state`` when it needs no saved choice; None when it does.

        The precedence (:func:`~._precedence.decide`) is settled without the file when
        the testing seam forces a yes, when a variable decides (``<APP>_TELEMETRY`` set,
        or one that switches everything off: the answer is theirs whatever the file
        says), or when no choice was made in this process and there is no
        ``config.json``: no choice is saved (a missing file reads as none), so the mode's
        default decides. Costs the variables and at most one ``lstat``; imports nothing.
        """
        if self._forced:
            return "granted"
        env = self._settings.env
        if env.disabled_by is not None:
            return "denied"
        level = env.telemetry_level
        if level is not None:
            return "denied" if level == "off" else "granted"
        if self._session is not None:
            return None
        try:
            os.lstat(config_file(self._settings.config_dir_path()))
        except OSError:  # as ConfigStore.load reads it: no choice saved
            mode = self._settings.mode()
            if mode == "server":
                return "granted"
            if mode in ("interactive", "notebook"):
                return "denied" if self.answered else "ask"
            return "denied"
        return None

    def decide(self) -> ConsentDecision:
        """The decision for a report made now."""
        from ._precedence import ConsentDecision, ConsentInputs, decide

        if self._forced:
            return ConsentDecision("granted", "testing", level="all")  # events too
        env = self._settings.env
        return decide(
            ConsentInputs(
                mode=self._settings.mode(),
                disabled_by=env.disabled_by,  # the host's opt_out_env variables too
                level=env.telemetry_level,
                switch_name=env.name("TELEMETRY"),
                session=self._session,
                saved=self.store.load(),
                answered=self.answered,
                policy_version=self._settings.policy_version,
                server_level=self._settings.server_level,
            )
        )

    def choose(
        self,
        enabled: bool,
        email: Optional[str] = None,
        *,
        save: bool = True,
        level: Optional[Level] = None,
    ) -> None:
        """Apply a yes or a no: saved when ``save``, for this process otherwise.

        Args:
            enabled: yes or no.
            email: the user's address, for a yes.
            save: keep it in ``config.json`` (with the host's ``policy_version``).
            level: for a yes, ``crash`` (the default), ``all`` or ``local``.

        A save that fails (read-only or missing home) is warned about once and the choice
        holds for this process.
        """
        from ._precedence import SessionChoice

        level = (level or "crash") if enabled else "off"
        self._session = SessionChoice(enabled, email if enabled else None, level)
        if not save:
            return
        store = self.store
        try:
            store.save(
                enabled=enabled,
                email=email if enabled else None,
                level=level,
                policy_version=self._settings.policy_version,
            )
        except OSError as exc:
            warn_once(
                "save",
                f"Could not save the telemetry choice in {store.path} ({exc.strerror});"
                " it holds for this session only.",
            )
            return
        self._session = None  # saved: the file is the truth from now on
