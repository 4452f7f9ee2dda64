"""The whole otel_telemetry integration of the Acme library."""

import errno
import sys

from otel_telemetry import Telemetry

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
