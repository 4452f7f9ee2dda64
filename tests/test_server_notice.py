"""The server-mode notice, in real host processes sending to a real receiver.

Server mode sends by default; before the first report leaves, one line on stderr says
so. Ordering is checked at the receiver: the host's stderr goes to a file, and the
receiver reads that file the moment a report arrives, before it answers (the host is
still waiting for the answer), so what the file holds then was written before the send.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Optional

import pytest

from tests.conftest import otlp_env, run_python
from tests.processes import wait_until
from tests.receivers.otlp import OtlpHttpReceiver, Received

pytestmark = pytest.mark.integration

PRIVACY_URL = "https://acme.example/privacy"
LINE = (
    "Acme sends crash reports (errors only, personal data removed) to its maintainers."
    " Set ACME_TELEMETRY=0 to turn this off."
)
LINE_WITH_URL = f"{LINE} Details: {PRIVACY_URL}"
INSTALLED = 'first.install(mode="server")\nsecond.install(mode="server")'


class ArrivalReceiver(OtlpHttpReceiver):
    """An OTLP receiver that reads the host's stderr file as each report arrives."""

    def __init__(self, stderr_file: Path) -> None:
        super().__init__()
        self.stderr_file = stderr_file
        self.stderr_at_arrival: list[str] = []

    def add(self, item: Received) -> None:
        # Called before the answer is sent: the host is blocked in its send meanwhile.
        text = self.stderr_file.read_text() if self.stderr_file.exists() else ""
        self.stderr_at_arrival.append(text)
        super().add(item)


@pytest.fixture
def stderr_file(tmp_path: Path) -> Path:
    return tmp_path / "host-stderr.txt"


@pytest.fixture
def receiver(stderr_file: Path) -> Iterator[ArrivalReceiver]:
    with ArrivalReceiver(stderr_file) as inbox:
        yield inbox


@pytest.fixture
def env(host_env: dict[str, str], receiver: ArrivalReceiver) -> dict[str, str]:
    """A host sending to ``receiver`` over OTLP; consent and mode left to each test."""
    return otlp_env(host_env, receiver)


def run_host(code: str, env: dict[str, str], stderr_file: Path) -> subprocess.CompletedProcess[str]:
    """Run ``code`` with its stderr written to ``stderr_file`` (appended), stdout captured."""
    with stderr_file.open("a") as stderr:
        result = subprocess.run(
            [sys.executable, "-c", code],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            timeout=120,
        )
    result.stderr = stderr_file.read_text()
    return result


def spans(receiver: OtlpHttpReceiver) -> int:
    return sum(len(request.spans()) for request in receiver.requests)


def host(install: str = "", privacy_url: Optional[str] = PRIVACY_URL, body: str = "") -> str:
    """Two ``Telemetry`` of the app ``acme``, each reporting a crash; then ``body``."""
    return f"""
import sys
from otel_telemetry import Telemetry
first = Telemetry(app="acme", package="__main__", privacy_url={privacy_url!r})
second = Telemetry(app="acme", package="__main__", privacy_url={privacy_url!r})
{install}
def crash(n):
    raise ValueError(f"crash {{n}}")
for n, telemetry in enumerate((first, second)):
    try:
        crash(n)
    except ValueError as exc:
        telemetry.capture_exception(exc)
print("flushed", first.flush(30), second.flush(30))
{body}
"""


@pytest.mark.parametrize(
    ("how", "install", "variables", "privacy_url", "line"),
    [
        pytest.param(
            "install",
            INSTALLED,
            {},
            PRIVACY_URL,
            LINE_WITH_URL,
            id="install(mode='server'), privacy URL",
        ),
        pytest.param(
            "variable",
            "",
            {"ACME_TELEMETRY_MODE": "server"},
            PRIVACY_URL,
            LINE_WITH_URL,
            id="ACME_TELEMETRY_MODE=server, no install: at the first send",
        ),
        pytest.param(
            "variable",
            "",
            {"ACME_TELEMETRY_MODE": "server"},
            None,
            LINE,
            id="no privacy URL: no Details",
        ),
    ],
)
def test_the_line_once_before_the_first_report_arrives(
    env, receiver, stderr_file, how, install, variables, privacy_url, line
):
    # An uncaught crash as well, through the hooks (reported once per app).
    crash = 'crash("uncaught")' if how == "install" else ""
    code = host(install, privacy_url, body=crash)

    result = run_host(code, {**env, **variables}, stderr_file)

    assert result.stdout == "flushed True True\n"  # stdout untouched
    assert result.stderr.count("sends crash reports") == 1, result.stderr
    assert line in result.stderr.splitlines()
    reports = 3 if how == "install" else 2
    receiver.wait_for_spans(reports)
    assert spans(receiver) == reports
    # Every report arrived after the line was written, the first one included.
    assert [line in text for text in receiver.stderr_at_arrival] == [True] * len(receiver.requests)


