"""The gateway under load, and under a memory_limiter set low enough to refuse (issue 19, 5).

50 senders, each with a plain OpenTelemetry SDK ``OTLPSpanExporter`` of its own (OTLP/HTTP,
protobuf; threads of this process), send 200 crash reports each: 10,000 spans, each with an
``exception`` event and an id of its own, one span per export, as a host sends them. A
sender retries an export until the gateway accepts it, as a real client does: the SDK's
exporter retries 429 and 503 itself (1 s, 2 s, 4 s... within its 10 s timeout), and the
sender sends again what the exporter gave up on, as a host's outbox does.

Both receivers of the gateway (``otlp_http/backend`` and ``otlp_http/sentry``) count every
id: each must arrive; a duplicate can only come from an export that was retried. At the
backend the test measures reports per second and each report's latency, from the end of
its span (the moment before its export) to the arrival of the request that carried it,
both read on this machine's clock. The gateway's peak RSS is its VmHWM, its CPU time is
read from /proc. The receivers are not the bottleneck: one takes ~3 ms for a request of
512 spans (~150,000 spans/s), and the gateway sends them ~20 such requests per run. The
senders (one Python process) and the gateway share the machine's cores, so the rates are
what this machine does with both, not the gateway's ceiling; its CPU time per report is.

The second test sends the same load through a gateway whose ``memory_limiter`` is set far
below what the load needs (an override; the rest is gateway.yaml as shipped): the gateway
refuses data (503, counted by its own metrics and by the senders), the senders retry, and
still every id arrives, each accepted by the gateway exactly once.

``pytest -s`` prints the figures (README's collector section quotes them).
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import pytest
import requests
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.trace import StatusCode

from tests.collector.otelcol import Collector, env_example
from tests.receivers.otlp import OtlpHttpReceiver, Received

pytestmark = [pytest.mark.collector, pytest.mark.integration]

SENDERS = 50
REPORTS = 200
ID_KEY = "load.report_id"
SEND_DEADLINE = 75.0
"""Seconds every sender has for all its reports, retries included, before the test fails."""
ARRIVAL_DEADLINE = 30.0
"""Seconds the last reports have to reach the receivers once every sender is done (the
gateway's exporters send a batch at least every 2 s)."""
RETRY_PAUSE = 0.2
"""Seconds a sender waits before sending again an export its exporter gave up on."""

LOW_FACTOR = 2.5
"""The low memory_limiter's soft limit, in times the Go heap the idle gateway keeps alive
(measured first: it grows with every regex of gateway.yaml, and so does the garbage each
report leaves)."""
LOW_SPIKE_MIB = 4


def low_soft_limit_mib(live_mib: int) -> int:
    """The soft limit of ``low_memory_limiter(live_mib)``."""
    return max(round(LOW_FACTOR * live_mib), live_mib + 4)


def low_memory_limiter(live_mib: int) -> dict[str, Any]:
    """A memory_limiter whose soft limit is ``LOW_FACTOR`` times the idle live heap.

    memory_limiter measures the heap with its garbage. Under this load the heap swings
    between about 2.5 and 4 times the idle live heap (the reports in flight, then
    their garbage until the next collection): the gateway crosses the soft limit within a
    second of load and refuses, hundreds of times a run. Checked every 100 ms, with a
    forced collection at most 250 ms to 1 s apart while it refuses, it accepts again as
    soon as a collection brings the heap back under the limit, which it always can once
    the load eases (the soft limit is far above the idle live heap): it refuses in short
    spells, never for good. Nearer the idle live heap (1.4 times) the reports in flight
    alone keep it refusing, and the senders, backing off, take minutes.
    """
    soft = low_soft_limit_mib(live_mib)
    return {
        "check_interval": "100ms",
        "limit_mib": soft + LOW_SPIKE_MIB,
        "spike_limit_mib": LOW_SPIKE_MIB,
        "limit_percentage": 0,
        "spike_limit_percentage": 0,
        "min_gc_interval_when_soft_limited": "250ms",
        "max_gc_interval_when_soft_limited": "1s",
        "max_gc_interval_when_hard_limited": "1s",
    }


# A traceback as the library sends it: relative file names, nothing the gateway's
# scrubbing rules touch.
STACKTRACE = (
    "Traceback (most recent call last):\n"
    '  File "demo_host/cli.py", line 42, in main\n'
    "    run(arguments)\n"
    '  File "demo_host/runner.py", line 118, in run\n'
    "    result = step.execute(context)\n"
    '  File "demo_host/steps.py", line 77, in execute\n'
    "    return self.table[key]\n"
    "KeyError: 'missing'\n"
)

EXPECTED = frozenset(
    f"s{sender}n{number}" for sender in range(SENDERS) for number in range(REPORTS)
)


class TimedReceiver(OtlpHttpReceiver):
    """The project's OTLP/HTTP receiver, noting when each request arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.arrivals: list[tuple[int, Received]] = []

    def add(self, item: Received) -> None:
        arrived = time.time_ns()
        with self.cond:
            self.arrivals.append((arrived, item))
        super().add(item)

    def reports(self) -> list[tuple[str, int, int]]:
        """Every span that arrived: its id, the end of the span and its arrival, in ns."""
        with self.cond:
            arrivals = list(self.arrivals)
        found = []
        for arrived, received in arrivals:
            for resource_spans in received.request.resource_spans:
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        ids = [kv.value.string_value for kv in span.attributes if kv.key == ID_KEY]
                        found.append((ids[0] if ids else "", span.end_time_unix_nano, arrived))
        return found

    def span_count(self) -> int:
        with self.cond:
            return sum(
                len(scope_spans.spans)
                for _, received in self.arrivals
                for resource_spans in received.request.resource_spans
                for scope_spans in resource_spans.scope_spans
            )


@pytest.fixture
def receivers() -> Iterator[tuple[TimedReceiver, TimedReceiver]]:
    """The gateway's backend and Sentry OTLP endpoint, both timed."""
    backend, sentry = TimedReceiver(), TimedReceiver()
    with backend, sentry:
        yield backend, sentry


@dataclass
class Sent:
    """What the senders saw: every HTTP status, and exports their exporter gave up on."""

    statuses: Counter[int] = field(default_factory=Counter)
    exports_failed: int = 0
    errors: list[str] = field(default_factory=list)
    started_ns: int = 0
    finished_ns: int = 0
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _sender(index: int, endpoint: str, provider: TracerProvider, sent: Sent) -> None:
    statuses: Counter[int] = Counter()
    session = requests.Session()
    session.hooks["response"].append(lambda reply, **_: statuses.update([reply.status_code]))
    exporter = OTLPSpanExporter(endpoint=endpoint, session=session, timeout=10)
    tracer = provider.get_tracer("load", "1.0")
    failed = 0
    deadline = time.monotonic() + SEND_DEADLINE
    try:
        for number in range(REPORTS):
            span = tracer.start_span(
                "exception",
                attributes={
                    ID_KEY: f"s{index}n{number}",
                    "otel_telemetry.mechanism": "excepthook",
                    "otel_telemetry.handled": False,
                },
            )
            span.add_event(
                "exception",
                {
                    "exception.type": "KeyError",
                    "exception.message": "'missing'",
                    "exception.stacktrace": STACKTRACE,
                },
            )
            span.set_status(StatusCode.ERROR)
            span.end()
            assert isinstance(span, ReadableSpan)
            while exporter.export([span]) is not SpanExportResult.SUCCESS:
                failed += 1
                if sent.stop.is_set() or time.monotonic() > deadline:
                    raise AssertionError(f"sender {index}: report {number} never accepted")
                time.sleep(RETRY_PAUSE)
    except BaseException as error:  # the main thread fails the test with it
        with sent.lock:
            sent.errors.append(repr(error))
    finally:
        exporter.shutdown()
        with sent.lock:
            sent.statuses.update(statuses)
            sent.exports_failed += failed


def _send(endpoint: str) -> Sent:
    """50 senders x 200 reports to ``endpoint``; returns once every report is accepted."""
    provider = TracerProvider(
        resource=Resource.create(
            {"service.name": "load-host", "service.version": "1.0", "os.type": "linux"}
        )
    )
    sent = Sent()
    threads = [
        threading.Thread(target=_sender, args=(index, endpoint, provider, sent), daemon=True)
        for index in range(SENDERS)
    ]
    sent.started_ns = time.time_ns()
    try:
        for thread in threads:
            thread.start()
        # An export in flight ends within the exporter's 10 s timeout.
        end = time.monotonic() + SEND_DEADLINE + 15
        for thread in threads:
            thread.join(max(0.0, end - time.monotonic()))
    finally:
        sent.stop.set()  # whatever happened, no sender outlives the test
    sent.finished_ns = time.time_ns()
    assert not [thread for thread in threads if thread.is_alive()], "a sender never finished"
    assert not sent.errors, sent.errors[:5]
    return sent


@dataclass
class Figures:
    """What a receiver measured."""

    unique: int
    duplicates: int
    missing: list[str]
    per_second: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float

    def __str__(self) -> str:
        return (
            f"{self.unique} reports ({self.duplicates} duplicates), {self.per_second:.0f}/s "
            f"from the first send to the last arrival; latency p50 {self.p50_ms:.0f} ms, "
            f"p95 {self.p95_ms:.0f} ms, p99 {self.p99_ms:.0f} ms, max {self.max_ms:.0f} ms"
        )


def _percentile(ordered: list[int], fraction: float) -> int:
    return ordered[min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1)]


