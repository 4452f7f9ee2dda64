"""The worker (``pipeline/_worker.py``): one thread, jobs in order, never blocks the host."""

from __future__ import annotations

import os
import threading
import time

import pytest

from otel_telemetry.pipeline._worker import Worker

WAIT = 5.0  # seconds; only reached when a test fails


class Blocker:
    """A job that holds the worker until released, so the queue fills deterministically."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()

    def __call__(self) -> None:
        self.started.set()
        self.release.wait(WAIT)


def test_jobs_run_in_order_on_one_named_thread() -> None:
    worker = Worker("unit-worker", max_queue=100)
    ran: list[int] = []
    threads: set[str] = set()

    def job(index: int):
        def run() -> None:
            ran.append(index)
            threads.add(threading.current_thread().name)

        return run

    for index in range(50):
        worker.submit(job(index), droppable=index % 2 == 0)

    assert worker.wait(WAIT)
    assert ran == list(range(50))
    assert threads == {"unit-worker"}
    assert worker.dropped == 0


@pytest.mark.parametrize(
    ("max_queue", "jobs", "ran", "dropped"),
    [
        # jobs: (name, droppable), submitted while the worker is busy.
        pytest.param(3, [("a", True), ("b", True), ("c", True)], "abc", 0, id="fits"),
        pytest.param(
            2, [("a", True), ("b", True), ("c", True)], "bc", 1, id="oldest droppable dropped"
        ),
        pytest.param(2, [("a", False), ("b", True), ("c", True)], "ac", 1, id="non-droppable kept"),
        pytest.param(
            2, [("a", True), ("b", False), ("c", False), ("d", False)], "bcd", 1, id="grows past"
        ),
        pytest.param(
            2, [("a", False), ("b", False), ("c", True)], "abc", 0, id="nothing droppable"
        ),
        pytest.param(
            1, [("a", True), ("b", True), ("c", True), ("d", False)], "d", 3, id="queue of one"
        ),
    ],
)
def test_a_full_queue_drops_its_oldest_droppable_job(
    max_queue: int, jobs: list[tuple[str, bool]], ran: str, dropped: int
) -> None:
    worker = Worker("unit-worker", max_queue=max_queue)
    blocker = Blocker()
    worker.submit(blocker)
    assert blocker.started.wait(WAIT)  # the queue is empty again, the worker busy
    done: list[str] = []

    for name, droppable in jobs:
        worker.submit(lambda name=name: done.append(name), droppable=droppable)
    assert worker.dropped == dropped
    blocker.release.set()

    assert worker.wait(WAIT)
    assert "".join(done) == ran


def test_wait_is_bounded_and_true_when_idle() -> None:
    worker = Worker("unit-worker", max_queue=4)
    assert worker.wait(0) is True  # nothing queued yet
    blocker = Blocker()
    worker.submit(blocker)

    start = time.monotonic()
    assert worker.wait(0.05) is False
    assert time.monotonic() - start < 1.0
    assert worker.wait(0) is False

    blocker.release.set()
    assert worker.wait(WAIT) is True
    assert worker.wait(None) is True
    assert worker.wait(0) is True


def test_a_raising_job_does_not_stop_the_worker() -> None:
    worker = Worker("unit-worker", max_queue=4)
    ran: list[str] = []

    def fails() -> None:
        raise RuntimeError("a report failed")

    worker.submit(fails)
    worker.submit(lambda: ran.append("after"))

    assert worker.wait(WAIT)
    assert ran == ["after"]


@pytest.mark.integration
@pytest.mark.skipif(not hasattr(os, "fork"), reason="no os.fork on this platform")
def test_a_forked_child_starts_afresh() -> None:
    worker = Worker("unit-worker", max_queue=1)
    blocker = Blocker()
    worker.submit(blocker)
    assert blocker.started.wait(WAIT)
    worker.submit(lambda: None, droppable=True)
    worker.submit(lambda: None, droppable=True)  # drops one: dropped == 1
    assert worker.dropped == 1

    pid = os.fork()
    if pid == 0:  # the child: no worker thread, the parent's queue and lock gone
        code = 1
        try:
            ran: list[str] = []
            fresh = worker.dropped == 0 and worker.wait(0)
            worker.submit(lambda: ran.append("child"))
            code = 0 if fresh and worker.wait(WAIT) and ran == ["child"] else 2
        finally:
            os._exit(code)
    blocker.release.set()
    _, status = os.waitpid(pid, 0)

    assert os.waitstatus_to_exitcode(status) == 0
    assert worker.wait(WAIT)
    assert worker.dropped == 1  # the parent's own state is untouched


# -- timed jobs (``submit_at``: the storm counts' call when a window closes) -------------------


def test_a_timed_job_runs_once_its_time_comes_in_order_with_the_others() -> None:
    worker = Worker("unit-worker", max_queue=8)
    ran: list[str] = []
    due = threading.Event()
    start = time.monotonic()

    worker.submit_at(start + 0.2, lambda: (ran.append("later"), due.set()))
    worker.submit_at(start + 0.1, lambda: ran.append("sooner"))
    worker.submit(lambda: ran.append("now"))

    assert due.wait(WAIT)
    assert ran == ["now", "sooner", "later"]
    assert time.monotonic() >= start + 0.2  # not before its time


def test_wait_does_not_wait_for_a_job_whose_time_has_not_come() -> None:
    worker = Worker("unit-worker", max_queue=8)
    ran: list[str] = []
    worker.submit_at(time.monotonic() + 3600, lambda: ran.append("in an hour"))
    worker.submit(lambda: ran.append("now"))

    assert worker.wait(WAIT)  # True at once: the timed job is not pending yet
    assert ran == ["now"]


def test_a_timed_job_already_due_runs_at_once() -> None:
    worker = Worker("unit-worker", max_queue=8)
    done = threading.Event()
    worker.submit_at(time.monotonic() - 1, done.set)
    assert done.wait(WAIT)


def test_timed_jobs_are_bounded_the_one_due_last_forgotten() -> None:
    worker = Worker("unit-worker", max_queue=3)
    blocker = Blocker()
    worker.submit(blocker)
    assert blocker.started.wait(WAIT)  # nothing timed runs until it is released
    ran: list[str] = []
    last = threading.Event()
    now = time.monotonic()
    # Four for three places, all due already: "b", due last, is forgotten.
    worker.submit_at(now - 0.4, lambda: ran.append("a"))
    worker.submit_at(now - 0.1, lambda: ran.append("b"))
    worker.submit_at(now - 0.3, lambda: ran.append("c"))
    worker.submit_at(now - 0.2, lambda: (ran.append("d"), last.set()))
    blocker.release.set()

    assert last.wait(WAIT)
    assert ran == ["a", "c", "d"]  # in the order they were due


def test_timed_jobs_due_at_once_run_in_the_order_they_were_given() -> None:
    worker = Worker("unit-worker", max_queue=10)
    blocker = Blocker()
    worker.submit(blocker)
    assert blocker.started.wait(WAIT)
    ran: list[int] = []
    last = threading.Event()
    when = time.monotonic() - 1
    for index in range(5):
        worker.submit_at(when, lambda index=index: ran.append(index))
    worker.submit_at(when - 1, lambda: ran.append(-1))
    worker.submit_at(when, last.set)
    blocker.release.set()

    assert last.wait(WAIT)
    assert ran == [-1, 0, 1, 2, 3, 4]


@pytest.mark.integration
@pytest.mark.skipif(not hasattr(os, "fork"), reason="no os.fork on this platform")
def test_a_forked_child_has_none_of_its_parents_timed_jobs() -> None:
    worker = Worker("unit-worker", max_queue=8)
    ran: list[str] = []
    parent_done = threading.Event()
    worker.submit_at(time.monotonic() + 0.3, lambda: (ran.append("parent"), parent_done.set()))

    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            child_done = threading.Event()
            worker.submit_at(time.monotonic() + 0.5, child_done.set)  # after the parent's
            code = 0 if child_done.wait(WAIT) and ran == [] else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)

    assert os.waitstatus_to_exitcode(status) == 0
    assert parent_done.wait(WAIT)
    assert ran == ["parent"]


def test_items_queued_while_the_worker_is_busy_run_as_one_batch_in_order() -> None:
    worker = Worker("unit-batches", max_queue=100, max_items=100, max_batch=3)
    blocker = Blocker()
    worker.submit(blocker)
    assert blocker.started.wait(WAIT)
    batches: list[list[int]] = []
    ran: list[object] = []
    for item in range(5):
        worker.submit_item(item, batches.append)
    worker.submit(lambda: ran.append("job"))  # a job between: the next items batch after it
    worker.submit_item(5, batches.append)
    worker.submit(lambda: ran.append(list(batches)))
    blocker.release.set()
    assert worker.wait(WAIT)

    # At most max_batch per batch, in the order queued, never across the job between.
    assert batches == [[0, 1, 2], [3, 4], [5]]
    assert ran == ["job", [[0, 1, 2], [3, 4], [5]]]


@pytest.mark.parametrize(
    ("max_items", "max_bytes", "sizes", "kept"),
    [
        (3, 0, [1, 1, 1, 1, 1], [2, 3, 4]),  # the count bound: the oldest go
        (0, 10, [4, 4, 4, 1], [1, 2, 3]),  # the bytes bound: the oldest go
        (0, 10, [4, 4, 50], [2]),  # as many as it takes; the newest stays, even alone
    ],
)
def test_waiting_items_are_bounded_in_count_and_bytes_oldest_dropped_and_counted(
    max_items: int, max_bytes: int, sizes: list[int], kept: list[int]
) -> None:
    worker = Worker("unit-bounds", max_queue=100, max_items=max_items, max_bytes=max_bytes)
    blocker = Blocker()
    worker.submit(blocker)
    assert blocker.started.wait(WAIT)
    seen: list[int] = []
    dropped = [worker.submit_item(i, seen.extend, size) for i, size in enumerate(sizes)]
    blocker.release.set()
    assert worker.wait(WAIT)

    assert seen == kept
    assert worker.dropped == len(sizes) - len(kept)
    assert [d for ds in dropped for d in ds] == sorted(set(range(len(sizes))) - set(kept))


def _refuse_the_first_start(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first thread started raises RecursionError, as near the recursion limit."""
    original = threading.Thread.start
    refused: list[int] = []

    def start(self: threading.Thread) -> None:
        if not refused:
            refused.append(1)
            raise RecursionError("maximum recursion depth exceeded")
        original(self)

    monkeypatch.setattr(threading.Thread, "start", start)


