"""The reporter (``capture/_reporter.py``) and ``capture_errors`` (``capture/_decorator.py``)."""

from __future__ import annotations

import asyncio
import functools
import logging
import sys
import threading
from typing import Any, Callable, Optional

import click
import pytest

from otel_telemetry import _attributes as attr
from otel_telemetry.capture._decorator import ErrorCapture
from otel_telemetry.capture._reporter import Reporter
from otel_telemetry.capture._request import current_scope
from otel_telemetry.capture._snapshot import CapturedException


class UsageError(Exception):
    """The host's own user-input error, in ``Telemetry(ignore=[...])``."""


class Host:
    """What the reporter hands on: the queue and the question."""

    def __init__(self, *, denied: bool = False, fail_submit: bool = False) -> None:
        self.submitted: list[CapturedException] = []
        self.noted: list[str] = []
        self.watched = 0
        self._denied = denied
        self._fail_submit = fail_submit
        self.granted = False
        self.should_report: Any = None

    def submit(self, captured: Any) -> None:
        if self._fail_submit:
            raise RuntimeError("queue bug")
        self.submitted.append(captured)

    def reporter(
        self,
        app: str = "acme",
        packages: tuple[str, ...] = ("tests",),
        storm=(5, 60.0),
        ignore: tuple[type[BaseException], ...] = (UsageError,),
    ) -> Reporter:
        def watch() -> None:
            self.watched += 1

        return Reporter(
            app=app,
            packages=packages,
            ignore=ignore,
            storm_limits=storm,
            denied=lambda: self._denied,
            granted=lambda: self.granted,
            should_report=self.should_report,
            submit=self.submit,
            noted=lambda mechanism, seq: self.noted.append(mechanism),
            watch_asyncio=watch,
        )


def _raised(exc: BaseException) -> BaseException:
    """``exc`` with a traceback through this module (the host's package, ``tests``)."""
    try:
        raise exc
    except BaseException as caught:
        return caught


class _UnprintableError(Exception):
    def __str__(self) -> str:
        raise RuntimeError("__str__ of the host fails")


@pytest.mark.parametrize(
    ("exc", "reported"),
    [
        pytest.param(ValueError("boom"), True, id="a crash"),
        pytest.param(KeyboardInterrupt(), False, id="KeyboardInterrupt"),
        pytest.param(SystemExit(1), False, id="SystemExit"),
        pytest.param(GeneratorExit(), False, id="GeneratorExit"),
        pytest.param(asyncio.CancelledError(), False, id="CancelledError"),
        pytest.param(UsageError("bad flag"), False, id="ignored class"),
        pytest.param(type("SubUsage", (UsageError,), {})("x"), False, id="ignored subclass"),
        pytest.param(_UnprintableError(), True, id="__str__ raises"),
    ],
)
def test_what_is_a_crash(exc: BaseException, reported: bool) -> None:
    host = Host()
    host.reporter().report(_raised(exc), "excepthook", handled=False)

    assert len(host.submitted) == int(reported)
    assert host.noted == (["excepthook"] if reported else [])


def test_the_message_of_an_unprintable_exception() -> None:
    host = Host()
    host.reporter().report(_raised(_UnprintableError()), "excepthook", handled=False)
    [captured] = host.submitted
    # The host's __str__ is never called on its thread: the message is its plain args.
    assert captured.exceptions[-1].message == ""


@pytest.mark.parametrize(
    ("packages", "reported"),
    [
        pytest.param(("tests",), True, id="passed through the host"),
        pytest.param(("tests.unit.test_reporter",), True, id="the module itself"),
        pytest.param(("acme",), False, id="never passed through the host"),
        pytest.param(("test",), False, id="a prefix is not a package"),
    ],
)
def test_only_crashes_through_the_host(packages: tuple[str, ...], reported: bool) -> None:
    host = Host()
    host.reporter(packages=packages).report(_raised(ValueError("x")), "excepthook", handled=False)
    assert len(host.submitted) == int(reported)


