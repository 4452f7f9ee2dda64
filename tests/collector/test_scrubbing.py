"""The gateway's own scrubbing on the real collector, alone (issue 19, test 3).

Every entry of the privacy corpus (``tests/privacy_corpus.py``) is sent raw, with the
plain OpenTelemetry SDK (TracerProviders of this test, the SDK's OTLP/HTTP span exporter):
the library's scrubber is not involved on the sending side. Each entry is one span, and
its message is in every place ``gateway.yaml`` scrubs: the exception event's
``exception.message`` and ``exception.stacktrace`` (the last line of a traceback), a span
attribute, a resource attribute, the status message and the span name. All of it goes in
one export request, to the ``gateway`` fixture, and is read back at both of its exporters'
receivers.

Whether the library removes an entry is not written down here: the library's own
``Scrubber`` runs on the same text, in process, place by place (the ``value`` rule only
where the library applies it: messages, stack text, the status). Where the library
removes every sensitive part, the gateway must too, except for the entries of
``CANNOT``, each with the reason RE2 and OTTL cannot do it; an entry of ``CANNOT`` that the
gateway starts removing fails the test as well, so the list stays exact. What the library
leaves unchanged (the corpus' technical messages, tracebacks) arrives unchanged.

A second request carries what the corpus cannot: personal data in the other fields of a
span (secret-named keys, an email as a key, lists, the scope, an event's name, links, the
trace state, schema URLs), a ``user.email`` holding more than an address, and spellings
only one part of gateway.yaml removes (the fullwidth at sign, digits of other scripts), so
that removing any of those parts fails a test here.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    SpanContext,
    Status,
    StatusCode,
    TraceFlags,
    TraceState,
    set_span_in_context,
)

from otel_telemetry.scrubbing import Scrubber
from tests.collector.otelcol import Collector
from tests.pii_samples import BENIGN_TRACEBACK
from tests.privacy_corpus import BENIGN, HOME, HOST_NAME, LOGIN_NAME, PII
from tests.receivers.otlp import OtlpHttpReceiver

pytestmark = [pytest.mark.collector, pytest.mark.integration]

# The machine the corpus' messages speak of: its home is outside every generic home
# root (/home, /Users, ...), as a service account's or a CI runner's often is.
HOME_DIR = "/var/lib/builder"
USER_EMAIL = "grace.hopper@example.com"
PLACES = ("message", "stacktrace", "status", "span attribute", "resource attribute", "name")
# The gateway's multi-step rules mark candidates with characters of this range.
PRIVATE_USE = re.compile("[\ue000-\ue0ff]")

_HOME = (
    "this user's home directory, outside every generic home root (/home, /Users, ...):"
    " the library knows it on the sending machine, no gateway does"
)
_LOGIN = (
    "this user's login name, a plain word (no shape a pattern could find): the library"
    " knows it on the sending machine, no gateway does"
)
_HOST = (
    "this machine's host name, without an internal domain (.corp, .local, ...): the"
    " library knows it on the sending machine, no gateway does"
)
CANNOT: dict[str, str] = {
    f"{HOME}/.cache/acme/pages/index.db is corrupt": _HOME,
    f'FATAL:  password authentication failed for user "{LOGIN_NAME}"': _LOGIN,
    f"lock file held by {LOGIN_NAME} (pid 4411) since 09:12": _LOGIN,
    f"{LOGIN_NAME} is not in the sudoers file.  This incident will be reported.": _LOGIN,
    f"worker on {HOST_NAME} stopped responding after 30s": _HOST,
    f"lease held by {HOST_NAME}:51234 expired": _HOST,
    f"ssh: connect to host {HOST_NAME} port 22: Connection refused": _HOST,
}
"""Corpus messages (as written in tests/privacy_corpus.py) whose sensitive parts the
library removes and the gateway cannot, and why."""

# A Python traceback as Python prints it: installed packages' paths, source lines and
# carets, line numbers, a frozen module, a Windows path with a space, versions, a hex
# address, a chained cause, code-like quoted values.
REALISTIC_TRACEBACK = """\
Traceback (most recent call last):
  File "/opt/venv/lib/python3.11/site-packages/httpx/_transports/default.py", line 69, in map_httpcore_exceptions
    yield
  File "/opt/venv/lib/python3.11/site-packages/httpx/_transports/default.py", line 233, in handle_request
    resp = self._pool.handle_request(req)
           ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  File "/opt/venv/lib/python3.11/site-packages/httpcore/_sync/connection_pool.py", line 216, in handle_request
    raise exc from None
