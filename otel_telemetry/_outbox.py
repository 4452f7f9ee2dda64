"""Outbox: scrubbed reports on disk until every exporter confirmed them (DESIGN §2).

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
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

from ._log import warn_once

FORMAT = 1
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
        self._pid = os.getpid()

    def put(self, span: ReadableSpan, pending: Sequence[str]) -> Optional[Entry]:
        """Write a new report, already claimed by this process; None when the disk refuses."""
        name = f"{time.time_ns():020d}-{uuid.uuid4().hex[:12]}"
        path = self.directory / f"{name}{_READY}{_CLAIMED}{os.getpid()}"
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
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
            if _CLAIMED in path.name and not self._alive(path):
                with suppress(OSError):
                    os.replace(path, self._ready_path(path))
        for path in sorted(self.directory.glob(f"*{_READY}")):
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
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=self.directory)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, path)
        except BaseException:
            with suppress(OSError):
                os.unlink(tmp)
            raise

    def _read(self, path: Path) -> Optional[Entry]:
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            if record.get("format") != FORMAT:
                raise ValueError("unknown format")
            return Entry(path, record_to_span(record["span"]), list(record["pending"]))
        except (OSError, ValueError, KeyError, TypeError):
            # Unreadable (a torn write of a crashed process, a future format): drop it.
            with suppress(OSError):
                path.unlink()
            self.dropped += 1
            return None

    def _bound(self) -> None:
        entries = sorted(p for p in self.directory.iterdir() if not p.name.startswith(".tmp-"))
        sizes = [p.stat().st_size for p in entries]
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


def span_to_record(span: ReadableSpan) -> dict[str, Any]:
    """A scrubbed span as JSON-ready data, everything an exporter needs to send it again."""
    context = span.context
    scope = span.instrumentation_scope
    return {
        "name": span.name,
        "trace_id": f"{context.trace_id:032x}" if context else None,
        "span_id": f"{context.span_id:016x}" if context else None,
        "kind": span.kind.value,
        "start": span.start_time,
        "end": span.end_time,
        "attributes": _attributes(span.attributes),
        "events": [
            {"name": e.name, "timestamp": e.timestamp, "attributes": _attributes(e.attributes)}
            for e in span.events
        ],
        "status": {"code": span.status.status_code.value, "description": span.status.description},
        "resource": _attributes(span.resource.attributes),
        "scope": {"name": scope.name, "version": scope.version} if scope else None,
    }


def record_to_span(record: dict[str, Any]) -> ReadableSpan:
    """The span written by :func:`span_to_record`."""
    context = None
    if record.get("trace_id") and record.get("span_id"):
        context = SpanContext(
            trace_id=int(record["trace_id"], 16),
            span_id=int(record["span_id"], 16),
            is_remote=False,
            trace_flags=TraceFlags(TraceFlags.SAMPLED),
        )
    scope = record.get("scope")
    status = record["status"]
    code = StatusCode(status["code"])
    return ReadableSpan(
        name=record["name"],
        context=context,
        resource=Resource(_values(record["resource"])),
        attributes=_values(record["attributes"]),
        events=[
            Event(e["name"], _values(e["attributes"]), timestamp=e["timestamp"])
            for e in record["events"]
        ],
        kind=SpanKind(record["kind"]),
        status=Status(code, status["description"] if code is StatusCode.ERROR else None),
        start_time=record["start"],
        end_time=record["end"],
        instrumentation_scope=InstrumentationScope(scope["name"], scope["version"])
        if scope
        else None,
    )


def _attributes(attributes: Any) -> dict[str, Any]:
    return {
        k: list(v) if isinstance(v, (list, tuple)) else v for k, v in (attributes or {}).items()
    }


def _values(attributes: dict[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in attributes.items()}