def test_an_exception_is_reported_once_per_app() -> None:
    host = Host()
    acme, other = host.reporter("acme"), host.reporter("other")
    exc = _raised(ValueError("seen by nested entry points, then the excepthook"))

    acme.report(exc, "capture_errors", handled=False)
    acme.report(exc, "capture_errors", handled=False)
    acme.report(exc, "excepthook", handled=False)
    other.report(exc, "excepthook", handled=False)

    assert [c.mechanism for c in host.submitted] == ["capture_errors", "excepthook"]


def test_nothing_when_the_environment_denies() -> None:
    host = Host(denied=True)
    host.reporter().report(_raised(ValueError("x")), "excepthook", handled=False)
    assert host.submitted == []


def test_a_failure_inside_reporting_never_raises() -> None:
    host = Host(fail_submit=True)
    host.reporter().report(_raised(ValueError("x")), "excepthook", handled=False)
    assert host.noted == []


def test_a_storm_is_counted_and_its_count_sent_once() -> None:
    host = Host()
    reporter = host.reporter(storm=(1, 60.0))
    reporter.send_counted()  # nothing seen yet

    for _ in range(4):
        reporter.report(_raised(ValueError("same place")), "excepthook", handled=False)
    assert len(host.submitted) == 1
    reporter.send_counted()
    reporter.send_counted()

    assert [c.attributes.get(attr.OCCURRENCES) for c in host.submitted] == [None, 3]
    assert host.noted == ["excepthook"]  # the question is about the first one


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        pytest.param(None, {attr.HTTP_METHOD: "GET"}, id="default: the current request"),
        pytest.param({"k": "v"}, {"k": "v"}, id="given"),
    ],
)
def test_attributes(given: Any, expected: dict) -> None:
    host = Host()
    token = current_scope.set({"method": "GET"})
    try:
        host.reporter().report(
            _raised(ValueError("x")), "capture_exception", handled=True, attributes=given
        )
    finally:
        current_scope.reset(token)
    [captured] = host.submitted
    assert dict(captured.attributes) == expected
    assert captured.handled is True


async def _async_fail(value: int) -> int:
    raise ValueError(f"async {value}")


def _sync_fail(value: int) -> int:
    raise ValueError(f"sync {value}")


def _run_sync(capture: ErrorCapture) -> None:
    capture(_sync_fail)(1)


def _run_async(capture: ErrorCapture) -> None:
    asyncio.run(capture(_async_fail)(2))


def _run_async_partial(capture: ErrorCapture) -> None:
    asyncio.run(capture(functools.partial(_async_fail, 3))())


def _run_with(capture: ErrorCapture) -> None:
    with capture:
        _sync_fail(4)


def _run_async_with(capture: ErrorCapture) -> None:
    async def main() -> None:
        async with capture:
            await _async_fail(5)

    asyncio.run(main())


@pytest.mark.parametrize(
    ("run", "message", "watched"),
    [
        pytest.param(_run_sync, "sync 1", 1, id="function"),
        pytest.param(_run_async, "async 2", 2, id="coroutine function"),
        pytest.param(_run_async_partial, "async 3", 2, id="partial of a coroutine function"),
        pytest.param(_run_with, "sync 4", 1, id="with"),
        pytest.param(_run_async_with, "async 5", 1, id="async with"),
    ],
)
def test_capture_errors_reports_and_re_raises(
    run: Callable[[ErrorCapture], None], message: str, watched: int
) -> None:
    host = Host()
    host.granted = True

    with pytest.raises(ValueError, match=message):
        run(ErrorCapture(host.reporter()))

    [captured] = host.submitted
    assert captured.mechanism == "capture_errors"
    assert captured.handled is True  # its caller may handle it
    assert captured.exceptions[-1].message == message
    assert host.noted == []  # consent is given: nothing to ask
    assert host.watched == watched  # a coroutine function starts the asyncio watch at once


def test_capture_errors_lets_results_and_clean_exits_through() -> None:
    host = Host()
    capture = ErrorCapture(host.reporter())

    @capture
    def double(value: int) -> int:
        return value * 2

    @capture
    async def triple(value: int) -> int:
        return value * 3

    with capture:
        assert double(2) == 4
    assert asyncio.run(triple(2)) == 6
    assert double.__name__ == "double"  # functools.wraps
    assert host.submitted == []


