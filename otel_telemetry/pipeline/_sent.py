"""The record of what was sent: a copy of each delivered report, on this machine only.

Every report an exporter confirmed is kept in ``<config dir>/telemetry/sent/``, so that
the user can see what left (``<app> telemetry show --sent``) whatever the exporter: with
Sentry nothing else of a report stays here once it was delivered. A file is named
``<time_ns, 20 digits>-<exporter>-<8 hex>.json`` (its name sorts by time) and holds one
entry, ``{"time_ns", "exporter", "delivery_id", "report"}``, the report being the
OTLP/JSON document of what was sent; or, for reports delivered together (:meth:`SentLog.add_many`),
``...-<8 hex>-<count>.json`` holding ``{"entries": [entry, ...]}``, oldest first, at most
:data:`MAX_BATCH` of one exporter: a file for every ten reports of a batch, not one each.

Bounded: after each addition, the oldest files go until at most :data:`MAX_ENTRIES`
reports remain (so at least ``MAX_ENTRIES - MAX_BATCH + 1`` of the newest, when as many
were sent), holding at most :data:`MAX_BYTES` in all. Pruning only removes files, never
writes one: it needs no space, two processes pruning at once each remove the oldest
files, and a removed report never comes back. A report whose entry alone would take
more than :data:`MAX_ENTRY_BYTES` is kept as a stub that says so (:data:`OMITTED`), never
whole. Files are written by :func:`~otel_telemetry._layout.atomic_write` (``0600``, in a
``0700`` folder, never through a link), so a reader sees a whole entry or none, and any
number of processes may add at once. Reading is bounded too: a symbolic link, a FIFO, a
file too large or anything that is not an entry of ours is skipped, never followed,
never waited on.

Pure Python (no SDK): ``status()`` and the commands read it on the host's thread.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import stat
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from otel_telemetry._layout import (
    atomic_write,
    check_tree,
    ensure_dir,
    is_temporary,
    newest_within,
    read_bounded,
)
from otel_telemetry._log import debug

MAX_ENTRIES = 100
"""The most reports kept: the newest."""
MAX_BYTES = 1_000_000
"""The most bytes the record holds in all (1 MB)."""
MAX_ENTRY_BYTES = MAX_BYTES // 4
"""The largest entry kept whole: one report never pushes out more than a quarter of the
record. A larger one is kept as a stub (its time, exporter and delivery id, no report)."""
OMITTED = "omitted"
"""The only key of a stub's report: why the report itself is not kept, and its size."""
ORPHAN_AGE = 60.0
"""Seconds after which a temporary file is a killed writer's, never a write in progress."""

MAX_BATCH = 10
"""The most reports of one file: a file is pruned whole, so the record keeps at least the
newest ``MAX_ENTRIES - MAX_BATCH + 1`` reports."""

# A batch's count is 2 to MAX_BATCH: a name claiming more is not a file of ours, whose
# count would make pruning remove the others.
_COUNTS = "|".join(str(n) for n in range(MAX_BATCH, 1, -1))
_NAME = re.compile(rf"^[0-9]{{20}}-[A-Za-z0-9_.-]{{1,64}}-[0-9a-f]{{8}}(?:-({_COUNTS}))?\.json$")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
_MAX_ID = 256  # characters of a delivery id kept (ours are 32 to 49)
_MAX_TRIED = 10 * MAX_ENTRIES  # files looked at by entries(): planted junk cannot stall it


@dataclass(frozen=True)
class SentEntry:
    """One delivered report, as the record keeps it."""

    time_ns: int
    """When it was delivered, in nanoseconds since the epoch."""
    exporter: str
    """The exporter that delivered it (``sentry``, ``otlp``, ``file``, ...)."""
    delivery_id: Optional[str]
    """What the destination knows it by: Sentry's event id, else ``<trace id>/<span id>``."""
    document: dict[str, Any]
    """The OTLP/JSON document sent, or ``{"omitted": "..."}`` for a report too large."""


