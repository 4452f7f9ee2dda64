"""The ``sentry`` exporter: exception span events become real Sentry error events.

Sentry's OTLP endpoint drops span events, so exceptions sent over OTLP alone never
become Sentry issues. This exporter builds one error event per ``exception`` span from
the structured chain the report already carries (never by parsing stack text), wraps
it in a Sentry envelope and posts it with our own HTTP client (``_http``). sentry-sdk
is not used: a host's own Sentry (client, scope, integrations, profiler, SDK name) is
neither used nor changed, and our sends are never seen by its integrations.

An event's id is derived from the report's trace and span ids, which the outbox keeps:
a report sent again (its first answer came too late) has the same ``event_id``, so
Sentry keeps it once.
"""

from __future__ import annotations

import hashlib
import platform
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Optional

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import format_span_id, format_trace_id

from otel_telemetry import _attributes as attr
from otel_telemetry._chain import (
    Frame,
    chain_of,
    exception_module,
    short_type,
)
from otel_telemetry._log import warn_once

from ._delivery import MAX_WAIT, Delivery, report_key
from ._file import FileSpanExporter
from ._http import delivery_of_post
from ._otlp import unreachable_warning
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
        "transaction",
        "transaction_info",
        "contexts",
        "user",
        "sdk",
        "type",
    }
)
_SOURCES = {"cause": "__cause__", "context": "__context__"}


DEFAULT_ENVIRONMENT = "production"


def sentry_event(
    span: ReadableSpan, *, release: Optional[str] = None, environment: Optional[str] = None
) -> Optional[dict[str, Any]]:
    """Build the Sentry error event of an ``exception`` span; None for any other span.

    Everything in the event comes from the report, which was scrubbed before it reached
    an exporter: ``release`` is ``<service.name>@<service.version>`` and ``environment``
    the ``deployment.environment.name`` of the span's resource (``production`` without
    one), tags come from its attributes (and the Python version and OS name, a fixed
    vocabulary), ``contexts`` holds its trace and span ids only. A report made inside a
    request (the ASGI middleware) also carries ``http.request.method`` and ``http.route``
    as tags, and the transaction ``<method> <route>`` (``POST /crawl/{site}``; the route
    alone without a method): the route template, never the URL.

    Args:
        span: the report.
        release: replaces the release read from the resource.
        environment: replaces the environment read from the resource.
    """
    attributes: Mapping[str, Any] = span.attributes or {}
    exception = next((e for e in span.events if e.name == attr.EVENT_EXCEPTION), None)
    if exception is None:
        return None
    event_attributes: Mapping[str, Any] = exception.attributes or {}
    chain = chain_of(event_attributes)
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
                "type": short_type(entry),
                "value": entry["message"],
                "module": exception_module(entry),
                "mechanism": mechanism_data,
                "stacktrace": {"frames": [_frame(f) for f in entry["frames"]]},
            }
        )
    event: dict[str, Any] = {
        "event_id": event_id(span),
        "timestamp": (exception.timestamp or span.end_time or 0) / 1e9,
        "platform": "python",
        "level": "error",
        "exception": {"values": values},
        "release": _release(span) if release is None else release,
        "environment": _environment(span) if environment is None else environment,
        "tags": {
            "mode": str(attributes.get(attr.MODE, "unknown")),
            # From the report, as `[v]` showed it; a report of an older version has none.
            "python": _resource(span, attr.PROCESS_RUNTIME_VERSION) or platform.python_version(),
            "os": _resource(span, attr.OS_TYPE) or platform.system() or "unknown",
        },
    }
    occurrences = attributes.get(attr.OCCURRENCES)
    if occurrences:
        event["tags"]["occurrences"] = str(occurrences)
    _add_request(event, attributes)
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


def _add_request(event: dict[str, Any], attributes: Mapping[str, Any]) -> None:
    """The request's method and route template as tags, and as the transaction's name.

    As Sentry takes them: a tag value or a transaction name is at most 200 characters,
    on one line.
    """
    method = _one_line(attributes.get(attr.HTTP_METHOD), 200)
    route = _one_line(attributes.get(attr.HTTP_ROUTE), 200)
    if method:
        event["tags"][attr.HTTP_METHOD] = method
    if route:
        event["tags"][attr.HTTP_ROUTE] = route
        event["transaction"] = _one_line(f"{method} {route}" if method else route, 200)
        # A template, not a URL: Sentry groups by it and does not parameterize it again.
        event["transaction_info"] = {"source": "route"}


def _one_line(value: object, limit: int) -> Optional[str]:
    """A str value on one line (control characters become spaces), cut; None if blank."""
    if not isinstance(value, str):
        return None
    text = "".join(c if c.isprintable() else " " for c in value).strip()
    return text[:limit] or None


