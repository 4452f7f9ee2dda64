"""Scrub throughput on one realistic corpus: ours, Logfire's scrubber, sentry-sdk's.

The corpus is crash reports as this package builds them (20-frame tracebacks, chained
exceptions, the structured chain as JSON, usage-event attributes), a few with personal
data in their messages. Each scrubber gets the same reports in the form it takes:
ours and Logfire's a span, sentry-sdk's ``EventScrubber`` the Sentry event of that span.
Logfire exposes no standalone scrub function, so its engine is reached in
``logfire._internal.scrubbing`` with the default patterns, as ``logfire.configure`` uses
it; sentry-sdk's is the public ``sentry_sdk.scrubber.EventScrubber``.

What is timed, per contender and round (interleaved, the same corpus size divided by the
time): ours, ``TelemetrySpanProcessor._scrub`` of each span (it returns a new span);
Logfire's, ``span_to_dict`` and ``Scrubber.scrub_span`` (its processor's path);
sentry-sdk's, ``EventScrubber.scrub_event`` only. ``scrub_event`` edits the event in
place, so each round gets fresh deep copies of the events made before its clock starts:
the copy is not timed (timing it would measure ``copy.deepcopy``, which costs about
15 times the scrub).

Ours against Logfire's is close, and a busy machine moves it round to round: besides the
medians, :func:`ratio_spread` gives the min, median and max of the per-round ratio (ours
and Logfire's measured back to back in each round); a median ratio within that spread of
1 is a tie, not a win.
"""

from __future__ import annotations

import copy
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

REPORTS = 200
OURS = "otel_telemetry (all value rules)"
LOGFIRE = "logfire Scrubber (default patterns)"
RESET = "reset"  # not a contender: empties our memory before each round
SENTRY = "sentry-sdk EventScrubber (defaults)"

MESSAGES = [
    "could not fetch {} after 3 retries",
    "Expecting value: line 1 column 1 (char 0)",
    "connection to {} refused",
    "'NoneType' object has no attribute 'text'",
    "invalid literal for int() with base 10: 'abc'",
    "timeout while crawling {} (attempt 2 of 5)",
]


def _raise_at(depth: int, message: str) -> None:
    if depth <= 1:
        raise ValueError(message)
    _raise_at(depth - 1, message)


def corpus() -> list[Any]:
    """ReadableSpans of crash reports, built by the real capture and report code."""
    from opentelemetry.sdk.trace import Event, ReadableSpan
    from opentelemetry.trace import SpanContext, Status, StatusCode

    from otel_telemetry.capture._snapshot import capture_exception
    from otel_telemetry.pipeline._spans import exception_attributes
    from tests.pii_samples import PII_SAMPLES

    spans = []
    for index in range(REPORTS):
        sample = PII_SAMPLES[index % len(PII_SAMPLES)][1] if index % 3 == 0 else "page 42"
        message = MESSAGES[index % len(MESSAGES)].format(sample)
        try:
            try:
                _raise_at(10, "inner: " + message)
            except ValueError as inner:
                raise RuntimeError(message) from inner
        except RuntimeError as exc:
            captured = capture_exception(exc, "capture_errors", handled=False)
        attributes, event, status = exception_attributes(
            # The raise sites are this module's, the host's code under whatever name it
            # runs (a script, or imported by run.py): user code would keep no message.
            captured,
            packages=(__name__,),
        )
        spans.append(
            ReadableSpan(
                name="exception",
                context=SpanContext(trace_id=index + 1, span_id=index + 1, is_remote=False),
                attributes={
                    **attributes,
                    "otel_telemetry.mode": "server",
                    "http.route": "/crawl/{site}",
                },
                events=[Event("exception", event, timestamp=1)],
                status=Status(StatusCode.ERROR, status),
                start_time=1,
                end_time=2,
            )
        )
    return spans


def corpus_bytes(spans: list[Any]) -> int:
    total = 0
    for span in spans:
        total += len(span.name) + len(span.status.description or "")
        for mapping in [span.attributes, *(e.attributes for e in span.events)]:
            total += sum(len(k) + len(str(v)) for k, v in mapping.items())
    return total


def contenders(spans: list[Any]) -> dict[str, tuple[Callable[[Any], Any], list[Any]]]:
    from logfire._internal.scrubbing import Scrubber as LogfireScrubber
    from logfire._internal.utils import span_to_dict
    from opentelemetry.sdk.resources import Resource
    from sentry_sdk.scrubber import EventScrubber

    from otel_telemetry.consent._precedence import ConsentDecision
    from otel_telemetry.exporters._sentry import sentry_event
    from otel_telemetry.pipeline._processor import TelemetrySpanProcessor
    from otel_telemetry.scrubbing import Scrubber

    granted = ConsentDecision("granted", "bench")
    scrubber = Scrubber()
    ours = TelemetrySpanProcessor(
        [], gate=lambda: granted, scrubber=scrubber, resource=Resource({"service.name": "bench"})
    )
    logfire = LogfireScrubber(patterns=None)
    sentry = EventScrubber()
    events = [sentry_event(span, release="bench@1", environment="production") for span in spans]
    return {
        OURS: (lambda span: ours._scrub(span, granted), spans),
        # Ours remembers what earlier reports' strings became (crashes repeat their
        # frames and messages); each round starts with an empty memory, so a round
        # measures 200 reports as a process would meet them first, not a replay.
        RESET: (lambda _: scrubber.new_pass().compiled.memo.clear(), []),
        LOGFIRE: (lambda span: logfire.scrub_span(span_to_dict(span)), spans),
        SENTRY: (sentry.scrub_event, events),
    }


# Contenders that edit what they scrub get fresh copies each round, made untimed.
_IN_PLACE = {SENTRY}


def measure(rounds: int) -> tuple[dict[str, list[float]], int]:
    """MB/s per round for each contender (interleaved), and the corpus size in bytes."""
    spans = corpus()
    size = corpus_bytes(spans)
    runners = contenders(spans)
    reset = runners.pop(RESET)[0]
    results: dict[str, list[float]] = {name: [] for name in runners}
    for name, (scrub, items) in runners.items():  # warm-up
        for item in items[:20]:
            scrub(copy.deepcopy(item) if name in _IN_PLACE else item)
    for _ in range(rounds):
        reset(None)
        for name, (scrub, items) in runners.items():
            batch = copy.deepcopy(items) if name in _IN_PLACE else items
            started = time.perf_counter()
            for item in batch:
                scrub(item)
            results[name].append(size / (time.perf_counter() - started) / 1e6)
    return results, size


def ratio_spread(results: dict[str, list[float]]) -> tuple[float, float, float]:
    """Ours / Logfire's throughput, round by round: (min, median, max)."""
    ratios = [o / lf for o, lf in zip(results[OURS], results[LOGFIRE])]
    return min(ratios), statistics.median(ratios), max(ratios)


if __name__ == "__main__":
    results, size = measure(5)
    print(json.dumps({"bytes": size, **{k: sorted(v) for k, v in results.items()}}, indent=2))
    low, middle, high = ratio_spread(results)
    print(f"ours / Logfire per round: median {middle:.2f}x, min {low:.2f}x, max {high:.2f}x")
