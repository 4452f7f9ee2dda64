"""A queue and one daemon thread that runs its jobs in order.

``submit`` never blocks the host: when the queue is full, the oldest job that may be
dropped is dropped (and counted). ``submit_at`` queues a job when its time comes: the
thread waits until the earliest one is due. A forked child has the queue but not the
thread, and maybe a lock held by a thread that does not exist there, so the child
starts afresh (without the parent's timed jobs: they are the parent's).
"""

from __future__ import annotations

import heapq
import threading
import time
from collections import deque

from otel_telemetry._fork import import_fork_pairs, renew_in_child
from otel_telemetry._log import debug

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Optional

    Job = Callable[[], object]  # what a job returns is not used


def wait_time(timeout: Optional[float]) -> Optional[float]:
    """``timeout`` as ``threading`` can wait it.

    None (no bound) for what is longer than it can wait (``inf``, ``1e300``), 0 for what
    is not a number.
    """
    if timeout is None or timeout >= threading.TIMEOUT_MAX:
        return None
    return timeout if timeout == timeout else 0.0  # NaN is the one value unequal to itself


IDLE = 1.0
"""Seconds between two looks, in a child forked from a thread, at whether the host's
thread has ended (see ``Worker._run``)."""


def _host_thread_alive() -> bool:
    return threading.main_thread().is_alive()


class Worker:
    """Runs jobs on one thread, started at the first job.

    Args:
        name: the thread's name.
        max_queue: the most jobs waiting; the oldest droppable one goes first.
        local: its jobs never wait on the network, so the main thread may run them
            itself when no thread can start (see ``submit``).
    """

    def __init__(self, name: str, max_queue: int, *, local: bool = False) -> None:
        self._name = name
        self._max_queue = max_queue
        self._local = local
        self._reset()
        self._idle_exit = False
        renew_in_child(self._reset_in_child)

    def _reset(self) -> None:
        self._cond = threading.Condition()
        self._queue: deque[tuple[Job, bool]] = deque()
        self._pending = 0  # queued or running
        # Jobs waiting for their time: (time.monotonic() due, order, job), earliest first.
        self._timers: list[tuple[float, int, Job]] = []
        self._timer_order = 0
        self._thread: Optional[threading.Thread] = None
        self.dropped = 0
        """Droppable jobs dropped because the queue was full."""

    def _reset_in_child(self) -> None:
        self._reset()
        # Forked from a thread other than the main one: that thread is the child's only
        # thread of the host, and the process ends when it does (no finalization).
        self._idle_exit = threading.current_thread().name != "MainThread"

    def submit(self, job: Job, *, droppable: bool = False) -> None:
        """Queue ``job``; never blocks. A full queue drops its oldest droppable job."""
        with self._cond:
            if len(self._queue) >= self._max_queue:
                for index, (_, may_drop) in enumerate(self._queue):
                    if may_drop:
                        del self._queue[index]
                        self._pending -= 1
                        self.dropped += 1
                        break
            self._queue.append((job, droppable))
            self._pending += 1
            self._cond.notify()
            if self._thread is None:
                self._start()
            # No thread can start (interpreter shutdown: Python 3.12 refuses one once the
            # main thread has ended): the job runs here rather than never. A job that may
            # wait on the network only on a daemon thread (ours), which exit does not wait
            # for: exit waits no longer than the budget, and what is left queued waits on
            # disk for a later run.
            inline = self._thread is None and (self._local or threading.current_thread().daemon)
        if inline:
            self._run_queued()

    def submit_at(self, when: float, job: Job) -> None:
        """Queue ``job`` once ``time.monotonic()`` reaches ``when``; never blocks.

        It then runs in order with the others (never dropped from a full queue). Until
        then it is not waited for by :meth:`wait`. At most ``max_queue`` wait for their
        time: beyond that, the one due last is forgotten.
        """
        with self._cond:
            heapq.heappush(self._timers, (when, self._timer_order, job))
            self._timer_order += 1
            if len(self._timers) > self._max_queue:  # not a report: not counted as dropped
                self._timers.remove(max(self._timers))
                heapq.heapify(self._timers)
            self._cond.notify()
            if self._thread is None:
                self._start()

    def wait(self, timeout: Optional[float]) -> bool:
        """Wait until every job queued so far has run; False when ``timeout`` passed first."""
        timeout = wait_time(timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._pending:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    def _start(self) -> None:
        import_fork_pairs()
        thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        try:
            thread.start()
        except RuntimeError:
            debug("otel_telemetry: worker cannot start at interpreter shutdown; runs inline")
            return
        self._thread = thread

    def _run_queued(self) -> None:
        while True:
            with self._cond:
                if not self._queue or self._thread is not None:
                    return
                job, _ = self._queue.popleft()
            self._run_one(job)

    def _run_one(self, job: Job) -> None:
        try:
            job()
        except Exception:
            debug("otel_telemetry: report failed", exc_info=True)
        finally:
            with self._cond:
                self._pending -= 1
                self._cond.notify_all()

    def _queue_due(self) -> Optional[float]:
        """Queue the timed jobs that are due; the seconds until the next one (None: none)."""
        timers = self._timers
        while timers:
            left = timers[0][0] - time.monotonic()
            if left > 0:
                return left
            _, _, job = heapq.heappop(timers)
            self._queue.append((job, False))
            self._pending += 1
        return None

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    until_timer = self._queue_due()
                    if self._queue:
                        break
                    timeout = IDLE if self._idle_exit else None
                    if until_timer is not None:
                        timeout = until_timer if timeout is None else min(timeout, until_timer)
                    self._cond.wait(wait_time(timeout))
                    if not self._queue and self._idle_exit and not _host_thread_alive():
                        # A child forked from a thread of the host ends when that thread
                        # does, unless a thread of ours lives on: so ours ends, idle.
                        self._thread = None
                        return
                job, _ = self._queue.popleft()
            self._run_one(job)
