"""The one span processor: consent gate, then scrub, then the inner processors.

It wraps the processors that export (Logfire's wrapper pattern) so that nothing reaches
them unless the gate said yes and the scrubber succeeded. Inner processors never see
the live span (``on_start`` is not forwarded); they receive a rebuilt ``ReadableSpan``
whose every string was scrubbed and whose resource is our explicit minimal one.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import Callable, Optional

from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import Status

from otel_telemetry import _attributes as attr
from otel_telemetry._log import debug
from otel_telemetry.consent._precedence import ConsentDecision
from otel_telemetry.scrubbing import Scrubber

MAX_HELD = 10


class TelemetrySpanProcessor(SpanProcessor):
    """Forwards a span to its inner processors only with consent, and only scrubbed.

    Args:
        processors: the processors that export, in order.
        gate: returns the consent decision; asked anew for every span.
        scrubber: applied to every string of the span; if it raises, the span is dropped.
        resource: the resource every forwarded span carries, whatever the provider's.
    """

    def __init__(
        self,
        processors: Sequence[SpanProcessor],
        *,
        gate: Callable[[], ConsentDecision],
        scrubber: Scrubber,
        resource: Resource,
    ) -> None:
        self._processors = tuple(processors)
        self._gate = gate
        self._scrubber = scrubber
        self._held: deque[ReadableSpan] = deque(maxlen=MAX_HELD)
        self._lock = threading.Lock()
        self.dropped = 0
        # Scrubbed once: the resource is fixed for the life of the pipeline.
        pass_ = scrubber.new_pass()
        self._resource = Resource(pass_.attributes(resource.attributes), resource.schema_url)

    def on_start(self, span: Span, parent_context: Optional[Context] = None) -> None:
        """Do nothing: inner processors must not see a span before it is scrubbed."""

    def on_end(self, span: ReadableSpan) -> None:
        """Gate, scrub and forward; hold while the user is asked; drop otherwise."""
        decision = self._gate()
        if decision.state == "ask":
            with self._lock:
                self._held.append(span)
            return
        if decision.state != "granted":
            self.dropped += 1
            return
        self._forward(span, decision)

    @property
    def holding(self) -> bool:
        """Reports are held while the user is asked."""
        return bool(self._held)

    def release_held(
        self, decision: Optional[ConsentDecision] = None, *, first_only: bool = False
    ) -> int:
        """Send the spans held while the user was asked.

        Args:
            decision: the user's answer for these spans alone (``[1]`` of the prompt);
                by default the gate is asked again.
            first_only: send only the report the question was about, drop the others.
        """
        decision = decision or self._gate()
        with self._lock:
            held = list(self._held)
            self._held.clear()
        if first_only and len(held) > 1:
            self.dropped += len(held) - 1
            held = held[:1]
        if decision.state != "granted":
            self.dropped += len(held)
            return 0
        for span in held:
            self._forward(span, decision)
        return len(held)

    def preview_held(self) -> list[ReadableSpan]:
        """The held spans exactly as they would be sent (scrubbed), for the user to see."""
        with self._lock:
            held = list(self._held)
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

    def _forward(self, span: ReadableSpan, decision: ConsentDecision) -> None:
        try:
            clean = self._scrub(span, decision)
        except Exception:
            # Fail closed: a span that could not be scrubbed is never forwarded raw.
            self.dropped += 1
            debug("otel_telemetry: scrubbing failed; report dropped", exc_info=True)
            return
        for processor in self._processors:
            try:
                processor.on_end(clean)
            except Exception:
                debug("otel_telemetry: span processor failed", exc_info=True)

    def _scrub(self, span: ReadableSpan, decision: ConsentDecision) -> ReadableSpan:
        scrub = self._scrubber.new_pass()
        events = [
            Event(scrub.text(event.name), scrub.attributes(event.attributes), event.timestamp)
            for event in span.events
        ]
        attributes = scrub.attributes(span.attributes)
        description = span.status.description
        status = Status(span.status.status_code, scrub.text(description) if description else None)
        name = scrub.text(span.name)
        if scrub.counts:
            attributes[attr.SCRUBBED] = tuple(
                f"{rule}:{n}" for rule, n in sorted(scrub.counts.items())
            )
        # The one email that may leave: the address the user typed, on crash reports only.
        if decision.email and attributes.get(attr.KIND) == attr.KIND_EXCEPTION:
            attributes[attr.USER_EMAIL] = decision.email
        return ReadableSpan(
            name=name,
            context=span.context,
            parent=None,
            resource=self._resource,
            attributes=attributes,
            events=events,
            links=(),
            kind=span.kind,
            status=status,
            start_time=span.start_time,
            end_time=span.end_time,
            instrumentation_scope=span.instrumentation_scope,
        )
