"""Capture: what the app thread takes from an exception, and nothing more.

The app thread only walks the traceback and copies four plain values per frame; no
locals, no source lines, no formatting. Paths are made relative, stack text is written
and everything is scrubbed later, off the app thread (``pipeline/``).
Holding no frame or traceback object also means the host's locals are not kept alive.

The host's exception is only read, never changed, and no code of the host runs: its
``__str__`` may block, raise ``KeyboardInterrupt`` or recurse, so the message is taken
from the exception's arguments when they are plain values (``str``, ``int``...), with
the built-in formatting of its class when that class's ``__str__`` is a built-in one.
An exception whose own ``__str__`` is not built in, or whose arguments are other
objects, is described by its plain arguments only, the others standing as ``<object>``.
A message longer than ``MAX_MESSAGE`` characters is cut, so that a 20 MiB message costs
the host's thread no more than a slice: the cut backs off to a space at least
``CUT_MARGIN`` characters before it, so that a secret the cut runs through is dropped
whole rather than kept in part, unscrubbable (the worker scrubs what is kept, then cuts
it again to what a report holds). A quoted value the cut runs through has lost its
closing quote: the ``value`` rule knows this cut's marker (``... [N more characters
cut]``, ``scrubbing._values``) and replaces a literal still open there. Strings that cannot be encoded as UTF-8 (lone
surrogates of undecodable file names) are backslash-escaped, so the report can be sent.
"""

from __future__ import annotations

import builtins
import itertools
import os
import sys
import time

from otel_telemetry._value import Frozen

from ._builtins import (
    ARGS,
    CAUSE,
    CONTEXT,
    SUPPRESS_CONTEXT,
    TRACEBACK,
    TYPE_MODULE,
    TYPE_QUALNAME,
)

# The first capture of a process imports nothing (no dataclasses, typing, re, json):
# these names are for the type checker only, and the classes below are plain slots.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from types import TracebackType
    from typing import Any, Optional, Union

    from otel_telemetry._chain import Relation

RawFrame = tuple[str, int, str, str]
"""``(co_filename, lineno, function, module)`` of one traceback entry."""

#: Exceptions that end a program on purpose; they are never crashes.
NOT_CRASHES: tuple[type[BaseException], ...] = (KeyboardInterrupt, SystemExit, GeneratorExit)

MAX_CHAIN = 10
MAX_FRAMES = 100
HEAD_FRAMES = 10  # kept from the outermost end; the rest of the budget goes to the crash site
MAX_MESSAGE = 64 * 1024
"""Characters of an exception's message taken on the host's thread; the rest is cut."""
CUT_MARGIN = 512
"""Characters before a cut that are dropped too (back to a space): a secret that the cut
runs through goes whole."""

USER_CODE = "<user code>"
"""The module recorded for an exception class of the user's own code (the same text as
``pipeline._spans.USER_CODE``); its qualname is then the nearest base class that is not
(``KeyError``, ``acme.CrawlError``): the user's class name may itself be personal.
Reports name such a class ``<user exception>`` and keep that base apart
(``pipeline._spans``)."""

_PLAIN = (str, int, float, bool, type(None))

# Numbers every capture of the process; ``next`` on a count is atomic under the GIL.
_SEQ = itertools.count(1)


# One call per attribute: cheaper on the host's thread than ``Frozen._set``'s keywords.
_SET = object.__setattr__


class RawException(Frozen):
    """One exception of a chain, as taken on the app thread.

    Attributes:
        module: the module of its class (``USER_CODE`` for a class of the user's code).
        qualname: its class's qualified name.
        message: its message, bounded and sendable.
        frames: the frames of its traceback, outermost first.
        omitted_frames: frames left out of the middle of a traceback too long.
        relation: how this exception leads to the next one of the chain: ``cause``
            (``raise ... from``), ``context`` (raised while handling it), or empty for
            the exception raised last.
    """

    __slots__ = ("frames", "message", "module", "omitted_frames", "qualname", "relation")
    module: str
    qualname: str
    message: str
    frames: tuple[RawFrame, ...]
    omitted_frames: int
    relation: Relation

    def __init__(
        self,
        module: str,
        qualname: str,
        message: str,
        frames: tuple[RawFrame, ...],
        omitted_frames: int = 0,
        relation: Relation = "",
    ) -> None:
        _SET(self, "module", module)
        _SET(self, "qualname", qualname)
        _SET(self, "message", message)
        _SET(self, "frames", frames)
        _SET(self, "omitted_frames", omitted_frames)
        _SET(self, "relation", relation)


