"""The one span processor: consent gate, then scrub, then the inner processors.

It wraps the processors that export (Logfire's wrapper pattern) so that nothing reaches
them unless the gate said yes and the scrubber succeeded. Inner processors never see
the live span (``on_start`` is not forwarded); they receive a rebuilt ``ReadableSpan``
whose every string was scrubbed and whose resource is our explicit minimal one.

While the user is asked, spans are held with the number of the capture they were
recorded from (``seq``), so that the answer "send this error only" sends exactly the
report the question was about, and leaves every other one held.
"""

from __future__ import annotations

import copy
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Callable, Optional

from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import Status

from otel_telemetry import _attributes as attr
from otel_telemetry._fork import renew_in_child
from otel_telemetry._log import debug
from otel_telemetry.consent._precedence import ConsentDecision
from otel_telemetry.scrubbing import Scrubber

from ._records import record_of
from ._report import Record, Scrubbed, scrub_parts

MAX_HELD = 10


class TelemetrySpanProcessor(SpanProcessor):
    """Forwards a span to its inner processors only with consent, and only scrubbed.

    Args:
        processors: the processors that export, in order.
        gate: returns the consent decision; asked anew for every span.
        scrubber: applied to every string of the span; if it raises, the span is dropped.
        resource: the resource every forwarded span carries, whatever the provider's.
        install_id: the anonymous id (created at the first call), for a usage event
            that was held for the question and is now sent; None adds none.
    """

    def __init__(
        self,
        processors: Sequence[SpanProcessor],
        *,
        gate: Callable[[], ConsentDecision],
        scrubber: Scrubber,
        resource: Resource,
        install_id: Optional[Callable[[], Optional[str]]] = None,
        local: bool = False,
    ) -> None:
        self._processors = tuple(processors)
        self.local = local
        """Its processors record on this machine only (``local`` mode); a span granted
        for the other kind of build is held, for the pipeline to move it (see on_end)."""
        self._gate = gate
        self._scrubber = scrubber
        self._install_id = install_id
        # (seq of the capture, span): the seq says which report a question is about.
        self._held: deque[tuple[Optional[int], ReadableSpan]] = deque(maxlen=MAX_HELD)
        self._lock = threading.Lock()
        self._recording: Optional[int] = None
        self._decided: Optional[ConsentDecision] = None
        self._ended: Optional[list[tuple[Optional[int], ReadableSpan]]] = None
        self.dropped = 0
        """Spans dropped: without consent, and the ``scrubbing_failed`` ones."""
        self.scrubbing_failed = 0
        self.usage_off = 0
        """Usage events dropped because the level no longer allows them (also in dropped)."""
        renew_in_child(self._renew_lock)
        # Scrubbed once: the resource is fixed for the life of the pipeline.
        pass_ = scrubber.new_pass()
        self._resource = Resource(pass_.attributes(resource.attributes), resource.schema_url)

    def on_start(self, span: Span, parent_context: Optional[Context] = None) -> None:
        """Do nothing: inner processors must not see a span before it is scrubbed."""

    @contextmanager
    def recording(self, seq: int) -> Iterator[None]:
        """Spans that end inside the block were recorded from the capture numbered ``seq``.

        The provider calls :meth:`on_end` synchronously when the span ends, on the one
        recording worker, so the number is known to the span that is held.
        """
        self._recording = seq
        try:
            yield
        finally:
            self._recording = None

    @contextmanager
    def deciding(self, decision: ConsentDecision) -> Iterator[Callable[[], None]]:
        """Spans that end inside the block are gated by ``decision``, the gate not asked.

        For a batch of captures recorded together: the gate (a file's status, variables)
        is asked once for the batch, not once per report; the caller asks it again when
        the batch ends, before anything is on disk.

        Yields:
            ``redo``: gate every span the block forwarded again, the gate asked for
            each (the decision changed while they were recorded); the caller first
            forgets what was forwarded (``SendingProcessor.batch``'s ``cancel``).
        """
        ended: list[tuple[Optional[int], ReadableSpan]] = []

        def redo() -> None:
            self._decided = None
            self._ended = None
            for seq, span in ended:
                self._recording = seq
                try:
                    self.on_end(span)
                finally:
                    self._recording = None

        self._decided = decision
        self._ended = ended
        try:
            yield redo
        finally:
            self._decided = None
            self._ended = None

    def on_end(self, span: ReadableSpan) -> None:
        """Gate, scrub and forward; hold while the user is asked; drop otherwise."""
        decision = self._decided or self._gate()
        # The user may choose `local` between the start of a recording and its end: a
        # span granted for local mode is held, never sent through this build; the pipeline
        # moves it to a local build and releases it there. (The other way round, a report
        # recorded in local mode stays local: `enable()` is for reports from now on.)
        if decision.state == "ask" or (
            decision.state == "granted" and decision.local and not self.local
        ):
            with self._lock:
                self._held.append((self._recording, span))
            return
        if decision.state != "granted":
            self.dropped += 1
            return
        self._forward(span, decision)

    @property
    def holding(self) -> bool:
        """Reports are held while the user is asked."""
        return bool(self._held)

    def take_held(self) -> list[tuple[Optional[int], ReadableSpan]]:
        """Hand every held span over (with its capture's ``seq``) and hold none."""
        with self._lock:
            held = list(self._held)
            self._held.clear()
        return held

    def hold(self, held: Sequence[tuple[Optional[int], ReadableSpan]]) -> None:
        """Hold spans another processor held (a rebuild while the user is asked)."""
        with self._lock:
            self._held.extend(held)

    @property
    def held_count(self) -> int:
        """How many reports are held while the user is asked."""
        return len(self._held)

    def release_held(
        self, decision: Optional[ConsentDecision] = None, *, only: Optional[int] = None
    ) -> int:
        """Send the spans held while the user was asked.

        Args:
            decision: the user's answer for these spans (``[1]`` of the prompt); by
                default the gate is asked again. The caller releases through a build of
                the kind the decision asks for (``local`` or not).
            only: the ``seq`` of the one report to send (``[1]``: the report the question
                was about); every other span stays held, neither sent nor dropped, until
                a later release or discard. None: every held span.

        Returns:
            How many spans were forwarded.
        """
        decision = decision or self._gate()
        with self._lock:
            held = [span for seq, span in self._held if only is None or seq == only]
            if only is None:
                self._held.clear()
            else:
                kept = [(seq, span) for seq, span in self._held if seq != only]
                self._held.clear()
                self._held.extend(kept)
        if decision.state != "granted":
            self.dropped += len(held)
            return 0
        for span in held:
            self._forward(span, decision)
        return len(held)

    def preview_held(self, only: Optional[int] = None) -> list[ReadableSpan]:
        """The held spans exactly as they would be sent (scrubbed), for the user to see.

        Args:
            only: the ``seq`` of the one report to show, as :meth:`release_held` with the
                same ``only`` would send it; None: every held span.
        """
        with self._lock:
            held = [span for seq, span in self._held if only is None or seq == only]
        preview = ConsentDecision("granted", "preview")
        shown = []
        for span in held:
            try:
                shown.append(self._scrub(span, preview))
            except Exception:  # fail closed: what cannot be scrubbed is neither shown nor sent
                debug("otel_telemetry: scrubbing failed; report not shown", exc_info=True)
        return shown

    def discard_held(self) -> None:
        """Forget the spans held while consent was pending."""
        with self._lock:
            self.dropped += len(self._held)
            self._held.clear()

    def shutdown(self) -> None:
        self.discard_held()
        for processor in self._processors:
            processor.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        deadline = time.monotonic() + timeout_millis / 1000
        flushed = True
        for processor in self._processors:
            remaining = max(0, int((deadline - time.monotonic()) * 1000))
            # Exporters that do not override force_flush return None: that is no failure.
            flushed = processor.force_flush(remaining) is not False and flushed
        return flushed

    def _renew_lock(self) -> None:
        # A child forked while another thread held the lock would wait for it forever:
        # that thread does not exist in the child.
        self._lock = threading.Lock()

    def _forward(self, span: ReadableSpan, decision: ConsentDecision) -> None:
        attributes = span.attributes or {}
        if attributes.get(attr.KIND) == attr.KIND_EVENT and not (self.local or decision.usage):
            # The level was lowered while it was recorded or held: usage events are off.
            self.dropped += 1
            self.usage_off += 1
            return
        if not any(getattr(processor, "wants_spans", True) for processor in self._processors):
            return  # exporter "none": nothing is kept, so nothing needs scrubbing
        # A processor that takes records (the sending one: it stores records) is given
        # the record of the scrubbed span, made without the span: the others the span.
        takes = [getattr(processor, "on_end_record", None) for processor in self._processors]
        try:
            parts, status = self._scrubbed(span, decision, sending=True)
            record = self._record(span, parts, status) if any(takes) else None
            clean = self._span(span, parts, status) if not all(takes) else None
        except Exception:
            # Fail closed: a span that could not be scrubbed is never forwarded raw.
            self.dropped += 1
            self.scrubbing_failed += 1
            debug("otel_telemetry: scrubbing failed; report dropped", exc_info=True)
            return
        if self._ended is not None:  # forwarded under a batch's decision (`deciding`)
            self._ended.append((self._recording, span))
        for processor, on_end_record in zip(self._processors, takes):
            try:
                if on_end_record is not None:
                    # Each its own copy: a record is the receiver's to change.
                    on_end_record(record if len(takes) == 1 else copy.deepcopy(record))
                else:
                    processor.on_end(clean)  # type: ignore[arg-type]
            except Exception:
                debug("otel_telemetry: span processor failed", exc_info=True)

    def _scrub(
        self, span: ReadableSpan, decision: ConsentDecision, *, sending: bool = False
    ) -> ReadableSpan:
        return self._span(span, *self._scrubbed(span, decision, sending=sending))

    def _span(self, span: ReadableSpan, parts: Scrubbed, status: Status) -> ReadableSpan:
        """``span`` with the scrubbed strings, on our resource."""
        return ReadableSpan(
            name=parts.name,
            context=span.context,
            parent=None,
            resource=self._resource,  # ours, scrubbed once, whatever the provider's
            attributes=parts.attributes,
            events=[
                Event(name, values, event.timestamp)
                for (name, values), event in zip(parts.events, span.events)
            ],
            links=(),
            kind=span.kind,
            status=status,
            start_time=span.start_time,
            end_time=span.end_time,
            instrumentation_scope=span.instrumentation_scope,
        )

    def _record(self, span: ReadableSpan, parts: Scrubbed, status: Status) -> Record:
        """``span_to_record(self._span(span, parts, status))``, without that span."""
        return record_of(
            span,
            parts.name,
            parts.attributes,
            [
                (name, values, event.timestamp)
                for (name, values), event in zip(parts.events, span.events)
            ],
            status,
            self._resource,
        )

    def _scrubbed(
        self, span: ReadableSpan, decision: ConsentDecision, *, sending: bool = False
    ) -> tuple[Scrubbed, Status]:
        """The scrubbed strings of ``span``, and its status with the scrubbed description."""
        # The one scrubbing of every path (live, written at exit, read back from disk).
        attributes = span.attributes or {}
        # A usage event held for the question gets its id once it may leave.
        lacks_id = (
            attributes.get(attr.KIND) == attr.KIND_EVENT and attr.INSTALL_ID not in attributes
        )
        parts = scrub_parts(
            self._scrubber,
            name=span.name,
            attributes=attributes,
            events=[(event.name, event.attributes) for event in span.events],
            description=span.status.description,
            email=decision.email,
            install_id=self._install_id() if sending and lacks_id and self._install_id else None,
        )
        return parts, Status(span.status.status_code, parts.description)
