"""The host's package loggers: the exception of an ERROR record is reported, nothing else changes.

A record logged at ERROR or above with an exception (``log.exception(...)``,
``log.error(..., exc_info=True)``) on a logger named after one of the host's packages
(``acme``, ``acme.jobs``...) hands its exception to the reporter, mechanism ``logging``.
Only the exception: the record's message, arguments and extra fields are never read,
formatted or sent.

How: one handler of ours on each package logger (``logging.getLogger("acme")``), none on
the root logger, no filter, no level, no change to propagation. Being there is not
neutral: ``Logger.callHandlers`` prints a record through ``logging.lastResort`` (the
stderr of a host that never configured logging) only when it found no handler at all
along the record's chain, and ours would count. So when ours is the only kind found
along that chain (the same walk: every logger up to the root, or to the first with
``propagate`` false), ours does what CPython does when it finds none: the record goes
to ``lastResort`` if its level allows, or, with ``lastResort`` set to None,
``No handlers could be found for logger "..."`` is written once (when
``raiseExceptions``). The host's stderr is byte for byte what it would be without us,
down to the "Call stack" that ``Handler.handleError`` prints for a record that fails to
format (see ``_disguised``). Several handlers of ours in one chain (two libraries, or one
package twice) pass a record on once, through the first.

``handle`` is overridden: no handler lock, no filter, nothing formatted; a record below
ERROR costs a comparison or two (a WARNING or above also the walk up its chain). No
lock of ours is held either, so a fork needs nothing renewed.

``logging`` costs milliseconds to import: ``install`` never imports it. A host that has
not imported it yet is watched for (``_AfterImport``, on ``sys.meta_path`` until then):
ours is attached as soon as ``logging`` has been executed, before any code of the host
can log (unless ``logging`` is loaded by a finder placed before ours, or by a loader
without ``exec_module``: then ``install()`` called again attaches ours). Limits:

* A logging configuration that removes the package logger's handlers
  (``logging.config.dictConfig`` or ``fileConfig`` configuring ``acme``, or one of its
  parents with ``acme`` existing; ``logger.handlers.clear()``) removes ours: records
  are not seen until ``install()`` is called again, which puts ours back.
* A logger below the package with ``propagate`` false (``acme.noisy``) keeps its records
  from ours, as it does from every handler above it.
* ``install`` creates the package logger itself when no module created it yet. A
  ``dictConfig(disable_existing_loggers=True)`` that does not name it then disables it,
  which matters only to records logged on ``acme`` itself by code that first calls
  ``getLogger("acme")`` after that.
* Ours passes a record on to ``lastResort`` only when ``Logger.callHandlers`` called
  it (a host calling handlers itself would not get one from CPython either), and only
  when it is called: a level the host sets on our handler keeps those records from
  ``lastResort`` too.
"""

from __future__ import annotations

import os
import sys
import threading

TYPE_CHECKING = False
if TYPE_CHECKING:
    import logging
    from types import FunctionType, ModuleType
    from typing import Any, Callable, Optional

_MARK = "otel_telemetry_log_capture"
"""A class attribute set to True on our handlers, whatever copy of this module made them."""
_ERROR = 40  # logging.ERROR, without importing logging
_guard = threading.local()


