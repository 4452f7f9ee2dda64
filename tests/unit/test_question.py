"""The question (``consent/_question.py``): asked at most once, its answer applied."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Optional

import pytest

from otel_telemetry._settings import Settings
from otel_telemetry.consent._consent import Consent
from otel_telemetry.consent._precedence import ConsentDecision
from otel_telemetry.consent._question import Question, QuestionState

PASSIVE_LINE = (
    "Acme error detected. Telemetry is OFF. To enable: "
    'acme.telemetry.enable(email="you@example.com", always=True)'
)


class Held:
    """The pipeline's held reports, as a record of what the question asked of them."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def flush(self, timeout: Optional[float]) -> bool:
        self.calls.append(("flush",))
        return True

    def release_held(
        self, decision: Optional[ConsentDecision] = None, *, only: Optional[int] = None
    ) -> None:
        self.calls.append(("release_held", decision, only))

    def discard_held(self) -> None:
        self.calls.append(("discard_held",))

    def preview_document(self, only: Optional[int] = None) -> Optional[dict[str, Any]]:
        self.calls.append(("preview_document", only))
        return {"resourceSpans": []}

    def after_queued(self, job: Any) -> None:
        # The pipeline runs it after what was queued; here, at once (nothing is queued).
        job()


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("ACME_") or name in ("DO_NOT_TRACK", "OTEL_SDK_DISABLED"):
            monkeypatch.delenv(name)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings("acme", ("acme",), "1.0", config_dir=tmp_path / "config")


def make(settings: Settings, mode: str) -> tuple[Question, Consent, Held]:
    settings.mode_override = mode
    consent = Consent(settings)
    held = Held()
    return Question(settings, consent, held), consent, held


def saved(settings: Settings) -> Optional[dict[str, Any]]:
    path = settings.config_dir / "config.json"
    return json.loads(path.read_text())["telemetry"] if path.exists() else None


@pytest.mark.parametrize(
    ("mode", "mechanism", "state"),
    [
        pytest.param("non-interactive", "excepthook", QuestionState.IDLE, id="pipes: never asks"),
        pytest.param("server", "excepthook", QuestionState.IDLE, id="server: granted, no question"),
        pytest.param("interactive", "excepthook", QuestionState.PENDING, id="terminal: later"),
        pytest.param("interactive", "asyncio", QuestionState.PENDING, id="in a loop: later"),
        pytest.param(
            "interactive", "threading.excepthook", QuestionState.PENDING, id="a thread: later"
        ),
    ],
)
def test_note(settings: Settings, mode: str, mechanism: str, state: QuestionState) -> None:
    question, _, held = make(settings, mode)

    question.note(mechanism)

    assert question.state is state
    assert held.calls == []
    assert saved(settings) is None


@pytest.mark.parametrize("switch", ["0", "1"])
def test_note_does_nothing_when_the_variable_decides(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, switch: str
) -> None:
    monkeypatch.setenv("ACME_TELEMETRY", switch)
    question, _, held = make(settings, "interactive")

    question.note("excepthook")

    assert question.state is QuestionState.IDLE
    assert held.calls == []


def test_note_does_nothing_once_a_choice_is_saved(settings: Settings) -> None:
    question, consent, held = make(settings, "interactive")
    consent.choose(False)

    question.note("excepthook")

    assert question.state is QuestionState.IDLE
    assert held.calls == []


