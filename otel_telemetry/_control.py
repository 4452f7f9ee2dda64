r"""What ``show`` and ``clean`` do, shared by the CLI commands and the Python API.

Reports are kept on this machine in three places, each read here without following a
symbolic link, without waiting on a FIFO and within a bound (see :mod:`._layout`):

* the sent record (``telemetry/sent/``, :class:`~.pipeline._sent.SentLog`): what an
  exporter confirmed, with its time and delivery id;
* the outbox (``telemetry/outbox/``): reports waiting for an exporter. Each one is read,
  checked (``check_record``) and scrubbed again exactly as the sending worker does before
  it sends it, so ``show`` never prints a record that could not be sent as it is;
* the ``file`` exporter's day files (``telemetry/reports/``).

One report may be in several places (sent to one exporter, still waiting for another,
stored by the ``file`` exporter too): it is shown once, headed by every place it is in.
Nothing here raises on what it finds on disk: what cannot be read is skipped, and the
good reports are still shown. A day file over the bounds of
:func:`~.exporters._file.scan_reports` is not read; ``show``, ``disable`` and ``clean``
say how many there are, and ``clean`` removes them.

JSON output (``show --json``, ``show --sent --json``, ``status --json``) goes through
:func:`json_text`: every control, format, line or paragraph separator character and every
lone surrogate is written as a ``\uXXXX`` escape, so a report's text cannot drive the
terminal, and the JSON still parses to the same value.
"""

from __future__ import annotations

import json
import os
import re
import time
import unicodedata
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, NamedTuple, Optional

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from pathlib import Path

    from ._layout import Layout
    from ._settings import Settings
    from .consent._precedence import ConsentDecision
    from .exporters._file import DayFile
    from .pipeline._sent import SentEntry

_MAX_SENT_LISTED = 100
"""The most entries ``show --sent`` lists (the sent record keeps no more)."""
_MAX_SUMMARY = 160
"""Characters of an exception message in one line of ``show --sent``."""


@dataclass(frozen=True)
class Cleaned:
    """What ``clean`` removed, by kind (``waiting``, ``stored``, ``sent``, ``install id``...)."""

    removed: dict[str, int] = field(default_factory=dict)
    problems: tuple[str, ...] = ()
    """What could not be removed, and why (never raises)."""

    @property
    def summary(self) -> str:
        """One sentence: what was removed, and that the saved choice is kept."""
        parts = []
        for kind, (one, many) in _KINDS.items():
            count = self.removed.get(kind, 0)
            if count and one.startswith("the "):
                parts.append(one)
            elif count:
                parts.append(f"{count} {one if count == 1 else many}")
        if not parts:
            return "Nothing to remove; your choice is kept."
        listed = parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"
        return f"Removed {listed}; your choice is kept."

    def __str__(self) -> str:
        return "\n".join((self.summary, *(f"Not removed: {p}" for p in self.problems)))


# The kinds of Cleaned.removed, in the order they are named, singular and plural.
_KINDS = {
    "waiting": ("waiting report", "waiting reports"),
    "stored": ("stored report", "stored reports"),
    "sent": ("sent record", "sent records"),
    "unread": ("file of reports too large to read", "files of reports too large to read"),
    "install id": ("the install id", "the install id"),
    "backoff": ("the backoff state", "the backoff state"),
}


def clean(settings: Settings) -> Cleaned:
    """Delete the outbox, stored and sent reports, the install id and the backoff state.

    Keeps the saved choice (``config.json``, every key) and the lock file. No symbolic
    link is followed: a folder of ours that is one is left in place and named as a
    problem. Counts only what was removed and was ours: reports of the day files read
    (a day file too large to read is removed and counted as a file), whole entries of
    the sent record. Never raises: what cannot be removed or read (a read-only folder,
    anything unexpected) is a problem, and every other step still runs.
    """
    problems: list[str] = []
    try:
        layout = settings.layout()
    except Exception as exc:  # never raises, by contract
        return Cleaned({}, (_problem(None, exc),))
    from ._layout import check_tree

    try:
        check_tree(layout.telemetry_dir)
    except Exception as exc:
        return Cleaned({}, (_problem(layout.telemetry_dir, exc),))
    removed: dict[str, int] = {}
    steps: dict[str, Callable[[], Any]] = {
        # Captures a crashing process wrote at exit, not yet scrubbed by its sender: first,
        # so that a sender converting now finds nothing more to put in the outbox.
        "spooled": lambda: _clear_folder(layout.spool_dir, problems, _reports_in_name),
        # Claimed reports too: a claim of a live process is re-sent by nobody once it is gone.
        "waiting": lambda: _clear_folder(layout.outbox_dir, problems, _reports_in_name),
        "stored": lambda: _clear_reports(layout, problems),
        "sent": lambda: _clear_sent(layout, problems),
        "install id": lambda: _remove_file(layout.install_id_file, problems),
        "backoff": lambda: _remove_file(layout.backoff_file, problems),
    }
    for kind, step in steps.items():
        try:
            result = step()
        except Exception as exc:
            problems.append(_problem(None, exc))
            continue
        if kind == "stored":
            removed["stored"], removed["unread"] = result
        elif kind in ("spooled", "waiting"):
            removed["waiting"] = removed.get("waiting", 0) + result  # waiting to be sent
        else:
            removed[kind] = result
    return Cleaned({k: n for k, n in removed.items() if n}, tuple(problems))


