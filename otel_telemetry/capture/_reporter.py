"""The one way into reporting: every hook, decorator and integration calls ``report``.

It runs on the host's thread, so it only decides and copies: is this a crash, is it
ignored, did it pass through the host, is it a repeat of a storm. Then it queues a
snapshot for the pipeline and tells the question a report was made. It never raises.
"""

from __future__ import annotations

from otel_telemetry._log import debug

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any, Callable, Optional

    from ._snapshot import Captured
    from ._storm import StormGuard

_REPORTED = "_otel_telemetry_reported"


class Reporter:
    """Takes exceptions from every mechanism to the pipeline's queue.

    Args:
        app: the host's app name; an exception is reported once per app.
        packages: the host's module prefixes; a crash that never passed through them
            is not the host's and is not reported.
        ignore: exception classes never reported.
        storm_limits: ``(limit, window)`` of the storm guard.
        denied: True when the environment alone says no (checked first, cheaply).
        submit: queues a capture for the pipeline.
        noted: called with the mechanism after a report was queued (the question).
        watch_asyncio: starts seeing asyncio's unretrieved exceptions once asyncio is used.
    """

    def __init__(
        self,
        *,
        app: str,
        packages: tuple[str, ...],
        ignore: tuple[type[BaseException], ...],
        storm_limits: tuple[int, float],
        denied: Callable[[], bool],
        submit: Callable[[Captured], None],
        noted: Callable[[str], None],
        watch_asyncio: Callable[[], None],
    ) -> None:
        self._app = app
        self._packages = packages
        self._ignore = ignore
        self._storm_limits = storm_limits
        self._storm: Optional[StormGuard] = None
        self._denied = denied
        self._submit = submit
        self._noted = noted
        self.watch_asyncio = watch_asyncio

    def report(
        self,
        exc: BaseException,
        mechanism: str,
        *,
        handled: bool,
        attributes: Optional[Mapping[str, Any]] = None,
    ) -> None:
        """Report ``exc``, caught by ``mechanism``; never raises, never blocks.

        Args:
            exc: the exception.
            mechanism: where it was caught (``excepthook``, ``capture_errors``, ``asgi``...).
            handled: the host handled it (``capture_exception``), or it ended unhandled.
            attributes: extra span attributes; by default, the current request's route.
        """
        try:
            from ._snapshot import capture_exception, is_crash, passes_through

            self.watch_asyncio()
            if not is_crash(exc) or isinstance(exc, self._ignore):
                return
            if self._app in getattr(exc, _REPORTED, ()) or self._denied():
                return
            if attributes is None:
                from ._request import request_attributes

                attributes = request_attributes()
            captured = capture_exception(exc, mechanism, handled, attributes)
            if not passes_through(captured, self._packages):
                return
            _mark_reported(exc, self._app)
            admitted = self._storm_guard().admit(captured)
            if admitted is None:
                return  # a storm of the same crash: counted, sent later with the count
            self._submit(admitted)
            self._noted(mechanism)
        except Exception:
            debug("otel_telemetry: capture failed", exc_info=True)

    def report_event(self, name: str, payload: Optional[Mapping[str, Any]]) -> None:
        """Queue a usage event; never raises, never blocks."""
        try:
            if self._denied():
                return
            from ._snapshot import CapturedEvent

            self._submit(CapturedEvent(name=str(name), payload=dict(payload or {})))
        except Exception:
            debug("otel_telemetry: send_event failed", exc_info=True)

    def send_counted(self) -> None:
        """Queue, once, the crashes a storm counted but did not send, with their counts."""
        if self._storm is not None:
            for captured in self._storm.counted():
                self._submit(captured)

    def swap_storm_guard(self, guard: Optional[StormGuard]) -> Optional[StormGuard]:
        """Put ``guard`` in place (None: a new one at the next report); return the old one.

        :mod:`otel_telemetry.testing` gives each capture a guard that has counted nothing.
        """
        old, self._storm = self._storm, guard
        return old

    def _storm_guard(self) -> StormGuard:
        if self._storm is None:
            from ._storm import StormGuard

            self._storm = StormGuard(*self._storm_limits)
        return self._storm


def _mark_reported(exc: BaseException, app: str) -> None:
    # Exceptions cannot be weakly referenced, so the mark lives on the exception itself.
    try:
        exc.__dict__.setdefault(_REPORTED, set()).add(app)
    except (AttributeError, TypeError):
        pass