def _resource_value(span: ReadableSpan, key: str) -> Optional[str]:
    resource = span.resource
    value = resource.attributes.get(key) if resource is not None else None
    return value if isinstance(value, str) and value.strip() else None


def _release(span: ReadableSpan) -> str:
    """``<service.name>@<service.version>`` of the (scrubbed) resource, as Sentry accepts it.

    Sentry refuses a release with a slash, a backslash or a line break, or longer than
    200 characters: such characters become ``-`` and the name is cut.
    """
    name = _resource_value(span, attr.SERVICE_NAME) or "unknown"
    version = _resource_value(span, attr.SERVICE_VERSION) or "unknown"
    return _sentry_name(f"{name}@{version}", 200)


def _environment(span: ReadableSpan) -> str:
    """The resource's ``deployment.environment.name``, else ``production``; as Sentry accepts it.

    Sentry refuses an environment with a slash or whitespace, or longer than 64
    characters: such characters become ``-`` and the name is cut.
    """
    value = _resource_value(span, attr.DEPLOYMENT_ENVIRONMENT)
    return _sentry_name(value, 64, spaces=False) if value else DEFAULT_ENVIRONMENT


def _sentry_name(text: str, limit: int, *, spaces: bool = True) -> str:
    cleaned = "".join(
        "-" if c in "/\\" or not c.isprintable() or (not spaces and c.isspace()) else c
        for c in text.strip()
    )
    return cleaned[:limit] or "unknown"


def event_id(span: ReadableSpan) -> str:
    """The event's id: 32 hex digits fixed by the report itself, the same on every resend.

    From the trace and span ids, which the outbox stores with the report; for a span
    without them (from elsewhere), from its name, times and attributes.
    """
    return hashlib.sha256(report_key(span).encode("utf-8")).hexdigest()[:32]


class SentrySpanExporter(SpanExporter):
    """Sends each exception span as a Sentry error event, as an envelope we build ourselves.

    No ``sentry_sdk`` client is created: nothing global of a host's Sentry (its client,
    scope, integrations, profiler, SDK name) can be touched, and no ``atexit`` callback
    or ``warnings`` filter is added. Each envelope is posted at once, on the sending
    worker, by our own HTTP client (no netrc, no proxy variables, no logging, the
    answer's body unread), so the endpoint's answer is known before the report leaves
    the outbox. The DSN is always explicit (never the host's ``SENTRY_DSN``), and an
    allow-list keeps only :data:`EVENT_KEYS`.

    Args:
        dsn: the DSN in force.
        release: replaces the release each report gives (``<service.name>@<service.version>``
            of its scrubbed resource).
        environment: replaces the environment each report gives (its resource's
            ``deployment.environment.name``, else ``production``).
        spotlight: a Spotlight sidecar URL to also send to; off unless given.
        timeout: the most, in seconds, each socket operation of a send may take.
    """

    def __init__(
        self,
        dsn: str,
        *,
        release: Optional[str] = None,
        environment: Optional[str] = None,
        spotlight: Optional[str] = None,
        timeout: float = 2.0,
    ) -> None:
        self._dsn = parse_dsn(dsn)
        self._release = release
        self._environment = environment
        self._spotlight = spotlight
        self._timeout = timeout
        self.last_delivery: Optional[Delivery] = None

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = SpanExportResult.SUCCESS
        for span in spans:
            event = sentry_event(span, release=self._release, environment=self._environment)
            if event is None:
                # Not a crash (a usage event): Sentry takes none, so nothing is sent.
                self.last_delivery = Delivery(ok=True, sent=False)
                continue
            body = envelope(event)
            if self._spotlight:
                delivery_of_post(
                    self._spotlight,
                    body,
                    {"Content-Type": ENVELOPE_TYPE},
                    timeout=self._timeout,
                )
            delivery = _post_envelope(self._dsn, body, self._timeout)
            self.last_delivery = replace(delivery, id=event["event_id"])  # what Sentry shows
            if not self.last_delivery.ok:
                if not self.last_delivery.fatal and self._dsn is not None:
                    unreachable_warning("sentry", self._dsn.api_url, self.last_delivery)
                result = SpanExportResult.FAILURE
        return result

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True  # each event is sent at once

    def shutdown(self) -> None:
        """Nothing to release: no client, no thread, no connection is kept."""


