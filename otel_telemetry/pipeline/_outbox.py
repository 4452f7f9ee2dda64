"""Outbox: scrubbed reports on disk until every exporter confirmed them.

A report is written before it is sent and removed once each exporter it is for has
confirmed delivery; one that could not be sent (offline, endpoint down, rate limited,
process exiting) is sent by a later flush or a later run. Reports are records
(``_report``), so this module never needs the OpenTelemetry SDK: the exit path writes
here too.

Several processes share the folder: a report is *claimed* (renamed with the claimer's
pid and a token of that process's identity) before it is sent, so only one process
sends it. A claim is taken back when its process is gone: the pid is not alive, or it
is alive but is another process (a pid reused after a reboot, or PID 1 of the next
container), or the claim is older than :data:`LEASE` seconds. Writes are atomic (a
temporary file, then a rename). The folder is bounded in count and bytes: the oldest
reports are dropped first, and counted; temporary files of killed writers are removed.

A file holds one report (format 1, ``<time_ns>-<hex>.json``) or a *batch* of reports
recorded together (format 2, ``<time_ns>-<hex>-<count>.json``: the count in the name
keeps counting and bounding a listing, never a read). A batch is written with one
``fsync`` and claimed, sent and settled as a whole: each of its reports keeps the
exporters that have not confirmed it, and the file is rewritten with only those.
"""

from __future__ import annotations

import json
import os
import stat
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Optional

from otel_telemetry._layout import (
    atomic_write,
    check_tree,
    count_reports,
    ensure_dir,
    is_temporary,
    newest_within,
    reports_in,
    written_ns,
)
from otel_telemetry._log import warn_once
from otel_telemetry.exporters._delivery import LOCAL_EXPORTERS

from ._report import BATCH_FORMAT, FORMAT, Record, check_record

_READY = ".json"
_CLAIMED = ".claimed-"
LEASE = 3600.0
"""Seconds after which a claim is taken back even from a live process (a hung sender)."""
ORPHAN_AGE = 60.0
"""Seconds after which a temporary file is a killed writer's, never a write in progress."""
MIN_REPORT_BYTES = 200
"""Fewer bytes than any record of ours takes in a batch file (ids, times, resource)."""
MAX_FILE = 1_000_000
"""Bytes of the largest single-report file read back; a record is far smaller (``_report``
bounds it)."""
MAX_REPORTS = 200
"""The most reports kept waiting, by default."""
MAX_BYTES = 4_000_000
"""The most bytes kept waiting, by default."""
MAX_BATCH_FILE = 64_000_000
"""Bytes of the largest batch file read back."""


@dataclass
class Entry:
    """One report in the outbox, claimed by this process."""

    path: Optional[Path]
    """Where it is claimed; None when the disk refused it."""
    record: Record
    pending: list[str]
    """The exporters that have not confirmed it yet."""
    batch: Optional[Batch] = field(default=None, repr=False, compare=False)
    """The batch file it was claimed in (several reports), if any."""


@dataclass
class Batch:
    """Reports of one outbox file, claimed by this process, settled together."""

    path: Optional[Path]
    """Where it is claimed; None when the disk refused it."""
    entries: list[Entry]
    done: int = 0
    """Entries settled one by one (``Outbox.settle`` of an entry of a batch)."""
    as_read: list[list[str]] = field(default_factory=list, repr=False)
    """Each entry's pending exporters as written: an unchanged batch is renamed back."""


report_count = reports_in
"""How many reports the outbox file ``name`` holds, from its name alone."""


