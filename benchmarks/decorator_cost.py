"""Added cost of ``capture_errors`` on a call that does not raise, beside the bare call."""

from __future__ import annotations

import time

from otel_telemetry import Telemetry

CALLS = 200_000
BARE = "bare call"
DECORATED = "@telemetry.capture_errors call"


def _work(a: int, b: int = 1) -> int:
    return a + b


def measure(rounds: int) -> dict[str, list[float]]:
    """Nanoseconds per call, per round, bare and decorated (interleaved)."""
    telemetry = Telemetry(app="bench", package=__name__)
    decorated = telemetry.capture_errors(_work)
    contenders = {BARE: _work, DECORATED: decorated}
    results: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, function in contenders.items():
            started = time.perf_counter()
            for i in range(CALLS):
                function(i, b=2)
            results[name].append((time.perf_counter() - started) / CALLS * 1e9)
    return results
