"""Processes for tests and benchmarks: timing a crashing one, waiting for one to be ready."""

from __future__ import annotations

import subprocess
import time
from typing import Callable, TypeVar

T = TypeVar("T")

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
