"""The package loggers' capture (``capture/_logging.py``), in process.

What the host's logging prints must be what it prints without us; the subprocess tests
(``tests/test_capture_logging.py``) compare whole stderr outputs, these compare what
``lastResort`` and the host's handlers are given, scenario by scenario, and what the
host finds when it looks at its loggers and at the record factory.
"""

from __future__ import annotations

import itertools
import logging
import sys
from collections.abc import Iterator
from typing import Any, Callable

import pytest

from otel_telemetry.capture import _logging as capture_module
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
        # The process's factory as a host that never set one has it, restored at the end;
        # and, where there is one, a registry of captures of this test's own (a Telemetry
        # another test left installed would share ours).
        self.factory_before = logging.getLogRecordFactory()
        logging.setLogRecordFactory(logging.LogRecord)
        registry = getattr(capture_module, "_REGISTRY", None)
        if registry is not None:
            monkeypatch.setattr(capture_module, "_REGISTRY", type(registry)())

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

    def forget_loggers(self) -> None:
        for name in list(logging.Logger.manager.loggerDict):
            if name == self.name or name.startswith((self.name + ".", self.name + "_")):
                logger = logging.Logger.manager.loggerDict.pop(name)
                if isinstance(logger, logging.Logger):
                    logger.handlers.clear()

    def close(self) -> None:
        for capture in self.captures:
            capture.uninstall()
        self.forget_loggers()
        logging.setLogRecordFactory(self.factory_before)


@pytest.fixture
def host(monkeypatch: pytest.MonkeyPatch) -> Iterator[Host]:
    made = Host(monkeypatch)
    yield made
    made.close()


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


def test_an_exception_given_as_exc_info_is_reported(host):
    host.capture()
    try:
        raise KeyError("raw_markdown")
    except KeyError as caught:
        exc = caught
    host.logger(".jobs").error("later, outside the except block", exc_info=exc)

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


@pytest.mark.parametrize("setup", ["level above ERROR", "disabled", "logging.disable"])
def test_a_record_that_is_never_made_is_not_seen(host, setup):
    # The factory sees records as they are made: these make none.
    host.capture()
    logger = host.logger(".jobs")
    if setup == "level above ERROR":
        logger.setLevel(logging.CRITICAL)
    elif setup == "disabled":  # what dictConfig(disable_existing_loggers=True) does
        logger.disabled = True
    else:
        logging.disable(logging.ERROR)
    try:
        _log_exception(logger)
    finally:
        logging.disable(logging.NOTSET)

    assert host.reports == []
    control = _log_exception(host.logger(".other"))  # the capture was on
    assert host.reports == [control]


@pytest.mark.parametrize(
    "setup",
    ["filter dropping everything", "not propagating", "no handler anywhere"],
)
def test_whatever_the_host_does_with_the_record_its_exception_is_seen(host, setup):
    logger = host.logger(".jobs")
    if setup == "filter dropping everything":
        logger.addFilter(lambda record: False)
    elif setup == "not propagating":
        logger.propagate = False
    host.capture()

    exc = _log_exception(logger)

    assert host.reports == [exc]


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
    assert len(host.last_resort.records) == 2  # both records printed as without us


def test_a_failing_report_never_reaches_the_hosts_logging_call(host):
    def report(exc: BaseException) -> None:
        raise RuntimeError("our bug")

    other: list[BaseException] = []
    host.capture(report)
    host.capture(other.append)

    exc = _log_exception(host.logger())  # does not raise

    assert len(host.last_resort.records) == 1
    assert other == [exc]  # one capture's failure is not another's


def test_an_uninstalled_capture_reports_nothing(host):
    capture = host.capture()
    capture.uninstall()

    _log_exception(host.logger())

    assert host.reports == []
    assert len(host.last_resort.records) == 1


# -- the host's loggers are untouched --------------------------------------------------


def test_install_creates_no_logger_and_adds_no_handler(host):
    host.unconfigure()
    host.capture()
    host.capture(prefix="root")  # the root logger is never one of ours

    assert host.name not in logging.Logger.manager.loggerDict
    assert logging.root.handlers == []
    logger = host.logger()
    assert logger.handlers == []
    assert logger.hasHandlers() is False


def test_a_library_that_adds_its_handler_only_if_there_is_none_still_does(host):
    # The red team's case: a library setting up its logging after install.
    host.capture()
    library = host.logger()
    if not library.handlers:
        library.addHandler(Records())
    if not library.hasHandlers():
        library.addHandler(Records())
    [added] = library.handlers

    exc = _log_exception(library)

    assert [r.getMessage() for r in added.records] == ["failed"]
    assert host.last_resort.records == []  # the library's handler took it, as without us
    assert host.reports == [exc]


def test_a_logging_configuration_of_the_package_changes_nothing_for_us(host):
    host.capture()
    mine = Records()
    host.logger().handlers = [mine]  # what dictConfig does to a logger it configures

    exc = _log_exception(host.logger())

    assert host.reports == [exc]
    assert host.logger().handlers == [mine]


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
    elif scenario == "package handler only if none" and not host.logger().hasHandlers():
        host.logger().addHandler(mine)
    return mine


