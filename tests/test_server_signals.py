"""Servers stopped by SIGTERM (``docker stop``) or killed: nothing consented is lost.

Real uvicorn servers and host scripts in server mode, real signals, a real OTLP receiver
on loopback. A server stopped by SIGTERM sends what it had (storm counts included)
within the exit budget and ends by SIGTERM as it would without us; a server killed with
``kill -9`` has what it counted on disk already (written when the storm window closed),
and the next run sends it, once.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from otel_telemetry._layout import Layout
from tests.conftest import free_port, otlp_env, run_python
from tests.payloads import attributes
from tests.processes import serve, wait_until
from tests.receivers.otlp import OtlpHttpReceiver

pytestmark = pytest.mark.integration

OCCURRENCES = "otel_telemetry.occurrences"
CRASHES = 8  # identical crashes; the storm limit lets 5 through and counts 3
# The example server's route with a server's kind of bug (None where a page was expected).
CRASHING_ROUTE = "/pages/never-crawled/markdown"

# uvicorn started as its command does: it installs its signal handlers, then imports
# the app (our handler goes in front of uvicorn's).
UVICORN_COMMAND = ["-m", "uvicorn", "acme.server:app", "--host", "127.0.0.1", "--port"]
# uvicorn started by a script that imported the app first: uvicorn's handlers go in
# front of ours, and uvicorn hands the signal back to ours when it has stopped.
UVICORN_RUN = [
    "-c",
    "import sys, uvicorn\n"
    "from acme.server import app\n"
    "uvicorn.run(app, host='127.0.0.1', port=int(sys.argv[1]))\n",
]


def request(port: int, path: str) -> int:
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def stop(process: subprocess.Popen[str], signum: int) -> tuple[int, str]:
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=120)
    return process.returncode, stderr


def occurrences(spans: list[dict]) -> list[int]:
    """Per report, how many crashes it stands for, sorted."""
    return sorted(int(attributes(span["attributes"]).get(OCCURRENCES, 1)) for span in spans)


def received_spans(receiver: OtlpHttpReceiver) -> list[dict]:
    with receiver.cond:
        requests = list(receiver.requests)
    return [span for received in requests for span in received.spans()]


# -- uvicorn stopped by SIGTERM ---------------------------------------------------------------


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[str]]]:
    processes: list[subprocess.Popen[str]] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=30)


@pytest.mark.parametrize(
    "argv", [UVICORN_COMMAND, UVICORN_RUN], ids=["uvicorn command", "uvicorn.run in a script"]
)
def test_a_storm_then_sigterm_sends_every_report_and_the_count(host_env, otlp_http, started, argv):
    def run(**more: str) -> tuple[int, str]:
        process, port = serve(argv, otlp_env(host_env, otlp_http, **more))
        started.append(process)
        statuses = [request(port, CRASHING_ROUTE) for _ in range(CRASHES)]
        assert statuses == [500] * CRASHES
        return stop(process, signal.SIGTERM)

    without, _ = run(ACME_TELEMETRY="0")
    assert received_spans(otlp_http) == []

    status, stderr = run()

    # The process has ended: what it sent has arrived (a send waits for the answer).
    spans = received_spans(otlp_http)
    assert occurrences(spans) == [1, 1, 1, 1, 1, 3], stderr
    assert {attributes(s["attributes"])["http.route"] for s in spans} == {"/pages/{site}/markdown"}
    assert status == without == -signal.SIGTERM, stderr


@pytest.mark.parametrize(
    "argv", [UVICORN_COMMAND, UVICORN_RUN], ids=["uvicorn command", "uvicorn.run in a script"]
)
def test_a_shutdown_waits_one_budget_on_an_endpoint_that_never_answers(
    host_env, config_dir, started, argv
):
    """uvicorn flushes the lifespan, then hands SIGTERM back to us: one budget for both."""
    budget = 4.0
    with socket.socket() as blackhole:  # accepts, never answers
        blackhole.bind(("127.0.0.1", 0))
        blackhole.listen(16)
        env = {
            **host_env,
            "ACME_OTLP_ENDPOINT": f"http://127.0.0.1:{blackhole.getsockname()[1]}",
            "ACME_TELEMETRY_EXPORTER": "otlp",
            "ACME_TELEMETRY_FLUSH_TIMEOUT": str(budget),
        }
        process, port = serve(argv, env)
        started.append(process)
        assert request(port, CRASHING_ROUTE) == 500
        began = time.monotonic()
        status, stderr = stop(process, signal.SIGTERM)
        took = time.monotonic() - began

    assert status == -signal.SIGTERM, stderr
    # Two budgets (lifespan, then SIGTERM) would be 8 s; one is 4 s and uvicorn's own stop.
    assert took < 2 * budget - 1, f"{took:.1f} s"
    assert outbox_reports(config_dir)  # what the endpoint never confirmed waits on disk


# -- kill -9: what was counted is on disk when its window closed ---------------------------------

# A test host: a FastAPI server whose storm window is 2 s, so that it closes during the test.
STORM_HOST = """
from fastapi import FastAPI
from otel_telemetry import Telemetry
from otel_telemetry.asgi import TelemetryMiddleware

