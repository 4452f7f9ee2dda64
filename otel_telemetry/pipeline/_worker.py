"""A queue and one daemon thread that runs its jobs in order.

``submit`` never blocks the host: when the queue is full, the oldest job that may be
dropped is dropped (and counted). ``submit_item`` queues one item (a capture) into a
*batch*: items queued one after another, with no other job between them, are handed to
one job together (at most ``max_batch``), so the worker pays its fixed costs (a build, a
file, a request) once per batch, never once per item; items are bounded in count and
bytes, and the oldest is dropped (and counted) beyond either bound. ``submit_at`` queues a job when its time comes: the
thread waits until the earliest one is due. A forked child has the queue but not the
thread, and maybe a lock held by a thread that does not exist there, so the child
starts afresh (without the parent's timed jobs: they are the parent's).
"""

from __future__ import annotations

import threading
import time
from collections import deque

from otel_telemetry._fork import import_fork_pairs, renew_in_child
from otel_telemetry._log import debug

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Optional

    Job = Callable[[], object]  # what a job returns is not used
    Item = Any


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


class _Batch:
    """A job that runs ``run`` once on the items queued into it while it waited."""

    __slots__ = ("items", "run", "sizes")

    def __init__(self, run: Callable[[list[Item]], object]) -> None:
        self.run = run
        self.items: list[Item] = []
        self.sizes: list[int] = []

    def __call__(self) -> object:
        return self.run(self.items)


