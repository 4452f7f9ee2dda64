"""Sending: the outbox first, then every exporter; what is not confirmed stays on disk.

The last processor of the pipeline. It writes each scrubbed report to the outbox, hands
it to the exporters it is for, and removes it once all of them confirmed delivery. An
exporter that an endpoint asked to wait, or that was refused, is skipped; the report
keeps waiting for it. ``drain`` sends what earlier runs (or failed attempts) left,
each report checked and scrubbed again first: what was read from disk is not trusted.
Every export, live or drained, passes through one place (``_deliver``), which first
gives the server-mode notice its chance (``notice``) before a report leaves the machine,
and afterwards keeps a copy of what left the machine in the record of sent reports
(``sent``), with the id the destination knows it by.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Callable, Optional

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from otel_telemetry import _attributes as attr
from otel_telemetry._log import debug
from otel_telemetry.exporters import Delivery, delivers_locally, encode_otlp_json
from otel_telemetry.exporters._delivery import span_delivery_id

from ._backoff import Backoff
from ._outbox import Entry, Outbox
from ._records import record_to_span, span_to_record
from ._report import Record, bound_record
from ._sent import SentLog


class SendingProcessor(SpanProcessor):
    """Outbox, then exporters, for consented and scrubbed spans only.

    The report is on disk when ``on_end`` returns; sending it may be handed to another
    thread (``defer``), so that an endpoint that does not answer never keeps the next
    report from reaching the disk.

    Args:
        exporters: the exporters in force, by name.
        outbox: where reports wait; None sends without a copy on disk.
        backoff: which exporters must not send now; None never waits.
        defer: runs a delivery job, with whether it may be dropped (the report is on
            disk, so a later flush or run sends it); by default at once, on this thread.
        rescrub: applied to every record read back from the outbox before it is sent;
            if it raises, the record is dropped.
        store_first: write each new report to the outbox before sending it (False for
            exporters that only write locally; the outbox is still drained).
        notice: called before a report is handed to an exporter that sends off this
            machine (not ``delivers_locally``), for live and drained reports alike: the
            server-mode notice, written before anything leaves. If it raises, nothing
            is sent to such an exporter and the report keeps waiting.
        sent: where a copy of each report that left this machine is kept (confirmed by
            an exporter that is not ``delivers_locally``), with the exporter's name and
            the report's id there (the ``Delivery.id`` the exporter gave, else
            ``<trace id>/<span id>``); None keeps none (the testing seam). Keeping it
            never fails nor holds up a delivery.
        usage: whether usage events may leave now (the consent level is ``all``); a
            waiting usage event a drain finds when it says False is deleted, unsent.
            None: no check (the level was checked when the event was recorded).
    """

    def __init__(
        self,
        exporters: Mapping[str, SpanExporter],
        outbox: Optional[Outbox],
        backoff: Optional[Backoff],
        defer: Optional[Callable[[Callable[[], None], bool], None]] = None,
        rescrub: Optional[Callable[[Record], Record]] = None,
        store_first: bool = True,
        notice: Optional[Callable[[], None]] = None,
        sent: Optional[SentLog] = None,
        usage: Optional[Callable[[], bool]] = None,
    ) -> None:
        self.exporters = dict(exporters)
        self.outbox = outbox
        self.backoff = backoff
        self._defer = defer
        self._rescrub = rescrub
        self._store_first = store_first
        self._notice = notice
        self._sent = sent
        self._usage = usage
        self.usage_off = 0
        """Waiting usage events dropped by a drain: the level no longer allows them."""
        self.failed_checks = 0
        """Waiting reports dropped by a drain: read back, they failed the checks or scrub."""

    def on_start(self, span: Span, parent_context: Optional[Context] = None) -> None:
        """Nothing to do before a span ends."""

    def on_end(self, span: ReadableSpan) -> None:
        names = list(self.exporters)
        if not names:
            return  # exporter "none": nothing is sent, so nothing is kept
        # What is sent is what is stored: the record, bounded, read back as a span.
        record = bound_record(span_to_record(span))
        stored = (
            self.outbox.put(record, names)
            if self.outbox is not None and self._store_first
            else None
        )
        entry = stored or Entry(None, record, names)
        if self._defer is None:
            self._deliver(entry)
        else:
            self._defer(lambda: self._deliver(entry), stored is not None)

    def drain(self) -> int:
        """Send the reports waiting in the outbox; returns how many were fully delivered.

        An exporter whose send failed is not tried again in the same drain: with an
        endpoint down, one timeout is spent, not one per waiting report.
        """
        if self.outbox is None:
            return 0
        delivered = 0
        failed: set[str] = set()
        for entry in self.outbox.claim():
            if not any(name in self.exporters for name in entry.pending):
                # For exporters not in force here (an upload, seen in local mode): given
                # back as it was, neither read again nor rewritten.
                self.outbox.release(entry)
                continue
            if self._usage is not None and _is_event(entry.record) and not self._usage():
                # Written at level `all`; the user has since chosen crash reports only.
                self.outbox.discard(entry)
                self.usage_off += 1
                continue
            try:
                if self._rescrub is not None:
                    entry.record = self._rescrub(entry.record)
                entry.record = bound_record(entry.record)  # a planted file may be huge
                span = record_to_span(entry.record)
            except Exception:
                # Fail closed, one report at a time: the next one is still sent.
                debug("otel_telemetry: a waiting report failed its checks", exc_info=True)
                self.outbox.discard(entry)
                self.failed_checks += 1
                continue
            self._deliver(entry, failed, span)
            delivered += not entry.pending
        return delivered

    def shutdown(self) -> None:
        for exporter in self.exporters.values():
            try:
                exporter.shutdown()
            except Exception:
                debug("otel_telemetry: exporter shutdown failed", exc_info=True)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        flushed = True
        for exporter in self.exporters.values():
            try:
                # The SDK's base force_flush returns None: that is no failure.
                flushed = exporter.force_flush(timeout_millis) is not False and flushed
            except Exception:
                flushed = False
        return flushed

    def _deliver(
        self,
        entry: Entry,
        failed: Optional[set[str]] = None,
        span: Optional[ReadableSpan] = None,
    ) -> None:
        if span is None:
            span = record_to_span(entry.record)  # what is stored is what is sent
        if self._usage is not None and _is_event(entry.record) and not self._usage():
            # Lowered to crash reports while it waited to be sent: it never leaves.
            entry.pending = []
            self.usage_off += 1
            if self.outbox is not None and entry.path is not None:
                self.outbox.settle(entry)
            return
        remaining = []
        delivered: list[tuple[str, Optional[str]]] = []  # (exporter, id there)
        for name in entry.pending:
            exporter = self.exporters.get(name)
            # Not configured in this run, asked to wait, already failing in this drain, or
            # leaving the machine before the notice could be given: the report keeps
            # waiting for it.
            if (
                exporter is None
                or (failed is not None and name in failed)
                or (self.backoff is not None and self.backoff.blocked(name))
                or (not delivers_locally(exporter) and not self._noticed())
            ):
                remaining.append(name)
                continue
            before = getattr(exporter, "last_delivery", None)
            try:
                result = exporter.export((span,))
            except Exception:
                debug("otel_telemetry: exporter %s failed", name, exc_info=True)
                result = SpanExportResult.FAILURE
            delivery = getattr(exporter, "last_delivery", None)
            if isinstance(delivery, Delivery) and self.backoff is not None:
                self.backoff.record(name, delivery)
            if result is not SpanExportResult.SUCCESS:
                remaining.append(name)
                if failed is not None:
                    failed.add(name)
            else:
                # A delivery left from an earlier export (an exporter that sent nothing
                # this time) does not name this report.
                fresh = (
                    delivery if isinstance(delivery, Delivery) and delivery is not before else None
                )
                # The record is of what left the machine: not a file or the console
                # (the file exporter's folder is its own record), not what was ignored.
                if not delivers_locally(exporter) and (fresh is None or fresh.sent):
                    delivered.append((name, fresh.id if fresh else None))
        entry.pending = remaining
        if self.outbox is not None and entry.path is not None:
            self.outbox.settle(entry)
        if delivered:
            self._record_sent(span, delivered)

    def _record_sent(
        self, span: ReadableSpan, delivered: Sequence[tuple[str, Optional[str]]]
    ) -> None:
        """Keep a copy of a delivered report; after the delivery, never in its way."""
        if self._sent is None:
            return
        try:
            document = encode_otlp_json((span,))
            own_id = span_delivery_id(span)
            now = time.time_ns()
            for exporter, delivery_id in delivered:
                self._sent.add(
                    document, exporter=exporter, delivery_id=delivery_id or own_id, time_ns=now
                )
        except Exception:
            debug("otel_telemetry: a sent report was not recorded", exc_info=True)

    def _noticed(self) -> bool:
        """The notice was given (or is not needed); False if it failed: send nothing."""
        if self._notice is None:
            return True
        try:
            self._notice()
        except Exception:
            debug("otel_telemetry: the server-mode notice failed; nothing sent", exc_info=True)
            return False
        return True


def _is_event(record: Record) -> bool:
    attributes = record.get("attributes")
    return isinstance(attributes, dict) and attributes.get(attr.KIND) == attr.KIND_EVENT
