"""Crash storms: the same crash, again and again, is sent a bounded number of times.

A server failing the same way thousands of times a minute must neither flood the
endpoint nor grow without bound. Per fingerprint (the exception type and the frames
where it was raised) at most ``limit`` reports go out per ``window``; the others are
only counted, and the next report of that crash carries the count in
``otel_telemetry.occurrences``. A count also goes out when its window closes: the guard
asks once, at the first crash it counts, for a call when that happens (``on_counted``:
the pipeline's timer), so a server that crashes no more still sends it, and what is
still counted at exit goes out then, once, so the total is not lost (under a storm of
many different crashes, the most frequent first, within the cap below). All of this
runs on the app thread: a dict lookup and a count.

Many different crashes at once (a crash whose place rotates, more sites than are
remembered) are a storm too: across all fingerprints at most ``global_limit`` reports go
out per ``window`` (10 x ``limit`` by default), and at most that many counted ones at exit.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

from otel_telemetry._attributes import OCCURRENCES
from otel_telemetry._fork import renew_in_child
from otel_telemetry._log import debug

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Optional

    from ._snapshot import CapturedException

Fingerprint = tuple[object, ...]


class _Crash:
    __slots__ = ("count_sent", "counted", "last", "sent", "since")

    def __init__(self, now: float, last: CapturedException) -> None:
        self.since = now  # start of the current window
        self.sent = 0  # reports sent in the current window
        self.counted = 0  # occurrences counted since the last report sent
        self.last = last  # the latest capture, for the report sent at exit
        self.count_sent: Optional[float] = None  # when a count last went out before exit


class StormGuard:
    """Admits or counts each crash of a fingerprint.

    Args:
        limit: reports per fingerprint and window.
        window: seconds.
        max_fingerprints: how many crashes are remembered (least recent forgotten).
        global_limit: reports of all crashes together per window; ``10 * limit`` if None.
        on_counted: called with a ``time.monotonic()`` at which ``counted(final=False)``
            should run: when the window of a crash just counted closes (later if a count
            of it went out in that window, or no room is left under ``global_limit``).
            Asked once per window, not per crash, and only when no earlier call is due;
            ``counted`` asks again for what it leaves. Never called under the lock.
    """

    def __init__(
        self,
        limit: int = 5,
        window: float = 60.0,
        max_fingerprints: int = 256,
        global_limit: Optional[int] = None,
        on_counted: Optional[Callable[[float], None]] = None,
    ) -> None:
        self.limit = limit
        self.window = window
        self.max_fingerprints = max_fingerprints
        self.global_limit = 10 * limit if global_limit is None else global_limit
        self._on_counted = on_counted
        self._lock = threading.Lock()
        self._seen: OrderedDict[Fingerprint, _Crash] = OrderedDict()
        self._since = time.monotonic()  # start of the current window of all crashes
        self._sent = 0  # reports of all crashes sent in it
        self._armed: Optional[float] = None  # when the earliest call asked for is due
        renew_in_child(self.after_fork_in_child)

    def after_fork_in_child(self) -> None:
        """A new lock in a forked child, and none of the parent's counts."""
        # Another thread may have held the lock at the fork: it never lets go in the child.
        self._lock = threading.Lock()
        # The parent sends what it counted (at its timer or exit); the child, its own.
        for crash in self._seen.values():
            crash.counted = 0
        self._armed = None  # the parent's timer does not run here

    def admit(self, captured: CapturedException) -> Optional[CapturedException]:
        """The report to send, or None when this crash is only counted.

        A report that goes out after others were counted is a copy that carries how many
        it stands for; ``captured`` itself is never changed.
        """
        key = fingerprint(captured)
        now = time.monotonic()
        counted, due = 0, None
        with self._lock:
            crash = self._seen.get(key)
            if crash is None:
                crash = self._seen[key] = _Crash(now, captured)
                if len(self._seen) > self.max_fingerprints:
                    self._seen.popitem(last=False)
            else:
                self._seen.move_to_end(key)
                crash.last = captured
            if now - crash.since >= self.window:
                crash.since, crash.sent = now, 0
            if now - self._since >= self.window:
                self._since, self._sent = now, 0
            admitted = crash.sent < self.limit and self._sent < self.global_limit
            if admitted:
                crash.sent += 1
                self._sent += 1
                counted, crash.counted = crash.counted, 0
            else:
                crash.counted += 1
                due = self._arm(self._due(crash), now)
        if not admitted:
            if due is not None:
                self._call(due)
            return None
        if counted:
            return _with_occurrences(captured, 1 + counted, captured.time_ns)
        return captured

    def counted(self, *, final: bool = True) -> list[CapturedException]:
        """Take the crashes counted but not yet sent, as reports carrying their counts.

        Count reports are reports: they take their place under ``global_limit``, the
        most frequent crashes first (an exit that settles again and again, each crash
        at exit, gets no more).

        Args:
            final: the process ends; otherwise (a host's ``flush()``, the call asked for
                through ``on_counted``) at most one count per crash and window, so that
                flushing after every crash never lets a storm through; a count left for
                that reason is asked a call for, when it may go.
        """
        now = time.monotonic()
        with self._lock:
            if now - self._since >= self.window:
                self._since, self._sent = now, 0
            room = self.global_limit - self._sent
            counted = sorted(
                (
                    crash
                    for crash in self._seen.values()
                    if crash.counted
                    and (final or crash.count_sent is None or now >= crash.count_sent + self.window)
                ),
                key=lambda crash: crash.counted,
                reverse=True,
            )[: max(room, 0)]
            self._sent += len(counted)
            pending = [
                _with_occurrences(crash.last, crash.counted, time.time_ns()) for crash in counted
            ]
            for crash in counted:
                crash.counted = 0
                crash.count_sent = now
            # What could not go now (sent a count this window, no room left) goes when it can.
            due = None
            if self._on_counted is not None:
                dues = [self._due(crash) for crash in self._seen.values() if crash.counted]
                if dues:
                    due = self._arm(min(dues), now)
        if due is not None:
            self._call(due)
        return pending

    def _due(self, crash: _Crash) -> float:
        """When ``counted(final=False)`` will take the count of ``crash``.

        Its window closes, a window has passed since its last count, and there is room
        under ``global_limit``.
        """
        due = crash.since + self.window
        if crash.count_sent is not None:
            due = max(due, crash.count_sent + self.window)
        if self._sent >= self.global_limit:
            due = max(due, self._since + self.window)
        return due

    def _arm(self, due: float, now: float) -> Optional[float]:
        """``due``, when a call must be asked for then; None when one comes earlier.

        One call at a time is enough: when it comes, ``counted`` takes every count due
        and asks again for the next. A call that did not come by its time (a full timer
        queue) no longer stops the next one from being asked for.
        """
        if self._on_counted is None:
            return None
        if self._armed is not None and now < self._armed <= due:
            return None
        if due <= now:  # never a call that comes back at once for nothing
            due = now + self.window
        self._armed = due
        return due

    def _call(self, due: float) -> None:
        on_counted = self._on_counted
        if on_counted is not None:
            try:
                on_counted(due)
            except Exception:  # the host's thread goes on; the count goes at exit
                debug("otel_telemetry: storm timer not set", exc_info=True)


def _with_occurrences(captured: CapturedException, count: int, time_ns: int) -> CapturedException:
    attributes = {**captured.attributes, OCCURRENCES: count}
    return captured.replaced(attributes=attributes, time_ns=time_ns)


def fingerprint(captured: CapturedException) -> Fingerprint:
    """What makes two crashes the same: the exception types and where each was raised."""
    return tuple(
        (entry.module, entry.qualname, entry.frames[-1][:3] if entry.frames else None)
        for entry in captured.exceptions
    )
