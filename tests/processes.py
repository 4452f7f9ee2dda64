"""Timing a crashing process from the outside, for tests and benchmarks alike."""

from __future__ import annotations

import subprocess
import time

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
