"""Forked children: every object that owns a lock or a thread renews it in the child.

A child of ``fork()`` has one thread, the one that forked; a lock another thread held
at that moment stays held in the child forever, and a worker thread is not there at
all. Each object of ours that owns one registers a method that renews it
(:func:`renew_in_child`). The object is referred to weakly, so registering never keeps
it alive; and since ``os.register_at_fork`` callbacks cannot be removed, there is one
for all of them, not one per object (pipelines, processors and storm guards come and
go). A child also forgets the modules our worker was importing at the fork, so that it
can import them again.
"""

from __future__ import annotations

import os
import sys
import threading

# The C type behind weakref.ref: the ``weakref`` module itself (for its WeakMethod) cost
# a host without it a third of a millisecond at install.
from _weakref import ref

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable


# (the object, weakly; the method's function): a WeakMethod, in two parts.
_renewals: list[tuple[ref[Any], Callable[[Any], None]]] = []


def renew_in_child(renew: Callable[[], None]) -> None:
    """Call the bound method ``renew`` in every child forked from now on.

    Only while its object lives; nothing where there is no ``fork`` (Windows).
    """
    _renewals[:] = [(owner, function) for owner, function in _renewals if owner() is not None]
    _renewals.append((ref(renew.__self__), renew.__func__))  # type: ignore[attr-defined]


def _renew_all() -> None:
    for owner, function in list(_renewals):
        alive = owner()
        if alive is not None:
            function(alive)


# A child forked while another thread was in the middle of an import (our worker
# imports the pipeline at the first report, the standard library's ``sysconfig``
# included) inherits a module half executed, and the import lock of that module held
# by a thread the child does not have: the next import of it fails, or waits forever.
# The child forgets both, so that it imports the module again when asked. The imports
# of its own thread, the one that forked, are left for it to finish.


def _forget_unfinished_imports() -> None:
    try:
        import _frozen_importlib as bootstrap  # importlib's own, with its module locks
        import _thread

        locks = bootstrap._module_locks  # type: ignore[attr-defined]
        me = _thread.get_ident()
        for name, ref in list(locks.items()):
            owner = getattr(ref(), "owner", None)
            if not owner or owner == me:
                continue
            locks.pop(name, None)
            spec = getattr(sys.modules.get(name), "__spec__", None)
            if getattr(spec, "_initializing", False):
                sys.modules.pop(name, None)
    except Exception:
        pass  # another interpreter's importlib: never in the way of the host's child


# CPython's ``logging`` registers an at-fork pair when first imported: acquire its lock
# before a fork, release it after. Registered from our worker while the host's thread
# is between the two halves of a fork, the release runs alone, and the host's stderr
# gets "Exception ignored ... cannot release un-acquired lock". The worker's imports
# (the OTel SDK) import ``logging``. Importing it on the host's thread would cost the
# host's first capture ~8 ms; instead our worker imports it holding ``_pair_guard``,
# which a fork takes first (``_before_fork``): a fork begun before the import waits
# for it to end, so the pair is never registered between the two halves of a fork.
# The wait is bounded (FORK_WAIT): if the pair was registered just before the fork
# began, ``logging``'s own ``before`` holds its lock, which the rest of its import may
# need; the fork then goes on after FORK_WAIT, its pair whole (and the child forgets
# the unfinished import, above). No other module the worker imports registers a pair
# (a test lists them).

FORK_WAIT = 0.5
"""Seconds a fork waits at most for our worker's import of ``logging`` to end."""

_pair_guard = threading.Lock()
_guard_taken = False


def import_fork_pairs() -> None:
    """Import the modules whose import registers an at-fork pair; safe on any thread.

    On a thread of ours while the host may fork: no fork happens while the import
    registers its pair (see above). Imports nothing when they are loaded already.
    """
    if "logging" in sys.modules:
        return
    with _pair_guard:
        try:
            import logging  # noqa: F401
        except Exception:
            # A host's import hook that fails (or a blocked `logging`): the import is
            # made again where it is needed, and reported there; this thread lives on.
            pass


def _before_fork() -> None:
    global _guard_taken
    if _pair_guard.acquire(blocking=False):
        _guard_taken = True
        return
    # Our worker is importing `logging`: wait for the import to end.
    _guard_taken = _pair_guard.acquire(timeout=FORK_WAIT)
    if _guard_taken:
        _balance_logging_pair()


def _balance_logging_pair() -> None:
    """Acquire for ``logging`` what its own ``before`` would have, if it did not run.

    The import we waited for may have registered its pair after this fork chose its
    ``before`` callbacks (they are chosen when the fork begins) but before it chooses
    its ``after_in_parent`` ones: that release would then run alone. Its lock is
    acquired here, as its ``before`` does; the child renews it (its ``after_in_child``).
    """
    logging = sys.modules.get("logging")
    spec = getattr(logging, "__spec__", None)
    if logging is None or getattr(spec, "_initializing", False):
        return  # not imported, or its import failed: no pair was registered
    lock = getattr(logging, "_lock", None)
    is_owned = getattr(lock, "_is_owned", None)
    if lock is not None and is_owned is not None and not is_owned():
        lock.acquire()


def _after_fork_in_parent() -> None:
    global _guard_taken
    if _guard_taken:
        _guard_taken = False
        _pair_guard.release()


def _after_fork_in_child() -> None:
    # The thread that held it is not in the child: a new lock, free.
    global _pair_guard, _guard_taken
    _pair_guard = threading.Lock()
    _guard_taken = False


if hasattr(os, "register_at_fork"):
    # The imports first: a renewal may import (a new lock, a worker's thread).
    os.register_at_fork(
        before=_before_fork,
        after_in_parent=_after_fork_in_parent,
        after_in_child=_after_fork_in_child,
    )
    os.register_at_fork(after_in_child=_forget_unfinished_imports)
    os.register_at_fork(after_in_child=_renew_all)
