"""The private OpenTelemetry provider: explicit resource, explicit limits, our processor.

Built on the worker at the first report. Nothing here is global: the host's tracer
provider, propagators and instrumentation are never touched, and the host's
``OTEL_*`` variables can neither sample reports away nor cut a secret short before it
is scrubbed.
"""

from __future__ import annotations

import inspect
from collections.abc import Hashable
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Callable, Optional

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, attach, set_value
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanLimits, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

from otel_telemetry import _attributes as attr
from otel_telemetry._version import __version__
from otel_telemetry.consent._notice import ServerNotice
from otel_telemetry.consent._precedence import ANSWERED
from otel_telemetry.exporters import create_exporters, delivers_locally
from otel_telemetry.scrubbing import Scrubber

from ._backoff import Backoff
from ._install_id import load_or_create
from ._outbox import Outbox
from ._processor import TelemetrySpanProcessor
from ._report import Record, resource_attributes, scrub_record
from ._sending import SendingProcessor
from ._sent import SentLog
from ._spans import AttributeValue

if TYPE_CHECKING:
    from otel_telemetry._settings import Settings
    from otel_telemetry.consent._precedence import ConsentDecision


class SpanRecorder:
    """Makes each report one ended root span of the private pipeline, for its processor.

    What the SDK's ``tracer.start_span(...)``, ``add_event``, ``set_status`` and
    ``end()`` make of a span started and ended at once (the same ``ReadableSpan``: ids
    from the provider's generator, its resource, the instrumentation scope, the limits'
    counts), without building a live span first: its lock, its mutable copies and their
    checks were a third of a report's recording in a burst. Every span is sampled (the
    private provider's sampler is ``ALWAYS_ON``), and the values are valid OTel ones
    already (:func:`report_parts` makes them so), so none is checked again.
    ``tests/unit/test_spans.py`` holds it to the SDK's tracer, span for span.

    Args:
        processor: what receives each ended span (the pipeline's consent processor).
        resource: the provider's resource.
        scope: the instrumentation scope of the spans.
        ids: the provider's id generator.
        max_attributes: the most attributes a span or an event keeps; ours first.
    """

    __slots__ = ("_ids", "_max", "processor", "resource", "scope")

    def __init__(
        self,
        processor: SpanProcessor,
        resource: Resource,
        scope: InstrumentationScope,
        ids: Optional[IdGenerator] = None,
        max_attributes: int = 64,
    ) -> None:
        self.processor = processor
        self.resource = resource
        self.scope = scope
        self._ids = ids or RandomIdGenerator()
        self._max = max_attributes

    def record(
        self,
        name: str,
        attributes: dict[str, AttributeValue],
        event: Optional[dict[str, AttributeValue]],
        description: Optional[str],
        time_ns: int,
    ) -> None:
        """One ended span, started and ended at ``time_ns``, handed to the processor.

        With ``event`` (a crash): its ``exception`` event, and the status ``ERROR`` with
        ``description``; without (a usage event): no event, the status unset.
        """
        context = SpanContext(
            self._ids.generate_trace_id(),
            self._ids.generate_span_id(),
            is_remote=False,
            trace_flags=_SAMPLED,
        )
        events: tuple[Any, ...] = ()
        status = Status(StatusCode.UNSET)
        if event is not None:
            # Read-only, as the SDK's own events are.
            events = (Event(attr.EVENT_EXCEPTION, MappingProxyType(self._bounded(event)), time_ns),)
            status = Status(StatusCode.ERROR, description)
        span = ReadableSpan(
            name=name,
            context=context,
            parent=None,
            resource=self.resource,
            attributes=self._bounded(attributes),
            events=events,
            links=(),
            kind=SpanKind.INTERNAL,
            status=status,
            start_time=time_ns,
            end_time=time_ns,
            instrumentation_scope=self.scope,
        )
        self.processor.on_end(span)

    def _bounded(self, attributes: dict[str, AttributeValue]) -> Any:
        if len(attributes) <= self._max:
            return attributes
        # Over the limit (never, for what report_parts makes today): ours are kept first,
        # where the SDK would keep the last ones set; the others count as dropped.
        ours = [k for k in attributes if k.startswith(attr.NAMESPACE)]
        kept = ours + [k for k in attributes if not k.startswith(attr.NAMESPACE)]
        bounded = BoundedAttributes(
            self._max, {k: attributes[k] for k in kept[: self._max]}, immutable=True
        )
        bounded.dropped = len(attributes) - len(bounded)
        return bounded


_SAMPLED = TraceFlags(TraceFlags.SAMPLED)


@dataclass(frozen=True)
class Built:
    """The parts of a built pipeline that the pipeline talks to afterwards."""

    recorder: SpanRecorder
    provider: TracerProvider
    processor: TelemetrySpanProcessor
    sending: SendingProcessor
    key: Hashable
    """The settings it was built from; another key means another build."""


class StaysLocal(Exception):
    """The user chose ``local``, or withdrew consent, since this report was recorded."""


def _before_leaving(settings: Settings, gate: Callable[[], ConsentDecision]) -> Callable[[], None]:
    """What runs before each report leaves this machine; raising keeps it here.

    The user may choose ``local``, or withdraw consent (``disable`` in another
    terminal, ``<APP>_TELEMETRY=0`` set in the process), while a delivery is queued on
    the sending thread: asked again at the last moment, such a report waits in the
    outbox (which ``disable`` and ``local`` empty) and is not sent. The answer "send
    this error only" is the one denial that lets its report go: the gate says no to
    later reports after it (``prompt:answered``), not to this one. Nothing leaves on
    the server default before the notice is out.
    """
    notice = ServerNotice(settings).before_sending(gate)

    def before_leaving() -> None:
        decision = gate()
        withdrawn = decision.state == "denied" and decision.source != ANSWERED
        if decision.local or withdrawn:
            raise StaysLocal
        notice()

    return before_leaving


