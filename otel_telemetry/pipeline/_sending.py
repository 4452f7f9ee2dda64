"""Sending: the outbox first, then every exporter; what is not confirmed stays on disk.

The last processor of the pipeline. It writes each scrubbed report to the outbox, hands
it to the exporters it is for, and removes it once all of them confirmed delivery. An
exporter that an endpoint asked to wait, or that was refused, is skipped; the report
keeps waiting for it. ``drain`` sends what earlier runs (or failed attempts) left,
each report checked and scrubbed again first: what was read from disk is not trusted.
Every export, live or drained, passes through one place (``_deliver_batch``), which first
gives the server-mode notice its chance (``notice``) before a report leaves the machine,
and afterwards keeps a copy of what left the machine in the record of sent reports
(``sent``), with the id the destination knows it by.

Reports travel in batches: the spans that end inside :meth:`SendingProcessor.batch` (the
recorder's batch of captures) are written as one outbox file, with one ``fsync``, and
handed to the sending thread as one job; a drain takes a whole file at once. An exporter
that says ``exports_batches = True`` (OTLP: one request; ``file``, ``console``) gets all
the spans a batch holds for it in one ``export`` call, and its answer stands for each of
them; any other exporter (Sentry: one envelope per event) gets one call per span, and
after a failure none more in that batch. Each report keeps waiting for exactly the
exporters that did not confirm it.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from functools import partial
from typing import Any, Callable, Optional, Union

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from otel_telemetry import _attributes as attr
from otel_telemetry._log import debug
from otel_telemetry.exporters import Delivery, delivers_locally, encode_otlp_json
from otel_telemetry.exporters._delivery import span_delivery_id

from ._backoff import Backoff
from ._outbox import Batch, Entry, Outbox
from ._records import record_to_span, span_to_record
from ._report import Record, bound_record
from ._sent import SentLog

SENT_INTERVAL = 5.0
"""Seconds between two writes of the record of sent reports while reports keep leaving:
each write replaces the last one's (the record keeps the newest 100), so a burst writes
it a few times, not once per delivery. A lone report is written at once."""
MAX_WAITING = 8192
"""The most reports recorded and waiting in memory for the sending thread; beyond it the
oldest batch waits on disk only, for a drain (an endpoint slower than a burst)."""
MAX_SENT_BATCH = 100
"""The most reports of one batch copied to the record of sent reports: it keeps the newest
100 anyway (``_sent.MAX_ENTRIES``), so older ones of a burst would only be written to be
pruned."""

DRAIN_REPORTS = 512
"""The most reports a drain sends in one export (a recorded batch holds as many)."""

Copy = tuple[Union[ReadableSpan, Record], Sequence[tuple[str, Optional[str]]]]
"""A delivered report (its span, or its record as sent), and (exporter, id there) of each
exporter that confirmed it."""


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
        later: runs a job on the sending thread once ``time.monotonic()`` reaches a
            time. Given, the record of sent reports is written at most once every
            :data:`SENT_INTERVAL` seconds: the copies of a burst wait in memory (the
            newest ``MAX_SENT_BATCH``: the record keeps the newest 100 anyway) for the
            next write, which this schedules. A flush writes them at once. None: written
            after each delivery.
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
        later: Optional[Callable[[float, Callable[[], None]], None]] = None,
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
        self._batch: Optional[list[Record]] = None
        # Batches recorded and not yet sent, oldest first: one delivery sends all of them.
        self._waiting: deque[Batch] = deque()
        self._waiting_reports = 0
        self._released = False  # a batch was left on disk to bound memory: drain it
        self._lock = threading.Lock()
        self._later = later
        self._next_copy = 0.0  # time.monotonic() from which copies may be written again
        self._copy_scheduled = False
        self._unsent_copies: deque[Copy] = deque(maxlen=MAX_SENT_BATCH)

    @property
    def wants_spans(self) -> bool:
        """Whether a span given to :meth:`on_end` goes anywhere (False: exporter "none")."""
        return bool(self.exporters)

    def on_start(self, span: Span, parent_context: Optional[Context] = None) -> None:
        """Nothing to do before a span ends."""

    def on_end(self, span: ReadableSpan) -> None:
        if not self.exporters:
            return  # exporter "none": nothing is sent, so nothing is kept
        self.on_end_record(span_to_record(span))

    def on_end_record(self, record: Record) -> None:
        """:meth:`on_end` of the span ``record`` holds (``span_to_record``), given as such.

        The consent processor's way: it makes the record of a scrubbed span without
        making that span. The record is this processor's from here on.
        """
        if not self.exporters:
            return  # exporter "none": nothing is sent, so nothing is kept
        # What is sent is what is stored: the record, bounded.
        record = bound_record(record)
        if self._batch is not None:
            self._batch.append(record)
            return
        self._store_and_send([record])

    @contextmanager
    def batch(self) -> Iterator[Callable[[], int]]:
        """Spans that end inside the block are stored and sent together, at its end.

        One outbox file (one ``fsync``) and one delivery job for all of them (split
        into files of at most the outbox's count bound). Nested blocks are one batch.

        Yields:
            ``cancel``: forget the batch's reports, neither stored nor sent (consent was
            withdrawn while they were recorded); returns how many were forgotten.
        """
        if self._batch is not None:
            yield lambda: 0
            return
        self._batch = []

        def cancel() -> int:
            records = self._batch or []
            count = len(records)
            records.clear()
            return count

        try:
            yield cancel
        finally:
            records, self._batch = self._batch, None
            if records:
                self._store_and_send(records)

    def _store_and_send(self, records: list[Record]) -> None:
        names = list(self.exporters)
        outbox = self.outbox if self._store_first else None
        size = max(1, outbox.max_reports) if outbox is not None else len(records)
        for start in range(0, len(records), size):
            chunk = records[start : start + size]
            stored = outbox.put_batch(chunk, names) if outbox is not None else None
            batch = stored or Batch(None, [Entry(None, record, list(names)) for record in chunk])
            if self._defer is None:
                self._deliver_batch(batch)
                continue
            released = []
            with self._lock:
                self._waiting.append(batch)
                self._waiting_reports += len(batch.entries)
                while self._waiting_reports > MAX_WAITING and len(self._waiting) > 1:
                    oldest = self._waiting.popleft()
                    self._waiting_reports -= len(oldest.entries)
                    released.append(oldest)
            for oldest in released:
                # Memory is bounded: the oldest batch waits on disk, unclaimed, for the
                # drain the next delivery runs (one that is not on disk is lost, counted).
                if oldest.path is not None and self.outbox is not None:
                    self.outbox.release_batch(oldest)
                    self._released = True
                elif self.outbox is not None:
                    self.outbox.dropped += len(oldest.entries)
            self._defer(_Delivery(self, batch), stored is not None)

    def deliver_waiting(self) -> None:
        """Send every batch waiting for the sending thread, in one export per exporter."""
        with self._lock:
            batches = list(self._waiting)
            self._waiting.clear()
            self._waiting_reports = 0
            released, self._released = self._released, False
        if batches:
            self._deliver_batches(batches)
        if released:
            self.drain()  # what was left on disk to bound memory

    def forget_waiting(self, batch: Batch) -> None:
        """A delivery of ``batch`` was called off (consent withdrawn): it stays on disk."""
        with self._lock:
            if any(waiting is batch for waiting in self._waiting):
                self._waiting.remove(batch)
                self._waiting_reports -= len(batch.entries)

    def drain(self) -> int:
        """Send the reports waiting in the outbox; returns how many were fully delivered.

        An exporter whose send failed is not tried again in the same drain: with an
        endpoint down, one timeout is spent, not one per waiting report.
        """
        if self.outbox is None:
            return 0
        delivered = 0
        failed: set[str] = set()
        # Files claimed together are sent together, up to DRAIN_REPORTS: a drain of many
        # small files (each a flush that ran out of time) is a few requests, not one per
        # file, and the outbox empties as fast as it fills.
        batches: list[Batch] = []
        entries: list[Entry] = []
        spans: list[ReadableSpan] = []

        def deliver() -> int:
            self._deliver_batches(batches, failed, entries, spans)
            done = sum(not entry.pending for entry in entries)
            batches.clear()
            entries.clear()
            spans.clear()
            return done

        for batch in self.outbox.claim_batches():
            sendable = 0
            for entry in batch.entries:
                span = self._read_back(entry)
                if span is not None:
                    entries.append(entry)
                    spans.append(span)
                    sendable += 1
            if not sendable:
                self.outbox.settle_batch(batch)
                continue
            batches.append(batch)
            if len(entries) >= DRAIN_REPORTS:
                delivered += deliver()
        if batches:
            delivered += deliver()
        self._record_sent((), now=True)  # what earlier deliveries kept in memory
        return delivered

    def _read_back(self, entry: Entry) -> Optional[ReadableSpan]:
        """The span to send of a claimed report; None when it is not to be sent now.

        A report for exporters not in force here keeps its pending ones (given back as
        it was); one that may no longer be sent, or failed its checks, gets none (it is
        removed when its batch is settled), and is counted.
        """
        if not any(name in self.exporters for name in entry.pending):
            # For exporters not in force here (an upload, seen in local mode): given
            # back as it was, neither read again nor rewritten.
            return None
        if self._usage is not None and _is_event(entry.record) and not self._usage():
            # Written at level `all`; the user has since chosen crash reports only.
            entry.pending = []
            self.usage_off += 1
            if self.outbox is not None:
                self.outbox.dropped += 1
            return None
        try:
            if self._rescrub is not None:
                entry.record = self._rescrub(entry.record)
            entry.record = bound_record(entry.record)  # a planted file may be huge
            return record_to_span(entry.record)
        except Exception:
            # Fail closed, one report at a time: the next one is still sent.
            debug("otel_telemetry: a waiting report failed its checks", exc_info=True)
            entry.pending = []
            self.failed_checks += 1
            if self.outbox is not None:
                self.outbox.dropped += 1
            return None

    def shutdown(self) -> None:
        self._record_sent((), now=True)  # what deliveries kept in memory
        for exporter in self.exporters.values():
            try:
                exporter.shutdown()
            except Exception:
                debug("otel_telemetry: exporter shutdown failed", exc_info=True)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        self._record_sent((), now=True)  # what deliveries kept in memory
        flushed = True
        for exporter in self.exporters.values():
            try:
                # The SDK's base force_flush returns None: that is no failure.
                flushed = exporter.force_flush(timeout_millis) is not False and flushed
            except Exception:
                flushed = False
        return flushed

    def _deliver_batch(
        self,
        batch: Batch,
        failed: Optional[set[str]] = None,
        entries: Optional[list[Entry]] = None,
        spans: Optional[list[ReadableSpan]] = None,
    ) -> None:
        """Hand ``entries`` of ``batch`` (all by default) to their exporters, then settle it.

        Args:
            batch: the claimed file (or the reports the disk refused).
            failed: exporters that failed earlier in this drain: not tried again.
            entries: the reports of the batch to send now; the others keep what they wait for.
            spans: the span of each of ``entries`` (built from its record by default).
        """
        self._deliver_batches([batch], failed, entries, spans)

    def _deliver_batches(
        self,
        batches: Sequence[Batch],
        failed: Optional[set[str]] = None,
        entries: Optional[list[Entry]] = None,
        spans: Optional[list[ReadableSpan]] = None,
    ) -> None:
        """:meth:`_deliver_batch` of several batches at once: one export per exporter."""
        if entries is None:
            entries = [entry for batch in batches for entry in batch.entries]
        # What is sent is what was stored: the records, as spans only for an exporter that
        # takes nothing else (an exporter with `export_records` takes them as they are).
        # Spans given (read back and scrubbed again by a drain) are sent as given.
        as_stored = spans is None
        made: list[Optional[ReadableSpan]] = [None] * len(entries) if spans is None else [*spans]
        if self._usage is not None:
            kept = [
                (entry, span)
                for entry, span in zip(entries, made)
                if not (_is_event(entry.record) and not self._usage())
            ]
            staying = {id(entry) for entry, _ in kept}
            for entry in entries:
                if id(entry) not in staying:
                    # Lowered to crash reports while it waited to be sent: it never leaves.
                    entry.pending = []
                    self.usage_off += 1
            entries = [entry for entry, _ in kept]
            made = [span for _, span in kept]

        def spans_of(indexes: Sequence[int]) -> list[ReadableSpan]:
            for index in indexes:
                if made[index] is None:
                    made[index] = record_to_span(entries[index].record)
            return [span for span in (made[index] for index in indexes) if span is not None]

        delivered: list[list[tuple[str, Optional[str]]]] = [[] for _ in entries]
        names: list[str] = []
        for entry in entries:
            names.extend(name for name in entry.pending if name not in names)
        for name in names:
            targets = [index for index, entry in enumerate(entries) if name in entry.pending]
            exporter = self.exporters.get(name)
            # Not configured in this run, asked to wait, already failing in this drain, or
            # leaving the machine before the notice could be given: the reports keep
            # waiting for it.
            if (
                exporter is None
                or (failed is not None and name in failed)
                or (self.backoff is not None and self.backoff.blocked(name))
                or (not delivers_locally(exporter) and not self._noticed())
            ):
                continue
            if getattr(exporter, "exports_batches", False):
                groups = [targets]
            else:
                groups = [[index] for index in targets]
            for group in groups:
                records = [entries[i].record for i in group] if as_stored else None
                ok, delivery_id = self._export(name, exporter, partial(spans_of, group), records)
                if not ok:
                    if failed is not None:
                        failed.add(name)
                    break  # one failure per exporter and batch, not one per report
                for index in group:
                    entries[index].pending.remove(name)
                    if delivery_id is not False:
                        delivered[index].append((name, str(delivery_id) or None))
        if self.outbox is not None:
            for batch in batches:
                if batch.path is not None:
                    self.outbox.settle_batch(batch)
        # The copy is of what was sent: the span given, else the record (a span is made
        # of it only if it is still among the newest copies when they are written).
        self._record_sent(
            [
                (made[index] or entry.record, done)
                for index, (entry, done) in enumerate(zip(entries, delivered))
                if done
            ][-MAX_SENT_BATCH:]
        )

    def _export(
        self,
        name: str,
        exporter: SpanExporter,
        spans: Callable[[], Sequence[ReadableSpan]],
        records: Optional[Sequence[Record]] = None,
    ) -> tuple[bool, object]:
        """Export a group of reports; (confirmed, the id there: False when nothing left).

        Args:
            name: the exporter's name.
            exporter: the exporter.
            spans: makes the group's spans (when the exporter takes spans only).
            records: the group's records as stored, None to send the spans.

        The id is the ``Delivery.id`` the exporter gave for a single report, else "".
        """
        before = getattr(exporter, "last_delivery", None)
        export_records = getattr(exporter, "export_records", None) if records else None
        try:
            if export_records is not None:
                result = export_records(records, spans)
            else:
                result = exporter.export(spans())
        except Exception:
            debug("otel_telemetry: exporter %s failed", name, exc_info=True)
            result = SpanExportResult.FAILURE
        delivery = getattr(exporter, "last_delivery", None)
        if isinstance(delivery, Delivery) and self.backoff is not None:
            self.backoff.record(name, delivery)
        if result is not SpanExportResult.SUCCESS:
            return False, None
        # A delivery left from an earlier export (an exporter that sent nothing this
        # time) does not name this report.
        fresh = delivery if isinstance(delivery, Delivery) and delivery is not before else None
        # The record is of what left the machine: not a file or the console (the file
        # exporter's folder is its own record), not what was ignored.
        if delivers_locally(exporter) or (fresh is not None and not fresh.sent):
            return True, False
        single = fresh is not None and len(records if records is not None else spans()) == 1
        return True, (fresh.id if fresh is not None and single else None) or ""

    def _record_sent(
        self,
        sent: Sequence[Copy],
        *,
        now: bool = False,
    ) -> None:
        """Keep a copy of delivered reports; after the delivery, never in its way.

        Args:
            sent: each delivered report (its span, or its record as sent), with the
                exporters that confirmed it and its id there.
            now: write what waits in memory whatever the interval (a flush, a drain).
        """
        if self._sent is None:
            return
        self._unsent_copies.extend(sent)
        if not self._unsent_copies:
            return
        clock = time.monotonic()
        if not now and self._later is not None and clock < self._next_copy:
            if not self._copy_scheduled:
                self._copy_scheduled = True
                self._later(self._next_copy, self._write_later)
            return  # a burst: written with the copies that follow, in a moment
        self._next_copy = clock + SENT_INTERVAL
        try:
            when = time.time_ns()
            taken = []
            with suppress(IndexError):  # popleft is atomic: another thread may write too
                while True:
                    taken.append(self._unsent_copies.popleft())
            copies: list[tuple[dict[str, Any], str, Optional[str]]] = []
            for sent_report, delivered in taken:
                span = (
                    sent_report
                    if isinstance(sent_report, ReadableSpan)
                    else record_to_span(sent_report)
                )
                document = encode_otlp_json((span,))
                own_id = span_delivery_id(span)
                copies.extend(
                    (document, exporter, delivery_id or own_id)
                    for exporter, delivery_id in delivered
                )
            self._sent.add_many(copies, time_ns=when)
        except Exception:
            debug("otel_telemetry: a sent report was not recorded", exc_info=True)

    def _write_later(self) -> None:
        self._copy_scheduled = False
        self._record_sent((), now=True)

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


class _Delivery:
    """The sending thread's job for one batch: it sends every batch waiting by then.

    A job the pipeline calls off (consent withdrawn before it ran) calls :meth:`skip`:
    its batch is not sent by a later job, and waits on disk.
    """

    __slots__ = ("batch", "sending")

    def __init__(self, sending: SendingProcessor, batch: Batch) -> None:
        self.sending = sending
        self.batch = batch

    def __call__(self) -> None:
        self.sending.deliver_waiting()

    def skip(self) -> None:
        self.sending.forget_waiting(self.batch)


def _is_event(record: Record) -> bool:
    attributes = record.get("attributes")
    return isinstance(attributes, dict) and attributes.get(attr.KIND) == attr.KIND_EVENT
