"""`make bench`: every measurement, side by side in one run, as one table of ratios.

Import cost, app-thread capture cost (also in a crash storm), scrub throughput and the
exit delay of a crashing process with a blackholed endpoint.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import capture_cost  # sibling scripts, not a package
import exit_delay
import import_cost
import scrub_throughput

ROUNDS = 9
EXIT_ROUNDS = 5  # each round waits out the plain OTel SDK's 10 s export timeout


def _row(name: str, values: list[float]) -> str:
    median = statistics.median(values)
    return f"  {name:<52} {median:8.2f} ms   [{min(values):.2f} - {max(values):.2f}]"


def main() -> int:
    print(
        f"otel_telemetry benchmarks: Python {platform.python_version()}, {platform.machine()},"
        f" {os.cpu_count()} cores; {ROUNDS} rounds interleaved; median [min - max]"
    )
    results = import_cost.measure(ROUNDS)
    ours, peer = import_cost.OURS, import_cost.PEER
    failed = False
    for metric in ("importtime_ms", "wall_ms"):
        label = {
            "importtime_ms": "import cost (-X importtime, cumulative)",
            "wall_ms": "wall time of the lines",
        }[metric]
        print(f"\n{label}")
        for name in (ours, peer):
            print(_row(name, results[name][metric]))
        ratio = statistics.median(results[ours][metric]) / statistics.median(results[peer][metric])
        print(f"  ratio ours / {peer.split(':')[0]}: {ratio:.2f}x")
    ours_ms = statistics.median(results[ours]["importtime_ms"])
    verdict = "met" if ours_ms <= import_cost.GOAL_MS else "MISSED"
    failed |= ours_ms > import_cost.GOAL_MS
    print(
        f"\ngoal: import cost at most {import_cost.GOAL_MS:.0f} ms -> {ours_ms:.2f} ms, {verdict}"
    )
    heavy = results[ours]["heavy_modules"]
    print(f"heavy modules loaded by the three lines: {', '.join(heavy) if heavy else 'none'}")
    failed |= bool(heavy)

    print(f"\napp-thread capture of one exception, {capture_cost.DEPTH}-frame traceback (µs)")
    captures = capture_cost.measure(ROUNDS)
    for name, values in captures.items():
        median = statistics.median(values)
        print(f"  {name:<52} {median:8.2f} µs   [{min(values):.2f} - {max(values):.2f}]")
    ours_us = statistics.median(captures[capture_cost.OURS])
    for peer_name in (capture_cost.SENTRY, capture_cost.OTEL):
        ratio = ours_us / statistics.median(captures[peer_name])
        print(f"  ratio ours / {peer_name}: {ratio:.2f}x")
    storm_us = statistics.median(captures[capture_cost.STORM])
    print(
        f"  ratio storm / {capture_cost.OTEL}: {storm_us / statistics.median(captures[capture_cost.OTEL]):.2f}x"
    )

    throughput, size = scrub_throughput.measure(ROUNDS)
    print(
        f"\nscrub throughput, {scrub_throughput.REPORTS} crash reports ({size / 1e3:.0f} kB), MB/s"
    )
    for name, values in throughput.items():
        median = statistics.median(values)
        print(f"  {name:<52} {median:8.1f} MB/s [{min(values):.1f} - {max(values):.1f}]")
    ours_mbps = statistics.median(throughput[scrub_throughput.OURS])
    for peer_name in (scrub_throughput.LOGFIRE, scrub_throughput.SENTRY):
        print(
            f"  ratio ours / {peer_name}: {ours_mbps / statistics.median(throughput[peer_name]):.2f}x"
        )
    print(
        "  (ours applies every value rule to every string; Logfire's default patterns match"
        " secret words and skip exception.message/stacktrace; sentry-sdk's matches keys only)"
    )

    delays = exit_delay.measure(EXIT_ROUNDS)
    print(f"\nexit delay of a crashing process, endpoint blackholed (s), {EXIT_ROUNDS} rounds")
    for name, values in delays.items():
        print(
            f"  {name:<52} {statistics.median(values):8.2f} s    [{min(values):.2f} - {max(values):.2f}]"
        )
    ours_s = statistics.median(delays[exit_delay.OURS])
    otel_s = statistics.median(delays[exit_delay.OTEL])
    sentry_s = statistics.median(delays[exit_delay.SENTRY])
    print(f"  {exit_delay.OTEL} / ours: {otel_s / ours_s:.1f}x longer (goal: at least 8x)")
    print(f"  {exit_delay.SENTRY} / ours: {sentry_s / ours_s:.1f}x longer (goal: more than 1x)")
    failed |= otel_s / ours_s < 8 or sentry_s <= ours_s
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
