"""Promise attacked: "never hurts the host", for signals and fork.

A Ctrl-C ends a host exactly as it would without us (killed by SIGINT, so that a calling
shell loop stops), and a host that forks while another thread reports never leaves a
child deadlocked at its first crash.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest

from tests.conftest import otlp_env, run_python
from tests.payloads import attributes

pytestmark = pytest.mark.integration

# A host CLI blocked in time.sleep when the user presses Ctrl-C.
_SLEEPER = """
import sys, time
if sys.argv[1] == "acme":
    import acme  # installs the hooks
# One line: the signal may land before or inside the sleep, the traceback is the same.
print("ready", flush=True); time.sleep(60)
"""


def _interrupt(argument: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", _SLEEPER, argument],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline() == "ready\n"
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


@pytest.mark.parametrize("telemetry", ["0", "1"], ids=["telemetry off", "telemetry on"])
def test_ctrl_c_ends_the_host_by_sigint_as_without_us(host_env, telemetry):
    host_env["ACME_TELEMETRY"] = telemetry
    without = _interrupt("plain", host_env)
    with_us = _interrupt("acme", host_env)
    assert without.returncode == -signal.SIGINT
    assert with_us.returncode == -signal.SIGINT, with_us.stderr
    assert with_us.stderr == without.stderr


# A host whose thread reports crashes in a loop while the main thread forks children;
# each child reports a crash of its own, then exits 7.
_FORKER = """
import json, os, sys, threading, time
from otel_telemetry import Telemetry

t = Telemetry(app="acme", package="__main__")
t.install()
stop = False

def crash(n):
    raise ValueError(f"crash {n}")

def reporter():
    n = 0
    while not stop:
        n += 1
        try:
            crash(n % 7)
        except ValueError as exc:
            t.capture_exception(exc)

for _ in range(4):  # several reporting threads: the guard's lock is often held
    threading.Thread(target=reporter, daemon=True).start()
time.sleep(0.2)
children = []
for i in range(int(sys.argv[1])):
    pid = os.fork()
    if pid == 0:
        try:
            crash(-1)
        except ValueError as exc:
            t.capture_exception(exc)
        os._exit(7)
    children.append(pid)
stop = True
statuses = {}
deadline = time.monotonic() + 20
for pid in children:
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            statuses[pid] = os.waitstatus_to_exitcode(status) if hasattr(os, "waitstatus_to_exitcode") else status >> 8
            break
        if time.monotonic() > deadline:
            statuses[pid] = "deadlocked"
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            break
        time.sleep(0.01)
print(json.dumps(sorted(map(str, statuses.values()))))
os._exit(0)
"""


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="no fork on this platform")
def test_no_forked_child_deadlocks_at_its_first_crash(host_env):
    host_env["ACME_TELEMETRY"] = "1"
    children = 200
    result = run_python(_FORKER, host_env, str(children), check=True)
    statuses = json.loads(result.stdout)
    assert statuses == ["7"] * children


# A host that forks right after its first report, while our worker is still importing
# the pipeline: each child's own crash must still be reported.
_FORK_AT_FIRST_REPORT = """
import os, sys, time
import acme.crawler
from acme.telemetry import telemetry

try:
    acme.crawler.parse_robots("parent")  # quoted in the message: an identifier stays
except ValueError as exc:
    telemetry.capture_exception(exc)  # the worker starts importing now
children = []
for i in range(8):
    time.sleep(0.01 * i)
    pid = os.fork()
    if pid == 0:
        try:
            acme.crawler.parse_robots(f"child_{i}")
        except ValueError as exc:
            telemetry.capture_exception(exc)
        os._exit(0 if telemetry.flush(30) else 3)
    children.append(pid)
codes = [os.waitpid(pid, 0)[1] for pid in children]
telemetry.flush(30)
print(codes)
"""


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="no fork on this platform")
def test_children_forked_during_the_first_report_report_their_own(host_env, otlp_http):
    env = otlp_env(host_env, otlp_http, ACME_TELEMETRY="1")

    result = run_python(_FORK_AT_FIRST_REPORT, env)

    assert result.returncode == 0, result.stderr
    assert result.stdout == "[0, 0, 0, 0, 0, 0, 0, 0]\n", result.stderr
    messages = {
        attributes(event["attributes"])["exception.message"]
        for span in otlp_http.wait_for_spans(9)
        for event in span["events"]
    }
    assert len(messages) == 9, messages


# A host that forks from a thread: in the child, that thread is the only one of the
# host, and the child ends when it returns, unless a thread of ours lives on.
_FORK_FROM_A_THREAD = """
import os, sys, threading, time
import acme.crawler
from acme.telemetry import telemetry

def work():
    pid = os.fork()
    if pid == 0:
        try:
            acme.crawler.parse_robots("in the child")
        except ValueError as exc:
            telemetry.capture_exception(exc)
        return  # the child's only thread of the host ends here
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            print("child ended")
            return
        time.sleep(0.05)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    print("child never ended")

thread = threading.Thread(target=work)
thread.start()
thread.join()
"""


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="no fork on this platform")
def test_a_child_forked_from_a_thread_still_ends(host_env, otlp_http):
    env = otlp_env(host_env, otlp_http, ACME_TELEMETRY="1")

    result = run_python(_FORK_FROM_A_THREAD, env)

    assert result.returncode == 0, result.stderr
    assert result.stdout == "child ended\n", result.stderr


# An at-fork pair (``before`` + ``after_in_parent``) registered from our worker while
# the host forks runs its second half alone: CPython's ``logging`` then prints
# "cannot release un-acquired lock" on the host's stderr. Every pair our capture and
# delivery register must be registered on the host's own thread, or by our worker
# holding the guard a fork takes first (``_fork._pair_guard``), so that no fork is
# between its halves then. The host's thread imports nothing for it (its first capture
# stays cheap): logging's pair is registered by the worker, guarded.
_PAIRS = """
import os, sys, threading
pairs = []
register = os.register_at_fork
def spy(**callbacks):
    if "before" in callbacks or "after_in_parent" in callbacks:
        if threading.current_thread() is threading.main_thread():
            pairs.append("host")
        else:
            from otel_telemetry import _fork
            pairs.append("guarded" if _fork._pair_guard.locked() else "unguarded")
    return register(**callbacks)
