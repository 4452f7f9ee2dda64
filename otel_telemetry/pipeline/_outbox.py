"""Outbox: scrubbed reports on disk until every exporter confirmed them.

A report is written before it is sent and removed once each exporter it is for has
confirmed delivery; one that could not be sent (offline, endpoint down, rate limited,
process exiting) is sent by a later flush or a later run. Several processes share the
folder: a report is *claimed* (renamed with the claimer's pid) before it is sent, so
only one process sends it, and claims of processes that died are taken back. Writes are
atomic (a temporary file, then a rename). The folder is bounded in count and bytes: the
oldest reports are dropped first, and counted.
"""

from __future__ import annotations

import json
import os
import stat
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from otel_telemetry._layout import (
    atomic_write,
    count_reports,
    ensure_dir,
    is_temporary,
)
from otel_telemetry._log import warn_once

from ._records import FORMAT, record_to_span, span_to_record

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

_READY = ".json"
_CLAIMED = ".claimed-"


@dataclass
class Entry:
    """One report in the outbox, claimed by this process."""

    path: Optional[Path]
    """Where it is claimed; None when the disk refused it."""
    span: ReadableSpan
    pending: list[str]
    """The exporters that have not confirmed it yet."""


class Outbox:
    """The ``telemetry/outbox`` folder of one config dir.

    Args:
        directory: the folder; created (owner-only) when first written.
        max_reports: the most reports kept; older ones are dropped.
        max_bytes: the most bytes kept; older reports are dropped.
    """

    def __init__(
        self, directory: Path, *, max_reports: int = 200, max_bytes: int = 4_000_000
    ) -> None:
        self.directory = directory
        self.max_reports = max_reports
        self.max_bytes = max_bytes
        self.dropped = 0

    def count(self) -> int:
        """Reports waiting, claimed ones included."""
        return count_reports(str(self.directory))

    def put(self, span: ReadableSpan, pending: Sequence[str]) -> Optional[Entry]:
        """Write a new report, already claimed by this process; None when the disk refuses."""
        name = f"{time.time_ns():020d}-{uuid.uuid4().hex[:12]}"
        path = self.directory / f"{name}{_READY}{_CLAIMED}{os.getpid()}"
        try:
            ensure_dir(self.directory)
            self._write(path, span, pending)
            self._bound()
        except OSError as exc:
            warn_once(
                "outbox:write",
                f"Cannot write crash reports to {self.directory} ({exc.strerror or exc}); "
                "they are sent without a copy on disk and may be lost when offline.",
            )
            return None
        return Entry(path, span, list(pending))

    def settle(self, entry: Entry) -> None:
        """Remove a delivered report, or give an undelivered one back to the outbox."""
        if entry.path is None:
            return
        try:
            if not entry.pending:
                entry.path.unlink(missing_ok=True)
                return
            if not entry.path.exists():
                return  # dropped to keep the outbox within its bounds while it was sent
            ready = self._ready_path(entry.path)
            self._write(ready, entry.span, entry.pending)
            entry.path.unlink(missing_ok=True)
        except OSError:
            pass  # the claim stays; a later run takes it back once this process is gone

    def claim(self) -> Iterator[Entry]:
        """Claim the waiting reports one by one, oldest first (those of dead processes too)."""
        if not self.directory.is_dir():
            return
        for path in sorted(self.directory.iterdir()):
            # A temporary file of atomic_write carries its target's name, claim included:
            # it is another process's write in progress, never a claim to take back.
            if is_temporary(path.name):
                continue
            if _CLAIMED in path.name and not self._alive(path):
                with suppress(OSError):
                    os.replace(path, self._ready_path(path))
        for path in sorted(self.directory.glob(f"*{_READY}")):
            if path.name.startswith("."):
                continue  # hidden: not a report
            claimed = path.with_name(f"{path.name}{_CLAIMED}{os.getpid()}")
            try:
                os.rename(path, claimed)  # atomic: one process wins
            except OSError:
                continue
            entry = self._read(claimed)
            if entry is not None:
                yield entry

    def _write(self, path: Path, span: ReadableSpan, pending: Sequence[str]) -> None:
        record = {"format": FORMAT, "pending": list(pending), "span": span_to_record(span)}
        data = json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        atomic_write(path, data)

    def _read(self, path: Path) -> Optional[Entry]:
        try:
            if not stat.S_ISREG(path.lstat().st_mode):
                raise ValueError("not a regular file")  # a FIFO would block the worker
            record = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(record, dict) or record.get("format") != FORMAT:
                raise ValueError("not a record of this format")
            span, pending = record["span"], record["pending"]
            if not isinstance(span, dict) or not isinstance(pending, list):
                raise ValueError("not a record of this format")
            return Entry(path, record_to_span(span), [str(name) for name in pending])
        except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
            # Unreadable (a torn write of a crashed process, a future format): drop it.
            with suppress(OSError):
                path.unlink()
            self.dropped += 1
            return None

    def _bound(self) -> None:
        entries, sizes = [], []
        for path in sorted(self.directory.iterdir()):
            if is_temporary(path.name):
                continue
            try:
                size = path.stat().st_size
            except OSError:
                continue  # sent and removed by another process meanwhile
            entries.append(path)
            sizes.append(size)
        while entries and (len(entries) > self.max_reports or sum(sizes) > self.max_bytes):
            with suppress(OSError):
                entries[0].unlink()
            entries.pop(0)
            sizes.pop(0)
            self.dropped += 1

    @staticmethod
    def _ready_path(path: Path) -> Path:
        return path.with_name(path.name.split(_CLAIMED, 1)[0])

    def _alive(self, path: Path) -> bool:
        try:
            pid = int(path.name.rsplit(_CLAIMED, 1)[1])
        except ValueError:
            return False
        if pid == os.getpid():
            return True
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except OSError:
            return True  # alive, another user's
        return True
