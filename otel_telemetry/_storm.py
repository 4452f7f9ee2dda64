"""Crash storms: the same crash, again and again, is sent a bounded number of times.

A server failing the same way thousands of times a minute must neither flood the
endpoint nor grow without bound. Per fingerprint (the exception type and the frames
where it was raised) at most ``limit`` reports go out per ``window``; the others are
only counted, and the next report of that crash carries the count in
``otel_telemetry.occurrences``. What is still counted at exit goes out then, once, so
the total is never lost. All of this runs on the app thread: a dict lookup and a count.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._capture import CapturedException

ATTR_OCCURRENCES = "otel_telemetry.occurrences"
"""How many crashes a report stands for, when a storm was counted rather than sent."""

Fingerprint = tuple[object, ...]


class _Crash:
    __slots__ = ("counted", "last", "sent", "since")

    def __init__(self, now: float, last: CapturedException) -> None:
        self.since = now  # start of the current window
        self.sent = 0  # reports sent in the current window
        self.counted = 0  # occurrences counted since the last report sent
        self.last = last  # the latest capture, for the report sent at exit


class StormGuard:
    """Admits or counts each crash of a fingerprint.

    Args:
        limit: reports per fingerprint and window.
        window: seconds.
        max_fingerprints: how many crashes are remembered (least recent forgotten).
    """

    def __init__(self, limit: int = 5, window: float = 60.0, max_fingerprints: int = 256) -> None:
        self.limit = limit
        self.window = window
        self.max_fingerprints = max_fingerprints
        self._lock = threading.Lock()
        self._seen: OrderedDict[Fingerprint, _Crash] = OrderedDict()

    def admit(self, captured: CapturedException) -> bool:
        """True when the report goes out; False when it is only counted.

        A report that goes out after others were counted carries how many it stands for.
        """
        key = fingerprint(captured)
        now = time.monotonic()
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
            if crash.sent >= self.limit:
                crash.counted += 1
                return False
            crash.sent += 1
            if crash.counted:
                captured.attributes[ATTR_OCCURRENCES] = 1 + crash.counted
            crash.counted = 0
            return True

    def counted(self) -> list[CapturedException]:
        """Take the crashes counted but not yet sent, as reports carrying their counts."""
        import dataclasses

        with self._lock:
            pending = [
                dataclasses.replace(
                    crash.last,
                    attributes={**crash.last.attributes, ATTR_OCCURRENCES: crash.counted},
                    time_ns=time.time_ns(),
                )
                for crash in self._seen.values()
                if crash.counted
            ]
            for crash in self._seen.values():
                crash.counted = 0
        return pending


def fingerprint(captured: CapturedException) -> Fingerprint:
    """What makes two crashes the same: the exception types and where each was raised."""
    return tuple(
        (entry.module, entry.qualname, entry.frames[-1][:3] if entry.frames else None)
        for entry in captured.exceptions
    )
