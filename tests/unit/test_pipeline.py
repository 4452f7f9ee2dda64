"""The pipeline (``pipeline/_pipeline.py``): from a queued capture to a delivered report."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Optional

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from otel_telemetry import _attributes as attr
from otel_telemetry._layout import Layout
from otel_telemetry._settings import Settings
from otel_telemetry.capture._snapshot import CapturedEvent, capture_exception
from otel_telemetry.consent._precedence import ConsentDecision
from otel_telemetry.exporters import BUILTIN_EXPORTERS, ExporterContext
from otel_telemetry.exporters._file import read_reports
from otel_telemetry.pipeline._outbox import Outbox
from otel_telemetry.pipeline._pipeline import Pipeline
from otel_telemetry.pipeline._sent import SentLog
from otel_telemetry.testing import CapturingExporter
from tests.unit import record_of

WAIT = 10.0

REMOTE: list[ReadableSpan] = []
"""What the ``memory`` exporter, a remote one for the pipeline, received."""


class _RemoteExporter(SpanExporter):
    """Not ``delivers_locally``: the pipeline keeps an outbox copy for it."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        REMOTE.extend(spans)
        return SpanExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True  # the SDK's base returns None (see test_sending)


def _memory_factory(context: ExporterContext) -> SpanExporter:
    return _RemoteExporter()


class Gate:
    def __init__(self, state: str, email: Optional[str] = None, level: str = "crash") -> None:
        level = "off" if state == "denied" else level
        self.decision = ConsentDecision(state, "test", email, level=level)  # type: ignore[arg-type]

    def __call__(self) -> ConsentDecision:
        return self.decision


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("ACME_", "OTEL_")) or name in ("DO_NOT_TRACK",):
            monkeypatch.delenv(name)
    monkeypatch.setitem(BUILTIN_EXPORTERS, "memory", "tests.unit.test_pipeline:_memory_factory")  # type: ignore[index]
    REMOTE.clear()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings("acme", ("tests",), "1.2.3", config_dir=tmp_path / "config")


def _crash(message: str = "crawl of https://alice:s3cret@intranet.example.com failed"):
    try:
        raise ValueError(message)
    except ValueError as exc:
        return capture_exception(exc, "capture_errors", handled=False)


def routed(settings: Settings, state: str, email: Optional[str] = None):
    gate = Gate(state, email)
    pipeline = Pipeline(settings, gate)
    spans: list[ReadableSpan] = []
    pipeline.route_to(CapturingExporter(spans), timeout=WAIT)
    return pipeline, gate, spans


@pytest.mark.parametrize(
    ("state", "sent", "held", "dropped"),
    [
        pytest.param("granted", 1, False, 0, id="granted"),
        pytest.param("denied", 0, False, 1, id="denied: dropped before anything is built"),
        pytest.param("ask", 0, True, 0, id="ask: held"),
    ],
)
def test_a_crash_through_the_gate(
    settings: Settings, state: str, sent: int, held: bool, dropped: int
) -> None:
    pipeline, _, spans = routed(settings, state)

    pipeline.submit(_crash())
    assert pipeline.flush(WAIT)

    assert len(spans) == sent
    assert (pipeline.preview_held() != "(no report is waiting)") is held
    assert pipeline.dropped == dropped


def test_what_is_sent_is_scrubbed_with_the_minimal_resource(settings: Settings) -> None:
    pipeline, _, spans = routed(settings, "granted", email="dev@example.org")
    settings.mode_override = "server"

    pipeline.submit(_crash())
    assert pipeline.flush(WAIT)

    [span] = spans
    message = span.events[0].attributes[attr.EXCEPTION_MESSAGE]
    assert "s3cret" not in message
    assert "alice" not in message
    assert span.attributes[attr.MODE] == "server"
    assert span.attributes[attr.USER_EMAIL] == "dev@example.org"
    assert span.resource.attributes[attr.SERVICE_NAME] == "acme"
    assert span.resource.attributes[attr.SERVICE_VERSION] == "1.2.3"
    assert "host.name" not in span.resource.attributes


def test_held_reports_preview_then_only_the_subject(settings: Settings) -> None:
    pipeline, _, spans = routed(settings, "ask")
    first = _crash("first")
    subject = _crash("second at /home/alice/x.py")
    pipeline.submit(first)
    pipeline.submit(subject)
    assert pipeline.flush(WAIT)

    preview = pipeline.preview_held(subject.seq)
    assert "second at [path]" in preview
    assert '"first"' not in preview  # the subject alone
    assert "/home/alice" not in preview
    json.loads(preview)  # OTLP/JSON

    pipeline.release_held(ConsentDecision("granted", "prompt"), only=subject.seq)
    assert pipeline.flush(WAIT)
    assert [s.events[0].attributes[attr.EXCEPTION_MESSAGE] for s in spans] == ["second at [path]"]
    assert pipeline.dropped == 0
    assert '"first"' in pipeline.preview_held()  # still held, neither sent nor dropped