class Stored(NamedTuple):
    """What stays on this machine after ``disable()``."""

    reports: int
    """Reports sent or stored, each once."""
    unread: int
    """Day files too large to read: how many reports they hold is unknown."""


def stored_reports(settings: Settings) -> Stored:
    """Reports still kept on this machine after ``disable()``: sent or stored, each once.

    A report sent to one exporter and stored by the ``file`` exporter counts once.
    Never raises: what cannot be read counts as nothing.
    """
    layout = settings.layout()
    keys: set[object] = set()

    def add(document: object) -> int:
        spans = _split(document)
        for _, span in spans:
            key = _key(span)
            keys.add(key if key is not None else object())
        return len(spans)

    for entry in _sent_entries(layout):
        if not add(entry.document):
            keys.add(object())  # a stub: the report was too large to keep, but was sent
    unread = 0
    for day in _day_files(layout):
        unread += day.documents is None
        for document in day.documents or ():
            add(document)
    return Stored(len(keys), unread)


def stored_count(settings: Settings) -> int:
    """How many reports :func:`stored_reports` finds (day files not read aside)."""
    return stored_reports(settings).reports


def show_text(
    settings: Settings,
    *,
    sent: bool = False,
    as_json: bool = False,
    show_all: bool = False,
    color: bool = False,
    prog: Optional[str] = None,
) -> str:
    """The text ``Telemetry.show()`` prints: :func:`show_output`'s, in one piece.

    With ``as_json``, the JSON alone when there is some (so that it still parses), else
    the sentence that says why there is none. Never raises on what is on disk.
    """
    out, notes = show_output(
        settings, sent=sent, as_json=as_json, show_all=show_all, color=color, prog=prog
    )
    if as_json:
        return out or notes
    return "\n".join(part for part in (notes, out) if part)


def show_output(
    settings: Settings,
    *,
    sent: bool = False,
    as_json: bool = False,
    show_all: bool = False,
    color: bool = False,
    prog: Optional[str] = None,
) -> tuple[str, str]:
    """What ``<app> telemetry show`` prints on stdout and on stderr.

    Args:
        settings: the host's settings (config dir, scrubbing, exporters).
        sent: the sent record as a list, one line per report, newest last.
        as_json: the exact OTLP/JSON (indented) instead of the readable report (with
            ``show_all``, a JSON list of the documents); with ``sent``, the entries of
            the sent record (a JSON list, ``[]`` when empty).
        show_all: every report kept, oldest first; otherwise the newest only.
        color: ANSI colour in the readable report.
        prog: how the user runs the commands (``acme telemetry``), for the advice
            printed when nothing is kept; ``<app> telemetry`` by default.

    Returns:
        ``(stdout, stderr)``, each without a final newline, either one possibly empty.
        Readable output is all on stdout. With ``as_json``, stdout holds only JSON
        (nothing when no report is kept) and every sentence (local mode, nothing kept,
        files not read) goes to stderr, so ``show --json | jq`` never breaks. Never
        raises on what is on disk.
    """
    from .consent._consent import Consent

    decision = Consent(settings).decide()
    prog = prog or f"{settings.app} telemetry"
    layout = settings.layout()
    header = _local_header(settings, decision)
    nothing, unread_note = None, None
    if sent:
        body = _sent_json(layout) if as_json else _sent_list(layout)
    else:
        days = _day_files(layout)
        kept = _kept(settings, decision, days)
        unread = sum(day.documents is None for day in days)
        if unread:
            unread_note = _unread_note(layout, unread, prog)
        if not kept:
            body, nothing = "", _nothing_kept(layout, decision, prog)
        elif as_json:
            # One JSON value: the newest document, or with --all the list of them.
            body = json_text([k.document for k in kept] if show_all else kept[-1].document)
        else:
            body = _readable(kept if show_all else kept[-1:], color=color)
    if as_json:
        return body, _lines(header, nothing, unread_note)
    return _lines(header, body or nothing, unread_note), ""


