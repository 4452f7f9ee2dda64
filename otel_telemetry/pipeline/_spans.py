"""Spans: a capture becomes one short OTel span, on the worker.

Exception reports follow the OTel exception conventions (``exception.type``,
``exception.message``, ``exception.stacktrace``) and also keep the structured chain in
``otel_telemetry.exception.chain`` (a JSON string, root cause first, as Python prints it and
as Sentry orders it), so exporters never parse stack text. File names are made relative
to the ``sys.path`` entry they were imported from; a file outside every entry keeps only
its base name. Nothing here is scrubbed yet: the span processor does that.

The user's own code (neither the host's package, the standard library nor an installed
package) keeps only its shape: its frames are ``<user code>`` placeholders, an exception
class of its own is ``<user exception>``, and the message of an exception it raised
(its raising frame, the innermost one of its own traceback that is not the standard
library's or an installed package's, is such a frame) is
``[user message]``, in every link of the chain where that holds, and wherever another
link's message quotes it. That is decided here, on the worker, from the frames capture
took.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Optional, Union

from otel_telemetry import _attributes as attr
from otel_telemetry._chain import ChainEntry, Frame
from otel_telemetry.capture._snapshot import (
    HEAD_FRAMES,
    Captured,
    CapturedEvent,
    CapturedException,
    RawException,
    is_in_package,
)

from ._memo import Memo

if TYPE_CHECKING:
    from ._provider import SpanRecorder

AttributeValue = Union[
    str, bool, int, float, Sequence[str], Sequence[bool], Sequence[int], Sequence[float]
]

_OURS = ("otel_telemetry",)

USER_CODE = "<user code>"
"""Stands for a frame of the user's own code: neither the host, the standard library
nor an installed package. Its file, path, function and module are not kept."""

_CHAIN_HEADERS = {
    "cause": "The above exception was the direct cause of the following exception:",
    "context": "During handling of the above exception, another exception occurred:",
}


USER_EXCEPTION = "<user exception>"
"""Stands for an exception class of the user's own code, whose name may itself be
personal (``alice_clinic.PatientRecordMissing``)."""

USER_MESSAGE = "[user message]"
"""Stands for the message of an exception the user's own code raised."""


class SpanChainEntry(ChainEntry, total=False):
    """A chain entry as written here, with one optional field more.

    ``base``: for a class of the user's own code, its nearest base class that is not
    (``KeyError``, ``acme.CrawlError``); the class itself is ``<user exception>``.
    """

    base: str


def exception_type_name(entry: RawException) -> str:
    """The fully-qualified class name, bare for built-ins (``ValueError``).

    A class of the user's own code is never named: capture records it as ``USER_CODE``
    (with its nearest base that is not, see :func:`user_base`), and it is
    ``<user exception>`` here.
    """
    if entry.module == USER_CODE:
        return USER_EXCEPTION
    if entry.module in ("builtins", "__builtin__", ""):
        return entry.qualname
    return f"{entry.module}.{entry.qualname}"


def user_base(entry: RawException) -> Optional[str]:
    """For a class of the user's own code, its nearest base that is not; else None.

    Named as :func:`exception_type_name` names a class (``KeyError``,
    ``acme.CrawlError``): the standard library's, a library's or the host's.
    """
    return entry.qualname if entry.module == USER_CODE else None


def raised_by_user_code(
    entry: RawException,
    packages: Sequence[str],
    libraries: Optional[Sequence[str]] = None,
) -> bool:
    """True when the user's own code raised ``entry``.

    That is, the raising frame is a ``<user code>`` frame: neither the host's package,
    ours, the standard library nor an installed package. The raising frame is the
    innermost frame of the exception's own traceback that is not the standard library's
    or an installed package's: a function of those called directly from the user's code
    (``datetime.strptime`` on the user's text) raises with the user's data, and its
    message is the user's. An exception without frames (never raised), or whose every
    frame is a library's, is not. A frame with a relative file name is never a
    library's (see :func:`_is_library`).
    """
    roots = _library_roots() if libraries is None else libraries
    for filename, _, _, module in reversed(entry.frames):
        if is_in_package(module, packages) or is_in_package(module, _OURS):
            return False
        if not _is_library(filename, roots):
            return True
    return False