class Worker:
    """Runs jobs on one thread, started at the first job.

    Args:
        name: the thread's name.
        max_queue: the most jobs waiting; the oldest droppable one goes first.
        max_items: the most items (``submit_item``) waiting, in all batches.
        max_bytes: the most bytes of items waiting, as their submitters estimated them.
        max_batch: the most items one batch job is given.
        local: its jobs never wait on the network, so the main thread may run them
            itself when no thread can start (see ``submit``).
    """

    def __init__(
        self,
        name: str,
        max_queue: int,
        *,
        local: bool = False,
        max_items: int = 0,
        max_bytes: int = 0,
        max_batch: int = 1,
    ) -> None:
        self._name = name
        self._max_queue = max_queue
        self._max_items = max_items
        self._max_bytes = max_bytes
        self._max_batch = max(1, max_batch)
        self._local = local
        self._reset()
        self._idle_exit = False
        renew_in_child(self._reset_in_child)

    def _reset(self) -> None:
        self._cond = threading.Condition()
        self._queue: deque[tuple[Job, bool]] = deque()
        self._pending = 0  # queued or running
        # Jobs waiting for their time: (time.monotonic() due, order, job), earliest first.
        # Timed jobs, due first first. A sorted list, not a heap: they are few (drains,
        # retries, a storm's counts), and `heapq` would add a third of a millisecond to
        # `install()`'s imports.
        self._timers: list[tuple[float, int, Job]] = []
        self._timer_order = 0
        self._thread: Optional[threading.Thread] = None
        self._items = 0  # items waiting in queued batches
        self._item_bytes = 0
        self.dropped = 0
        """Droppable jobs, and items, dropped because the queue was full."""

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
            inline = self._wake()
        if inline:
            self._run_queued()

    def submit_item(
        self, item: Item, run: Callable[[list[Item]], object], size: int = 0
    ) -> list[Item]:
        """Queue ``item`` for ``run``, in a batch with the items queued right before it.

        Never blocks. The item joins the last job queued when that job is a batch of
        the same ``run`` that has not started and holds fewer than ``max_batch`` items;
        otherwise it starts a new batch job. Each batch runs in order with every other
        job: an item is handled after every job queued before it, and before every job
        queued after it. Beyond ``max_items`` or ``max_bytes`` waiting, the oldest
        waiting items are dropped (and counted in ``dropped``); the newest is kept, even
        alone beyond ``max_bytes``.

        Args:
            item: what ``run`` receives, in a list, with the others of its batch.
            run: called on the worker with the batch's items, in the order queued.
            size: the item's size in bytes, as estimated by the caller.

        Returns:
            The items dropped to make room (the oldest waiting), oldest first.
        """
        dropped: list[Item] = []
        inline = False
        with self._cond:
            last = self._queue[-1][0] if self._queue else None
            if isinstance(last, _Batch) and last.run == run and len(last.items) < self._max_batch:
                # Joined a batch queued and not started: the worker was woken for it,
                # unless it could not start then (a deep stack): tried again now.
                batch = last
                if self._thread is None:
                    inline = self._wake()
            else:
                batch = _Batch(run)
                self._queue.append((batch, False))
                self._pending += 1
                inline = self._wake()
            batch.items.append(item)
            batch.sizes.append(size)
            self._items += 1
            self._item_bytes += size
            while (self._max_items and self._items > self._max_items) or (
                self._max_bytes and self._item_bytes > self._max_bytes and self._items > 1
            ):
                dropped.append(self._drop_oldest_item())
        if inline:
            self._run_queued()
        return dropped

    def _drop_oldest_item(self) -> Item:
        """Drop the oldest item of the oldest waiting batch; its job goes if it is empty.

        Called only while more than one item waits, so there is one (under the lock).
        """
        for index, (job, _) in enumerate(self._queue):
            if isinstance(job, _Batch) and job.items:
                item = job.items.pop(0)
                self._item_bytes -= job.sizes.pop(0)
                self._items -= 1
                self.dropped += 1
                if not job.items:
                    del self._queue[index]
                    self._pending -= 1
                    self._cond.notify_all()
                return item
        raise AssertionError("no item waits")  # pragma: no cover

    def _taken(self, job: Job) -> None:
        """``job`` left the queue to run: its items no longer wait (under the lock)."""
        if isinstance(job, _Batch):
            self._items -= len(job.items)
            self._item_bytes -= sum(job.sizes)

    def submit_at(self, when: float, job: Job) -> None:
        """Queue ``job`` once ``time.monotonic()`` reaches ``when``; never blocks.

        It then runs in order with the others (never dropped from a full queue). Until
        then it is not waited for by :meth:`wait`. At most ``max_queue`` wait for their
        time: beyond that, the one due last is forgotten.
        """
        with self._cond:
            timer = (
                when,
                self._timer_order,
                job,
            )  # the order: never two equal, never a job compared
            timers = self._timers
            index = len(timers)
            while index and timers[index - 1] > timer:
                index -= 1
            timers.insert(index, timer)
            self._timer_order += 1
            if len(timers) > self._max_queue:  # not a report: not counted as dropped
                timers.pop()  # the one due last
            self._wake()  # a timer's job waits for its time: never run inline here

    def wait(self, timeout: Optional[float]) -> bool:
        """Wait until every job queued so far has run; False when ``timeout`` passed first."""
        timeout = wait_time(timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            if self._pending and self._thread is None:
                self._start()  # a start failed on a deep stack: this one may be shallower
            while self._pending:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    def _wake(self) -> bool:
        """Wake the worker for what was just queued, starting it if needed (under the lock).

        Returns:
            Whether the caller runs the queue itself, once out of the lock: no thread can
            start (interpreter shutdown: Python 3.12 refuses one once the main thread has
            ended), so the job runs here rather than never. A job that may wait on the
            network runs so only on a daemon thread (ours), which exit does not wait for:
            exit waits no longer than the budget, and what is left queued waits on disk
            for a later run.
        """
        self._cond.notify()
        return (
            self._thread is None
            and self._start()
            and (self._local or threading.current_thread().daemon)
        )

    def _start(self) -> bool:
        """Start the thread; True when none can start: the caller runs the queue."""
        try:
            thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            thread.start()
        except RecursionError:
            # A first report made near the host's recursion limit: not a reason to run
            # the queue on this deep stack, nor never to start. A later job or a wait
            # (flush, exit) starts the worker from a shallower one.
            return False
        except RuntimeError:
            debug("otel_telemetry: worker cannot start at interpreter shutdown; runs inline")
            return True
        self._thread = thread
        return False

    def _run_queued(self) -> None:
        while True:
            with self._cond:
                if not self._queue or self._thread is not None:
                    return
                job, _ = self._queue.popleft()
                self._taken(job)
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
            _, _, job = timers.pop(0)
            self._queue.append((job, False))
            self._pending += 1
        return None

    def _run(self) -> None:
        # `Thread.start()` returns to the host's thread once this one runs, but this one
        # holds the interpreter until its switch interval (5 ms) ends: let the host's
        # thread go on with its capture first, then import (on this thread, not the
        # host's: the host's first capture imports nothing).
        time.sleep(0)
        import_fork_pairs()
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
                self._taken(job)
            self._run_one(job)