telemetry = Telemetry(app="acme", package="stormhost", storm_window=2)
telemetry.install(mode="server")
app = FastAPI()
app.add_middleware(TelemetryMiddleware, telemetry=telemetry)


@app.get("/health")
async def health():
    return {"status": "ok"}


@app.get("/pages/{site}/markdown")
async def page_markdown(site: str):
    page = None  # a page never crawled
    return {"markdown": page.markdown}
"""

# The next run of the same host, with the same config dir: it sends what waits.
NEXT_RUN = """
from otel_telemetry import Telemetry
t = Telemetry(app="acme", package="stormhost")
t.install(mode="server")
assert t.flush(60)
"""


def outbox_reports(config_dir: Path) -> list[str]:
    """The reports waiting in the outbox (claimed or not), one text each.

    A file holds one report, or a batch of them (``"reports"``: recorded together).
    """
    outbox = Layout(config_dir).outbox_dir
    if not outbox.exists():
        return []
    texts = []
    for path in outbox.iterdir():
        if path.name.startswith(".") or ".json" not in path.name:
            continue
        try:
            document = json.loads(path.read_text("utf-8"))
        except FileNotFoundError:  # renamed by a claim meanwhile: read it next time
            return []
        reports = document.get("reports", [document])
        texts += [json.dumps(report) for report in reports]
    return texts


def test_kill_9_after_a_storm_loses_nothing(host_env, config_dir, tmp_path, started):
    (tmp_path / "stormhost.py").write_text(STORM_HOST, "utf-8")
    nobody = free_port()  # the receiver is down: nothing listens there
    env = {  # the host module is found in the working directory (``-m``, ``-c``)
        **host_env,
        "ACME_TELEMETRY_EXPORTER": "otlp",
        "ACME_OTLP_ENDPOINT": f"http://127.0.0.1:{nobody}",
    }
    argv = ["-m", "uvicorn", "stormhost:app", "--host", "127.0.0.1", "--port"]
    process, port = serve(argv, env, cwd=tmp_path)
    started.append(process)
    assert [request(port, CRASHING_ROUTE) for _ in range(CRASHES)] == [500] * CRASHES

    def five_and_the_count() -> bool:
        reports = outbox_reports(config_dir)
        return len(reports) == 6 and sum(OCCURRENCES in text for text in reports) == 1

    wait_until(five_and_the_count, "5 reports and the count of 3 in the outbox")
    process.kill()
    process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL

    with OtlpHttpReceiver() as receiver:
        env["ACME_OTLP_ENDPOINT"] = receiver.endpoint
        result = subprocess.run(
            [sys.executable, "-c", NEXT_RUN],
            env=env,
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        spans = received_spans(receiver)
    assert occurrences(spans) == [1, 1, 1, 1, 1, 3]  # each report once, the total 8
    assert outbox_reports(config_dir) == []


# -- host scripts in server mode ---------------------------------------------------------------

# A worker thread of a server-mode host crashes; the main thread idles until stopped.
IDLE_AFTER_A_CRASH = """
import signal, sys, threading, time
from otel_telemetry import Telemetry

{before}
t = Telemetry(app="acme", package="__main__")
t.install(mode="server")

def job():
    raise ValueError("a background job of the server failed")