def exception_attributes(
    captured: CapturedException, packages: Sequence[str]
) -> tuple[dict[str, AttributeValue], dict[str, AttributeValue], str]:
    """Return ``(span attributes, exception event attributes, status description)``."""
    roots = _sys_path_roots(tuple(sys.path))
    libraries = _library_roots()
    messages = _link_messages(captured.exceptions, packages, libraries)
    key = (tuple(packages), roots, libraries)
    event, status = _remembered_event(captured.exceptions, messages, key)
    span: dict[str, AttributeValue] = {
        attr.KIND: attr.KIND_EXCEPTION,
        attr.MECHANISM: captured.mechanism,
        attr.HANDLED: captured.handled,
    }
    span.update((key, _attribute_value(value)) for key, value in captured.attributes.items())
    return span, dict(event), status


_events: Memo[tuple[dict[str, AttributeValue], str]] = Memo(
    max_entries=4096,
    longest=16 * 1024,  # longer events (with their keys) are rare
)
"""The exception events remembered (:func:`_remembered_event`)."""


def _remembered_event(
    exceptions: Sequence[RawException],
    messages: Sequence[str],
    key: tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]],
) -> tuple[dict[str, AttributeValue], str]:
    """:func:`_exception_event`, remembered: the same crash again is one lookup.

    Crashes repeat (a retried job, a failing request, a burst from a few sites), and
    their event is a function of the chain's classes, frames and messages as a report
    holds them (a message of the user's is a placeholder by then) and of ``key``. What
    is remembered is bounded in characters, then forgotten all at once. Never changed:
    the caller copies the event.
    """
    try:
        lookup: Any = (
            key,
            tuple(
                (
                    entry.module,
                    entry.qualname,
                    message,
                    entry.frames,
                    entry.omitted_frames,
                    entry.relation,
                )
                for entry, message in zip(exceptions, messages)
            ),
        )
        known = _events.get(lookup)
    except TypeError:  # something unhashable in a frame: worked out each time
        return _exception_event(exceptions, messages, key)
    if known is None:
        known = _exception_event(exceptions, messages, key)
        # What the entry keeps alive: the event's text, and the key's (the raw frames of
        # the user's code, long names maybe, where the event holds placeholders).
        chars = sum(len(value) for value in known[0].values() if isinstance(value, str))
        chars += sum(
            len(message)
            + len(entry.module)
            + len(entry.qualname)
            + sum(_frame_chars(frame) for frame in entry.frames)
            for entry, message in zip(exceptions, messages)
        )
        _events.put(lookup, known, chars)
    return known


def _exception_event(
    exceptions: Sequence[RawException],
    messages: Sequence[str],
    key: tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]],
) -> tuple[dict[str, AttributeValue], str]:
    """The exception event's attributes, and the status description, of a chain."""
    chain: list[SpanChainEntry] = []
    lines: list[str] = []
    for entry, message in zip(exceptions, messages):
        frames = [
            frame
            for frame in (_known_frame(raw, key) for raw in entry.frames)
            # Our own wrappers (capture_errors) are noise in every report; dropped (None).
            if frame is not None
        ]
        type_name = exception_type_name(entry)
        item = SpanChainEntry(
            type=type_name,
            module=entry.module,
            message=message,
            frames=frames,
            omitted_frames=entry.omitted_frames,
            relation=entry.relation,
        )
        base = user_base(entry)
        if base is not None:
            item["base"] = base
        chain.append(item)
        lines.extend(_format_one(type_name, message, entry.omitted_frames, frames))
        if entry.relation:
            lines.extend(("", _CHAIN_HEADERS[entry.relation], ""))
    raised_type = exception_type_name(exceptions[-1])
    message = messages[-1]  # the exception raised last's, as a report holds it
    event: dict[str, AttributeValue] = {
        attr.EXCEPTION_TYPE: raised_type,
        attr.EXCEPTION_MESSAGE: message,
        attr.EXCEPTION_STACKTRACE: "\n".join(lines),
        attr.EXCEPTION_CHAIN: json.dumps(chain, separators=(",", ":")),
    }
    return event, f"{raised_type}: {message}" if message else raised_type


