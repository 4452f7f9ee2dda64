"""Opt-in crash reporting for Python libraries, built on OpenTelemetry.

A host library creates one :class:`Telemetry` and calls :meth:`Telemetry.install`; see
the README. Importing this package is cheap: OpenTelemetry's SDK, the exporters and
Sentry are imported only when a report may be sent.
"""

from ._lazy import lazy_exports
from ._telemetry import Telemetry

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ._status import TelemetryStatus
    from ._version import __version__
    from .capture._decorator import ErrorCapture
    from .capture._events import TelemetryEvent
    from .scrubbing import ScrubbingOptions, ScrubMatch

__all__ = [
    "ErrorCapture",
    "ScrubMatch",
    "ScrubbingOptions",
    "Telemetry",
    "TelemetryEvent",
    "TelemetryStatus",
    "__version__",
]

# These names pull in dataclasses and re, or are read by few (the version); most hosts
# never touch them.
__getattr__ = lazy_exports(
    __name__,
    {
        "__version__": "._version",
        "ErrorCapture": ".capture._decorator",
        "ScrubbingOptions": ".scrubbing",
        "ScrubMatch": ".scrubbing",
        "TelemetryEvent": ".capture._events",
        "TelemetryStatus": "._status",
    },
)
