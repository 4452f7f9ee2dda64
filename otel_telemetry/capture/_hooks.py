"""Crash hooks: every path an uncaught exception takes, chained, never replaced.

``sys.excepthook`` (main thread), ``threading.excepthook`` (other threads),
``sys.unraisablehook`` (``__del__``, callbacks of the garbage collector) and asyncio's
"exception was never retrieved" (tasks and callbacks nobody awaited). Each hook first
hands the exception to the reporter (which only snapshots and enqueues), then always
calls the hook it replaced, exactly once, so the host's own hook and what the user sees
are unchanged. Uninstalling restores a hook only while it is still ours: a hook
installed after ours by someone else is left in place.

After an uncaught exception in a script the interpreter is about to exit, so the
excepthook then waits, within the exit budget, for the report to be sent: later, once
``threading`` has begun shutting down, an exporter could no longer even be imported
(``concurrent.futures`` refuses to load then). It waits only when the interpreter
itself called it at the end of the program: a host that calls ``sys.excepthook`` from
running code (an event loop's error handler) is never made to wait.

``KeyboardInterrupt`` and ``SystemExit`` only pass through to the hook we replaced: no
report, no wait, no import (see ``_reporter``), so a Ctrl-C ends the process by SIGINT
exactly as without us. Exceptions of ``atexit`` callbacks reach ``sys.unraisablehook``
(Python 3.10+); once the exit has begun, such a report is flushed at once, within what
is left of the exit budget.

asyncio reports such exceptions only through its ``asyncio`` logger (unless the host set
its own loop exception handler, which then owns them). A logging *filter* that always
lets the record through sees them without changing where or whether it is printed; it
is added once asyncio is imported, since importing ``logging`` ourselves would make
``install()`` slow.
"""

from __future__ import annotations

import sys
import threading

TYPE_CHECKING = False
if TYPE_CHECKING:
    import logging
    from types import TracebackType
    from typing import Any, Callable, Optional

    Reporter = Callable[[BaseException, str], None]

_guard = threading.local()
ENDS_ON_PURPOSE = (KeyboardInterrupt, SystemExit, GeneratorExit)
"""``_snapshot.NOT_CRASHES``, without importing it: checked before anything is imported."""
# threading.__excepthook__ is 3.10+; on 3.9 the hook in place at import is the default.
_THREADING_DEFAULT = getattr(threading, "__excepthook__", threading.excepthook)


class _Slot:
    """One process-wide hook (``sys.excepthook``...): ours in front of the one it replaced.

    Once in the chain, ours stays there until it can be taken out cleanly: when another
    hook was installed after ours (and may call ours), taking ours out would break their
    chain, and putting ours in again would make it call itself. So ``remove`` only
    takes ours out while it is the one installed, and ``insert`` does nothing while ours
    is still in the chain.
    """

    __slots__ = ("_default", "_name", "_ours", "_owner", "previous")

    def __init__(
        self, owner: object, name: str, ours: Callable[..., Any], default: Callable[..., Any]
    ) -> None:
        self._owner, self._name, self._ours, self._default = owner, name, ours, default
        self.previous: Optional[Callable[..., Any]] = None
        """The hook ours replaced; None while ours is not in the chain."""

    def insert(self) -> None:
        if self.previous is None:
            self.previous = getattr(self._owner, self._name)
            setattr(self._owner, self._name, self._ours)

    def remove(self) -> None:
        if self.previous is not None and getattr(self._owner, self._name) == self._ours:
            setattr(self._owner, self._name, self.previous)
            self.previous = None

    def call_previous(self, *args: Any) -> None:
        (self.previous or self._default)(*args)