class SentLog:
    """The record of delivered reports in one folder (``Layout.sent_dir``).

    Args:
        directory: the ``sent`` folder; created at the first addition.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def add(
        self,
        document: dict[str, Any],
        *,
        exporter: str,
        delivery_id: Optional[str],
        time_ns: int,
    ) -> None:
        """Keep a copy of a delivered report, then drop the oldest beyond the bounds.

        Never raises: a record that cannot be written (a full or read-only disk, a
        planted link) is one debug line, and the delivery it follows stands.

        Args:
            document: the OTLP/JSON document that was sent.
            exporter: the exporter that delivered it.
            delivery_id: its id at the destination, if any.
            time_ns: when it was delivered.
        """
        try:
            self._add(document, exporter, delivery_id, time_ns)
        except Exception:
            debug("otel_telemetry: the record of sent reports was not written", exc_info=True)

    def add_many(
        self,
        copies: Sequence[tuple[dict[str, Any], str, Optional[str]]],
        *,
        time_ns: int,
    ) -> None:
        """:meth:`add` for several reports delivered together, pruned once at the end.

        Only the newest :data:`MAX_ENTRIES` are written: older ones would be pruned at
        once. Never raises.

        Args:
            copies: ``(document, exporter, delivery_id)`` of each, oldest first.
            time_ns: when they were delivered.
        """
        try:
            # One nanosecond apart: entries sort in the order the reports were delivered.
            # Files of one exporter each (their name says which), MAX_BATCH at most.
            by_exporter: dict[str, list[dict[str, Any]]] = {}
            for offset, (document, exporter, delivery_id) in enumerate(copies[-MAX_ENTRIES:]):
                entry = _entry(document, exporter, delivery_id, time_ns + offset)
                by_exporter.setdefault(entry["exporter"], []).append(entry)
            for entries in by_exporter.values():
                for start in range(0, len(entries), MAX_BATCH):
                    self._write(entries[start : start + MAX_BATCH])
            if copies:
                self._prune()
        except Exception:
            debug("otel_telemetry: the record of sent reports was not written", exc_info=True)

    def entries(self) -> list[SentEntry]:
        """The kept reports, newest last; what is not a whole entry of ours is skipped.

        Bounded: at most :data:`MAX_ENTRIES`, from the newest :data:`_MAX_TRIED` files,
        reading at most twice :data:`MAX_BYTES` in all (planted files count too); a file
        larger than an entry is never read; never through a link, never blocking on a
        FIFO.
        """
        entries: list[SentEntry] = []
        budget = 2 * MAX_BYTES
        for name, size, _ in list(reversed(self._files()))[:_MAX_TRIED]:
            if len(entries) >= MAX_ENTRIES or size > budget:
                break
            budget -= size
            entries.extend(self._read(self.directory / name))
        # Files of several processes interleave in time: newest last, the newest kept.
        # An entry is shown once, even if a file was planted twice.
        unique = {(e.time_ns, e.exporter, e.delivery_id): e for e in entries}
        return sorted(unique.values(), key=lambda entry: entry.time_ns)[-MAX_ENTRIES:]

    def count(self) -> int:
        """How many reports are kept: the whole entries of ours :meth:`entries` returns.

        A file named like an entry is not one until it is read: junk, a link, a FIFO or
        a file too large never counts. Read within the bounds of :meth:`entries` (at
        most :data:`MAX_ENTRIES`, from the newest files, a bounded number of bytes).
        """
        return len(self.entries())

    def clear(self) -> int:
        """Delete the record; returns how many kept reports were removed.

        Everything in the folder goes (temporary files, planted links: removed
        themselves, never their targets); only reports are counted. A folder that is a
        symbolic link is not looked into.

        Raises:
            UnsafePathError: the folder (or ``telemetry``) is a symbolic link.
            OSError: the folder cannot be listed, or a file cannot be removed (every
                other one was removed first).
        """
        check_tree(self.directory)
        removed, failure = 0, None
        try:
            with os.scandir(self.directory) as scan:
                listing = list(scan)
        except FileNotFoundError:
            return 0
        for item in listing:
            try:
                if item.is_dir(follow_symlinks=False):
                    continue  # nothing of ours; never descended into
                regular = item.is_file(follow_symlinks=False)
                os.unlink(item.path)
            except FileNotFoundError:
                continue  # pruned by another process meanwhile
            except OSError as exc:
                failure = failure or exc
                continue
            if regular and _NAME.match(item.name):
                removed += _reports_in(item.name)
        if failure is not None:
            raise failure
        return removed

    # -- private ------------------------------------------------------------------------------

    def _add(
        self,
        document: dict[str, Any],
        exporter: str,
        delivery_id: Optional[str],
        time_ns: int,
        *,
        prune: bool = True,
    ) -> None:
        self._write([_entry(document, exporter, delivery_id, time_ns)])
        if prune:
            self._prune()

    def _write(self, entries: list[dict[str, Any]]) -> None:
        """One file of ``entries`` (of one exporter, oldest first).

        A batch over :data:`MAX_BYTES` keeps its newest entries that fit.
        """
        data = _encode(entries[0]) if len(entries) == 1 else _encode({"entries": entries})
        if len(data) > MAX_BYTES:
            # Sized one by one only when over the bound: each with its comma, the rest
            # of the document within the room left.
            sizes = [len(_encode(entry)) + 1 for entry in entries]
            entries = entries[newest_within(sizes, MAX_BYTES - 16) :]
            data = _encode({"entries": entries}) if len(entries) > 1 else _encode(entries[0])
        ensure_dir(self.directory)
        first_entry = entries[0]
        count = f"-{len(entries)}" if len(entries) > 1 else ""
        name = (
            f"{first_entry['time_ns']:020d}-{first_entry['exporter']}"
            f"-{secrets.token_hex(4)}{count}.json"
        )
        atomic_write(self.directory / name, data)

    def _files(self) -> list[tuple[str, int, int]]:
        """``(name, size, reports)`` of the regular files of ours, oldest first; none if unsafe."""
        files = []
        try:
            check_tree(self.directory)
            with os.scandir(self.directory) as listing:
                for item in listing:
                    if not _NAME.match(item.name):
                        continue
                    try:
                        info = item.stat(follow_symlinks=False)
                    except OSError:
                        continue  # pruned by another process meanwhile
                    reports = _reports_in(item.name)
                    # Larger than a file of ours can be: not ours, neither read nor counted
                    # (its size would make pruning remove every report of ours).
                    if stat.S_ISREG(info.st_mode) and info.st_size <= _largest(reports):
                        files.append((item.name, info.st_size, reports))
        except OSError:
            return []
        files.sort()
        return files

    def _prune(self) -> None:
        self._remove_orphans()
        files = self._files()
        count = sum(reports for _, _, reports in files)
        total = sum(size for _, size, _ in files)
        # Oldest first. Processes pruning at once may each remove the same file: the
        # last one to list sees every addition made before it, so the bounds hold.
        for name, size, reports in files:
            if count <= MAX_ENTRIES and total <= MAX_BYTES:
                break
            try:
                os.unlink(self.directory / name)
            except FileNotFoundError:
                pass
            count, total = count - reports, total - size

    def _remove_orphans(self) -> None:
        """Temporary files of writers that were killed mid-write (nobody finishes them)."""
        now = time.time()
        with os.scandir(self.directory) as listing:
            for item in listing:
                if not is_temporary(item.name):
                    continue
                try:
                    if now - item.stat(follow_symlinks=False).st_mtime > ORPHAN_AGE:
                        os.unlink(item.path)
                except OSError:
                    continue

    @staticmethod
    def _read(path: Path) -> list[SentEntry]:
        """The entries of one file, oldest first; none when it is not a file of ours."""
        try:
            limit = _largest(_reports_in(path.name))
            data = json.loads(read_bounded(path, limit).decode("utf-8"))
        except (OSError, ValueError, RecursionError):
            return []  # a link, a FIFO, too large, torn or not JSON: not an entry of ours
        if isinstance(data, dict) and isinstance(data.get("entries"), list):
            items = data["entries"]
        else:
            items = [data]
        entries = [_entry_of(item) for item in items]
        return [entry for entry in entries if entry is not None]


def _entry(
    document: dict[str, Any], exporter: str, delivery_id: Optional[str], time_ns: int
) -> dict[str, Any]:
    """An entry as written: names made safe, a report too large replaced by a stub."""
    time_ns = min(max(0, int(time_ns)), 10**20 - 1)
    exporter = _UNSAFE.sub("_", exporter)[:64] or "unknown"
    if delivery_id is not None:
        delivery_id = str(delivery_id)[:_MAX_ID]
    entry: dict[str, Any] = {
        "time_ns": time_ns,
        "exporter": exporter,
        "delivery_id": delivery_id,
        "report": document,
    }
    size = len(_encode(entry))
    if size > MAX_ENTRY_BYTES:
        entry["report"] = {OMITTED: f"too large to keep here ({size} bytes)"}
    return entry


def _entry_of(data: Any) -> Optional[SentEntry]:
    """The entry ``data`` holds, or None when it is not an entry of ours."""
    if not isinstance(data, dict):
        return None
    time_ns, exporter = data.get("time_ns"), data.get("exporter")
    delivery_id, document = data.get("delivery_id"), data.get("report")
    if (
        not isinstance(time_ns, int)
        or isinstance(time_ns, bool)
        or not isinstance(exporter, str)
        or not (delivery_id is None or isinstance(delivery_id, str))
        or not isinstance(document, dict)
    ):
        return None
    return SentEntry(time_ns, exporter, delivery_id, document)


def _reports_in(name: str) -> int:
    """The reports a file of ours holds, by its name (a batch's count, else 1)."""
    match = _NAME.match(name)
    return int(match.group(1)) if match is not None and match.group(1) else 1


def _largest(reports: int) -> int:
    """The largest file of ours that holds ``reports``: larger is not ours, never read."""
    return MAX_ENTRY_BYTES if reports <= 1 else MAX_BYTES


def _encode(entry: dict[str, Any]) -> bytes:
    text = json.dumps(entry, separators=(",", ":"), ensure_ascii=False)
    # A lone surrogate (from a report read back) is written escaped, never refused.
    return text.encode("utf-8", "backslashreplace")
