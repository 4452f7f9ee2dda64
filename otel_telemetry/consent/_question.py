"""The question: asked at most once per process, at the first crash that needs consent.

A small state machine under one lock::

    IDLE ──note()──▶ PENDING ──ask_if_pending()──▶ ASKING ──answer()──▶ ANSWERED
                        ▲                            │
                        └──── not a terminal now ────┘

``note`` runs on the app thread when a report is captured and the decision is ``ask``;
the report is held by the pipeline meanwhile. The question is shown at once in a
notebook (a widget never blocks), and in a terminal once the exception has ended (after
its traceback, in the excepthook) or at exit, or at once for a report the host handled
on the main thread outside an event loop, so that a running loop never freezes.

The question is about one report, its *subject*: the latest crash noted before it is
asked, the one whose traceback is just above it (a crash of another thread may have
been held earlier). ``[v]`` shows that report alone and ``[1]`` sends that report alone,
identified by the capture's ``seq``; the other held reports stay held until a later
``enable()`` (sent) or ``disable()`` (discarded), and are never sent if the process
ends first.
"""

from __future__ import annotations

import sys
import threading

from otel_telemetry._fork import renew_in_child

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Optional, Protocol

    from otel_telemetry._settings import Settings

    from ._consent import Consent
    from ._precedence import ConsentDecision
    from ._types import Choice

    class HeldReports(Protocol):
        """The reports held while the user is asked (the pipeline)."""

        def flush(self, timeout: Optional[float]) -> bool: ...
        def release_held(
            self, decision: Optional[ConsentDecision] = None, *, only: Optional[int] = None
        ) -> None: ...
        def discard_held(self) -> None: ...
        def preview_document(self, only: Optional[int] = None) -> Optional[dict[str, Any]]: ...
        def after_queued(self, job: Callable[[], object]) -> None: ...


_TERMINAL_EMAIL = "none yet: you may add one after answering 1 or 2"
_WIDGET_EMAIL = "none yet: an address typed in the box above is sent with it"
_PROMPT_READY_TIMEOUT = 10.0
"""Seconds the terminal question waits for the report to be built and held, for ``[v]``."""


class _State:
    """One state of the question; states are compared by identity."""

    __slots__ = ("value",)

    def __init__(self, value: str) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"<QuestionState.{self.value.upper()}>"


class QuestionState:
    """The states of the question.

    Plain constants: ``enum`` is slow to import, and the question is made at
    ``install()`` so that the first crash imports nothing.
    """

    IDLE = _State("idle")
    PENDING = _State("pending")
    ASKING = _State("asking")
    ANSWERED = _State("answered")


