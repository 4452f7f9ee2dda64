"""Processes for tests and benchmarks: timing a crashing one, waiting for one to be ready."""

from __future__ import annotations

import subprocess
import time
from typing import Callable, TypeVar

T = TypeVar("T")

PEAK_RSS = """
def peak_rss_kib():
    import resource
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return peak
try:  # a child keeps its parent's peak across fork and exec: count afresh (Linux)
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")
except OSError:
    pass
"""
"""Code for a child process: ``peak_rss_kib()``, its own peak RSS from here on.

``ru_maxrss`` alone would report the test runner's peak, inherited across fork and exec.
"""

MARKER = "@@ "
"""A process writes ``@@ <time.monotonic()>`` to stderr at the moment it crashes."""


def exit_delay(
    argv: list[str], env: dict[str, str]
) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Run ``argv``; the seconds from its marker to its end, and how it ended.

    ``time.monotonic`` is one clock for every process of the machine, so the marker's
    time and ours compare.
    """
    process = subprocess.Popen(
        argv, env=env, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    _, stderr = process.communicate(timeout=120)
    ended = time.monotonic()
    marker = next(line for line in stderr.splitlines() if line.startswith(MARKER))
    result = subprocess.CompletedProcess(argv, process.returncode, None, stderr)
    return ended - float(marker[len(MARKER) :]), result


def wait_until(condition: Callable[[], T], what: str, timeout: float = 60.0) -> T:
    """Call ``condition`` until it returns something true, and return that.

    It is polled every 50 ms; after ``timeout`` seconds the wait fails, saying ``what``
    did not happen. ``condition`` may raise to end the wait early (a server that died).
    """
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.05)
