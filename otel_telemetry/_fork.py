"""Forked children: every object that owns a lock or a thread renews it in the child.

A child of ``fork()`` has one thread, the one that forked; a lock another thread held
at that moment stays held in the child forever, and a worker thread is not there at
all. Each object of ours that owns one registers a method that renews it
(:func:`renew_in_child`). The object is referred to weakly, so registering never keeps
it alive, and ``os.register_at_fork`` callbacks cannot be removed. A child also forgets
the modules our worker was importing at the fork, so that it can import them again.
"""

from __future__ import annotations

import os
import sys
import weakref

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable


def renew_in_child(renew: Callable[[], None]) -> None:
    """Call the bound method ``renew`` in every child forked from now on.

    Only while its object lives; nothing where there is no ``fork`` (Windows).
    """
    if not hasattr(os, "register_at_fork"):
        return
    method = weakref.WeakMethod(renew)

    def after_in_child() -> None:
        alive = method()
        if alive is not None:
            alive()

    os.register_at_fork(after_in_child=after_in_child)


# What our workers import lazily, at the first report: a child forked in the middle of
# such an import inherits a module half executed, which no thread of the child will
# finish (every later import of it fails). The child forgets those, to import them again.
_OUR_IMPORTS = ("otel_telemetry.", "opentelemetry.", "google.protobuf", "grpc", "certifi")


def _forget_unfinished_imports() -> None:
    for name, module in list(sys.modules.items()):
        spec = getattr(module, "__spec__", None)
        if name.startswith(_OUR_IMPORTS) and getattr(spec, "_initializing", False):
            sys.modules.pop(name, None)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_unfinished_imports)
