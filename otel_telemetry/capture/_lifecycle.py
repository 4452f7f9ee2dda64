"""The process-wide side of one ``Telemetry``: crash hooks, the cell hook, and exit.

``install`` puts the hooks in place (chained, see ``_hooks``), adds IPython's cell hook
in a kernel or IPython shell (cells bypass ``sys.excepthook``), registers one
``atexit`` callback and, in server mode, chains a SIGTERM handler (``_signals``: a
server stopped by ``docker stop`` settles too). After an uncaught exception, at SIGTERM
and at exit, ``settle`` runs the host's last steps (the question, counted storms) and
flushes, all within ONE budget of ``flush_timeout`` seconds for the whole exit, however
often it is asked to wait, and however many ``Telemetry`` (several host libraries in
one process) wait: the deadline is the process's, set by the first to begin waiting.
"""

from __future__ import annotations

import atexit
import sys

from ._hooks import ENDS_ON_PURPOSE, CrashHooks

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Optional

    from ._cells import CellHook
    from ._processes import Watch
    from ._signals import SigtermHandler

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
        ending: told that the main thread's uncaught exception is ending the process,
            just before it is reported.
    """

    def __init__(
        self,
        report_crash: Callable[[BaseException, str], None],
        *,
        before_exit: Callable[[], None],
        flush: Callable[[float], object],
        budget: Callable[[], float],
        server: Callable[[], bool] = lambda: False,
        ending: Callable[[], None] = lambda: None,
    ) -> None:
        self._report_crash = report_crash
        self._before_exit = before_exit
        self._flush = flush
        self._budget = budget
        self._server = server
        self.hooks = CrashHooks(report_crash, settle=self.settle, ending=ending)
        self._cell_hook: Optional[CellHook] = None
        self._atexit_registered = False
        self._children: Optional[Watch] = None
        self._sigterm: Optional[SigtermHandler] = None

    def install(self) -> None:
        """Install the hooks, the exit callback and, in server mode, SIGTERM's; idempotent."""
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
        self._install_sigterm()

    def _install_sigterm(self) -> None:
        try:
            server = self._server()
        except Exception:
            return
        if server:
            if self._sigterm is None:
                from ._signals import SigtermHandler

                self._sigterm = SigtermHandler(self._settle_quietly, self._budget)
            self._sigterm.install()

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
        if self._sigterm is not None:
            self._sigterm.uninstall()

    def settle(self) -> None:
        """The process is about to end: last steps, then flush within what is left."""
        self._before_exit()
        self._flush(exit_begins(self._budget()))

    def _settle_quietly(self) -> None:
        try:
            self.settle()
        except Exception:
            pass

    def _at_exit(self) -> None:
        self.hooks.exiting = True
        self._report_last_uncaught()
        try:
            self.settle()
        except Exception:
            pass
        if self.hooks.interrupted:
            _rearm_ctrl_c()

    def _report_last_uncaught(self) -> None:
        """Report the main thread's uncaught exception if no hook of ours saw it.

        A host may replace ``sys.excepthook`` after ``install()`` without chaining to ours
        (typer installs its own for its tracebacks): the interpreter still keeps the
        exception it ended with in ``sys.last_value`` (``sys.last_exc`` on 3.12+). Seen
        by our hook already, it is the same exception, reported once. Not in a REPL or
        IPython, where it is the last error shown, not the end of a program.
        """
        if not self.hooks.installed or hasattr(sys, "ps1") or sys.flags.interactive:
            return
        if "IPython" in sys.modules:
            return
        exc = getattr(sys, "last_exc", None) or getattr(sys, "last_value", None)
        if id(exc) == self.hooks.last_uncaught:
            return  # our hook had it (and the host's filter its say)
        if isinstance(exc, BaseException) and not isinstance(exc, ENDS_ON_PURPOSE):
            try:
                self._report_crash(exc, "excepthook")
            except Exception:
                pass


def exit_begins(budget: float) -> float:
    """The process's exit has begun: the seconds that are left of its one budget.

    The first to call it (an uncaught exception, SIGTERM, ``atexit``, a server's
    lifespan shutdown: uvicorn flushes the lifespan, then hands SIGTERM back to us)
    starts the clock with its ``budget``; later calls get what is left, never more
    (a shorter budget of another library brings the end closer). So one shutdown never
    waits longer than one budget, however many steps and libraries flush on its way.
    """
    global _deadline
    import time

    now = time.monotonic()
    ours = now + budget
    if _deadline is None or ours < _deadline:
        _deadline = ours
    return max(0.0, _deadline - now)


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
