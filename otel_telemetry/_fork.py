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
import weakref

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable


_renewals: list[weakref.WeakMethod[Callable[[], None]]] = []


def renew_in_child(renew: Callable[[], None]) -> None:
    """Call the bound method ``renew`` in every child forked from now on.

    Only while its object lives; nothing where there is no ``fork`` (Windows).
    """
    _renewals[:] = [method for method in _renewals if method() is not None]
    _renewals.append(weakref.WeakMethod(renew))


def _renew_all() -> None:
    for method in list(_renewals):
        alive = method()
        if alive is not None:
            alive()


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
# (the OTel SDK) import ``logging``; a host that has not imported it gets it imported
# on its own thread, once, before our first thread starts. No other module the worker
# imports registers a pair (a test lists them).


def import_fork_pairs() -> None:
    """Import on this thread the modules whose import registers an at-fork pair."""
    if "logging" not in sys.modules:
        import logging  # noqa: F401


if hasattr(os, "register_at_fork"):
    # The imports first: a renewal may import (a new lock, a worker's thread).
    os.register_at_fork(after_in_child=_forget_unfinished_imports)
    os.register_at_fork(after_in_child=_renew_all)