def test_notebook_without_widgets_prints_the_passive_line_once(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ACME_TELEMETRY_WIDGETS", "0")
    question, _, held = make(settings, "notebook")

    question.note("ipython")
    question.note("ipython")  # a later crash of the session: not asked again

    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == PASSIVE_LINE + "\n"
    assert question.state is QuestionState.ASKING
    assert held.calls == []  # the reports stay held until enable() or disable()


def test_a_pending_question_waits_for_a_terminal(settings: Settings) -> None:
    question, _, held = make(settings, "interactive")
    question.note("excepthook")
    settings.mode_override = "non-interactive"  # stdin is no terminal any more

    question.ask_if_pending()

    assert question.state is QuestionState.PENDING  # a later crash may ask
    assert held.calls == []


def test_ask_if_pending_without_a_report_does_nothing(settings: Settings) -> None:
    question, _, held = make(settings, "interactive")
    question.ask_if_pending()
    assert question.state is QuestionState.IDLE
    assert held.calls == []


@pytest.mark.parametrize(
    ("choice", "email", "calls", "config", "decision"),
    [
        pytest.param(
            "once",
            "dev@example.org",
            [("release_held", ConsentDecision("granted", "prompt", "dev@example.org"), 7)],
            None,
            ("denied", "prompt:answered"),
            id="once",
        ),
        pytest.param(
            "always",
            "dev@example.org",
            [("release_held", None, None)],
            {"enabled": True, "email": "dev@example.org"},
            ("granted", "config"),
            id="always with email",
        ),
        pytest.param(
            "always",
            None,
            [("release_held", None, None)],
            {"enabled": True},
            ("granted", "config"),
            id="always",
        ),
        pytest.param(
            "never",
            "ignored@example.org",
            [("discard_held",)],
            {"enabled": False},
            ("denied", "config"),
            id="never",
        ),
        pytest.param(
            "dismissed", None, [("discard_held",)], None, ("denied", "prompt:answered"), id="no"
        ),
    ],
)
def test_answer(
    settings: Settings,
    choice: str,
    email: Optional[str],
    calls: list,
    config: Optional[dict],
    decision: tuple[str, str],
) -> None:
    question, consent, held = make(settings, "interactive")
    question.note("excepthook", 7)

    question.answer(choice, email)  # type: ignore[arg-type]

    assert question.state is QuestionState.ANSWERED
    assert held.calls == calls
    assert saved(settings) == config
    later = consent.decide()
    assert (later.state, later.source) == decision
    question.note("excepthook")  # asked at most once per process
    question.ask_if_pending()
    assert held.calls == calls


def test_a_choice_that_cannot_be_saved_holds_for_this_process(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    settings = Settings("acme", ("acme",), "1.0", config_dir=blocker / "config")
    question, consent, held = make(settings, "interactive")
    question.note("excepthook")

    question.answer("always", "dev@example.org")

    decision = consent.decide()
    assert (decision.state, decision.source, decision.email) == (
        "granted",
        "session",
        "dev@example.org",
    )
    assert held.calls == [("release_held", None, None)]


ONCE = ConsentDecision("granted", "prompt", "dev@example.org")


@pytest.mark.parametrize(
    ("typed", "calls", "config"),
    [
        pytest.param(
            "1\ndev@example.org\n",
            [("flush",), ("release_held", ONCE, 7)],
            None,
            id="1 with email",
        ),
        pytest.param(
            "v\n2\n\n",
            [("flush",), ("preview_document", 7), ("release_held", None, None)],
            {"enabled": True},
            id="v then 2",
        ),
        pytest.param("3\n", [("flush",), ("discard_held",)], {"enabled": False}, id="3"),
        pytest.param("", [("flush",), ("discard_held",)], None, id="EOF"),
    ],
)
def test_a_terminal_question_at_a_safe_point(
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    typed: str,
    calls: list,
    config: Optional[dict],
) -> None:
    """``capture_exception`` on the main thread asks at once, on stderr, reading stdin."""
    read, write = os.pipe()
    os.write(write, typed.encode())
    os.close(write)
    question, _, held = make(settings, "interactive")
    with open(read, encoding="utf-8") as stdin:
        monkeypatch.setattr(sys, "stdin", stdin)
        question.note("capture_exception", 7)

    assert question.state is QuestionState.ANSWERED
    assert held.calls == calls
    assert saved(settings) == config
    captured = capsys.readouterr()
    assert "Help improve Acme by sending crash reports?" in captured.err
    assert captured.out == ""  # never stdout


@pytest.mark.parametrize("explicit", ["enable", "disable"])
def test_an_explicit_choice_withdraws_a_pending_question(settings: Settings, explicit: str) -> None:
    question, consent, _ = make(settings, "interactive")
    question.note("threading.excepthook")  # pending: asked at exit
    assert question.state is QuestionState.PENDING
    consent.choose(explicit == "enable")
    question.withdraw()
    question.ask_if_pending()  # at exit: nothing is asked
    assert question.state is QuestionState.ANSWERED
    assert saved(settings) == {"enabled": explicit == "enable"}


def test_the_subject_is_the_latest_crash_noted_before_the_question(settings: Settings) -> None:
    """A thread's crash, then the main thread's: the question is about the main one."""
    question, _, held = make(settings, "interactive")
    question.note("threading.excepthook", 3)
    question.note("excepthook", 4)
    question.state = QuestionState.ASKING  # asked: the subject is fixed from now on
    question.note("threading.excepthook", 5)

    question.answer("once", None)

    assert held.calls == [("release_held", ConsentDecision("granted", "prompt", None), 4)]


def test_once_without_a_known_subject_sends_nothing(settings: Settings) -> None:
    question, _, held = make(settings, "interactive")
    question.note("excepthook")  # no seq: which report the user saw is unknown

    question.answer("once", None)

    assert held.calls == []  # everything stays held, for enable() or disable()


@pytest.mark.integration  # forks a process
def test_a_child_forked_while_the_lock_is_held_gets_a_free_lock(settings: Settings) -> None:
    if not hasattr(os, "fork"):
        pytest.skip("needs os.fork: not on this platform")
    question, _, _ = make(settings, "interactive")
    question._lock.acquire()  # as if another thread were inside note() at the fork
    try:
        pid = os.fork()
        if pid == 0:  # the child: exit 0 only if the lock is free
            os._exit(0 if question._lock.acquire(timeout=5) else 1)
        _, status = os.waitpid(pid, 0)
    finally:
        question._lock.release()
    assert os.WIFEXITED(status)
    assert os.WEXITSTATUS(status) == 0


@pytest.mark.parametrize("part", ["question", "pipeline"])
def test_two_threads_first_crashes_make_one_question_and_one_pipeline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, part: str
) -> None:
    # Both are made when first used (a terminal's first crash): two threads crashing at
    # once must share one, or the question is asked twice and a "no" answered to one
    # is overwritten by the other's answer.
    import threading
    import time

    from otel_telemetry import Telemetry
    from otel_telemetry.pipeline._pipeline import Pipeline

    made: list[object] = []
    cls: Any = Question if part == "question" else Pipeline
    original = cls.__init__

    def slow(self: object, *args: Any, **kwargs: Any) -> None:
        made.append(self)
        time.sleep(0.05)  # both threads are in here at once, unless one waits
        original(self, *args, **kwargs)

    monkeypatch.setattr(cls, "__init__", slow)
    telemetry = Telemetry(app="acme", package="acme", config_dir=str(tmp_path))
    got: list[object] = []
    threads = [
        threading.Thread(target=lambda: got.append(getattr(telemetry, part))) for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert got[0] is got[1]
    assert [m for m in made if isinstance(m, cls)] == [got[0]]
