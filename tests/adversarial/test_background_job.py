"""C08: a CLI started as a background job (``cmd &``) never asks, and is never stopped.

A process outside the terminal's foreground process group that reads the terminal is
stopped by ``SIGTTIN`` until the user brings it back with ``fg``: a crash there must take
the path of a non-interactive run (no question, nothing sent) and end at once.

Through a real pseudo-terminal: a small job-control "shell" owns the terminal (its
controlling terminal, its process group in the foreground) and starts the crashing
``acme`` in a process group of its own, as a shell does for ``cmd &``. The user has
typed a line meanwhile, so a process that asks would read it, and be stopped.
"""

from __future__ import annotations

import sys

import pexpect
import pytest

from tests.conftest import acme_command, otlp_env
from tests.payloads import CONTACT, CRAWL_URL

pytestmark = pytest.mark.integration

QUESTION = "We noticed an error. Help improve Acme by sending crash reports?"
BOUND = 60  # seconds the job may take before the "shell" calls it stuck

# The "shell": starts the job in its own process group, then waits for it to exit or to
# be stopped (WUNTRACED), within BOUND seconds, and says which.
SHELL = f"""
import os, signal, sys, time

print("shell: foreground", os.tcgetpgrp(0) == os.getpgrp(), flush=True)
job = os.posix_spawn(sys.argv[1], sys.argv[1:], os.environ, setpgroup=0)
assert os.getpgid(job) != os.tcgetpgrp(0)  # a background job
deadline = time.monotonic() + {BOUND}
while True:
    pid, status = os.waitpid(job, os.WNOHANG | os.WUNTRACED)
    if pid:
        break
    if time.monotonic() > deadline:
        print("job: still running", flush=True)
        os.killpg(job, signal.SIGKILL)
        sys.exit(0)
    time.sleep(0.05)
if os.WIFSTOPPED(status):
    print("job: stopped by", signal.Signals(os.WSTOPSIG(status)).name, flush=True)
    os.killpg(job, signal.SIGKILL)
    os.waitpid(job, 0)
else:
    print("job: exited", os.waitstatus_to_exitcode(status), flush=True)
"""


def test_a_background_job_crashes_without_asking_and_exits(tty_env, otlp_http, config_dir):
    env = otlp_env(tty_env, otlp_http, ACME_TELEMETRY_PROMPT_TIMEOUT="600")
    shell = pexpect.spawn(
        sys.executable,
        ["-c", SHELL, acme_command(), "crawl", CRAWL_URL, "--contact", CONTACT],
        env=env,
        encoding="utf-8",
        timeout=BOUND + 30,
    )
    shell.expect("shell: foreground True")  # the shell owns the terminal
    shell.sendline("1")  # the user types at the terminal while the job runs

    shell.expect(r"job: (exited -?\d+|stopped by \w+|still running)")
    outcome = shell.match.group(1)
    shown = shell.before
    shell.expect(pexpect.EOF)
    shell.close()

    assert outcome == "exited 1", f"the background job {outcome}:\n{shown}"
    assert "CrawlError" in shown  # the host's own traceback is still shown
    assert QUESTION not in shown
    assert otlp_http.requests == []  # the passive path: nothing sent
    assert not (config_dir / "config.json").exists()  # nothing saved
