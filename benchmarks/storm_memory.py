"""Memory a crash storm leaves behind: identical crashes, and distinct ones.

What is measured: the Python memory a process still holds after a storm that it did not
hold before it, with ``tracemalloc`` (started after a warm-up, so only what the storm
allocated and kept is traced), after the reports were flushed and ``gc.collect()`` ran.
The growth of ``VmRSS`` (read from ``/proc/self/status``, the process's current resident
set, not the peak the kernel keeps across fork and exec) over the same span is reported
beside it by ``python benchmarks/storm_memory.py``; it moves in pages and with the
allocator's arenas, so it is coarser.

Two figures per storm: what the whole storm left (one-time fills of bounded caches, such
as the 256 remembered crash fingerprints and the scrubber's memory, count here), and what
its second half alone added (those caches are full by then: what still grows with the
number of crashes is a leak).

Two storms, each in a fresh process per round (interleaved with the peer):

- identical: ``IDENTICAL`` crashes from one site with one message (ours keeps one capture
  per crash fingerprint and counts the rest: this is the storm-counting path);
- distinct: ``DISTINCT`` crashes from ``SITES`` crash sites (functions compiled under their
  own file names), each with its own message, the storm limit raised so that every one of
  them goes through the whole pipeline (capture, scrub, span, exporter ``none``); the app
  flushes every ``PACE`` crashes, so no report is dropped by a full queue.

The peer, the plain OpenTelemetry SDK, records each exception on a span
(``BatchSpanProcessor`` with its bounded queue, exporting nowhere), with the same crashes,
the same warm-up, flushes and measurement: the comparison is what each keeps per crash.

A leak would show: ``python benchmarks/storm_memory.py --leak-check`` runs the distinct
storm against a throwaway copy of the package whose capture also appends a 40-byte object
to a module-level list on every crash, and prints what it read. On a busy 2-core machine
it read, for 10,000 distinct crashes: ours +234 KiB over the storm, +4.1 KiB over its
second half; the leaking copy +719 KiB and +242 KiB (the leak alone: 40 bytes + an
8-byte list slot per crash, 469 KiB, 234 KiB in the second half).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _config import config_dir  # a sibling module, not a package

OURS = "otel_telemetry"
OTEL = "OTel SDK record_exception + BatchSpanProcessor"
IDENTICAL = 100_000
DISTINCT = 10_000
SITES = 1_000
WARMUP = 1_000  # crashes before measuring: imports, caches and the pipeline warm
PACE = 100  # crashes between flushes (the queues hold 256 and 2,048)
ROOT = Path(__file__).resolve().parent.parent

_LOOP = """
import gc, sys, tracemalloc
KIND, CRASHES, SITES, WARMUP, PACE = sys.argv[1], *map(int, sys.argv[2:6])
def rss_kib():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
def site(index):
    # A crash site of its own: its own file name and function name, so its own fingerprint.
    code = compile(f"def crash_{index}(message):\\n    raise ValueError(message)\\n",
                   f"site_{index}.py", "exec")
    scope = {}
    exec(code, scope)
    return scope[f"crash_{index}"]
if KIND == "identical":
    crashes = [site(0)]
    def message(i):
        return "upstream reset"
else:
    crashes = [site(index) for index in range(SITES)]
    def message(i):
        return f"upstream reset on request {i} for user {i * 7919 % 100003}"
def crash(i):
    try:
        crashes[i % len(crashes)](message(i))
    except ValueError as exc:
        report(exc)
for i in range(WARMUP):
    crash(i)
    if i % PACE == PACE - 1:
        settle()
settle()
gc.collect()
before = rss_kib()
tracemalloc.start()
half = WARMUP + CRASHES // 2
for i in range(WARMUP, WARMUP + CRASHES):
    if i == half:
        settle()
        gc.collect()
        at_half = tracemalloc.get_traced_memory()[0]
    crash(i)
    if KIND == "distinct" and i % PACE == PACE - 1:
        settle()
settle()
gc.collect()
grown = tracemalloc.get_traced_memory()[0]
print(grown / 1024, (grown - at_half) / 1024, rss_kib() - before)
"""

_SCRIPTS = {
    OURS: """
from otel_telemetry import Telemetry
t = Telemetry(app="bench", package="__main__", exporters="none",
              storm_limit=5 if sys.argv[1] == "identical" else 10**9)
report = t.capture_exception
def settle():
    t.flush(60)
""",
    OTEL: """
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
class Nowhere(SpanExporter):
    def export(self, spans):
        return SpanExportResult.SUCCESS