@pytest.mark.parametrize(
    "run", [_run_sync, _run_async, _run_async_partial, _run_with, _run_async_with]
)
def test_capture_errors_without_consent_keeps_nothing_and_asks_nothing(
    run: Callable[[ErrorCapture], None],
) -> None:
    host = Host()
    reporter = host.reporter()
    with pytest.raises(ValueError, match=r"(a)?sync \d") as raised:
        run(ErrorCapture(reporter))
    assert (host.submitted, host.noted) == ([], [])

    # Not even marked as seen: when it ends unhandled, the hook reports it, and asks.
    reporter.report(raised.value, "excepthook", handled=False)
    [captured] = host.submitted
    assert (captured.mechanism, captured.handled) == ("excepthook", False)
    assert host.noted == ["excepthook"]


class IgnoredExit(click.ClickException):
    """A host's ClickException in ``ignore``."""


def _exit_while_handling(
    original: BaseException, make_exit: Callable[[BaseException], BaseException]
) -> BaseException:
    """``make_exit(original)`` raised in this module's ``except`` block, as a CLI does."""
    try:
        try:
            raise original
        except BaseException as caught:
            raise make_exit(caught)  # noqa: B904 - the shape of the hosts we meet
    except BaseException as exit_:
        return exit_


@pytest.mark.parametrize(
    "make_exit",
    [
        pytest.param(lambda e: SystemExit(1), id="sys.exit(1)"),
        pytest.param(lambda e: SystemExit("Error: it failed"), id="sys.exit(str)"),
        pytest.param(lambda e: click.ClickException(str(e)), id="ClickException"),
        pytest.param(lambda e: click.Abort(), id="Abort"),
    ],
)
@pytest.mark.parametrize(
    ("mechanism", "handled", "ask"),
    [("capture_errors", True, False), ("capture_exception", True, True), ("asgi", False, True)],
)
def test_a_failing_exit_reports_the_crash_behind_it(make_exit, mechanism, handled, ask) -> None:
    host = Host()  # no consent yet: an exit is a crash, it may ask
    exit_ = _exit_while_handling(ValueError("the original"), make_exit)

    host.reporter().report(exit_, mechanism, handled=handled, ask=ask)

    [captured] = host.submitted
    assert (captured.mechanism, captured.handled) == ("exit", False)
    [original] = captured.exceptions  # the original's chain, not the exit's
    assert (original.qualname, original.message) == ("ValueError", "the original")
    assert original.frames[-1][2] == "_exit_while_handling"  # the original's frames
    assert host.noted == ["exit"]


def test_an_exit_passing_several_wrappers_reports_its_crash_once() -> None:
    host = Host()
    reporter = host.reporter()
    exit_ = _exit_while_handling(ValueError("x"), lambda e: SystemExit(1))
    for _ in range(3):  # the command's wrapper, the group's, then the excepthook
        reporter.report(exit_, "capture_errors", handled=True, ask=False)
    reporter.report(exit_.__context__, "excepthook", handled=False)  # type: ignore[arg-type]
    assert len(host.submitted) == 1


def test_a_crash_already_reported_is_not_reported_again_by_its_exit() -> None:
    """A decorated library call reported it (consent given); then the CLI exited with it."""
    host = Host()
    host.granted = True
    reporter = host.reporter()
    exit_ = _exit_while_handling(ValueError("x"), lambda e: SystemExit(1))
    reporter.report(exit_.__context__, "capture_errors", handled=True, ask=False)  # type: ignore[arg-type]
    reporter.report(exit_, "capture_errors", handled=True, ask=False)
    assert [c.mechanism for c in host.submitted] == ["capture_errors"]


