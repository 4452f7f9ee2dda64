r"""A report as a person reads it: what ``[v]``, ``telemetry show`` and the widget display.

:func:`render_report` turns an OTLP/JSON document (``encode_otlp_json``'s shape, a line
of the ``file`` exporter) into a few dozen lines: the exception and its frames as
Python prints them, what else is attached in plain words, what the scrubber removed and
where the report goes. It uses only the standard library and the base modules, so the
app thread, the CLI and the notebook call it without loading the SDK.

Everything in a document is untrusted text (it was read back from disk, or written by
another producer): its control and format characters are written as escapes (``\x1b``,
``\r``, ``\u202e``), so a report can never move the cursor, clear the screen or reorder
what the user reads. A document of the wrong shape is rendered as far as it can be
read, with lines saying what could not; nothing raises.

Nothing that is sent is hidden or cut: every attribute and field is shown whole, in plain
words where its key is known and by its key otherwise, fields of the exception chain's
JSON included (a key this module does not know, a value of the wrong type). Only
protocol fields that carry no information about the user or the program are left out
(span kind, flags, the status code, an end time equal to the start time, dropped
counts), and values beyond what a record can hold (:data:`MAX_VALUE`, :data:`MAX_ITEMS`,
:data:`MAX_LIST`, :data:`MAX_CHAIN`: a planted file) are cut with a marker that says so.
"""

from __future__ import annotations

import json
import os
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, Callable, Optional

from otel_telemetry import _attributes as attr
from otel_telemetry._chain import ChainEntry, Frame, read_chain

MAX_STRING = 32 * 1024
"""The record's bound on one string (``pipeline._report.MAX_STRING``; a test keeps the two
equal, and this module never imports the pipeline): what is sent is never longer."""
MAX_VALUE = MAX_STRING + 64
"""Characters of one value shown: a value the record cut is shown whole, with the record's
own marker (``... [N characters cut]``). Only a longer one (a planted file, another
producer) is cut here, with a marker that counts what is not shown."""
MAX_ITEMS = 200
"""Attributes, events, frames or reports shown at one level of a document (a report holds
at most 64 attributes, 8 events and 100 frames an exception)."""
MAX_LIST = 10_000
"""Items of one list or map value shown (a usage event's list property)."""
MAX_CHAIN = 50
"""Exceptions of one chain shown (capture keeps at most 10)."""
HEAD_FRAMES = 10
"""Where capture cuts a long traceback: the frames it keeps from the outermost end
(``capture._snapshot.HEAD_FRAMES``; a test keeps the two equal)."""

USER_CODE = "<user code>"
USER_EXCEPTION = "<user exception>"
USER_MESSAGE = "[user message]"
_PLACEHOLDERS = (USER_CODE, USER_EXCEPTION, USER_MESSAGE)
# A frame of the user's own code as reports send it (pipeline/_spans.py).
_USER_FRAME = Frame(
    filename=USER_CODE, function=USER_CODE, lineno=0, module=USER_CODE, in_app=False
)
# The fields of the chain's JSON the frames and headlines above show (``base`` too).
_ENTRY_FIELDS = ("type", "module", "message", "frames", "omitted_frames", "relation", "base")
_FRAME_FIELDS = ("filename", "function", "lineno", "module", "in_app")

_LABEL_WIDTH = 16
# Control, format (bidirectional overrides, zero-width), surrogate, line/paragraph separators.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}

_MECHANISMS = {
    "excepthook": "an uncaught exception",
    "threading.excepthook": "an uncaught exception in a thread",
    "unraisablehook": "an exception Python could not raise",
    "asyncio": "an asyncio task's exception",
    "ipython": "a notebook cell",
    "capture_errors": "an error that left a function of the app",
    "capture_exception": "reported by the app itself",
    "logging": "a logged error",
    "exit": "the error behind a failing exit",
    "asgi": "a web request",
    "multiprocessing": "a child process",
}
_RUNTIMES = {"cpython": "CPython", "pypy": "PyPy"}
_MODES = {
    "server": "a server",
    "interactive": "a terminal",
    "notebook": "a notebook",
    "non-interactive": "a script or a job, no one to ask",
}
_LINKS = {
    "cause": "The above was the direct cause of the following",
    "context": "The following was raised while handling the above",
}
# How pipeline/_spans.py writes the same links into exception.stacktrace.
_TEXT_LINKS = {
    "cause": "The above exception was the direct cause of the following exception:",
    "context": "During handling of the above exception, another exception occurred:",
}
_SPAN_FIELDS = frozenset(
    {
        "traceId",
        "spanId",
        "parentSpanId",
        "name",
        "startTimeUnixNano",
        "endTimeUnixNano",
        "attributes",
        "events",
        "status",
        # Protocol fields that say nothing about the user or the program.
        "kind",
        "flags",
        "droppedAttributesCount",
        "droppedEventsCount",
        "droppedLinksCount",
    }
)


