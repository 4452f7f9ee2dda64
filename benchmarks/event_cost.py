"""App-thread cost of a usage event: ``send_event`` beside ``posthog.Posthog.capture``.

What each costs the host's thread, the call alone: ours checks the event's names and
values and queues it (the queue is replaced by a list here, so the worker's recording,
which runs on its own thread, is not counted, and the queue never fills); PostHog's
client, built with ``send=False`` (no consumer thread), builds its message and queues it.
Both at consent (``ACME_TELEMETRY=all``), the same four properties, interleaved rounds.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from typing import Any, ClassVar

CALLS = 5_000
GOAL = 0.2
OURS_TYPED = "telemetry.send_event(CrawlFinished(...)) (ours)"
OURS_NAMED = "telemetry.send_event(name, payload)"
POSTHOG = "posthog.Posthog(...).capture(name, properties=...)"
PROPERTIES = {"pages": 3, "browser": "chromium", "success": True, "duration": "1s_to_10s"}


def measure(rounds: int) -> dict[str, list[float]]:
    """Microseconds per call, per round, for each contender (interleaved)."""
    os.environ.update(
        BENCH_TELEMETRY="all",
        BENCH_TELEMETRY_EXPORTER="none",
        BENCH_CONFIG_DIR=tempfile.mkdtemp(prefix="bench-events-"),
    )
    import posthog

    from otel_telemetry import Telemetry, TelemetryEvent

    @dataclass(frozen=True)
    class CrawlFinished(TelemetryEvent):
        name: ClassVar[str] = "crawl_finished"
        pages: int
        browser: str
        success: bool
        duration: str

    telemetry = Telemetry(app="bench", package=__name__)
    queued: list[Any] = []
    telemetry.reporter._submit = queued.append  # the worker's side is not the host's cost
    client = posthog.Posthog("phc_bench", host="http://127.0.0.1:9", send=False, disable_geoip=True)

    def typed() -> None:
        telemetry.send_event(
            CrawlFinished(pages=3, browser="chromium", success=True, duration="1s_to_10s")
        )

    def named() -> None:
        telemetry.send_event("crawl_finished", PROPERTIES)

    def peer() -> None:
        client.capture("crawl_finished", distinct_id="bench", properties=PROPERTIES)

    contenders = {OURS_TYPED: typed, OURS_NAMED: named, POSTHOG: peer}
    results: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, call in contenders.items():
            started = time.perf_counter()
            for _ in range(CALLS):
                call()
            results[name].append((time.perf_counter() - started) / CALLS * 1e6)
            if name != POSTHOG and len(queued) != CALLS:  # a refused event costs less
                raise AssertionError(f"{name}: {len(queued)} of {CALLS} events queued")
            queued.clear()
    return results
