"""Crash hooks: ``sys.excepthook`` and ``threading.excepthook``, chained, never replaced.

Each hook first hands the exception to the reporter (which only snapshots and enqueues),
then always calls the hook it replaced, exactly once, so the host's own hook and the
traceback the user sees are unchanged. After an uncaught exception in a script the
interpreter is about to exit, so the hook then waits, within the exit budget, for the
report to be sent: later, once ``threading`` has begun shutting down, an exporter could
no longer even be imported (``concurrent.futures`` refuses to load then). Uninstalling restores a hook only while it is
still ours: a hook installed after ours by someone else is left in place.
"""

from __future__ import annotations

import sys
import threading

TYPE_CHECKING = False
if TYPE_CHECKING:
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
        self.installed = False

    def install(self) -> None:
        """Install the hooks once; later calls do nothing."""
        if self.installed:
            return
        self._previous_sys = sys.excepthook
        sys.excepthook = self._sys_hook
        self._previous_threading = threading.excepthook
        threading.excepthook = self._threading_hook
        self.installed = True

    def uninstall(self) -> None:
        """Put back the hooks we replaced, where ours are still the ones installed."""
        if not self.installed:
            return
        if sys.excepthook == self._sys_hook and self._previous_sys is not None:
            sys.excepthook = self._previous_sys
        if threading.excepthook == self._threading_hook and self._previous_threading is not None:
            threading.excepthook = self._previous_threading
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
