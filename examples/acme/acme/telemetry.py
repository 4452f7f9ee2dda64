"""The whole otel_telemetry integration of the Acme library."""

from otel_telemetry import Telemetry

from . import __version__

telemetry = Telemetry(
    app="acme",  # names ~/.acme/config.json and the ACME_* variables
    package="acme",  # only crashes passing through acme.* are reported
    version=__version__,
    # A real host bakes its Sentry project's public DSN in here; ACME_SENTRY_DSN overrides.
    sentry_dsn=None,
)

# acme.telemetry.enable(email="you@example.com", always=True) / acme.telemetry.disable()
enable, disable = telemetry.enable, telemetry.disable
