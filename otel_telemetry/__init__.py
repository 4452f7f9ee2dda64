"""Opt-in crash reporting for Python libraries, built on OpenTelemetry.

A host library creates one :class:`Telemetry` and calls :meth:`Telemetry.install`; see
the README. Importing this package is cheap: OpenTelemetry's SDK, the exporters and
Sentry are imported only when a report may be sent.
"""

from ._telemetry import ErrorCapture, Telemetry
from ._version import __version__

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ._scrubbing import ScrubbingOptions, ScrubMatch
    from ._status import TelemetryStatus

__all__ = [
    "ErrorCapture",
    "ScrubMatch",
    "ScrubbingOptions",
    "Telemetry",
    "TelemetryStatus",
    "__version__",
]

_LAZY = {
    "ScrubbingOptions": "._scrubbing",
    "ScrubMatch": "._scrubbing",
    "TelemetryStatus": "._status",
}


def __getattr__(name: str) -> object:
    # These names pull in dataclasses and re; most hosts never touch them.
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'otel_telemetry' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(module, __name__), name)
