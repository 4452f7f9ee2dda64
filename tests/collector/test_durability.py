"""Promise: no report is lost between a host and the backend, whatever the agent suffers.

Issue 19, test 4. Real host processes (the library, its ``otlp`` exporter) send to
``agent.yaml`` as shipped (its file_storage sending queue in ``tmp_path``), which forwards
to ``gateway.yaml`` as shipped, which exports to the project's OTLP receiver (``backend``).

Timeline: reports flow end to end; the gateway is stopped (SIGTERM) for 20 s while hosts
keep sending; during that outage the agent is killed (SIGKILL) right after it acknowledged
a host's reports, a host sends while it is down (its reports wait in the library's outbox),
and the agent is restarted on the same queue directory; the gateway comes back and a last
host process sends what waits in the outbox. Every report arrives at the backend at least
once; copies are counted and printed (at-least-once delivery: the backend folds them by
span id).
"""

from __future__ import annotations

import json
import select
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Optional

import pytest
import requests
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from otel_telemetry._layout import Layout
from tests.collector.conftest import gateway_env
from tests.collector.otelcol import Collector, env_example
from tests.conftest import run_python
from tests.receivers.otlp import OtlpHttpReceiver

pytestmark = [pytest.mark.collector, pytest.mark.integration]

OUTAGE = 20.0  # seconds the gateway is down (the figure)
REPORTS = 2  # per host process, from two crash sites (the storm guard lets both through)
PAUSE = 0.5  # between two host processes: a steady trickle, a few dozen reports in all
DELIVERY = 60.0  # bound on the last report's way through agent and gateway once both are up

# A host of the example package: REPORTS handled crashes of acme's own code (one crash site
# each, so the storm guard lets all through), each message naming this process's tag, then a
# flush. Arguments: tag, REPORTS, and "hold": print "acked" after the flush and wait for
# stdin to close, so the test acts while the process still runs.
HOST = """
import sys, types
import acme
from acme.telemetry import telemetry

tag, reports = sys.argv[1], int(sys.argv[2])
site = types.ModuleType("acme.sites")
source = "".join(
    f"def crash{i}(tag):\\n    raise ValueError(f'durability {{tag}} {i}')\\n"
    for i in range(reports)
)
exec(compile(source, "acme/sites.py", "exec"), site.__dict__)
for i in range(reports):
    try:
        getattr(site, f"crash{i}")(tag)
    except ValueError as exc:
        telemetry.capture_exception(exc)
telemetry.flush(15)
if sys.argv[3:] == ["hold"]:
    print("acked", flush=True)
    sys.stdin.read()
"""

FINAL_FLUSH = "from acme.telemetry import telemetry; assert telemetry.flush(60)"


class Hosts:
    """Host processes sharing one config dir, and the reports they were asked to send."""

    def __init__(self, env: dict[str, str], config_dir: Path) -> None:
        self.env = env
        self.outbox = Layout(config_dir).outbox_dir
        self.tags: list[str] = []

    def _tag(self) -> str:
        tag = f"h{len(self.tags):03d}"
        self.tags.append(tag)
        return tag

    def run(self) -> str:
        """One host process, to its end; returns its tag."""
        tag = self._tag()
        run_python(HOST, self.env, tag, str(REPORTS), check=True)
        return tag

    def start_held(self) -> tuple[str, subprocess.Popen[str]]:
        """A host process that sends, then waits (after printing "acked") for its stdin."""
        tag = self._tag()
        process = subprocess.Popen(
            [sys.executable, "-c", HOST, tag, str(REPORTS), "hold"],
            env=self.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 60)
        line = process.stdout.readline() if ready else ""
        if line.strip() != "acked":
            process.kill()
            _, stderr = process.communicate(timeout=10)
            raise AssertionError(f"the held host did not flush: {line!r}\n{stderr}")
        return tag, process

    def expected(self) -> set[str]:
        return {f"durability {tag} {i}" for tag in self.tags for i in range(REPORTS)}

    def waiting(self) -> list[str]:
        """The messages of the reports waiting in the outbox (sorted)."""
        if not self.outbox.exists():
            return []
        messages: list[str] = []
        for path in self.outbox.iterdir():
            if path.name.startswith("."):
                continue
            try:
                document = json.loads(path.read_text("utf-8"))
            except (OSError, ValueError):
                continue  # claimed (renamed) or removed meanwhile
            # One report, or a batch of them recorded together.
            for record in document.get("reports", [document]):
                messages.extend(
                    str(event["attributes"]["exception.message"])
                    for event in record["span"]["events"]
                )
        return sorted(messages)


