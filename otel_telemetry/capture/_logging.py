"""The host's package loggers: the exception of an ERROR record is reported, nothing else changes.

A record logged at ERROR or above with an exception (``log.exception(...)``,
``log.error(..., exc_info=True)``, ``exc_info=exc``) on a logger named after one of the
host's packages (``acme``, ``acme.jobs``..., not ``acmecorp``) hands its exception to the
reporter, mechanism ``logging``. Only the exception: the record's message, arguments and
extra fields are never read, formatted or sent.

How: a log record factory (``logging.setLogRecordFactory``), one per process for every
capture of it (several libraries, one package twice). Ours calls the factory it replaced
with the same arguments and returns exactly its record; then, for a record at ERROR or
above, it reads the record's ``name`` and ``exc_info``. A record below ERROR costs one
attribute read and a comparison, an ERROR record of another logger also a prefix test.
No lock is taken on a record's path, so a fork needs nothing renewed there. A report
that logs into the package while it runs (a ``should_report`` of the host's) is not
reported again from inside, and nothing a report raises reaches the host's logging call.

Nothing of the host's logging is touched: no handler, no filter, no level, no
propagation, and no logger (``install`` creates none). ``logger.handlers``,
``hasHandlers()`` (a library that sets up its logging only when there is none) and what
every handler and ``logging.lastResort`` print are what they are without us. The record
is seen as the host's logging call creates it: reported whatever the logger's filters,
handlers and propagation then do with it (a ``dictConfig`` that configures ``acme``
changes nothing here). A record that is never created is not seen: a logger whose level
is above ERROR, a ``disabled`` logger (what ``dictConfig(disable_existing_loggers=True)``
makes of the loggers that existed before it and that it does not name), or
``logging.disable``.

``uninstall`` (of the last capture of the process) puts back the factory ours replaced,
but only while ours is the one installed: a factory the host installed later and that
calls ours keeps working, ours in it passing every record through, reporting nothing.
``install`` with ours no longer the installed factory puts a new one of ours in front of
the host's (one of ours still called inside it stays silent), or makes ours report again
if the host put it back.

``logging`` costs milliseconds to import: ``install`` never imports it. A host that has
not imported it yet is watched for (``_AfterImport``, on ``sys.meta_path`` until then):
ours is set as soon as ``logging`` has been executed, before any code of the host can
log (unless ``logging`` is loaded by a finder placed before ours, or by a loader without
``exec_module``: then ``install()`` called again sets ours). Limits:

* A host that sets its own record factory later without calling the one it replaced
  (what ``getLogRecordFactory()`` returned) drops ours: nothing is reported until
  ``install()`` is called again.
* A record made elsewhere and handed to ``logger.handle`` is not seen: one rebuilt by
  ``logging.makeLogRecord`` (a socket receiver: the factory makes it empty, its fields
  are filled in afterwards) or one received from another process's queue. The process
  that logged it is the one to report it.
* A ``Logger`` subclass whose ``makeRecord`` does not call the factory, or a
  ``LogRecord`` made directly and handed to ``handle``, is not seen.
"""

from __future__ import annotations

import sys
import threading

from otel_telemetry._fork import renew_in_child

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType
    from typing import Any, Callable, Optional

    Factory = Callable[..., Any]

_ERROR = 40  # logging.ERROR, without importing logging
_guard = threading.local()


class LogCapture:
    """Reports the exceptions of ERROR records of the host's package loggers.

    Args:
        report: takes the exception of such a record; called on the logging thread,
            while the record is being made (before any handler sees it).
        prefixes: the host's packages; their loggers and their children's are watched.
    """

    def __init__(self, report: Callable[[BaseException], None], prefixes: tuple[str, ...]) -> None:
        self.report = report
        # The root logger is never one of ours (its records are named "root").
        self.names = frozenset(p for p in prefixes if p and p != "root")
        self.children = tuple(name + "." for name in sorted(self.names))
        self.installed = False
        """Reporting is on: ``install`` was called and ``uninstall`` was not since."""

    def install(self) -> None:
        """Start seeing the package loggers' records; idempotent, cheap, never imports logging.

        With ``logging`` imported, ours is made the record factory if it is not (again,
        after a host's factory replaced it); otherwise as soon as the host imports
        ``logging``.
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
        """Stop; the last capture of the process puts back the factory ours replaced.

        Only while ours is the installed factory: one the host set after ours, which
        calls ours, keeps working (ours in it passes every record through).
        """
        self.installed = False
        _AFTER_IMPORT.forget(self)
        _REGISTRY.remove(self)

    def attach(self) -> None:
        """Be one of the live captures, with ours the record factory (``logging`` is imported)."""
        if self.installed:
            _REGISTRY.add(self)

    def watches(self, name: str) -> bool:
        """True when ``name`` is the name of a package's logger or of one below it."""
        return name in self.names or name.startswith(self.children)