def test_reports_left_by_an_earlier_run_are_sent_after_the_line(env, receiver, stderr_file):
    receiver.down = True  # the first run cannot deliver: its reports wait in the outbox
    first = run_host(host(), {**env, "ACME_TELEMETRY": "1"}, stderr_file)
    assert first.returncode == 0, first.stderr
    assert "sends crash reports" not in first.stderr  # consent from the variable
    assert receiver.requests == []
    stderr_file.unlink()
    receiver.down = False

    drain = """
from otel_telemetry import Telemetry
telemetry = Telemetry(app="acme", package="__main__", privacy_url="https://acme.example/privacy")
print("waiting", telemetry.status().waiting)
print("flushed", telemetry.flush(30))
"""
    second = run_host(drain, {**env, "ACME_TELEMETRY_MODE": "server"}, stderr_file)

    assert second.stdout == "waiting 2\nflushed True\n"
    assert second.stderr.splitlines().count(LINE_WITH_URL) == 1, second.stderr
    receiver.wait_for_spans(2)
    assert spans(receiver) == 2
    assert receiver.stderr_at_arrival
    assert all(LINE_WITH_URL in text for text in receiver.stderr_at_arrival)


@pytest.mark.parametrize(
    ("consent", "variables"),
    [
        pytest.param("variable", {"ACME_TELEMETRY": "1"}, id="ACME_TELEMETRY=1"),
        pytest.param("saved", {}, id="the saved choice"),
    ],
)
def test_no_line_when_consent_comes_from_the_user(env, receiver, stderr_file, consent, variables):
    if consent == "saved":
        saved = "from otel_telemetry import Telemetry\nTelemetry(app='acme').enable()"
        run_python(saved, env, check=True)

    result = run_host(host(INSTALLED), {**env, **variables}, stderr_file)

    assert result.stdout == "flushed True True\n"
    assert "sends crash reports" not in result.stderr
    receiver.wait_for_spans(2)
    assert spans(receiver) == 2  # sent, without a notice


@pytest.mark.parametrize(
    "variables",
    [
        pytest.param({"ACME_TELEMETRY": "0"}, id="ACME_TELEMETRY=0"),
        pytest.param({"DO_NOT_TRACK": "1"}, id="DO_NOT_TRACK=1"),
    ],
)
def test_off_no_line_and_nothing_sent(env, receiver, stderr_file, variables):
    result = run_host(
        host(INSTALLED, body='crash("uncaught")'),
        {**env, **variables},
        stderr_file,
    )

    assert result.stdout == "flushed True True\n"
    assert "sends crash reports" not in result.stderr
    assert "ValueError: crash uncaught" in result.stderr  # the host's own traceback
    assert receiver.requests == []  # the host has ended: whatever it sent has arrived


def test_no_line_when_reports_stay_on_this_machine(host_env, config_dir, stderr_file):
    # No DSN, no endpoint: the default exporter keeps reports in a local file.
    result = run_host(host(INSTALLED), host_env, stderr_file)

    assert result.stdout == "flushed True True\n"
    assert "sends crash reports" not in result.stderr
    [reports] = (config_dir / "telemetry" / "reports").iterdir()
    assert len(reports.read_text().splitlines()) == 2


def test_the_logger_gets_the_line_when_the_host_configured_logging(env, receiver, stderr_file):
    code = """
import json, logging
records = []
class Keep(logging.Handler):
    def emit(self, record):
        records.append([record.name, record.levelname, record.getMessage()])
logging.basicConfig(level=logging.INFO, handlers=[Keep()])
from otel_telemetry import Telemetry
telemetry = Telemetry(app="acme", package="__main__", privacy_url="https://acme.example/privacy")
telemetry.install(mode="server")
try:
    raise ValueError("crash")
except ValueError as exc:
    telemetry.capture_exception(exc)
telemetry.flush(30)
print(json.dumps([r for r in records if r[0] == "otel_telemetry"]))
"""
    result = run_host(code, env, stderr_file)

    assert json.loads(result.stdout) == [["otel_telemetry", "INFO", LINE_WITH_URL]]
    assert result.stderr.splitlines().count(LINE_WITH_URL) == 1
    receiver.wait_for_spans(1)


def test_install_shows_it_without_importing_logging(env, receiver, stderr_file):
    # install() then warms the pipeline: the worker imports logging (with the SDK),
    # after the notice, which needs none. The flush waits for that warm-up, so the
    # import is certain to have happened when the lines are counted.
    code = """
import sys
lines = []
class Tracer:
    @staticmethod
    def find_spec(name, path=None, target=None):
        if name == "logging" and not lines:
            lines.append(sys.stderr.getvalue().count("\\n"))
        return None
import io
stderr, sys.stderr = sys.stderr, io.StringIO()
sys.meta_path.insert(0, Tracer)
from otel_telemetry import Telemetry
telemetry = Telemetry(app="acme", package="__main__", capture_logging=False)
telemetry.install(mode="server")
telemetry.flush(30)  # the warm-up has run: logging is imported by then
written, sys.stderr = sys.stderr.getvalue(), stderr
sys.stderr.write(written)
print("lines written when logging was imported:", lines)
"""
    result = run_host(code, env, stderr_file)

    assert result.stdout == "lines written when logging was imported: [1]\n"
    assert result.stderr.splitlines() == [LINE]  # at start, before any crash
    assert receiver.requests == []


