"""The server-mode notice: one line before reports leave on the server default.

Server mode sends crash reports without asking (rule 6 of ``_precedence``). Before the
first report of an app leaves this process on that default, and only then, one line
says so::

    Acme sends crash reports (errors only, personal data removed) to its maintainers. Set ACME_TELEMETRY=0 to turn this off. Details: https://acme.example/privacy

It is written to ``stderr`` (never ``stdout``) and logged at INFO on the
``otel_telemetry`` logger, for hosts whose logs are collected rather than read. It is
shown once per process per app, however many ``Telemetry`` objects the app has, and
not again in a forked child of a process that showed it. Nothing is shown when consent
comes from anything else (``<APP>_TELEMETRY=1``, the saved choice, a choice made in this
process, the testing seam) or when telemetry is off.

Two callers: ``Telemetry.install()`` shows it at once in server mode, so that operators
see it when the server starts; and the sending processor asks for it before it hands a
report to an exporter that sends off this machine (live reports and reports that earlier
runs left in the outbox alike), so that nothing leaves before the line is out.
"""

from __future__ import annotations

import sys
import threading

from otel_telemetry._fork import renew_in_child

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Optional

    from otel_telemetry._settings import Settings

    from ._precedence import ConsentDecision
    from ._types import Level

SERVER_DEFAULT = "mode:server"
"""The decision's ``source`` when reports are sent because the mode is ``server``."""

#: Exporters in use that never send off this machine.
_LOCAL_EXPORTERS = frozenset({"file", "console"})


def notice_line(
    display_name: str, variable: str, privacy_url: Optional[str] = None, level: Level = "crash"
) -> str:
    """The notice's one line; `` Details: <privacy_url>`` only when there is a URL.

    Args:
        display_name: the host's name for users; its line breaks and runs of blanks
            become one space, so the notice stays one line.
        variable: the app's switch, ``<APP>_TELEMETRY``.
        privacy_url: where users read what is sent (an http(s) URL, checked by Settings).
        level: what the server default sends: ``crash`` or ``all`` (``server_level``).
    """
    name = " ".join("".join(c if c.isprintable() else " " for c in display_name).split())
    what = (
        "crash reports and anonymous usage events (personal data removed)"
        if level == "all"
        else "crash reports (errors only, personal data removed)"
    )
    line = (
        f"{name or 'This program'} sends {what} to its maintainers."
        f" Set {variable}=0 to turn this off."
    )
    return f"{line} Details: {privacy_url}" if privacy_url else line


def is_server_default(decision: ConsentDecision) -> bool:
    """True when ``decision`` sends because the mode is ``server``, and for no other reason."""
    return decision.state == "granted" and decision.source == SERVER_DEFAULT


class _Shown:
    """Which apps showed the notice in this process, behind one lock.

    The lock is held while the line is written: a second sender of the same app waits
    until the line is out, and only then sends. A forked child keeps the apps its parent
    showed (the parent's operators saw the line) and gets a fresh lock.
    """

    def __init__(self) -> None:
        self.apps: set[str] = set()
        self.lock = threading.Lock()
        renew_in_child(self._renew)

    def _renew(self) -> None:
        # The thread that held the lock at the fork does not exist in the child.
        self.lock = threading.Lock()


_SHOWN = _Shown()


class ServerNotice:
    """The notice of one app, worded from one ``Telemetry``'s settings.

    Args:
        settings: the host's settings: its app, display name, switch variable and
            ``privacy_url``.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    @property
    def line(self) -> str:
        """The line as this app shows it."""
        settings = self._settings
        return notice_line(
            settings.display_name,
            settings.env.name("TELEMETRY"),
            settings.privacy_url,
            settings.server_level,
        )

    @property
    def shown(self) -> bool:
        """The line was written in this process (or in the parent it was forked from)."""
        return self._settings.app in _SHOWN.apps

    def show(self) -> bool:
        """Write the line once per process for this app; True when it was written now.

        Never raises: a closed or broken ``stderr`` or a failing log handler is passed
        over, and the notice counts as shown (it was given where it could be).
        """
        app = self._settings.app
        if app in _SHOWN.apps:
            return False
        with _SHOWN.lock:
            if app in _SHOWN.apps:
                return False
            try:
                _emit(self.line)
            finally:
                # Marked only once written: a sender that sees it marked sends after it.
                _SHOWN.apps.add(app)
        return True

    def show_at_start(self, decision: Callable[[], ConsentDecision]) -> bool:
        """``install()`` in server mode: show the line now if reports would leave by default.

        Also requires an exporter in force that may send off this machine (a DSN for
        ``sentry``, any exporter but ``file``, ``console`` and ``none``): a server that
        keeps its reports in a local file tells nobody they are sent.

        Args:
            decision: the live consent decision (read only when not shown yet).
        """
        if self.shown or self._decided_by_a_variable() or not self._sends_off_machine():
            return False
        return is_server_default(decision()) and self.show()

    def before_sending(self, gate: Callable[[], ConsentDecision]) -> Callable[[], None]:
        """What the sending processor calls before a report leaves this machine.

        The returned callable shows the line, if not shown yet, when ``gate`` says the
        report leaves on the server default; once shown it returns at once, without
        asking the gate.
        """

        def notice() -> None:
            if not self.shown and is_server_default(gate()):
                self.show()

        return notice

    def _decided_by_a_variable(self) -> bool:
        # Rules 1 and 2 of the precedence, read without the decision's imports (config.json
        # and its JSON): a server that sets its variables pays nothing at start.
        env = self._settings.env
        return env.telemetry_switch is not None or env.disabled_by is not None

    def _sends_off_machine(self) -> bool:
        # otlp, sentry with a DSN, a third party's exporter
        return any(name not in _LOCAL_EXPORTERS for name in self._settings.exporters_in_use())


def _emit(line: str) -> None:
    stream = sys.stderr
    if stream is not None:  # None under pythonw, or when the host closed it
        try:
            stream.write(line + "\n")
            stream.flush()
        except Exception:  # closed, broken pipe, a host's stream that raises
            pass
    # Logged only if the host imported logging: a host that never did configured no
    # handler, so importing it here (on the host's thread at install) would buy nothing.
    logging = sys.modules.get("logging")
    if logging is not None:
        try:
            logging.getLogger("otel_telemetry").info(line)
        except Exception:  # a host's filter or handler that raises is not ours to raise
            pass