def render_report(
    document: Mapping[str, Any],
    *,
    destinations: Sequence[str] = (),
    color: bool = False,
    email: Optional[str] = None,
    email_note: Optional[str] = None,
) -> str:
    """Every report of an OTLP/JSON document (``encode_otlp_json``'s shape), readable.

    For a crash report: a header (app, version, crash or handled, how it was caught),
    the exception chain with its frames (most recent call last, the app's frames
    marked ``>``, runs of ``<user code>`` placeholders as one line), every other
    attribute in plain words (Python and the OS on one line), what the scrubber removed
    and where it goes. For a usage event: its name and properties, one per line, then
    the same. The acme demo crashes take 20 to 40 lines. Every value is shown whole up
    to the record's bound (:data:`MAX_VALUE`), and every field of the exception chain's
    JSON that the frames do not show is listed under "Also attached". Never raises:
    what cannot be read is named on lines of its own. No control character of the
    document reaches the text (each is written as an escape) and, without ``color``,
    the text holds no escape sequence at all.

    Args:
        document: ``{"resourceSpans": [...]}``, as the ``file`` exporter writes a line.
        destinations: where it goes (exporter names, ``sentry (DSN baked in)``...). With
            ``sentry`` among them and no environment in the report, the environment
            line says Sentry shows it as ``production``.
        color: ANSI bold and dim (a terminal that wants it: see :func:`wants_color`).
        email: shown when the report will carry the user's address.
        email_note: shown instead of "not sent" when the report carries no address and
            ``email`` is not given, where one may still be added (the question asks for
            it after the answer).

    Returns:
        The lines of every report, joined by newlines, without a final newline.
    """
    style = _Style(color)
    try:
        lines = _Document(document, tuple(destinations), email, email_note, style).render()
    except Exception as exc:  # a bug here must never break the prompt or CLI
        lines = [f"(this report could not be shown: {type(exc).__name__})"]
    return "\n".join(lines)


def wants_color(stream: Any) -> bool:
    """Colour only on a terminal, never with ``NO_COLOR`` set (any value) or ``TERM=dumb``.

    ``NO_COLOR`` counts when it is set and not empty (no-color.org). A stream that is
    closed, has no ``isatty`` or fails when asked gets no colour. Never raises.
    """
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty() is True
    except Exception:  # closed (ValueError), replaced, anything: no colour
        return False


# -- text that cannot drive a terminal ---------------------------------------------------


def safe(value: object, limit: int = MAX_VALUE) -> str:
    r"""``value`` as text of at most ``limit`` characters, control characters as escapes.

    Control (``Cc``), format (``Cf``: bidirectional overrides, zero-width characters),
    surrogate and line/paragraph separator characters become ``\x1b``, ``\n``,
    ``\u202e``...; a cut is marked with the count of characters left out.
    """
    text = value if isinstance(value, str) else str(value)
    left_out = len(text) - limit
    if left_out > 0:
        text = text[:limit]
    if not text.isprintable():  # almost every value is: no work for them
        text = "".join(
            _escape(c) if unicodedata.category(c) in _UNSAFE_CATEGORIES else c for c in text
        )
    if left_out > 0:
        text += f" [... {left_out} more characters]"
    return text


def _escape(char: str) -> str:
    named = _NAMED_ESCAPES.get(char)
    return named if named is not None else code_escape(char)


def code_escape(char: str) -> str:
    r"""The escape of ``char`` by its code point, as Python writes it: ``\x1b``, ``\u202e``."""
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