@pytest.mark.parametrize(
    "exit_",
    [
        pytest.param(_exit_while_handling(ValueError("x"), lambda e: SystemExit(0)), id="exit 0"),
        pytest.param(
            _exit_while_handling(ValueError("x"), lambda e: click.BadParameter("x")),
            id="BadParameter",
        ),
        pytest.param(
            _exit_while_handling(KeyboardInterrupt(), lambda e: click.Abort()), id="Ctrl-C"
        ),
        pytest.param(_raised(SystemExit(2)), id="nothing behind it"),
        pytest.param(_raised(click.UsageError("no such option")), id="UsageError"),
        pytest.param(
            _exit_while_handling(UsageError("bad flag"), lambda e: SystemExit(1)),
            id="an ignored original",
        ),
        pytest.param(
            _exit_while_handling(ValueError("x"), lambda e: IgnoredExit("y")),
            id="an ignored exit",
        ),
    ],
)
@pytest.mark.parametrize("granted", [True, False])
def test_exits_that_are_no_crash(exit_: BaseException, granted: bool) -> None:
    assert isinstance(exit_, (SystemExit, click.ClickException, click.Abort))
    host = Host()
    host.granted = granted
    reporter = host.reporter(ignore=(UsageError, IgnoredExit))
    reporter.report(exit_, "capture_errors", handled=True, ask=False)
    reporter.report(exit_, "capture_exception", handled=True)
    assert (host.submitted, host.noted) == ([], [])


def _filtered_host(should_report: Callable[[BaseException], Any]) -> tuple[Host, Reporter]:
    host = Host()
    host.should_report = should_report
    return host, host.reporter(ignore=(UsageError, IgnoredExit))


def test_should_report_drops_what_it_refuses_and_keeps_the_rest() -> None:
    seen: list[tuple[str, bool]] = []

    def should_report(exc: BaseException) -> bool:
        seen.append((type(exc).__name__, threading.current_thread() is threading.main_thread()))
        return not isinstance(exc, ConnectionError)

    host, reporter = _filtered_host(should_report)
    reporter.report(_raised(ConnectionRefusedError("refused")), "excepthook", handled=False)
    reporter.report(_raised(ValueError("a bug")), "excepthook", handled=False)
    exit_ = _exit_while_handling(ConnectionResetError("reset"), lambda e: SystemExit(1))
    reporter.report(exit_, "capture_errors", handled=True, ask=False)

    assert [c.exceptions[-1].qualname for c in host.submitted] == ["ValueError"]
    assert host.noted == ["excepthook"]
    # On the host's thread; given the crash behind an exit, never the exit.
    assert seen == [
        ("ConnectionRefusedError", True),
        ("ValueError", True),
        ("ConnectionResetError", True),
    ]


def test_should_report_runs_after_ignore_and_only_when_something_may_be_kept() -> None:
    seen: list[str] = []
    host, reporter = _filtered_host(lambda exc: seen.append(type(exc).__name__) or True)
    reporter.report(_raised(UsageError("ignored")), "excepthook", handled=False)
    reporter.report(_raised(ValueError("maybe handled")), "capture_errors", handled=True, ask=False)
    assert seen == []
    assert host.submitted == []