def _measure(receiver: TimedReceiver, sent: Sent, deadline: float) -> Figures:
    """Wait until every report is there or ``deadline`` (monotonic), then count and time
    what arrived."""
    while receiver.span_count() < len(EXPECTED) and time.monotonic() < deadline:
        time.sleep(0.1)
    first: dict[str, tuple[int, int]] = {}
    total = 0
    for report_id, ended, arrived in receiver.reports():
        total += 1
        if report_id not in first or arrived < first[report_id][1]:
            first[report_id] = (ended, arrived)
    if not first:
        raise AssertionError("no report arrived")
    latencies = sorted(arrived - ended for ended, arrived in first.values())
    last = max(arrived for _, arrived in first.values())
    return Figures(
        unique=len(first),
        duplicates=total - len(first),
        missing=sorted(EXPECTED - set(first))[:10],
        per_second=len(first) / ((last - sent.started_ns) / 1e9),
        p50_ms=_percentile(latencies, 0.50) / 1e6,
        p95_ms=_percentile(latencies, 0.95) / 1e6,
        p99_ms=_percentile(latencies, 0.99) / 1e6,
        max_ms=latencies[-1] / 1e6,
    )


@dataclass
class Run:
    """One load through one gateway."""

    sent: Sent
    backend: Figures
    sentry: Figures
    metrics: dict[str, float]
    peak_rss_kib: int
    cpu_seconds: float
    heap_before_mib: float

    def report(self, title: str) -> str:
        accepted_s = (self.sent.finished_ns - self.sent.started_ns) / 1e9
        return (
            f"\n{title}: {SENDERS} senders x {REPORTS} reports, all accepted in "
            f"{accepted_s:.1f} s ({len(EXPECTED) / accepted_s:.0f}/s)\n"
            f"  backend: {self.backend}\n  sentry:  {self.sentry}\n"
            f"  senders saw {dict(self.sent.statuses)}; {self.sent.exports_failed} exports "
            f"given up by the exporter and sent again\n"
            f"  gateway: refused {self.metrics.get('otelcol_receiver_refused_spans', 0):.0f} "
            f"spans (memory_limiter: "
            f"{self.metrics.get('otelcol_processor_memory_limiter_refused_spans', 0):.0f}), "
            f"accepted {self.metrics.get('otelcol_receiver_accepted_spans', 0):.0f}; "
            f"peak RSS {self.peak_rss_kib / 1024:.0f} MiB, heap before the load "
            f"{self.heap_before_mib:.1f} MiB, CPU {self.cpu_seconds:.1f} s "
            f"({self.cpu_seconds / len(EXPECTED) * 1e6:.0f} µs per report)"
        )