def _messages(receiver: OtlpHttpReceiver) -> Counter[str]:
    """Each report's message, as many times as a copy of it arrived."""
    with receiver.cond:
        requests = list(receiver.requests)
    counts: Counter[str] = Counter()
    for received in requests:
        for span in received.spans():
            for event in span.get("events", []):
                for item in event.get("attributes", []):
                    if item["key"] == "exception.message":
                        counts[str(item["value"]["stringValue"])] += 1
    return counts


def _wait_for(receiver: OtlpHttpReceiver, expected: set[str], timeout: float) -> Counter[str]:
    """The messages received, once every one of ``expected`` is among them (or at timeout)."""
    with receiver.cond:  # a Condition's lock is re-entrant: _messages takes it again
        receiver.cond.wait_for(lambda: expected <= set(_messages(receiver)), timeout)
    return _messages(receiver)


def _queue_size(agent: Collector) -> float:
    """What the agent's sending queue holds (requests), from its own metrics."""
    return agent.metrics().get("otelcol_exporter_queue_size", 0.0)


def _explain(missing: set[str], agent: Collector, gateway: Collector, hosts: Hosts) -> str:
    return (
        f"{len(missing)} report(s) never arrived: {sorted(missing)}\n"
        f"still in the outbox: {hosts.waiting()}\n"
        f"--- agent log\n{_short(agent.log_tail(12))}\n"
        f"--- gateway log\n{_short(gateway.log_tail(6))}"
    )


def _short(log: str) -> str:
    """A JSON log's lines as their message and error only (the rest is the same each line)."""
    lines = []
    for line in log.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            lines.append(line)
            continue
        lines.append(" ".join(str(entry[key]) for key in ("ts", "msg", "error") if key in entry))
    return "\n".join(lines)


