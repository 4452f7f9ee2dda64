"""Every attribute key, span name and event name a report carries, in one place.

Capture, span building, the processor, the exporters and the tests all read these
names from here, so a key is spelt once. Keys of the OpenTelemetry semantic conventions
are used where one exists (``exception.*``, ``http.*``, ``user.email``); the others are
namespaced ``otel_telemetry.*``.
"""

from __future__ import annotations

SPAN_EXCEPTION = "exception"
"""The name of a crash report's span."""
EVENT_EXCEPTION = "exception"
"""The name of the span event that holds the exception (OTel exception conventions)."""

# The exception event (OTel semantic conventions, plus the structured chain).
EXCEPTION_TYPE = "exception.type"
EXCEPTION_MESSAGE = "exception.message"
EXCEPTION_STACKTRACE = "exception.stacktrace"
EXCEPTION_CHAIN = "otel_telemetry.exception.chain"
"""JSON text of the chain, root cause first: a list of :class:`ChainEntry`."""

# The span.
NAMESPACE = "otel_telemetry."
"""The prefix of our own keys; a usage event's payload cannot set one."""
KIND = "otel_telemetry.kind"
"""``exception`` or ``event``."""
MECHANISM = "otel_telemetry.mechanism"
HANDLED = "otel_telemetry.handled"
MODE = "otel_telemetry.mode"
INSTALL_ID = "otel_telemetry.install_id"
OCCURRENCES = "otel_telemetry.occurrences"
"""How many crashes a report stands for, when a storm was counted rather than sent."""
SCRUBBED = "otel_telemetry.scrubbed"
"""Audit of one report: ``rule:count`` for each rule that replaced something."""
USER_EMAIL = "user.email"
"""The one email that may leave: the address the user typed, on crash reports only."""
HTTP_METHOD = "http.request.method"
HTTP_ROUTE = "http.route"

KIND_EXCEPTION = "exception"
KIND_EVENT = "event"

# The resource: explicit and minimal, no detector runs.
SERVICE_NAME = "service.name"
SERVICE_VERSION = "service.version"
SDK_LANGUAGE = "telemetry.sdk.language"
SDK_NAME = "telemetry.sdk.name"
SDK_VERSION = "telemetry.sdk.version"
DISTRO_NAME = "telemetry.distro.name"
DISTRO_VERSION = "telemetry.distro.version"
PROCESS_RUNTIME_NAME = "process.runtime.name"
"""``cpython``, ``pypy``: what runs the host."""
PROCESS_RUNTIME_VERSION = "process.runtime.version"
"""``3.11.9``."""
OS_TYPE = "os.type"
"""``linux``, ``darwin``, ``windows``: the kind of system, never its name or release."""
DEPLOYMENT_ENVIRONMENT = "deployment.environment.name"
"""Only when the host configured an environment; also the Sentry ``environment``."""