class CapturedException(Frozen):
    """An exception report: the chain from root cause to the exception raised.

    Attributes:
        exceptions: the chain, root cause first.
        mechanism: where it was caught: ``excepthook``, ``threading.excepthook``,
            ``capture_errors``, ...
        handled: the host handled it, or may still.
        time_ns: when it was captured (``time.time_ns()`` by default).
        attributes: extra span attributes: the ASGI middleware's route, a storm's
            occurrence count.
        seq: this capture's number in the process: which report a question is about
            (the next number by default).
    """

    __slots__ = ("attributes", "exceptions", "handled", "mechanism", "seq", "time_ns")
    exceptions: tuple[RawException, ...]
    mechanism: str
    handled: bool
    time_ns: int
    attributes: Mapping[str, Any]
    seq: int

    def __init__(
        self,
        exceptions: tuple[RawException, ...],
        mechanism: str,
        handled: bool,
        time_ns: Optional[int] = None,
        attributes: Optional[Mapping[str, Any]] = None,
        seq: Optional[int] = None,
    ) -> None:
        _SET(self, "exceptions", exceptions)
        _SET(self, "mechanism", mechanism)
        _SET(self, "handled", handled)
        _SET(self, "time_ns", time.time_ns() if time_ns is None else time_ns)
        _SET(self, "attributes", {} if attributes is None else attributes)
        _SET(self, "seq", next(_SEQ) if seq is None else seq)

    def replaced(self, *, attributes: Mapping[str, Any], time_ns: int) -> CapturedException:
        """The same report (its ``seq`` too) with other attributes and time."""
        return CapturedException(
            self.exceptions, self.mechanism, self.handled, time_ns, attributes, self.seq
        )


class CapturedEvent(Frozen):
    """A usage event of ``send_event``, checked on the host's thread (``_events``).

    Attributes:
        name: the event's name (the span's name), a valid name of ``_events``.
        payload: its properties, copied at the call: ``None``, ``bool``, ``int``,
            ``float``, short ``str`` values and tuples of one of them
            (``_events.Properties``). The span is built from anything (a value of
            another type becomes JSON text), but ``send_event`` queues nothing else.
        time_ns: when it was sent (``time.time_ns()`` by default).
        seq: this capture's number in the process (the next number by default).
    """

    __slots__ = ("name", "payload", "seq", "time_ns")
    name: str
    payload: Mapping[str, Any]
    time_ns: int
    seq: int

    def __init__(
        self,
        name: str,
        payload: Mapping[str, Any],
        time_ns: Optional[int] = None,
        seq: Optional[int] = None,
    ) -> None:
        _SET(self, "name", name)
        _SET(self, "payload", payload)
        _SET(self, "time_ns", time.time_ns() if time_ns is None else time_ns)
        _SET(self, "seq", next(_SEQ) if seq is None else seq)


if TYPE_CHECKING:
    Captured = Union[CapturedException, CapturedEvent]
else:  # no typing at run time; a tuple still serves isinstance
    Captured = (CapturedException, CapturedEvent)


def is_crash(exc: BaseException) -> bool:
    """False for exceptions that end or cancel work on purpose."""
    if isinstance(exc, NOT_CRASHES):
        return False
    cancelled = sys.modules.get("asyncio")
    return not (cancelled is not None and isinstance(exc, cancelled.CancelledError))


def capture_exception(
    exc: BaseException,
    mechanism: str,
    handled: bool,
    attributes: Optional[Mapping[str, Any]] = None,
    packages: Sequence[str] = (),
) -> CapturedException:
    """Snapshot an exception and its ``__cause__``/``__context__`` chain, root cause first.

    ``packages`` (the host's) name exception classes that are not the user's own code.
    """
    chain: list[RawException] = []
    seen: set[int] = set()
    current: Optional[BaseException] = exc
    relation: Relation = ""
    while current is not None and id(current) not in seen and len(chain) < MAX_CHAIN:
        seen.add(id(current))
        frames, omitted = _walk(TRACEBACK(current))
        module, qualname = class_name(type(current), packages)
        chain.append(
            RawException(
                module=module,
                qualname=qualname,
                message=safe_message(current),
                frames=frames,
                omitted_frames=omitted,
                relation=relation,
            )
        )
        cause, context = CAUSE(current), CONTEXT(current)
        if cause is not None:
            current, relation = cause, "cause"
        elif context is not None and not SUPPRESS_CONTEXT(current):
            current, relation = context, "context"
        else:
            current = None
    chain.reverse()
    return CapturedException(
        exceptions=tuple(chain),
        mechanism=mechanism,
        handled=handled,
        attributes=dict(attributes or {}),
    )


def passes_through(captured: CapturedException, packages: Sequence[str]) -> bool:
    """True when any frame of the chain belongs to one of the host's packages."""
    # Loops, not any() of a generator: asked on the host's thread for every capture.
    for entry in captured.exceptions:
        for frame in entry.frames:
            if is_in_package(frame[3], packages):
                return True
    return False


def is_in_package(module: str, packages: Sequence[str]) -> bool:
    """True for ``pkg`` itself and its submodules ``pkg.x``, not for ``pkgfoo``."""
    # A loop, not any() of a generator: asked for every frame of every capture.
    for pkg in packages:
        if module.startswith(pkg) and (len(module) == len(pkg) or module[len(pkg)] == "."):
            return True
    return False


