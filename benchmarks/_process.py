"""A contender's long-running process, started and waited for until it says it is ready."""

from __future__ import annotations

import subprocess
from typing import IO


def start_ready(
    name: str, argv: list[str], env: dict[str, str], stderr: IO[bytes], ready: str
) -> subprocess.Popen[str]:
    """Start ``argv`` with pipes for stdin and stdout; return once its first line is ``ready``.

    Its stderr goes to ``stderr`` (a file: a pipe nobody reads could fill and block it).
    A process whose first line is anything else (it failed at its set-up) is stopped, and
    :class:`RuntimeError` says so with the end of its stderr.
    """
    process = subprocess.Popen(
        argv,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
    )
    assert process.stdout is not None
    if process.stdout.readline().strip() != ready:
        process.kill()
        process.communicate()
        stderr.seek(0)
        raise RuntimeError(f"{name} did not start: {stderr.read().decode()[-2000:]}")
    return process
