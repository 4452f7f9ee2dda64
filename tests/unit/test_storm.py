"""The storm guard (``capture/_storm.py``): the same crash is sent a bounded number of times."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Optional

import pytest

from otel_telemetry._attributes import OCCURRENCES
from otel_telemetry.capture import _storm
from otel_telemetry.capture._snapshot import CapturedException, RawException, capture_exception
from otel_telemetry.capture._storm import StormGuard, fingerprint


class Clock:
    """``time.monotonic`` of the storm module, set by the test."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    # The storm module's ``time`` only: nothing else in the process sees this clock.
    monkeypatch.setattr(
        _storm, "time", SimpleNamespace(monotonic=fake.monotonic, time_ns=time.time_ns)
    )
    return fake


def crash(line: int = 10, qualname: str = "ValueError", function: str = "run") -> CapturedException:
    frames = (("/src/acme/crawler.py", line, function, "acme.crawler"),)
    return CapturedException(
        exceptions=(RawException("builtins", qualname, "boom", frames),),
        mechanism="capture_errors",
        handled=False,
        time_ns=123,
        attributes={"http.route": "/crawl/{site}"},
    )


@pytest.mark.parametrize(
    ("limit", "window", "times", "expected"),
    [
        # expected: per crash, None when only counted, else the occurrences it carries
        # (1 when it stands for itself alone: no attribute is added then).
        pytest.param(5, 60.0, [0, 1, 2], [1, 1, 1], id="under the limit"),
        pytest.param(2, 10.0, [0, 1, 2, 3], [1, 1, None, None], id="over the limit"),
        pytest.param(2, 10.0, [0, 1, 2, 3, 11], [1, 1, None, None, 3], id="next window carries"),
        pytest.param(1, 5.0, [0, 4.999, 5.0], [1, None, 2], id="window boundary is a new one"),
        pytest.param(1, 5.0, [0, 1, 6, 7, 12], [1, None, 2, None, 2], id="window after window"),
        pytest.param(1, 5.0, [0, 6, 12], [1, 1, 1], id="sparse crashes never counted"),
        pytest.param(0, 5.0, [0, 1, 10], [None, None, None], id="limit zero counts all"),
    ],
)
def test_admitted_and_counted(
    clock: Clock, limit: int, window: float, times: list[float], expected: list[Optional[int]]
) -> None:
    guard = StormGuard(limit=limit, window=window)
    original = crash()

    results = []
    for now in times:
        clock.now = now
        admitted = guard.admit(original)
        results.append(None if admitted is None else admitted.attributes.get(OCCURRENCES, 1))

    assert results == expected
    assert OCCURRENCES not in original.attributes  # never mutated


def test_a_counted_report_is_a_new_object_and_the_original_is_untouched(clock: Clock) -> None:
    guard = StormGuard(limit=1, window=5.0)
    original = crash()
    assert guard.admit(original) is original  # nothing counted: the capture itself
    assert guard.admit(original) is None
    clock.now = 5.0

    carried = guard.admit(original)

    assert carried is not None
    assert carried is not original
    assert carried.attributes == {"http.route": "/crawl/{site}", OCCURRENCES: 2}
    assert carried.exceptions == original.exceptions
    assert carried.time_ns == original.time_ns
    assert original.attributes == {"http.route": "/crawl/{site}"}


def test_counted_returns_the_counted_crashes_once(clock: Clock) -> None:
    guard = StormGuard(limit=1, window=60.0)
    first, latest = crash(), crash()
    other = crash(line=20)
    for captured in (first, first, latest, other):
        guard.admit(captured)

    before = time.time_ns()
    [pending] = guard.counted()

    assert pending.attributes[OCCURRENCES] == 2
    assert pending.exceptions == latest.exceptions
    assert pending.time_ns >= before  # sent now, at exit
    assert OCCURRENCES not in latest.attributes
    assert guard.counted() == []  # once


def test_counted_is_empty_when_the_count_already_went_out(clock: Clock) -> None:
    guard = StormGuard(limit=1, window=5.0)
    guard.admit(crash())
    guard.admit(crash())
    clock.now = 5.0
    assert guard.admit(crash()) is not None  # carries the count

    assert guard.counted() == []