def _lines(*parts: Optional[str]) -> str:
    return "\n".join(part for part in parts if part)


def json_text(value: Any) -> str:
    r"""``value`` as indented JSON whose text cannot drive a terminal.

    Characters of the Unicode categories Cc, Cf, Zl and Zp (C0 and C1 controls, DEL,
    bidi and other format characters, U+2028, U+2029) and lone surrogates are written
    as ``\uXXXX`` escapes (a pair for one beyond U+FFFF); other non-ASCII text stays
    readable. The JSON parses to the same value as ``json.dumps`` would give.
    """
    text = json.dumps(value, indent=2, ensure_ascii=False)
    # Outside strings the JSON holds only ASCII (json.dumps escapes C0 controls inside
    # strings itself): every character matched here is inside a string.
    return _NON_ASCII.sub(_json_escape, text)


_NON_ASCII = re.compile(r"[^\x00-\x7e]")
_ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})


def _json_escape(match: re.Match[str]) -> str:
    char = match.group()
    if unicodedata.category(char) not in _ESCAPED_CATEGORIES:
        return char
    code = ord(char)
    if code > 0xFFFF:  # JSON escapes only 16-bit units: a surrogate pair
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
    return f"\\u{code:04x}"


# -- show ------------------------------------------------------------------------------------


@dataclass
class _Kept:
    """One report kept on this machine, with every place it is kept in."""

    document: dict[str, Any]
    """A one-span OTLP/JSON document."""
    time_ns: int
    key: Optional[tuple[str, str]]
    """``(traceId, spanId)``: the same report in another place has the same key."""
    places: dict[str, str] = field(default_factory=dict)
    """Where it is, by kind (``sent:sentry``, ``waiting``, ``file``), as one line each."""
    destinations: list[str] = field(default_factory=list)


def _local_header(settings: Settings, decision: ConsentDecision) -> Optional[str]:
    # The decision has the level of <APP>_TELEMETRY=local when the variable decides (and
    # none when DO_NOT_TRACK wins over it), else of the saved or session choice.
    if not decision.local:
        return None
    reports = _path(settings.layout().reports_dir)
    return f"Local mode: reports are recorded on this machine, in {reports}, and never uploaded."


def _nothing_kept(layout: Layout, decision: ConsentDecision, prog: str) -> str:
    where = _path(layout.telemetry_dir)
    if decision.state == "granted":
        return f"No report is kept on this machine yet (in {where}); one appears after a crash."
    return (
        f"No report is kept on this machine (in {where}). To keep them: `{prog} enable`"
        f" sends crash reports, `{prog} local` records them here only."
    )


def _unread_note(layout: Layout, unread: int, prog: str) -> str:
    files = "1 file" if unread == 1 else f"{unread} files"
    return (
        f"Not read: {files} of reports in {_path(layout.reports_dir)}, too large to read here;"
        f" `{prog} clean` removes {'it' if unread == 1 else 'them'}."
    )


def _day_files(layout: Layout) -> list[DayFile]:
    """The ``file`` exporter's day files, read within their bounds; [] if they cannot be."""
    from .exporters._file import scan_reports

    try:
        return scan_reports(layout.reports_dir)
    except Exception:  # never raises by contract; scan_reports does not either
        return []


