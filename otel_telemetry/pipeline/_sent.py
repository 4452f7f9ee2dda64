"""The record of what was sent: a copy of each delivered report, on this machine only.

Every report an exporter confirmed is kept in ``<config dir>/telemetry/sent/``, one file
each, so that the user can see what left (``<app> telemetry show --sent``) whatever the
exporter: with Sentry nothing else of a report stays here once it was delivered. A file
is named ``<time_ns, 20 digits>-<exporter>-<8 hex>.json`` (its name sorts by time) and
holds ``{"time_ns", "exporter", "delivery_id", "report"}``, the report being the OTLP/JSON
document of what was sent.

Bounded: after each addition, the oldest files go until at most :data:`MAX_ENTRIES`
remain, holding at most :data:`MAX_BYTES` in all; a report whose entry alone would take
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

_NAME = re.compile(r"^[0-9]{20}-[A-Za-z0-9_.-]{1,64}-[0-9a-f]{8}\.json$")
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
            # One nanosecond apart: names sort in the order the reports were delivered.
            for offset, (document, exporter, delivery_id) in enumerate(copies[-MAX_ENTRIES:]):
                self._add(document, exporter, delivery_id, time_ns + offset, prune=False)
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
        for name, size in list(reversed(self._files()))[:_MAX_TRIED]:
            if size > MAX_ENTRY_BYTES:
                continue  # not written by us: skipped unread, at no cost to the others
            if len(entries) >= MAX_ENTRIES or size > budget:
                break
            budget -= size
            entry = self._read(self.directory / name)
            if entry is not None:
                entries.append(entry)
        entries.reverse()
        return entries

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
            removed += regular and bool(_NAME.match(item.name))
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
        data = _encode(entry)
        if len(data) > MAX_ENTRY_BYTES:
            entry["report"] = {OMITTED: f"too large to keep here ({len(data)} bytes)"}
            data = _encode(entry)
        ensure_dir(self.directory)
        name = f"{time_ns:020d}-{exporter}-{secrets.token_hex(4)}.json"
        atomic_write(self.directory / name, data)
        if prune:
            self._prune()

    def _files(self) -> list[tuple[str, int]]:
        """``(name, size)`` of the regular files of ours, oldest first; none if unsafe."""
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
                    if stat.S_ISREG(info.st_mode):
                        files.append((item.name, info.st_size))
        except OSError:
            return []
        files.sort()
        return files

    def _prune(self) -> None:
        self._remove_orphans()
        files = self._files()
        count, total = len(files), sum(size for _, size in files)
        # Oldest first. Processes pruning at once may each remove the same file: the
        # last one to list sees every addition made before it, so the bounds hold.
        for name, size in files:
            if count <= MAX_ENTRIES and total <= MAX_BYTES:
                break
            try:
                os.unlink(self.directory / name)
            except FileNotFoundError:
                pass
            count, total = count - 1, total - size

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
    def _read(path: Path) -> Optional[SentEntry]:
        try:
            data = json.loads(read_bounded(path, MAX_ENTRY_BYTES).decode("utf-8"))
        except (OSError, ValueError, RecursionError):
            return None  # a link, a FIFO, too large, torn or not JSON: not an entry of ours
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


def _encode(entry: dict[str, Any]) -> bytes:
    text = json.dumps(entry, separators=(",", ":"), ensure_ascii=False)
    # A lone surrogate (from a report read back) is written escaped, never refused.
    return text.encode("utf-8", "backslashreplace")
