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

    logging.getLogger("otel_telemetry").warning(message)


def debug(message: str, *args: object, exc_info: bool = False) -> None:
    """Log an internal detail; internal failures are never raised into the host."""
    import logging

    logging.getLogger("otel_telemetry").debug(message, *args, exc_info=exc_info)