def _kept(settings: Settings, decision: ConsentDecision, days: list[DayFile]) -> list[_Kept]:
    """Every report kept, oldest first; one report in several places is one item."""
    layout = settings.layout()
    found: list[_Kept] = []
    by_key: dict[tuple[str, str], _Kept] = {}

    def add(
        document: Mapping[str, Any], kind: str, place: str, destinations: Iterable[str]
    ) -> None:
        for single, span in _split(document):
            key = _key(span)
            kept = by_key.get(key) if key is not None else None
            if kept is None:
                kept = _Kept(single, _time_ns(span), key)
                found.append(kept)
                if key is not None:
                    by_key[key] = kept
            kept.places.setdefault(kind, place)
            for name in destinations:
                if name not in kept.destinations:
                    kept.destinations.append(name)

    for entry in _sent_entries(layout):
        exporter = _plain(entry.exporter, 40)
        kind = "file" if exporter == "file" else f"sent:{exporter}"
        add(entry.document, kind, _sent_place(entry, layout), (exporter,))
    for pending, document in _waiting(settings, decision):
        names = ", ".join(_plain(n, 40) for n in pending) or "no exporter"
        add(
            document,
            "waiting",
            f"Waiting in the outbox ({_path(layout.outbox_dir)}) for {names}",
            pending,
        )
    for pending, document in _spooled(settings):
        names = ", ".join(_plain(n, 40) for n in pending) or "no exporter"
        add(
            document,
            "waiting",
            f"Written at exit ({_path(layout.spool_dir)}), to be sent to {names}",
            pending,
        )
    for day in days:
        for document in day.documents or ():
            add(
                document,
                "file",
                f"Stored by the file exporter in {_path(layout.reports_dir)}",
                ["file"],
            )
    return sorted(found, key=lambda k: k.time_ns)  # stable: same time, order of places


_PLACE_ORDER = {"wait": 1, "file": 2}  # "sent:<exporter>" first (0), console among them


def _readable(kept: list[_Kept], *, color: bool) -> str:
    from ._view import render_report

    blocks = []
    for item in kept:
        # What left the machine first, then what waits, then the copies kept here.
        order = sorted(item.places.items(), key=lambda kv: _PLACE_ORDER.get(kv[0][:4], 0))
        places = "\n".join(text for _, text in order)
        try:
            rendered = render_report(item.document, destinations=item.destinations, color=color)
        except Exception as exc:  # a document from disk never stops the others being shown
            rendered = f"(this report cannot be shown: {_plain(type(exc).__name__, 80)})"
        blocks.append(f"{places}\n\n{rendered}")
    return "\n\n".join(blocks)


def _sent_place(entry: SentEntry, layout: Layout) -> str:
    exporter = _plain(entry.exporter, 40)
    when = _utc(entry.time_ns, seconds=False)
    delivery = _plain(entry.delivery_id, 80) if entry.delivery_id else None
    if exporter == "file":
        return f"Stored by the file exporter in {_path(layout.reports_dir)} at {when}"
    if exporter == "console":
        return f"Printed by the console exporter at {when}"
    label = "event id" if exporter == "sentry" else "delivery id"
    return f"Sent to {exporter} at {when}" + (f", {label} {delivery}" if delivery else "")


def _sent_entries(layout: Layout) -> list[SentEntry]:
    """The sent record, newest last, at most the newest 100; [] when it cannot be read."""
    from .pipeline._sent import SentLog

    try:
        entries = SentLog(layout.sent_dir).entries()
    except Exception:  # never raises by contract; a broken record shows as empty
        return []
    return entries[-_MAX_SENT_LISTED:]


def _sent_list(layout: Layout) -> str:
    entries = _sent_entries(layout)
    if not entries:
        return f"Nothing was sent from this machine (no record in {_path(layout.sent_dir)})."
    lines = [
        f"Sent from this machine, newest last ({len(entries)}, kept in {_path(layout.sent_dir)}):"
    ]
    for entry in entries:
        summary = "; ".join(_summary(span) for _, span in _split(entry.document))
        if not summary:
            omitted = entry.document.get("omitted")
            summary = f"(report not kept: {_plain(omitted, 80)})" if omitted else "(no report)"
        lines.append(
            "  ".join(
                (
                    _utc(entry.time_ns, seconds=True),
                    _plain(entry.exporter, 40),
                    _plain(entry.delivery_id, 80) if entry.delivery_id else "-",
                    summary,
                )
            )
        )
    return "\n".join(lines)


def _sent_json(layout: Layout) -> str:
    return json_text(
        [
            {
                "time": _utc_iso(entry.time_ns),
                "time_ns": entry.time_ns,
                "exporter": entry.exporter,
                "delivery_id": entry.delivery_id,
                "report": entry.document,
            }
            for entry in _sent_entries(layout)
        ]
    )