MIN_QUOTED = 4
"""The shortest message of the user's that is also replaced where another link quotes it."""


def _link_messages(
    exceptions: Sequence[RawException], packages: Sequence[str], libraries: Sequence[str]
) -> list[str]:
    """The message of each link, as a report holds it.

    A link the user's code raised has ``[user message]``; and wherever another link's
    message quotes that link's message (the host's ``raise HostError(f"callback failed:
    {exc}") from exc``), the quote is ``[user message]`` too. A message shorter than
    :data:`MIN_QUOTED` characters is not looked for: it could be any word of the host's.
    """
    messages = [entry.message for entry in exceptions]
    users = [
        bool(message) and raised_by_user_code(entry, packages, libraries)
        for entry, message in zip(exceptions, messages)
    ]
    quoted = sorted(
        {m for m, user in zip(messages, users) if user and len(m) >= MIN_QUOTED},
        key=len,
        reverse=True,  # the longest first: one that holds a shorter one goes whole
    )
    result = []
    for message, user in zip(messages, users):
        if user:
            result.append(USER_MESSAGE)
            continue
        for text in quoted:
            if text in message:
                message = message.replace(text, USER_MESSAGE)
        result.append(message)
    return result


def event_attributes(captured: CapturedEvent) -> dict[str, AttributeValue]:
    """Span attributes of a usage event: its payload, values made OTel-valid.

    What ``send_event`` queues arrives as it is: ``bool``, ``int``, ``float`` and ``str``
    values, and tuples of one of them (an OTel array, empty ones included). A None
    value is left out (OTel has no null attribute: a property that is None is absent).
    Anything else (queued another way) becomes JSON text, which the scrubber parses.
    A payload key of ours (``otel_telemetry.*``, ``user.email``) is left out: a payload
    can neither pass for a crash report, nor carry an email, nor write the audit.
    """
    attributes: dict[str, AttributeValue] = {attr.KIND: attr.KIND_EVENT}
    for key, value in captured.payload.items():
        key = str(key)
        if key.startswith(attr.NAMESPACE) or key == attr.USER_EMAIL or value is None:
            continue
        kind = type(value)
        if (kind is tuple or kind is list) and _is_array(value):
            attributes[key] = tuple(value)
        else:
            attributes[key] = _attribute_value(value)
    return attributes


def _is_array(items: Sequence[Any]) -> bool:
    """Items an OTel array holds as they are: all of one type of ``_ARRAY_ITEMS``."""
    first = type(items[0]) if items else str
    return (
        first in _ARRAY_ITEMS
        and all(type(item) is first for item in items)
        and (first is not int or all(_INT64.count(item) for item in items))
    )


# The item types of an OTel array (one type per array).
_ARRAY_ITEMS = (str, bool, int, float)


def relative_filename(filename: str, roots: Sequence[str]) -> str:
    """Make a code path relative to the longest ``sys.path`` root that contains it.

    A relative file name (code compiled under one) keeps only its last part: where it
    lies depends on a working directory that may have changed since, or be gone.
    """
    if not filename or filename.startswith("<"):
        return filename  # <frozen ...>, <string>, <stdin>: no path to hide
    if not os.path.isabs(filename):
        return os.path.basename(filename)
    normalized = os.path.normpath(filename)
    for root in roots:
        if normalized.startswith(root):
            return normalized[len(root) :].replace(os.sep, "/")
    return os.path.basename(normalized)


