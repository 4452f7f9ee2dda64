"""Reports that wait to learn whether their exception ends unhandled (``capture._tentative``)."""

from __future__ import annotations

import builtins
import os
import sys
import time
from typing import Any, Callable

import pytest

from otel_telemetry.capture import _tentative
from otel_telemetry.capture._tentative import Tentative


class Timers:
    """A ``later`` that keeps the jobs, run by the test when it says."""

    def __init__(self) -> None:
        self.jobs: list[tuple[float, Callable[[], object]]] = []

    def __call__(self, when: float, job: Callable[[], object]) -> None:
        self.jobs.append((when, job))

    def run(self) -> None:
        jobs, self.jobs = self.jobs, []
        for _, job in jobs:
            job()


def _waiting(sent: list[Any], timers: Timers) -> Tentative:
    return Tentative(sent.append, timers)


def test_a_claimed_report_is_never_sent(monkeypatch):
    monkeypatch.setattr(_tentative, "GRACE", 0.0)
    sent: list[Any] = []
    timers = Timers()
    waiting = _waiting(sent, timers)
    exc = ValueError("x")
    waiting.hold(exc, "report")  # type: ignore[arg-type]

    assert waiting.claim(exc) is exc
    timers.run()
    waiting.release_all()
    assert sent == []
    assert waiting.claim(exc) is None  # once


def test_an_unclaimed_report_goes_when_its_time_comes(monkeypatch):
    monkeypatch.setattr(_tentative, "GRACE", 0.0)
    sent: list[Any] = []
    timers = Timers()
    waiting = _waiting(sent, timers)
    waiting.hold(ValueError("x"), "report")  # type: ignore[arg-type]

    assert len(timers.jobs) == 1
    timers.run()
    assert sent == ["report"]


def test_a_report_not_yet_due_waits_for_a_new_timer():
    sent: list[Any] = []
    timers = Timers()
    waiting = _waiting(sent, timers)
    waiting.hold(ValueError("x"), "report")  # type: ignore[arg-type]

    timers.run()  # too early: GRACE has not passed
    assert sent == []
    [(when, _)] = timers.jobs
    assert when > time.monotonic()


def test_one_timer_for_many_reports(monkeypatch):
    monkeypatch.setattr(_tentative, "GRACE", 0.0)
    sent: list[Any] = []
    timers = Timers()
    waiting = _waiting(sent, timers)
    for n in range(5):
        waiting.hold(ValueError(n), n)  # type: ignore[arg-type]

    assert len(timers.jobs) == 1
    timers.run()
    assert sent == [0, 1, 2, 3, 4]
    waiting.hold(ValueError("next"), "next")  # type: ignore[arg-type]
    assert len(timers.jobs) == 1  # armed again once the first ran


def test_release_all_sends_everything_now():
    sent: list[Any] = []
    waiting = _waiting(sent, Timers())
    excs = [ValueError(n) for n in range(3)]
    for n, exc in enumerate(excs):
        waiting.hold(exc, n)  # type: ignore[arg-type]

    waiting.release_all()
    assert sent == [0, 1, 2]
    assert not any(waiting.claim(exc) for exc in excs)


def test_beyond_max_the_oldest_goes_at_once():
    sent: list[Any] = []
    waiting = _waiting(sent, Timers())
    excs = [ValueError(n) for n in range(_tentative.MAX + 2)]
    for n, exc in enumerate(excs):
        waiting.hold(exc, n)  # type: ignore[arg-type]

    assert sent == [0, 1]
    assert waiting.claim(excs[-1]) is excs[-1]


def test_another_exception_at_the_same_address_is_not_claimed():
    sent: list[Any] = []
    waiting = _waiting(sent, Timers())
    exc = ValueError("x")
    waiting.hold(exc, "report")  # type: ignore[arg-type]

    assert waiting.claim(ValueError("y")) is None
    waiting.release_all()
    assert sent == ["report"]


def test_without_a_timer_a_report_goes_at_once():
    sent: list[Any] = []
    waiting = Tentative(sent.append, None)
    waiting.hold(ValueError("x"), "report")  # type: ignore[arg-type]
    assert sent == ["report"]


@pytest.mark.integration
@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork")
def test_a_forked_child_does_not_send_its_parents_reports():
    sent: list[Any] = []
    waiting = _waiting(sent, Timers())
    waiting.hold(ValueError("x"), "report")  # type: ignore[arg-type]

    pid = os.fork()
    if pid == 0:
        waiting.release_all()
        os._exit(0 if not sent else 1)
    _, status = os.waitpid(pid, 0)
    assert status == 0  # the child sent nothing
    waiting.release_all()
    assert sent == ["report"]


@pytest.mark.skipif(sys.version_info < (3, 11), reason="exception groups are 3.11+")
def test_grouped_lists_a_group_then_what_it_holds_depth_first():
    first, second, third = ValueError(1), KeyError(2), OSError(3)
    inner = builtins.ExceptionGroup("inner", [second, third])  # type: ignore[attr-defined]
    group = builtins.ExceptionGroup("tasks", [first, inner])  # type: ignore[attr-defined]

    assert _tentative.grouped(group) == [group, first, inner, second, third]
    assert [_tentative.is_group(e) for e in (group, first, inner)] == [True, False, True]
    assert _tentative.grouped(first) == [first]