def _waiting(
    settings: Settings, decision: ConsentDecision
) -> list[tuple[list[str], dict[str, Any]]]:
    """The outbox's reports, each as the sending worker would send it now, oldest first.

    Read only: nothing is claimed, renamed or deleted (``show`` is not a sender). Each
    record is checked and scrubbed again, with the resource in force, exactly as a drain
    does before sending; one that fails is skipped, as a drain drops it. One written
    before consent was last withdrawn is never sent, so it is not shown either. A batch
    file (format 2) shows each of its reports.
    """
    from ._layout import written_ns
    from .consent._store import withdrawn_ns
    from .pipeline._outbox import peek
    from .pipeline._report import bound_record, check_record

    withdrawn = withdrawn_ns(settings.config_dir)
    rescrub: Optional[Callable[[dict[str, Any]], dict[str, Any]]] = None
    found: list[tuple[list[str], dict[str, Any]]] = []
    for name, pending, span in peek(settings.layout().outbox_dir):
        if withdrawn and written_ns(name) < withdrawn:
            continue
        if not isinstance(pending, list) or not all(isinstance(n, str) for n in pending):
            continue
        try:
            record = check_record(span)
            if rescrub is None:
                rescrub = _rescrubber(settings, decision)
            document = _document(bound_record(rescrub(record)))
        except Exception:  # planted, or failed its checks
            continue
        found.append((list(pending), document))
    return found


def _spooled(settings: Settings) -> list[tuple[list[str], dict[str, Any]]]:
    """The captures a crashing process wrote at exit, as they will be sent: scrubbed.

    Read only (``show`` converts nothing); what was written before consent was last
    withdrawn is deleted unsent by the sender, so it is not shown either.
    """
    from .consent._store import withdrawn_ns
    from .pipeline._handoff import spooled_records

    try:
        records = spooled_records(settings, withdrawn_ns(settings.config_dir))
        return [(pending, _document(record)) for pending, record in records]
    except Exception:  # never raises by contract: what cannot be read is not shown
        return []


def _rescrubber(
    settings: Settings, decision: ConsentDecision
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The scrub a record read back from the outbox gets before it is sent.

    The record's own resource is kept (scrubbed again), never replaced by this
    process's: ``python -m otel_telemetry --app acme`` knows no version of acme, and the
    host that wrote the record, which sends it, does.
    """
    from .pipeline._report import scrub_record
    from .scrubbing import Scrubber

    scrubber = Scrubber(settings.scrubbing)

    def rescrub(record: dict[str, Any]) -> dict[str, Any]:
        return scrub_record(record, scrubber, email=decision.email)

    return rescrub


def _document(record: dict[str, Any]) -> dict[str, Any]:
    from .exporters import encode_otlp_json
    from .pipeline._records import record_to_span

    document: dict[str, Any] = encode_otlp_json([record_to_span(record)])
    return document


def _split(document: Any) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Each span of an OTLP/JSON document as a document of its own; junk is skipped."""
    found: list[tuple[dict[str, Any], dict[str, Any]]] = []
    if not isinstance(document, dict):
        return found
    for resource_spans in _dicts(document.get("resourceSpans")):
        for scope_spans in _dicts(resource_spans.get("scopeSpans")):
            for span in _dicts(scope_spans.get("spans")):
                single_scope = {k: v for k, v in scope_spans.items() if k != "spans"}
                single_resource = {k: v for k, v in resource_spans.items() if k != "scopeSpans"}
                single = {
                    "resourceSpans": [
                        {**single_resource, "scopeSpans": [{**single_scope, "spans": [span]}]}
                    ]
                }
                found.append((single, span))
    return found


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _key(span: Mapping[str, Any]) -> Optional[tuple[str, str]]:
    trace_id, span_id = span.get("traceId"), span.get("spanId")
    if isinstance(trace_id, str) and isinstance(span_id, str) and trace_id and span_id:
        return (trace_id, span_id)
    return None


def _time_ns(span: Mapping[str, Any]) -> int:
    for key in ("endTimeUnixNano", "startTimeUnixNano"):
        try:
            return max(0, int(span.get(key) or 0))
        except (TypeError, ValueError):
            continue
    return 0


def _summary(span: Mapping[str, Any]) -> str:
    """``type: message`` of a crash report, the name of a usage event."""
    for event in _dicts(span.get("events")):
        if event.get("name") != "exception":
            continue
        values = _attribute_values(event.get("attributes"))
        kind = _plain(values.get("exception.type", "exception"), 80)
        message = values.get("exception.message")
        return f"{kind}: {_plain(message, _MAX_SUMMARY)}" if message else kind
    return _plain(span.get("name", "(no name)"), 80)


def _attribute_values(items: Any) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for item in _dicts(items):
        value = item.get("value")
        if isinstance(item.get("key"), str) and isinstance(value, dict) and len(value) == 1:
            values[item["key"]] = next(iter(value.values()))
    return values


def _plain(value: Any, limit: int) -> str:
    """A value from disk as one printable line: no control character, no escape sequence."""
    from ._status import printable

    text = value if isinstance(value, str) else str(value)
    if len(text) > limit:
        text = text[:limit] + "…"
    return printable(text)


def _path(path: Path) -> str:
    """A folder of the config dir, named in text: it may come from a variable, escaped."""
    from ._status import printable

    return printable(str(path))


def _utc(time_ns: int, *, seconds: bool) -> str:
    try:
        moment = time.gmtime(time_ns / 1e9)
    except (OverflowError, OSError, ValueError, TypeError):
        return "(unknown time)"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC" if seconds else "%Y-%m-%d %H:%M UTC", moment)


def _utc_iso(time_ns: int) -> Optional[str]:
    try:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time_ns / 1e9))
    except (OverflowError, OSError, ValueError, TypeError):
        return None