@pytest.mark.timeout(240)  # a 20 s outage and bounded waits; 30-50 s when it passes
def test_every_report_survives_a_gateway_outage_and_an_agent_killed_mid_flight(
    tmp_path: Path,
    host_env: dict[str, str],
    config_dir: Path,
    backend: OtlpHttpReceiver,
    sentry_otlp: OtlpHttpReceiver,
) -> None:
    started = time.monotonic()
    gateway = Collector("gateway.yaml", tmp_path, gateway_env(backend, sentry_otlp))
    queue_dir = tmp_path / "agent-queue"
    agent = Collector(
        "agent.yaml",
        tmp_path,
        {
            "OTEL_GATEWAY_ENDPOINT": gateway.grpc_endpoint,
            "OTEL_GATEWAY_INSECURE": "true",
            "OTEL_AGENT_QUEUE_DIR": str(queue_dir),
        },
    )
    hosts = Hosts(
        {
            **host_env,
            "ACME_TELEMETRY": "1",
            "ACME_TELEMETRY_EXPORTER": "otlp",
            "ACME_OTLP_ENDPOINT": agent.http_endpoint,
        },
        config_dir,
    )
    held: Optional[subprocess.Popen[str]] = None
    try:
        gateway.start()
        agent.start()

        # 1. Reports flow end to end.
        hosts.run()
        hosts.run()
        flowing = _wait_for(backend, hosts.expected(), 30)
        assert hosts.expected() <= set(flowing), _explain(
            hosts.expected() - set(flowing), agent, gateway, hosts
        )

        # 2. The gateway goes away (as an orchestrator stops it); hosts keep sending, and
        #    the agent acknowledges every report (none waits in the outbox).
        gateway.stop()
        outage = time.monotonic()
        while time.monotonic() - outage < 5:
            hosts.run()
            time.sleep(PAUSE)
        assert hosts.waiting() == []

        # 3. The agent dies (SIGKILL) within milliseconds of acknowledging a host's
        #    reports: what it answered for must already be on disk. A `batch` processor
        #    in front of the exporter would hold them in memory (up to its timeout): this
        #    step is what catches it.
        acknowledged = _queue_size(agent)
        tag, held = hosts.start_held()
        assert hosts.waiting() == [], "the agent did not acknowledge the held host's reports"
        agent.kill()
        assert held.stdin is not None
        held.stdin.close()
        assert held.wait(30) == 0
        held = None
        killed = tag

        # 4. While the agent is down, a host's reports wait in the library's outbox.
        tag = hosts.run()
        assert hosts.waiting() == [f"durability {tag} {i}" for i in range(REPORTS)]

        # 5. The agent comes back on the same queue directory, the gateway still away:
        #    what it held before its death is in its queue again, and hosts keep sending.
        agent.start()
        restored = _queue_size(agent)
        assert restored > acknowledged, (
            "the restarted agent's queue lacks what it acknowledged just before its death "
            f"({restored:.0f} requests, {acknowledged:.0f} before the held host)\n"
            + _short(agent.log_tail(12))
        )
        while time.monotonic() - outage < OUTAGE:
            hosts.run()
            time.sleep(PAUSE)

        # 6. The gateway returns; hosts go on, and a last process sends what waits on disk.
        gateway.start()
        hosts.run()
        run_python(FINAL_FLUSH, hosts.env, check=True)
        assert hosts.waiting() == []

        expected = hosts.expected()
        received = _wait_for(backend, expected, DELIVERY)
        missing = expected - set(received)
        assert not missing, _explain(missing, agent, gateway, hosts) + (
            f"\n(acknowledged just before the SIGKILL: {killed})"
        )
        assert set(received) == expected  # nothing else arrived either
        duplicates = sum(received.values()) - len(received)
        print(
            f"\ndurability: {len(expected)} reports from {len(hosts.tags)} host processes, "
            f"{duplicates} duplicate(s) "
            f"({sorted(m for m, n in received.items() if n > 1)}), "
            f"{time.monotonic() - started:.1f} s"
        )
    finally:
        if held is not None:
            held.kill()
            held.wait(10)
        agent.close()
        gateway.close()


def _large_report(number: int, size: int) -> bytes:
    """An OTLP/HTTP request of one crash report whose stack text is ``size`` bytes (a deep
    traceback), numbered by its span's ``acme.number``."""
    frames = ["Traceback (most recent call last):\n"]
    line = 0
    while sum(map(len, frames)) < size:
        line += 1
        frames.append(
            f'  File "/opt/venv/lib/python3.11/site-packages/acme/m{line % 97}.py",'
            f" line {line}, in step_{line}\n    result = step_{line + 1}(state)\n"
        )
    frames.append("ValueError: the crawl stopped")
    attribute = common_pb2.KeyValue
    span = trace_pb2.Span(
        trace_id=(number + 1).to_bytes(16, "big"),
        span_id=(number + 1).to_bytes(8, "big"),
        name="exception",
        start_time_unix_nano=1,
        end_time_unix_nano=2,
        attributes=[attribute(key="acme.number", value=common_pb2.AnyValue(int_value=number))],
        events=[
            trace_pb2.Span.Event(
                time_unix_nano=1,
                name="exception",
                attributes=[
                    attribute(
                        key="exception.type", value=common_pb2.AnyValue(string_value="ValueError")
                    ),
                    attribute(
                        key="exception.stacktrace",
                        value=common_pb2.AnyValue(string_value="".join(frames)),
                    ),
                ],
            )
        ],
    )
    request = trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[
            trace_pb2.ResourceSpans(
                resource=resource_pb2.Resource(
                    attributes=[
                        attribute(
                            key="service.name", value=common_pb2.AnyValue(string_value="acme")
                        )
                    ]
                ),
                scope_spans=[trace_pb2.ScopeSpans(spans=[span])],
            )
        ]
    )
    return request.SerializeToString()


def _numbers(receiver: OtlpHttpReceiver) -> Counter[int]:
    return Counter(
        int(span["attributes"][0]["value"]["intValue"])
        for received in list(receiver.requests)
        for span in received.spans()
    )