class Outbox:
    """The ``telemetry/outbox`` folder of one config dir.

    Args:
        directory: the folder; created (owner-only) when first written.
        max_reports: the most reports kept; older ones are dropped.
        max_bytes: the most bytes kept; older reports are dropped.
        withdrawn_ns: when consent was last withdrawn (ns since the epoch, 0: never):
            a report written before that is deleted unsent, even one that ``disable()``
            could not delete.
    """

    def __init__(
        self,
        directory: Path,
        *,
        max_reports: Optional[int] = None,
        max_bytes: Optional[int] = None,
        withdrawn_ns: Optional[Callable[[], int]] = None,
    ) -> None:
        self.directory = directory
        self.max_reports = MAX_REPORTS if max_reports is None else max_reports
        self.max_bytes = MAX_BYTES if max_bytes is None else max_bytes
        self._withdrawn_ns = withdrawn_ns
        self.dropped = 0
        """Reports dropped: the oldest ones beyond the bounds, and the ones below."""
        self.unreadable = 0
        """Waiting files that could not be read back (torn, a future format, planted)."""

    def count(self) -> int:
        """Reports waiting, claimed ones included (a batch counts its reports)."""
        if not count_reports(str(self.directory)):
            return 0  # absent, or a folder of ours that is a link: not looked into
        try:
            names = os.listdir(self.directory)
        except OSError:
            return 0
        return sum(report_count(name) for name in names if not name.startswith("."))

    def put(
        self, record: Record, pending: Sequence[str], *, claimed: bool = True, durable: bool = True
    ) -> Optional[Entry]:
        """Write a new report; None when the disk refuses.

        Args:
            record: the scrubbed, bounded record.
            pending: the exporters it is for.
            claimed: claimed by this process (it sends it now); False leaves it for
                whichever process drains next (this one is ending).
            durable: ``fsync`` the file before it is renamed into place (see
                :meth:`put_batch`).
        """
        batch = self.put_batch([record], pending, claimed=claimed, durable=durable)
        if batch is None:
            return None
        return Entry(batch.path, record, list(pending))

    def put_batch(
        self,
        records: Sequence[Record],
        pending: Sequence[str],
        *,
        claimed: bool = True,
        durable: bool = True,
        written_ns: Optional[int] = None,
    ) -> Optional[Batch]:
        """Write new reports as one file, with one ``fsync``; None when the disk refuses.

        The outbox's bounds hold for a batch as for single reports: the oldest files go
        first to make room (``_bound``), and a batch that alone holds more reports or
        bytes than the outbox keeps is written with its newest reports that fit (the
        others are counted in :attr:`dropped`), never deleted whole.

        Args:
            records: the scrubbed, bounded records, oldest first.
            pending: the exporters each of them is for.
            claimed: claimed by this process (it sends them now); False leaves the file
                for whichever process drains next (this one is ending).
            durable: ``fsync`` the file before it is renamed into place: the batch
                survives a power loss, not only the end of this process (one ``fsync``
                per batch). False: the kernel's page cache holds it, which any end of
                the process (SIGKILL included) leaves intact.
            written_ns: when the reports were made, ns since the epoch, for the file's
                name (its age for the bounds, and for a withdrawal of consent: a report
                made before consent was withdrawn is deleted unsent, whenever it was
                written here); by default now.

        Returns:
            The batch, claimed (``path`` None when not ``claimed``).
        """
        entries, data = self._fitting(records, pending)
        if not entries:
            return Batch(None, [])
        count = f"-{len(entries)}" if len(entries) > 1 else ""
        made = time.time_ns() if written_ns is None else max(0, int(written_ns))
        name = f"{made:020d}-{uuid.uuid4().hex[:12]}{count}{_READY}"
        path = self.directory / (f"{name}{_CLAIMED}{_claim_tag()}" if claimed else name)
        try:
            ensure_dir(self.directory)
            atomic_write(path, data, durable=durable)
            self._bound()
        except OSError as exc:
            warn_once(
                "outbox:write",
                f"Cannot write crash reports to {self.directory} ({exc.strerror or exc}); "
                "they are sent without a copy on disk and may be lost when offline.",
            )
            return None
        batch = Batch(path if claimed else None, entries, as_read=[list(pending)] * len(entries))
        for entry in entries:
            entry.batch = batch if len(entries) > 1 else None
            entry.path = batch.path if len(entries) == 1 else None
        return batch

    def _fitting(
        self, records: Sequence[Record], pending: Sequence[str]
    ) -> tuple[list[Entry], bytes]:
        """The newest of ``records`` that one file within the outbox's bounds holds, encoded.

        The newest report is always kept (a record is bounded far below the byte bound);
        what is left out is counted in :attr:`dropped`.
        """
        kept = list(records[-max(1, self.max_reports) :])
        entries = [Entry(None, record, list(pending)) for record in kept]
        data = _encode(entries)
        if len(data) > self.max_bytes and len(entries) > 1:
            # Sized one by one only when over the bound: a burst's batches are encoded once.
            sizes = [len(_encode([entry])) for entry in entries]
            entries = entries[newest_within(sizes, self.max_bytes) :]
            data = _encode(entries)
        self.dropped += len(records) - len(entries)
        return entries, data

    def settle(self, entry: Entry) -> None:
        """Remove a delivered report, or give an undelivered one back to the outbox.

        A report of a batch is settled with its batch, once every report of it was.
        """
        if entry.batch is not None:
            self._settled_one(entry.batch)
            return
        if entry.path is None:
            return
        try:
            if not entry.pending:
                entry.path.unlink(missing_ok=True)
                return
            if not entry.path.exists():
                return  # dropped to keep the outbox within its bounds while it was sent
            ready = self._ready_path(entry.path)
            self._write(ready, entry.record, entry.pending)
            entry.path.unlink(missing_ok=True)
        except OSError:
            pass  # the claim stays; a later run takes it back once this process is gone

    def settle_batch(self, batch: Batch) -> None:
        """Remove a batch whose reports were all delivered, or give back what was not.

        The file is rewritten, under its unclaimed name with the new count, with only the
        reports still waiting (and, for each, the exporters still pending); a batch
        dropped to keep the outbox within its bounds while it was sent stays dropped.
        """
        path = batch.path
        if path is None:
            return
        waiting = [entry for entry in batch.entries if entry.pending]
        try:
            if not waiting:
                path.unlink(missing_ok=True)
                return
            if not path.exists():
                return
            ready = self._ready_path(path)
            if len(waiting) != len(batch.entries):
                ready = ready.with_name(_renamed(ready.name, len(waiting)))
            if len(waiting) == len(batch.entries) and all(
                entry.pending == pending for entry, pending in zip(waiting, batch.as_read)
            ):
                os.replace(path, ready)  # nothing changed: given back as it was written
                return
            self._write_entries(ready, waiting)
            path.unlink(missing_ok=True)
        except OSError:
            pass  # the claim stays; a later run takes it back once this process is gone

    def release_batch(self, batch: Batch) -> None:
        """Give a claimed batch back as it was written: a later drain sends it."""
        if batch.path is not None:
            self._unclaim(batch.path)

    def _settled_one(self, batch: Batch) -> None:
        batch.done += 1
        if batch.done >= len(batch.entries):
            self.settle_batch(batch)

    def release(self, entry: Entry) -> None:
        """Give a claimed report back untouched: nothing of this run may deliver it."""
        if entry.batch is not None:
            self._settled_one(entry.batch)  # its pending exporters are left as they are
            return
        if entry.path is not None:
            self._unclaim(entry.path)

    def _unclaim(self, path: Path) -> None:
        """Rename a claimed file back to its ready name, as it was written."""
        try:
            os.replace(path, self._ready_path(path))
        except OSError:
            pass  # the claim stays; a later run takes it back once this process is gone

    def discard(self, entry: Entry) -> None:
        """Drop a claimed report that cannot be sent (it failed its checks), and count it."""
        self.dropped += 1
        if entry.batch is not None:
            entry.pending = []
            self._settled_one(entry.batch)
            return
        if entry.path is not None:
            with suppress(OSError):
                entry.path.unlink()

    def claim(self) -> Iterator[Entry]:
        """Claim the waiting reports one by one, oldest first (those of gone processes too).

        The reports of a batch file come one after another; the file is settled once
        each of them was settled, released or discarded.
        """
        for batch in self.claim_batches():
            yield from batch.entries

    def claim_batches(self) -> Iterator[Batch]:
        """Claim the waiting files one by one, oldest first (those of gone processes too).

        Each file is one :class:`Batch`: one report (format 1) or several (format 2).
        """
        try:
            names = sorted(os.listdir(self.directory))
        except OSError:
            return
        withdrawn = self._withdrawn_ns() if self._withdrawn_ns is not None else 0
        tag = _claim_tag()
        for name in names:
            # A temporary file of atomic_write carries its target's name, claim included:
            # it is another process's write in progress, never a claim to take back.
            if name.startswith(".") or is_temporary(name):
                continue
            path = self.directory / name
            if withdrawn and written_ns(name) < withdrawn and self._for_upload(path):
                with suppress(OSError):
                    path.unlink()  # written before consent was withdrawn: never sent
                continue
            if _CLAIMED in name:
                if not self._abandoned(path):
                    continue
            elif not name.endswith(_READY):
                continue
            claimed = path.with_name(f"{self._ready_path(path).name}{_CLAIMED}{tag}")
            try:
                os.rename(path, claimed)  # atomic: one process wins
            except OSError:
                continue
            batch = self._read_batch(claimed)
            if batch is not None:
                yield batch

    def forget_uploads(self) -> int:
        """Delete the reports waiting for an upload; keep those for local exporters alone.

        For a switch to ``local``: what waits to be uploaded was consented under another
        choice and goes; a report written for the ``file`` exporter in local mode (at
        exit, or without the SDK) stays, for a later run to record. Returns how many
        were deleted.
        """
        try:
            check_tree(self.directory)  # a linked folder: nothing deleted through it
            names = sorted(os.listdir(self.directory))
        except OSError:
            return 0
        deleted = 0
        for name in names:
            path = self.directory / name
            if name.startswith(".") or is_temporary(name) or not self._for_upload(path):
                continue
            with suppress(OSError):
                path.unlink()
                deleted += 1
        return deleted

    def _for_upload(self, path: Path) -> bool:
        """The report at ``path`` waits for an exporter that sends off this machine.

        A file that cannot be read as one of ours counts as one: it is never kept on
        the strength of what it claims.
        """
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | os.O_NONBLOCK)
            with os.fdopen(fd, "rb") as handle:
                info = os.fstat(handle.fileno())
                limit = _limit(path.name)
                if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
                    return True
                document = json.loads(handle.read(limit).decode("utf-8"))
            if document.get("format") == BATCH_FORMAT:
                pendings = [report.get("pending") for report in document.get("reports")]
            else:
                pendings = [document.get("pending")]
        except (OSError, ValueError, RecursionError, AttributeError, TypeError):
            return True
        for pending in pendings:
            if not isinstance(pending, list) or not pending:
                return True
            if not all(name in LOCAL_EXPORTERS for name in pending):
                return True
        return not pendings

    def _write(
        self, path: Path, record: Record, pending: Sequence[str], durable: bool = False
    ) -> None:
        atomic_write(path, _encode([Entry(None, record, list(pending))]), durable=durable)

    def _write_entries(self, path: Path, entries: Sequence[Entry], durable: bool = False) -> None:
        atomic_write(path, _encode(entries), durable=durable)

    def _read_batch(self, path: Path) -> Optional[Batch]:
        """The claimed file at ``path`` as a batch; None (and removed) if unreadable.

        In a batch, a report that fails its checks is dropped alone (and counted); the
        others are kept.
        """
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | os.O_NONBLOCK)
            limit = _limit(path.name)
            with os.fdopen(fd, "rb") as handle:
                info = os.fstat(handle.fileno())
                if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
                    raise ValueError("not a report")  # a FIFO would block the worker
                document = json.loads(handle.read(limit).decode("utf-8"))
            if not isinstance(document, dict):
                raise ValueError("not a record of this format")
            if document.get("format") == BATCH_FORMAT:
                reports = document.get("reports")
                if not isinstance(reports, list) or not reports:
                    raise ValueError("not a record of this format")
            elif document.get("format") == FORMAT:
                reports = [document]
            else:
                raise ValueError("not a record of this format")
        except (OSError, ValueError, RecursionError):
            # Unreadable (a torn write of a crashed process, a future format, a planted
            # file): drop it, so the good reports behind it are still sent.
            with suppress(OSError):
                path.unlink()
            lost = report_count(path.name)
            self.dropped += lost
            self.unreadable += lost
            return None
        entries = []
        for report in reports:
            try:
                if not isinstance(report, dict):
                    raise ValueError("not a record of this format")
                pending = report.get("pending")
                if not isinstance(pending, list) or not all(isinstance(n, str) for n in pending):
                    raise ValueError("not a record of this format")
                entries.append(Entry(None, check_record(report.get("span")), list(pending)))
            except (ValueError, RecursionError):
                self.dropped += 1
                self.unreadable += 1
        if not entries:
            with suppress(OSError):
                path.unlink()
            return None
        batch = Batch(path, entries, as_read=[list(entry.pending) for entry in entries])
        if len(entries) != len(reports):
            batch.as_read = []  # some were dropped: settling rewrites the file
        for entry in entries:
            if len(reports) == 1:
                entry.path = path
            else:
                entry.batch = batch
        return batch

    def _read(self, path: Path) -> Optional[Entry]:
        batch = self._read_batch(path)
        return batch.entries[0] if batch is not None else None

    def _bound(self) -> None:
        entries: list[Path] = []
        sizes: list[int] = []
        counts: list[int] = []
        now = time.time()
        for name in sorted(os.listdir(self.directory)):
            path = self.directory / name
            try:
                info = path.lstat()
            except OSError:
                continue  # sent and removed by another process meanwhile
            if is_temporary(name):
                if now - info.st_mtime > ORPHAN_AGE:
                    with suppress(OSError):
                        path.unlink()  # its writer was killed: nobody will finish it
                continue
            if name.startswith("."):
                continue
            entries.append(path)
            sizes.append(info.st_size)
            # The count a name claims, at most what its size can hold: a planted name
            # that lies about it costs as many bytes as the truth would.
            counts.append(min(report_count(name), max(1, info.st_size // MIN_REPORT_BYTES)))
        total = sum(sizes)
        reports = sum(counts)
        while entries and (reports > self.max_reports or total > self.max_bytes):
            with suppress(OSError):
                entries[0].unlink()
            entries.pop(0)
            total -= sizes.pop(0)
            lost = counts.pop(0)
            reports -= lost
            self.dropped += lost

    @staticmethod
    def _ready_path(path: Path) -> Path:
        return path.with_name(path.name.split(_CLAIMED, 1)[0])

    def _abandoned(self, path: Path) -> bool:
        """The claim's process is gone, or the claim is older than the lease."""
        pid_text, _, token = path.name.rsplit(_CLAIMED, 1)[1].partition(".")
        try:
            pid = int(pid_text)
            info = path.lstat()
        except (ValueError, OSError):
            return True
        if time.time() - max(info.st_mtime, info.st_ctime) > LEASE:
            return True
        if pid == os.getpid():
            # Ours, or this pid's in an earlier life (PID 1 of the previous container).
            return bool(token) and token != _claim_tag().partition(".")[2]
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except OSError:
            pass  # alive, another user's
        if not token:
            return False  # an older version's claim: only its lease ends it
        current = _process_token(pid)
        return current is not None and current != token


def _encode(entries: Sequence[Entry]) -> bytes:
    """The file of ``entries``: one report (format 1), or a batch (format 2)."""
    document: dict[str, Any]
    if len(entries) == 1:
        document = {
            "format": FORMAT,
            "pending": list(entries[0].pending),
            "span": entries[0].record,
        }
    else:
        document = {
            "format": BATCH_FORMAT,
            "reports": [{"pending": list(e.pending), "span": e.record} for e in entries],
        }
    data = json.dumps(document, separators=(",", ":"), ensure_ascii=False)
    return data.encode("utf-8", "backslashreplace")


def peek(directory: Path) -> Iterator[tuple[str, Any, Any]]:
    """``(file name, pending, span)`` of each report waiting in ``directory``, oldest first.

    Read only (nothing claimed, renamed or deleted: for ``show``), bounded like a drain's
    reads, files of both formats. Nothing is checked: ``pending`` and ``span`` are as
    read, for the caller to check (``check_record``) as a drain does. What cannot be
    read, or is not of a known format, is skipped.
    """
    from otel_telemetry._layout import read_bounded

    try:
        check_tree(directory)
        names = sorted(os.listdir(directory))
    except OSError:
        return
    for name in names:
        if name.startswith(".") or is_temporary(name) or _READY not in name:
            continue
        try:
            document = json.loads(read_bounded(directory / name, _limit(name)).decode("utf-8"))
            if not isinstance(document, dict):
                continue
            reports: Any
            if document.get("format") == FORMAT:
                reports = [document]
            elif document.get("format") == BATCH_FORMAT:
                reports = document.get("reports")
            else:
                continue
            for report in reports if isinstance(reports, list) else ():
                if isinstance(report, dict):
                    yield name, report.get("pending"), report.get("span")
        except (OSError, ValueError, RecursionError):
            continue


def _limit(name: str) -> int:
    """The most bytes read back from the file ``name``."""
    return MAX_FILE if report_count(name) == 1 else MAX_BATCH_FILE


def _renamed(name: str, count: int) -> str:
    """The unclaimed name ``name`` with the report count ``count``."""
    stem = name.split(_READY, 1)[0]
    parts = stem.split("-")[:2]
    if count > 1:
        parts.append(str(count))
    return "-".join(parts) + _READY


_tags: dict[int, str] = {}


def _claim_tag() -> str:
    """``<pid>.<token>`` of this process; a forked child computes its own."""
    pid = os.getpid()
    tag = _tags.get(pid)
    if tag is None:
        token = _process_token(pid)
        tag = _tags[pid] = f"{pid}.{token}" if token else str(pid)
    return tag


@lru_cache(maxsize=1)
def _boot_id() -> Optional[str]:
    """This boot's id (Linux), read once: the same for every claim of this process."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as handle:
            return handle.read().strip().replace("-", "")[:12]
    except OSError:
        return None


def _process_token(pid: int) -> Optional[str]:
    """What tells this process from another with the same pid: boot and start time.

    Linux only (``/proc``); elsewhere None, and the lease alone ends a live pid's claim.
    """
    boot = _boot_id()
    if boot is None:
        return None
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            # The command name (field 2) may hold spaces and parentheses: split after it.
            fields = handle.read().rsplit(")", 1)[1].split()
        return f"{boot}{int(fields[19]):x}"  # field 22: start time, in ticks since boot
    except (OSError, IndexError, ValueError):
        return None
