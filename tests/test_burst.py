"""Bursts: many crashes in one process, recorded and sent in batches (issue 20, goals 3-4).

Real OTLP receiver on loopback, real host processes. The outbox's bounds are raised in
the host (a burst larger than the default 200 waiting reports is the point), and what
arrives is counted at the receiver: every report once, in far fewer requests than reports.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from otel_telemetry._layout import Layout
from otel_telemetry.pipeline._outbox import report_count
from tests.conftest import free_port, otlp_env, run_python
from tests.payloads import attributes

pytestmark = pytest.mark.integration

BURST = 10_000

# Distinct crashes: each its own exception type (the storm guard tells crashes apart by
# type and place), raised and reported one after another with nothing in between.
HOST = """
import sys
import otel_telemetry.pipeline._outbox as outbox
outbox.MAX_REPORTS = 1_000_000  # the burst fits the outbox: nothing may be dropped there
outbox.MAX_BYTES = 10**10
from otel_telemetry import Telemetry

count, distinct = int(sys.argv[1]), sys.argv[2] == "distinct"
t = Telemetry(app="acme", package="__main__", storm_limit=10**6 if distinct else 5)
kinds = [type(f"Crash{i}", (ValueError,), {}) for i in range(count)] if distinct else []

def crash(i):
    try:
        raise (kinds[i] if distinct else ValueError)(f"crash number {i}")
    except ValueError as exc:
        t.capture_exception(exc)

for i in range(count):
    crash(i)
print(t.flush(300), json.dumps(t.pipeline.drops()))
""".replace("import sys", "import json, sys", 1)


def _messages(spans: list[dict]) -> Counter[str]:
    return Counter(
        attributes(event["attributes"])["exception.message"]
        for span in spans
        for event in span["events"]
    )


def test_a_burst_of_distinct_crashes_arrives_whole_once_in_few_requests(host_env, otlp_http):
    env = otlp_env(host_env, otlp_http, ACME_TELEMETRY="1")

    result = run_python(HOST, env, str(BURST), "distinct")

    assert result.returncode == 0, result.stderr
    flushed, drops = result.stdout.split(" ", 1)
    assert flushed == "True"
    assert set(json.loads(drops).values()) == {0}  # nothing dropped, for any reason
    spans = otlp_http.wait_for_spans(BURST, timeout=120)
    assert len(spans) == BURST
    assert len({span["spanId"] for span in spans}) == BURST  # each report once
    assert _messages(spans) == {f"crash number {i}": 1 for i in range(BURST)}  # each crash once
    # Batched: one request per batch of up to 512, not one per report.
    assert len(otlp_http.requests) <= BURST // 100
    assert not Layout(Path(env["ACME_CONFIG_DIR"])).outbox_dir.exists() or not os.listdir(
        Layout(Path(env["ACME_CONFIG_DIR"])).outbox_dir
    )


def test_a_burst_of_identical_crashes_still_collapses(host_env, otlp_http):
    env = otlp_env(host_env, otlp_http, ACME_TELEMETRY="1")

    result = run_python(HOST, env, str(BURST), "identical")

    assert result.returncode == 0, result.stderr
    assert result.stdout.split(" ", 1)[0] == "True"
    time.sleep(0.5)  # the report sent at exit, with the count of the rest
    counts = [
        int(attributes(span["attributes"]).get("otel_telemetry.occurrences", 1))
        for request in otlp_http.requests
        for span in request.spans()
    ]
    # 5 per window, then one report carrying the count of the others (at exit).
    assert len(counts) <= 7
    assert sum(counts) == BURST


OLDER = """
from otel_telemetry import Telemetry
t = Telemetry(app="acme", package="__main__")
t.pipeline.schedule_drain()
print(t.flush(60))
"""


def test_a_report_an_older_version_left_in_the_outbox_is_sent_once(host_env, otlp_http):
    from otel_telemetry.pipeline._records import span_to_record
    from otel_telemetry.pipeline._report import FORMAT
    from tests.unit import exception_span

    env = otlp_env(host_env, otlp_http, ACME_TELEMETRY="1")
    outbox = Layout(Path(env["ACME_CONFIG_DIR"])).outbox_dir
    outbox.mkdir(parents=True, mode=0o700)
    record = span_to_record(exception_span(message="left by an older version"))
    document = {"format": FORMAT, "pending": ["otlp"], "span": record}
    (outbox / f"{time.time_ns():020d}-0123456789ab.json").write_text(json.dumps(document))

    for _ in range(2):  # a second run finds nothing more to send
        result = run_python(OLDER, env)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "True"

    [request] = otlp_http.wait_for(1)
    time.sleep(0.3)
    assert len(otlp_http.requests) == 1
    assert _messages(request.spans()) == {"left by an older version": 1}
    assert os.listdir(outbox) == []


# Crashes go on and on, every delivery refused (nothing listens on the port): batch after
# batch is written to the outbox, until the process is killed in the middle of one.
ENDLESS = """
import otel_telemetry.pipeline._outbox as outbox
outbox.MAX_REPORTS = 1_000_000
outbox.MAX_BYTES = 10**10
import sys
from otel_telemetry import Telemetry
t = Telemetry(app="acme", package="__main__", storm_limit=10**6)
i = 0
while True:
    kind = type(f"Crash{i}", (ValueError,), {})
    try:
        raise kind(f"crash number {i}")
    except ValueError as exc:
        t.capture_exception(exc)
    i += 1
    if i == 2000:
        sys.stdout.write("running\\n")
        sys.stdout.flush()
"""


def _acknowledged(outbox: Path) -> int:
    """Reports in the outbox's finished files; every one must read whole (atomic writes)."""
    total = 0
    for name in os.listdir(outbox) if outbox.exists() else ():
        if name.startswith("."):
            continue  # a temporary file of the write the kill interrupted
        try:
            document = json.loads((outbox / name).read_text())
        except FileNotFoundError:
            continue  # claimed or settled (renamed) by the live host meanwhile: next poll
        reports = document["reports"] if document["format"] == 2 else [document]
        assert len(reports) == report_count(name)
        total += len(reports)
    return total


def test_a_process_killed_mid_batch_loses_no_report_it_wrote(host_env, otlp_http):
    env = otlp_env(host_env, otlp_http, ACME_TELEMETRY="1")
    env["ACME_OTLP_ENDPOINT"] = f"http://127.0.0.1:{free_port()}"  # refused: all stay
    outbox = Layout(Path(env["ACME_CONFIG_DIR"])).outbox_dir
    host = subprocess.Popen(
        [sys.executable, "-c", ENDLESS],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert host.stdout is not None
        assert host.stdout.readline() == "running\n"
        deadline = time.monotonic() + 60
        while _acknowledged(outbox) < 1000 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        host.send_signal(signal.SIGKILL)
        host.wait(30)
    written = _acknowledged(outbox)
    assert written >= 1000

    result = run_python(OLDER, otlp_env(host_env, otlp_http, ACME_TELEMETRY="1"))

    assert result.returncode == 0, result.stderr
    spans = otlp_http.wait_for_spans(written, timeout=120)
    time.sleep(0.3)
    spans = [span for request in otlp_http.requests for span in request.spans()]
    assert len(spans) == written  # every report written, once
    assert len({span["spanId"] for span in spans}) == written
    assert _acknowledged(outbox) == 0
