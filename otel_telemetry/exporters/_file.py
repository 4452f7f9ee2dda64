"""The ``file`` exporter: OTLP/JSON lines under ``<config dir>/telemetry/reports/``."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from pathlib import Path

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from otel_telemetry._layout import (
    FILE_MODE,
    READ_FLAGS,
    WRITE_FLAGS,
    check_tree,
    ensure_dir,
    open_regular,
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

    def __init__(self, directory: Path, max_files: int = 30) -> None:
        self.directory = Path(directory)
        self.max_files = max_files

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        line = json.dumps(encode_otlp_json(spans), separators=(",", ":"), ensure_ascii=False) + "\n"
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


def read_reports(directory: Path) -> list[dict[str, object]]:
    """Return every stored OTLP/JSON document, oldest first; unreadable lines are skipped.

    Only regular files are read, never through a symbolic link (a link there could make
    ``show`` print any file of the user's), and a FIFO never blocks.
    """
    documents: list[dict[str, object]] = []
    try:
        check_tree(directory)
    except OSError:
        return documents
    for path in sorted(Path(directory).glob("*.jsonl")):
        try:
            lines = _read_text(path).splitlines()
        except (OSError, UnicodeDecodeError):
            continue
        for line in lines:
            try:
                documents.append(json.loads(line))
            except ValueError:
                continue
    return documents


def _read_text(path: Path) -> str:
    fd = open_regular(path, READ_FLAGS)
    with os.fdopen(fd, "rb") as handle:
        return handle.read().decode("utf-8")


def create_file_exporter(context: ExporterContext) -> SpanExporter:
    return FileSpanExporter(context.reports_dir)