class CrashHooks:
    """The process-wide hooks of one ``Telemetry``.

    Args:
        report: takes an exception that ended unhandled, and its mechanism.
        settle: runs when the main thread's uncaught exception is about to end the process.
        ending: runs just before that exception is reported (the process is ending: its
            report may wait for the exit rather than start the recorder now).
    """

    def __init__(
        self,
        report: Reporter,
        settle: Callable[[], None],
        ending: Callable[[], None] = lambda: None,
    ) -> None:
        self._report = report
        self._settle = settle
        self._ending = ending
        self._slots = (
            _Slot(sys, "excepthook", self._sys_hook, sys.__excepthook__),
            _Slot(threading, "excepthook", self._threading_hook, _THREADING_DEFAULT),
            _Slot(sys, "unraisablehook", self._unraisable_hook, sys.__unraisablehook__),
        )
        self._asyncio_filter: Optional[_AsyncioFilter] = None
        self.installed = False
        """Reporting is on: ``install`` was called and ``uninstall`` was not since."""
        self.interrupted = False
        """The program ended by an unhandled KeyboardInterrupt (Ctrl-C)."""
        self.exiting = False
        """The process exit has begun (``atexit``): a report is flushed at once."""
        self.last_uncaught: Optional[int] = None
        """The ``id`` of the last exception our ``sys.excepthook`` was given (not the
        exception: its frames would live on)."""

    def install(self) -> None:
        """Install the hooks once; later calls only add the asyncio one if now possible."""
        if not self.installed:
            for slot in self._slots:
                slot.insert()
            self.installed = True
        self.watch_asyncio()

    def watch_asyncio(self) -> None:
        """Start seeing asyncio's unretrieved exceptions, if asyncio is imported by now."""
        if not self.installed or self._asyncio_filter is not None or "asyncio" not in sys.modules:
            return
        import logging

        self._asyncio_filter = _AsyncioFilter(self._safely)
        logging.getLogger("asyncio").addFilter(self._asyncio_filter)

    def uninstall(self) -> None:
        """Stop reporting; put back the hooks we replaced, where ours are still in front.

        A hook of ours that another hook wraps stays in the chain, passing everything on.
        """
        if not self.installed:
            return
        self.installed = False
        for slot in self._slots:
            slot.remove()
        if self._asyncio_filter is not None:
            import logging

            logging.getLogger("asyncio").removeFilter(self._asyncio_filter)
            self._asyncio_filter = None

    def _sys_hook(
        self,
        exc_type: type[BaseException],
        exc: BaseException,
        tb: Optional[TracebackType],
    ) -> None:
        if isinstance(exc, ENDS_ON_PURPOSE):
            # Nothing to report; above all, run no code that could import (see _reporter).
            if isinstance(exc, KeyboardInterrupt) and _program_is_ending():
                self.interrupted = True
            self._slots[0].call_previous(exc_type, exc, tb)
            return
        self.last_uncaught = id(exc)
        # In a REPL the hook runs for every error and the session goes on: never wait there.
        ending = (
            self.installed
            and not hasattr(sys, "ps1")
            and not sys.flags.interactive
            and _program_is_ending()
        )
        if ending:
            try:
                self._ending()
            except Exception:
                pass
        self._safely(exc, "excepthook")
        self._slots[0].call_previous(exc_type, exc, tb)
        if ending:
            try:
                self._settle()
            except Exception:
                pass

    def _threading_hook(self, args: Any) -> None:
        # SystemExit in a thread ends that thread only, quietly: no failing exit.
        if args.exc_value is not None and not isinstance(args.exc_value, SystemExit):
            self._safely(args.exc_value, "threading.excepthook")
        self._slots[1].call_previous(args)

    def _unraisable_hook(self, unraisable: Any) -> None:
        if unraisable.exc_value is not None:
            self._safely(unraisable.exc_value, "unraisablehook")
        self._slots[2].call_previous(unraisable)
        if self.exiting and self.installed and unraisable.exc_value is not None:
            # An atexit callback failed after our exit flush began: send it now.
            try:
                self._settle()
            except Exception:
                pass

    def _safely(self, exc: BaseException, mechanism: str) -> None:
        # A crash inside our own reporting must neither recurse nor reach the host.
        if not self.installed or getattr(_guard, "active", False):
            return
        _guard.active = True
        try:
            self._report(exc, mechanism)
        except Exception:
            pass
        finally:
            _guard.active = False


def _program_is_ending() -> bool:
    """The interpreter called ``sys.excepthook`` at the end of the main thread's program.

    Then no frame of the program is running any more: the outermost frame on the stack
    is a hook (ours, or one that chains to ours), not ``<module>`` code of the program
    (nor ``runpy``, for ``python -m``). A host that calls ``sys.excepthook`` itself, from
    an event loop's error handler say, does so from running code, which goes on.
    """
    if threading.current_thread() is not threading.main_thread():
        return False
    try:  # the running frame, without sys._getframe
        raise RuntimeError
    except RuntimeError as probe:
        frame = probe.__traceback__.tb_frame  # type: ignore[union-attr]
    while frame.f_back is not None:
        frame = frame.f_back
    return frame.f_code.co_name != "<module>" and frame.f_globals.get("__name__") != "runpy"


class _AsyncioFilter:
    """Sees the exception of asyncio's error records; always lets the record through."""

    def __init__(self, report: Callable[[BaseException, str], None]) -> None:
        self._report = report

    def filter(self, record: logging.LogRecord) -> bool:
        exc_info = record.exc_info
        if exc_info and isinstance(exc_info[1], BaseException):
            self._report(exc_info[1], "asyncio")
        return True
