"""A crashing process hands its reports to a detached sender and exits without waiting.

Real processes and real receivers: the host crashes, exits, and the sender it started
(``otel_telemetry._detached``) delivers the report after the host has ended; every test
waits for the senders it caused (``tests.conftest.wait_for_senders``), so none is left
behind. Delivery is checked at the receiver (each report once), on disk, and against
consent withdrawn in between.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from otel_telemetry.pipeline._handoff import running_senders
from tests.conftest import blackhole_env, otlp_env, run_python, wait_for_senders
from tests.payloads import attributes
from tests.processes import wait_until
from tests.receivers.faulty import FaultyEndpoint
from tests.receivers.otlp import OtlpHttpReceiver

pytestmark = pytest.mark.integration

# A CLI host (package "__main__") that prints, then crashes with a message naming ``tag``.
CRASHING_HOST = """
import sys
from otel_telemetry import Telemetry
t = Telemetry(app="acme", package="__main__", exporters="otlp")
{before}
t.install()
print("host output")
def crash(tag):
    raise ValueError(f"crash {{tag}}")
crash(sys.argv[1])
"""

# The next run of the host: it sends what the crashed one left on disk, then ends.
NEXT_RUN = """
from otel_telemetry import Telemetry
t = Telemetry(app="acme", package="__main__", exporters="otlp")
t.install()
assert t.flush(30)
"""


def _host(before: str = "") -> str:
    return CRASHING_HOST.format(before=before)


def _messages(receiver: OtlpHttpReceiver) -> list[str]:
    return [
        attributes(span["events"][0]["attributes"])["exception.message"]
        for received in list(receiver.requests)
        for span in received.spans()
    ]


def _files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.is_dir() else []


def test_healthy_endpoint_gets_the_report_once_after_the_host_ended(
    host_env: dict[str, str], otlp_http: OtlpHttpReceiver, config_dir: Path
) -> None:
    env = otlp_env(host_env, otlp_http, ACME_TELEMETRY="1")
    process = subprocess.Popen(
        [sys.executable, "-c", _host(), "alpha"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    stdout, stderr = process.communicate(timeout=120)
    # The host has ended; its sender waits for that before it sends anything.
    arrived_before_exit = len(otlp_http.requests)
    spans = otlp_http.wait_for_spans(1)
    wait_for_senders(env)

    assert arrived_before_exit == 0
    assert process.returncode == 1
    assert stdout == "host output\n"
    assert stderr.rstrip().endswith("ValueError: crash alpha")
    assert "otel_telemetry" not in stderr
    assert len(spans) == 1
    assert _messages(otlp_http) == ["crash alpha"]
    layout = config_dir / "telemetry"
    assert _files(layout / "outbox") == []
    assert _files(layout / "spool") == []
    assert _files(layout / "senders") == []


def test_blackholed_endpoint_keeps_the_report_for_the_next_run(
    host_env: dict[str, str], config_dir: Path, faulty: FaultyEndpoint
) -> None:
    env = blackhole_env(host_env, faulty)
    result = run_python(_host(), env, "beta")  # waits for the sender to give up
    assert result.returncode == 1
    assert faulty.delivered == []
    outbox = config_dir / "telemetry" / "outbox"
    assert len(_files(outbox)) == 1  # scrubbed into the outbox, waiting
    assert _files(config_dir / "telemetry" / "spool") == []

    with OtlpHttpReceiver() as receiver:
        later = run_python(NEXT_RUN, {**env, "ACME_OTLP_ENDPOINT": receiver.endpoint}, check=True)
        assert later.returncode == 0
        receiver.wait_for_spans(1)
        assert _messages(receiver) == ["crash beta"]
    assert _files(outbox) == []


def test_a_sender_killed_before_it_converted_leaves_the_spool_to_the_next_run(
    host_env: dict[str, str], otlp_http: OtlpHttpReceiver, config_dir: Path
) -> None:
    # An exit step that runs after ours (registered first, so called last) keeps the host
    # alive a while: its sender is then waiting for it, and is killed there.
    linger = "import atexit, time\natexit.register(time.sleep, 3)"
    env = otlp_env(host_env, otlp_http, ACME_TELEMETRY="1")
    process = subprocess.Popen(
        [sys.executable, "-c", _host(linger), "gamma"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        [pid] = wait_until(lambda: running_senders(str(config_dir)), "a sender started")
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: not running_senders(str(config_dir)), "the sender is gone")
    finally:
        process.wait(timeout=60)
    spool = config_dir / "telemetry" / "spool"
    assert len(_files(spool)) == 1
    assert otlp_http.requests == []

    run_python(NEXT_RUN, env, check=True)
    otlp_http.wait_for_spans(1)
    time.sleep(0.5)  # a second delivery, if there were one, would have come by now
    assert _messages(otlp_http) == ["crash gamma"]
    assert _files(spool) == []


def test_a_sender_killed_while_sending_is_finished_by_the_next_run(
    host_env: dict[str, str], config_dir: Path, faulty: FaultyEndpoint
) -> None:
    env = blackhole_env(host_env, faulty)
    process = subprocess.Popen(
        [sys.executable, "-c", _host(), "delta"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    process.wait(timeout=60)
    outbox = config_dir / "telemetry" / "outbox"
    # Claimed by the sender: it is blocked on the blackhole with it.
    wait_until(lambda: any(".claimed-" in n for n in _files(outbox)), "a claimed report")
    for pid in running_senders(str(config_dir)):
        os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not running_senders(str(config_dir)), "the sender is gone")

    with OtlpHttpReceiver() as receiver:
        run_python(NEXT_RUN, {**env, "ACME_OTLP_ENDPOINT": receiver.endpoint}, check=True)
        receiver.wait_for_spans(1)
        time.sleep(0.5)
        assert _messages(receiver) == ["crash delta"]
    assert _files(outbox) == []


def test_sixteen_hosts_crashing_together_deliver_each_report_once(
    host_env: dict[str, str], otlp_http: OtlpHttpReceiver, config_dir: Path
) -> None:
    env = otlp_env(host_env, otlp_http, ACME_TELEMETRY="1")
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _host(), f"number{i}"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for i in range(16)
    ]
    for process in processes:
        assert process.wait(timeout=120) == 1
    wait_for_senders(env, timeout=120)
    otlp_http.wait_for_spans(16, timeout=60)
    time.sleep(0.5)
    assert sorted(_messages(otlp_http)) == sorted(f"crash number{i}" for i in range(16))
    telemetry = config_dir / "telemetry"
    assert _files(telemetry / "outbox") == []
    assert _files(telemetry / "spool") == []
    assert _files(telemetry / "senders") == []


def test_consent_withdrawn_before_the_sender_runs_sends_nothing(
    host_env: dict[str, str], otlp_http: OtlpHttpReceiver, config_dir: Path
) -> None:
    # Consent saved; after the handoff, a later exit step withdraws it (as `disable`
    # from another terminal would): the capture spooled before that is deleted unsent.
    steps = (
        "import atexit\n"
        "atexit.register(t.disable)\n"  # registered before install: runs after ours
        "t.enable()"
    )
    env = otlp_env(host_env, otlp_http)
    result = run_python(_host(steps), env, "epsilon")
    assert result.returncode == 1
    time.sleep(0.5)
    assert otlp_http.requests == []
    telemetry = config_dir / "telemetry"
    assert _files(telemetry / "spool") == []
    assert _files(telemetry / "outbox") == []


def test_local_mode_records_the_report_on_this_machine_only(
    host_env: dict[str, str], otlp_http: OtlpHttpReceiver, config_dir: Path
) -> None:
    env = otlp_env(host_env, otlp_http)
    result = run_python(_host("t.enable(local=True)"), env, "zeta")
    assert result.returncode == 1
    assert otlp_http.requests == []
    reports = config_dir / "telemetry" / "reports"
    lines = [line for p in reports.glob("*.jsonl") for line in p.read_text().splitlines()]
    assert len(lines) == 1
    assert "crash zeta" in lines[0]
    assert _files(config_dir / "telemetry" / "spool") == []


def test_the_sender_holds_none_of_the_descriptors_the_host_inherited(
    host_env: dict[str, str], config_dir: Path, faulty: FaultyEndpoint
) -> None:
    # A caller that waits for the end of a pipe it gave the host (or a `flock -n` guard
    # on a descriptor) must see it closed when the host ends, not when its sender does.
    env = blackhole_env(host_env, faulty)  # the sender stays, waiting on the endpoint
    read_end, write_end = os.pipe()
    os.set_inheritable(write_end, True)
    try:
        process = subprocess.Popen(
            [sys.executable, "-c", _host(), "gamma"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(write_end,),
        )
        os.close(write_end)
        assert process.wait(60) == 1
        [sender] = running_senders(str(config_dir))  # still running (blackholed)
        import select

        ready, _, _ = select.select([read_end], [], [], 10)
        assert ready, "the pipe the host inherited is still held open"
        assert os.read(read_end, 1) == b""  # its end: no process of ours holds it
        assert str(write_end) not in os.listdir(f"/proc/{sender}/fd")
    finally:
        os.close(read_end)
        for pid in running_senders(str(config_dir)):
            os.kill(pid, signal.SIGKILL)  # the report waits on disk
    wait_for_senders(env)


def test_an_isolated_host_s_sender_imports_nothing_from_the_environment_s_path(
    host_env: dict[str, str], otlp_http: OtlpHttpReceiver, config_dir: Path, tmp_path: Path
) -> None:
    # A host run with -I ignores PYTHONPATH; its sender, started by it, must too.
    planted = tmp_path / "planted"
    planted.mkdir()
    marker = tmp_path / "planted-ran"
    for name in ("json", "opentelemetry", "otel_telemetry"):
        (planted / f"{name}.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    env = {**otlp_env(host_env, otlp_http, ACME_TELEMETRY="1"), "PYTHONPATH": str(planted)}
    package_root = str(Path(__file__).resolve().parent.parent)
    code = f"import sys; sys.path.insert(0, {package_root!r})\n" + _host()
    result = subprocess.run(
        [sys.executable, "-I", "-c", code, "delta"],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stderr
    otlp_http.wait_for_spans(1)
    wait_for_senders(env)
    assert _messages(otlp_http) == ["crash delta"]
    assert not marker.exists()


def test_a_spool_that_cannot_be_written_leaves_the_report_in_the_outbox(
    host_env: dict[str, str], otlp_http: OtlpHttpReceiver, config_dir: Path
) -> None:
    telemetry = config_dir / "telemetry"
    telemetry.mkdir(parents=True, mode=0o700)
    (telemetry / "spool").write_text("not a folder")  # the spool cannot be made
    env = otlp_env(host_env, otlp_http, ACME_TELEMETRY="1")

    result = run_python(_host(), env, "epsilon")

    assert result.returncode == 1
    otlp_http.wait_for_spans(1)
    assert _messages(otlp_http) == ["crash epsilon"]


# A crash from generated code compiled under a huge file name (a template engine's):
# 150 frames of it, after an ordinary handled report (unless ``alone``). Escaped to ASCII,
# its capture alone is larger than a spool file may be.
HUGE_FRAMES_HOST = """
import sys
from otel_telemetry import Telemetry
t = Telemetry(app="acme", package="__main__", exporters="otlp")
t.install()
if sys.argv[2] == "after a report":
    try:
        raise ValueError("an ordinary report first")
    except ValueError as exc:
        t.capture_exception(exc)