class LogCapture:
    """Reports the exceptions of ERROR records of the host's package loggers.

    Args:
        report: takes the exception of such a record; called on the logging thread.
        prefixes: the host's packages; their loggers and their children's are watched.
    """

    def __init__(self, report: Callable[[BaseException], None], prefixes: tuple[str, ...]) -> None:
        self._report = report
        # The root logger is never one of ours to touch (getLogger("root") is the root).
        self._prefixes = tuple(dict.fromkeys(p for p in prefixes if p and p != "root"))
        self._handler: Optional[logging.Handler] = None
        self._loggers: list[logging.Logger] = []
        self.installed = False
        """Reporting is on: ``install`` was called and ``uninstall`` was not since."""

    def install(self) -> None:
        """Start seeing the package loggers' records; idempotent, cheap, never imports logging.

        With ``logging`` imported, ours is put on each package logger where it is not
        (again, after a logging configuration removed it); otherwise as soon as the host
        imports ``logging``.
        """
        self.installed = True
        if "logging" in sys.modules:
            self.attach()
            return
        _AFTER_IMPORT.wait(self)
        if "logging" in sys.modules:  # imported by another thread meanwhile
            _AFTER_IMPORT.forget(self)
            self.attach()

    def uninstall(self) -> None:
        """Stop; remove our handler from the loggers it was put on, where it still is."""
        self.installed = False
        _AFTER_IMPORT.forget(self)
        handler, loggers, self._loggers = self._handler, self._loggers, []
        for logger in loggers if handler is not None else ():
            try:
                if handler in logger.handlers:
                    logger.removeHandler(handler)
            except Exception:
                pass

    def attach(self) -> None:
        """Put ours on each package logger that lacks it (``logging`` is imported)."""
        if not self.installed:
            return
        try:
            import logging

            if self._handler is None:
                self._handler = _handler_type()(self)
            for prefix in self._prefixes:
                logger = logging.getLogger(prefix)
                if self._handler not in logger.handlers:
                    logger.addHandler(self._handler)  # a no-op if another thread just did
                if logger not in self._loggers:
                    self._loggers.append(logger)
        except Exception:
            pass  # a host's logger class that fails: its records are not seen, nothing else

    def seen(self, record: logging.LogRecord) -> None:
        """Report the exception of ``record`` if it is ERROR or above; never raises.

        Reads only ``levelno`` and ``exc_info``. A report that logs to a package logger
        (a ``should_report`` of the host's) is not reported again from inside.
        """
        if not self.installed or getattr(_guard, "active", False):
            return
        try:
            if record.levelno < _ERROR or not record.exc_info:
                return
            exc = record.exc_info[1]
            if not isinstance(exc, BaseException):
                return
        except Exception:
            return
        _guard.active = True
        try:
            self._report(exc)
        except Exception:
            pass
        finally:
            _guard.active = False


def _pass_on(handler: logging.Handler, capture: LogCapture, record: Any) -> Any:
    """What ``callHandlers`` would do after finding no handler, if ours is all it finds.

    Reports the record's exception first. Returns ``logging.lastResort`` when the record
    is to go to it (the caller, ``handle``, calls it: see ``_disguised``), else None,
    having written the no-handlers message if that is what CPython would do.
    """
    capture.seen(record)
    try:
        import logging

        last = logging.lastResort
        levelno = record.levelno
        if last:
            if levelno < last.level:
                return None
        elif not logging.raiseExceptions:
            return None
        logger = _calling_logger(sys._getframe(2))  # _pass_on < handle < callHandlers
        if logger is None or not _first_of_ours(handler, logger, levelno):
            return None
        if last:
            return last
        manager = logger.manager
        if not manager.emittedNoHandlerWarning:
            sys.stderr.write(f'No handlers could be found for logger "{logger.name}"\n')
            manager.emittedNoHandlerWarning = True
    except Exception:
        pass
    return None


def _calling_logger(frame: Any) -> Optional[logging.Logger]:
    """The logger whose ``callHandlers`` is running in ``frame``, or None if it is not that.

    Not ``record.name``: a record can be handed to another logger's ``handle`` (a
    socket or queue receiver), and the walk starts where ``callHandlers`` started.
    """
    import logging

    code = frame.f_code
    # By file, not by code object: a host may have wrapped Logger.callHandlers.
    if code.co_name != "callHandlers" or os.path.dirname(code.co_filename) != _LOGGING_DIR[0]:
        return None
    logger = frame.f_locals.get("self")
    return logger if isinstance(logger, logging.Logger) else None


def _first_of_ours(handler: logging.Handler, logger: logging.Logger, levelno: int) -> bool:
    """True when ``callHandlers`` finds only handlers of ours, and ``handler`` is the first called.

    The same walk as ``Logger.callHandlers``: every handler counts, whatever its level.
    """
    first: Optional[logging.Handler] = None
    current: Optional[logging.Logger] = logger
    while current:
        for found in current.handlers:
            if getattr(found, _MARK, False) is not True:
                return False  # a handler of the host's: logging finds one, no last resort
            if first is None and levelno >= found.level:
                first = found
        current = current.parent if current.propagate else None
    return first is handler


_LOGGING_DIR = [""]
"""The ``logging`` package's directory, once our handler class is made."""


def _logging_dir() -> str:
    import logging

    path = getattr(logging, "__path__", None)
    return str(path[0]) if path else ""


_handler_class: Optional[Callable[[LogCapture], logging.Handler]] = None


def _handler_type() -> Callable[[LogCapture], logging.Handler]:
    """Our handler class, made once ``logging`` is imported (it subclasses ``logging.Handler``)."""
    global _handler_class
    if _handler_class is None:
        _handler_class = _define_handler()
    return _handler_class


