"""The terminal consent question, on stderr, with a timeout.

It reads whole lines from stdin (a terminal in canonical mode delivers a line only on
Enter) and waits with ``select`` where the platform has it for console input, so a
timeout never leaves a thread behind that would swallow the host's next input line.
EOF, Ctrl-C and the timeout all end the prompt with nothing chosen.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Optional, TextIO

from ._precedence import validated_email

if TYPE_CHECKING:
    from ._types import Choice

QUESTION = """\
We noticed an error. Help improve {name} by sending crash reports?
[1] Yes (send this error only)
[2] Yes, always (send all errors)
[3] No
[v] View the report first
"""
EMAIL_QUESTION = "(Optional: enter email so we can follow up, press Enter to skip)\n"
MAX_TRIES = 5


@dataclass(frozen=True)
class Answer:
    """What the user chose; ``dismissed`` for EOF, Ctrl-C, timeout or no valid answer."""

    choice: Choice
    email: Optional[str] = None


class _Dismissed(Exception):
    pass


class TerminalPrompt:
    """Asks once on ``stderr`` and reads ``stdin``; every wait is bounded by ``timeout``.

    Args:
        name: the host's display name (``Acme``).
        preview: returns the report that ``[1]`` would send, scrubbed, as the user reads
            it (``Question.preview``), for ``[v]``.
        timeout: seconds to wait for each answer.
    """

    def __init__(
        self,
        name: str,
        preview: Callable[[], str],
        timeout: float,
        stdin: Optional[TextIO] = None,
        stderr: Optional[TextIO] = None,
    ) -> None:
        self._name = name
        self._preview = preview
        self._timeout = timeout
        self._stdin = stdin or sys.stdin
        self._stderr = stderr or sys.stderr

    def ask(self) -> Answer:
        """Ask the question; never raises, never waits longer than the timeout per answer."""
        try:
            return self._ask()
        except _Dismissed:
            self._write("\nNothing was sent.\n")
            return Answer("dismissed")

    def _ask(self) -> Answer:
        self._write("\n" + QUESTION.format(name=self._name))
        for _ in range(MAX_TRIES):
            choice = self._read("Your choice [1/2/3/v]: ").strip().lower()
            if choice == "v":
                self._write("\n" + self._report() + "\n\n" + QUESTION.format(name=self._name))
            elif choice == "3":
                self._write("Crash reports stay off; you will not be asked again.\n")
                return Answer("never")
            elif choice in ("1", "2"):
                email = self._ask_email()
                self._write(
                    "Thank you: this report will be sent.\n"
                    if choice == "1"
                    else "Thank you: crash reports will be sent from now on.\n"
                )
                return Answer("once" if choice == "1" else "always", email)
            else:
                self._write("Please answer 1, 2, 3 or v.\n")
        raise _Dismissed

    def _report(self) -> str:
        """What ``preview`` returns; if it fails, a line that says so, and the question stays."""
        try:
            return self._preview().rstrip("\n")
        except Exception:  # the prompt never raises into the host's exit
            return "(the report could not be shown)"

    def _ask_email(self) -> Optional[str]:
        self._write(EMAIL_QUESTION)
        for _ in range(MAX_TRIES):
            try:
                return validated_email(self._read("Email: "))
            except ValueError:
                self._write("That is not an email address; try again, or press Enter to skip.\n")
        return None

    def _read(self, prompt: str) -> str:
        self._write(prompt)
        try:
            if not _wait_readable(self._stdin, self._timeout):
                raise _Dismissed
            line = self._stdin.readline()
        except (KeyboardInterrupt, OSError, ValueError):
            raise _Dismissed from None
        if not line:  # EOF
            raise _Dismissed
        return line

    def _write(self, text: str) -> None:
        try:
            self._stderr.write(text)
            self._stderr.flush()
        except (OSError, ValueError):
            raise _Dismissed from None


def _wait_readable(stream: TextIO, timeout: float) -> bool:
    """Wait until a line can be read, at most ``timeout`` seconds."""
    if sys.platform == "win32":  # pragma: no cover - select() takes no console handles
        return _wait_console(timeout)
    import select

    readable, _, _ = select.select([stream], [], [], timeout)
    return bool(readable)


def _wait_console(timeout: float) -> bool:  # pragma: no cover - Windows only
    import msvcrt
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if msvcrt.kbhit():  # type: ignore[attr-defined]
            return True
        time.sleep(0.05)
    return False
