"""Promise: nothing consented is lost, and each report arrives once.

A consented report is on disk before the crashing process ends, whatever the exit
budget and however loaded the machine (scrubbed in the outbox, or the capture in the
owner-only spool that the detached sender scrubs into the outbox before it sends); the
sender or a later run sends it with the ids it was written with, scrubbed. Real host
processes, a real OTLP/HTTP receiver on loopback.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from otel_telemetry._layout import Layout
from tests.conftest import blackhole_env, otlp_env, run_python, wait_for_senders
from tests.receivers.faulty import FaultyEndpoint
from tests.receivers.otlp import OtlpHttpReceiver

pytestmark = pytest.mark.integration

PROCESSES = 16
REPORTS = 6  # per process: five handled, then the crash that ends it

# Six crash sites of the host (frames in ``acme.*``), so the storm guard lets all through;
# every message names its process and its number, and carries an email to scrub.
HOST = """
import sys, types
import acme
from acme.telemetry import telemetry

site = types.ModuleType("acme.sites")
source = "".join(
    f"def crash{i}(tag):\\n    raise ValueError(f'report {i} of {{tag}} for alice@example.com')\\n"
    for i in range(6)
)
exec(compile(source, "acme/sites.py", "exec"), site.__dict__)
tag = sys.argv[1]
for i in range(5):
    try:
        getattr(site, f"crash{i}")(tag)
    except ValueError as exc:
        telemetry.capture_exception(exc)
site.crash5(tag)
"""

FINAL_FLUSH = "from acme.telemetry import telemetry; assert telemetry.flush(60)"


def _env(host_env: dict[str, str], receiver: OtlpHttpReceiver, budget: str) -> dict[str, str]:
    return otlp_env(host_env, receiver, ACME_TELEMETRY="1", ACME_TELEMETRY_FLUSH_TIMEOUT=budget)


def _crash_all(env: dict[str, str], tags: list[str]) -> None:
    """Start every host at once; each must end as a crash does (exit status 1)."""
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", HOST, tag],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for tag in tags
    ]
    for process in processes:
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 1, stderr
        assert "report 5 of" in stderr  # the host's own traceback, untouched
    wait_for_senders(env)  # the detached senders the crashes started


def _messages(receiver: OtlpHttpReceiver) -> Counter[str]:
    with receiver.cond:
        requests = list(receiver.requests)
    return Counter(_message(span) for received in requests for span in received.spans())


def _span_ids(receiver: OtlpHttpReceiver) -> dict[str, set[str]]:
    with receiver.cond:
        requests = list(receiver.requests)
    ids: dict[str, set[str]] = {}
    for received in requests:
        for span in received.spans():
            ids.setdefault(_message(span), set()).add(span["spanId"])
    return ids


def _message(span: dict) -> str:
    [event] = span["events"]
    for item in event["attributes"]:
        if item["key"] == "exception.message":
            return str(item["value"]["stringValue"])
    raise AssertionError(f"no message in {span}")


def _expected(tags: list[str]) -> Counter[str]:
    return Counter(f"report {i} of {tag} for [email]" for tag in tags for i in range(REPORTS))


def _waiting(config_dir: Path) -> list[Path]:
    outbox = Layout(config_dir).outbox_dir
    return (
        sorted(p for p in outbox.iterdir() if not p.name.startswith(".")) if outbox.exists() else []
    )


@pytest.mark.parametrize("collector", ["up", "flapping"])
def test_sixteen_processes_on_one_config_dir_deliver_every_report_exactly_once(
    host_env: dict[str, str], config_dir: Path, collector: str
) -> None:
    tags = [f"p{n:02d}" for n in range(PROCESSES)]
    with OtlpHttpReceiver() as receiver:
        env = _env(host_env, receiver, "1")
        stop = threading.Event()

        def flap() -> None:  # 503 and nothing kept, then up, every 150 ms
            while not stop.wait(0.15):
                receiver.down = not receiver.down

        flapper = threading.Thread(target=flap, daemon=True)
        if collector == "flapping":
            flapper.start()
        try:
            _crash_all(env, tags)
        finally:
            stop.set()
            if flapper.is_alive():
                flapper.join()
            receiver.down = False

        run_python(FINAL_FLUSH, env, check=True)

        # Every report arrived. One a process was sending when its exit budget ran out
        # may arrive twice (the receiver kept it; the answer never reached the process):
        # a second copy is the same report, with the same ids, for the backend to fold.
        ids = _span_ids(receiver)
        assert set(ids) == set(_expected(tags))
        assert {message: len(span_ids) for message, span_ids in ids.items()} == dict.fromkeys(
            ids, 1
        )
        assert _waiting(config_dir) == []


def test_a_budget_of_50_ms_still_leaves_the_report_on_disk_scrubbed(
    host_env: dict[str, str], config_dir: Path
) -> None:
    with OtlpHttpReceiver() as receiver:
        env = _env(host_env, receiver, "0.05")
        _crash_all(env, ["solo"])

        on_disk = [
            report
            for path in _waiting(config_dir)
            for report in _reports(json.loads(path.read_text("utf-8")))
        ]
        sent_already = _messages(receiver)
        assert len(on_disk) + sum(sent_already.values()) == REPORTS
        text = json.dumps(on_disk) + json.dumps(list(sent_already))
        assert "alice@example.com" not in text
        ids = {record["span"]["span_id"] for record in on_disk}

        run_python(FINAL_FLUSH, env, check=True)

        assert _messages(receiver) == _expected(["solo"])
        with receiver.cond:
            delivered = {
                span["spanId"] for received in receiver.requests for span in received.spans()
            }
        # Sent with the ids it was written with (protobuf JSON gives them in base64).
        assert {_hex(span_id) for span_id in delivered} >= ids
        assert _waiting(config_dir) == []


def _reports(document: dict) -> list[dict]:
    """The reports of an outbox file: one (format 1), or a batch's (format 2)."""
    return list(document["reports"]) if "reports" in document else [document]


def _hex(base64_id: str) -> str:
    import base64

    return base64.b64decode(base64_id).hex()


def test_a_collector_that_never_answers_loses_none_of_one_process_s_reports(
    host_env: dict[str, str], config_dir: Path, faulty: FaultyEndpoint
) -> None:
    env = blackhole_env(host_env, faulty, ACME_TELEMETRY_FLUSH_TIMEOUT="1")
    started = time.monotonic()
    _crash_all(env, ["dark"])
    assert time.monotonic() - started < 30

    records = [
        report
        for path in _waiting(config_dir)
        for report in _reports(json.loads(path.read_text("utf-8")))
    ]
    messages = sorted(
        event["attributes"]["exception.message"]
        for record in records
        for event in record["span"]["events"]
    )
    assert messages == sorted(f"report {i} of dark for [email]" for i in range(REPORTS))


SINGLE = """
import acme.crawler
acme.crawler.parse_robots("no colon here")
"""


@pytest.mark.parametrize("budget", ["0", "0.001", "1e300", "inf", "nan"])
def test_whatever_the_budget_the_report_is_sent_or_on_disk(
    host_env: dict[str, str], config_dir: Path, budget: str
) -> None:
    with OtlpHttpReceiver() as receiver:
        env = _env(host_env, receiver, budget)

        result = run_python(SINGLE, env)

        assert result.returncode == 1
        assert "ValueError" in result.stderr
        with receiver.cond:
            sent = sum(len(received.spans()) for received in receiver.requests)
        assert sent + len(_waiting(config_dir)) == 1