_FRAMES_MAX = 4096
"""The most frames (and library file names) remembered, then forgotten all at once."""
_frames: Memo[Optional[Frame]] = Memo(max_entries=_FRAMES_MAX)
"""The form of each frame met (:func:`_known_frame`); None for a frame of ours."""
_UNKNOWN: Any = object()


def _known_frame(
    frame: tuple[str, int, str, str],
    key: tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]],
) -> Optional[Frame]:
    """:func:`_frame` of ``frame``, None for a frame of ours; remembered.

    Crashes repeat their frames (the same file, line and function in report after
    report), and a frame's form depends only on it, the host's packages and the roots of
    ``sys.path`` and of the libraries (``key``): each is worked out once (paths
    normalised, the longest root found). The frames given out are shared: never changed.
    """
    lookup = (frame, key)
    known = _frames.get(lookup, _UNKNOWN)
    if known is not _UNKNOWN:
        return known
    packages, roots, libraries = key
    result = None if is_in_package(frame[3], _OURS) else _frame(frame, packages, roots, libraries)
    # What the entry keeps alive: the frame's strings (code compiled at run time may have
    # long names that nothing else holds once it is gone), and its form.
    _frames.put(lookup, result, _frame_chars(frame) * 2)
    return result


def _frame_chars(frame: tuple[Any, ...]) -> int:
    return sum(len(part) for part in frame if isinstance(part, str))


def _frame(
    frame: tuple[str, int, str, str],
    packages: Sequence[str],
    roots: Sequence[str],
    libraries: Sequence[str],
) -> Frame:
    filename, lineno, function, module = frame
    in_app = is_in_package(module, packages)
    if not in_app and not _is_library(filename, libraries):
        return {
            "filename": USER_CODE,
            "function": USER_CODE,
            "lineno": 0,
            "module": USER_CODE,
            "in_app": False,
        }
    return {
        "filename": relative_filename(filename, roots),
        "function": function,
        "lineno": lineno,
        "module": module,
        "in_app": in_app,
    }


def _is_library(filename: str, libraries: Sequence[str]) -> bool:
    """The standard library or an installed package (``<frozen ...>`` included); remembered.

    A relative file name (code compiled under one: ``exec``, templates, a relative
    ``sys.path`` entry) is never a library's. Where it lies depends on the working
    directory, which is read on the worker, after the capture: a host (or its user)
    that changed directory meanwhile, into ``site-packages`` say, would make the user's
    code pass for a library's and its message leave the machine. Fail closed: its frames
    are the user's, and so is what they raise.

    Asked for every frame of every report, and a path's normalisation is most of a
    report's cost in a burst: each answer is kept, and all are forgotten at
    :data:`_FRAMES_MAX`, or when the names they keep alive pass a megabyte.
    """
    global _library_files
    if filename.startswith("<"):
        return filename.startswith("<frozen ")
    if not os.path.isabs(filename):
        return False
    roots, answers = _library_files
    if roots is not libraries:  # the same tuple each time (``_library_roots``): one check
        answers = Memo(max_entries=_FRAMES_MAX)
        _library_files = (libraries, answers)
    known = answers.get(filename)
    if known is None:
        normalized = os.path.normpath(filename)
        known = any(normalized.startswith(root) for root in libraries)
        answers.put(filename, known, len(filename))  # a name kept alive only here, maybe
    return known


# The roots the answers were given for, and the answers by (absolute) file name. Replaced
# whole, so a thread never reads a mix of two.
_library_files: tuple[Sequence[str], Memo[bool]] = ((), Memo(max_entries=_FRAMES_MAX))


@lru_cache(maxsize=1)
def _library_roots() -> tuple[str, ...]:
    import site
    import sysconfig

    paths = sysconfig.get_paths()
    candidates = {paths.get(name) for name in ("stdlib", "platstdlib", "purelib", "platlib")}
    try:
        candidates.update(site.getsitepackages())
        candidates.add(site.getusersitepackages())
    except AttributeError:  # pragma: no cover - site replaced (some embedded interpreters)
        pass
    candidates.update(
        entry
        for entry in sys.path
        if entry.rstrip("/\\").endswith(("site-packages", "dist-packages"))
    )
    return tuple(root for root in map(_root, filter(None, candidates)) if root)


