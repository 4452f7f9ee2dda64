"""The span processor (``pipeline/_processor.py``): consent gate, then scrub, then forward."""

from __future__ import annotations

from typing import Any, Optional

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

from otel_telemetry import _attributes as attr
from otel_telemetry.consent._precedence import ConsentDecision
from otel_telemetry.pipeline._processor import MAX_HELD, TelemetrySpanProcessor
from otel_telemetry.scrubbing import Scrubber, ScrubbingOptions, ScrubMatch
from tests.unit import exception_span, finished_span

OUR_RESOURCE = Resource({"service.name": "acme", "service.version": "1.2.3"})

GRANTED = ConsentDecision("granted", "config")
DENIED = ConsentDecision("denied", "DO_NOT_TRACK")
ASK = ConsentDecision("ask", "mode:interactive")


class Gate:
    """The consent decision, as the test sets it."""

    def __init__(self, decision: ConsentDecision) -> None:
        self.decision = decision

    def __call__(self) -> ConsentDecision:
        return self.decision


def _raise(match: ScrubMatch) -> Optional[str]:
    raise RuntimeError("scrubber bug")


def make(
    decision: ConsentDecision,
    scrubber: Optional[Scrubber] = None,
    resource: Resource = OUR_RESOURCE,
    extra: tuple[SpanProcessor, ...] = (),
) -> tuple[TelemetrySpanProcessor, InMemorySpanExporter, Gate]:
    exporter = InMemorySpanExporter()
    gate = Gate(decision)
    processor = TelemetrySpanProcessor(
        [*extra, SimpleSpanProcessor(exporter)],
        gate=gate,
        scrubber=scrubber or Scrubber(),
        resource=resource,
    )
    return processor, exporter, gate


def names(exporter: InMemorySpanExporter) -> list[str]:
    return [span.name for span in exporter.get_finished_spans()]


@pytest.mark.parametrize(
    ("decision", "forwarded", "held", "dropped"),
    [
        pytest.param(GRANTED, 1, 0, 0, id="granted: forwarded"),
        pytest.param(DENIED, 0, 0, 1, id="denied: dropped"),
        pytest.param(ASK, 0, 1, 0, id="ask: held"),
    ],
)
def test_gate(decision: ConsentDecision, forwarded: int, held: int, dropped: int) -> None:
    processor, exporter, _ = make(decision)

    processor.on_end(exception_span())

    assert len(exporter.get_finished_spans()) == forwarded
    assert len(processor.preview_held()) == held
    assert processor.dropped == dropped


def test_the_gate_is_asked_for_every_span() -> None:
    processor, exporter, gate = make(GRANTED)
    processor.on_end(finished_span("first"))
    gate.decision = DENIED  # consent withdrawn: takes effect at once
    processor.on_end(finished_span("second"))

    assert names(exporter) == ["first"]


@pytest.mark.parametrize(
    ("decision", "forwarded", "returned", "dropped"),
    [
        pytest.param(GRANTED, ["r0", "r1", "r2"], 3, 0, id="always: all"),
        pytest.param(DENIED, [], 0, 3, id="denied: none"),
    ],
)
def test_release_held(
    decision: ConsentDecision, forwarded: list, returned: int, dropped: int
) -> None:
    processor, exporter, _ = make(ASK)
    for name in ("r0", "r1", "r2"):
        processor.on_end(finished_span(name))

    assert processor.release_held(decision) == returned

    assert names(exporter) == forwarded
    assert processor.dropped == dropped
    assert processor.preview_held() == []
    assert processor.release_held(GRANTED) == 0  # nothing is held any more


def _held_with_numbers(processor: TelemetrySpanProcessor) -> None:
    for seq, name in ((1, "thread crash"), (2, "usage event"), (3, "main crash")):
        with processor.recording(seq):
            processor.on_end(finished_span(name))