httpcore.ConnectTimeout: timed out after 30.0s (pool size 10, 2 of 10 in use)

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
  File "<frozen importlib._bootstrap>", line 1176, in _find_and_load
  File "C:\\Program Files\\Python311\\Lib\\asyncio\\base_events.py", line 653, in run_until_complete
    return future.result()
  File "/opt/venv/lib/python3.11/site-packages/acme/crawler.py", line 88, in fetch
    raise CrawlError(f"fetch of {url!r} failed after {retries} retries") from exc
acme.errors.CrawlError: <Response [504]> from pool at 0x7f3a2c1b4e10 (acme 1.4.0, httpx 0.27.2, \
Python 3.11.7): option '--timeout' of 'acme.crawler' expected 'float', got 'NoneType' \
at 2024-03-15T14:22:07+00:00 for job 6ba7b810-9dad-11d1-80b4-00c04fd430c8, \
commit 3f786850e387550fdab836ed7e6dc881de23001b, KeyError: 'raw_markdown'"""


def _traceback(message: str) -> str:
    """Stack text whose last line carries ``message``, as ``exception.stacktrace`` does."""
    return (
        "Traceback (most recent call last):\n"
        '  File "/opt/venv/lib/python3.11/site-packages/acme/cases.py", line 12, in check\n'
        "    raise AuthError(message)\n"
        f"acme.errors.AuthError: {message}"
    )


@dataclass(frozen=True)
class Entry:
    """One text sent in every place: a corpus message, or a text that must arrive as is."""

    index: int
    key: str  # the message as tests/privacy_corpus.py writes it
    text: str  # with the machine's values in place
    sensitive: tuple[str, ...]
    stacktrace: str


def _entries() -> list[Entry]:
    entries = []
    for kind_or_benign in (*PII, *BENIGN, REALISTIC_TRACEBACK, BENIGN_TRACEBACK):
        index = len(entries)
        if isinstance(kind_or_benign, str):  # a traceback: it is its own stack text
            text = kind_or_benign
            entries.append(Entry(index, text, text, (), text))
            continue
        if len(kind_or_benign) == 2:  # a technical message: nothing sensitive
            text = kind_or_benign[1]
            entries.append(Entry(index, text, text, (), _traceback(text)))
            continue
        _kind, _listed, message, parts = kind_or_benign
        text = message.replace(HOME, HOME_DIR)
        sensitive = tuple(part.replace(HOME, HOME_DIR) for part in parts)
        entries.append(Entry(index, message, text, sensitive, _traceback(text)))
    return entries


ENTRIES = _entries()


def library_scrubbed(scrubber: Scrubber, place: str, entry: Entry) -> str:
    """What the library's scrubber makes of the entry's text in ``place``."""
    scrub = scrubber.new_pass()
    if place == "stacktrace":
        return scrub.stacktrace(scrub.text(entry.stacktrace))
    if place in ("message", "status"):
        return scrub.message(scrub.text(entry.text))
    return scrub.text(entry.text)  # attributes and names: no value rule


def _spans(entries: Sequence[Entry]) -> list[ReadableSpan]:
    """One span per entry, each of a TracerProvider of its own (its resource carries the
    text too), recorded in memory: none is the global provider, nothing is exported yet."""
    spans: list[ReadableSpan] = []
    for entry in entries:
        recorder = InMemorySpanExporter()
        provider = TracerProvider(
            resource=Resource(
                {"service.name": "acme", "acme.entry": entry.index, "acme.note": entry.text}
            )
        )
        provider.add_span_processor(SimpleSpanProcessor(recorder))
        span = provider.get_tracer("corpus").start_span(
            entry.text,
            attributes={
                "acme.entry": entry.index,
                "acme.detail": entry.text,
                "user.email": USER_EMAIL,
            },
        )
        span.add_event(
            "exception",
            {
                "exception.type": "acme.errors.AuthError",
                "exception.message": entry.text,
                "exception.stacktrace": entry.stacktrace,
            },
        )
        span.set_status(Status(StatusCode.ERROR, entry.text))
        span.end()
        provider.shutdown()
        spans.extend(recorder.get_finished_spans())
    return spans


def _send(gateway: Collector, spans: Sequence[ReadableSpan]) -> None:
    """All the spans in one OTLP/HTTP request, by the SDK's exporter."""
    session = requests.Session()
    session.trust_env = False  # no proxy of the environment between us and loopback
    exporter = OTLPSpanExporter(
        endpoint=f"{gateway.http_endpoint}/v1/traces", session=session, timeout=30
    )
    try:
        assert exporter.export(spans) is SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()


