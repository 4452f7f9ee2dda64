"""What an exporter learnt when it last sent: the outbox and the backoff act on it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan


@dataclass(frozen=True)
class Delivery:
    """The outcome of one send, as an exporter may expose it in ``last_delivery``.

    Exporters that do not expose it are judged by their ``SpanExportResult`` alone.
    """

    ok: bool
    """The endpoint confirmed the report."""
    retry_after: Optional[float] = None
    """Seconds the endpoint asked us to wait (HTTP 429 ``Retry-After``, Sentry rate limits)."""
    fatal: bool = False
    """Sending cannot work in this run (401, 403, an invalid DSN): stop trying until the next."""
    detail: str = ""
    """A short description for the one warning, never the report or a secret."""
    sent: bool = True
    """False when the exporter had nothing to send for this report (the ``sentry``
    exporter ignores usage events): done, but not recorded as sent."""
    id: Optional[str] = None
    """What the destination knows the report by, for the local record of what was sent:
    the Sentry event id, ``<trace id>/<span id>`` (hex) for OTLP; None: the sender uses
    the report's own ``<trace id>/<span id>``."""


def span_delivery_id(span: ReadableSpan) -> Optional[str]:
    """``<trace id>/<span id>`` of a report, in hex as OTLP/JSON writes them.

    The same on every resend (the outbox keeps the ids). None for a span without valid ids.
    """
    context = span.context
    if context is None or not context.is_valid:
        return None
    return f"{context.trace_id:032x}/{context.span_id:016x}"


def record_delivery_id(record: Mapping[str, Any]) -> Optional[str]:
    """:func:`span_delivery_id` of the span a record holds (``record_to_span``)."""
    try:
        trace_id, span_id = int(record["trace_id"], 16), int(record["span_id"], 16)
    except (KeyError, TypeError, ValueError):
        return None
    if not (0 < trace_id < 2**128 and 0 < span_id < 2**64):  # SpanContext.is_valid
        return None
    return f"{trace_id:032x}/{span_id:016x}"


def report_key(span: ReadableSpan) -> str:
    """The text a destination's id for a report is derived from.

    The Sentry event id and the PostHog event uuid: ``<trace id>:<span id>`` in hex, the
    same on every resend (the outbox keeps the ids); for a span without valid ids (from
    elsewhere), its name, times and attributes.
    """
    context = span.context
    if context is not None and context.is_valid:
        return f"{context.trace_id:032x}:{context.span_id:016x}"
    return repr(
        (span.name, span.start_time, span.end_time, sorted((span.attributes or {}).items()))
    )


LOCAL_EXPORTERS = frozenset({"file", "console"})
"""The built-in exporters that only write on this machine (``delivers_locally``), by name:
for a report on disk, whose exporters are known by name only. (Here, not in the registry,
so that the outbox reads it without importing the SDK: the exit path uses it.)"""

MAX_WAIT = 86_400.0
"""The longest wait an endpoint can impose (a day): a proxy answering 429 with a huge or
infinite ``Retry-After`` must not switch reporting off for good."""


def retry_after_seconds(value: Optional[str]) -> Optional[float]:
    """Parse ``Retry-After``: seconds, or an HTTP date; None when absent or unreadable.

    The result is at most :data:`MAX_WAIT`.
    """
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            import time

            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError, OverflowError):
            return None
    if seconds != seconds:  # NaN
        return None
    return min(MAX_WAIT, max(0.0, seconds))


def delivery_from_status(status: int, headers: dict[str, str], detail: str) -> Delivery:
    """The delivery of an HTTP answer: 2xx ok, 429 wait, 401/403 stop, anything else retry."""
    if 200 <= status < 300:
        return Delivery(ok=True)
    if status == 429:
        return Delivery(
            ok=False,
            retry_after=retry_after_seconds(headers.get("retry-after")) or 60.0,
            detail=detail,
        )
    if status in (401, 403):
        return Delivery(ok=False, fatal=True, detail=detail)
    return Delivery(ok=False, detail=detail)