os.register_at_fork = spy
from otel_telemetry import Telemetry
t = Telemetry(app="acme", package="__main__", exporters=sys.argv[1].split(","))
assert "logging" not in sys.modules, "the host has not imported logging"
try:
    raise ValueError("boom")
except ValueError as exc:
    t.capture_exception(exc)
t.flush(5)
print(pairs)
"""


@pytest.mark.integration
@pytest.mark.skipif(not hasattr(__import__("os"), "register_at_fork"), reason="no fork")
@pytest.mark.parametrize("exporters", ["file", "otlp", "sentry"])
def test_at_fork_pairs_are_registered_on_the_host_thread(host_env, exporters):
    host_env["ACME_TELEMETRY"] = "1"
    host_env["ACME_OTLP_ENDPOINT"] = "http://127.0.0.1:9"
    host_env["ACME_SENTRY_DSN"] = "http://key@127.0.0.1:9/1"
    result = run_python(_PAIRS, host_env, exporters, check=True)
    pairs = result.stdout.strip().splitlines()[-1]
    # Ours at import (the guard itself), then logging's, imported by the worker.
    assert pairs == "['host', 'guarded']", result.stdout


# The race the guard is for, made certain: the host's fork begins (its `before`
# callbacks chosen) while our worker imports `logging`, whose pair is registered before
# the fork chooses its `after_in_parent` callbacks. A callback of the host's, called
# first when the fork begins, lets the importing thread go on only then.
_FORK_DURING_IMPORT = """
import os, sys, threading
from otel_telemetry import _fork
assert "logging" not in sys.modules
forking, imported = threading.Event(), threading.Event()
def worker():  # as the worker's `import_fork_pairs`: logging imported holding the guard
    with _fork._pair_guard:
        forking.wait(10)
        import logging  # noqa: F401
        imported.set()
threading.Thread(target=worker).start()
while not _fork._pair_guard.locked():
    pass
os.register_at_fork(before=forking.set)  # registered last: called first by the fork
pid = os.fork()
if pid == 0:
    os._exit(0)
_, status = os.waitpid(pid, 0)
print("child", os.waitstatus_to_exitcode(status), imported.is_set())
"""


@pytest.mark.integration
@pytest.mark.skipif(not hasattr(__import__("os"), "register_at_fork"), reason="no fork")
def test_a_fork_begun_while_the_worker_imports_logging_stays_balanced(host_env):
    result = run_python(_FORK_DURING_IMPORT, host_env, check=True)
    assert result.stdout == "child 0 True\n", result.stderr
    assert "un-acquired" not in result.stderr, result.stderr
    assert result.stderr == "", result.stderr


# A host whose signal handler reports what it catches, the signal landing while the
# host's own thread is in the middle of a report of ours: deterministic through the
# host's `should_report` filter (run on our path), or an audit hook firing at the import
# of the pipeline (the first report of a terminal makes it), or a timer every 300 µs.
_REENTERED = """
import os, signal, sys, threading, time
from otel_telemetry import Telemetry
how = sys.argv[1]
def should_report(exc):
    if how == "filter" and str(exc) == "the host's error":
        signal.raise_signal(signal.SIGUSR1)
    return True
t = Telemetry(app="acme", package="__main__", should_report=should_report)
t.install(**({"mode": "interactive"} if how != "filter" else {}))
def handler(signum, frame):
    try:
        raise RuntimeError("from the signal handler")
    except RuntimeError as exc:
        t.capture_exception(exc)
signal.signal(signal.SIGUSR1, handler)
signal.signal(signal.SIGALRM, handler)
if how == "import":
    def audit(event, args):
        if event == "import" and args[0] == "otel_telemetry.pipeline._pipeline":
            signal.raise_signal(signal.SIGUSR1)
    sys.addaudithook(audit)
def watchdog():
    time.sleep(20)
    os.write(2, b"HUNG")
    os._exit(99)
threading.Thread(target=watchdog, daemon=True).start()
if how == "timer":
    signal.setitimer(signal.ITIMER_REAL, 0.0003, 0.0003)
try:
    raise ValueError("the host's error")
except ValueError as exc:
    t.capture_exception(exc)
signal.setitimer(signal.ITIMER_REAL, 0)
print("returned", t.flush(10))
"""


@pytest.mark.parametrize("how", ["filter", "import", "timer"])
def test_a_signal_handler_that_reports_during_a_report_never_hangs_the_host(
    host_env, otlp_http, how
):
    # Before: the nested report waited for a lock its own thread held (the table of
    # reported exceptions, the pipeline being made), forever.
    env = otlp_env(host_env, otlp_http, **({"ACME_TELEMETRY": "1"} if how == "filter" else {}))

    result = run_python(_REENTERED, env, how)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["returned", "True"]
    if how == "filter":
        # Both go: the one made inside the other, on the same thread, right after it.
        spans = otlp_http.wait_for_spans(2)
        messages = sorted(
            attributes(s["events"][0]["attributes"])["exception.message"] for s in spans
        )
        assert messages == ["from the signal handler", "the host's error"]