def _arrived(receiver: OtlpHttpReceiver, count: int) -> dict[int, dict[str, Any]]:
    """Per entry, its texts as they arrived in each place, and its ``user.email``."""
    deadline = time.monotonic() + 60
    while True:
        requests_ = receiver.wait_for(1, timeout=max(0.1, deadline - time.monotonic()))
        arrived: dict[int, dict[str, Any]] = {}
        for received in requests_:
            for resource_spans in received.request.resource_spans:
                resource = {a.key: a.value for a in resource_spans.resource.attributes}
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        attributes = {a.key: a.value for a in span.attributes}
                        [event] = span.events
                        event_attributes = {a.key: a.value for a in event.attributes}
                        index = attributes["acme.entry"].int_value
                        assert resource["acme.entry"].int_value == index
                        arrived[index] = {
                            "message": event_attributes["exception.message"].string_value,
                            "stacktrace": event_attributes["exception.stacktrace"].string_value,
                            "status": span.status.message,
                            "span attribute": attributes["acme.detail"].string_value,
                            "resource attribute": resource["acme.note"].string_value,
                            "name": span.name,
                            "user.email": attributes["user.email"].string_value,
                        }
        if len(arrived) >= count or time.monotonic() > deadline:
            assert len(arrived) == count, f"{len(arrived)} of {count} spans arrived"
            return arrived
        time.sleep(0.2)


def library_scrubber() -> Scrubber:
    """The library's scrubber, for the machine the corpus speaks of."""
    return Scrubber(home=HOME_DIR, user=LOGIN_NAME, host=HOST_NAME)


@pytest.fixture
def scrubber() -> Scrubber:
    return library_scrubber()


@pytest.fixture
def corpus_sent(gateway: Collector) -> float:
    """The whole corpus sent to the gateway in one request; when it was sent."""
    started = time.monotonic()
    _send(gateway, _spans(ENTRIES))
    return started


@dataclass
class Tally:
    library: int = 0  # (entry, place) pairs whose sensitive parts the library removes
    gateway: int = 0  # ... that the gateway removes too
    cannot: int = 0  # ... that it does not, on CANNOT
    library_entries: int = 0  # corpus entries the library removes somewhere
    gateway_entries: int = 0  # ... that the gateway removes wherever the library does


def check_arrived(
    arrived: dict[int, dict[str, Any]], scrubber: Scrubber
) -> tuple[Tally, list[str], dict[str, set[str]]]:
    """Compare what arrived of each entry with what the library makes of it.

    Returns:
        The counts; the problems (a leak not on CANNOT, a text the library keeps that
        arrived changed, a text masked by the redaction processor's second net, a mark
        of a multi-step rule left behind, a changed ``user.email``); and, per CANNOT
        entry, the places where it leaked.
    """
    tally = Tally()
    problems: list[str] = []
    leaking: dict[str, set[str]] = {key: set() for key in CANNOT}
    for entry in ENTRIES:
        got = arrived[entry.index]
        if got["user.email"] != USER_EMAIL:
            problems.append(f"user.email of entry {entry.index} became {got['user.email']!r}")
        removed_by_library = removed_by_both = 0
        for place in PLACES:
            sent = entry.stacktrace if place == "stacktrace" else entry.text
            if PRIVATE_USE.search(got[place]):  # a mark of the gateway's rules, left behind
                problems.append(f"private-use characters in {place}: {got[place]!r}")
            kept = library_scrubbed(scrubber, place, entry)
            if not entry.sensitive:
                if kept == sent and got[place] != sent:
                    problems.append(f"changed in {place}: {sent!r}\n  -> {got[place]!r}")
                continue
            if any(part in kept for part in entry.sensitive):
                continue  # the library keeps it here (a person's name): not promised
            tally.library += 1
            removed_by_library += 1
            if "****" in got[place]:  # the redaction processor's mask: the transform missed
                problems.append(f"masked by the second net in {place}: {got[place]!r}")
            leaked = [part for part in entry.sensitive if part in got[place]]
            if not leaked:
                tally.gateway += 1
                removed_by_both += 1
            elif entry.key in CANNOT:
                tally.cannot += 1
                leaking[entry.key].add(place)
            else:
                problems.append(f"leaked {leaked} in {place}: {got[place]!r}")
        if removed_by_library:
            tally.library_entries += 1
            tally.gateway_entries += removed_by_both == removed_by_library
    return tally, problems, leaking