@pytest.mark.parametrize("release", [True, False], ids=["release (gate now denied)", "discard"])
def test_held_reports_not_released(settings: Settings, release: bool) -> None:
    pipeline, gate, spans = routed(settings, "ask")
    pipeline.submit(_crash())
    assert pipeline.flush(WAIT)

    gate.decision = ConsentDecision("denied", "config")
    if release:
        pipeline.release_held()
    else:
        pipeline.discard_held()
    assert pipeline.flush(WAIT)

    assert spans == []
    assert pipeline.dropped == 1
    assert pipeline.preview_held() == "(no report is waiting)"


def test_held_actions_before_anything_was_built_do_nothing(settings: Settings) -> None:
    pipeline = Pipeline(settings, Gate("granted"))
    pipeline.release_held()
    pipeline.discard_held()
    assert pipeline.flush(WAIT)
    assert pipeline.preview_held() == "(no report is waiting)"
    assert pipeline.dropped == 0


@pytest.mark.parametrize(
    ("state", "level", "routed_", "has_id"),
    [
        pytest.param("granted", "all", False, True, id="consented event: id created"),
        pytest.param("granted", "all", True, False, id="test route: no id"),
        pytest.param("granted", "crash", False, False, id="level crash: event dropped, no id"),
        pytest.param("ask", "crash", False, False, id="asking: event dropped, no id"),
    ],
)
def test_the_install_id_is_created_only_for_an_event_that_may_leave(
    settings: Settings, state: str, level: str, routed_: bool, has_id: bool
) -> None:
    pipeline = Pipeline(settings, Gate(state, level=level))
    if routed_:
        pipeline.route_to(CapturingExporter([]), timeout=WAIT)

    pipeline.submit(CapturedEvent("page_view", {"page": "home"}))
    assert pipeline.flush(WAIT)

    assert settings.layout().install_id_file.exists() is has_id


