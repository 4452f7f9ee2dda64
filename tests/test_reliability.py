"""Faults, with real sockets on loopback, for the ``otlp`` and the ``sentry`` exporters."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from otel_telemetry._layout import Layout
from otel_telemetry.pipeline._outbox import report_count
from tests.conftest import otlp_env, run_python, wait_for_senders
from tests.payloads import attributes
from tests.processes import exit_delay
from tests.receivers.faulty import MODES, FaultyEndpoint

pytestmark = pytest.mark.integration

FLUSH_TIMEOUT = 1.0
# An exit that ignored the budget would wait for the exporter's own timeout: 10 s for
# OTLP/HTTP, 2 s for the Sentry transport. Each bound lies between the budget plus the
# interpreter's own exit (about 0.1 s) and that timeout, with room for a loaded machine.
EXIT_BOUND = {"otlp": 5.0, "sentry": 1.9}
# Long enough that the run right after the crash is inside it on any machine; the test
# then ends the wait in telemetry/backoff.json, as it stands once the hour has passed.
RETRY_AFTER = 3600

CRASH = """
import sys, time
import acme
from acme.crawler import run
sys.stderr.write(f"@@ {time.monotonic()!r}\\n")
run("https://alice:s3cret@intranet.example.com/reports?token=abc123")
"""


@pytest.fixture
def endpoint():
    server = FaultyEndpoint(retry_after=RETRY_AFTER)
    yield server
    server.close()


def _env(host_env, exporter: str, port: int) -> dict[str, str]:
    env = {k: v for k, v in host_env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(
        ACME_TELEMETRY="1",
        ACME_TELEMETRY_EXPORTER=exporter,
        ACME_TELEMETRY_FLUSH_TIMEOUT=str(FLUSH_TIMEOUT),
    )
    if exporter == "otlp":
        env["ACME_OTLP_ENDPOINT"] = f"http://127.0.0.1:{port}"
    else:
        env["ACME_SENTRY_DSN"] = f"http://0123456789abcdef0123456789abcdef@127.0.0.1:{port}/7"
    return env


def _crash(env) -> float:
    """Run a crashing host; the seconds from its crash to its exit.

    Returns once the detached sender it handed its report to has ended too.
    """
    delay, result = exit_delay([sys.executable, "-c", CRASH], env)
    assert result.returncode == 1
    wait_for_senders(env)
    return delay


# A later run of the host: importing it schedules the sending of what waits (install()).
# The run then lasts until that is done, as a real program outlives it; a bare import
# ends after IDLE_EXIT_WAIT (0.2 s), which a loaded machine can spend importing the SDK.
NEXT_RUN = (
    "import acme\n"
    "from acme.telemetry import telemetry\n"
    "assert telemetry.pipeline.flush(30)  # waits for what install() queued; queues nothing\n"
)


def _next_run(env) -> None:
    """A later, healthy run of the host: importing it is enough to send what waits."""
    env = {**env, "ACME_TELEMETRY_FLUSH_TIMEOUT": "10"}
    result = subprocess.run(
        [sys.executable, "-c", NEXT_RUN], env=env, stdin=subprocess.DEVNULL, timeout=60
    )
    wait_for_senders(env)
    assert result.returncode == 0


def _waiting(config_dir) -> list[str]:
    """The outbox's files, one item per report (a batch file holds several)."""
    outbox = Layout(config_dir).outbox_dir
    names = sorted(p.name for p in outbox.iterdir()) if outbox.exists() else []
    return [name for name in names for _ in range(report_count(name))]


def _retry_after_passes(config_dir, exporter: str) -> None:
    """Let the endpoint's Retry-After end, as it has for a run an hour later.

    The crash run saved the end of the wait (seconds since the epoch, per exporter); it
    is moved into the past, which is what the file says to a later run.
    """
    path = Layout(config_dir).backoff_file
    until = json.loads(path.read_text())
    assert time.time() + RETRY_AFTER - 600 < until[exporter] <= time.time() + RETRY_AFTER
    until[exporter] = time.time() - 1
    path.write_text(json.dumps(until))