@pytest.mark.timeout(120)
def test_the_gateway_removes_what_the_library_removes(
    gateway: Collector,
    backend: OtlpHttpReceiver,
    sentry_otlp: OtlpHttpReceiver,
    scrubber: Scrubber,
    corpus_sent: float,
) -> None:
    # A reworded corpus message must not drop out of CANNOT's reach unnoticed.
    assert set(CANNOT) <= {entry.key for entry in ENTRIES}
    for receiver in (backend, sentry_otlp):
        arrived = _arrived(receiver, len(ENTRIES))
        tally, problems, leaking = check_arrived(arrived, scrubber)
        assert problems == [], "\n".join(problems)
        # Every CANNOT entry still leaks somewhere the library removes it: when the
        # gateway learns to remove one, it leaves the list.
        assert [key for key, places in leaking.items() if not places] == []
        assert tally.gateway + tally.cannot == tally.library
    elapsed = time.monotonic() - corpus_sent
    print(
        f"\n{len(ENTRIES)} spans in one request, {len(PLACES)} places each. Of {len(PII)} corpus"
        f" entries the library removes {tally.library_entries}, the gateway"
        f" {tally.gateway_entries} wherever the library does; in (entry, place) pairs:"
        f" {tally.library} and {tally.gateway}, {tally.cannot} on CANNOT ({len(CANNOT)}"
        f" entries). Both receivers had everything {elapsed:.1f} s after the send."
    )
    # The gateway is still healthy, and logged no error or warning: with error_mode
    # ignore, a statement that fails on a value is skipped and only logged.
    assert gateway.healthy()
    assert gateway.problems() == []


def test_tracebacks_arrive_byte_identical(
    gateway: Collector, backend: OtlpHttpReceiver, corpus_sent: float
) -> None:
    arrived = _arrived(backend, len(ENTRIES))
    for text in (REALISTIC_TRACEBACK, BENIGN_TRACEBACK):
        [entry] = [e for e in ENTRIES if e.key == text]
        got = arrived[entry.index]
        # As stack text, an attribute, a resource attribute and a span name: unchanged.
        for place in ("stacktrace", "span attribute", "resource attribute", "name"):
            assert got[place] == text, place


# --- what the corpus does not reach: each case fails when one piece of gateway.yaml goes --

# The library's scrubber keeps a user.email only when it is the one address typed when
# opting in; a value holding more is scrubbed like any other.
SPOOFED_EMAIL = "grace.spoof@example.org password=Hunter2Spoof /home/alice/notes.txt"
FULLWIDTH_AT = "mail alice\uff20example.org failed"  # only the email rule's U+FF20 sees it
# Digits of other scripts: Python's \d reads them, RE2's does not (the rules say \p{Nd}).
FULLWIDTH = str.maketrans("0123456789", "".join(chr(0xFF10 + i) for i in range(10)))
ARABIC_INDIC = str.maketrans("0123456789", "".join(chr(0x0660 + i) for i in range(10)))
UNICODE_DIGITS = {
    "acme.card_fullwidth": "card 4111 1111 1111 1111 declined".translate(FULLWIDTH),
    "acme.card_arabic": "card 4111111111111111 declined".translate(ARABIC_INDIC),
    "acme.id_fullwidth": "ssn 078-05-1120 on file".translate(FULLWIDTH),
    "acme.ip_fullwidth": "peer 10.20.30.40 refused".translate(FULLWIDTH),
}
MARKED = {
    "acme.card_fullwidth": "card [card] declined",
    "acme.card_arabic": "card [card] declined",
    "acme.id_fullwidth": "ssn [ssn] on file",
    "acme.ip_fullwidth": "peer [ip] refused",
}


