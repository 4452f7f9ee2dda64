"""The ``file`` exporter: OTLP/JSON lines under ``<config dir>/telemetry/reports/``."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from pathlib import Path

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from otel_telemetry._layout import FILE_MODE, ensure_dir
from otel_telemetry._log import debug

from ._otlp_json import encode_otlp_json
from ._registry import ExporterContext


class FileSpanExporter(SpanExporter):
    """Appends each export as one OTLP/JSON line to a file per UTC day.

    Each line is written with a single ``write`` on a file opened for appending, so
    several processes can share the folder without interleaving lines. Only the newest
    ``max_files`` day files are kept. Files are readable by their owner only.

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
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
            try:
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
            old.unlink(missing_ok=True)


def read_reports(directory: Path) -> list[dict[str, object]]:
    """Return every stored OTLP/JSON document, oldest first; unreadable lines are skipped."""
    documents: list[dict[str, object]] = []
    for path in sorted(Path(directory).glob("*.jsonl")):
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError:
            continue
        for line in lines:
            try:
                documents.append(json.loads(line))
            except ValueError:
                continue
    return documents


def create_file_exporter(context: ExporterContext) -> SpanExporter:
    return FileSpanExporter(context.reports_dir)
