"""Acme: an example crawler library that embeds otel_telemetry (see the README)."""

__version__ = "1.4.0"

from .telemetry import telemetry as _telemetry  # after __version__, which it reads

# Cheap: hooks uncaught exceptions; nothing is sent without consent.
_telemetry.install()
