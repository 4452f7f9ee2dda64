"""Reports of exceptions the caller may still handle wait a moment before they go.

``capture_errors`` and the logging capture see an exception before anyone knows how it
ends: the caller may catch it (a user's script handling the ``ValueError`` of an API),
or it may end the program. With consent given, such a report is kept here for
``GRACE`` seconds. If the same exception ends unhandled meanwhile (a crash hook, a
failing exit: microseconds later, usually), that mechanism *claims* it and reports it
as a crash (``handled`` false, captured again with the frames it gained on the way
out). Otherwise it goes as handled when its time comes, at the next ``flush()``, or at
exit: never lost, never twice.

An entry holds its exception (so its ``id`` cannot be reused meanwhile), at most
``MAX`` entries; one timer at a time, on the pipeline's worker.
"""

from __future__ import annotations

import builtins
import threading
import time

from otel_telemetry._fork import renew_in_child

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Optional

    from ._snapshot import CapturedException

GRACE = 1.0
"""Seconds a report of an exception the caller may handle waits to learn how it ends."""
MAX = 64
"""Reports waiting at once; beyond, the oldest goes at once."""


class Tentative:
    """Reports waiting to learn whether their exception ends unhandled.

    Args:
        send: takes a report whose time has come (storm guard, then the queue).
        later: runs a job once ``time.monotonic()`` reaches a time (the pipeline's
            worker); None: nothing waits, every report goes at once.
    """

    def __init__(
        self,
        send: Callable[[CapturedException], object],
        later: Optional[Callable[[float, Callable[[], object]], None]],
    ) -> None:
        self._send = send
        self._later = later
        self._lock = threading.Lock()
        self._waiting: dict[int, tuple[BaseException, CapturedException, float]] = {}
        self._armed = False
        renew_in_child(self._after_fork_in_child)

    def hold(self, exc: BaseException, captured: CapturedException) -> None:
        """Keep ``captured`` for ``GRACE`` seconds, unless ``exc`` is claimed meanwhile."""
        if self._later is None:
            self._send(captured)
            return
        due = time.monotonic() + GRACE
        overflow: list[CapturedException] = []
        with self._lock:
            self._waiting[id(exc)] = (exc, captured, due)
            while len(self._waiting) > MAX:
                overflow.append(self._waiting.pop(next(iter(self._waiting)))[1])
            arm = not self._armed
            self._armed = True
        for oldest in overflow:
            self._send(oldest)
        if arm:
            self._later(due, self.release_due)

    def claim(self, exc: BaseException) -> Optional[BaseException]:
        """``exc`` ended unhandled: forget its waiting report; ``exc`` if there was one."""
        if not self._waiting:  # the usual case, without the lock
            return None
        with self._lock:
            entry = self._waiting.get(id(exc))
            if entry is None or entry[0] is not exc:
                return None
            del self._waiting[id(exc)]
            return exc

    def release_due(self) -> None:
        """Send the reports whose time has come; wait again for the others."""
        self._release(time.monotonic())

    def release_all(self) -> None:
        """Send every waiting report now (a flush, a shutdown, the process's exit)."""
        self._release(None)

    def _release(self, now: Optional[float]) -> None:
        with self._lock:
            due = [k for k, (_, _, at) in self._waiting.items() if now is None or at <= now]
            ready = [self._waiting.pop(key)[1] for key in due]
            following = min((at for _, _, at in self._waiting.values()), default=None)
            rearm = following is not None and now is not None
            if now is not None:  # the timer's run; after a flush, a pending timer still runs
                self._armed = rearm
        for captured in ready:
            self._send(captured)
        if rearm and self._later is not None and following is not None:
            self._later(following, self.release_due)

    def _after_fork_in_child(self) -> None:
        # The parent sends what waits here; the child's copies would be sent twice.
        self._lock = threading.Lock()
        self._waiting = {}
        self._armed = False


def grouped(exc: BaseException) -> list[BaseException]:
    """``exc``, then the exceptions an exception group holds, depth first, bounded."""
    found: list[BaseException] = []
    stack = [exc]
    while stack and len(found) < MAX:
        current = stack.pop()
        found.append(current)
        inner = getattr(current, "exceptions", None) if is_group(current) else None
        if isinstance(inner, tuple):
            stack.extend(reversed(inner))
    return found


def is_group(exc: BaseException) -> bool:
    """``exc`` is an exception group (``BaseExceptionGroup``, Python 3.11+)."""
    group = getattr(builtins, "BaseExceptionGroup", None)  # Python 3.11+
    return group is not None and isinstance(exc, group)