def build(
    settings: Settings,
    gate: Callable[[], ConsentDecision],
    route: Optional[SpanExporter] = None,
    key: Hashable = None,
    defer: Optional[Callable[[Callable[[], None], bool], None]] = None,
    *,
    withdrawn_ns: Optional[Callable[[], int]] = None,
    local: bool = False,
    later: Optional[Callable[[float, Callable[[], None]], None]] = None,
) -> Built:
    """Build the provider, the processor chain and the exporters in force.

    Args:
        settings: the host's settings, read now.
        gate: the consent decision, asked for every span.
        route: an exporter that replaces all others, with no outbox and no backoff
            file: the in-memory seam of :mod:`otel_telemetry.testing`.
        key: what the build was made from, kept with it.
        defer: runs a delivery on the sending thread (see ``SendingProcessor``).
        withdrawn_ns: when consent was last withdrawn; older waiting reports are not sent.
        later: runs a job on the sending thread at a time (see ``SendingProcessor``).
        local: the user chose ``local``: the ``file`` exporter alone records each report,
            whatever exporters are configured; a drain delivers only the reports that wait
            for ``file`` (what waits for an upload was consented under another choice).
    """
    # Exports run on this worker thread only, and the host's instrumentation
    # (requests, urllib3, grpc) must not trace them.
    attach(set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))
    # Every value a str (the SDK warns on stderr about any other type); scrubbed below
    # and by the processor before anything of it leaves.
    resource = Resource(resource_attributes(settings.app, settings.version, settings.environment()))
    scrubber = Scrubber(settings.scrubbing)
    if route is not None:
        sending = SendingProcessor({"testing": route}, outbox=None, backoff=None)
    else:
        layout = settings.layout()
        # Local mode: the file exporter alone, whatever is configured. Its drain delivers
        # only what waits for `file` (written at exit, or without the SDK, in local mode);
        # what waits for another exporter was consented for upload and keeps waiting.
        names = ("file",) if local else settings.exporter_names()
        exporters = create_exporters(names, settings.exporter_context())
        # Exporters that only write here (a file, the console) need no copy on disk first;
        # the outbox is still drained for them (an ending process may have left reports).
        remote = any(not delivers_locally(exporter) for exporter in exporters.values())
        outbox = Outbox(layout.outbox_dir, withdrawn_ns=withdrawn_ns) if exporters else None

        clean_resource = scrubber.new_pass().attributes(resource.attributes)

        def rescrub(record: Record) -> Record:
            return scrub_record(record, scrubber, email=gate().email, resource=clean_resource)

        sending = SendingProcessor(
            exporters,
            outbox,
            Backoff(layout.backoff_file),
            # A local write never waits on an endpoint: done at once, on the recorder.
            defer if remote else None,
            rescrub=rescrub,
            store_first=remote,
            notice=_before_leaving(settings, gate),
            sent=SentLog(layout.sent_dir),
            usage=lambda: gate().usage,
            later=later,
        )
    processor = TelemetrySpanProcessor(
        [sending],
        gate=gate,
        scrubber=scrubber,
        resource=resource,
        install_id=None if route is not None else lambda: load_or_create(settings.config_dir),
        local=local and route is None,
    )
    arguments = _isolated_provider_arguments(resource)
    provider = TracerProvider(**arguments)  # flushes and shuts the processor down
    provider.add_span_processor(processor)
    recorder = SpanRecorder(
        processor,
        resource,
        InstrumentationScope("otel_telemetry", __version__),
        arguments["id_generator"],
        max_attributes=SPAN_LIMITS["max_span_attributes"],
    )
    return Built(recorder, provider, processor, sending, key)


#: Every limit explicit, so that ``SpanLimits`` reads none of the host's
#: ``OTEL_ATTRIBUTE_*``, ``OTEL_SPAN_*_LIMIT``, ``OTEL_EVENT_*`` or ``OTEL_LINK_*``
#: variables: a host's small count limit would drop the type, message or audit of a
#: report (and the SDK would warn about it on the host's root logger), a length limit
#: would cut a secret short before it is scrubbed (our own bound, 32 KiB a string, is
#: applied after scrubbing). The counts are far above what a report holds.
SPAN_LIMITS = {
    "max_attributes": 64,
    "max_events": 8,
    "max_links": 0,
    "max_span_attributes": 64,
    "max_event_attributes": 64,
    "max_link_attributes": 0,
    "max_attribute_length": SpanLimits.UNSET,
    "max_span_attribute_length": SpanLimits.UNSET,
}


def _isolated_provider_arguments(resource: Resource) -> dict[str, Any]:
    """The ``TracerProvider`` arguments that leave nothing to the environment.

    The SDK reads the sampler (``OTEL_TRACES_SAMPLER*``) when none is given, the resource
    (``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_SERVICE_NAME``) when none is given, every
    limit given as None, and, from 1.39 on, ``OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED``
    to record its own metrics into the host's global meter provider: each is given here.
    No ``BatchSpanProcessor`` is used, so ``OTEL_BSP_*`` is never read either.
    """
    arguments: dict[str, Any] = {
        "sampler": ALWAYS_ON,
        "resource": resource,
        "id_generator": RandomIdGenerator(),
        "shutdown_on_exit": False,  # exit is bounded by Telemetry's own atexit flush
        "span_limits": SpanLimits(**SPAN_LIMITS),
    }
    if "meter_provider" in inspect.signature(TracerProvider.__init__).parameters:
        from opentelemetry.metrics import NoOpMeterProvider

        arguments["meter_provider"] = NoOpMeterProvider()
    return arguments
