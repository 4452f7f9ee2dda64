"""Backoff: endpoints that asked us to wait are not asked again before time, in any run.

``telemetry/backoff.json`` keeps, per exporter, the time before which nothing is sent
(HTTP 429 ``Retry-After``, Sentry's rate limits), so that the next process honours it
too. An exporter refused for good (401, 403, an invalid DSN) is stopped for this run,
with one warning; the reports wait in the outbox.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from otel_telemetry._layout import atomic_write, ensure_dir
from otel_telemetry._log import warn_once
from otel_telemetry.exporters import Delivery
from otel_telemetry.exporters._delivery import MAX_WAIT


class Backoff:
    """The waiting times of the exporters of one config dir."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stopped: set[str] = set()
        self._kept: dict[str, float] = {}  # what this run learnt, should the file be unwritable

    def blocked(self, name: str) -> bool:
        """True while exporter ``name`` must not send."""
        return name in self._stopped or self._until().get(name, 0.0) > time.time()

    def record(self, name: str, delivery: Delivery) -> None:
        """Act on what exporter ``name`` learnt when it sent."""
        if delivery.fatal:
            self._stopped.add(name)
            warn_once(
                f"backoff:{name}",
                f"Telemetry exporter {name!r} was refused ({delivery.detail or 'not authorised'}); "
                "reports wait on disk and are not sent again in this run.",
            )
        elif delivery.retry_after:
            until = self._until()
            wait = min(delivery.retry_after, MAX_WAIT)  # also for exporters of third parties
            until[name] = max(until.get(name, 0.0), time.time() + wait)
            self._save(until)

    def _until(self) -> dict[str, float]:
        until = dict(self._kept)
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return until
        if isinstance(data, dict):
            for name, value in data.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    # A wait beyond MAX_WAIT from now was not written by us: cap it.
                    capped = min(float(value), time.time() + MAX_WAIT)
                    until[name] = max(until.get(name, 0.0), capped)
        return until

    def _save(self, until: dict[str, float]) -> None:
        now = time.time()
        current = {k: v for k, v in until.items() if v > now}
        self._kept = current
        try:
            ensure_dir(self.path.parent)
            atomic_write(self.path, json.dumps(current).encode("utf-8"))
        except OSError:
            pass  # unwritable: the wait holds for this run only (self._kept)