class _Registry:
    """The live captures of the process and the one record factory of ours they share.

    Captures are added and removed under a lock (renewed in a forked child); a record's
    path reads ``active``, ``watched`` and ``live`` without it: each is replaced whole,
    never changed in place.
    """

    def __init__(self) -> None:
        self.live: tuple[LogCapture, ...] = ()
        self.watched: tuple[frozenset[str], tuple[str, ...]] = (frozenset(), ())
        """The package names of every live capture, and their children's prefixes."""
        self.active: Optional[Factory] = None
        """Our factory that reports; any other of ours still called passes records through."""
        self.previous: dict[Factory, Factory] = {}
        """Each factory of ours that may still be called, with the factory it calls."""
        self._lock = threading.Lock()
        renew_in_child(self.after_fork_in_child)

    def after_fork_in_child(self) -> None:
        self._lock = threading.Lock()

    def add(self, capture: LogCapture) -> None:
        try:
            import logging

            with self._lock:
                if capture not in self.live:
                    self._set_live((*self.live, capture))
                current = logging.getLogRecordFactory()
                if current is self.active:
                    return
                if current in self.previous:
                    self.active = current  # one of ours, put back by the host: it reports again
                    return
                ours = _factory(current)
                self.previous[ours] = current
                self.active = ours
                logging.setLogRecordFactory(ours)
        except Exception:
            pass  # never in the host's way: its records are not seen, nothing else

    def _set_live(self, live: tuple[LogCapture, ...]) -> None:
        names = frozenset(name for capture in live for name in capture.names)
        self.watched = (names, tuple(name + "." for name in sorted(names)))
        self.live = live

    def remove(self, capture: LogCapture) -> None:
        if "logging" not in sys.modules:
            return  # never attached: nothing set
        try:
            import logging

            with self._lock:
                self._set_live(tuple(c for c in self.live if c is not capture))
                if self.live or self.active is None:
                    return
                ours, self.active = self.active, None
                if logging.getLogRecordFactory() is ours:
                    logging.setLogRecordFactory(self.previous.pop(ours))
        except Exception:
            pass


_REGISTRY = _Registry()


def _factory(previous: Factory) -> Factory:
    """A record factory that calls ``previous`` and returns its record, unchanged."""

    def make_record(*args: Any, **kwargs: Any) -> Any:
        record = previous(*args, **kwargs)  # what it raises is the host's, as without us
        try:
            if record.levelno >= _ERROR and make_record is _REGISTRY.active:
                _seen(record)
        except Exception:
            pass  # a record that is not a LogRecord (makeLogRecord: level None), or ours
        return record

    return make_record


def _seen(record: Any) -> None:
    """Hand the exception of an ERROR ``record`` to the captures watching its logger."""
    name = record.name
    names, children = _REGISTRY.watched
    if name not in names and not name.startswith(children):
        return  # not a logger of any live capture's packages: the usual case
    exc_info = record.exc_info
    if not isinstance(exc_info, tuple) or len(exc_info) < 2:
        return
    exc = exc_info[1]
    if not isinstance(exc, BaseException) or getattr(_guard, "active", False):
        return  # no exception, or a report that logs: not reported again from inside
    _guard.active = True
    try:
        for capture in _REGISTRY.live:
            if capture.installed and capture.watches(name):
                try:
                    capture.report(exc)
                except Exception:
                    pass  # one capture's failure is not another's
    finally:
        _guard.active = False


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
