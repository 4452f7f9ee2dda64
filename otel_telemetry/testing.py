"""Test your integration: see the reports your library would send, in memory.

``capture_reports`` routes one ``Telemetry``'s reports, after the consent gate and the
scrubber, into a list of the OpenTelemetry SDK's ``ReadableSpan``s: no network, no
outbox, no file is written, and the user's saved choice is neither read nor changed.
Each report is one span; a crash's ``exception`` event holds the OTel exception
attributes (``exception.type``, ``exception.message``, ``exception.stacktrace``)::

    from otel_telemetry.testing import capture_reports

    def test_a_crawl_error_is_reported():
        with capture_reports(acme.telemetry) as reports:
            with pytest.raises(CrawlError):
                acme.crawl("bad://")
            acme.telemetry.flush(5)
        assert reports[0].events[0].attributes["exception.type"] == "acme.crawler.CrawlError"

With pytest, ``pytest_plugins = ["otel_telemetry.testing"]`` in a ``conftest.py`` adds
the ``telemetry_reports`` fixture; it captures the reports of the ``Telemetry`` that
your ``telemetry`` fixture returns.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Optional

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

if TYPE_CHECKING:
    from otel_telemetry import Telemetry
    from otel_telemetry.capture._storm import StormGuard

__all__ = ["CapturingExporter", "capture_reports"]

_FLUSH_TIMEOUT = 10.0


class CapturingExporter(SpanExporter):
    """Appends every exported span to each list it was given, in order; never fails.

    Args:
        spans: the lists to append to; more can be added and removed while it runs.
    """

    delivers_locally = True

    def __init__(self, *spans: list[ReadableSpan]) -> None:
        self._lock = threading.Lock()
        self._sinks = list(spans)

    def add(self, spans: list[ReadableSpan]) -> None:
        """Also append to ``spans`` from now on."""
        with self._lock:
            self._sinks.append(spans)

    def remove(self, spans: list[ReadableSpan]) -> int:
        """Stop appending to ``spans``; return how many lists are left."""
        with self._lock:
            self._sinks = [sink for sink in self._sinks if sink is not spans]
            return len(self._sinks)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        with self._lock:
            for sink in self._sinks:
                sink.extend(spans)
        return SpanExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class _Capture:
    """The capture in force for one ``Telemetry``, shared by nested and parallel blocks."""

    def __init__(self) -> None:
        self.exporter = CapturingExporter()
        self.granted = False
        self.storms: Optional[StormGuard] = None


_captures: weakref.WeakKeyDictionary[Telemetry, _Capture] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


@contextmanager
def capture_reports(telemetry: Telemetry, *, consent: bool = True) -> Iterator[list[ReadableSpan]]:
    """Route ``telemetry``'s reports into a list while the block runs.

    The reports are those that would be sent: consented, scrubbed, with the minimal
    resource. Reports queued before the block go where they went before; reports still
    queued when the block ends are flushed into the list first (for at most 10 seconds,
    and never anywhere else afterwards). Crashes counted by the storm guard before the
    block are not counted in it. Blocks may nest and run in several threads at once:
    each list gets every report made while its block is open.

    Args:
        telemetry: the host's ``Telemetry``.
        consent: True grants consent while the block runs, whatever the environment or
            the saved choice says (nothing is saved). False leaves the real consent gate
            in force, to test that nothing is reported without consent. With blocks
            open at once, consent is granted while any block that asked for it is open.

    Yields:
        The list the reports are appended to, oldest first.
    """
    reports: list[ReadableSpan] = []
    if telemetry in _captures:
        telemetry.flush(_FLUSH_TIMEOUT)  # what the open blocks made is theirs, not this one's
    with _lock:
        capture = _captures.get(telemetry)
        if capture is None:
            capture = _captures[telemetry] = _Capture()
            capture.storms = telemetry.reporter.swap_storm_guard(None)
            # Queued, not awaited: the worker switches before any report made from now on.
            # Queued under the lock, so switches are in the order blocks open and close.
            telemetry.pipeline.route_to(capture.exporter, timeout=0)
        capture.exporter.add(reports)
        granted_here = consent and not capture.granted
        if granted_here:
            capture.granted = True
            telemetry.consent.force_granted(True)
    try:
        yield reports
    finally:
        telemetry.flush(_FLUSH_TIMEOUT)
        with _lock:
            if granted_here:
                capture.granted = False
                telemetry.consent.force_granted(False)
            if capture.exporter.remove(reports) == 0:
                del _captures[telemetry]
                # Queued behind this block's reports: they reach the list, never an exporter.
                telemetry.pipeline.route_to(None, timeout=0)
                telemetry.reporter.swap_storm_guard(capture.storms)


try:
    import pytest
except ImportError:  # pragma: no cover - pytest is optional
    pass
else:

    @pytest.fixture
    def telemetry_reports(telemetry: Telemetry) -> Iterator[list[ReadableSpan]]:
        """The reports of the ``Telemetry`` your ``telemetry`` fixture returns."""
        with capture_reports(telemetry) as reports:
            yield reports
