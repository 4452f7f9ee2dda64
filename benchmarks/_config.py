"""A config directory of its own for one benchmark process, removed once nothing uses it.

A crashing process of ours may leave its reports to a detached sender that outlives it
and still writes below the config directory (the spool, the outbox, the record of sent
reports); removing the directory under it would fail, or leave a half-deleted one
behind. So the directory goes only once the senders it started have ended.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from otel_telemetry.pipeline._handoff import running_senders

SENDERS_TIMEOUT = 60.0
"""Seconds to wait for the senders of one directory (they end after one drain)."""


@contextmanager
def config_dir() -> Iterator[str]:
    """A new empty directory; on leaving, its detached senders are waited for, then it goes."""
    path = tempfile.mkdtemp(prefix="otel-telemetry-bench-")
    try:
        yield path
    finally:
        deadline = time.monotonic() + SENDERS_TIMEOUT
        while running_senders(path) and time.monotonic() < deadline:
            time.sleep(0.01)
        shutil.rmtree(path, ignore_errors=True)