thread = threading.Thread(target=job)
thread.start()
thread.join()
{holding}
print("ready", flush=True)
time.sleep(120)
"""

# The host's own SIGTERM handler, set before install(): it ends the process at once,
# without an exit flush (os._exit), as some servers do.
HOST_HANDLER = """
import os
def on_sigterm(signum, frame):
    print("host handler", signum, flush=True)
    os._exit(3)
signal.signal(signal.SIGTERM, on_sigterm)
"""


def _start_idle(env: dict[str, str], before: str = "", holding: str = "") -> subprocess.Popen[str]:
    code = IDLE_AFTER_A_CRASH.format(before=before, holding=holding)
    process = subprocess.Popen(
        [sys.executable, "-c", code],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line == "ready\n", process.communicate()[1]
    return process


def test_sigterm_while_idle_after_a_crash_sends_it_and_ends_by_sigterm(
    host_env, otlp_http, started
):
    process = _start_idle(otlp_env(host_env, otlp_http))
    started.append(process)

    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)

    assert process.returncode == -signal.SIGTERM, stderr
    [span] = received_spans(otlp_http)
    [event] = span["events"]
    assert attributes(event["attributes"])["exception.type"] == "ValueError"


def test_the_hosts_own_sigterm_handler_runs_after_our_flush(host_env, otlp_http, started):
    process = _start_idle(otlp_env(host_env, otlp_http), before=HOST_HANDLER)
    started.append(process)

    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=120)

    assert process.returncode == 3, stderr  # the host's handler decided, as without us
    assert stdout == f"host handler {int(signal.SIGTERM)}\n"
    # It ended the process at once: the report arrived before it ran.
    assert len(received_spans(otlp_http)) == 1, stderr


# The main thread stops inside our pipeline, holding its lock (as if the signal came
# while a report was queued); settling at SIGTERM needs that lock.
HOLDING_OUR_LOCK = """
t.pipeline._take_lock.acquire()
"""


def test_sigterm_while_the_main_thread_holds_our_lock_never_deadlocks(host_env, otlp_http, started):
    env = otlp_env(host_env, otlp_http, ACME_TELEMETRY_FLUSH_TIMEOUT="1")
    process = _start_idle(env, holding=HOLDING_OUR_LOCK)
    started.append(process)

    process.send_signal(signal.SIGTERM)
    # A deadlock would leave it running: communicate's timeout would fail the test.
    _, stderr = process.communicate(timeout=60)

    assert process.returncode == -signal.SIGTERM, stderr


def test_a_second_sigterm_while_we_flush_still_ends_by_sigterm_with_the_report_on_disk(
    host_env, config_dir, started
):
    with socket.socket() as blackhole:  # an endpoint that accepts and never answers
        blackhole.bind(("127.0.0.1", 0))
        blackhole.listen(16)
        env = {
            **host_env,
            "ACME_TELEMETRY_FLUSH_TIMEOUT": "3",
            "ACME_TELEMETRY_EXPORTER": "otlp",
            "ACME_OTLP_ENDPOINT": f"http://127.0.0.1:{blackhole.getsockname()[1]}",
        }
        process = _start_idle(env)
        started.append(process)

        process.send_signal(signal.SIGTERM)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)

    assert process.returncode == -signal.SIGTERM, stderr
    [waiting] = outbox_reports(config_dir)
    assert "a background job of the server failed" in waiting


# -- a user who said no keeps the host's signal handling as it was ------------------------------

HANDLER_AFTER_INSTALL = """
import signal, sys
from otel_telemetry import Telemetry
if sys.argv[1] == "saved no":
    Telemetry(app="acme").disable()
Telemetry(app="acme", package="acme").install(mode="server")
print(signal.getsignal(signal.SIGTERM) is signal.SIG_DFL)
"""


@pytest.mark.parametrize(
    ("consent", "untouched"),
    [("saved no", True), ("ACME_TELEMETRY=0", True), ("server default", False)],
)
def test_no_sigterm_handler_when_telemetry_is_off(host_env, consent, untouched):
    if consent == "ACME_TELEMETRY=0":
        host_env["ACME_TELEMETRY"] = "0"
    result = run_python(HANDLER_AFTER_INSTALL, host_env, consent, check=True)
    assert result.stdout.strip() == str(untouched)
