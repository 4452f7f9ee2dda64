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