def _heap_mib(collector: Collector) -> float:
    """The gateway's Go heap in use (what memory_limiter measures), in MiB."""
    deadline = time.monotonic() + 10
    while True:
        heap = collector.metrics().get("otelcol_process_runtime_heap_alloc_bytes")
        if heap:
            return heap / 2**20
        if time.monotonic() > deadline:
            raise AssertionError("the gateway reports no otelcol_process_runtime_heap_alloc_bytes")
        time.sleep(0.2)


def _env(receivers: tuple[TimedReceiver, TimedReceiver]) -> dict[str, str]:
    backend, sentry = receivers
    return {
        **env_example(),
        "BACKEND_OTLP_ENDPOINT": backend.endpoint,
        "SENTRY_OTLP_TRACES_ENDPOINT": f"{sentry.endpoint}/v1/traces",
    }


def _live_heap_mib(tmp_path: Path, env: dict[str, str]) -> int:
    """What the idle gateway keeps alive, in whole MiB of Go heap.

    A gateway whose memory_limiter is below anything forces a collection at its first
    check and logs the heap left ("Memory usage after GC.", ``cur_mem_mib``).
    """
    below_anything = {
        "check_interval": "100ms",
        "limit_mib": 2,
        "spike_limit_mib": 1,
        "limit_percentage": 0,
        "spike_limit_percentage": 0,
    }
    probe = Collector(
        "gateway.yaml",
        tmp_path,
        env,
        overrides={"processors": {"memory_limiter": below_anything}},
        name="live-heap",
    )
    with probe:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            for line in probe.log.read_text(errors="replace").splitlines():
                if "Memory usage after GC" in line:
                    return int(json.loads(line)["cur_mem_mib"])
            time.sleep(0.05)
    raise AssertionError(f"the gateway never logged its heap after a GC:\n{probe.log_tail()}")


