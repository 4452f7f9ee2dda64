"""The package loggers' capture (``capture/_logging.py``), in process.

What the host's logging prints must be what it prints without us; the subprocess tests
(``tests/test_capture_logging.py``) compare whole stderr outputs, these compare what
``lastResort`` and the host's handlers are given, scenario by scenario.
"""

from __future__ import annotations

import itertools
import logging
import sys
from collections.abc import Iterator
from typing import Any, Callable

import pytest

from otel_telemetry.capture._logging import LogCapture, _AfterImport

_names = itertools.count()


class Records(logging.Handler):
    """A handler that keeps what it is given, formatting nothing."""

    def __init__(self, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class Host:
    """A package of the host's with its loggers, and our captures of it."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.name = f"acme_unit_{next(_names)}"
        self.reports: list[BaseException] = []
        self.captures: list[LogCapture] = []
        self.last_resort = Records(logging.WARNING)
        self._monkeypatch = monkeypatch
        self._unconfigured = False
        monkeypatch.setattr(logging, "lastResort", self.last_resort)
        monkeypatch.setattr(logging, "raiseExceptions", True)
        monkeypatch.setattr(logging.Logger.manager, "emittedNoHandlerWarning", False)

    def unconfigure(self) -> None:
        # An unconfigured host: the handlers pytest puts on the root logger for the test's
        # call (after the fixtures) taken away until the test ends.
        if not self._unconfigured:
            self._monkeypatch.setattr(logging.root, "handlers", [])
            self._unconfigured = True

    def logger(self, suffix: str = "") -> logging.Logger:
        self.unconfigure()
        return logging.getLogger(self.name + suffix)

    def capture(
        self, report: Callable[[BaseException], None] | None = None, prefix: str = ""
    ) -> LogCapture:
        self.unconfigure()
        capture = LogCapture(report or self.reports.append, (prefix or self.name,))
        capture.install()
        self.captures.append(capture)
        return capture

    def close(self) -> None:
        for capture in self.captures:
            capture.uninstall()
        for name in list(logging.Logger.manager.loggerDict):
            if name == self.name or name.startswith((self.name + ".", self.name + "_")):
                logger = logging.Logger.manager.loggerDict.pop(name)
                if isinstance(logger, logging.Logger):
                    logger.handlers.clear()


@pytest.fixture
def host(monkeypatch: pytest.MonkeyPatch) -> Iterator[Host]:
    made = Host(monkeypatch)
    yield made
    made.close()


def _failing() -> ValueError:
    try:
        raise ValueError("the page is gone")
    except ValueError as exc:
        return exc


def _log_exception(logger: logging.Logger, level: int = logging.ERROR) -> ValueError:
    try:
        raise ValueError("the page is gone")
    except ValueError as exc:
        logger.log(level, "failed", exc_info=True)
        return exc


class Untouchable:
    """A message or argument our capture must never turn into text."""

    def __init__(self) -> None:
        self.read = 0

    def __str__(self) -> str:
        self.read += 1
        return "alice@example.com"

    __repr__ = __str__


# -- what is reported ------------------------------------------------------------------


def test_an_error_with_its_exception_is_reported_without_reading_the_message(host):
    seen = Records()
    host.logger().addHandler(seen)  # the host's own handler, which formats nothing
    host.capture()
    message, argument = Untouchable(), Untouchable()

    try:
        raise ValueError("the page is gone")
    except ValueError as exc:
        host.logger().exception(message, argument, extra={"secret": "s3cret"})
        raised = exc

    assert host.reports == [raised]
    assert (message.read, argument.read) == (0, 0)
    assert seen.records[0].exc_text is None  # nothing formatted the traceback either


@pytest.mark.parametrize("suffix", ["", ".jobs", ".jobs.deep"])
def test_the_package_logger_and_its_children_are_seen(host, suffix):
    host.capture()

    exc = _log_exception(host.logger(suffix), logging.CRITICAL)

    assert host.reports == [exc]


def test_other_loggers_are_not_seen(host):
    host.capture()

    _log_exception(logging.getLogger(host.name + "_other"))  # a prefix, not a package
    _log_exception(logging.getLogger("other"))
    _log_exception(logging.getLogger())

    assert host.reports == []


def test_below_error_or_without_an_exception_nothing_is_reported(host):
    host.capture()
    logger = host.logger(".jobs")

    _log_exception(logger, logging.WARNING)
    logger.error("no exception here")
    logger.exception("outside of an except block")  # exc_info (None, None, None)
    logger.error("not an exception", exc_info=(None, "text", None))  # type: ignore[arg-type]

    assert host.reports == []


def test_two_captures_of_one_package_each_see_it_and_last_resort_prints_once(host):
    other: list[BaseException] = []
    host.capture()
    host.capture(other.append)

    exc = _log_exception(host.logger(".jobs"))

    assert host.reports == [exc]
    assert other == [exc]
    assert len(host.last_resort.records) == 1


def test_a_package_and_its_subpackage_in_two_captures_each_see_their_records(host):
    plugins: list[BaseException] = []
    host.capture()
    host.capture(plugins.append, prefix=host.name + ".plugins")

    in_plugins = _log_exception(host.logger(".plugins.x"))
    in_core = _log_exception(host.logger(".core"))

    assert host.reports == [in_plugins, in_core]
    assert plugins == [in_plugins]
    assert len(host.last_resort.records) == 2


def test_two_libraries_each_see_their_own_package(host):
    beta: list[BaseException] = []
    host.capture()
    host.capture(beta.append, prefix=host.name + "_beta")

    in_acme = _log_exception(host.logger(".jobs"))
    in_beta = _log_exception(logging.getLogger(host.name + "_beta.jobs"))

    assert host.reports == [in_acme]
    assert beta == [in_beta]
    assert len(host.last_resort.records) == 2


def test_a_report_that_logs_into_the_package_is_not_reported_again(host):
    def report(exc: BaseException) -> None:
        host.reports.append(exc)
        _log_exception(host.logger(".filter"))  # the host's should_report logs

    host.capture(report)

    exc = _log_exception(host.logger())

    assert host.reports == [exc]


def test_a_failing_report_never_reaches_the_hosts_logging_call(host):
    def report(exc: BaseException) -> None:
        raise RuntimeError("our bug")

    host.capture(report)

    _log_exception(host.logger())  # does not raise

    assert len(host.last_resort.records) == 1


def test_handle_takes_no_lock_and_filters_and_formats_nothing(host, monkeypatch):
    host.capture()
    [ours] = host.logger().handlers
    called: list[str] = []
    for name in ("acquire", "release", "filter", "format", "emit"):
        monkeypatch.setattr(ours, name, lambda *a, name=name: called.append(name))

    _log_exception(host.logger())
    host.logger().warning("a warning")
    host.logger().info("an info")

    assert called == []
    assert len(host.reports) == 1


# -- the host's output does not change -------------------------------------------------


def _configure(host: Host, scenario: str) -> Records:
    """Set up the host's logging as in ``scenario``; return the host's handler."""
    mine = Records()
    if scenario == "handler on the root logger":
        logging.root.addHandler(mine)
    elif scenario == "handler on the package logger":
        host.logger().addHandler(mine)
    elif scenario == "handler on the root, package not propagating":
        logging.root.addHandler(mine)
        host.logger().propagate = False
    elif scenario == "subpackage not propagating":
        logging.root.addHandler(mine)
        host.logger(".jobs").propagate = False
    elif scenario == "handler above its level":
        mine.setLevel(logging.CRITICAL)  # found by callHandlers, even when not called
        host.logger().addHandler(mine)
    return mine


SCENARIOS = [
    "unconfigured",
    "handler on the root logger",
    "handler on the package logger",
    "handler on the root, package not propagating",
    "subpackage not propagating",
    "handler above its level",
]


def _log_everything(host: Host) -> None:
    for suffix in ("", ".jobs"):
        logger = host.logger(suffix)
        logger.setLevel(logging.DEBUG)
        logger.debug("debug")
        logger.info("info")
        logger.warning("warning")
        _log_exception(logger)
        logger.critical("critical")


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_hosts_handlers_and_last_resort_get_what_they_get_without_us(host, scenario):
    host.unconfigure()

    def run(with_capture: bool) -> tuple[list[str], list[str]]:
        for name in (host.name, host.name + ".jobs"):
            logging.Logger.manager.loggerDict.pop(name, None)
        logging.root.handlers = []
        host.last_resort.records.clear()
        mine = _configure(host, scenario)
        capture = host.capture() if with_capture else None
        _log_everything(host)
        if capture is not None:
            capture.uninstall()
        return (
            [f"{r.name}:{r.levelname}" for r in mine.records],
            [f"{r.name}:{r.levelname}" for r in host.last_resort.records],
        )

    without = run(False)
    with_us = run(True)

    assert with_us == without
    assert without != ([], [])  # the scenario printed something


def test_with_last_resort_none_the_no_handlers_line_is_written_once(host, monkeypatch, capsys):
    monkeypatch.setattr(logging, "lastResort", None)

    def run(with_capture: bool) -> str:
        logging.Logger.manager.emittedNoHandlerWarning = False
        capture = host.capture() if with_capture else None
        host.logger(".jobs").warning("first")
        host.logger().error("second")
        if capture is not None:
            capture.uninstall()
        return capsys.readouterr().err

    without = run(False)

    assert run(True) == without
    assert without == f'No handlers could be found for logger "{host.name}.jobs"\n'


def test_without_raise_exceptions_nothing_is_written(host, monkeypatch, capsys):
    monkeypatch.setattr(logging, "lastResort", None)
    monkeypatch.setattr(logging, "raiseExceptions", False)
    host.capture()

    exc = _log_exception(host.logger())

    assert capsys.readouterr().err == ""
    assert host.reports == [exc]


def _bad_format(logger: logging.Logger) -> None:
    logger.warning("%d pages", "not a number")


def test_a_record_that_fails_to_format_prints_the_same_call_stack(host, monkeypatch, capsys):
    monkeypatch.setattr(logging, "lastResort", logging._StderrHandler(logging.WARNING))  # type: ignore[attr-defined]

    printed = []
    for with_capture in (False, True):  # the same line logs: the same call stack
        if with_capture:
            host.capture()
        _bad_format(host.logger())
        printed.append(capsys.readouterr().err)
    without, with_us = printed

    assert "Call stack:" in without
    assert "otel_telemetry" not in with_us
    assert with_us == without


def test_a_host_that_calls_handlers_itself_gets_no_last_resort_from_us(host):
    host.capture()
    [ours] = host.logger().handlers
    record = host.logger().makeRecord(host.name, logging.ERROR, "f", 1, "x", (), None)

    ours.handle(record)  # not through callHandlers: CPython would not print it either

    assert host.last_resort.records == []


# -- install and uninstall -------------------------------------------------------------


def test_install_is_idempotent_and_uninstall_removes_only_ours(host):
    mine = Records()
    host.logger().addHandler(mine)
    capture = host.capture()
    capture.install()

    assert [type(h).__name__ for h in host.logger().handlers] == ["Records", "PackageLogHandler"]
    assert logging.root.handlers == []

    capture.uninstall()
    capture.uninstall()

    assert host.logger().handlers == [mine]


def test_a_configuration_that_removed_ours_gets_it_back_at_the_next_install(host):
    capture = host.capture()
    host.logger().handlers.clear()  # what dictConfig does to a logger it configures

    _log_exception(host.logger())
    capture.install()
    exc = _log_exception(host.logger())

    assert host.reports == [exc]
    assert len(host.logger().handlers) == 1


def test_uninstall_leaves_a_logger_whose_handlers_the_host_replaced(host):
    capture = host.capture()
    mine = Records()
    host.logger().handlers = [mine]

    capture.uninstall()

    assert host.logger().handlers == [mine]


def test_a_handler_of_ours_left_behind_after_uninstall_reports_nothing(host):
    capture = host.capture()
    [ours] = host.logger().handlers
    capture.uninstall()
    host.logger(".copy").addHandler(ours)  # the host copied our handler elsewhere

    _log_exception(host.logger(".copy"))

    assert host.reports == []
    assert len(host.last_resort.records) == 1  # still only ours there: printed as without


def test_the_root_logger_is_never_given_a_handler(host):
    host.unconfigure()
    capture = LogCapture(host.reports.append, ("root",))
    capture.install()
    host.captures.append(capture)

    assert logging.root.handlers == []


# -- a host that imports logging after install -----------------------------------------


class Waiting:
    def __init__(self, module: str) -> None:
        self.module = module
        self.attached_after: list[bool] = []

    def attach(self) -> None:
        self.attached_after.append(getattr(sys.modules.get(self.module), "DONE", False))


@pytest.fixture
def probe_module(tmp_path, monkeypatch) -> Iterator[str]:
    name = f"logging_probe_{next(_names)}"
    (tmp_path / f"{name}.py").write_text("DONE = True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)


def test_a_capture_waiting_for_the_import_attaches_right_after_it(probe_module):
    watch = _AfterImport(probe_module)
    waiting = Waiting(probe_module)
    watch.wait(waiting)  # type: ignore[arg-type]
    assert sys.meta_path[0] is watch

    module = __import__(probe_module)

    assert waiting.attached_after == [True]  # after the module was executed
    assert watch not in sys.meta_path
    # The module never sees our loader.
    assert type(module.__loader__).__name__ == "SourceFileLoader"
    assert module.__spec__.loader is module.__loader__


def test_other_imports_pass_and_the_watch_leaves_when_nobody_waits(probe_module):
    watch = _AfterImport(probe_module)
    waiting = Waiting(probe_module)
    watch.wait(waiting)  # type: ignore[arg-type]

    assert watch.find_spec("json") is None
    watch.forget(waiting)  # type: ignore[arg-type]

    assert watch not in sys.meta_path
    __import__(probe_module)
    assert waiting.attached_after == []


def test_a_failing_attach_never_fails_the_hosts_import(probe_module):
    class Broken:
        def attach(self) -> Any:
            raise RuntimeError("our bug")

    watch = _AfterImport(probe_module)
    watch.wait(Broken())  # type: ignore[arg-type]

    assert __import__(probe_module).DONE is True