def _define_handler() -> Callable[[LogCapture], logging.Handler]:
    import logging

    class PackageLogHandler(logging.Handler):
        """Hands ERROR records' exceptions to a ``LogCapture``; prints nothing of its own.

        A ``logging.Handler`` (hosts walk ``logger.handlers`` and set formatters or levels),
        whose ``handle`` does everything: no lock, no filter, no ``emit``.
        """

        otel_telemetry_log_capture = True

        def __init__(self, capture: LogCapture) -> None:
            super().__init__(logging.NOTSET)
            self.capture = capture

        def handle(self, record: logging.LogRecord) -> bool:
            last = _pass_on(self, self.capture, record)
            if last is not None:
                last.handle(record)  # as callHandlers would: what it raises is CPython's
            return True

        def emit(self, record: logging.LogRecord) -> None:
            """Never called: ``handle`` does not emit."""

    _disguised(vars(PackageLogHandler)["handle"])
    _LOGGING_DIR[0] = _logging_dir()
    return PackageLogHandler


def _disguised(handle: FunctionType) -> None:
    """File ``handle``'s code under the ``logging`` directory, so its frame reads as logging's.

    ``Handler.handleError`` (a record that fails to format) prints the "Call stack" of
    the host's logging call: it walks up from the failing frame past every frame whose
    file is in the ``logging`` directory. When a record goes to ``lastResort`` from
    ``handle``, ``handle``'s frame is on that walk; filed as ours, the walk would stop
    there and print our frames too. The name stays recognisably ours in a traceback.
    """
    folder = _logging_dir()
    if folder:
        name = os.path.join(folder, "<otel_telemetry.capture._logging>")
        handle.__code__ = handle.__code__.replace(co_filename=name)


class _AfterImport:
    """Attaches waiting captures right after ``logging`` has been imported.

    On ``sys.meta_path`` while a capture waits: for every import of a module not yet
    imported, ``find_spec`` compares a name and returns None (the usual finders go on).
    For ``logging`` it asks the finders after it, and wraps the loader they found, for
    that one import: the wrapper puts the real loader back on the spec and the module
    before executing it, so the host's ``logging`` never sees ours. It is taken out of
    ``sys.meta_path`` once ``logging`` is imported, or no capture waits any more.

    Args:
        name: the module watched for (``logging``; another in tests).
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._waiting: list[LogCapture] = []
        self._asking = threading.local()

    def wait(self, capture: LogCapture) -> None:
        """Attach ``capture`` once the module is imported."""
        if capture not in self._waiting:
            self._waiting.append(capture)
        if self not in sys.meta_path:
            sys.meta_path.insert(0, self)

    def forget(self, capture: LogCapture) -> None:
        """``capture`` no longer waits; the finder leaves when none does."""
        if capture in self._waiting:
            self._waiting.remove(capture)
        if not self._waiting:
            self._leave()

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        """None, except for the watched module: its usual spec, with its loader wrapped."""
        if name != self.name or getattr(self._asking, "active", False):
            return None
        self._asking.active = True
        try:
            spec = self._usual_spec(name, path, target)
        except Exception:
            return None  # the usual finders then run again, and raise as without us
        finally:
            self._asking.active = False
        loader = getattr(spec, "loader", None)
        if loader is None or not hasattr(loader, "exec_module"):
            return None
        spec.loader = _AttachAfterExec(loader, spec, self._imported)
        return spec

    def _usual_spec(self, name: str, path: Any, target: Any) -> Any:
        for finder in list(sys.meta_path):
            find = getattr(finder, "find_spec", None)
            if finder is self or find is None:
                continue
            spec = find(name, path, target)
            if spec is not None:
                return spec
        return None

    def _imported(self) -> None:
        self._leave()
        waiting, self._waiting = self._waiting, []
        for capture in waiting:
            capture.attach()

    def _leave(self) -> None:
        while self in sys.meta_path:
            try:
                sys.meta_path.remove(self)
            except ValueError:
                break


class _AttachAfterExec:
    """The loader of one import of ``logging``: the real one's, then ``done``."""

    def __init__(self, loader: Any, spec: Any, done: Callable[[], None]) -> None:
        self._loader = loader
        self._spec = spec
        self._done = done

    def create_module(self, spec: Any) -> Optional[ModuleType]:
        create = getattr(self._loader, "create_module", None)
        return None if create is None else create(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._spec.loader = self._loader
        try:
            module.__loader__ = self._loader
        except Exception:
            pass
        self._loader.exec_module(module)
        try:
            self._done()
        except Exception:
            pass  # never in the way of the host's import

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)


_AFTER_IMPORT = _AfterImport("logging")
