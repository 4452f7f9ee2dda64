"""The ``posthog`` exporter: usage events and ``$exception`` events, through the official SDK.

A usage event becomes a PostHog event of the same name, its payload the event's
properties; a crash report becomes an ``$exception`` event in PostHog's error-tracking
shape (``$exception_list``), built from the structured chain the report carries, never
from stack text and never from the running process. Everything in an event comes from
the report, which was scrubbed before it reached an exporter.

The ``posthog`` package (the ``posthog`` extra) is used through an instance of its own,
``posthog.Posthog(key, host=...)``: the module-level client and settings a host may use
(``posthog.api_key``, ``posthog.capture``) are neither read nor changed. That client
builds each event (``capture``) and never sends one itself (``send=False``: no queue, no
consumer thread, no ``atexit`` callback, no retries); its ``before_send`` hook puts our
properties back in place of the ones it built and keeps only the top-level fields of an
event (``_allow_listed``), so what the SDK adds from the process (Python and OS
versions, ``$release_id`` from ``POSTHOG_RELEASE_ID``, a host's context tags) is cut. The event then goes through the SDK's own batch request (``posthog.request.
batch_post``: ``/batch/``, its JSON body, gzip when asked) with one transport of ours in
the ``session`` seam it offers (``post(session=...)``, posthog 7.4 and newer), instead of
the SDK's process-wide ``requests`` session, which a host's clients share and which reads
proxy variables and ``~/.netrc``, retries on its own and reads every answer whole. Our
transport sends with the package's small ``http.client`` client (``_http``): one
attempt, a timeout on every socket operation, the answer's body never read; and it
records the answer's status, so the outbox is settled only on a confirmed 2xx, a 429
``Retry-After`` is honoured and a 401 or 403 stops this run.

PostHog gets no person profile (``$process_person_profile: false`` on every event), no
GeoIP (``$geoip_disable``), no feature flag request, no identify or group call. An
event's ``distinct_id`` is the report's anonymous install id (usage events carry it);
crash reports carry none, and all of them are sent as :data:`ANONYMOUS_ID`. An event's
``uuid`` is derived from the report's trace and span ids, which the outbox keeps, so a
report sent again is the same event.

The SDK's own ``DEBUG`` records on the ``posthog`` logger (which a host turns on for its
own client) may show what is sent; they are off unless the host switched them on.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any, Optional

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from otel_telemetry import _attributes as attr
from otel_telemetry._chain import (
    Chain,
    Frame,
    chain_of,
    exception_module,
    short_type,
)
from otel_telemetry._log import debug, warn_once
from otel_telemetry._version import __version__

from ._delivery import Delivery, report_key
from ._file import FileSpanExporter
from ._http import delivery_of_post
from ._otlp import unreachable_warning
from ._registry import ExporterContext

ANONYMOUS_ID = "otel_telemetry-anonymous"
"""The ``distinct_id`` of an event whose report carries no install id: every crash report.

A crash report is never linked to the install that sent it (only usage events carry the
install id), so all crash reports share this one id; with person profiles off, PostHog
makes no person of it.
"""

LIB = "otel_telemetry"
"""``$lib`` of every event: sent by this package, not by posthog-python itself."""

DEFAULT_TIMEOUT = 10.0
"""Seconds each socket operation of one send may take (connect, send, each read)."""

MINIMUM_SDK = (7, 4)
"""The oldest ``posthog`` release with the ``session`` seam (``posthog.request.post``)."""

EXTRA_HINT = "pip install 'otel-telemetry[posthog]'"

EXCEPTION_EVENT = "$exception"
EXCEPTION_LEVEL = "error"
"""``$exception_level`` of every crash report, as the ``sentry`` exporter's ``level``."""

#: The keys of ours an event keeps; the others (kind, install id, the scrub audit) are
#: the event itself, its ``distinct_id``, or of no use to PostHog.
KEPT_OWN_KEYS = frozenset({attr.MODE, attr.MECHANISM, attr.HANDLED, attr.OCCURRENCES})

#: Resource attributes every event carries (when the report has them): which host, which
#: version, where, on which Python and system; the same the ``sentry`` exporter sends as
#: its release, environment and tags, under their OpenTelemetry names.
RESOURCE_KEYS = (
    attr.SERVICE_NAME,
    attr.SERVICE_VERSION,
    attr.DEPLOYMENT_ENVIRONMENT,
    attr.PROCESS_RUNTIME_NAME,
    attr.PROCESS_RUNTIME_VERSION,
    attr.OS_TYPE,
)

#: The only top-level keys of an event that leaves; what the SDK may add is cut.
MESSAGE_KEYS = ("event", "distinct_id", "properties", "timestamp", "uuid")

_UUID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "otel_telemetry:posthog")