@pytest.mark.parametrize("local", [True, False])
def test_a_start_refused_near_the_recursion_limit_is_tried_again_by_a_wait(
    monkeypatch: pytest.MonkeyPatch, local: bool
) -> None:
    # A first report made near the host's recursion limit: starting the thread raises
    # RecursionError (a RuntimeError, which interpreter shutdown raises too). The job
    # neither runs on that deep stack nor waits forever: the next wait starts the worker.
    _refuse_the_first_start(monkeypatch)
    worker = Worker("otel_telemetry.test", 8, local=local)
    ran: list[str] = []
    worker.submit(lambda: ran.append(threading.current_thread().name))

    assert ran == []  # not inline
    assert worker.wait(5) is True
    assert ran == ["otel_telemetry.test"]


def test_an_item_joining_a_batch_whose_start_was_refused_starts_the_worker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The first item's batch was queued, but its thread could not start (a deep stack);
    # the next item joins that batch, and must not leave it waiting for a worker.
    _refuse_the_first_start(monkeypatch)
    worker = Worker("otel_telemetry.test", 8, local=True, max_batch=10)
    batches: list[list[str]] = []
    worker.submit_item("first", batches.append)
    worker.submit_item("second", batches.append)  # joins the first's batch, starts it

    deadline = time.monotonic() + WAIT
    while not batches and time.monotonic() < deadline:
        time.sleep(0.001)
    assert batches == [["first", "second"]]
