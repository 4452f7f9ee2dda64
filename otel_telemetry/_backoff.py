"""Backoff: endpoints that asked us to wait are not asked again before time, in any run.

``telemetry/backoff.json`` keeps, per exporter, the time before which nothing is sent
(HTTP 429 ``Retry-After``, Sentry's rate limits), so that the next process honours it
too. An exporter refused for good (401, 403, an invalid DSN) is stopped for this run,
with one warning; the reports wait in the outbox.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from contextlib import suppress
from pathlib import Path

from ._log import warn_once
from .exporters._delivery import Delivery


class Backoff:
    """The waiting times of the exporters of one config dir."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stopped: set[str] = set()

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
            until[name] = max(until.get(name, 0.0), time.time() + delivery.retry_after)
            self._save(until)

    def _until(self) -> dict[str, float]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict):
            return {}
        return {k: float(v) for k, v in data.items() if isinstance(v, (int, float))}

    def _save(self, until: dict[str, float]) -> None:
        now = time.time()
        current = {k: v for k, v in until.items() if v > now}
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".backoff.", dir=self.path.parent)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(current, handle)
            os.replace(tmp, self.path)
        except OSError:
            with suppress(OSError, UnboundLocalError):
                os.unlink(tmp)