class Question:
    """The consent question of one host.

    Args:
        settings: the host's settings (mode, display name, prompt timeout).
        consent: where the answer is applied.
        held: the reports held while the user is asked.
    """

    def __init__(self, settings: Settings, consent: Consent, held: HeldReports) -> None:
        self._settings = settings
        self._consent = consent
        self._held = held
        self._lock = threading.Lock()
        self.state = QuestionState.IDLE
        self.subject: Optional[int] = None
        """The ``seq`` of the report the question is about: the latest crash noted
        before it is asked; fixed from then on."""
        renew_in_child(self._renew_lock)

    def note(self, mechanism: str, seq: Optional[int] = None) -> None:
        """A report was captured: ask about it now, later, or not at all.

        Args:
            mechanism: where the crash was caught (``excepthook``, ``capture_exception``...).
            seq: the capture's number; until the question is asked, the latest noted
                crash is its subject.
        """
        state = self.state
        if state not in _NOTED or self._settings.env.telemetry_switch is not None:
            return
        if state is QuestionState.IDLE and self._consent.decide().state != "ask":
            return
        with self._lock:
            if self.state is QuestionState.IDLE:
                self.state = QuestionState.PENDING
            elif self.state is not QuestionState.PENDING:
                return  # asked or answered meanwhile: the subject is fixed
            if seq is not None:
                # The newest crash is the one whose traceback is just above the question.
                self.subject = seq
        if self._settings.mode() == "notebook" or (
            mechanism == "capture_exception" and _at_safe_point()
        ):
            self.ask_if_pending()

    def ask_if_pending(self) -> None:
        """Ask now, if a report waits for the answer and this is a place to ask."""
        if not self._move(QuestionState.PENDING, QuestionState.ASKING):
            return
        mode = self._settings.mode()
        if mode == "notebook":
            from ._notebook import show_question

            settings = self._settings
            subject = self.subject

            def view() -> str:
                # Clicked on the kernel's thread, maybe before the worker held the report.
                self._held.flush(_PROMPT_READY_TIMEOUT)
                return self.preview(subject, email_note=_WIDGET_EMAIL)

            show_question(
                settings.display_name,
                settings.app,
                self.answer,
                widgets_allowed=settings.env.widgets is not False,
                preview=view,
            )
            return
        if mode != "interactive":
            # Not a terminal in the foreground now (pipes, a background job): a later
            # crash may ask.
            self._move(QuestionState.ASKING, QuestionState.PENDING)
            return
        from ._prompt import TerminalPrompt

        subject = self.subject
        self._held.flush(_PROMPT_READY_TIMEOUT)  # the report is built and held, for [v]
        answer = TerminalPrompt(
            self._settings.display_name,
            # [v]: exactly what [1] sends
            lambda: self.preview(subject, color=True, email_note=_TERMINAL_EMAIL),
            self._settings.prompt_timeout,
        ).ask()
        self.answer(answer.choice, answer.email)

    def answer(self, choice: Choice, email: Optional[str] = None) -> None:
        """Apply the user's answer to the held reports and, for ``always``/``never``, save it."""
        from ._precedence import ConsentDecision

        with self._lock:
            self.state = QuestionState.ANSWERED
        if choice == "once":  # "send this error only": the subject; the others stay held
            if self.subject is not None:
                self._held.release_held(
                    ConsentDecision("granted", "prompt", email), only=self.subject
                )
            # A widget's click can come before the worker recorded the subject (the first
            # report builds the pipeline): its gate must still say "ask", so that it is
            # held, then released. The answer counts once what was queued is through.
            self._held.after_queued(self._consent.mark_answered)
            return
        self._consent.answered = True
        if choice == "always":
            self._consent.choose(True, email)
            self._held.release_held()
        elif choice == "never":
            self._consent.choose(False)
            self._held.discard_held()
        else:
            self._held.discard_held()

    def preview(
        self, subject: Optional[int], *, color: bool = False, email_note: Optional[str] = None
    ) -> str:
        """The report ``subject`` as the user reads it: exactly what ``[1]`` sends.

        Args:
            subject: the ``seq`` of the report; None: every held report.
            color: ANSI colour where the terminal wants it (``NO_COLOR`` is honoured).
            email_note: what the email line says while no address is given: where the
                question lets the user add one.
        """
        document = self._held.preview_document(subject)
        if document is None:
            return "(no report is waiting)"
        from otel_telemetry._view import render_report, wants_color

        return render_report(
            document,
            destinations=self._settings.destinations(),
            color=color and wants_color(sys.stderr),
            email_note=email_note,
        )

    def withdraw(self) -> None:
        """The user chose through ``enable()`` or ``disable()``: never ask this process."""
        with self._lock:
            self.state = QuestionState.ANSWERED

    def _renew_lock(self) -> None:
        # A child forked while another thread held the lock would wait for it forever:
        # that thread does not exist in the child.
        self._lock = threading.Lock()

    def _move(self, source: _State, target: _State) -> bool:
        """Go from ``source`` to ``target``; False when the state is not ``source``."""
        with self._lock:
            if self.state is not source:
                return False
            self.state = target
            return True


_NOTED = (QuestionState.IDLE, QuestionState.PENDING)
"""States in which a new report is noted: before the question is asked."""


def _at_safe_point() -> bool:
    """True on the main thread with no event loop running in it."""
    if threading.current_thread() is not threading.main_thread():
        return False
    asyncio = sys.modules.get("asyncio")
    return asyncio is None or asyncio.events._get_running_loop() is None