def posthog_event(span: ReadableSpan) -> Optional[dict[str, Any]]:
    """The PostHog event of a report: what :meth:`posthog.Posthog.capture` is given.

    ``{"event", "distinct_id", "uuid", "timestamp", "properties"}``. A span with an
    ``exception`` event (a crash report) becomes an ``$exception`` event; any other span
    (a usage event) an event named by the span. Its properties are the span's
    attributes (lists as lists) without our own keys, but for ``otel_telemetry.mode``
    (where the host ran: usage from servers, notebooks and terminals apart) and, on
    crash reports, ``.mechanism``, ``.handled`` and ``.occurrences``; then the
    :data:`RESOURCE_KEYS` of the report's resource, and PostHog's own: ``$lib`` and
    ``$lib_version`` (this package), ``$geoip_disable: true``,
    ``$process_person_profile: false``; crash reports add ``$exception_list`` and
    ``$exception_level``.

    Names and keys that start with ``$`` are PostHog's own (``$identify``, ``$set``,
    ``$groups``, ``$ip``): a payload key of that kind is left out, and a usage event of
    that name is not sent at all (None).
    """
    attributes: Mapping[str, Any] = span.attributes or {}
    exception = next((e for e in span.events if e.name == attr.EVENT_EXCEPTION), None)
    if exception is None and span.name.startswith("$"):
        return None
    properties: dict[str, Any] = {
        key: _json_value(value)
        for key, value in attributes.items()
        if not key.startswith(("$", attr.NAMESPACE)) or key in KEPT_OWN_KEYS
    }
    resource = span.resource.attributes if span.resource is not None else {}
    for key in RESOURCE_KEYS:
        value = resource.get(key)
        if isinstance(value, str) and value:
            properties[key] = value
    if exception is not None:
        properties["$exception_list"] = exception_list(
            chain_of(exception.attributes or {}),
            mechanism=str(attributes.get(attr.MECHANISM, LIB)),
            handled=attributes.get(attr.HANDLED) is True,
        )
        properties["$exception_level"] = EXCEPTION_LEVEL
        name, time_ns = EXCEPTION_EVENT, exception.timestamp or span.end_time
    else:
        name, time_ns = span.name, span.end_time or span.start_time
    properties.update(
        {
            "$lib": LIB,
            "$lib_version": __version__,
            "$geoip_disable": True,
            "$process_person_profile": False,
        }
    )
    install_id = attributes.get(attr.INSTALL_ID)
    return {
        "event": name,
        "distinct_id": install_id if isinstance(install_id, str) and install_id else ANONYMOUS_ID,
        "uuid": event_uuid(span),
        "timestamp": datetime.fromtimestamp((time_ns or 0) / 1e9, tz=timezone.utc),
        "properties": properties,
    }


def exception_list(chain: Chain, *, mechanism: str, handled: bool) -> list[dict[str, Any]]:
    """``$exception_list`` of a chain, in PostHog's order: the exception raised last first.

    The report's chain is root cause first (as Python prints it and Sentry orders it);
    PostHog's SDKs list the exception that was caught first, then what caused it (or
    was being handled when it was raised), the root cause last. The first entry's
    mechanism is the report's (``type``: how it was caught, ``handled``); each later one
    is ``chained`` to the entry before it (``parent_id``, ``source``: ``cause`` or
    ``context``). No stack is ``synthetic``: each is the one the exception was raised
    with. Frames keep the report's order (the innermost call last), each with its file
    relative to its ``sys.path`` entry, function, line, module and ``in_app``.
    """
    values: list[dict[str, Any]] = []
    for index, entry in enumerate(reversed(chain)):
        mechanism_data: dict[str, Any]
        if index == 0:
            mechanism_data = {"type": mechanism, "handled": handled}
        else:
            # PostHog's SDKs give a cause no handled state of its own.
            mechanism_data = {
                "type": "chained",
                "parent_id": index - 1,
                "source": entry["relation"] or "context",
            }
        mechanism_data.update(synthetic=False, exception_id=index)
        value: dict[str, Any] = {"type": short_type(entry), "value": entry["message"]}
        module = exception_module(entry)
        if module:
            value["module"] = module
        value["mechanism"] = mechanism_data
        value["stacktrace"] = {"type": "raw", "frames": [_frame(f) for f in entry["frames"]]}
        values.append(value)
    return values


def event_uuid(span: ReadableSpan) -> str:
    """The event's ``uuid``, fixed by the report itself: the same on every resend.

    A name-based UUID (version 5) of the report's trace and span ids, which the outbox
    stores with it; for a span without them (from elsewhere), of its name, times and
    attributes.
    """
    return str(uuid.uuid5(_UUID_NAMESPACE, report_key(span)))


class SdkTooOld(ImportError):
    """The installed ``posthog`` package lacks what the exporter needs (older than 7.4)."""


