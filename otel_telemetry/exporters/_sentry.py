"""The ``sentry`` exporter: exception span events become real Sentry error events.

Sentry's OTLP endpoint drops span events, so exceptions sent over OTLP alone never
become Sentry issues. This exporter builds one error event per ``exception`` span from
the structured chain the report already carries (never by parsing stack text), and
sends it through its own ``sentry_sdk.Client``: no integration, no scope, no global
state, so a host's own Sentry setup is neither used nor changed.
"""

from __future__ import annotations

import platform
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Optional

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import format_span_id, format_trace_id

from otel_telemetry import _attributes as attr
from otel_telemetry._chain import Chain, ChainEntry, Frame, read_chain
from otel_telemetry._log import warn_once

from ._delivery import Delivery, delivery_from_status
from ._file import FileSpanExporter
from ._registry import ExporterContext

#: The only keys an event may have when it leaves; the client's additions
#: (``server_name`` is the host name by default, ``modules``, ``extra``, ...) are cut.
EVENT_KEYS = frozenset(
    {
        "event_id",
        "timestamp",
        "platform",
        "level",
        "exception",
        "release",
        "environment",
        "tags",
        "contexts",
        "user",
        "sdk",
        "type",
    }
)
_SOURCES = {"cause": "__cause__", "context": "__context__"}


def sentry_event(span: ReadableSpan, *, release: str, environment: str) -> Optional[dict[str, Any]]:
    """Build the Sentry error event of an ``exception`` span; None for any other span."""
    attributes: Mapping[str, Any] = span.attributes or {}
    exception = next((e for e in span.events if e.name == attr.EVENT_EXCEPTION), None)
    if exception is None:
        return None
    event_attributes: Mapping[str, Any] = exception.attributes or {}
    chain = _chain(event_attributes)
    mechanism = str(attributes.get(attr.MECHANISM, "otel_telemetry"))
    handled = bool(attributes.get(attr.HANDLED, False))
    values = []
    for index, entry in enumerate(chain):
        exception_id = len(chain) - 1 - index  # the exception raised last is 0
        mechanism_data: dict[str, Any] = {
            "type": mechanism,
            "handled": handled,
            "exception_id": exception_id,
        }
        if exception_id:
            mechanism_data.update(
                type="chained",
                source=_SOURCES.get(entry["relation"], "__context__"),
                parent_id=exception_id - 1,
            )
        values.append(
            {
                "type": _short_type(entry),
                "value": entry["message"],
                "module": _module(entry),
                "mechanism": mechanism_data,
                "stacktrace": {"frames": [_frame(f) for f in entry["frames"]]},
            }
        )
    event: dict[str, Any] = {
        "event_id": uuid.uuid4().hex,
        "timestamp": (exception.timestamp or span.end_time or 0) / 1e9,
        "platform": "python",
        "level": "error",
        "exception": {"values": values},
        "release": release,
        "environment": environment,
        "tags": {
            "mode": str(attributes.get(attr.MODE, "unknown")),
            "python": platform.python_version(),
            "os": platform.system() or "unknown",
        },
    }
    occurrences = attributes.get(attr.OCCURRENCES)
    if occurrences:
        event["tags"]["occurrences"] = str(occurrences)
    if span.context is not None and span.context.is_valid:
        event["contexts"] = {
            "trace": {
                "trace_id": format_trace_id(span.context.trace_id),
                "span_id": format_span_id(span.context.span_id),
            }
        }
    email = attributes.get(attr.USER_EMAIL)
    if email:
        event["user"] = {"email": str(email)}
    return event


