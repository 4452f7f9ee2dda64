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
(``concurrent.futures`` refuses to load then).

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


class CrashHooks:
    """The process-wide hooks of one ``Telemetry``."""

    def __init__(self, report: Reporter, settle: Callable[[], None]) -> None:
        self._report = report
        self._settle = settle
        self._previous_sys: Optional[Callable[..., Any]] = None
        self._previous_threading: Optional[Callable[..., Any]] = None
        self._previous_unraisable: Optional[Callable[..., Any]] = None
        self._asyncio_filter: Optional[_AsyncioFilter] = None
        self.installed = False

    def install(self) -> None:
        """Install the hooks once; later calls only add the asyncio one if now possible."""
        if not self.installed:
            self._previous_sys = sys.excepthook
            sys.excepthook = self._sys_hook
            self._previous_threading = threading.excepthook
            threading.excepthook = self._threading_hook
            self._previous_unraisable = sys.unraisablehook
            sys.unraisablehook = self._unraisable_hook
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
        """Put back the hooks we replaced, where ours are still the ones installed."""
        if not self.installed:
            return
        if sys.excepthook == self._sys_hook and self._previous_sys is not None:
            sys.excepthook = self._previous_sys
        if threading.excepthook == self._threading_hook and self._previous_threading is not None:
            threading.excepthook = self._previous_threading
        if sys.unraisablehook == self._unraisable_hook and self._previous_unraisable is not None:
            sys.unraisablehook = self._previous_unraisable
        if self._asyncio_filter is not None:
            import logging

            logging.getLogger("asyncio").removeFilter(self._asyncio_filter)
            self._asyncio_filter = None
        self.installed = False

    def _sys_hook(
        self,
        exc_type: type[BaseException],
        exc: BaseException,
        tb: Optional[TracebackType],
    ) -> None:
        self._safely(exc, "excepthook")
        previous = self._previous_sys or sys.__excepthook__
        previous(exc_type, exc, tb)
        # In a REPL the hook runs for every error and the session goes on: never wait there.
        if not hasattr(sys, "ps1") and not sys.flags.interactive:
            try:
                self._settle()
            except Exception:
                pass

    def _threading_hook(self, args: Any) -> None:
        if args.exc_value is not None:
            self._safely(args.exc_value, "threading.excepthook")
        previous = self._previous_threading or threading.__excepthook__
        previous(args)

    def _unraisable_hook(self, unraisable: Any) -> None:
        if unraisable.exc_value is not None:
            self._safely(unraisable.exc_value, "unraisablehook")
        previous = self._previous_unraisable or sys.__unraisablehook__
        previous(unraisable)

    def _safely(self, exc: BaseException, mechanism: str) -> None:
        # A crash inside our own reporting must neither recurse nor reach the host.
        if getattr(_guard, "active", False):
            return
        _guard.active = True
        try:
            self._report(exc, mechanism)
        except Exception:
            pass
        finally:
            _guard.active = False


class _AsyncioFilter:
    """Sees the exception of asyncio's error records; always lets the record through."""

    def __init__(self, report: Callable[[BaseException, str], None]) -> None:
        self._report = report

    def filter(self, record: logging.LogRecord) -> bool:
        exc_info = record.exc_info
        if exc_info and isinstance(exc_info[1], BaseException):
            self._report(exc_info[1], "asyncio")
        return True
