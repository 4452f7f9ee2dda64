"""SIGTERM in server mode: a server stopped by ``docker stop`` keeps its reports.

A server is stopped by SIGTERM (``docker stop``, Kubernetes, systemd), whose default
action ends the process at once: no ``atexit``, no flush. :class:`SigtermHandler` puts
a handler in front of the current one when that is the default or a Python callable
(``SIG_IGN`` and a handler set in C are the host's choice, left alone). At the signal
it settles (the exit's last steps and flush, within the process's one exit budget),
then hands over: to the previous Python handler, or to the default, raising the signal
again, so that the process ends by SIGTERM (exit status 143, -15 for its parent) as it
would without us.

The handler runs on the main thread between two bytecodes of whatever it interrupted,
which may hold a lock of ours (a report half queued) or of ``threading``. So it does not
settle there: a thread started with ``_thread`` (no lock of ``threading`` is taken)
settles, and the handler waits for it at most the exit budget plus :data:`GRACE`. A
settle stuck on a lock the interrupted code holds costs that wait, never a deadlock.

A second SIGTERM while we settle does not cut the flush short (it is bounded anyway, and
what it writes to disk is what survives); it is handed over afterwards, once per signal.

How servers meet it. uvicorn (0.29 and later) imports the app, then puts its own
handlers in front of ours while it serves: at SIGTERM it stops gracefully (the ASGI
middleware flushes at lifespan shutdown, which starts the exit's one budget), restores
ours and raises the signal again, so ours settles last, within what is left of that
budget. An older uvicorn that sets its handlers before importing the app has ours in
front: ours settles first and hands over to uvicorn's.

A Python handler runs only between bytecodes: a main thread busy in one long C call
(a big computation) takes the signal when that call returns, where the default
action would have ended the process at once. gunicorn's workers set their handlers at start: an app loaded after
that (the default) chains in front of them; one preloaded in the master is replaced in
the workers, which then end through ``sys.exit`` and the ``atexit`` flush. A handler the
host sets after ours replaces it the same way; ``uninstall`` leaves it in place.
"""

from __future__ import annotations

import _thread
import signal
import threading

from otel_telemetry._fork import renew_in_child
from otel_telemetry._log import debug

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import FrameType
    from typing import Callable, Optional, Union

    Handler = Union[Callable[[int, Optional[FrameType]], object], int, signal.Handlers, None]

GRACE = 2.0
"""Seconds the handler waits beyond the exit budget: a flush that ran out of time still
writes what the recorder did not take, and waits for one being written (local work)."""


def _supported() -> bool:
    return hasattr(signal, "SIGTERM") and hasattr(signal, "raise_signal")


class SigtermHandler:
    """Settles the process at SIGTERM, then hands the signal over.

    Args:
        settle: the exit's last steps and flush within the exit budget (never raises).
        budget: the seconds the whole exit may wait.
    """

    def __init__(self, settle: Callable[[], None], budget: Callable[[], float]) -> None:
        self._settle = settle
        self._budget = budget
        self._previous: Handler = None
        self._installed = False
        self._settling = False
        self._again = 0  # SIGTERMs that arrived while we settled
        renew_in_child(self._after_fork_in_child)

    @property
    def installed(self) -> bool:
        """``install`` put our handler in place and ``uninstall`` was not called since."""
        return self._installed

    def install(self) -> None:
        """Chain our handler in front of the current one, once; never raises.

        Only on the main thread (where Python lets a handler be set), and only when the
        current handler is the default or a Python callable.
        """
        if self._installed or not _supported():
            return
        try:
            if threading.current_thread() is not threading.main_thread():
                return
            current = signal.getsignal(signal.SIGTERM)
            if current != signal.SIG_DFL and not callable(current):
                return  # SIG_IGN, or a handler set in C (None): the host's choice
            signal.signal(signal.SIGTERM, self._handle)
        except (ValueError, OSError, RuntimeError):  # not the main interpreter, ...
            debug("otel_telemetry: SIGTERM handler not installed", exc_info=True)
            return
        self._previous = current
        self._installed = True

    def uninstall(self) -> None:
        """Put the previous handler back, only while ours is still the current one."""
        if not self._installed:
            return
        self._installed = False
        try:
            if signal.getsignal(signal.SIGTERM) == self._handle:
                signal.signal(signal.SIGTERM, self._previous)
        except (ValueError, OSError, RuntimeError, TypeError):  # another thread than main
            debug("otel_telemetry: SIGTERM handler not restored", exc_info=True)

    def _handle(self, signum: int, frame: Optional[FrameType]) -> None:
        if self._settling:
            # Nested: a SIGTERM while the wait below runs. The flush goes on (bounded).
            self._again += 1
            return
        self._settling = True
        interrupted: Optional[BaseException] = None
        try:
            self._settle_bounded()
        except BaseException as exc:  # a host's SIGINT handler raised while we waited
            interrupted = exc
        finally:
            self._settling = False
        times, self._again = 1 + self._again, 0
        for _ in range(times):
            self._hand_over(signum, frame)
        if interrupted is not None:
            raise interrupted  # what the host's own handler raised, as without us

    def _settle_bounded(self) -> None:
        """Settle on a thread of ours; wait for it at most the exit budget plus GRACE."""
        done = _thread.allocate_lock()
        done.acquire()

        def settle() -> None:
            try:
                self._settle()
            except BaseException:  # nothing escapes a thread of ours
                pass
            finally:
                done.release()

        try:
            wait = min(max(0.0, float(self._budget())) + GRACE, _thread.TIMEOUT_MAX)
            _thread.start_new_thread(settle, ())
        except Exception:  # no thread at interpreter shutdown: atexit has settled already
            debug("otel_telemetry: no settle at SIGTERM", exc_info=True)
            return
        done.acquire(True, wait)

    def _hand_over(self, signum: int, frame: Optional[FrameType]) -> None:
        previous = self._previous
        if callable(previous):
            previous(signum, frame)  # the host's (or a server's) own: what it raises, raises
            return
        # The default: end by the signal itself. The process ends inside raise_signal.
        try:
            signal.signal(signum, signal.SIG_DFL)
            signal.raise_signal(signum)
        except (ValueError, OSError, RuntimeError):
            debug("otel_telemetry: SIGTERM not raised again", exc_info=True)

    def _after_fork_in_child(self) -> None:
        # Forked while the parent settled (from another thread): the child has not begun.
        self._settling = False
        self._again = 0