def _run(
    tmp_path: Path,
    receivers: tuple[TimedReceiver, TimedReceiver],
    overrides: Optional[dict[str, Any]] = None,
) -> Run:
    backend, sentry = receivers
    with Collector("gateway.yaml", tmp_path, _env(receivers), overrides=overrides) as collector:
        heap_before = _heap_mib(collector)
        cpu_before = collector.cpu_seconds()
        sent = _send(f"{collector.http_endpoint}/v1/traces")
        arrival = time.monotonic() + ARRIVAL_DEADLINE
        figures = _measure(backend, sent, arrival), _measure(sentry, sent, arrival)
        return Run(
            sent=sent,
            backend=figures[0],
            sentry=figures[1],
            metrics=collector.metrics(),
            peak_rss_kib=collector.rss_kib()[1],
            cpu_seconds=collector.cpu_seconds() - cpu_before,
            heap_before_mib=heap_before,
        )


def _assert_every_report_arrived_once(run: Run) -> None:
    for figures in (run.backend, run.sentry):
        assert not figures.missing, f"{len(EXPECTED) - figures.unique} lost, e.g. {figures.missing}"
        assert figures.unique == len(EXPECTED)
        # Only an export sent again can arrive twice.
        assert figures.duplicates <= run.sent.exports_failed
    # The gateway took each report exactly once: the senders' 200s are its accepted spans.
    assert run.metrics["otelcol_receiver_accepted_spans"] == len(EXPECTED)
    assert run.sent.statuses[200] == len(EXPECTED)


@pytest.mark.timeout(120)  # 10,000 exports from one process on 2 cores: ~20 s here
def test_every_report_arrives_under_load(
    tmp_path: Path, receivers: tuple[TimedReceiver, TimedReceiver], record_property: Any
) -> None:
    run = _run(tmp_path, receivers)
    print(run.report("gateway.yaml as shipped"))
    record_property("load", run.report("gateway.yaml as shipped"))

    _assert_every_report_arrived_once(run)
    # The shipped memory_limiter lets this load through untouched.
    assert run.metrics["otelcol_receiver_refused_spans"] == 0
    assert set(run.sent.statuses) == {200}


@pytest.mark.timeout(150)  # refusals slow the senders down: ~30 s here
def test_a_low_memory_limiter_refuses_and_the_senders_retry(
    tmp_path: Path, receivers: tuple[TimedReceiver, TimedReceiver], record_property: Any
) -> None:
    live = _live_heap_mib(tmp_path, _env(receivers))
    limiter = low_memory_limiter(live)
    run = _run(tmp_path, receivers, overrides={"processors": {"memory_limiter": limiter}})
    title = (
        f"memory_limiter at {low_soft_limit_mib(live)} MiB soft, {limiter['limit_mib']} MiB "
        f"hard (live heap at idle: {live} MiB)"
    )
    print(run.report(title))
    record_property("load_refused", run.report(title))

    refused = run.metrics["otelcol_receiver_refused_spans"]
    assert refused > 0, "the gateway never refused: LOW_FACTOR is not low enough"
    # The memory limiter refused them, and every refusal reached a sender as a 503 (one
    # span per export), which it retried.
    assert run.metrics.get("otelcol_processor_memory_limiter_refused_spans") == refused
    assert run.sent.statuses[503] == refused
    assert set(run.sent.statuses) == {200, 503}
    _assert_every_report_arrived_once(run)