@pytest.mark.parametrize(
    ("decision", "forwarded", "dropped"),
    [
        pytest.param(GRANTED, ["main crash"], 0, id="once: the subject only"),
        pytest.param(DENIED, [], 1, id="denied: the subject dropped"),
    ],
)
def test_release_only_the_subject_keeps_the_others_held(
    decision: ConsentDecision, forwarded: list, dropped: int
) -> None:
    """``[1]`` sends the report the question was about; the others stay held, unsent."""
    processor, exporter, _ = make(ASK)
    _held_with_numbers(processor)

    assert [s.name for s in processor.preview_held(only=3)] == ["main crash"]
    assert processor.release_held(decision, only=3) == len(forwarded)

    assert names(exporter) == forwarded
    assert processor.dropped == dropped
    assert [s.name for s in processor.preview_held()] == ["thread crash", "usage event"]
    assert processor.release_held(GRANTED, only=3) == 0  # not held twice
    assert processor.release_held(GRANTED) == 2  # enable(): the others go now
    assert names(exporter) == [*forwarded, "thread crash", "usage event"]


@pytest.mark.integration  # forks a process
def test_a_child_forked_while_the_lock_is_held_gets_a_free_lock() -> None:
    import os

    if not hasattr(os, "fork"):
        pytest.skip("needs os.fork: not on this platform")
    processor, _, _ = make(ASK)
    processor._lock.acquire()  # as if another thread were holding a span at the fork
    try:
        pid = os.fork()
        if pid == 0:  # the child: exit 0 only if holding a span does not wait forever
            processor.on_end(finished_span("in the child"))
            os._exit(0)
        _, status = os.waitpid(pid, 0)
    finally:
        processor._lock.release()
    assert os.WIFEXITED(status)
    assert os.WEXITSTATUS(status) == 0


def test_release_held_without_a_decision_asks_the_gate_again() -> None:
    processor, exporter, gate = make(ASK)
    processor.on_end(finished_span("held"))
    gate.decision = GRANTED  # enable() saved the choice

    assert processor.release_held() == 1
    assert names(exporter) == ["held"]


def test_release_with_the_answer_email_attaches_it() -> None:
    processor, exporter, _ = make(ASK)
    processor.on_end(exception_span())

    processor.release_held(ConsentDecision("granted", "prompt", "dev@example.org"))

    [sent] = exporter.get_finished_spans()
    assert sent.attributes[attr.USER_EMAIL] == "dev@example.org"


def test_held_spans_are_bounded() -> None:
    processor, exporter, _ = make(ASK)
    for index in range(MAX_HELD + 3):
        processor.on_end(finished_span(f"r{index}"))

    assert len(processor.preview_held()) == MAX_HELD
    processor.release_held(GRANTED)
    assert names(exporter) == [f"r{index}" for index in range(3, MAX_HELD + 3)]  # newest kept


@pytest.mark.parametrize("shutdown", [False, True], ids=["discard_held", "shutdown"])
def test_discard_forgets_the_held_spans(shutdown: bool) -> None:
    processor, exporter, _ = make(ASK)
    processor.on_end(finished_span("r0"))
    processor.on_end(finished_span("r1"))

    if shutdown:
        processor.shutdown()
    else:
        processor.discard_held()

    assert processor.dropped == 2
    assert processor.release_held(GRANTED) == 0
    assert names(exporter) == []


def test_preview_is_scrubbed_and_does_not_release() -> None:
    processor, exporter, _ = make(ASK)
    processor.on_end(exception_span({"url": "mail bob@example.com"}, message="for bob@example.com"))

    [preview] = processor.preview_held()

    assert preview.attributes["url"] == "mail [email]"
    assert preview.events[0].attributes[attr.EXCEPTION_MESSAGE] == "for [email]"
    assert preview.status.description == "ValueError: for [email]"
    assert preview.resource is not None
    assert dict(preview.resource.attributes) == dict(OUR_RESOURCE.attributes)
    assert names(exporter) == []
    assert len(processor.preview_held()) == 1  # still held