def test_the_least_recent_fingerprint_is_forgotten(clock: Clock) -> None:
    guard = StormGuard(limit=1, window=60.0, max_fingerprints=2)
    a, b, c = crash(line=1), crash(line=2), crash(line=3)
    assert guard.admit(a) is a
    assert guard.admit(b) is b
    assert guard.admit(a) is None  # a is now the most recent
    assert guard.admit(c) is c  # b, the least recent, is forgotten (not a, the oldest)

    assert guard.admit(a) is None  # a is remembered: still over its limit
    assert guard.admit(b) is b  # b starts afresh


def test_a_forgotten_fingerprint_starts_afresh(clock: Clock) -> None:
    guard = StormGuard(limit=1, window=60.0, max_fingerprints=1)
    a, b = crash(line=1), crash(line=2)
    assert guard.admit(a) is a
    assert guard.admit(a) is None
    assert guard.admit(b) is b  # a forgotten

    assert guard.admit(a) is a


def _raise_at_one_place(message: str) -> None:
    raise ValueError(message)


def _raise_at_another_line(message: str) -> None:
    if message:
        raise ValueError(message)


def _raise_other_type(message: str) -> None:
    raise KeyError(message)


def _captured(raiser, message: str = "boom") -> CapturedException:
    try:
        raiser(message)
    except Exception as exc:
        return capture_exception(exc, "capture_errors", handled=False)
    raise AssertionError("did not raise")


@pytest.mark.parametrize(
    ("left", "right", "same"),
    [
        pytest.param((_raise_at_one_place, "a"), (_raise_at_one_place, "a"), True, id="same site"),
        pytest.param(
            (_raise_at_one_place, "a"), (_raise_at_one_place, "b"), True, id="other message"
        ),
        pytest.param(
            (_raise_at_one_place, "a"), (_raise_at_another_line, "a"), False, id="other line"
        ),
        pytest.param((_raise_at_one_place, "a"), (_raise_other_type, "a"), False, id="other type"),
    ],
)
def test_fingerprint(left, right, same: bool) -> None:
    assert (fingerprint(_captured(*left)) == fingerprint(_captured(*right))) is same


@pytest.mark.parametrize(
    ("left", "right", "same"),
    [
        pytest.param(crash(line=5), crash(line=5), True, id="same frames"),
        pytest.param(crash(line=5), crash(line=6), False, id="other line"),
        pytest.param(crash(function="run"), crash(function="walk"), False, id="other function"),
        pytest.param(crash(qualname="ValueError"), crash(qualname="TypeError"), False, id="type"),
    ],
)
def test_fingerprint_of_snapshots(
    left: CapturedException, right: CapturedException, same: bool
) -> None:
    assert (fingerprint(left) == fingerprint(right)) is same


def test_fingerprint_of_an_exception_without_frames() -> None:
    bare = CapturedException(
        exceptions=(RawException("builtins", "ValueError", "x", ()),),
        mechanism="capture_exception",
        handled=True,
    )
    assert fingerprint(bare) == (("builtins", "ValueError", None),)


# -- the call when a window closes (``on_counted``) ---------------------------------------------


class Calls:
    """``on_counted``: the times asked for, in order."""

    def __init__(self) -> None:
        self.due: list[float] = []

    def __call__(self, when: float) -> None:
        self.due.append(when)


def test_the_first_crash_counted_asks_for_a_call_when_its_window_closes(clock: Clock) -> None:
    calls = Calls()
    guard = StormGuard(limit=2, window=10.0, on_counted=calls)
    clock.now = 3.0
    guard.admit(crash())
    guard.admit(crash())
    assert calls.due == []  # admitted: nothing to count

    for clock.now in (4.0, 5.0, 6.0):
        assert guard.admit(crash()) is None

    assert calls.due == [13.0]  # once for the window, not once per crash


