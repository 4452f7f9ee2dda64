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
from functools import lru_cache
from pathlib import Path
from typing import Callable, Optional

from otel_telemetry._layout import (
    atomic_write,
    check_tree,
    count_reports,
    ensure_dir,
    is_temporary,
)
from otel_telemetry._log import warn_once
from otel_telemetry.exporters._delivery import LOCAL_EXPORTERS

from ._report import FORMAT, Record, check_record

_READY = ".json"
_CLAIMED = ".claimed-"
LEASE = 3600.0
"""Seconds after which a claim is taken back even from a live process (a hung sender)."""
ORPHAN_AGE = 60.0
"""Seconds after which a temporary file is a killed writer's, never a write in progress."""
MAX_FILE = 1_000_000
"""Bytes of the largest file read back; a record is far smaller (``_report`` bounds it)."""


@dataclass
class Entry:
    """One report in the outbox, claimed by this process."""

    path: Optional[Path]
    """Where it is claimed; None when the disk refused it."""
    record: Record
    pending: list[str]
    """The exporters that have not confirmed it yet."""


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
        max_reports: int = 200,
        max_bytes: int = 4_000_000,
        withdrawn_ns: Optional[Callable[[], int]] = None,
    ) -> None:
        self.directory = directory
        self.max_reports = max_reports
        self.max_bytes = max_bytes
        self._withdrawn_ns = withdrawn_ns
        self.dropped = 0
        """Reports dropped: the oldest ones beyond the bounds, and the ones below."""
        self.unreadable = 0
        """Waiting files that could not be read back (torn, a future format, planted)."""

    def count(self) -> int:
        """Reports waiting, claimed ones included."""
        return count_reports(str(self.directory))

    def put(
        self, record: Record, pending: Sequence[str], *, claimed: bool = True
    ) -> Optional[Entry]:
        """Write a new report; None when the disk refuses.

        Args:
            record: the scrubbed, bounded record.
            pending: the exporters it is for.
            claimed: claimed by this process (it sends it now); False leaves it for
                whichever process drains next (this one is ending).
        """
        name = f"{time.time_ns():020d}-{uuid.uuid4().hex[:12]}{_READY}"
        path = self.directory / (f"{name}{_CLAIMED}{_claim_tag()}" if claimed else name)
        try:
            ensure_dir(self.directory)
            self._write(path, record, pending)
            self._bound()
        except OSError as exc:
            warn_once(
                "outbox:write",
                f"Cannot write crash reports to {self.directory} ({exc.strerror or exc}); "
                "they are sent without a copy on disk and may be lost when offline.",
            )
            return None
        return Entry(path if claimed else None, record, list(pending))

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
            self._write(ready, entry.record, entry.pending)
            entry.path.unlink(missing_ok=True)
        except OSError:
            pass  # the claim stays; a later run takes it back once this process is gone

    def release(self, entry: Entry) -> None:
        """Give a claimed report back untouched: nothing of this run may deliver it."""
        if entry.path is None:
            return
        try:
            os.replace(entry.path, self._ready_path(entry.path))
        except OSError:
            pass  # the claim stays; a later run takes it back once this process is gone

    def discard(self, entry: Entry) -> None:
        """Drop a claimed report that cannot be sent (it failed its checks), and count it."""
        if entry.path is not None:
            with suppress(OSError):
                entry.path.unlink()
        self.dropped += 1

    def claim(self) -> Iterator[Entry]:
        """Claim the waiting reports one by one, oldest first (those of gone processes too)."""
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
            if withdrawn and _written_ns(name) < withdrawn and self._for_upload(path):
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
            entry = self._read(claimed)
            if entry is not None:
                yield entry

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
                if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_FILE:
                    return True
                pending = json.loads(handle.read(MAX_FILE).decode("utf-8")).get("pending")
        except (OSError, ValueError, RecursionError, AttributeError):
            return True
        if not isinstance(pending, list) or not pending:
            return True
        return not all(name in LOCAL_EXPORTERS for name in pending)

    def _write(self, path: Path, record: Record, pending: Sequence[str]) -> None:
        document = {"format": FORMAT, "pending": list(pending), "span": record}
        data = json.dumps(document, separators=(",", ":"), ensure_ascii=False)
        atomic_write(path, data.encode("utf-8", "backslashreplace"))

    def _read(self, path: Path) -> Optional[Entry]:
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | os.O_NONBLOCK)
            with os.fdopen(fd, "rb") as handle:
                info = os.fstat(handle.fileno())
                if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_FILE:
                    raise ValueError("not a report")  # a FIFO would block the worker
                document = json.loads(handle.read(MAX_FILE).decode("utf-8"))
            if not isinstance(document, dict) or document.get("format") != FORMAT:
                raise ValueError("not a record of this format")
            pending = document.get("pending")
            if not isinstance(pending, list) or not all(isinstance(n, str) for n in pending):
                raise ValueError("not a record of this format")
            return Entry(path, check_record(document.get("span")), list(pending))
        except (OSError, ValueError, RecursionError):
            # Unreadable (a torn write of a crashed process, a future format, a planted
            # file): drop it, so the good reports behind it are still sent.
            with suppress(OSError):
                path.unlink()
            self.dropped += 1
            self.unreadable += 1
            return None

    def _bound(self) -> None:
        entries, sizes = [], []
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
        total = sum(sizes)
        while entries and (len(entries) > self.max_reports or total > self.max_bytes):
            with suppress(OSError):
                entries[0].unlink()
            entries.pop(0)
            total -= sizes.pop(0)
            self.dropped += 1

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


def _written_ns(name: str) -> int:
    try:
        return int(name.split("-", 1)[0])
    except ValueError:
        return 0


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
