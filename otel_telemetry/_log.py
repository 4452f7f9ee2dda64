"""Our own log messages, on the ``otel_telemetry`` logger, with ``logging`` imported late.

Nothing here configures logging: records go wherever the host's configuration sends
them (by default, warnings to stderr through logging's last resort handler).
"""

from __future__ import annotations

_warned: set[str] = set()


def warn_once(key: str, message: str) -> None:
    """Log a user-facing warning once per process for one key."""
    if key in _warned:
        return
    _warned.add(key)
    import logging

    try:
        logging.getLogger("otel_telemetry").warning(message)
    except Exception:
        pass  # a host's filter or handler that raises: its problem never becomes ours


def debug(message: str, *args: object, exc_info: bool = False) -> None:
    """Log an internal detail; internal failures are never raised into the host."""
    import logging

    try:
        logging.getLogger("otel_telemetry").debug(message, *args, exc_info=exc_info)
    except Exception:
        pass


class host_warnings_kept:
    """Within the block, filters added to ``warnings.filters`` are taken out again at its end.

    The OpenTelemetry SDK adds filters when imported (``simplefilter("once", ...)``) and
    on every ``get_tracer``; the host's ``warnings`` configuration is the host's, so what
    our workers' imports and builds add is removed. Filters added elsewhere meanwhile
    are kept only if they were not added by the block's own imports (the block is
    short and runs once per build).
    """

    def __enter__(self) -> None:
        import warnings

        self._before = list(warnings.filters)

    def __exit__(self, *exc: object) -> None:
        import warnings

        try:
            filters: list[object] = warnings.filters  # type: ignore[assignment]  # a list
            added = [f for f in filters if f not in self._before]
            if added:
                filters[:] = [f for f in filters if f not in added]
                mutated = getattr(warnings, "_filters_mutated", None)
                if mutated is not None:  # invalidates the per-module "once" caches
                    mutated()
        except Exception:  # never raise into the worker for a filter list
            debug("otel_telemetry: restoring warnings filters failed", exc_info=True)