def test_everything_forwarded_is_scrubbed_and_audited() -> None:
    processor, exporter, _ = make(GRANTED)
    span = finished_span(
        "crawl /home/alice/secret.txt",
        attributes={attr.KIND: attr.KIND_EXCEPTION, "note": "ip 10.1.2.3", "n": 3},
        events=[("exception", {attr.EXCEPTION_MESSAGE: "mail bob@example.com"})],
        status=Status(StatusCode.ERROR, "from bob@example.com"),
    )

    processor.on_end(span)

    [sent] = exporter.get_finished_spans()
    assert sent.name == "crawl [path]"
    assert sent.attributes["note"] == "ip [ip]"
    assert sent.attributes["n"] == 3
    assert sent.events[0].attributes[attr.EXCEPTION_MESSAGE] == "mail [email]"
    assert sent.status.status_code is StatusCode.ERROR
    assert sent.status.description == "from [email]"
    assert sent.attributes[attr.SCRUBBED] == ("email:2", "ipv4:1", "path:1")
    assert (sent.context.trace_id, sent.context.span_id) == (
        span.context.trace_id,
        span.context.span_id,
    )
    assert sent.parent is None


def test_a_clean_span_has_no_audit_attribute() -> None:
    processor, exporter, _ = make(GRANTED)
    processor.on_end(finished_span("clean", attributes={"n": 1}))
    [sent] = exporter.get_finished_spans()
    assert attr.SCRUBBED not in sent.attributes


def test_a_scrubber_that_raises_drops_the_span() -> None:
    recorded: list[ReadableSpan] = []

    class Recording(SpanProcessor):
        def on_end(self, span: ReadableSpan) -> None:
            recorded.append(span)

    failing = Scrubber(ScrubbingOptions(callback=_raise))
    processor, exporter, _ = make(GRANTED, scrubber=failing, extra=(Recording(),))

    processor.on_end(exception_span(message="for bob@example.com"))  # a match: callback runs

    assert recorded == []
    assert names(exporter) == []
    assert processor.dropped == 1
    processor.on_end(finished_span("nothing to scrub"))  # the processor goes on
    assert names(exporter) == ["nothing to scrub"]


def test_preview_with_a_scrubber_that_raises_shows_nothing() -> None:
    failing = Scrubber(ScrubbingOptions(callback=_raise))
    processor, _, _ = make(ASK, scrubber=failing)
    processor.on_end(exception_span(message="for bob@example.com"))

    assert processor.preview_held() == []


@pytest.mark.parametrize(
    ("kind", "email", "attached"),
    [
        pytest.param(attr.KIND_EXCEPTION, "dev@example.org", True, id="crash report"),
        pytest.param(attr.KIND_EVENT, "dev@example.org", False, id="usage event"),
        pytest.param(None, "dev@example.org", False, id="no kind"),
        pytest.param(attr.KIND_EXCEPTION, None, False, id="no email given"),
    ],
)
def test_the_user_email_is_attached_to_crash_reports_only(
    kind: Optional[str], email: Optional[str], attached: bool
) -> None:
    # Level all: usage events may leave (at crash they are dropped: next test).
    processor, exporter, _ = make(ConsentDecision("granted", "config", email, level="all"))
    attributes = {} if kind is None else {attr.KIND: kind}

    processor.on_end(finished_span("report", attributes=attributes))

    [sent] = exporter.get_finished_spans()
    assert sent.attributes.get(attr.USER_EMAIL) == ("dev@example.org" if attached else None)


@pytest.mark.parametrize(
    ("level", "local_build", "forwarded"),
    [
        pytest.param("crash", False, False, id="crash: dropped"),
        pytest.param("all", False, True, id="all: forwarded"),
        pytest.param("crash", True, True, id="recorded in local mode, then crash: kept here"),
    ],
)
def test_a_usage_event_leaves_only_at_level_all(
    level: str, local_build: bool, forwarded: bool
) -> None:
    processor, exporter, _ = make(ConsentDecision("granted", "config", level=level))  # type: ignore[arg-type]
    processor.local = local_build

    processor.on_end(finished_span("page_view", attributes={attr.KIND: attr.KIND_EVENT}))

    assert len(exporter.get_finished_spans()) == forwarded
    assert processor.usage_off == (not forwarded)


