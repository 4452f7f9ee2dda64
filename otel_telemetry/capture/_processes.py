"""Crashes of ``multiprocessing`` children, which no hook of the interpreter sees.

A ``multiprocessing.Process`` whose target raises ends in ``BaseProcess._bootstrap``:
the traceback is printed and the child leaves through ``os._exit``, so neither
``sys.excepthook`` nor ``atexit`` runs. What does run, in every start method, is the
child's ``multiprocessing.util`` machinery: after-fork callbacks (when the child
starts) and exit finalizers (in the ``finally`` around the target, while its exception
is still in flight). We add one of each, next to the host's, replacing nothing: the
finalizer reports the exception in flight and flushes within the exit budget.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from multiprocessing.util import Finalize
    from typing import Callable, Optional

MECHANISM = "multiprocessing"

_watching: list[Watch] = []
"""Each ``Telemetry``'s callback: strong references, for ``register_after_fork`` keeps weak ones."""
_registered_at_fork = False


def watch_children(
    report: Callable[[BaseException, str], None], settle: Callable[[], None]
) -> Watch:
    """Report the crash of any later ``multiprocessing`` child, then settle its exit.

    Args:
        report: reports an exception with its mechanism (never raises).
        settle: the exit's last steps and flush, within the exit budget.

    Returns:
        The watch; ``stop()`` ends it (``uninstall``).
    """
    global _registered_at_fork

    def at_child_exit() -> None:
        if not holder.active:
            return
        exc = sys.exc_info()[1]
        if exc is not None:
            report(exc, MECHANISM)
        settle()

    def in_child(_: object) -> None:
        finalizer = holder.finalizer
        if not holder.active or (finalizer is not None and finalizer.still_active()):
            return  # ours is in place (a forkserver child empties the registry: not then)
        try:
            from multiprocessing.util import Finalize

            # Priority 0 runs first at the child's exit, in the ``finally`` around the
            # target.
            holder.finalizer = Finalize(None, at_child_exit, exitpriority=0)
        except Exception:
            pass

    holder = Watch(in_child)
    _watching.append(holder)
    _register(holder)
    if not _registered_at_fork and hasattr(os, "register_at_fork"):
        # multiprocessing may be imported after us: a forked child registers then.
        os.register_at_fork(after_in_child=_register_all)
        _registered_at_fork = True
    return holder


class Watch:
    """What ``register_after_fork`` keeps a weak reference to, with its callback."""

    __slots__ = ("__weakref__", "active", "callback", "finalizer", "registered")

    def __init__(self, callback: Callable[[object], None]) -> None:
        self.callback = callback
        self.active = True
        self.registered = False  # a forked child inherits the registration with it
        self.finalizer: Optional[Finalize] = None  # the exit finalizer in place, if any

    def stop(self) -> None:
        """Report no child's crash any more (the registrations stay, and do nothing)."""
        self.active = False


def _register(holder: Watch) -> None:
    util = sys.modules.get("multiprocessing.util")
    if util is None:
        return
    try:
        if not holder.registered:
            util.register_after_fork(holder, holder.callback)
            holder.registered = True
        # A spawned (or forkserver) child runs no after-fork callback, and keeps the
        # finalizers registered while its target is imported: add ours now.
        if util.process.current_process().name != "MainProcess":
            holder.callback(holder)
    except Exception:
        pass


def _register_all() -> None:
    for holder in _watching:
        _register(holder)