# -- clean -----------------------------------------------------------------------------------


def _reports_in_name(name: str) -> int:
    """How many reports the file ``name`` of the outbox or the spool held (0: not ours)."""
    from ._layout import reports_in

    return 0 if name.startswith(".") else reports_in(name)


def _clear_folder(directory: Path, problems: list[str], counted: Callable[[str], int]) -> int:
    """Remove every file of a folder of ours; how many ``counted`` names were removed."""
    return sum(counted(name) for name in _remove_all(directory, problems))


def _remove_all(directory: Path, problems: list[str]) -> list[str]:
    """Remove every file of a folder of ours; the names removed.

    A folder that is a symbolic link is not looked into; a link in it is removed itself,
    never its target; a folder in it is not ours and is left alone.
    """
    from ._layout import check_tree

    try:
        check_tree(directory)
        with os.scandir(directory) as scan:
            entries = list(scan)
    except FileNotFoundError:
        return []
    except OSError as exc:
        problems.append(_problem(directory, exc))
        return []
    removed: list[str] = []
    failures: list[OSError] = []
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False):
                continue  # nothing of ours: never descended into
            os.unlink(entry.path)
        except FileNotFoundError:
            continue  # sent and removed by another process meanwhile
        except OSError as exc:
            failures.append(exc)
            continue
        removed.append(entry.name)
    if failures:
        reason = failures[0].strerror or str(failures[0])
        problems.append(f"{len(failures)} file(s) in {_path(directory)} ({_plain(reason, 200)})")
    return removed


def _clear_reports(layout: Layout, problems: list[str]) -> tuple[int, int]:
    """Remove the ``file`` exporter's folder's files: ``(reports, unread day files)`` gone.

    Each day file is read (within the bounds of ``scan_reports``) before it goes, so
    only the reports of files that were removed count; a line that is not a report
    (junk, another encoding) never does, and a good one next to it still does.
    """
    by_name = {day.path.name: day for day in _day_files(layout)}
    reports = unread = 0
    for name in _remove_all(layout.reports_dir, problems):
        day = by_name.get(name)
        if day is None:
            continue  # not a day file of ours (a link, a FIFO, a temporary file)
        if day.documents is None:
            unread += 1
        else:
            reports += sum(len(_split(document)) for document in day.documents)
    return reports, unread


def _clear_sent(layout: Layout, problems: list[str]) -> int:
    """Remove the sent record; how many of its whole entries went (junk never counts)."""
    from .pipeline._sent import SentLog

    record = SentLog(layout.sent_dir)
    before = record.count()
    try:
        record.clear()  # removes what it can, then raises the first failure
    except OSError as exc:
        problems.append(_problem(layout.sent_dir, exc))
    return max(0, before - record.count())


def _remove_file(path: Path, problems: list[str]) -> int:
    try:
        os.unlink(path)  # a link is removed itself, never its target
    except FileNotFoundError:
        return 0
    except OSError as exc:
        problems.append(_problem(path, exc))
        return 0
    return 1


def _problem(path: Optional[Path], exc: BaseException) -> str:
    from ._layout import UnsafePathError

    if isinstance(exc, UnsafePathError):
        return (
            f"{_plain(exc.filename, 4096)}"
            " (a symbolic link or not a folder: never followed, left in place)"
        )
    if isinstance(exc, OSError) and path is not None:
        return f"{_path(path)} ({_plain(exc.strerror or exc, 200)})"
    where = f"{_path(path)}: " if path is not None else ""
    return f"{where}{type(exc).__name__}: {_plain(exc, 200)}"
