"""The private OTel pipeline: a bounded queue, one worker thread, a private TracerProvider.

The app thread only enqueues a capture. The worker builds the span on a
``TracerProvider`` that belongs to this package alone (never the global one), whose
single :class:`~otel_telemetry._processor.TelemetrySpanProcessor` gates, scrubs and
hands the span to the exporters. The OpenTelemetry SDK, the exporters and the scrubber
are imported on the worker at the first report, never when the host imports us.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque

from . import _log
from ._version import __version__

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any, Callable, Optional, Union

    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Tracer

    from ._capture import Captured
    from ._consent import ConsentDecision
    from ._processor import TelemetrySpanProcessor
    from ._scrubbing import ScrubbingOptions
    from ._sending import SendingProcessor
    from .exporters import ExporterContext

MAX_QUEUE = 256
LOCAL_EXPORTERS = frozenset({"file", "console"})


class Pipeline:
    """Moves captures from the app thread to the exporters without blocking the host.

    Args:
        app: ``service.name``.
        version: ``service.version``.
        packages: the host's module prefixes, for ``in_app`` frames.
        gate: the consent decision, asked for every span.
        scrubbing: the scrubbing options.
        exporter_names: the exporter names in force.
        exporter_context: what exporter factories may know about the host.
        mode: the mode in force, recorded on each report.
        install_id: the anonymous id of usage events.
    """

    def __init__(
        self,
        *,
        app: str,
        version: str,
        packages: Sequence[str],
        gate: Callable[[], ConsentDecision],
        scrubbing: Optional[ScrubbingOptions],
        exporter_names: Callable[[], Sequence[str]],
        exporter_context: Callable[[], ExporterContext],
        mode: Callable[[], str],
        install_id: Callable[[], Optional[str]],
    ) -> None:
        self._app = app
        self._version = version
        self._packages = tuple(packages)
        self._gate = gate
        self._scrubbing = scrubbing
        self._exporter_names = exporter_names
        self._exporter_context = exporter_context
        self._mode = mode
        self._install_id = install_id
        self._reset()
        if hasattr(os, "register_at_fork"):
            # A forked child has this object but not the worker thread, and maybe a lock
            # held by a thread that does not exist there: start afresh in the child.
            import weakref

            ref = weakref.ref(self)

            def after_in_child() -> None:
                pipeline = ref()
                if pipeline is not None:
                    pipeline._reset()

            os.register_at_fork(after_in_child=after_in_child)

    def _reset(self) -> None:
        self._cond = threading.Condition()
        self._queue: deque[Union[Captured, Callable[[], Any]]] = deque()
        self._pending = 0
        self._thread: Optional[threading.Thread] = None
        self._tracer: Optional[Tracer] = None
        self._provider: Optional[TracerProvider] = None
        self._processor: Optional[TelemetrySpanProcessor] = None
        self._sending: Optional[SendingProcessor] = None
        self.queue_dropped = 0
        self.gate_dropped = 0

    def submit(self, item: Union[Captured, Callable[[], Any]]) -> None:
        """Queue a capture (or an action) for the worker; never blocks, drops the oldest."""
        with self._cond:
            if len(self._queue) >= MAX_QUEUE:
                self._queue.popleft()
                self._pending -= 1
                self.queue_dropped += 1
            self._queue.append(item)
            self._pending += 1
            self._cond.notify()
            if self._thread is None:
                self._start_worker()

    def flush(self, timeout: Optional[float]) -> bool:
        """Wait until every queued capture went through the pipeline, at most ``timeout`` s."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._pending:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(remaining)
        provider = self._provider
        if provider is None:
            return True
        remaining_ms = 30_000 if deadline is None else max(0.0, deadline - time.monotonic()) * 1000
        return provider.force_flush(int(remaining_ms))

    def shutdown(self, timeout: Optional[float]) -> None:
        """Flush, then shut the private provider and its exporters down."""
        self.flush(timeout)
        provider, self._provider, self._tracer = self._provider, None, None
        if provider is not None:
            provider.shutdown()

    def schedule_drain(self) -> None:
        """Send, on the worker, the reports that earlier runs or attempts left in the outbox."""
        self.submit(self._drain)

    def _drain(self) -> None:
        if self._gate().state != "granted":
            return  # no consent now: what waits, waits (disable() clears it)
        if self._tracer is None:
            self._build()
        if self._sending is not None:
            self._sending.drain()

    @property
    def outbox_dropped(self) -> int:
        """Reports the outbox dropped to stay within its bounds."""
        sending = self._sending
        outbox = sending.outbox if sending is not None else None
        return outbox.dropped if outbox is not None else 0

    def release_held(
        self, decision: Optional[ConsentDecision] = None, *, first_only: bool = False
    ) -> None:
        """Send the reports held while consent was pending, on the worker."""
        # Queued behind the captures already submitted, so they are held by then.
        self.submit(lambda: self._release(decision, first_only))

    def _release(self, decision: Optional[ConsentDecision], first_only: bool) -> None:
        processor = self._processor
        if processor is not None:
            processor.release_held(decision, first_only=first_only)

    def preview_held(self) -> str:
        """The held reports as they would be sent, as indented OTLP/JSON."""
        processor = self._processor
        spans = processor.preview_held() if processor is not None else []
        if not spans:
            return "(no report is waiting)"
        import json

        from .exporters import encode_otlp_json

        return json.dumps(encode_otlp_json(spans), indent=2, ensure_ascii=False)

    def discard_held(self) -> None:
        """Forget the reports held while consent was pending."""
        processor = self._processor
        if processor is not None:
            processor.discard_held()

    @property
    def dropped(self) -> int:
        """Reports dropped by the gate, the scrubber or a full queue."""
        processor = self._processor
        built = processor.dropped if processor is not None else 0
        return self.queue_dropped + self.gate_dropped + built + self.outbox_dropped

    def _start_worker(self) -> None:
        thread = threading.Thread(target=self._work, name="otel_telemetry", daemon=True)
        try:
            thread.start()
        except RuntimeError:
            # Interpreter shutdown: no thread can start any more; the queue is not sent.
            _log.debug("otel_telemetry: worker cannot start at interpreter shutdown")
            return
        self._thread = thread

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._queue:
                    self._cond.wait()
                item = self._queue.popleft()
            try:
                if callable(item):
                    item()
                else:
                    self._process(item)
            except Exception:
                _log.debug("otel_telemetry: report failed", exc_info=True)
            finally:
                with self._cond:
                    self._pending -= 1
                    self._cond.notify_all()

    def _process(self, captured: Captured) -> None:
        if self._gate().state == "denied":
            # Decided before anything is built: a crash without consent imports nothing.
            self.gate_dropped += 1
            return
        from opentelemetry.context import Context
        from opentelemetry.trace import Status, StatusCode

        from ._capture import CapturedException
        from ._report import (
            ATTR_INSTALL_ID,
            ATTR_MODE,
            EVENT_EXCEPTION,
            SPAN_EXCEPTION,
            event_attributes,
            exception_attributes,
        )

        tracer = self._tracer or self._build()
        if isinstance(captured, CapturedException):
            attributes, event, description = exception_attributes(captured, self._packages)
            name = SPAN_EXCEPTION
        else:
            attributes, event, description = event_attributes(captured), None, None
            install_id = self._install_id()
            if install_id is not None:
                attributes[ATTR_INSTALL_ID] = install_id
            name = captured.name
        attributes[ATTR_MODE] = self._mode()
        span = tracer.start_span(
            name,
            context=Context(),  # a root span: never a child of the host's current trace
            attributes=attributes,
            start_time=captured.time_ns,
            record_exception=False,
            set_status_on_exception=False,
        )
        if event is not None:
            span.add_event(EVENT_EXCEPTION, event, timestamp=captured.time_ns)
            span.set_status(Status(StatusCode.ERROR, description))
        span.end(end_time=captured.time_ns)

    def _build(self) -> Tracer:
        from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, attach, set_value
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import SpanLimits, TracerProvider
        from opentelemetry.sdk.trace.sampling import ALWAYS_ON
        from opentelemetry.sdk.version import __version__ as sdk_version

        from ._backoff import Backoff
        from ._outbox import Outbox
        from ._processor import TelemetrySpanProcessor
        from ._scrubbing import Scrubber
        from ._sending import SendingProcessor
        from .exporters import create_exporters

        # Exports run on this worker thread only, and the host's instrumentation
        # (requests, urllib3, grpc) must not trace them.
        attach(set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))
        # Explicit and minimal: no resource detectors, so no host, user, process or argv.
        resource = Resource(
            {
                "service.name": self._app,
                "service.version": self._version,
                "telemetry.sdk.language": "python",
                "telemetry.sdk.name": "opentelemetry",
                "telemetry.sdk.version": sdk_version,
                "telemetry.distro.name": "otel_telemetry",
                "telemetry.distro.version": __version__,
            }
        )
        context = self._exporter_context()
        exporters = create_exporters(self._exporter_names(), context)
        telemetry_dir = context.config_dir / "telemetry"
        # Exporters that only write here (a file, the console) need no copy on disk first.
        remote = any(name not in LOCAL_EXPORTERS for name in exporters)
        outbox = Outbox(telemetry_dir / "outbox") if remote else None
        sending = SendingProcessor(exporters, outbox, Backoff(telemetry_dir / "backoff.json"))
        processor = TelemetrySpanProcessor(
            [sending],
            gate=self._gate,
            scrubber=Scrubber(self._scrubbing),
            resource=resource,
        )
        provider = TracerProvider(
            # Explicit, so that the host's OTEL_TRACES_SAMPLER and OTEL_*_LIMIT variables
            # can neither sample reports away nor cut a secret short before it is scrubbed.
            sampler=ALWAYS_ON,
            resource=resource,
            shutdown_on_exit=False,  # exit is bounded by Telemetry's own atexit flush
            span_limits=SpanLimits(
                max_attributes=64,
                max_events=8,
                max_links=0,
                max_attribute_length=SpanLimits.UNSET,
                max_span_attribute_length=SpanLimits.UNSET,
            ),
        )
        provider.add_span_processor(processor)
        self._processor = processor
        self._sending = sending
        self._provider = provider
        tracer = provider.get_tracer("otel_telemetry", __version__)
        self._tracer = tracer
        return tracer