def test_the_resource_is_the_processors_own_scrubbed() -> None:
    resource = Resource({"service.name": "acme", "service.version": "1.0 by bob@example.com"})
    processor, exporter, _ = make(GRANTED, resource=resource)

    processor.on_end(exception_span())  # made by a provider whose resource names the host

    [sent] = exporter.get_finished_spans()
    assert dict(sent.resource.attributes) == {
        "service.name": "acme",
        "service.version": "1.0 by [email]",
    }


def test_a_failing_inner_processor_does_not_stop_the_others() -> None:
    class Failing(SpanProcessor):
        def on_end(self, span: ReadableSpan) -> None:
            raise RuntimeError("exporter bug")

    processor, exporter, _ = make(GRANTED, extra=(Failing(),))
    processor.on_end(finished_span("report"))

    assert names(exporter) == ["report"]


def test_on_start_is_not_forwarded_and_flush_reaches_inner_processors() -> None:
    calls: list[str] = []

    class Recording(SpanProcessor):
        def on_start(self, span, parent_context=None) -> None:
            calls.append("start")

        def force_flush(self, timeout_millis: int = 30000) -> bool:
            calls.append(f"flush {timeout_millis > 0}")
            return False

        def shutdown(self) -> None:
            calls.append("shutdown")

    processor, _, _ = make(GRANTED, extra=(Recording(),))
    processor.on_start(finished_span())  # type: ignore[arg-type]

    assert processor.force_flush(5000) is False  # one inner processor did not flush
    processor.shutdown()
    assert calls == ["flush True", "shutdown"]


class TakesRecords(SpanProcessor):
    """A processor that takes records, as the sending processor does."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def on_end(self, span: ReadableSpan) -> None:
        raise AssertionError("given a span: a record was expected")

    def on_end_record(self, record: dict[str, Any]) -> None:
        self.records.append(record)


@pytest.mark.parametrize(
    "span",
    [
        finished_span(
            "crawl /home/alice/secret.txt",
            attributes={attr.KIND: attr.KIND_EXCEPTION, "list": ("a@b.example", "x"), "n": 3},
            events=[("exception", {attr.EXCEPTION_MESSAGE: "mail bob@example.com", "k": True})],
            status=Status(StatusCode.ERROR, "from bob@example.com"),
        ),
        exception_span(message="plain"),
        finished_span("ok", status=Status(StatusCode.OK)),
        finished_span("unset"),
        finished_span("no events", events=[]),
    ],
    ids=["scrubbed", "exception", "status ok", "status unset", "no events"],
)
def test_a_record_taker_gets_the_record_of_the_span_it_would_get(span: ReadableSpan) -> None:
    # The record is made from the scrubbed strings without the scrubbed span: it must be
    # what span_to_record makes of that span, field for field.
    from otel_telemetry.pipeline._records import span_to_record

    takes = TakesRecords()
    processor, exporter, _ = make(GRANTED, extra=(takes,))

    processor.on_end(span)

    [sent] = exporter.get_finished_spans()
    assert takes.records == [span_to_record(sent)]


def test_the_sending_processor_alone_is_given_a_record_and_no_span_is_made(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    takes = TakesRecords()
    processor = TelemetrySpanProcessor(
        [takes], gate=Gate(GRANTED), scrubber=Scrubber(), resource=OUR_RESOURCE
    )
    monkeypatch.setattr(TelemetrySpanProcessor, "_span", None)  # called: a TypeError

    processor.on_end(exception_span(message="mail bob@example.com"))

    [record] = takes.records
    assert record["events"][0]["attributes"][attr.EXCEPTION_MESSAGE] == "mail [email]"
    assert record["resource"] == dict(OUR_RESOURCE.attributes)
