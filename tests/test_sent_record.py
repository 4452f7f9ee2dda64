"""The record of what was sent, against real receivers; local mode; usage events by level."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from otel_telemetry._layout import Layout
from otel_telemetry.pipeline._outbox import Outbox
from otel_telemetry.pipeline._sent import MAX_BYTES, MAX_ENTRIES, SentLog
from tests.conftest import CAPTURE_ONE, otlp_env, run_python
from tests.payloads import attributes
from tests.unit import record_of

pytestmark = pytest.mark.integration

STATUS = "print(t.status())\n"


def _hex(value: str) -> str:
    """An id as protobuf's JSON mapping gives it (base64), in OTLP/JSON's hex."""
    return base64.b64decode(value).hex()


def _spans(document: dict) -> list[dict]:
    return [
        span
        for resource_spans in document["resourceSpans"]
        for scope_spans in resource_spans["scopeSpans"]
        for span in scope_spans["spans"]
    ]


def _message(span: dict) -> str:
    return attributes(span["events"][0]["attributes"])["exception.message"]


def test_a_report_delivered_over_otlp_is_recorded_under_its_ids(otlp_http, host_env, config_dir):
    env = otlp_env(host_env, otlp_http, ACME_TELEMETRY="1")

    result = run_python(CAPTURE_ONE + "assert delivered\n" + STATUS, env, check=True)

    received = otlp_http.wait_for(1)[0].span()
    [entry] = SentLog(Layout(config_dir).sent_dir).entries()
    assert entry.exporter == "otlp"
    assert entry.delivery_id == f"{_hex(received['traceId'])}/{_hex(received['spanId'])}"
    [recorded] = _spans(entry.document)
    assert (recorded["traceId"], recorded["spanId"]) == tuple(entry.delivery_id.split("/"))
    assert _message(recorded) == _message(received) == "a crash of the host"
    assert "sent 1" in result.stdout


def test_a_report_delivered_to_sentry_is_recorded_under_its_event_id(
    spotlight, host_env, config_dir
):
    host_env.update(ACME_TELEMETRY="1", ACME_SENTRY_DSN=spotlight.dsn())

    run_python(CAPTURE_ONE + "assert delivered\n", host_env, check=True)

    [event] = spotlight.errors(1)
    [entry] = SentLog(Layout(config_dir).sent_dir).entries()
    assert entry.exporter == "sentry"
    assert entry.delivery_id == event["event_id"]
    [recorded] = _spans(entry.document)
    assert _message(recorded) == event["exception"]["values"][-1]["value"]


def test_local_mode_uploads_nothing_and_leaves_the_outbox_alone(otlp_http, host_env, config_dir):
    layout = Layout(config_dir)
    waiting = Outbox(layout.outbox_dir).put(record_of("consented for upload earlier"), ["otlp"])
    assert waiting is not None
    Outbox(layout.outbox_dir).settle(waiting)
    [waiting_file] = layout.outbox_dir.iterdir()
    before = waiting_file.read_bytes()
    env = otlp_env(host_env, otlp_http, ACME_TELEMETRY="local")

    result = run_python(CAPTURE_ONE + "assert delivered\n" + STATUS, env, check=True)

    assert otlp_http.requests == []  # the process ended: anything it sent has arrived
    [stored] = [
        json.loads(line)
        for path in sorted(layout.reports_dir.iterdir())
        for line in path.read_text().splitlines()
    ]
    assert [_message(span) for span in _spans(stored)] == ["a crash of the host"]
    assert list(layout.outbox_dir.iterdir()) == [waiting_file]
    assert waiting_file.read_bytes() == before
    assert SentLog(layout.sent_dir).entries() == []  # nothing left the machine
    first = result.stdout.splitlines()[0]
    assert first.startswith("Telemetry for acme: local: recorded on this machine in ")
    assert "never uploaded" in first


@pytest.mark.parametrize(
    ("level", "names"),
    [
        pytest.param("1", ["exception"], id="crash: the event is dropped"),
        pytest.param("all", ["page_view", "exception"], id="all: the event is sent"),
    ],
)
def test_usage_events_leave_only_at_level_all(otlp_http, host_env, level, names):
    env = otlp_env(host_env, otlp_http, ACME_TELEMETRY=level)
    code = CAPTURE_ONE.replace(
        "try:", 't.send_event("page_view", {"page": "home"})\nt.flush(30)\ntry:', 1
    )

    result = run_python(
        code + "assert delivered\nimport json\nprint(json.dumps(t.status().drops))\n",
        env,
        check=True,
    )

    spans = [span["name"] for received in otlp_http.requests for span in received.spans()]
    assert spans == names
    drops = json.loads(result.stdout.strip().splitlines()[-1])
    assert drops["usage events off"] == (1 if level == "1" else 0)


ADDER = """
import sys, time
from pathlib import Path
from otel_telemetry.pipeline._sent import SentLog
log = SentLog(Path(sys.argv[1]))
index = int(sys.argv[2])
for n in range(30):
    document = {"resourceSpans": [], "who": [index, n], "pad": "x" * 20000}
    log.add(document, exporter="otlp", delivery_id=f"{index}/{n}", time_ns=time.time_ns())
