"""Processes for tests and benchmarks: timing a crashing one, waiting for one to be ready."""

from __future__ import annotations

import http.client
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Optional, TypeVar, Union

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


def http_request(
    port: int,
    method: str,
    path: str,
    body: Union[str, bytes, None] = None,
    headers: Optional[dict[str, str]] = None,
) -> tuple[int, bytes]:
    """One request to ``127.0.0.1:<port>`` on a connection of its own: status and body."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def wait_until_healthy(port: int, process: subprocess.Popen[str]) -> None:
    """Wait until the server ``process`` answers ``GET /health`` on ``port`` with 200.

    A server that ended meanwhile fails the wait at once, with its stderr (a pipe).
    """

    def healthy() -> bool:
        try:
            return http_request(port, "GET", "/health")[0] == 200
        except OSError:
            if process.poll() is not None:
                raise AssertionError(process.stderr and process.stderr.read()) from None
            return False

    wait_until(healthy, "the server answering /health")


def serve(
    argv: list[str], env: dict[str, str], cwd: Optional[Path] = None
) -> tuple[subprocess.Popen[str], int]:
    """Start a server (``argv`` after the interpreter, the port appended); wait for it.

    Its stderr is a pipe (read it with ``communicate``); a server that ends before it
    answers ``GET /health`` fails the wait with that stderr.
    """
    from tests.conftest import free_port

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, *argv, str(port)],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_until_healthy(port, process)
    return process, port