LARGE_REPORTS = 260
LARGE_SIZE = 17_000  # bytes of stack text: 256 of them weigh over 4 MiB


@pytest.mark.timeout(120)  # 260 requests, then a backlog of 4.4 MB through the gateway
def test_a_backlog_of_large_reports_reaches_the_gateway_in_batches_it_accepts(
    tmp_path: Path, backend: OtlpHttpReceiver, sentry_otlp: OtlpHttpReceiver
):
    # The gateway's gRPC receiver refuses a request over 4 MiB as a permanent error, which
    # the agent's exporter drops: its batches must stay under that, whatever the reports
    # weigh. Reports pile up in the agent's queue while no gateway runs, then go out.
    gateway = Collector("gateway.yaml", tmp_path, gateway_env(backend, sentry_otlp))
    agent = Collector(
        "agent.yaml",
        tmp_path,
        {
            **env_example(),
            "OTEL_GATEWAY_ENDPOINT": gateway.grpc_endpoint,
            "OTEL_GATEWAY_INSECURE": "true",
            "OTEL_AGENT_QUEUE_DIR": str(tmp_path / "queue"),
        },
    )
    session = requests.Session()
    session.trust_env = False
    try:
        agent.start()
        for number in range(LARGE_REPORTS):
            reply = session.post(
                f"{agent.http_endpoint}/v1/traces",
                data=_large_report(number, LARGE_SIZE),
                headers={"Content-Type": "application/x-protobuf"},
                timeout=30,
            )
            assert reply.status_code == 200, reply.text  # acknowledged: on the agent's disk
        gateway.start()
        deadline = time.monotonic() + 60
        while len(_numbers(backend)) < LARGE_REPORTS and time.monotonic() < deadline:
            time.sleep(0.2)
        arrived = _numbers(backend)
        assert set(arrived) == set(range(LARGE_REPORTS)), (
            f"{LARGE_REPORTS - len(arrived)} acknowledged reports lost\n{agent.log_tail()}"
        )
        # Nothing dropped (the gRPC client's warnings while no gateway ran are expected).
        assert [line for line in agent.problems() if '"level":"warn"' not in line] == []
        assert "Dropping data" not in agent.log.read_text()
    finally:
        session.close()
        agent.close()
        gateway.close()


@pytest.mark.timeout(120)  # 120 requests against a full queue, then the backend's return
def test_a_gateway_whose_queue_is_full_refuses_and_loses_nothing_it_accepted(
    tmp_path: Path, backend: OtlpHttpReceiver, sentry_otlp: OtlpHttpReceiver
):
    # The backend answers 503 throughout; its exporter's queue (here 400 kB instead of
    # 64 MiB, so that the test need not scrub 64 MiB) fills. What the gateway then accepts
    # must reach the backend when it is back, and what it cannot keep it must refuse with
    # a retryable status: a `batch` processor in front of the exporters answered 200 and
    # dropped it (a red team's finding).
    backend.down = True
    gateway = Collector(
        "gateway.yaml",
        tmp_path,
        gateway_env(backend, sentry_otlp),
        overrides={
            "exporters": {
                "otlp_http/backend": {
                    "sending_queue": {"queue_size": 400_000, "batch": {"min_size": 200_000}}
                }
            }
        },
    )
    session = requests.Session()
    session.trust_env = False
    statuses = {}
    try:
        gateway.start()
        for number in range(120):
            statuses[number] = session.post(
                f"{gateway.http_endpoint}/v1/traces",
                data=_large_report(number, 4_000),
                headers={"Content-Type": "application/x-protobuf"},
                timeout=30,
            ).status_code
        accepted = {number for number, status in statuses.items() if status == 200}
        assert set(statuses.values()) == {200, 503}, statuses  # some refused, retryable
        backend.down = False
        deadline = time.monotonic() + 60
        while not accepted <= set(_numbers(backend)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert accepted <= set(_numbers(backend)), (
            f"{len(accepted - set(_numbers(backend)))} accepted reports lost"
        )
        assert gateway.metrics()["otelcol_receiver_refused_spans"] == 120 - len(accepted)
    finally:
        session.close()
        gateway.close()