def create_sentry_exporter(context: ExporterContext) -> SpanExporter:
    """The Sentry exporter; without a valid DSN, reports stay in the local file instead."""
    reports = context.reports_dir
    if not context.sentry_dsn:
        warn_once(
            "sentry:no-dsn",
            f"The 'sentry' telemetry exporter has no DSN; reports are kept in {reports} instead.",
        )
        return FileSpanExporter(reports)
    if parse_dsn(context.sentry_dsn) is None:
        # Never print the DSN itself: it holds the project's key.
        warn_once(
            "sentry:bad-dsn",
            f"The Sentry DSN ({context.sentry_dsn_source}) is not a valid DSN; reports are"
            f" kept in {reports} instead.",
        )
        return FileSpanExporter(reports)
    # Release and environment are read from each report's scrubbed resource, never
    # from the raw settings.
    return SentrySpanExporter(context.sentry_dsn)


ENVELOPE_TYPE = "application/x-sentry-envelope"


@dataclass(frozen=True)
class Dsn:
    """The parts of a Sentry DSN that sending needs."""

    api_url: str
    """``<scheme>://<host>[:port][/path]/api/<project>/envelope/``."""
    public_key: str
    secret_key: Optional[str] = None

    def auth_header(self) -> str:
        """The ``X-Sentry-Auth`` header."""
        from otel_telemetry._version import __version__

        parts = [
            f"sentry_key={self.public_key}",
            "sentry_version=7",
            f"sentry_client=otel_telemetry/{__version__}",
        ]
        if self.secret_key:
            parts.append(f"sentry_secret={self.secret_key}")
        return "Sentry " + ", ".join(parts)


def parse_dsn(dsn: Optional[str]) -> Optional[Dsn]:
    """``<scheme>://<public key>[:<secret>]@<host>[:<port>]/[<path>/]<project id>``; None if not one."""
    from urllib.parse import urlsplit

    if not dsn:
        return None
    try:
        parts = urlsplit(dsn.strip())
        port = parts.port
    except ValueError:
        return None
    path, _, project = parts.path.rpartition("/")
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or not parts.username
        or not project.isdigit()
    ):
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    netloc = f"{host}:{port}" if port else host
    return Dsn(
        api_url=f"{parts.scheme}://{netloc}{path}/api/{project}/envelope/",
        public_key=parts.username,
        secret_key=parts.password or None,
    )


def envelope(event: dict[str, Any]) -> bytes:
    """The Sentry envelope of one error event: envelope header, item header, payload.

    The event gets the keys a client adds (``sdk``, ``type``); the allow-list then cuts
    anything outside :data:`EVENT_KEYS`.
    """
    import json
    from datetime import datetime, timezone

    from otel_telemetry._version import __version__

    sdk = {"name": SDK_NAME, "version": __version__}
    event = _allow_listed({**event, "sdk": sdk, "type": "event"}, None)
    payload = json.dumps(event, separators=(",", ":"), allow_nan=False).encode("utf-8")
    sent_at = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    header = {"event_id": event["event_id"], "sent_at": sent_at, "sdk": sdk}
    item = {"type": "event", "length": len(payload), "content_type": "application/json"}
    return b"\n".join(
        [json.dumps(header).encode("utf-8"), json.dumps(item).encode("utf-8"), payload]
    )


SDK_NAME = "otel_telemetry"
"""The ``sdk.name`` of our events: they are not sent by sentry-sdk."""


def _post_envelope(dsn: Optional[Dsn], body: bytes, timeout: float) -> Delivery:
    from otel_telemetry._version import __version__

    if dsn is None:
        return Delivery(ok=False, fatal=True, detail="no DSN")
    delivery, answer = delivery_of_post(
        dsn.api_url,
        body,
        {
            "X-Sentry-Auth": dsn.auth_header(),
            "Content-Type": ENVELOPE_TYPE,
            "User-Agent": f"otel_telemetry/{__version__}",
        },
        timeout=timeout,
    )
    limited = _rate_limit_seconds(answer.headers.get("x-sentry-rate-limits")) if answer else 0.0
    if limited and not delivery.ok:
        return Delivery(
            ok=False,
            retry_after=min(MAX_WAIT, max(limited, delivery.retry_after or 0)),
            detail=delivery.detail,
        )
    return delivery


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


def _allow_listed(event: Any, hint: Any) -> Any:
    for key in [k for k in event if k not in EVENT_KEYS]:
        del event[key]
    return event


def _frame(frame: Frame) -> dict[str, Any]:
    return {
        "filename": frame["filename"],
        "function": frame["function"],
        "lineno": frame["lineno"],
        "module": frame["module"],
        "in_app": frame["in_app"],
    }


def _resource(span: ReadableSpan, key: str) -> Optional[str]:
    value = span.resource.attributes.get(key) if span.resource is not None else None
    return value if isinstance(value, str) and value else None
