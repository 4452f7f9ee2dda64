"""Attributes of exceptions and classes, read through the built-in descriptors.

A host's exception class may shadow ``args``, ``__cause__`` or ``__module__`` with a
property, which would run the host's code on our path (it may block, raise or recurse).
Reading through the descriptors of ``BaseException`` and ``type`` themselves runs none.
"""

from __future__ import annotations

ARGS = vars(BaseException)["args"].__get__
TRACEBACK = vars(BaseException)["__traceback__"].__get__
CAUSE = vars(BaseException)["__cause__"].__get__
CONTEXT = vars(BaseException)["__context__"].__get__
SUPPRESS_CONTEXT = vars(BaseException)["__suppress_context__"].__get__
INSTANCE_DICT = vars(BaseException)["__dict__"].__get__
TYPE_MODULE = vars(type)["__module__"].__get__
TYPE_QUALNAME = vars(type)["__qualname__"].__get__
TYPE_MRO = vars(type)["__mro__"].__get__
TYPE_DICT = vars(type)["__dict__"].__get__