name = "/generated/" + "\\u00e9" * 30_000 + ".py"
scope = {"__name__": "__main__"}
exec(compile(
    "def rec(n):\\n    if n == 0:\\n        raise RuntimeError('the huge crash')\\n    rec(n - 1)\\n",
    name, "exec"), scope)
sys.setrecursionlimit(10_000)
scope["rec"](150)
"""


@pytest.mark.parametrize("before", ["alone", "after a report"])
def test_a_crash_too_large_for_the_spool_is_written_to_the_outbox_and_delivered(
    host_env: dict[str, str], otlp_http: OtlpHttpReceiver, config_dir: Path, before: str
) -> None:
    env = otlp_env(host_env, otlp_http, ACME_TELEMETRY="1")

    result = run_python(HUGE_FRAMES_HOST, env, "huge", before)

    assert result.returncode == 1
    assert result.stderr.rstrip().endswith("RuntimeError: the huge crash")
    expected = ["the huge crash"] + (["an ordinary report first"] if before != "alone" else [])
    otlp_http.wait_for_spans(len(expected))
    assert sorted(_messages(otlp_http)) == sorted(expected)
    assert _files(config_dir / "telemetry" / "spool") == []


@pytest.mark.parametrize("linked", ["telemetry", "telemetry/outbox"])
def test_a_disk_that_refuses_the_outbox_still_delivers(
    host_env: dict[str, str],
    otlp_http: OtlpHttpReceiver,
    config_dir: Path,
    tmp_path: Path,
    linked: str,
) -> None:
    """A link where our folder should be (never written through): no sender could write
    the report to the outbox, so the crashing process sends it itself, without a copy on
    disk, as before a spool; nothing unscrubbed is left behind."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    (config_dir / linked).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    (config_dir / linked).symlink_to(elsewhere)
    env = otlp_env(host_env, otlp_http, ACME_TELEMETRY="1")

    result = run_python(_host(), env, "zeta")

    assert result.returncode == 1
    assert result.stdout == "host output\n"
    otlp_http.wait_for_spans(1)
    assert _messages(otlp_http) == ["crash zeta"]
    assert list(elsewhere.iterdir()) == []  # nothing written through the link
    assert _files(config_dir / "telemetry" / "spool") == []