@pytest.mark.parametrize("exporter", ["otlp", "sentry"])
@pytest.mark.parametrize("mode", MODES)
def test_fault_exits_within_budget_and_the_next_run_delivers_once(
    mode, exporter, endpoint, host_env, config_dir
):
    endpoint.mode = mode
    env = _env(host_env, exporter, endpoint.port_for(mode))

    delay = _crash(env)  # and its detached sender's attempt

    assert delay < EXIT_BOUND[exporter], f"exit took {delay:.2f} s after the crash"
    if mode == "slow" and exporter == "otlp":
        # Slow, not dead: its answer comes within the OTLP exporter's timeout, which the
        # detached sender can wait for (the crashed process did not): delivered once.
        [delivered] = endpoint.delivered
        assert b"intranet.example.com" not in delivered.body
        assert _waiting(config_dir) == []
        _next_run(_env(host_env, exporter, endpoint.port))
        assert len(endpoint.delivered) == 1
        return
    assert endpoint.delivered == []
    assert len(_waiting(config_dir)) == 1  # the report waits on disk

    endpoint.mode = "ok"
    env = _env(host_env, exporter, endpoint.port)
    if mode == "429":
        attempts = endpoint.attempts
        _next_run(env)  # within Retry-After: nothing may be sent, even by another process
        assert endpoint.delivered == []
        assert endpoint.attempts == attempts  # not even tried
        assert len(_waiting(config_dir)) == 1
        _retry_after_passes(config_dir, exporter)
    _next_run(env)

    [delivered] = endpoint.delivered  # nothing lost, nothing sent twice
    assert delivered.kind == exporter
    assert len(delivered.span_ids) == 1
    assert b"intranet.example.com" not in delivered.body
    assert _waiting(config_dir) == []
    _next_run(env)
    assert len(endpoint.delivered) == 1


THREE_REPORTS = """
from otel_telemetry import Telemetry
t = Telemetry(app="acme", package="__main__", sentry_dsn=None)
for message in ("one", "two", "three"):
    try:
        raise ValueError(message)
    except ValueError as exc:
        t.capture_exception(exc)
print(t.flush(30))
"""


@pytest.mark.parametrize("exporter", ["otlp", "sentry"])
def test_refused_credentials_stop_sending_for_the_run_with_one_warning(
    exporter, endpoint, host_env, config_dir
):
    endpoint.mode = "401"
    env = _env(host_env, exporter, endpoint.port)

    result = run_python(THREE_REPORTS, env)

    assert result.returncode == 0, result.stderr
    assert endpoint.attempts == 1  # the first refusal stops this run's sending
    assert result.stderr.count("was refused") == 1
    assert "Traceback" not in result.stderr
    assert len(_waiting(config_dir)) == 3  # nothing lost


DISK_HOST = """
from otel_telemetry import Telemetry
t = Telemetry(app="acme", package="__main__")
for message in ("one", "two"):
    try:
        raise ValueError(message)
    except ValueError as exc:
        t.capture_exception(exc)
print(t.flush(30), "host still running")
"""


def _limit_file_size():
    import resource
    import signal

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails, not kills
    resource.setrlimit(resource.RLIMIT_FSIZE, (64, 64))


@pytest.mark.parametrize("disk", ["full", "read-only outbox"])
def test_a_disk_that_refuses_writes_costs_one_warning(
    disk, endpoint, host_env, config_dir, tmp_path
):
    endpoint.mode = "ok"
    env = _env(host_env, "otlp", endpoint.port)
    outbox = config_dir / "telemetry" / "outbox"
    outbox.mkdir(parents=True)
    immutable = disk == "read-only outbox" and os.geteuid() == 0
    if disk == "read-only outbox":
        outbox.chmod(0o500)
        if immutable:
            subprocess.run(["chattr", "+i", str(outbox)], check=True)
    try:
        result = subprocess.run(
            [sys.executable, "-c", DISK_HOST],
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
            preexec_fn=_limit_file_size if disk == "full" else None,
        )
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(outbox)], check=True)
        outbox.chmod(0o700)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True host still running"
    assert result.stderr.count("Cannot write crash reports") == 1
    assert "Traceback" not in result.stderr
    # Sent without the copy on disk (the two in one request when recorded as one batch).
    assert sum(len(delivered.span_ids) for delivered in endpoint.delivered) == 2


