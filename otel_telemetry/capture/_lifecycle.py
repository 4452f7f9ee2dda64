"""The process-wide side of one ``Telemetry``: crash hooks, the cell hook, and exit.

``install`` puts the hooks in place (chained, see ``_hooks``), adds IPython's cell hook
in a kernel or IPython shell (cells bypass ``sys.excepthook``) and registers one
``atexit`` callback. After an uncaught exception and at exit, ``settle`` runs the
host's last steps (the question, counted storms) and flushes, all within ONE budget of
``flush_timeout`` seconds for the whole exit, however often it is asked to wait, and
however many ``Telemetry`` (several host libraries in one process) wait: the deadline
is the process's, set by the first to begin waiting.
"""

from __future__ import annotations

import atexit
import sys

from ._hooks import CrashHooks

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Optional

    from ._cells import CellHook
    from ._processes import Watch

# The end of the process's exit budget, shared by every Telemetry of the process.
_deadline: Optional[float] = None


class Lifecycle:
    """Hooks and exit of one host.

    Args:
        report_crash: reports an exception that ended unhandled, with its mechanism.
        before_exit: what runs first when the process is about to end.
        flush: flushes within the seconds it is given.
        budget: the seconds the whole exit may wait (read when the exit begins).
        server: True when the host runs as a server (SIGTERM ends it).
    """

    def __init__(
        self,
        report_crash: Callable[[BaseException, str], None],
        *,
        before_exit: Callable[[], None],
        flush: Callable[[float], object],
        budget: Callable[[], float],
        server: Callable[[], bool] = lambda: False,
    ) -> None:
        self._report_crash = report_crash
        self._before_exit = before_exit
        self._flush = flush
        self._budget = budget
        self._server = server
        self.hooks = CrashHooks(report_crash, settle=self.settle)
        self._cell_hook: Optional[CellHook] = None
        self._atexit_registered = False
        self._children: Optional[Watch] = None

    def install(self) -> None:
        """Install the hooks and the exit callback; idempotent."""
        self.hooks.install()
        if "IPython" in sys.modules:
            from ._cells import CellHook

            if self._cell_hook is None:
                self._cell_hook = CellHook(self._report_crash)
            self._cell_hook.install()
        if not self._atexit_registered:
            atexit.register(self._at_exit)
            self._atexit_registered = True
        if self._children is None:
            from ._processes import watch_children

            self._children = watch_children(self._report_crash, self.settle)

    def uninstall(self) -> None:
        """Remove what ``install`` added, where it is still ours."""
        self.hooks.uninstall()
        if self._cell_hook is not None:
            self._cell_hook.uninstall()
        if self._atexit_registered:
            atexit.unregister(self._at_exit)
            self._atexit_registered = False
        if self._children is not None:
            self._children.stop()
            self._children = None

    def settle(self) -> None:
        """The process is about to end: last steps, then flush within what is left."""
        global _deadline
        import time

        self._before_exit()
        now = time.monotonic()
        # Never later than a deadline already set: the budget is one for the process.
        ours = now + self._budget()
        if _deadline is None or ours < _deadline:
            _deadline = ours
        self._flush(max(0.0, _deadline - now))

    def _at_exit(self) -> None:
        self.hooks.exiting = True
        try:
            self.settle()
        except Exception:
            pass
        if self.hooks.interrupted:
            _rearm_ctrl_c()


def _rearm_ctrl_c() -> None:
    """Make the process end by SIGINT again after an unhandled Ctrl-C.

    CPython remembers an unhandled KeyboardInterrupt and, once finalised, kills itself
    with SIGINT, so that a calling shell stops too. Any later compilation of code
    (``exec`` of a string: a dataclass or namedtuple defined by an import, in any thread,
    our worker's included) forgets it, and the exit status becomes 1. Evaluating a
    string that raises KeyboardInterrupt sets it again: CPython records exactly that.
    """
    try:
        exec("raise KeyboardInterrupt", {})  # a constant string
    except KeyboardInterrupt:
        pass