SCENARIOS = [
    "unconfigured",
    "handler on the root logger",
    "handler on the package logger",
    "handler on the root, package not propagating",
    "subpackage not propagating",
    "handler above its level",
    "package handler only if none",
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
        host.forget_loggers()
        logging.root.handlers = []
        host.last_resort.records.clear()
        # Installed first, as a host's package does at its import, before its logging.
        capture = host.capture() if with_capture else None
        mine = _configure(host, scenario)
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
    assert len(host.reports) == 2  # and the capture was on


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


# -- the record factory ----------------------------------------------------------------


class HostRecord(logging.LogRecord):
    """The record class of a host's factory."""


class HostFactory:
    """A host's record factory: ``chains`` to the one it replaced, or makes its own."""

    def __init__(self, chains: bool) -> None:
        self.replaced = logging.getLogRecordFactory()
        self.chains = chains
        self.calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
        logging.setLogRecordFactory(self)

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        self.calls.append((args, kwargs))
        make = self.replaced if self.chains else HostRecord
        record = make(*args, **kwargs)
        record.host_field = "set by the host"
        return record

    def remove(self) -> None:
        logging.setLogRecordFactory(self.replaced)


def test_ours_calls_the_factory_it_replaced_and_returns_its_record(host):
    made: list[logging.LogRecord] = []
    calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        calls.append((args, kwargs))
        made.append(HostRecord(*args, **kwargs))
        return made[-1]

    logging.setLogRecordFactory(factory)
    host.capture()
    mine = Records()
    host.logger().addHandler(mine)

    exc = _log_exception(host.logger())
    record = logging.getLogRecordFactory()("x", logging.INFO, "f", 1, "m", (), None, sinfo="s")

    assert mine.records[0] is made[0]
    assert record is made[1]
    assert calls[1] == (("x", logging.INFO, "f", 1, "m", (), None), {"sinfo": "s"})
    assert host.reports == [exc]


def test_what_the_replaced_factory_raises_reaches_the_host_as_without_us(host):
    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        raise LookupError("the host's factory bug")

    logging.setLogRecordFactory(factory)
    host.capture()

    with pytest.raises(LookupError, match="the host's factory bug"):
        host.logger().error("x")


def test_one_factory_for_every_capture_restored_when_the_last_one_leaves(host):
    first = host.capture()
    ours = logging.getLogRecordFactory()
    second = host.capture(prefix=host.name + "_beta")
    first.install()

    assert ours is not logging.LogRecord
    assert logging.getLogRecordFactory() is ours  # not a second one stacked on it

    first.uninstall()
    assert logging.getLogRecordFactory() is ours
    exc = _log_exception(logging.getLogger(host.name + "_beta"))
    assert host.reports == [exc]  # the second capture's, through the one factory

    second.uninstall()
    assert logging.getLogRecordFactory() is logging.LogRecord


def test_a_record_rebuilt_from_a_dict_is_not_seen_and_not_broken(host):
    host.capture()
    mine = Records()
    host.logger().addHandler(mine)
    try:
        raise ValueError("in another process")
    except ValueError:
        fields = {
            "name": host.name,
            "levelno": logging.ERROR,
            "levelname": "ERROR",
            "msg": "from a socket",
            "exc_info": sys.exc_info(),
        }

    host.logger().handle(logging.makeLogRecord(fields))  # what a socket receiver does

    assert [r.getMessage() for r in mine.records] == ["from a socket"]
    assert host.reports == []  # made empty by the factory, filled in afterwards


def test_a_host_factory_installed_after_ours_that_chains_keeps_both_working(host):
    capture = host.capture()
    factory = HostFactory(chains=True)
    mine = Records()
    host.logger().addHandler(mine)

    exc = _log_exception(host.logger())

    assert host.reports == [exc]
    assert mine.records[0].host_field == "set by the host"

    capture.uninstall()  # ours is inside the host's: left there, passing records through
    assert logging.getLogRecordFactory() is factory
    _log_exception(host.logger())
    assert host.reports == [exc]
    assert len(mine.records) == 2

    factory.remove()  # the host puts back what it replaced: ours, silent
    _log_exception(host.logger())
    assert host.reports == [exc]
    assert len(mine.records) == 3


def test_a_host_factory_removed_before_ours_lets_ours_restore_the_original(host):
    capture = host.capture()
    factory = HostFactory(chains=True)
    factory.remove()

    exc = _log_exception(host.logger())
    capture.uninstall()

    assert host.reports == [exc]
    assert logging.getLogRecordFactory() is logging.LogRecord


def test_a_host_factory_that_does_not_chain_drops_ours_until_install(host):
    capture = host.capture()
    factory = HostFactory(chains=False)
    mine = Records()
    host.logger().addHandler(mine)

    _log_exception(host.logger())

    assert host.reports == []  # ours is gone: nothing reported
    assert isinstance(mine.records[0], HostRecord)  # nothing broken

    capture.install()  # puts ours back, in front of the host's
    exc = _log_exception(host.logger())
    assert host.reports == [exc]
    assert isinstance(mine.records[1], HostRecord)
    assert len(factory.calls) == 2

    capture.uninstall()
    assert logging.getLogRecordFactory() is factory


def test_install_again_over_a_chaining_host_factory_reports_once(host):
    capture = host.capture()
    HostFactory(chains=True)  # calls ours
    capture.install()  # a new one of ours in front; the one inside is silent

    exc = _log_exception(host.logger())

    assert host.reports == [exc]


def test_ours_put_back_by_the_host_reports_again_without_stacking(host):
    capture = host.capture()
    ours = logging.getLogRecordFactory()
    factory = HostFactory(chains=False)
    factory.remove()  # ours is the factory again

    capture.install()
    exc = _log_exception(host.logger())

    assert logging.getLogRecordFactory() is ours
    assert host.reports == [exc]


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
