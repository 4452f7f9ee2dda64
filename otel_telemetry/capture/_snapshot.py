"""Capture: what the app thread takes from an exception, and nothing more.

The app thread only walks the traceback and copies four plain values per frame; no
locals, no source lines, no formatting. Paths are made relative, stack text is written
and everything is scrubbed later, off the app thread (``pipeline/``).
Holding no frame or traceback object also means the host's locals are not kept alive.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
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


@dataclass(frozen=True)
class RawException:
    """One exception of a chain, as taken on the app thread."""

    module: str
    qualname: str
    message: str
    frames: tuple[RawFrame, ...]
    omitted_frames: int = 0
    relation: Relation = ""
    """How this exception leads to the next one of the chain: ``cause`` (``raise ... from``),
    ``context`` (raised while handling it), or empty for the exception raised last."""


@dataclass(frozen=True)
class CapturedException:
    """An exception report: the chain from root cause to the exception raised."""

    exceptions: tuple[RawException, ...]
    mechanism: str
    """Where it was caught: ``excepthook``, ``threading.excepthook``, ``capture_errors``, ..."""
    handled: bool
    time_ns: int = field(default_factory=time.time_ns)
    attributes: Mapping[str, Any] = field(default_factory=dict)
    """Extra span attributes: the ASGI middleware's route, a storm's occurrence count."""


@dataclass(frozen=True)
class CapturedEvent:
    """A usage event of ``send_event``."""

    name: str
    payload: Mapping[str, Any]
    time_ns: int = field(default_factory=time.time_ns)


Captured = Union[CapturedException, CapturedEvent]


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
) -> CapturedException:
    """Snapshot an exception and its ``__cause__``/``__context__`` chain, root cause first."""
    chain: list[RawException] = []
    seen: set[int] = set()
    current: Optional[BaseException] = exc
    relation: Relation = ""
    while current is not None and id(current) not in seen and len(chain) < MAX_CHAIN:
        seen.add(id(current))
        frames, omitted = _walk(current.__traceback__)
        chain.append(
            RawException(
                module=type(current).__module__,
                qualname=type(current).__qualname__,
                message=_safe_str(current),
                frames=frames,
                omitted_frames=omitted,
                relation=relation,
            )
        )
        if current.__cause__ is not None:
            current, relation = current.__cause__, "cause"
        elif current.__context__ is not None and not current.__suppress_context__:
            current, relation = current.__context__, "context"
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
    return any(
        is_in_package(frame[3], packages) for entry in captured.exceptions for frame in entry.frames
    )


def is_in_package(module: str, packages: Sequence[str]) -> bool:
    """True for ``pkg`` itself and its submodules ``pkg.x``, not for ``pkgfoo``."""
    return any(module == pkg or module.startswith(pkg + ".") for pkg in packages)


def _walk(tb: Optional[TracebackType]) -> tuple[tuple[RawFrame, ...], int]:
    frames: list[RawFrame] = []
    while tb is not None:
        frame = tb.tb_frame
        code = frame.f_code
        frames.append(
            (
                code.co_filename,
                tb.tb_lineno,
                getattr(code, "co_qualname", code.co_name),
                frame.f_globals.get("__name__") or "",
            )
        )
        tb = tb.tb_next
    if len(frames) <= MAX_FRAMES:
        return tuple(frames), 0
    omitted = len(frames) - MAX_FRAMES
    tail = MAX_FRAMES - HEAD_FRAMES
    return tuple(frames[:HEAD_FRAMES] + frames[-tail:]), omitted


def _safe_str(exc: BaseException) -> str:
    # A host's __str__ may itself raise; the report must still be made.
    try:
        return str(exc)
    except Exception:
        return "<exception str() failed>"