def test_the_default_file_exporter_writes_without_an_outbox(settings: Settings) -> None:
    pipeline = Pipeline(settings, Gate("granted", level="all"))

    pipeline.submit(CapturedEvent("page_view", {"page": "home"}))
    pipeline.submit(_crash())
    assert pipeline.flush(WAIT)
    pipeline.shutdown(WAIT)

    layout = settings.layout()
    documents = read_reports(layout.reports_dir)
    names = [d["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["name"] for d in documents]
    assert names == ["page_view", attr.SPAN_EXCEPTION]
    assert not layout.outbox_dir.exists()  # a local exporter needs no copy first
    assert pipeline.waiting() == 0


def _earlier_run_left(layout: Layout, name: str = "from an earlier run") -> Outbox:
    outbox = Outbox(layout.outbox_dir)
    entry = outbox.put(record_of(name), ["memory"])
    assert entry is not None
    outbox.settle(entry)
    return outbox


@pytest.mark.parametrize(
    ("state", "sent", "waiting"),
    [
        pytest.param("granted", ["from an earlier run"], 0, id="granted: drained"),
        pytest.param("denied", [], 1, id="denied: waits"),
        pytest.param("ask", [], 1, id="ask: waits"),
    ],
)
def test_drain_sends_what_earlier_runs_left_only_with_consent(
    monkeypatch: pytest.MonkeyPatch, settings: Settings, state: str, sent: list, waiting: int
) -> None:
    monkeypatch.setenv("ACME_TELEMETRY_EXPORTER", "memory")
    _earlier_run_left(settings.layout())
    pipeline = Pipeline(settings, Gate(state))
    assert pipeline.waiting() == 1

    pipeline.schedule_drain()
    assert pipeline.flush(WAIT)

    assert [span.name for span in REMOTE] == sent
    assert pipeline.waiting() == waiting


def test_a_remote_exporter_gets_each_report_through_the_outbox(
    monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    monkeypatch.setenv("ACME_TELEMETRY_EXPORTER", "memory")
    pipeline = Pipeline(settings, Gate("granted"))

    pipeline.submit(_crash())
    assert pipeline.flush(WAIT)

    assert [span.name for span in REMOTE] == [attr.SPAN_EXCEPTION]
    assert pipeline.waiting() == 0  # confirmed: removed from the outbox


def test_forget_stored_clears_the_outbox_and_the_install_id(settings: Settings) -> None:
    layout = settings.layout()
    _earlier_run_left(layout)
    pipeline = Pipeline(settings, Gate("granted", level="all"))
    pipeline.submit(CapturedEvent("page_view", {}))
    assert pipeline.flush(WAIT)
    assert layout.install_id_file.exists()

    pipeline.forget_stored()

    assert pipeline.waiting() == 0
    assert not layout.install_id_file.exists()


def test_routing_back_uses_the_configured_exporters_again(settings: Settings) -> None:
    pipeline, _, spans = routed(settings, "granted")
    pipeline.submit(_crash("routed"))
    pipeline.route_to(None, timeout=WAIT)  # waits for the routed report first

    pipeline.submit(_crash("configured"))
    assert pipeline.flush(WAIT)

    assert [s.events[0].attributes[attr.EXCEPTION_MESSAGE] for s in spans] == ["routed"]
    assert len(read_reports(settings.layout().reports_dir)) == 1


def test_flush_of_a_busy_worker_is_bounded(settings: Settings) -> None:
    import threading

    pipeline = Pipeline(settings, Gate("granted"))
    release = threading.Event()
    pipeline._worker.submit(lambda: release.wait(WAIT))  # a report being built, slowly
    try:
        assert pipeline.flush(0.01) is False
    finally:
        release.set()
    assert pipeline.flush(WAIT) is True
    assert pipeline.flush(None) is True


# -- levels, local mode, the record of sent reports, drops by reason --------------------------


def _messages(documents: list) -> list[str]:
    return [
        attribute["value"]["stringValue"]
        for document in documents
        for span in document["resourceSpans"][0]["scopeSpans"][0]["spans"]
        for event in span.get("events", ())
        for attribute in event["attributes"]
        if attribute["key"] == attr.EXCEPTION_MESSAGE
    ]


def test_local_mode_records_in_the_file_only_and_leaves_the_outbox_alone(
    monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    monkeypatch.setenv("ACME_TELEMETRY_EXPORTER", "memory")
    layout = settings.layout()
    _earlier_run_left(layout)  # consented for upload under another choice
    [waiting] = list(layout.outbox_dir.iterdir())
    before = waiting.read_bytes()
    pipeline = Pipeline(settings, Gate("granted", level="local"))

    pipeline.schedule_drain()
    pipeline.submit(_crash("kept here"))
    assert pipeline.flush(WAIT)

    assert REMOTE == []  # nothing uploaded, nothing drained
    assert _messages(read_reports(layout.reports_dir)) == ["kept here"]
    assert list(layout.outbox_dir.iterdir()) == [waiting]
    assert waiting.read_bytes() == before
    assert SentLog(layout.sent_dir).entries() == []  # nothing left the machine


def test_a_switch_out_of_local_mode_rebuilds_with_the_configured_exporters(
    monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    monkeypatch.setenv("ACME_TELEMETRY_EXPORTER", "memory")
    gate = Gate("granted", level="local")
    pipeline = Pipeline(settings, gate)
    pipeline.submit(_crash("local"))
    assert pipeline.flush(WAIT)

    gate.decision = ConsentDecision("granted", "test", level="crash")
    pipeline.submit(_crash("uploaded"))
    assert pipeline.flush(WAIT)

    assert [s.events[0].attributes[attr.EXCEPTION_MESSAGE] for s in REMOTE] == ["uploaded"]
    assert _messages(read_reports(settings.layout().reports_dir)) == ["local"]
    # The record of what left: the upload only (the file is its own record).
    assert [e.exporter for e in SentLog(settings.layout().sent_dir).entries()] == ["memory"]


@pytest.mark.parametrize(
    ("state", "level", "sent"),
    [
        pytest.param("granted", "all", True, id="all: sent"),
        pytest.param("granted", "local", True, id="local: recorded"),
        pytest.param("granted", "crash", False, id="crash: dropped"),
        pytest.param("ask", "crash", False, id="asking: dropped, never held"),
    ],
)
def test_usage_events_only_at_level_all_or_local(
    settings: Settings, state: str, level: str, sent: bool
) -> None:
    pipeline = Pipeline(settings, Gate(state, level=level))

    pipeline.submit(CapturedEvent("page_view", {"page": "home"}))
    assert pipeline.flush(WAIT)

    names = [
        d["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["name"]
        for d in read_reports(settings.layout().reports_dir)
    ]
    assert names == (["page_view"] if sent else [])
    assert pipeline.held() == 0
    assert pipeline.drops()["usage events off"] == (0 if sent else 1)
    if not sent:
        assert pipeline._built is None  # dropped before anything was built


def test_drops_are_counted_by_reason(settings: Settings) -> None:
    pipeline, _, _ = routed(settings, "ask")
    pipeline.submit(_crash("held"))
    pipeline.submit(CapturedEvent("page_view", {}))
    assert pipeline.flush(WAIT)
    pipeline.discard_held()
    assert pipeline.flush(WAIT)
    denied = Pipeline(settings, Gate("denied"))
    denied.submit(_crash())
    assert denied.flush(WAIT)

    drops = pipeline.drops()
    assert drops == {
        "no consent": 1,
        "usage events off": 1,
        "queue full": 0,
        "scrubbing failed": 0,
        "outbox full": 0,
        "failed checks": 0,
    }
    assert pipeline.dropped == 2
    assert denied.drops()["no consent"] == denied.dropped == 1


def test_drops_outlive_the_build_that_counted_them(settings: Settings) -> None:
    gate = Gate("ask")
    pipeline = Pipeline(settings, gate)
    pipeline.submit(_crash())
    assert pipeline.flush(WAIT)
    pipeline.discard_held()
    assert pipeline.flush(WAIT)

    gate.decision = ConsentDecision("granted", "test", level="local")  # a new build
    pipeline.submit(_crash())
    assert pipeline.flush(WAIT)

    assert pipeline.drops()["no consent"] == 1


def test_the_testing_seam_keeps_no_record_of_sent_reports(settings: Settings) -> None:
    pipeline, _, spans = routed(settings, "granted")

    pipeline.submit(_crash())
    assert pipeline.flush(WAIT)

    assert len(spans) == 1
    assert not settings.layout().sent_dir.exists()


def test_forget_stored_can_keep_the_install_id(settings: Settings) -> None:
    layout = settings.layout()
    _earlier_run_left(layout)
    pipeline = Pipeline(settings, Gate("granted", level="all"))
    pipeline.submit(CapturedEvent("page_view", {}))
    assert pipeline.flush(WAIT)

    pipeline.forget_stored(install_id=False)

    assert pipeline.waiting() == 0
    assert layout.install_id_file.exists()


@pytest.mark.parametrize(
    ("level", "written", "drops"),
    [
        pytest.param(
            "crash", [("at exit", ["memory"])], {"usage events off": 1}, id="crash: to upload"
        ),
        pytest.param(
            "local",
            [("at exit", ["file"]), ("page_view", ["file"])],
            {},
            id="local: for the file exporter alone",
        ),
    ],
)
def test_what_a_flush_out_of_time_writes_itself(
    monkeypatch: pytest.MonkeyPatch,
    settings: Settings,
    level: str,
    written: list[tuple[str, list[str]]],
    drops: dict[str, int],
) -> None:
    import threading

    monkeypatch.setenv("ACME_TELEMETRY_EXPORTER", "memory")
    pipeline = Pipeline(settings, Gate("granted", level=level))
    release = threading.Event()
    pipeline._worker.submit(lambda: release.wait(WAIT))  # the recorder never gets to them
    try:
        pipeline.submit(_crash("at exit"))
        pipeline.submit(CapturedEvent("page_view", {}))
        assert pipeline.flush(0.01) is False
    finally:
        release.set()
    assert pipeline.flush(WAIT)

    outbox = settings.layout().outbox_dir
    documents = (
        [json.loads(path.read_text()) for path in sorted(outbox.glob("*"))]
        if outbox.exists()
        else []
    )
    found = [
        (
            d["span"]["events"][0]["attributes"][attr.EXCEPTION_MESSAGE]
            if d["span"]["events"]
            else d["span"]["name"],
            d["pending"],
        )
        for d in documents
    ]
    assert found == written
    assert {k: v for k, v in pipeline.drops().items() if v} == drops
    assert REMOTE == []


# -- a switch to local mode while reports are held or on their way (red team 17) ----------


def test_a_report_held_when_local_is_chosen_is_recorded_here_never_uploaded(
    monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    monkeypatch.setenv("ACME_TELEMETRY_EXPORTER", "memory")
    gate = Gate("ask")
    pipeline = Pipeline(settings, gate)
    pipeline.submit(_crash("held for the question"))
    assert pipeline.flush(WAIT)
    assert pipeline.held() == 1

    gate.decision = ConsentDecision("granted", "session", level="local")  # enable(local=True)
    pipeline.release_held()
    assert pipeline.flush(WAIT)

    assert REMOTE == []
    assert _messages(read_reports(settings.layout().reports_dir)) == ["held for the question"]
    assert pipeline.held() == 0
    assert pipeline.waiting() == 0


def test_a_crash_after_local_was_chosen_elsewhere_is_not_uploaded_while_one_is_held(
    monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    monkeypatch.setenv("ACME_TELEMETRY_EXPORTER", "memory")
    gate = Gate("ask")
    pipeline = Pipeline(settings, gate)
    pipeline.submit(_crash("held"))
    assert pipeline.flush(WAIT)

    # `acme telemetry local` in another terminal: the saved choice changes under us.
    gate.decision = ConsentDecision("granted", "config", level="local")
    pipeline.submit(_crash("after local"))
    assert pipeline.flush(WAIT)

    assert REMOTE == []
    assert _messages(read_reports(settings.layout().reports_dir)) == ["after local"]
    assert pipeline.held() == 1  # still waiting for this process's answer
    assert "held" in pipeline.preview_held()


def test_a_delivery_queued_before_local_was_chosen_stays_on_the_machine(
    monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    import threading

    monkeypatch.setenv("ACME_TELEMETRY_EXPORTER", "memory")
    gate = Gate("granted")
    pipeline = Pipeline(settings, gate)
    release = threading.Event()
    pipeline._sender.submit(lambda: release.wait(WAIT))  # the sending thread is busy
    try:
        pipeline.submit(_crash("queued"))
        assert pipeline._worker.wait(WAIT)  # recorded: on disk, its send queued
        gate.decision = ConsentDecision("granted", "config", level="local")
    finally:
        release.set()
    assert pipeline.flush(WAIT)

    assert REMOTE == []
    assert pipeline.waiting() == 1  # in the outbox, which `local` empties; never sent


def test_in_local_mode_a_report_written_without_the_sdk_is_recorded_by_a_later_run(
    monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    from otel_telemetry.pipeline._spool import write_captures

    monkeypatch.setenv("ACME_TELEMETRY_EXPORTER", "memory")  # configured: an upload

    local = ConsentDecision("granted", "ACME_TELEMETRY", level="local")
    write_captures([_crash("written at exit")], settings, local)
    [document] = [json.loads(p.read_text()) for p in settings.layout().outbox_dir.iterdir()]
    assert document["pending"] == ["file"]  # for the local record alone, never an upload

    later = Pipeline(settings, Gate("granted", level="local"))
    later.schedule_drain()
    assert later.flush(WAIT)

    assert _messages(read_reports(settings.layout().reports_dir)) == ["written at exit"]
    assert later.waiting() == 0
    assert REMOTE == []


def test_local_chosen_while_a_report_is_recorded_keeps_it_here(
    monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    monkeypatch.setenv("ACME_TELEMETRY_EXPORTER", "memory")

    class Switching(Gate):
        """Granted for an upload when recording starts; `local` from its end on."""

        calls = 0

        def __call__(self) -> ConsentDecision:
            self.calls += 1
            if self.calls > 1:
                return ConsentDecision("granted", "session", level="local")
            return self.decision

    pipeline = Pipeline(settings, Switching("granted"))
    pipeline.submit(_crash("recorded as local was chosen"))
    assert pipeline.flush(WAIT)

    assert REMOTE == []
    assert pipeline.waiting() == 0
    assert _messages(read_reports(settings.layout().reports_dir)) == [
        "recorded as local was chosen"
    ]


def test_usage_events_waiting_are_deleted_once_the_level_no_longer_allows_them(
    monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    monkeypatch.setenv("ACME_TELEMETRY_EXPORTER", "memory")
    from otel_telemetry.pipeline._records import span_to_record
    from tests.unit import exception_span, finished_span

    outbox = Outbox(settings.layout().outbox_dir)
    event = span_to_record(finished_span("page_view", {attr.KIND: attr.KIND_EVENT}))
    crash = span_to_record(exception_span(message="a crash"))
    for record in (event, crash):
        entry = outbox.put(record, ["memory"])
        assert entry is not None
        outbox.settle(entry)

    pipeline = Pipeline(settings, Gate("granted", level="crash"))  # lowered from `all`
    pipeline.schedule_drain()
    assert pipeline.flush(WAIT)

    assert [s.events[0].attributes[attr.EXCEPTION_MESSAGE] for s in REMOTE] == ["a crash"]
    assert pipeline.waiting() == 0
    assert pipeline.drops()["usage events off"] == 1
    assert pipeline.drops()["outbox full"] == 0