@pytest.mark.parametrize(
    "failure", [RuntimeError("the filter's bug"), KeyboardInterrupt(), SystemExit(3)]
)
def test_a_failing_should_report_is_logged_once_and_drops_the_report(
    failure: BaseException, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[int] = []

    def should_report(exc: BaseException) -> bool:
        calls.append(1)
        raise failure

    from otel_telemetry import _log

    _log._warned.discard("should_report:acme")
    host, reporter = _filtered_host(should_report)
    with caplog.at_level(logging.WARNING, logger="otel_telemetry"):
        for message in ("first secret", "second secret"):
            reporter.report(_raised(ValueError(message)), "excepthook", handled=False)

    assert calls == [1, 1]  # later reports still ask the filter
    assert host.submitted == []
    [record] = caplog.records
    text = record.getMessage()
    assert "should_report" in text
    assert "test_a_failing_should_report_is_logged_once_and_drops_the_report" in text
    assert type(failure).__name__ in text
    assert "secret" not in text
    assert "the filter's bug" not in text


def test_a_report_kept_without_asking_is_handled() -> None:
    host = Host()
    host.granted = True
    host.reporter().report(_raised(ValueError("x")), "logging", handled=True, ask=False)
    [captured] = host.submitted
    assert (captured.mechanism, captured.handled) == ("logging", True)
    assert host.noted == []


def test_the_host_exception_propagates_whatever_the_filter_raises() -> None:
    def should_report(exc: BaseException) -> Optional[bool]:
        raise KeyboardInterrupt

    _, reporter = _filtered_host(should_report)
    capture = ErrorCapture(reporter)
    exit_ = _exit_while_handling(ValueError("x"), lambda e: SystemExit(1))

    with pytest.raises(SystemExit) as raised, capture:
        raise exit_
    assert raised.value is exit_
    assert sys.exc_info() == (None, None, None)


def test_a_click_group_wrapped_as_a_console_script_entry(capsys: pytest.CaptureFixture) -> None:
    """``main = telemetry.capture_errors(cli)``: the group still runs, exits as it did."""
    host = Host()

    @click.group()
    def cli() -> None:
        """The host's group."""

    @cli.command()
    def fine() -> None:
        click.echo("fine")

    @cli.command()
    def fails() -> None:
        try:
            {}["missing"]  # the host's bug
        except KeyError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(1)

    main = ErrorCapture(host.reporter())(cli)

    assert main.__wrapped__ is cli  # type: ignore[attr-defined]
    with pytest.raises(SystemExit) as ok:
        main(["fine"])
    assert ok.value.code == 0
    assert host.submitted == []
    with pytest.raises(SystemExit) as failed:
        main(["fails"])
    assert failed.value.code == 1
    [captured] = host.submitted
    assert (captured.mechanism, captured.exceptions[-1].qualname) == ("exit", "KeyError")
    assert capsys.readouterr() == ("fine\n", "Error: 'missing'\n")


# -- reports made inside a report (a host's signal handler, filter, or __del__) ------------


def test_a_report_made_inside_a_report_is_made_right_after_it() -> None:
    # The host's filter runs on our path; one that reports (as a signal handler that
    # fires there would) is not made inside ours, which may hold what it waits for, but
    # right after it, on the same thread.
    host = Host()
    order: list[str] = []

    def should_report(exc: BaseException) -> bool:
        order.append(str(exc))
        if str(exc) == "outer":
            reporter.report(_raised(ValueError("inner")), "capture_exception", handled=False)
            order.append("inner queued")
        return True

    host.should_report = should_report
    reporter = host.reporter()
    reporter.report(_raised(ValueError("outer")), "capture_exception", handled=False)

    assert order == ["outer", "inner queued", "inner"]
    assert [c.exceptions[-1].message for c in host.submitted] == ["outer", "inner"]
    assert reporter._reporting == {}


def test_reports_made_inside_one_report_are_bounded() -> None:
    # A handler that reports faster than we do (a timer every 300 µs) cannot keep the
    # host's thread in our report forever: at most _MAX_NESTED are made after it.
    host = Host()

    def should_report(exc: BaseException) -> bool:
        # Every report asks for one more, as a storm of signals would.
        reporter.report(_raised(ValueError(f"{exc}+")), "capture_exception", handled=False)
        return True

    host.should_report = should_report
    reporter = host.reporter(storm=(10_000, 60.0))
    reporter.report(_raised(ValueError("x")), "capture_exception", handled=False)

    assert len(host.submitted) == 1 + 32


def _finished_frame() -> Any:
    return sys._getframe()


def test_a_thread_marked_by_a_report_that_never_finished_still_reports() -> None:
    # A host's signal handler that raises past our `finally` leaves the thread's mark:
    # the frame it names is no longer running, so the next report is made as usual.
    host = Host()
    reporter = host.reporter()
    reporter._reporting[threading.get_ident()] = (_finished_frame(), [])

    reporter.report(_raised(ValueError("later")), "capture_exception", handled=False)

    assert [c.exceptions[-1].message for c in host.submitted] == ["later"]
    assert reporter._reporting == {}


def test_other_threads_report_while_one_is_in_a_report() -> None:
    # The mark is per thread: a report in progress on one thread holds no other back.
    host = Host()
    entered, release = threading.Event(), threading.Event()

    def should_report(exc: BaseException) -> bool:
        if str(exc) == "slow":
            entered.set()
            release.wait(10)
        return True

    host.should_report = should_report
    reporter = host.reporter()
    slow = threading.Thread(
        target=reporter.report,
        args=(_raised(ValueError("slow")), "capture_exception"),
        kwargs={"handled": False},
    )
    slow.start()
    entered.wait(10)
    reporter.report(_raised(ValueError("fast")), "capture_exception", handled=False)
    release.set()
    slow.join(10)

    assert sorted(c.exceptions[-1].message for c in host.submitted) == ["fast", "slow"]
