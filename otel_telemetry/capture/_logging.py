"""Placeholder: the host's package loggers (implemented by the logging helper)."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable


class LogCapture:
    """Reports the exceptions of ERROR records of the host's package loggers."""

    def __init__(self, report: Callable[[BaseException], None], prefixes: tuple[str, ...]) -> None:
        self._report = report
        self._prefixes = prefixes

    def install(self) -> None:
        """Start seeing the package loggers' records; idempotent."""

    def uninstall(self) -> None:
        """Stop; remove what ``install`` added."""
