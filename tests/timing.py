"""How the cost of scrubbing grows with its input: linear, never quadratic."""

from __future__ import annotations

import time
from typing import Callable

from otel_telemetry.scrubbing import Scrubber, ScrubPass


def growth(scrubber: Scrubber, unit: str, scrub: Callable[[ScrubPass, str], object]) -> str:
    """Scrub ``unit`` repeated to 10 KB, then to 100 KB; fail if the cost grew over 30x.

    The cost is CPU time, best of 3, each time with the scrubber's memory of earlier
    reports emptied (so it measures the work, not a remembered result). A linear scan
    costs about 10x; a quadratic one 100x.

    Returns:
        An empty string when the growth is linear, else a message saying by how much.
    """

    def cost(size: int) -> float:
        text = (unit * (size // len(unit) + 1))[:size]
        best = float("inf")
        for _ in range(3):
            scrub_pass = scrubber.new_pass()
            scrub_pass.compiled.memo.clear()
            started = time.process_time()
            scrub(scrub_pass, text)
            best = min(best, time.process_time() - started)
        return max(best, 1e-4)

    small, large = cost(10_000), cost(100_000)
    if large / small < 30:
        return ""
    return f"{unit!r}: 10 KB {small * 1e3:.1f} ms, 100 KB {large * 1e3:.1f} ms"