def test_the_call_takes_the_count_and_a_later_window_asks_again(clock: Clock) -> None:
    calls = Calls()
    guard = StormGuard(limit=1, window=10.0, on_counted=calls)
    guard.admit(crash())
    guard.admit(crash())
    guard.admit(crash())
    assert calls.due == [10.0]

    clock.now = 10.0  # the call comes
    [count] = guard.counted(final=False)
    assert count.attributes[OCCURRENCES] == 2
    assert guard.counted(final=False) == []

    clock.now = 12.0  # a new window: one report, then counted again
    assert guard.admit(crash()) is not None
    assert guard.admit(crash()) is None
    assert calls.due == [10.0, 22.0]
    clock.now = 22.0
    [count] = guard.counted(final=False)
    assert count.attributes[OCCURRENCES] == 1


def test_a_count_sent_by_a_flush_within_the_window_asks_for_a_window_later(clock: Clock) -> None:
    calls = Calls()
    guard = StormGuard(limit=1, window=10.0, on_counted=calls)
    guard.admit(crash())
    guard.admit(crash())  # counted: a call at 10
    clock.now = 4.0
    [count] = guard.counted(final=False)  # the host's flush() sends the count now
    assert count.attributes[OCCURRENCES] == 1

    clock.now = 5.0
    assert guard.admit(crash()) is None  # counted again, in the same window
    clock.now = 10.0  # the call asked for first comes: too early for this count
    assert guard.counted(final=False) == []

    assert calls.due == [10.0, 14.0]  # asked again, when the count may go
    clock.now = 14.0
    [count] = guard.counted(final=False)
    assert count.attributes[OCCURRENCES] == 1


def test_a_count_without_room_asks_for_the_next_window_of_all_crashes(clock: Clock) -> None:
    calls = Calls()
    guard = StormGuard(limit=5, window=10.0, global_limit=2, on_counted=calls)
    a = crash(line=1)
    guard.admit(crash(line=2))
    clock.now = 5.0
    guard.admit(a)  # a's window: 5 to 15
    clock.now = 10.0  # the window of all crashes: 10 to 20, filled by two others
    guard.admit(crash(line=3))
    guard.admit(crash(line=4))
    clock.now = 12.0
    assert guard.admit(a) is None  # under its own limit, but no room left

    assert calls.due == [20.0]  # not 15: there is no room before 20
    clock.now = 15.0
    assert guard.counted(final=False) == []
    clock.now = 20.0
    [count] = guard.counted(final=False)
    assert count.exceptions == a.exceptions
    assert calls.due == [20.0]


def test_no_call_is_asked_for_while_an_earlier_one_is_due(clock: Clock) -> None:
    calls = Calls()
    guard = StormGuard(limit=1, window=10.0, on_counted=calls)
    a, b = crash(line=1), crash(line=2)
    guard.admit(a)
    guard.admit(a)  # due at 10
    clock.now = 5.0
    guard.admit(b)
    guard.admit(b)  # due at 15: the call at 10 comes first
    assert calls.due == [10.0]

    clock.now = 10.0  # takes both: each count at most once per window
    assert len(guard.counted(final=False)) == 2
    assert calls.due == [10.0]


def test_a_failing_call_never_reaches_the_host(clock: Clock) -> None:
    def broken(when: float) -> None:
        raise RuntimeError("no timer")

    guard = StormGuard(limit=1, window=10.0, on_counted=broken)
    guard.admit(crash())
    assert guard.admit(crash()) is None  # counted, the failure swallowed
    [count] = guard.counted()  # the count still goes at exit
    assert count.attributes[OCCURRENCES] == 1


def test_a_forked_child_does_not_send_its_parents_counts(clock: Clock) -> None:
    calls = Calls()
    guard = StormGuard(limit=1, window=10.0, on_counted=calls)
    guard.admit(crash())
    guard.admit(crash())

    guard.after_fork_in_child()  # what a forked child runs

    assert guard.counted() == []  # the parent sends it
    assert guard.admit(crash()) is None  # still a storm in the child
    assert calls.due == [10.0, 10.0]  # the child's own call: the parent's is not its
    [count] = guard.counted()
    assert count.attributes[OCCURRENCES] == 1