def _fields_span() -> list[ReadableSpan]:
    """One span with personal data where the corpus puts none: a secret-named attribute,
    an email written with the fullwidth at sign (U+FF20), digits of other scripts, a user.email holding
    more than an address, a list attribute (only the redaction processor reads lists),
    the scope's name, version and attributes, an event's name and an email as a key; and
    a second span whose user.email is a list (its event's a number, the resource's a
    list, the scope's a list, the first event's one address: none the opt-in address)."""
    recorder = InMemorySpanExporter()
    provider = TracerProvider(
        resource=Resource(
            {"service.name": "acme", "user.email": ["grace.res@example.org", "pwd=Hunter2Res"]},
            "https://x.example/grace.schema@example.org",
        )
    )
    provider.add_span_processor(SimpleSpanProcessor(recorder))
    tracer = provider.get_tracer(
        "scope of grace.scope@example.org",
        "1.0 password=Hunter2Version",
        "https://opentelemetry.io/schemas/1.26.0",  # kept: OpenTelemetry's own
        attributes={
            "acme.scope": "owner grace.scopeattr@example.org",
            "db.password": "s3",
            "user.email": ["grace.scopemail@example.org"],
        },
    )
    # a parent carrying a trace state, and a link with attributes: both cleared
    parent = SpanContext(
        0x1F,
        0x2F,
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
        trace_state=TraceState([("vendor", "grace.tracestate")]),
    )
    link = Link(SpanContext(0x3F, 0x4F, is_remote=True), {"acme.link": "grace.link@example.org"})
    span = tracer.start_span(
        "exception",
        context=set_span_in_context(NonRecordingSpan(parent)),
        links=[link],
        attributes={
            "db.password": "Hunter2Deleted",
            "acme.fullwidth_at": FULLWIDTH_AT,
            **UNICODE_DIGITS,
            "acme.list": ["mail grace.list@example.org failed", "fine"],
            "acme.pairs": ["connect password=Hunter2List failed"],
            "acme.numbers": [1, 2, 3],
            "grace.key@example.org": "value under an email key",
            "user.email": SPOOFED_EMAIL,
        },
    )
    span.add_event(
        "exception at grace.event@example.org",
        {"exception.type": "acme.E", "user.email": "grace.eventmail@example.org"},
    )
    span.end()
    listed = tracer.start_span(
        "listed", attributes={"user.email": ["grace.listed@example.org", "/home/alice/x"]}
    )
    listed.add_event("exception", {"exception.type": "acme.E", "user.email": 4155550100})
    listed.end()
    provider.shutdown()
    return list(recorder.get_finished_spans())


def _values(attributes: Sequence[Any]) -> dict[str, Any]:
    """OTLP key-values as a dict: strings as str, lists as lists of their values."""
    out: dict[str, Any] = {}
    for attribute in attributes:
        kind = attribute.value.WhichOneof("value")
        if kind == "array_value":
            out[attribute.key] = [
                getattr(v, v.WhichOneof("value")) for v in attribute.value.array_value.values
            ]
        else:
            out[attribute.key] = getattr(attribute.value, kind)
    return out


@pytest.mark.timeout(60)
def test_what_the_corpus_does_not_reach_is_scrubbed_too(
    gateway: Collector, backend: OtlpHttpReceiver
) -> None:
    _send(gateway, _fields_span())
    backend.wait_for_spans(2, timeout=30)
    [received] = backend.wait_for(1, timeout=1)
    [resource_spans] = received.request.resource_spans
    [scope_spans] = resource_spans.scope_spans
    [arrived, listed] = sorted(scope_spans.spans, key=lambda span: span.name != "exception")
    attributes = _values(arrived.attributes)
    # delete_matching_keys: a key naming a secret goes whole, in the span and the scope
    assert "db.password" not in attributes
    scope = scope_spans.scope
    assert "db.password" not in _values(scope.attributes)
    # the email rule's U+FF20, by the transform (not masked by the second net)
    assert attributes["acme.fullwidth_at"] == "mail [email] failed"
    # digits of any script
    assert {key: attributes[key] for key in UNICODE_DIGITS} == MARKED
    # user.email holding more than one address: scrubbed like any value
    assert attributes["user.email"] == "[email] password=[redacted] [path]"
    # a list holding an email: only the redaction processor reads lists (as JSON)
    assert "grace.list" not in str(attributes["acme.list"])
    assert "****" in attributes["acme.list"]
    assert "Hunter2List" not in str(attributes["acme.pairs"])  # the net's secret pair
    assert attributes["acme.numbers"] == [1, 2, 3]  # a list without a match keeps its type
    # an email as a key, the scope's name, version and attributes, the event's name
    assert "grace.key@example.org" not in attributes
    assert attributes["[email]"] == "value under an email key"
    assert scope.name == "scope of [email]"
    assert scope.version == "1.0 password=[redacted]"
    assert _values(scope.attributes)["acme.scope"] == "owner [email]"
    [event] = arrived.events
    assert event.name == "exception at [email]"
    # what no rule reaches is cleared: links, the trace state, a foreign schema URL
    assert list(arrived.links) == []
    assert arrived.trace_state == ""
    assert resource_spans.schema_url == ""
    assert scope_spans.schema_url == "https://opentelemetry.io/schemas/1.26.0"
    # a user.email that is not a string goes whole, in every context (the net exempts the
    # key); one outside the span is no opt-in address: scrubbed like any value
    assert listed.name == "listed"
    assert _values(listed.attributes) == {}
    assert [_values(e.attributes) for e in listed.events] == [{"exception.type": "acme.E"}]
    assert _values(resource_spans.resource.attributes) == {"service.name": "acme"}
    assert _values(scope.attributes) == {"acme.scope": "owner [email]"}
    assert _values(event.attributes) == {"exception.type": "acme.E", "user.email": "[email]"}
    assert gateway.problems() == []