STORM = """
import resource, sys
from otel_telemetry import Telemetry
t = Telemetry(app="acme", package="__main__")
t.install()  # what is still counted goes at exit

def handle(request):
    raise ConnectionResetError("upstream reset")

def rss_kb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

for i in range(100_000):
    if i == 1_000:
        t.flush(60)  # the first reports went through the pipeline: its imports are done
        before = rss_kb()
    try:
        handle(i)
    except ConnectionResetError as exc:
        t.capture_exception(exc)
after = rss_kb()
print(t.flush(60), after - before)
"""


def test_a_storm_of_identical_crashes_is_bounded_and_counted(host_env, otlp_http):
    env = otlp_env(host_env, otlp_http, ACME_TELEMETRY="1")

    result = run_python(STORM, env)

    assert result.returncode == 0, result.stderr
    flushed, growth_kb = result.stdout.split()
    assert flushed == "True"
    print(f"\nstorm of 100,000 crashes: max RSS grew by {growth_kb} kB after the first 1,000")
    assert int(growth_kb) < 10_000
    counts = []
    for request in otlp_http.requests:
        for span in request.spans():
            values = attributes(span["attributes"])
            counts.append(int(values.get("otel_telemetry.occurrences", 1)))
    # 5 per minute; then one report carrying what was counted (at the flush that
    # settles the measurement: one per minute), and at exit one with the rest.
    assert len(counts) <= 7
    assert sum(counts) == 100_000


FORK = """
import os, sys
from otel_telemetry import Telemetry
t = Telemetry(app="acme", package="__main__")

def report(message):
    try:
        raise ValueError(message)
    except ValueError as exc:
        t.capture_exception(exc)

report("parent, before the fork")  # starts the worker thread
t.flush(30)
pid = os.fork()
if pid == 0:
    report("child")
    os._exit(0 if t.flush(30) else 3)
_, status = os.waitpid(pid, 0)
report("parent, after the fork")
print(t.flush(30), os.waitstatus_to_exitcode(status))
"""


def test_a_forked_child_reports_with_its_own_worker(host_env, otlp_http):
    env = otlp_env(host_env, otlp_http, ACME_TELEMETRY="1")

    result = run_python(FORK, env)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "0"]
    messages = sorted(
        attributes(event["attributes"])["exception.message"]
        for span in otlp_http.wait_for_spans(3)
        for event in span["events"]
    )
    assert messages == ["child", "parent, after the fork", "parent, before the fork"]


@pytest.mark.parametrize("exporter", ["otlp", "sentry"])
def test_an_endpoint_that_never_answers_loses_no_report_of_later_runs(
    exporter, endpoint, host_env, config_dir
):
    # Each run first resends what waits (the worker would block on it for the
    # exporter's timeout); its own crash must still reach the disk within the budget.
    env = _env(host_env, exporter, endpoint.port_for("blackhole"))
    for run in range(1, 4):
        delay = _crash(env)
        assert delay < EXIT_BOUND[exporter], f"run {run}: exit took {delay:.2f} s"
        assert len(_waiting(config_dir)) == run
    assert endpoint.delivered == []

    endpoint.mode = "ok"
    _next_run(_env(host_env, exporter, endpoint.port))
    # Each once (OTLP: in one request, as a drain sends what it claimed together).
    delivered = [span_id for request in endpoint.delivered for span_id in request.span_ids]
    assert len(delivered) == len(set(delivered)) == 3
    assert len(endpoint.delivered) == (1 if exporter == "otlp" else 3)
    assert _waiting(config_dir) == []
