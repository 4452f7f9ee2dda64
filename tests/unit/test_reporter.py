"""The reporter (``capture/_reporter.py``) and ``capture_errors`` (``capture/_decorator.py``)."""

from __future__ import annotations

import asyncio
import functools
from typing import Any, Callable

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
        self, app: str = "acme", packages: tuple[str, ...] = ("tests",), storm=(5, 60.0)
    ) -> Reporter:
        def watch() -> None:
            self.watched += 1

        return Reporter(
            app=app,
            packages=packages,
            ignore=(UsageError,),
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

    with pytest.raises(ValueError, match=message):
        run(ErrorCapture(host.reporter()))

    [captured] = host.submitted
    assert captured.mechanism == "capture_errors"
    assert captured.exceptions[-1].message == message
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
