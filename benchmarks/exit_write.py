"""The write at exit: a 0 s budget still leaves the consented report on disk.

When the exit budget runs out before the worker recorded a crash, the exiting thread
writes it to disk itself, without the SDK. Side by side, same run: a
crashing process without any crash reporting (the floor), ours with a 0 s budget (all of
the report's work happens at exit), and sentry-sdk with ``shutdown_timeout=0`` (which
drops the event instead). The endpoint refuses connections; the delay is from the crash
to the process's end.

"On disk" is read the moment the process has ended: the report is in the outbox, or in
the spool (``telemetry/spool/``), where an exiting process leaves what its worker did not
record for a detached sender to scrub into the outbox. The spool is read before the
outbox, and a report leaves the spool only once it is in the outbox (and the endpoint
refuses it, so it stays there): a report on disk is seen in one or the other. Each round's
config directory goes once the detached sender it started has ended (``_config.py``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _config import config_dir  # a sibling module, not a package

from tests.processes import exit_delay

BARE = "no crash reporting (floor)"
OURS = "otel_telemetry, 0 s budget (report written at exit)"
SENTRY = "sentry-sdk, shutdown_timeout=0 (event dropped)"

_CRASH = """
def crash():
    raise ValueError("crash of alice@example.com")
sys.stderr.write(f"@@ {time.monotonic()!r}\\n")
crash()
"""
_SCRIPTS = {
    BARE: "import sys, time\n" + _CRASH,
    OURS: """
import sys, time
from otel_telemetry import Telemetry
Telemetry(app="bench", package="__main__", exporters="otlp").install()
"""
    + _CRASH,
    SENTRY: """
import os, sys, time
import sentry_sdk
sentry_sdk.init(dsn=os.environ["BENCH_DSN"], shutdown_timeout=0)
"""
    + _CRASH,
}


def measure(rounds: int) -> tuple[dict[str, list[float]], int]:
    """Seconds from crash to exit per round for each contender (interleaved), and how
    many of our crashes were on disk afterwards."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "BENCH_", "SENTRY_"))}
    env.update(
        BENCH_OTLP_ENDPOINT="http://127.0.0.1:9",  # discard port: refused
        BENCH_DSN="http://0123456789abcdef0123456789abcdef@127.0.0.1:9/1",
        BENCH_TELEMETRY="1",
        BENCH_TELEMETRY_FLUSH_TIMEOUT="0",
    )
    results: dict[str, list[float]] = {name: [] for name in _SCRIPTS}
    on_disk = 0
    for _ in range(rounds):
        for name, script in _SCRIPTS.items():
            with config_dir() as config:
                delay, _ = exit_delay(
                    [sys.executable, "-c", script], {**env, "BENCH_CONFIG_DIR": config}
                )
                results[name].append(delay)
                if name == OURS:
                    on_disk += _on_disk(Path(config, "telemetry"))
    return results, on_disk


def _on_disk(telemetry: Path) -> int:
    """1 when a report is in the spool or the outbox (read in that order), else 0."""
    for folder in (telemetry / "spool", telemetry / "outbox"):
        if folder.is_dir() and any(path.suffix == ".json" for path in folder.iterdir()):
            return 1
    return 0


if __name__ == "__main__":
    values, written = measure(1)
    for name, delays in values.items():
        print(f"{name}: {delays}")
    print("on disk:", written)
