"""Crash hooks (``capture/_hooks.py``) and the exit (``capture/_lifecycle.py``)."""

from __future__ import annotations

import gc
import logging
import sys
import threading
from types import SimpleNamespace
from typing import Any

import pytest

from otel_telemetry.capture._hooks import CrashHooks
from otel_telemetry.capture._lifecycle import Lifecycle


class Host:
    """The hooks the host had before ours, and what each of them saw."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[tuple[str, Any]] = []
        monkeypatch.setattr(sys, "excepthook", self.sys_hook)
        monkeypatch.setattr(threading, "excepthook", self.threading_hook)
        monkeypatch.setattr(sys, "unraisablehook", self.unraisable_hook)
        monkeypatch.delattr(sys, "ps1", raising=False)

    def sys_hook(self, exc_type: Any, exc: BaseException, tb: Any) -> None:
        self.calls.append(("sys", exc))

    def threading_hook(self, args: Any) -> None:
        self.calls.append(("threading", args.exc_value))

    def unraisable_hook(self, unraisable: Any) -> None:
        self.calls.append(("unraisable", unraisable.exc_value))


class Recorder:
    """The reporter and the exit step, as the hooks call them."""

    def __init__(self) -> None:
        self.reports: list[tuple[BaseException, str]] = []
        self.settled = 0

    def report(self, exc: BaseException, mechanism: str) -> None:
        self.reports.append((exc, mechanism))

    def settle(self) -> None:
        self.settled += 1


@pytest.fixture
def host(monkeypatch: pytest.MonkeyPatch) -> Host:
    return Host(monkeypatch)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def hooks(host: Host, recorder: Recorder):
    installed = CrashHooks(recorder.report, settle=recorder.settle)
    installed.install()
    yield installed
    installed.uninstall()


def test_the_excepthook_reports_chains_once_then_settles(
    host: Host, recorder: Recorder, hooks: CrashHooks
) -> None:
    error = ValueError("uncaught")
    hooks.install()  # idempotent: not chained to itself

    sys.excepthook(ValueError, error, None)

    assert recorder.reports == [(error, "excepthook")]
    assert host.calls == [("sys", error)]
    # Called from running code, not by the interpreter at the end of the program: no
    # wait (the exit tests cover the wait at the end of a program).
    assert recorder.settled == 0


def test_in_a_repl_the_excepthook_never_waits(
    host: Host, recorder: Recorder, hooks: CrashHooks, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "ps1", ">>> ", raising=False)
    sys.excepthook(ValueError, ValueError("x"), None)
    assert recorder.settled == 0
    assert len(host.calls) == 1


def test_a_thread_crash_is_reported_and_chained(
    host: Host, recorder: Recorder, hooks: CrashHooks
) -> None:
    error = RuntimeError("in a thread")

    def crash() -> None:
        raise error

    thread = threading.Thread(target=crash)
    thread.start()
    thread.join(5)

    assert recorder.reports == [(error, "threading.excepthook")]
    assert host.calls == [("threading", error)]
    assert recorder.settled == 0  # the process goes on


def test_a_failing_del_is_reported_and_chained(
    host: Host, recorder: Recorder, hooks: CrashHooks
) -> None:
    class Leaky:
        def __del__(self) -> None:
            raise OSError("in __del__")

    Leaky()
    gc.collect()

    [(error, mechanism)] = recorder.reports
    assert (type(error), mechanism) == (OSError, "unraisablehook")
    assert host.calls == [("unraisable", error)]


@pytest.mark.parametrize(
    ("hook", "args"),
    [
        ("threading", SimpleNamespace(exc_value=None)),
        ("unraisable", SimpleNamespace(exc_value=None)),
    ],
)
def test_a_hook_call_without_an_exception_is_only_chained(
    host: Host, recorder: Recorder, hooks: CrashHooks, hook: str, args: Any
) -> None:
    if hook == "threading":
        threading.excepthook(args)  # type: ignore[arg-type]
    else:
        sys.unraisablehook(args)  # type: ignore[arg-type]
    assert recorder.reports == []
    assert host.calls == [(hook, None)]


def test_a_failing_reporter_or_settle_never_reaches_the_host(
    host: Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    def report(exc: BaseException, mechanism: str) -> None:
        raise RuntimeError("bug in reporting")

    def settle() -> None:
        raise RuntimeError("bug at exit")

    hooks = CrashHooks(report, settle=settle)
    hooks.install()
    try:
        error = ValueError("x")
        sys.excepthook(ValueError, error, None)  # raises nothing
        threading.excepthook(SimpleNamespace(exc_value=error))  # type: ignore[arg-type]
    finally:
        hooks.uninstall()
    assert host.calls == [("sys", error), ("threading", error)]


def test_a_crash_inside_reporting_is_not_reported_again(host: Host) -> None:
    reports: list[str] = []

    def report(exc: BaseException, mechanism: str) -> None:
        reports.append(mechanism)
        # Our own code crashes in a thread, or a __del__, while reporting.
        threading.excepthook(SimpleNamespace(exc_value=RuntimeError("ours")))  # type: ignore[arg-type]

    hooks = CrashHooks(report, settle=lambda: None)
    hooks.install()
    try:
        sys.excepthook(ValueError, ValueError("x"), None)
    finally:
        hooks.uninstall()
    assert reports == ["excepthook"]
    assert [name for name, _ in host.calls] == ["threading", "sys"]  # still chained


def test_uninstall_restores_only_the_hooks_still_ours(host: Host, recorder: Recorder) -> None:
    hooks = CrashHooks(recorder.report, settle=recorder.settle)
    hooks.install()

    def later(*args: Any) -> None:
        pass

    sys.excepthook = later  # installed after ours by someone else
    hooks.uninstall()
    hooks.uninstall()  # idempotent

    assert sys.excepthook is later
    assert threading.excepthook == host.threading_hook
    assert sys.unraisablehook == host.unraisable_hook


def test_asyncio_errors_are_seen_and_still_logged(host: Host, recorder: Recorder) -> None:
    import asyncio  # noqa: F401 - the filter is added once asyncio is in use

    hooks = CrashHooks(recorder.report, settle=recorder.settle)
    hooks.install()
    logger = logging.getLogger("asyncio")
    error = ValueError("never retrieved")
    record = logger.makeRecord(
        "asyncio", logging.ERROR, __file__, 1, "Task exception was never retrieved", (), None
    )
    record.exc_info = (ValueError, error, None)
    plain = logger.makeRecord("asyncio", logging.INFO, __file__, 1, "no exception", (), None)
    try:
        assert logger.filter(record)  # let through: printed as before
        assert logger.filter(plain)
    finally:
        hooks.uninstall()
    assert recorder.reports == [(error, "asyncio")]
    assert logger.filter(record)  # the filter is gone
    assert len(recorder.reports) == 1


class Exit:
    """The exit steps of a Lifecycle, recorded."""

    def __init__(self, budget: float) -> None:
        self.budget = budget
        self.steps: list[Any] = []

    def before_exit(self) -> None:
        self.steps.append("before_exit")

    def flush(self, seconds: float) -> bool:
        self.steps.append(seconds)
        return True


def test_the_whole_exit_has_one_budget(host: Host) -> None:
    exit_ = Exit(budget=10.0)
    lifecycle = Lifecycle(
        lambda exc, mechanism: None,
        before_exit=exit_.before_exit,
        flush=exit_.flush,
        budget=lambda: exit_.budget,
    )

    lifecycle.settle()  # after the uncaught exception
    exit_.budget = 100.0  # read when the exit begins, not again
    lifecycle.settle()  # at exit

    first, second = exit_.steps[1], exit_.steps[3]
    assert exit_.steps[0::2] == ["before_exit", "before_exit"]
    assert 9.0 < second <= first <= 10.0


def test_install_is_idempotent_and_uninstall_restores(host: Host) -> None:
    reports: list[str] = []
    lifecycle = Lifecycle(
        lambda exc, mechanism: reports.append(mechanism),
        before_exit=lambda: None,
        flush=lambda seconds: True,
        budget=lambda: 0.0,
    )
    lifecycle.install()
    lifecycle.install()
    try:
        sys.excepthook(ValueError, ValueError("x"), None)
    finally:
        lifecycle.uninstall()
        lifecycle.uninstall()

    assert reports == ["excepthook"]
    assert sys.excepthook == host.sys_hook


def test_the_exit_callback_never_raises(host: Host) -> None:
    def before_exit() -> None:
        raise RuntimeError("bug at exit")

    lifecycle = Lifecycle(
        lambda exc, mechanism: None,
        before_exit=before_exit,
        flush=lambda seconds: True,
        budget=lambda: 0.0,
    )
    lifecycle._at_exit()  # what atexit runs


def test_reinstall_after_a_host_wrapped_our_hook_never_recurses(
    host: Host, recorder: Recorder
) -> None:
    hooks = CrashHooks(recorder.report, settle=recorder.settle)
    hooks.install()
    ours = sys.excepthook
    wrapped: list[BaseException] = []

    def host_wrapper(exc_type: Any, exc: BaseException, tb: Any) -> None:
        wrapped.append(exc)
        ours(exc_type, exc, tb)

    sys.excepthook = host_wrapper
    hooks.uninstall()  # ours is wrapped: it stays in the chain, passing through
    assert sys.excepthook is host_wrapper
    error = ValueError("while uninstalled")
    sys.excepthook(ValueError, error, None)
    assert recorder.reports == []
    assert host.calls == [("sys", error)]

    hooks.install()  # back in force, without wrapping the wrapper
    error = ValueError("again")
    sys.excepthook(ValueError, error, None)
    assert wrapped[-1] is error
    assert recorder.reports == [(error, "excepthook")]
    assert host.calls[-1] == ("sys", error)
    assert len(host.calls) == 2  # the host's own hook ran once per crash
    hooks.uninstall()