def _walk(tb: Optional[TracebackType]) -> tuple[tuple[RawFrame, ...], int]:
    frames: list[RawFrame] = []
    while tb is not None:
        frame = tb.tb_frame
        code = frame.f_code
        module = frame.f_globals.get("__name__")
        frames.append(
            (
                sendable(code.co_filename),
                tb.tb_lineno,
                sendable(getattr(code, "co_qualname", code.co_name)),
                sendable(module) if isinstance(module, str) else "",
            )
        )
        tb = tb.tb_next
    if len(frames) <= MAX_FRAMES:
        return tuple(frames), 0
    omitted = len(frames) - MAX_FRAMES
    tail = MAX_FRAMES - HEAD_FRAMES
    return tuple(frames[:HEAD_FRAMES] + frames[-tail:]), omitted


def safe_message(exc: BaseException) -> str:
    """The message of ``exc``, computed without running any code of the host.

    Bounded by ``MAX_MESSAGE`` whatever the size of the arguments, and sendable.
    """
    try:
        args = ARGS(exc)
        defining = _str_owner(type(exc))
        if defining is not None and _all_plain(args, exc):
            # A built-in __str__ over plain values runs no host code and cannot block.
            message = str(exc)
        elif not args:
            message = ""
        elif len(args) == 1:
            message = _plain_str(args[0], repr if defining is KeyError else str)
        else:
            message = "(" + ", ".join(_plain_str(arg, repr) for arg in args) + ")"
        return sendable(_truncated(message))
    except Exception:
        return "<exception message not captured>"


def sendable(text: str) -> str:
    """``text`` as valid UTF-8: lone surrogates (undecodable file names) backslash-escaped."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def class_name(cls: type[BaseException], packages: Sequence[str] = ()) -> tuple[str, str]:
    """``(module, qualname)`` of an exception class.

    A class of the user's own code (not the host's, the standard library's or an
    installed package's) is named ``(USER_CODE, <its nearest base that is not user
    code>)``. Read through ``type``'s own descriptors: no metaclass code of the host runs.
    """
    module: Any
    qualname: Any
    for index, klass in enumerate(cls.__mro__):
        if klass in _BUILTIN_CLASSES:
            module, qualname = "builtins", klass.__name__
        else:
            module, qualname = TYPE_MODULE(klass), TYPE_QUALNAME(klass)
            if not isinstance(module, str) or not isinstance(qualname, str):
                continue
            if _is_user_module(module, packages):
                continue
        if index == 0:
            return sendable(module), sendable(qualname)
        return USER_CODE, sendable(qualname if module == "builtins" else f"{module}.{qualname}")
    return USER_CODE, "BaseException"  # pragma: no cover - BaseException is in every MRO


_BUILTIN_CLASSES = frozenset(
    value
    for value in vars(builtins).values()
    if isinstance(value, type) and issubclass(value, BaseException)
)


def _is_user_module(module: str, packages: Sequence[str]) -> bool:
    """The module is the user's own code.

    That is: not one of the host's packages, and with a file outside the standard library
    and the installed packages.
    """
    if is_in_package(module, packages):
        return False
    loaded = sys.modules.get(module)
    filename = getattr(loaded, "__dict__", {}).get("__file__")
    if not isinstance(filename, str):
        # __main__ of `python -c`, a module made at run time: the user's. A built-in
        # module (no file) is the interpreter's.
        return module == "__main__" or module not in sys.builtin_module_names
    return not (
        filename.startswith(_STDLIB)
        or f"{os.sep}site-packages{os.sep}" in filename
        or f"{os.sep}dist-packages{os.sep}" in filename
    )


# Without sysconfig (slow to import): the standard library is where `os` lives.
_STDLIB = os.path.dirname(os.__file__) + os.sep


def _str_owner(cls: type[BaseException]) -> Optional[type]:
    """The built-in class whose ``__str__`` formats ``cls``, or None if the host's own."""
    for klass in cls.__mro__:
        if "__str__" in klass.__dict__:
            return klass if klass in _BUILTIN_CLASSES else None
    return None


def _all_plain(args: tuple[object, ...], exc: BaseException) -> bool:
    if len(args) > 8 or not all(type(arg) in _PLAIN or type(arg) is bytes for arg in args):
        return False
    if any(type(arg) in (str, bytes) and len(arg) > MAX_MESSAGE for arg in args):  # type: ignore[arg-type]
        return False  # formatting it would copy megabytes on the host's thread
    if isinstance(exc, OSError):  # its __str__ also formats these attributes
        fields = [vars(OSError)[name] for name in ("filename", "filename2", "strerror")]
        return all(type(field.__get__(exc)) in (*_PLAIN, bytes) for field in fields)
    return True


def _plain_str(value: object, format: Any) -> str:
    if type(value) is str:
        value = _truncated(value)
    if type(value) in _PLAIN:
        return str(format(value))
    return "<object>"


def _truncated(text: str) -> str:
    if len(text) <= MAX_MESSAGE:
        return text
    end = MAX_MESSAGE - CUT_MARGIN
    space = max(text.rfind(" ", 0, end), text.rfind("\n", 0, end))
    end = space if space > end // 2 else end  # no space near: the margin alone
    return f"{text[:end]}... [{len(text) - end} more characters cut]"