def test_once_per_app_in_one_process(env, receiver, stderr_file):
    code = """
from otel_telemetry import Telemetry
acme = Telemetry(app="acme", package="__main__")
beta = Telemetry(app="beta", package="__main__", display_name="Beta Tools")
again = Telemetry(app="acme", package="__main__")
for telemetry in (acme, beta, again, beta):
    telemetry.install(mode="server")
"""
    beta = {"BETA_TELEMETRY_EXPORTER": "otlp", "BETA_OTLP_ENDPOINT": receiver.endpoint}
    result = run_host(code, {**env, **beta}, stderr_file)

    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        LINE,
        "Beta Tools sends crash reports (errors only, personal data removed) to its"
        " maintainers. Set BETA_TELEMETRY=0 to turn this off.",
    ]


def test_a_forked_child_does_not_show_it_again(env, receiver, stderr_file):
    code = """
import os
from otel_telemetry import Telemetry
telemetry = Telemetry(app="acme", package="__main__")
telemetry.install(mode="server")  # the parent shows the line
pid = os.fork()
if pid == 0:
    try:
        raise ValueError("in the child")
    except ValueError as exc:
        telemetry.capture_exception(exc)
    os._exit(0 if telemetry.flush(30) else 3)
_, status = os.waitpid(pid, 0)
print("child", os.waitstatus_to_exitcode(status))
"""
    result = run_host(code, env, stderr_file)

    assert result.stdout == "child 0\n", result.stderr
    assert result.stderr.splitlines().count(LINE) == 1, result.stderr
    receiver.wait_for_spans(1)
    assert spans(receiver) == 1
    assert receiver.stderr_at_arrival == [LINE + "\n"]


@pytest.mark.parametrize(
    "break_stderr",
    [
        pytest.param("sys.stderr.close()", id="closed"),
        pytest.param("sys.stderr = None", id="None"),
        pytest.param("os.close(2)", id="no file descriptor 2"),
    ],
)
def test_a_broken_stderr_never_raises_into_the_host(env, receiver, stderr_file, break_stderr):
    code = f"""
import os, sys
{break_stderr}
from otel_telemetry import Telemetry
telemetry = Telemetry(app="acme", package="__main__")
telemetry.install(mode="server")
try:
    raise ValueError("crash")
except ValueError as exc:
    telemetry.capture_exception(exc)
print("flushed", telemetry.flush(30))
"""
    result = run_host(code, env, stderr_file)

    assert (result.returncode, result.stdout) == (0, "flushed True\n")
    receiver.wait_for_spans(1)


# -- under uvicorn --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def request(port: int, method: str, path: str, body: Optional[bytes] = None) -> int:
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def failing_requests(port: int) -> tuple[int, int]:
    """Two requests the example server fails on: ``GET /crawl/{site}`` and ``POST /crawl``."""
    url = "https://intranet.example.com/private?token=abc123"
    body = json.dumps({"url": url, "contact": "someone@example.com"}).encode()
    return (
        request(port, "GET", f"/crawl/private-site?url={url}"),
        request(port, "POST", "/crawl", body),
    )


def run_example_server(env: dict[str, str], stderr_file: Path) -> tuple[int, subprocess.Popen]:
    """``uvicorn acme.server:app`` (the example, in server mode) on a free loopback port."""
    port = free_port()
    with stderr_file.open("a") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "acme.server:app", "--port", str(port)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )

    def healthy() -> bool:
        try:
            return request(port, "GET", "/health") == 200
        except OSError:
            if process.poll() is not None:
                raise AssertionError(stderr_file.read_text()) from None
            return False

    wait_until(healthy, "uvicorn answering /health")
    return port, process


def stop_server(process: subprocess.Popen) -> None:
    # SIGINT: uvicorn stops, then Python's exit flush runs.
    process.send_signal(signal.SIGINT)
    process.wait(timeout=60)


def test_a_server_shows_it_once_at_start_and_before_its_reports(env, receiver, stderr_file):
    port, process = run_example_server(env, stderr_file)
    try:
        started = stderr_file.read_text()
        assert started.splitlines().count(LINE) == 1, started  # operators see it at start
        assert failing_requests(port) == (500, 500)
        receiver.wait_for_spans(2)
    finally:
        stop_server(process)

    assert stderr_file.read_text().count("sends crash reports") == 1
    assert all(LINE in text for text in receiver.stderr_at_arrival)
    assert spans(receiver) == 2