provider = TracerProvider()
provider.add_span_processor(BatchSpanProcessor(Nowhere()))
tracer = provider.get_tracer("bench")
def report(exc):
    with tracer.start_as_current_span("request") as span:
        span.record_exception(exc)
def settle():
    provider.force_flush()
""",
}


Growth = tuple[float, float, float]
"""KiB kept: over the storm (tracemalloc), over its second half (tracemalloc), VmRSS."""


def _run(
    script: str, kind: str, crashes: int, sites: int, pythonpath: Optional[str] = None
) -> Growth:
    """One fresh process: what it kept, in KiB (see :data:`Growth`)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "BENCH_"))}
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    arguments = [str(value) for value in (crashes, sites, WARMUP, PACE)]
    with config_dir() as config:
        out = subprocess.run(
            [sys.executable, "-c", "import sys\n" + script + _LOOP, kind, *arguments],
            env={**env, "BENCH_TELEMETRY": "1", "BENCH_CONFIG_DIR": config},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=True,
            timeout=900,
        ).stdout
    traced, second_half, rss = (float(value) for value in out.split()[-3:])
    return traced, second_half, rss


def measure_all(
    rounds: int, identical: int = IDENTICAL, distinct: int = DISTINCT, sites: int = SITES
) -> dict[str, dict[str, list[Growth]]]:
    """Per storm kind and contender, one :data:`Growth` per round (interleaved)."""
    counts = {"identical": identical, "distinct": distinct}
    results: dict[str, dict[str, list[Growth]]] = {
        kind: {name: [] for name in _SCRIPTS} for kind in counts
    }
    for _ in range(rounds):
        for kind, crashes in counts.items():
            for name, script in _SCRIPTS.items():
                results[kind][name].append(_run(script, kind, crashes, sites))
    return results


def measure(rounds: int, **counts: int) -> dict[str, dict[str, list[float]]]:
    """KiB of Python memory kept, per round, by storm and contender.

    Keys: ``identical`` and ``distinct`` (over the whole storm, after the warm-up: one-time
    fills of bounded caches count), and the same with `` second half`` (over the storm's
    second half only: what keeps growing with the number of crashes).
    """
    results: dict[str, dict[str, list[float]]] = {}
    for kind, by_name in measure_all(rounds, **counts).items():
        results[kind] = {name: [g[0] for g in values] for name, values in by_name.items()}
        # Less held at the end than at the half (a freed buffer) is no growth: 0, not a
        # negative figure whose ratio would mean nothing.
        results[f"{kind} second half"] = {
            name: [max(0.0, g[1]) for g in values] for name, values in by_name.items()
        }
    return results


def leak_check(distinct: int = DISTINCT, sites: int = SITES) -> Growth:
    """The distinct storm against a copy of the package that leaks 40 bytes per crash.

    Returns what it kept (:data:`Growth`); the leak alone is ``distinct`` x (40 bytes +
    an 8-byte list slot), about 470 KiB for 10,000 crashes, half of it in the second half.
    """
    with tempfile.TemporaryDirectory() as copy:
        package = Path(copy) / "otel_telemetry"
        shutil.copytree(
            ROOT / "otel_telemetry", package, ignore=shutil.ignore_patterns("__pycache__")
        )
        # Appended to the copy's module: every capture_exception call also keeps 40 bytes.
        with open(package / "_telemetry.py", "a", encoding="utf-8") as module:
            module.write(
                "\n_LEAK: list = []\n"
                "_capture = Telemetry.capture_exception\n"
                "def _leaky(self, exc=None):\n"
                "    _LEAK.append(bytes(7))  # sys.getsizeof(bytes(7)) == 40\n"
                "    return _capture(self, exc)\n"
                "Telemetry.capture_exception = _leaky\n"
            )
        return _run(_SCRIPTS[OURS], "distinct", distinct, sites, pythonpath=copy)


def _line(label: str, growth: Growth) -> str:
    traced, second_half, rss = growth
    return (
        f"{label}: tracemalloc +{traced:.1f} KiB (second half +{second_half:.1f} KiB),"
        f" VmRSS +{rss:.0f} KiB"
    )


if __name__ == "__main__":
    if "--leak-check" in sys.argv:
        ours = _run(_SCRIPTS[OURS], "distinct", DISTINCT, SITES)
        print(_line(f"ours, {DISTINCT:,} distinct crashes", ours))
        print(_line("the same with a deliberate 40-byte leak per crash", leak_check()))
        print(f"(the leak alone: {DISTINCT * 48 / 1024:.0f} KiB)")
    else:
        for kind, by_name in measure_all(1).items():
            for name, values in by_name.items():
                print(_line(f"{kind:9} {name}", values[0]))