@pytest.mark.parametrize("planted", ["a folder", "a link"])
def test_a_planted_sender_lock_stops_no_sender(
    host_env: dict[str, str], otlp_http: OtlpHttpReceiver, config_dir: Path, planted: str
) -> None:
    """The lock is the ``telemetry`` folder's own: a ``sender.lock`` of any kind is inert."""
    telemetry = config_dir / "telemetry"
    telemetry.mkdir(parents=True, mode=0o700)
    if planted == "a folder":
        (telemetry / "sender.lock").mkdir()
    else:
        (telemetry / "sender.lock").symlink_to("/nonexistent")
    env = otlp_env(host_env, otlp_http, ACME_TELEMETRY="1")

    result = run_python(_host(), env, "eta")

    assert result.returncode == 1
    otlp_http.wait_for_spans(1)
    assert _messages(otlp_http) == ["crash eta"]
    assert _files(telemetry / "spool") == []


# A host whose exit goes on for longer than the sender waits for it (an atexit handler
# that uploads a log, waits for a child): the report must not wait for it.
SLOW_EXIT_HOST = """
import atexit, sys, time
from otel_telemetry import Telemetry
t = Telemetry(app="acme", package="__main__", exporters="otlp")
t.install()
atexit.register(time.sleep, float(sys.argv[2]))  # runs after ours: registered later
def crash(tag):
    raise ValueError(f"crash {tag} with password=hunter2")
crash(sys.argv[1])
"""


def test_a_parent_that_takes_long_to_end_does_not_hold_its_report_back(
    host_env: dict[str, str], otlp_http: OtlpHttpReceiver, config_dir: Path
) -> None:
    from otel_telemetry._detached import PARENT_WAIT

    env = otlp_env(host_env, otlp_http, ACME_TELEMETRY="1")
    process = subprocess.Popen(
        [sys.executable, "-c", SLOW_EXIT_HOST, "theta", str(PARENT_WAIT + 20)],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        spans = otlp_http.wait_for_spans(1, timeout=PARENT_WAIT + 15)
        assert process.poll() is None  # still ending: the report did not wait for it
        assert _files(config_dir / "telemetry" / "spool") == []  # scrubbed, not left raw
    finally:
        process.kill()
        process.communicate(timeout=30)
        wait_for_senders(env)
    assert len(spans) == 1
    assert "hunter2" not in _messages(otlp_http)[0]
