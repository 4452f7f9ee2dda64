"""Import cost of the three lines a host runs at import time, beside opentelemetry.trace.

Each case runs in a fresh interpreter, cases interleaved (A B A B ...). Two numbers per
run: the cumulative ``-X importtime`` of what the case imports, and the wall time of the
case's lines measured inside the process (a separate run, without ``-X importtime``).
Bytecode is compiled once beforehand, as it is for an installed package.

Ours runs three times: as a host's users find it before they chose anything (the
default, and the case the goal is about), with consent given by the variable
(``<APP>_TELEMETRY=1``), and with a yes saved in ``config.json``. A capture must import
nothing on the host's thread (the first capture goal), so when a report may go without
asking, ``install()`` imports what the capture needs and makes the pipeline (about 1 ms
more), and with a saved choice, it imports the reader of ``config.json`` too (every
capture reads it). With no choice made, a capture that cannot ask (no terminal) is
refused before anything is imported, and one that asks imports it at that crash, before
the question a person answers.

Each case runs twice: in a bare interpreter, and after ``import logging`` (not timed),
as in a host that logs, which almost every library does: the standard library modules
that ``logging`` brings (``threading``, ``functools``, ``collections``, ``re``...) are
then already there for both sides. In a bare interpreter ``install()`` pays for
``threading`` and its ``functools`` and ``collections`` (about 3.5 ms): it hooks
``threading.excepthook``, and the first capture must start the worker without importing
anything on the host's thread.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _config import config_dir  # sibling modules, not a package

_OURS = (
    "import otel_telemetry\n"
    "telemetry = otel_telemetry.Telemetry(app='bench', package='bench', version='1.0')\n"
    "telemetry.install()\n"
)
OURS = "otel_telemetry: import + Telemetry() + install()"
GIVEN = "otel_telemetry, consent given (BENCH_TELEMETRY=1): import + Telemetry() + install()"
SAVED = "otel_telemetry, a yes saved in config.json: import + Telemetry() + install()"
PEER = "opentelemetry.trace: import"
CASES: dict[str, tuple[str, dict[str, str]]] = {
    OURS: (_OURS, {}),
    GIVEN: (_OURS, {"BENCH_TELEMETRY": "1"}),
    SAVED: (_OURS, {}),  # its own config dir, where config.json holds a yes
    PEER: ("import opentelemetry.trace\n", {}),
}
"""Each case: its code, and the variables it runs with."""
SAVED_CHOICE = {"telemetry": {"enabled": True, "level": "crash", "policy_version": 1}}
LOGGING = " (after import logging)"
"""Suffix of a case run after ``import logging``."""
PRELUDE = "import logging\n"
HEAVY = ("opentelemetry.sdk", "opentelemetry.exporter", "sentry_sdk", "grpc", "google.protobuf")
GOAL_MS = 10.0

_MARK = "@@otel_telemetry_bench@@"
_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def _script(code: str, prelude: str = "") -> str:
    return (
        "import sys, time\n"
        f"{prelude}"
        f"sys.stderr.write({_MARK!r} + '\\n')\n"
        "_t0 = time.perf_counter()\n"
        f"{code}"
        "_t1 = time.perf_counter()\n"
        f"sys.stderr.write({_MARK!r} + '\\n')\n"
        f"_heavy = sorted(m for m in sys.modules if m.startswith({HEAVY!r}))\n"
        "print((_t1 - _t0) * 1e6, *_heavy)\n"
    )


def _env(variables: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BENCH_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # measure as installed: from cached bytecode
    return {**env, **variables}


def _run(
    code: str, importtime: bool, prelude: str = "", variables: Optional[dict[str, str]] = None
) -> tuple[float, list[str], str]:
    flags = ["-X", "importtime"] if importtime else []
    result = subprocess.run(
        [sys.executable, *flags, "-c", _script(code, prelude)],
        env=_env(variables or {}),
        capture_output=True,
        text=True,
        check=True,
    )
    wall_us, *heavy = result.stdout.split()
    return float(wall_us), heavy, result.stderr


def importtime_us(stderr: str) -> int:
    """Sum the cumulative time of the top-level imports between the two marks."""
    inside = stderr.split(_MARK)[1].splitlines()
    entries = [m for m in map(_LINE.match, inside) if m]
    if not entries:
        return 0
    top = min(len(m.group(3)) for m in entries)
    return sum(int(m.group(2)) for m in entries if len(m.group(3)) == top)


def measure(rounds: int) -> dict[str, dict[str, list[float]]]:
    """Per case (each also ``name + LOGGING``): importtime and wall ms, one per round."""
    # Config dirs of their own: no choice saved (whatever the machine's), and a yes.
    with config_dir() as empty, config_dir() as saved:
        Path(saved, "config.json").write_text(json.dumps(SAVED_CHOICE), encoding="utf-8")
        return _measure(rounds, empty, saved)


def _measure(rounds: int, empty: str, saved: str) -> dict[str, dict[str, list[float]]]:
    def env_of(name: str) -> dict[str, str]:
        return {"BENCH_CONFIG_DIR": saved if name == SAVED else empty, **CASES[name][1]}

    cases = {
        **{name: (code, "", env_of(name)) for name, (code, _) in CASES.items()},
        **{name + LOGGING: (code, PRELUDE, env_of(name)) for name, (code, _) in CASES.items()},
    }
    for code, prelude, variables in cases.values():  # warm-up: bytecode, page cache
        _run(code, importtime=False, prelude=prelude, variables=variables)
    results: dict[str, dict[str, list[float]]] = {
        name: {"importtime_ms": [], "wall_ms": []} for name in cases
    }
    heavy_seen: set[str] = set()
    for _ in range(rounds):
        for name, (code, prelude, variables) in cases.items():
            _, heavy, stderr = _run(code, importtime=True, prelude=prelude, variables=variables)
            results[name]["importtime_ms"].append(importtime_us(stderr) / 1000)
            wall_us, _, _ = _run(code, importtime=False, prelude=prelude, variables=variables)
            results[name]["wall_ms"].append(wall_us / 1000)
            if name in (OURS, GIVEN, SAVED):
                heavy_seen.update(heavy)
    # Beside the figures, for the goal's check that no heavy module is imported.
    ours: dict[str, Any] = results[OURS]
    ours["heavy_modules"] = sorted(heavy_seen)
    return results


if __name__ == "__main__":
    print(json.dumps(measure(int(sys.argv[1]) if len(sys.argv) > 1 else 7), indent=2))
