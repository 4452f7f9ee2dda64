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
from typing import TYPE_CHECKING, Any, Callable, Optional

from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, attach, set_value
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

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
from ._spans import SpanRecorder

if TYPE_CHECKING:
    from otel_telemetry._settings import Settings
    from otel_telemetry.consent._precedence import ConsentDecision


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