class PosthogSpanExporter(SpanExporter):
    """Sends each report as one PostHog event, confirmed by PostHog's answer.

    Args:
        project_api_key: the project's key (``phc_...``).
        host: PostHog's ingestion host (``https://us.i.posthog.com``); PostHog's app
            hosts are mapped to their ingestion hosts by the SDK.
        timeout: the most, in seconds, each socket operation of a send may take.
        gzip: send the request body gzip-compressed (``Content-Encoding: gzip``).

    Raises:
        ImportError: the ``posthog`` package cannot be imported.
        SdkTooOld: it is older than 7.4 (:data:`MINIMUM_SDK`): its batch request takes
            no ``session``.
    """

    def __init__(
        self,
        project_api_key: str,
        *,
        host: Optional[str] = None,
        timeout: float = DEFAULT_TIMEOUT,
        gzip: bool = False,
    ) -> None:
        import logging

        import posthog
        from posthog.request import batch_post

        problem = _missing_seam(posthog)
        if problem:
            raise SdkTooOld(problem)
        self._batch_post = batch_post
        self._timeout = timeout
        self._gzip = gzip
        # By event uuid: what `_send` asks for, and what `before_send` made of it.
        self._wanted: dict[str, dict[str, Any]] = {}
        self._built: dict[str, dict[str, Any]] = {}
        self._shutdown = False
        self.last_delivery: Optional[Delivery] = None
        logger = logging.getLogger("posthog")
        level = logger.level
        try:
            self._client = posthog.Posthog(
                project_api_key,
                host=host,
                send=False,  # it builds events; the export sends them (see the module)
                sync_mode=True,  # no queue and no consumer thread
                max_retries=0,
                disable_geoip=True,
                enable_exception_autocapture=False,
                enable_local_evaluation=False,
                historical_migration=False,
                before_send=self._allow_listed,
            )
        finally:
            # The client sets the `posthog` logger's level, which is the host's.
            logger.setLevel(level)
        self.host: str = self._client.host
        """Where events go: ``scheme://host[:port]`` and any path prefix."""
        self._transport = _Transport(timeout)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Send each span as one event; SUCCESS only when PostHog confirmed every one."""
        if self._shutdown:
            return SpanExportResult.FAILURE
        result = SpanExportResult.SUCCESS
        for span in spans:
            event = posthog_event(span)
            if event is None:
                warn_once(
                    f"posthog:reserved:{span.name}",
                    f"The usage event {span.name!r} is not sent to PostHog: names that"
                    " start with '$' are PostHog's own.",
                )
                self.last_delivery = Delivery(ok=True, sent=False)
                continue
            delivery = self._send(event)
            self.last_delivery = delivery
            if not delivery.ok:
                if not delivery.fatal:
                    unreachable_warning("posthog", self.host, delivery)
                result = SpanExportResult.FAILURE
        return result

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True  # each event is sent at once

    def shutdown(self) -> None:
        """Nothing to release: the client has no queue, no thread, no connection."""
        self._shutdown = True

    def _send(self, event: dict[str, Any]) -> Delivery:
        event_id: str = event["uuid"]
        self._wanted[event_id] = event["properties"]
        try:
            self._client.capture(
                event["event"],
                distinct_id=event["distinct_id"],
                properties=event["properties"],
                timestamp=event["timestamp"],
                uuid=event_id,
                disable_geoip=True,
            )
        finally:
            self._wanted.pop(event_id, None)
        message = self._built.pop(event_id, None)
        if message is None:
            # The client refused to build it (it logged why): it will in this run again.
            return Delivery(
                ok=False, fatal=True, detail="the posthog client built no event", id=event_id
            )
        self._transport.outcome = None
        try:
            self._batch_post(
                self._client.api_key,
                self.host,
                gzip=self._gzip,
                timeout=self._timeout,
                batch=[message],
                historical_migration=False,
                session=self._transport,
            )
        except Exception as error:
            # The SDK raises for every answer but 200 (and for no answer): the status
            # our transport recorded decides.
            if self._transport.outcome is None:
                debug("otel_telemetry: the posthog request failed: %r", error)
        outcome = self._transport.outcome or Delivery(ok=False, detail="not sent")
        return replace(outcome, id=event_id)

    def _allow_listed(self, message: Any) -> Optional[dict[str, Any]]:
        """``before_send``: the SDK's message with our properties in place of its own.

        The SDK's top-level fields (``timestamp`` and ``uuid`` normalised, ``distinct_id``
        as text) are kept, and only :data:`MESSAGE_KEYS` of them; the properties are the
        ones :meth:`_send` gave for this ``uuid``, exactly: what the SDK added (from the
        process, the environment, a host's context) is gone. The result is kept for the
        export. Never raises (an older SDK goes on with the message as it was when the
        hook raises); returns None (the client drops it) for a message not of ours.
        """
        try:
            event_id = str(message["uuid"])
            properties = self._wanted.get(event_id)
            if properties is None:
                return None
            built = {key: message[key] for key in MESSAGE_KEYS if key in message}
            built["properties"] = properties
            self._built[event_id] = built
            return built
        except Exception:
            debug("otel_telemetry: an unexpected posthog message", exc_info=True)
            return None


class _Answer:
    """The SDK's view of an answer (``status_code``, ``headers``, ``text``, ``json()``).

    The body is never read: ``text`` is empty and ``json()`` fails as on an empty body.
    """

    def __init__(self, status: int, headers: Mapping[str, str]) -> None:
        self.status_code = status
        self.headers = _Headers(headers)
        self.text = ""
        self.content = b""
        self.ok = 200 <= status < 400
        self.reason = ""

    def json(self) -> Any:
        raise ValueError("the answer's body is not read")


class _Headers:
    """An answer's headers, looked up by name in any case."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        self._items = {name.lower(): value for name, value in headers.items()}

    def get(self, name: str, default: Optional[str] = None) -> Optional[str]:
        return self._items.get(name.lower(), default)


class _Transport:
    """The ``session`` the SDK's request is sent through: one POST by ``_http``.

    What it implements is what ``posthog.request.post`` calls, ``post(url, data=,
    headers=, timeout=)``; it records how the send went in ``outcome``.
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.outcome: Optional[Delivery] = None

    def post(
        self, url: str, data: Any = None, headers: Optional[Mapping[str, str]] = None, **_: Any
    ) -> _Answer:
        body = data.encode("utf-8") if isinstance(data, str) else bytes(data or b"")
        # Length and host are set by the transport itself.
        sent = {
            k: v for k, v in (headers or {}).items() if k.lower() not in ("content-length", "host")
        }
        delivery, answer = delivery_of_post(url, body, sent, timeout=self.timeout)
        self.outcome = delivery
        if answer is None:
            raise ConnectionError(delivery.detail)
        return _Answer(answer.status, answer.headers)


def _missing_seam(posthog: Any) -> Optional[str]:
    """What this exporter needs of the SDK and it lacks; None when it has all of it."""
    import inspect

    try:
        from posthog.request import batch_post, post

        post_takes_session = "session" in inspect.signature(post).parameters
        batch_passes_it_on = any(
            p.kind is inspect.Parameter.VAR_KEYWORD
            for p in inspect.signature(batch_post).parameters.values()
        )
    except (ImportError, TypeError, ValueError):
        post_takes_session = batch_passes_it_on = False
    if post_takes_session and batch_passes_it_on and hasattr(posthog, "Posthog"):
        return None
    found = getattr(posthog, "VERSION", "an unknown version")
    minimum = ".".join(map(str, MINIMUM_SDK))
    return f"posthog {minimum} or newer is needed, {found} is installed"


def create_posthog_exporter(context: ExporterContext) -> SpanExporter:
    """The ``posthog`` exporter; without a key, a host or the package, the local file.

    What is missing is warned about once (never the key itself), and the ``file``
    exporter keeps the reports instead, as ``sentry`` does without a DSN.
    """
    reports = context.reports_dir
    # A host that is given but unusable was warned about where it was read; the key is
    # then left out too. Fail closed: never PostHog's cloud in place of the host given.
    if not context.posthog_host:
        warn_once(
            "posthog:no-host",
            "The 'posthog' telemetry exporter has no valid host; reports are kept in"
            f" {reports} instead.",
        )
        return FileSpanExporter(reports)
    if not context.posthog_key:
        warn_once(
            "posthog:no-key",
            "The 'posthog' telemetry exporter has no project key; reports are kept in"
            f" {reports} instead.",
        )
        return FileSpanExporter(reports)
    try:
        return PosthogSpanExporter(context.posthog_key, host=context.posthog_host)
    except ImportError as error:
        # Not installed (the extra), or too old: say which, and how to get it.
        if isinstance(error, SdkTooOld):
            problem = str(error)
        elif error.name == "posthog":
            problem = "the posthog package is not installed"
        else:
            problem = f"the posthog package cannot be imported ({error})"
        warn_once(
            "posthog:no-sdk",
            f"The 'posthog' telemetry exporter cannot send: {problem} ({EXTRA_HINT});"
            f" reports are kept in {reports} instead.",
        )
        return FileSpanExporter(reports)


def _frame(frame: Frame) -> dict[str, Any]:
    return {
        "platform": "python",
        "filename": frame["filename"],
        "function": frame["function"],
        "lineno": frame["lineno"],
        "module": frame["module"],
        "in_app": frame["in_app"],
    }


def _json_value(value: Any) -> Any:
    """An attribute value as JSON has it: a sequence attribute is a list."""
    if isinstance(value, (tuple, list)):
        return list(value)
    return value
