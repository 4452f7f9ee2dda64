"""The ``file`` exporter: OTLP/JSON lines under ``<config dir>/telemetry/reports/``."""

from __future__ import annotations

import json
import os
import stat
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from otel_telemetry._layout import (
    FILE_MODE,
    WRITE_FLAGS,
    FileTooLargeError,
    check_tree,
    ensure_dir,
    open_regular,
    read_bounded,
    set_file_mode,
)
from otel_telemetry._log import debug

from ._otlp_json import encode_otlp_json
from ._registry import ExporterContext


class FileSpanExporter(SpanExporter):
    """Appends each export as one OTLP/JSON line to a file per UTC day.

    Each line is written with a single ``write`` on a file opened for appending, so
    several processes can share the folder without interleaving lines. Only the newest
    ``max_files`` day files are kept. Files are ``0600`` and folders ``0700`` whatever
    the umask. Nothing is written through a symbolic link: a day file that is a link (or
    a FIFO), or a ``telemetry``/``reports`` folder that is one, fails the export and is
    left alone (see :mod:`otel_telemetry._layout`).

    Args:
        directory: the folder for the ``YYYY-MM-DD.jsonl`` files; created when needed.
        max_files: how many day files to keep.
    """

    delivers_locally = True
    """Written here, never offline: reports need no outbox copy first."""
    exports_batches = True
    """One ``export`` of many spans is one write, and its result stands for each."""

    def __init__(self, directory: Path, max_files: int = 30) -> None:
        self.directory = Path(directory)
        self.max_files = max_files

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Append one line per span (one OTLP/JSON document each), in one write."""
        line = "".join(
            json.dumps(encode_otlp_json((span,)), separators=(",", ":"), ensure_ascii=False) + "\n"
            for span in spans
        )
        path = self.directory / time.strftime("%Y-%m-%d.jsonl", time.gmtime())
        try:
            ensure_dir(self.directory)
            fd = open_regular(path, WRITE_FLAGS | os.O_APPEND | os.O_CREAT, FILE_MODE)
            try:
                if (os.fstat(fd).st_mode & 0o777) != FILE_MODE:
                    set_file_mode(fd)  # the umask took bits away, or an older version's file
                os.write(fd, line.encode("utf-8"))
            finally:
                os.close(fd)
            self._prune()
        except OSError as exc:
            debug("otel_telemetry: cannot write %s: %s", path, exc)
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True

    def _prune(self) -> None:
        files = sorted(self.directory.glob("*.jsonl"))
        for old in files[: max(0, len(files) - self.max_files)]:
            old.unlink(missing_ok=True)  # a link is removed itself, never its target


MAX_READ_FILE = 4_000_000
"""The largest day file read back (``show``, ``disable``, ``clean``): a larger one is
skipped unread. About 600 reports of the acme demo's size; a report is bounded (see
``pipeline._report``), a day file is not."""
MAX_READ_TOTAL = 2 * MAX_READ_FILE
"""The most bytes of day files read back at once, newest files first; older files
beyond it are skipped unread."""
MAX_DEPTH = 64
"""The deepest nesting kept: an OTLP/JSON report of ours nests about 15 levels deep.
A deeper line is not a report (and could make a later ``json.dumps`` recurse too far)."""


@dataclass(frozen=True)
class DayFile:
    """One day file of the ``file`` exporter, as :func:`scan_reports` found it."""

    path: Path
    size: int
    """Its size when it was listed, in bytes."""
    documents: Optional[list[dict[str, Any]]]
    """Its OTLP/JSON documents, in the order written; None when it was not read (over
    :data:`MAX_READ_FILE`, or beyond :data:`MAX_READ_TOTAL` for the files read before it)."""


def scan_reports(
    directory: Path, *, max_file: int = MAX_READ_FILE, max_total: int = MAX_READ_TOTAL
) -> list[DayFile]:
    """Every day file of ``directory``, oldest first, read within the bounds.

    Only regular ``*.jsonl`` files are listed, never through a symbolic link (a link
    there could make ``show`` print any file of the user's), and a FIFO never blocks.
    Files are read newest first: one over ``max_file`` bytes is listed unread
    (``documents`` None) at no cost to the others; once one would take the bytes read
    past ``max_total``, it and every older file are listed unread. So memory and time
    stay bounded whatever is planted. Of a file read, each line is one document:
    lines that are not UTF-8, not JSON (a ``RecursionError`` included), not an object, or
    nested deeper than :data:`MAX_DEPTH` are skipped, and the others still count.
    Never raises: a folder that cannot be listed (or is a link) holds no file.
    """
    try:
        check_tree(directory)
        with os.scandir(directory) as listing:
            found = []
            for item in listing:
                if not item.name.endswith(".jsonl"):
                    continue
                try:
                    info = item.stat(follow_symlinks=False)
                except OSError:
                    continue  # pruned meanwhile
                if stat.S_ISREG(info.st_mode):
                    found.append((item.name, info.st_size))
    except OSError:
        return []
    files: list[DayFile] = []
    budget, exhausted = max_total, False
    for name, size in sorted(found, reverse=True):  # newest first: what show needs most
        path = Path(directory) / name
        documents = None
        if size > max_file:
            pass  # skipped unread, at no cost to the others
        elif exhausted or size > budget:
            exhausted = True  # this one and every older one: beyond the total bound
        else:
            try:
                data: Optional[bytes] = read_bounded(path, min(max_file, budget))
            except FileTooLargeError:
                data = None  # grew past the bound since it was listed: still unread
            except OSError:
                continue  # removed, or replaced by a link or a FIFO meanwhile: not ours
            if data is not None:
                budget -= len(data)
                documents = _documents(data)
        files.append(DayFile(path, size, documents))
    files.reverse()
    return files


def read_reports(directory: Path) -> list[dict[str, Any]]:
    """Every stored OTLP/JSON document that :func:`scan_reports` reads, oldest first."""
    return [document for day in scan_reports(directory) for document in day.documents or ()]


def _documents(data: bytes) -> list[dict[str, Any]]:
    """The JSON objects of a day file's lines; what is not one is skipped."""
    documents = []
    # Lines end with "\n" only: the JSON of a report may hold U+2028 or U+0085 raw,
    # which str.splitlines() would take for line ends.
    for line in data.split(b"\n"):
        if not line.strip():
            continue
        try:
            document = json.loads(line.decode("utf-8"))
        except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
            continue
        if isinstance(document, dict) and _shallow(document, MAX_DEPTH):
            documents.append(document)
    return documents


def _shallow(value: Any, limit: int) -> bool:
    """Whether ``value`` nests at most ``limit`` levels deep (checked without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > limit:
                return False
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return True


def create_file_exporter(context: ExporterContext) -> SpanExporter:
    return FileSpanExporter(context.reports_dir)
