"""The whole otel_telemetry integration of the Acme library."""

import errno
import sys
from dataclasses import dataclass
from typing import ClassVar

from otel_telemetry import Telemetry, TelemetryEvent

from . import __version__

# A crawler meets these every day: the network, not a bug of Acme's.
_NETWORK_ERRNOS = frozenset(
    {
        errno.ECONNREFUSED,
        errno.ECONNRESET,
        errno.ECONNABORTED,
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.ENETDOWN,
        errno.ETIMEDOUT,
    }
)


def should_report(exc: BaseException) -> bool:
    """Acme's filter: connection errors are expected failures of a crawler, not crashes.

    It sees the exception that reached the user (for a failing exit, the one behind it),
    not its causes: a ``CrawlError`` raised from a refused connection means Acme gave up
    where it should not have, and is reported.
    """
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return False
    socket = sys.modules.get("socket")  # no socket module loaded, no socket error to see
    if socket is not None and isinstance(exc, (socket.gaierror, socket.timeout)):
        return False  # DNS failures; on Python 3.9 a socket timeout is no TimeoutError
    return not (isinstance(exc, OSError) and exc.errno in _NETWORK_ERRNOS)


telemetry = Telemetry(
    app="acme",  # names ~/.acme/config.json and the ACME_* variables
    package="acme",  # only crashes passing through acme.* are reported
    version=__version__,
    # A real host bakes its Sentry project's public DSN in here; ACME_SENTRY_DSN overrides.
    sentry_dsn=None,
    should_report=should_report,  # expected failures (the network) are never reported
)

# acme.telemetry.enable(email="you@example.com", always=True) / acme.telemetry.disable()
enable, disable = telemetry.enable, telemetry.disable


# Usage events: sent only when the user chose them too (`acme telemetry enable --usage`,
# ACME_TELEMETRY=all). Counts and enums only: never a URL, a page's text or a file name.
@dataclass(frozen=True)
class CrawlStarted(TelemetryEvent):
    """A crawl of several pages began."""

    name: ClassVar[str] = "crawl_started"
    pages: int  # how many pages were asked for
    browser: str  # one of BROWSERS


@dataclass(frozen=True)
class CrawlFinished(TelemetryEvent):
    """A crawl of several pages ended (whether or not its pages could be fetched)."""

    name: ClassVar[str] = "crawl_finished"
    pages: int
    succeeded: int  # pages fetched and converted
    browser: str
    success: bool  # every page succeeded
    duration: str  # one of DURATIONS: a bucket, never the exact time


BROWSERS = ("chromium", "firefox", "webkit")
DURATIONS = ("under_1s", "1s_to_10s", "10s_to_60s", "over_60s")


def duration_bucket(seconds: float) -> str:
    """The bucket of DURATIONS that ``seconds`` falls in."""
    if seconds < 1:
        return "under_1s"
    if seconds < 10:
        return "1s_to_10s"
    return "10s_to_60s" if seconds < 60 else "over_60s"