class SentrySpanExporter(SpanExporter):
    """Sends each exception span as a Sentry error event through an isolated client.

    The client is created at the first export, so merely configuring the exporter
    opens nothing. Every integration is off, the DSN is always explicit (never the
    host's ``SENTRY_DSN``), no scope is applied, and a final allow-list removes
    anything the client adds beyond :data:`EVENT_KEYS`.

    Args:
        dsn: the DSN in force.
        release: ``<app>@<version>``.
        environment: the Sentry environment.
        spotlight: a Spotlight sidecar URL to also send to; off unless given.
        timeout: the most, in seconds, that ``shutdown`` waits for the transport.
    """

    def __init__(
        self,
        dsn: str,
        *,
        release: str,
        environment: str = "production",
        spotlight: Optional[str] = None,
        timeout: float = 2.0,
    ) -> None:
        self._dsn = dsn
        self._release = release
        self._environment = environment
        self._spotlight = spotlight
        self._timeout = timeout
        self._client: Any = None
        self.last_delivery: Optional[Delivery] = None

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        client = self._client or self._create_client()
        result = SpanExportResult.SUCCESS
        for span in spans:
            event = sentry_event(span, release=self._release, environment=self._environment)
            if event is None:
                continue
            client.transport.last_delivery = None
            client.capture_event(event)
            # The transport sends at once, on this (worker) thread, and says how it went.
            self.last_delivery = client.transport.last_delivery
            if self.last_delivery is None or not self.last_delivery.ok:
                result = SpanExportResult.FAILURE
        return result

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        if self._client is not None:
            self._client.flush(timeout=timeout_millis / 1000)
        return True

    def shutdown(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close(timeout=self._timeout)

    def _create_client(self) -> Any:
        import sentry_sdk

        self._client = sentry_sdk.Client(
            transport=_confirming_transport(self._timeout),
            dsn=self._dsn,  # explicit: never falls back to the host's SENTRY_DSN
            release=self._release,
            environment=self._environment,
            server_name="",  # the default is the host name
            integrations=[],
            default_integrations=False,
            auto_enabling_integrations=False,
            include_local_variables=False,
            include_source_context=False,
            max_breadcrumbs=0,
            attach_stacktrace=False,
            traces_sample_rate=None,
            auto_session_tracking=False,
            send_client_reports=False,
            enable_backpressure_handling=False,
            spotlight=self._spotlight or False,  # explicit: SENTRY_SPOTLIGHT is the host's
            debug=False,  # explicit: SENTRY_DEBUG is the host's
            before_send=_allow_listed,
            shutdown_timeout=self._timeout,
        )
        return self._client


def create_sentry_exporter(context: ExporterContext) -> SpanExporter:
    """The Sentry exporter; without a valid DSN, reports stay in the local file instead."""
    from sentry_sdk.utils import BadDsn, Dsn

    reports = context.reports_dir
    if not context.sentry_dsn:
        warn_once(
            "sentry:no-dsn",
            f"The 'sentry' telemetry exporter has no DSN; reports are kept in {reports} instead.",
        )
        return FileSpanExporter(reports)
    try:
        Dsn(context.sentry_dsn)
    except BadDsn:
        # Never print the DSN itself: it holds the project's key.
        warn_once(
            "sentry:bad-dsn",
            f"The Sentry DSN ({context.sentry_dsn_source}) is not a valid DSN; reports are"
            f" kept in {reports} instead.",
        )
        return FileSpanExporter(reports)
    return SentrySpanExporter(context.sentry_dsn, release=f"{context.app}@{context.version}")


def _confirming_transport(timeout: float) -> Any:
    """A Sentry transport that sends each envelope at once and keeps the HTTP outcome.

    sentry-sdk's own transport queues envelopes for a background thread and drops them
    when the endpoint is down; ours sends synchronously (on our worker, never the app
    thread), so that a report leaves the outbox only once Sentry accepted it, and so
    that 429 and its rate limits, 401 and 403 reach the backoff.
    """
    from sentry_sdk.transport import Transport

    class ConfirmingTransport(Transport):
        last_delivery: Optional[Delivery] = None

        def capture_envelope(self, envelope: Any) -> None:
            self.last_delivery = _post_envelope(self.parsed_dsn, envelope.serialize(), timeout)

    return ConfirmingTransport


def _post_envelope(dsn: Any, body: bytes, timeout: float) -> Delivery:
    import urllib.error
    import urllib.request

    from otel_telemetry._version import __version__

    if dsn is None:
        return Delivery(ok=False, fatal=True, detail="no DSN")
    auth = dsn.to_auth(client=f"otel_telemetry/{__version__}")
    request = urllib.request.Request(
        auth.get_api_url(),
        data=body,
        method="POST",
        headers={
            "X-Sentry-Auth": auth.to_header(),
            "Content-Type": "application/x-sentry-envelope",
            "User-Agent": f"otel_telemetry/{__version__}",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=_tls_context()) as response:
            response.read()
            return delivery_from_status(response.status, _headers(response.headers), "")
    except urllib.error.HTTPError as error:
        headers = _headers(error.headers)
        delivery = delivery_from_status(error.code, headers, f"HTTP {error.code}")
        limited = _rate_limit_seconds(headers.get("x-sentry-rate-limits"))
        if limited:
            return Delivery(
                ok=False,
                retry_after=max(limited, delivery.retry_after or 0),
                detail=delivery.detail,
            )
        return delivery
    except (OSError, ValueError) as error:  # refused, unreachable, timed out
        return Delivery(ok=False, detail=type(error).__name__)


def _headers(headers: Any) -> dict[str, str]:
    return {k.lower(): v for k, v in (headers or {}).items()}


def _rate_limit_seconds(header: Optional[str]) -> float:
    """The longest wait of Sentry's ``X-Sentry-Rate-Limits`` that covers error events."""
    longest = 0.0
    for limit in (header or "").split(","):
        seconds, _, rest = limit.strip().partition(":")
        categories = rest.split(":", 1)[0]
        if categories in ("", "error") or "error" in categories.split(";"):
            try:
                longest = max(longest, float(seconds))
            except ValueError:
                continue
    return longest


def _tls_context() -> Any:
    import ssl

    try:
        import certifi

        return ssl.create_default_context(cafile=certifi.where())
    except ImportError:  # pragma: no cover - certifi comes with sentry-sdk
        return ssl.create_default_context()


def _allow_listed(event: Any, hint: Any) -> Any:
    for key in [k for k in event if k not in EVENT_KEYS]:
        del event[key]
    return event


def _chain(event_attributes: Mapping[str, Any]) -> Chain:
    chain = read_chain(event_attributes.get(attr.EXCEPTION_CHAIN))
    if chain is not None:
        return chain
    # A span from elsewhere: the semantic-convention attributes are all there is.
    return [
        ChainEntry(
            type=str(event_attributes.get(attr.EXCEPTION_TYPE, "Exception")),
            module="",
            message=str(event_attributes.get(attr.EXCEPTION_MESSAGE, "")),
            frames=[],
            omitted_frames=0,
            relation="",
        )
    ]


def _module(entry: ChainEntry) -> Optional[str]:
    # Sentry, like Python's traceback, leaves the module of built-in exceptions out.
    module = entry["module"]
    return None if not module or module in ("builtins", "__builtin__") else module


def _short_type(entry: ChainEntry) -> str:
    full = entry["type"]
    module = _module(entry)
    if module and full.startswith(f"{module}."):
        return full[len(module) + 1 :]
    return full


def _frame(frame: Frame) -> dict[str, Any]:
    return {
        "filename": frame["filename"],
        "function": frame["function"],
        "lineno": frame["lineno"],
        "module": frame["module"],
        "in_app": frame["in_app"],
    }