class _Style:
    """ANSI SGR for the parts of a report; the text unchanged when colour is off."""

    def __init__(self, color: bool) -> None:
        self.color = color

    def _sgr(self, code: str, text: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.color and text else text

    def bold(self, text: str) -> str:
        return self._sgr("1", text)

    def dim(self, text: str) -> str:
        return self._sgr("2", text)

    def placeholders(self, text: str) -> str:
        """``text`` (already safe) with the user-code placeholders in it dimmed."""
        if not self.color:
            return text
        for placeholder in _PLACEHOLDERS:
            text = text.replace(placeholder, self.dim(placeholder))
        return text


# -- reading OTLP/JSON, defensively ----------------------------------------------------


class _KeyValues:
    """An OTLP ``kvlistValue``: pairs in order, a key sent twice kept twice."""

    def __init__(self, pairs: Iterable[tuple[str, object]]) -> None:
        self.pairs = list(pairs)


class _Unreadable:
    """An OTLP ``AnyValue`` that is not one."""

    def __init__(self, raw: object) -> None:
        self.raw = raw


def _decode(value: object, depth: int = 0) -> object:
    """The Python value of an OTLP/JSON ``AnyValue`` (64-bit ints arrive as text)."""
    if not isinstance(value, Mapping):
        return _Unreadable(value)
    if "stringValue" in value:
        return value["stringValue"]
    if "boolValue" in value:
        return value["boolValue"]
    if "intValue" in value:
        raw = value["intValue"]
        if isinstance(raw, str) and len(raw) < 30:
            try:
                return int(raw)
            except ValueError:
                pass  # not a number: shown as the text it is
        return raw
    if "doubleValue" in value:
        return value["doubleValue"]
    array, kvlist = value.get("arrayValue"), value.get("kvlistValue")
    if isinstance(array, Mapping) and isinstance(array.get("values"), list) and depth < 8:
        items = array["values"]
        decoded = [_decode(item, depth + 1) for item in items[:MAX_LIST]]
        return decoded + _more(len(items))
    if isinstance(kvlist, Mapping) and isinstance(kvlist.get("values"), list) and depth < 8:
        items = kvlist["values"]
        pairs: list[tuple[str, object]] = [
            (safe(item.get("key")), _decode(item.get("value"), depth + 1))
            if isinstance(item, Mapping)
            else ("(no key)", _Unreadable(item))
            for item in items[:MAX_LIST]
        ]
        return _KeyValues(pairs + [("...", more) for more in _more(len(items))])
    encoded = value.get("bytesValue")
    if isinstance(encoded, str):  # never ours: another producer's
        return f"<{len(encoded.rstrip('=')) * 3 // 4} bytes, base64 {safe(encoded)}>"
    if not value:
        return ""  # an empty AnyValue: OTLP's way to send nothing
    return _Unreadable(value)


def _more(count: int) -> list[object]:
    """A marker for the items of a list beyond :data:`MAX_LIST`, if any."""
    return [f"[... {count - MAX_LIST} more]"] if count > MAX_LIST else []


def _show(value: object) -> str:
    """A decoded value as one line of safe text; a list's items each whole, as sent."""
    if isinstance(value, str):
        return safe(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    # The items are safe text already: the line they make is not cut again.
    if isinstance(value, list):
        return ", ".join(_show(item) for item in value) or "(an empty list)"
    if isinstance(value, _KeyValues):
        return ", ".join(f"{key}={_show(item)}" for key, item in value.pairs)
    if isinstance(value, _Unreadable):
        return f"(unreadable) {_compact(value.raw)}"
    return safe(value)


def _compact(value: object) -> str:
    """Any JSON value as one line of safe text."""
    try:
        text = json.dumps(value, ensure_ascii=False, default=repr)
    except (TypeError, ValueError, RecursionError):
        text = type(value).__name__
    return safe(text)


def _kind_of(value: object) -> str:
    if value is None:
        return "missing"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, (list, tuple)):
        return "a list"
    return f"a {type(value).__name__}"


class _Attributes:
    """An OTLP attribute list, taken key by key; what is left is shown as it is.

    A key sent twice is kept twice (the second is shown too): nothing sent is lost here.
    """

    def __init__(self, pairs: list[tuple[str, object]]) -> None:
        self._pairs = pairs

    @classmethod
    def read(cls, raw: object, where: str, notes: list[str]) -> _Attributes:
        """Read ``raw`` (a list of ``{"key", "value"}``); what is wrong goes to ``notes``."""
        pairs: list[tuple[str, object]] = []
        if raw is not None and not isinstance(raw, list):
            notes.append(f"the attributes of the {where} are {_kind_of(raw)}, not a list")
        elif raw is not None:
            for item in raw[:MAX_ITEMS]:
                key = item.get("key") if isinstance(item, Mapping) else None
                if isinstance(key, str):
                    pairs.append((key, _decode(item.get("value"))))
                else:
                    notes.append(f"an attribute of the {where} without a key: {_compact(item)}")
            if len(raw) > MAX_ITEMS:
                notes.append(f"{len(raw) - MAX_ITEMS} more attributes of the {where} not shown")
        return cls(pairs)

    def copy(self) -> _Attributes:
        return _Attributes(list(self._pairs))

    def take(self, key: str, kind: type = object) -> Any:
        """The first value of ``key`` if it is a ``kind`` (then removed), else None."""
        for index, (name, value) in enumerate(self._pairs):
            if name == key:
                if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                    return None  # left in place: shown as it is
                del self._pairs[index]
                return value
        return None

    def take_where(self, keep: Callable[[str], bool]) -> list[tuple[str, object]]:
        """Every pair whose key ``keep`` accepts, in order (removed)."""
        taken = [pair for pair in self._pairs if keep(pair[0])]
        self._pairs = [pair for pair in self._pairs if not keep(pair[0])]
        return taken


def _items(value: object, where: str, notes: list[str]) -> list[Mapping[str, Any]]:
    """The objects of a list field; a missing field is empty, anything else is noted."""
    if value is None:
        return []
    if not isinstance(value, list):
        notes.append(f"{where} is {_kind_of(value)}, not a list")
        return []
    found = [item for item in value[:MAX_ITEMS] if isinstance(item, Mapping)]
    others = len(value[:MAX_ITEMS]) - len(found)
    if others:
        notes.append(f"{others} of the entries of {where} not an object")
    if len(value) > MAX_ITEMS:
        notes.append(f"{len(value) - MAX_ITEMS} more entries of {where} not shown")
    return found


def _mapping(value: object, where: str, notes: list[str]) -> Mapping[str, Any]:
    if value is not None and not isinstance(value, Mapping):
        notes.append(f"{where} is {_kind_of(value)}, not an object")
    return value if isinstance(value, Mapping) else {}


def _extra(mapping: Mapping[str, Any], known: frozenset[str], where: str) -> list[tuple[str, str]]:
    """Fields of ``mapping`` this module does not know: shown by name, never dropped."""
    return [
        (f"{where} {safe(key)}", _compact(value))
        for key, value in list(mapping.items())[:MAX_ITEMS]
        if key not in known and value not in (None, "", [], {})
    ]


def _time(value: object) -> Optional[str]:
    """Nanoseconds since the epoch (text or number) as UTC, or None."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    try:
        moment = datetime.fromtimestamp(int(value) / 1e9, tz=timezone.utc)
    except (ValueError, OverflowError, OSError):
        return None
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


# -- the document ------------------------------------------------------------------------


class _Found:
    """One span with what applies to it: its resource, scope and fields around it."""

    def __init__(
        self,
        span: Mapping[str, Any],
        resource: _Attributes,
        scope: Mapping[str, Any],
        around: list[tuple[str, str]],
    ) -> None:
        self.span = span
        self.resource = resource
        self.scope = scope
        self.around = around


class _Document:
    def __init__(
        self,
        document: object,
        destinations: tuple[str, ...],
        email: Optional[str],
        email_note: Optional[str],
        style: _Style,
    ) -> None:
        self.document = document
        self.destinations = destinations
        self.email = email
        self.email_note = email_note
        self.style = style
        self.notes: list[str] = []

    def render(self) -> list[str]:
        document = self.document
        if not isinstance(document, Mapping):
            return [f"This report could not be read: it is {_kind_of(document)}, not an object."]
        found = self._spans(document)
        lines: list[str] = []
        for number, report in enumerate(found, 1):
            if len(found) > 1:
                lines += [""] if number > 1 else []
                lines.append(self.style.bold(f"Report {number} of {len(found)}"))
            lines += _Report(report, self).render()
        if not found:
            lines.append("This document holds no report.")
        if self.notes:
            lines += ["", self.style.bold("Could not be read:")]
            lines += [f"  {safe(note)}" for note in self.notes[:MAX_ITEMS]]
        return lines

    def _spans(self, document: Mapping[str, Any]) -> list[_Found]:
        notes = self.notes
        if "resourceSpans" not in document:
            notes.append("the document has no resourceSpans")
        around = _extra(document, frozenset({"resourceSpans"}), "document")
        found: list[_Found] = []
        for resource_spans in _items(document.get("resourceSpans"), "resourceSpans", notes):
            resource = _mapping(resource_spans.get("resource"), "a resource", notes)
            attributes = _Attributes.read(resource.get("attributes"), "resource", notes)
            outer = around + _extra(resource_spans, frozenset({"resource", "scopeSpans"}), "")
            outer += _extra(resource, frozenset({"attributes"}), "resource")
            for scope_spans in _items(resource_spans.get("scopeSpans"), "scopeSpans", notes):
                scope = _mapping(scope_spans.get("scope"), "a scope", notes)
                inner = outer + _extra(scope_spans, frozenset({"scope", "spans"}), "")
                inner += _extra(scope, frozenset({"name", "version"}), "scope")
                for span in _items(scope_spans.get("spans"), "spans", notes):
                    found.append(_Found(span, attributes.copy(), scope, inner))
        return found


class _Report:
    """One report: a crash report or a usage event, with what is attached to it."""

    def __init__(self, found: _Found, document: _Document) -> None:
        self.found = found
        self.span = found.span
        self.style = document.style
        self.document = document
        self.notes = document.notes
        self.attributes = _Attributes.read(self.span.get("attributes"), "report", self.notes)
        self.resource = found.resource
        self.attached: list[tuple[str, str]] = []

    def render(self) -> list[str]:
        kind = self.attributes.take(attr.KIND)
        scrubbed = self.attributes.take(attr.SCRUBBED)
        events = _items(self.span.get("events"), "events", self.notes)
        exception = next((e for e in events if e.get("name") == attr.EVENT_EXCEPTION), None)
        name, version = self._app()
        if kind == attr.KIND_EXCEPTION or (kind is None and exception is not None):
            body = self._crash(name, version, exception)
        else:
            body = self._event(name, version, kind)
        for event in events:
            if event is not exception:
                label = f"event {safe(event.get('name'))}"
                self.attached.append((label, _compact(event.get("attributes"))))
                self.attached += _extra(event, frozenset({"name", "attributes"}), label)
        return body + self._attached(name, version) + self._footer(scrubbed)

    def _app(self) -> tuple[str, Optional[str]]:
        name = self.resource.take(attr.SERVICE_NAME, str)
        version = self.resource.take(attr.SERVICE_VERSION, str)
        return (safe(name) if name else "the app"), (safe(version) if version else None)

    def _label(self, label: str, value: str) -> str:
        if not label:
            return f"  {value}"
        padding = " " * max(_LABEL_WIDTH - len(label), 0)
        return f"  {self.style.dim(label)}{padding} {value}"

    # -- a crash report

    def _crash(
        self, app: str, version: Optional[str], event: Optional[Mapping[str, Any]]
    ) -> list[str]:
        handled = self.attributes.take(attr.HANDLED, bool)
        mechanism = self.attributes.take(attr.MECHANISM)
        fields = _Attributes.read(event.get("attributes") if event else None, "event", self.notes)
        type_name = fields.take(attr.EXCEPTION_TYPE, str)
        message = fields.take(attr.EXCEPTION_MESSAGE, str)
        chain_text = fields.take(attr.EXCEPTION_CHAIN)
        stack = fields.take(attr.EXCEPTION_STACKTRACE, str)
        chain = read_chain(chain_text)

        what = {False: "crashed", True: "reported a handled error"}.get(handled, "sent an error")
        shown_type = type_name or (chain[-1]["type"] if chain else "(no exception type)")
        app_version = f"{app} {version}" if version else app
        header = f"{app_version} {what}: {safe(shown_type)}"
        lines = [self.style.bold(self.style.placeholders(header))]
        if mechanism is not None:
            words = _MECHANISMS.get(mechanism) if isinstance(mechanism, str) else None
            caught = f"{_show(mechanism)} ({words})" if words else _show(mechanism)
            lines.append(self._label("caught by", caught))
        if event is None:
            self.notes.append("a crash report without its exception event")
        lines.append("")

        if chain:
            lines += self._chain(chain, chain_text, app)
            last = chain[-1]
            if type_name is not None and type_name != last["type"]:
                self.attached.append(("exception type", safe(type_name)))
            if message is not None and message != last["message"]:
                self.attached.append(("message", safe(message)))
        else:
            lines += self._text_traceback(shown_type, message, stack)
            if chain_text is not None:
                self.attached.append(("structured chain", f"(unreadable) {_show(chain_text)}"))
        for key, value in fields.take_where(lambda key: True):
            self.attached.append((f"exception {safe(key)}", _show(value)))
        if event is not None:
            self.attached += _extra(
                event, frozenset({"name", "attributes", "timeUnixNano"}), "event"
            )
            if event.get("timeUnixNano") not in (None, self.span.get("startTimeUnixNano")):
                when = _time(event.get("timeUnixNano"))
                self.attached.append(("event time", when or _compact(event.get("timeUnixNano"))))
        self._status(
            {_status_text(type_name, message)}
            | ({_status_text(chain[-1]["type"], chain[-1]["message"])} if chain else set())
        )
        if self.span.get("name") not in (attr.SPAN_EXCEPTION, None):
            self.attached.append(("span name", _show(self.span.get("name"))))
        email = self.attributes.take(attr.USER_EMAIL)
        if email is not None:
            self.attached.append(("your email", _show(email)))
        elif self.document.email:
            self.attached.append(("your email", safe(self.document.email)))
        elif self.document.email_note:
            self.attached.append(("your email", safe(self.document.email_note)))
        else:
            self.attached.append(("your email", "not sent"))
        if chain and stack is not None:
            if stack == stack_text(chain):
                self.attached.append(("traceback text", "the same as above, as Python prints it"))
            else:
                self.attached.append(("traceback text", "(differs from the above)"))
                self.attached += [("", line) for line in _text_lines(stack)]
        if chain:
            self.attached += [("in the chain", f) for f in chain_fields(chain_text, chain)]
        return lines

    def _chain(self, chain: list[ChainEntry], chain_text: object, app: str) -> list[str]:
        bases = _bases(chain_text)
        whole = _fits(chain_text)  # what a record can hold is shown whole
        shown = chain if whole else chain[:MAX_CHAIN]
        lines: list[str] = []
        legend = f"most recent call last; > marks {app}'s own code"
        for index, entry in enumerate(shown):
            has_frames = bool(entry["frames"] or entry["omitted_frames"])
            link = _LINKS.get(chain[index - 1]["relation"]) if index else None
            # One line for a link and the legend after it, where Python prints four.
            if link:
                lines.append(self.style.dim(f"{link} ({legend}):" if has_frames else f"{link}:"))
            elif has_frames:
                lines.append(self.style.dim(f"Traceback ({legend}):"))
            if has_frames:
                legend = "most recent call last"
                lines += self._frames(entry["frames"], entry["omitted_frames"], whole)
            type_name = safe(entry["type"])
            base = bases[index] if index < len(bases) else None
            if base:
                type_name += f" (a {safe(base)})"
            headline = self.style.bold(self.style.placeholders(type_name))
            if entry["message"]:
                headline += ": " + self.style.placeholders(safe(entry["message"]))
            lines.append(headline)
        if len(shown) < len(chain):
            lines.append(f"[... {len(chain) - len(shown)} more exceptions of the chain not shown]")
        return lines

    def _frames(self, frames: list[Frame], omitted: int, whole: bool) -> list[str]:
        lines: list[str] = []
        run = 0  # consecutive placeholders not yet written

        def placeholders() -> None:
            nonlocal run
            if run:
                count = f" ({run} frames)" if run > 1 else ""
                lines.append("    " + self.style.dim(USER_CODE + count))
                run = 0

        cut = self.style.dim(f"    ... {omitted} frames omitted (not sent) ...")
        shown = frames if whole else frames[:MAX_ITEMS]
        for index, frame in enumerate(shown):
            if omitted and index == HEAD_FRAMES:
                placeholders()
                lines.append(cut)
            if frame == _USER_FRAME:  # a placeholder and nothing else: nothing to hide
                run += 1
                continue
            placeholders()
            where = (
                f"{safe(frame['filename'])}, line {frame['lineno']}, in {safe(frame['function'])}"
            )
            if frame["in_app"]:
                lines.append(f"  {self.style.bold('> ' + where)}")
            else:
                lines.append(f"    {where}")
        placeholders()
        if omitted and len(frames) <= HEAD_FRAMES:
            lines.append(cut)
        if len(shown) < len(frames):
            lines.append(f"    [... {len(frames) - len(shown)} more frames not shown]")
        return lines

    def _text_traceback(
        self, type_name: str, message: Optional[str], stack: Optional[str]
    ) -> list[str]:
        """Without a structured chain: the stack text as it is, line by line."""
        lines: list[str] = []
        last = safe(type_name) + (f": {safe(message)}" if message else "")
        if stack is None:
            lines.append(self.style.dim("(no traceback in this report)"))
        else:
            lines += [self.style.placeholders(line) for line in _text_lines(stack)]
        if stack is None or _text_lines(stack)[-1:] != [last]:
            lines.append(self.style.bold(self.style.placeholders(last)))
        return lines

    def _status(self, expected: set[Optional[str]]) -> None:
        status = self.span.get("status")
        if status is None:
            return
        if not isinstance(status, Mapping):
            self.attached.append(("status", _compact(status)))
            return
        message = status.get("message")
        if message not in (None, "") and not (isinstance(message, str) and message in expected):
            self.attached.append(
                ("status", _show(message) if isinstance(message, str) else _compact(message))
            )
        self.attached += _extra(status, frozenset({"message", "code"}), "status")

    # -- a usage event

    def _event(self, app: str, version: Optional[str], kind: object) -> list[str]:
        name = self.span.get("name")
        shown = safe(name) if isinstance(name, str) and name else "(no name)"
        what = "usage event" if kind == attr.KIND_EVENT else "report of an unknown kind"
        app_version = f"{app} {version}" if version else app
        lines = [self.style.bold(f"{app_version} {what}: {shown}")]
        if kind is not None and kind != attr.KIND_EVENT:
            self.attached.append(("kind", _show(kind)))
        # The payload: every key but ours (a payload cannot set one: _spans drops them).
        ours = (attr.MODE, attr.INSTALL_ID, attr.OCCURRENCES, attr.HTTP_METHOD, attr.HTTP_ROUTE)
        payload = self.attributes.take_where(lambda key: key not in ours)
        if payload:
            lines.append(self.style.dim("Properties:"))
            lines += [self._label(safe(key), _show(value)) for key, value in payload]
        else:
            lines.append(self.style.dim("(no properties)"))
        self._status(set())
        return lines

    # -- what every report has

    def _attached(self, app: str, version: Optional[str]) -> list[str]:
        take, add = self.attributes.take, self.attached.append
        first: list[tuple[str, str]] = []  # the app's name and version are in the header
        environment = self.resource.take(attr.DEPLOYMENT_ENVIRONMENT, str)
        if environment is not None:
            first.append(("environment", safe(environment)))
        elif any(d == "sentry" or d.startswith("sentry ") for d in self.document.destinations):
            # Sentry files an event without one under its default: say so, not "none".
            first.append(("environment", "none sent; Sentry shows it as production"))
        first += self._runtime()
        mode = take(attr.MODE)
        if mode is not None:
            words = _MODES.get(mode) if isinstance(mode, str) else None
            first.append(("mode", f"{_show(mode)} ({words})" if words else _show(mode)))
        method, route = take(attr.HTTP_METHOD), take(attr.HTTP_ROUTE)
        if method is not None or route is not None:
            first.append(("request", " ".join(_show(v) for v in (method, route) if v is not None)))
        occurrences = take(attr.OCCURRENCES)
        if occurrences is not None:
            first.append(("occurrences", f"{_show(occurrences)} (the same error, sent once)"))
        install_id = take(attr.INSTALL_ID)
        if install_id is not None:
            first.append(("install id", f"{_show(install_id)} (random, made on this machine)"))
        start = self.span.get("startTimeUnixNano")
        when = _time(start) or ("(none)" if start is None else f"(unreadable) {_compact(start)}")
        first.append(("time", when))
        end = self.span.get("endTimeUnixNano")
        if end not in (None, start):
            add(("ended", _time(end) or _compact(end)))
        first.append(("report id", self._ids()))
        first.append(("sent by", self._reporter()))
        for key, value in self.attributes.take_where(lambda key: True):
            add((safe(key), _show(value)))
        for key, value in self.resource.take_where(lambda key: True):
            add((f"resource {safe(key)}", _show(value)))
        self.attached += _extra(self.span, _SPAN_FIELDS, "span")
        self.attached += self.found.around
        lines = ["", self.style.bold("Also attached:")]
        lines += [self._label(label, value) for label, value in first + self.attached]
        lines.append(self.style.dim("Nothing else is in this report."))
        return lines

    def _ids(self) -> str:
        trace, span, parent = (self.span.get(k) for k in ("traceId", "spanId", "parentSpanId"))
        text = _show(trace) if trace is not None else "(none)"
        if span is not None:
            text += f" / {_show(span)}"
        if parent:
            text += f", parent {_show(parent)}"
        return text + " (random)"

    def _runtime(self) -> list[tuple[str, str]]:
        """Python and the OS on one line (``CPython 3.11.7 on linux``), as the resource has them.

        The keys are the semantic conventions' (``pipeline/_report.resource_attributes``);
        ``cpython`` and ``pypy`` are spelt as their projects spell them.
        """
        take = self.resource.take
        name = take(attr.PROCESS_RUNTIME_NAME, str)
        python = [_RUNTIMES.get(name, name) if name else None]
        python.append(take(attr.PROCESS_RUNTIME_VERSION, str))
        system = [take(key, str) for key in (attr.OS_TYPE, "os.name", "os.version")]
        text = safe(" ".join(p for p in python if p))
        where = safe(" ".join(p for p in system if p))
        if text:
            return [("Python", f"{text} on {where}" if where else text)]
        return [("OS", where)] if where else []

    def _reporter(self) -> str:
        take = self.resource.take
        distro = [take(attr.DISTRO_NAME, str), take(attr.DISTRO_VERSION, str)]
        sdk = [take(attr.SDK_NAME, str), take(attr.SDK_VERSION, str)]
        language = take(attr.SDK_LANGUAGE, str)
        scope = [self.found.scope.get("name"), self.found.scope.get("version")]
        text = safe(" ".join(p for p in distro if p)) or "(not named)"
        if any(sdk):
            text += f", on {safe(' '.join(p for p in sdk if p))}"
        if language:
            text += f" ({safe(language)})"
        if any(scope) and scope != distro:
            self.attached.append(("scope", _show(" ".join(str(p) for p in scope if p))))
        return text

    def _footer(self, scrubbed: object) -> list[str]:
        goes = ", ".join(safe(d) for d in self.document.destinations)
        return [
            "",
            f"{self.style.bold('Removed by the scrubber:')} {_scrubbed(scrubbed)}",
            self.style.bold("Goes to:"),
            f"  {goes or 'nowhere: no exporter'}",
        ]


def _status_text(type_name: Optional[str], message: Optional[str]) -> Optional[str]:
    """The status description spans write: ``Type: message``, or the type alone."""
    return f"{type_name}: {message}" if message else type_name


def _scrubbed(value: object) -> str:
    """``otel_telemetry.scrubbed`` (``rule:count`` items) as ``1 url, 2 email``."""
    if value is None or value == []:
        return "nothing"
    counts = []
    for item in value if isinstance(value, list) else [value]:
        rule, _, count = item.rpartition(":") if isinstance(item, str) else ("", "", "")
        counts.append(f"{count} {safe(rule)}" if rule and count.isdigit() else _show(item))
    return ", ".join(counts)


def _text_lines(text: str) -> list[str]:
    """Stack text as safe lines: whole up to :data:`MAX_VALUE` characters, as a record holds it."""
    shown = [safe(line) for line in text[:MAX_VALUE].split("\n")]
    if len(text) > MAX_VALUE:
        shown.append(f"[... {len(text) - MAX_VALUE} more characters of the text not shown]")
    return shown


def _fits(text: object) -> bool:
    """``text`` is no longer than a record holds: every piece of it is then shown."""
    return isinstance(text, str) and len(text) <= MAX_VALUE


def _raw_chain(chain_text: object) -> list[object]:
    """The items of the chain's JSON as sent, before :func:`read_chain` types them."""
    try:
        raw = json.loads(chain_text) if isinstance(chain_text, str) else None
    except (ValueError, RecursionError):
        return []
    return raw if isinstance(raw, list) else []


def _bases(chain_text: object) -> list[Optional[str]]:
    """The ``base`` of each chain entry: a user class's nearest base that is not theirs."""
    entries = [item for item in _raw_chain(chain_text) if isinstance(item, dict)]
    return [e["base"] if isinstance(e.get("base"), str) else None for e in entries]


def chain_fields(chain_text: object, chain: Sequence[ChainEntry]) -> list[str]:
    """What the chain's JSON holds that its frames and headlines do not show, one a line.

    ``read_chain`` keeps the fields it knows, typed: a key it does not know (an entry's
    ``locals``, a frame's ``vars``), a value of the wrong type (a ``lineno`` of text), an
    item that is not an object, a ``module`` that its type or file name does not already
    say, or a link after the last exception would be sent unseen; each is named here.
    """
    raw = _raw_chain(chain_text)
    whole = _fits(chain_text)
    found: list[str] = []
    total = sum(isinstance(item, dict) for item in raw)
    number = 0
    for position, item in enumerate(raw if whole else raw[:MAX_ITEMS], 1):
        if not isinstance(item, dict):
            found.append(f"item {position} of the chain: {_compact(item)}")
            continue
        number += 1  # read_chain keeps the objects, in order: this is chain[number - 1]
        if not whole and number > MAX_CHAIN:
            break  # not shown above either, and said so there
        entry = chain[number - 1]
        where = f"exception {number} of {total} ({safe(entry['type'])})"
        found += _entry_fields(item, entry, where, last=number == total)
        frames = item.get("frames")
        if not isinstance(frames, list):
            continue
        index = 0
        for count, raw_frame in enumerate(frames if whole else frames[:MAX_ITEMS], 1):
            if not isinstance(raw_frame, dict):
                found.append(f"{where}, frame {count}: {_compact(raw_frame)}")
                continue
            frame = entry["frames"][index]
            index += 1
            place = f"{safe(frame['filename'])}, line {frame['lineno']}"
            found += _frame_fields(raw_frame, frame, f"{where}, frame {count} ({place})")
    return found


def _entry_fields(
    item: Mapping[str, Any], entry: ChainEntry, where: str, *, last: bool
) -> list[str]:
    typed: Mapping[str, object] = entry
    found = [
        f"{where}: {_field(key)} = {_field(value)}"
        for key, value in item.items()
        if key not in _ENTRY_FIELDS
        or (key == "base" and not isinstance(value, str))
        # A list of frames is shown frame by frame (below).
        or (key not in ("base", "frames") and not _same(value, typed[key]))
        or (key == "frames" and not isinstance(value, list))
    ]
    module = item.get("module")
    if isinstance(module, str) and not _module_in_type(module, entry["type"]):
        found.append(f"{where}: module = {safe(module)}")
    if last and entry["relation"]:  # a link to nothing: the frames above cannot show it
        found.append(f"{where}: relation = {entry['relation']} (no exception follows)")
    return found


def _frame_fields(item: Mapping[str, Any], frame: Frame, where: str) -> list[str]:
    typed: Mapping[str, object] = frame
    found = [
        f"{where}: {_field(key)} = {_field(value)}"
        for key, value in item.items()
        if key not in _FRAME_FIELDS or not _same(value, typed[key])
    ]
    module = item.get("module")
    if (
        isinstance(module, str)
        and frame != _USER_FRAME
        and module != _module_of_file(frame["filename"])
    ):
        found.append(f"{where}: module = {safe(module)}")
    return found


def _same(raw: object, typed: object) -> bool:
    """``raw`` is what ``read_chain`` kept (``1.0`` is not ``1``, ``0`` is not ``False``)."""
    return type(raw) is type(typed) and raw == typed


def _field(value: object) -> str:
    return safe(value) if isinstance(value, str) else _compact(value)


def _module_in_type(module: str, type_name: str) -> bool:
    """The type as shown already says the module (``exception_type_name``'s rules)."""
    if module in ("", type_name):
        return True
    if module == USER_CODE:
        return type_name == USER_EXCEPTION
    if module in ("builtins", "__builtin__"):
        return "." not in type_name
    return type_name.startswith(module + ".")


def _module_of_file(filename: str) -> str:
    """The module a frame's relative file name says (``acme/cli.py``: ``acme.cli``)."""
    if filename.startswith("<frozen ") and filename.endswith(">"):
        return filename[len("<frozen ") : -1]
    name = filename[:-3] if filename.endswith(".py") else filename
    name = name[: -len("/__init__")] if name.endswith("/__init__") else name
    return name.replace("/", ".")


def stack_text(chain: Sequence[ChainEntry]) -> str:
    """The stack text a chain is sent with (``exception.stacktrace``), as spans write it.

    When the text sent is exactly this, the report says so instead of showing it twice.
    """
    lines: list[str] = []
    for entry in chain:
        frames, omitted = entry["frames"], entry["omitted_frames"]
        if frames:
            lines.append("Traceback (most recent call last):")
        for index, frame in enumerate(frames):
            if omitted and index == HEAD_FRAMES:
                lines.append(f"  [... {omitted} frames omitted ...]")
            lines.append(
                f'  File "{frame["filename"]}", line {frame["lineno"]}, in {frame["function"]}'
            )
        lines.append(f"{entry['type']}: {entry['message']}" if entry["message"] else entry["type"])
        if entry["relation"]:
            lines.extend(("", _TEXT_LINKS[entry["relation"]], ""))
    return "\n".join(lines)