def _root(path: str) -> str:
    """``path`` made absolute and normalised, with a trailing separator; "" when it cannot.

    A relative entry is read against the working directory, which may be gone: that
    entry is then no root (and costs no report).
    """
    try:
        return os.path.join(os.path.normpath(os.path.abspath(path)), "")
    except OSError:
        return ""


@lru_cache(maxsize=4)
def _sys_path_roots(path: tuple[str, ...]) -> tuple[str, ...]:
    roots = {root for root in (_root(e or os.curdir) for e in path if isinstance(e, str)) if root}
    # Longest first, so site-packages wins over a prefix such as the venv root.
    return tuple(sorted(roots, key=len, reverse=True))


def _format_one(type_name: str, message: str, omitted: int, frames: list[Frame]) -> list[str]:
    lines = ["Traceback (most recent call last):"] if frames else []
    for index, frame in enumerate(frames):
        if omitted and index == HEAD_FRAMES:
            lines.append(f"  [... {omitted} frames omitted ...]")
        lines.append(
            f'  File "{frame["filename"]}", line {frame["lineno"]}, in {frame["function"]}'
        )
    lines.append(f"{type_name}: {message}" if message else type_name)
    return lines


def _attribute_value(value: Any) -> AttributeValue:
    if isinstance(value, int) and not isinstance(value, bool) and not _INT64.count(value):
        return str(value)  # OTLP integers are 64-bit: a larger one is sent as its text
    if isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
        return tuple(value)
    # Anything else becomes JSON text, which the scrubber parses and cleans.
    try:
        return json.dumps(value, default=str, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError):
        # Keys JSON cannot take (a tuple), a cycle, nesting too deep: the same, as text.
        return json.dumps(_jsonable(value, 32), separators=(",", ":"))


def _jsonable(value: Any, depth: int) -> Any:
    if isinstance(value, (str, bool, int, float)) or value is None:
        return value
    if depth <= 0:
        return "..."
    if isinstance(value, dict):
        return {str(k): _jsonable(v, depth - 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v, depth - 1) for v in value]
    return str(value)


_INT64 = range(-(2**63), 2**63)


def report_parts(
    captured: Captured, *, packages: Sequence[str], mode: str, install_id: Optional[str]
) -> tuple[str, dict[str, AttributeValue], Optional[dict[str, AttributeValue]], Optional[str]]:
    """``(span name, span attributes, exception event attributes, status description)``.

    What both ways of recording a capture write: the span here, the record at exit
    (``_report``). The event and the description are None for a usage event.
    """
    if isinstance(captured, CapturedException):
        attributes, event, description = exception_attributes(captured, packages)
        attributes[attr.MODE] = mode
        return attr.SPAN_EXCEPTION, attributes, event, description
    attributes = event_attributes(captured)
    if install_id is not None:
        attributes[attr.INSTALL_ID] = install_id
    attributes[attr.MODE] = mode
    return captured.name, attributes, None, None


def record_span(
    recorder: SpanRecorder,
    captured: Captured,
    *,
    packages: Sequence[str],
    mode: str,
    install_id: Optional[str],
) -> None:
    """Record ``captured`` as one ended root span: the processor takes it from there.

    Args:
        recorder: the private pipeline's recorder.
        captured: the snapshot taken on the app thread.
        packages: the host's module prefixes (their frames are ``in_app``).
        mode: the mode in force, recorded on the report.
        install_id: the anonymous id, on usage events only; None leaves it out.
    """
    name, attributes, event, description = report_parts(
        captured, packages=packages, mode=mode, install_id=install_id
    )
    recorder.record(name, attributes, event, description, captured.time_ns)
