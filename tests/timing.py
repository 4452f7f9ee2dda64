"""How the cost of scrubbing grows with its input: linear, never quadratic."""

from __future__ import annotations

import time
from typing import Callable

from otel_telemetry.scrubbing import Scrubber, ScrubPass


def growth(scrubber: Scrubber, unit: str, scrub: Callable[[ScrubPass, str], object]) -> str:
    """Scrub ``unit`` repeated to 20 KB, then to 100 KB; fail if the cost grew over 15x.

    The cost is CPU time, best of 5, each time with the scrubber's memory of earlier
    reports emptied (so it measures the work, not a remembered result). A linear scan
    costs about 5x; a quadratic one 25x. (10 KB against 100 KB, best of 3, failed once
    at 30x for a linear rule: a 10 KB scan of 2 ms is too short to time well.)

    Returns:
        An empty string when the growth is linear, else a message saying by how much.
    """

    def cost(size: int) -> float:
        text = (unit * (size // len(unit) + 1))[:size]
        best = float("inf")
        for _ in range(5):
            scrub_pass = scrubber.new_pass()
            scrub_pass.compiled.memo.clear()
            started = time.process_time()
            scrub(scrub_pass, text)
            best = min(best, time.process_time() - started)
        return max(best, 1e-4)

    small, large = cost(20_000), cost(100_000)
    if large / small < 15:
        return ""
    return f"{unit!r}: 20 KB {small * 1e3:.1f} ms, 100 KB {large * 1e3:.1f} ms"