"""


def _adders(code: str, sent_dir: Path, count: int) -> list[subprocess.Popen[str]]:
    """``count`` processes running ``code`` on ``sent_dir``, each given its index."""
    return [
        subprocess.Popen(
            [sys.executable, "-c", code, str(sent_dir), str(index)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for index in range(count)
    ]


def test_sixteen_processes_adding_at_once_keep_the_record_whole_and_bounded(tmp_path: Path):
    sent_dir = tmp_path / "config" / "telemetry" / "sent"
    processes = _adders(ADDER, sent_dir, 16)
    reads = torn = 0
    while any(p.poll() is None for p in processes):  # read while they write and prune
        time.sleep(0.01)  # pacing only: the writers share the machine with this loop
        for path in sent_dir.glob("*.json") if sent_dir.exists() else ():
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                continue  # pruned meanwhile
            reads += 1
            try:
                json.loads(data)
            except ValueError:
                torn += 1
    outputs = [p.communicate(timeout=120) for p in processes]

    assert [p.returncode for p in processes] == [0] * 16
    assert [err for _, err in outputs] == [""] * 16
    assert torn == 0, f"{torn} of {reads} reads saw a partial file"
    log = SentLog(sent_dir)
    entries = log.entries()
    assert 0 < len(entries) == log.count() <= MAX_ENTRIES
    assert sum(p.stat().st_size for p in sent_dir.iterdir()) <= MAX_BYTES
    assert [p.name for p in sent_dir.iterdir() if p.name.startswith(".")] == []
    assert [e.time_ns for e in entries] == sorted(e.time_ns for e in entries)


BATCH_ADDER = """
import sys, time
from pathlib import Path
from otel_telemetry.pipeline._sent import SentLog
log = SentLog(Path(sys.argv[1]))
index = int(sys.argv[2])
for n in range(8):
    copies = [
        ({"resourceSpans": [], "who": [index, n, k], "pad": "x" * 2000}, "otlp", f"{index}/{n}/{k}")
        for k in range(7 + index)
    ]
    log.add_many(copies, time_ns=time.time_ns())
"""


def test_processes_adding_batches_at_once_keep_the_record_whole_and_bounded(tmp_path: Path):
    """Batches are pruned by their reports, and a batch partly over is written again."""
    sent_dir = tmp_path / "config" / "telemetry" / "sent"
    processes = _adders(BATCH_ADDER, sent_dir, 8)
    outputs = [p.communicate(timeout=120) for p in processes]

    assert [p.returncode for p in processes] == [0] * 8
    assert [err for _, err in outputs] == [""] * 8
    log = SentLog(sent_dir)
    entries = log.entries()
    assert 0 < len(entries) == log.count() <= MAX_ENTRIES
    assert len({e.delivery_id for e in entries}) == len(entries)
    assert sum(p.stat().st_size for p in sent_dir.iterdir()) <= MAX_BYTES
    assert [p.name for p in sent_dir.iterdir() if p.name.startswith(".")] == []
    assert [e.time_ns for e in entries] == sorted(e.time_ns for e in entries)
    # The newest batch is there whole: what is dropped is the oldest.
    index, n, _ = entries[-1].delivery_id.split("/")
    newest = {f"{index}/{n}/{k}" for k in range(7 + int(index))}
    assert newest <= {e.delivery_id for e in entries}
