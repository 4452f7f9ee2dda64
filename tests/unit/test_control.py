"""``show`` and ``clean`` (``_control.py``), in process, over real files in ``tmp_path``."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import Status, StatusCode

from otel_telemetry import Telemetry
from otel_telemetry import _attributes as attr
from otel_telemetry._control import Cleaned, clean, show_text, stored_count
from otel_telemetry._layout import Layout
from otel_telemetry.exporters import encode_otlp_json
from otel_telemetry.exporters._file import FileSpanExporter
from otel_telemetry.pipeline._outbox import Outbox
from otel_telemetry.pipeline._records import span_to_record
from otel_telemetry.pipeline._sent import SentLog
from tests.unit import finished_span

T0 = 1_763_000_000_000_000_000  # 2025-11-13 02:13:20 UTC


@pytest.fixture
def telemetry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Telemetry:
    for name in list(os.environ):
        if name.startswith(("ACME_", "OTEL_")) or name in ("DO_NOT_TRACK", "CI"):
            monkeypatch.delenv(name)
    config_dir = tmp_path / "acme-config"
    config_dir.mkdir()
    return Telemetry(app="acme", package="acme", config_dir=config_dir)


@pytest.fixture
def layout(telemetry: Telemetry) -> Layout:
    return telemetry.settings.layout()


def crash(message: str, time_ns: int, kind: str = "ValueError") -> ReadableSpan:
    """A crash report's span, as ``pipeline/_spans.py`` shapes it, at ``time_ns``."""
    return finished_span(
        attributes={attr.KIND: attr.KIND_EXCEPTION, attr.MECHANISM: "excepthook"},
        events=[
            (attr.EVENT_EXCEPTION, {attr.EXCEPTION_TYPE: kind, attr.EXCEPTION_MESSAGE: message})
        ],
        status=Status(StatusCode.ERROR, f"{kind}: {message}"),
        time_ns=time_ns,
    )


def document(span: ReadableSpan) -> dict[str, Any]:
    return encode_otlp_json([span])


def sent(layout: Layout, span: ReadableSpan, exporter: str = "sentry", **more: Any) -> None:
    delivery_id = more.pop("delivery_id", f"{span.context.span_id:016x}")
    SentLog(layout.sent_dir).add(
        document(span),
        exporter=exporter,
        delivery_id=delivery_id,
        time_ns=more.pop("time_ns", span.end_time + 5_000_000_000),
    )


def stored(layout: Layout, span: ReadableSpan) -> None:
    assert FileSpanExporter(layout.reports_dir).export([span]).name == "SUCCESS"


def waiting(layout: Layout, span: ReadableSpan, pending: tuple[str, ...] = ("otlp",)) -> None:
    assert Outbox(layout.outbox_dir).put(span_to_record(span), pending, claimed=False)


def save_choice(layout: Layout, **section: Any) -> None:
    layout.config_file.write_text(json.dumps({"telemetry": section}))


def places(text: str) -> list[str]:
    """The heading lines of the reports shown: where each one is kept."""
    starts = ("Sent to ", "Stored by ", "Waiting in ", "Printed by ")
    return [line for line in text.splitlines() if line.startswith(starts)]


# -- show ---------------------------------------------------------------------------------------


def test_nothing_kept_names_the_folder_and_what_to_do(telemetry: Telemetry, layout: Layout) -> None:
    text = show_text(telemetry.settings, prog="acme telemetry")
    assert text == (
        f"No report is kept on this machine (in {layout.telemetry_dir}). To keep them:"
        " `acme telemetry enable` sends crash reports, `acme telemetry local` records them"
        " here only."
    )
    save_choice(layout, enabled=True)
    assert show_text(telemetry.settings).startswith("No report is kept on this machine yet")


def test_the_newest_report_of_every_place_headed_by_where_it_is(
    telemetry: Telemetry, layout: Layout
) -> None:
    old, middle, new = (crash(m, T0 + i * 60_000_000_000) for i, m in enumerate("abc"))
    sent(layout, middle, delivery_id="e" * 32)
    waiting(layout, new)
    stored(layout, old)

    newest = show_text(telemetry.settings)
    assert places(newest) == [f"Waiting in the outbox ({layout.outbox_dir}) for otlp"]
    assert "ValueError: c" in newest
    assert "ValueError: a" not in newest

    every = show_text(telemetry.settings, show_all=True)
    assert places(every) == [
        f"Stored by the file exporter in {layout.reports_dir}",
        f"Sent to sentry at 2025-11-13 02:14 UTC, event id {'e' * 32}",
        f"Waiting in the outbox ({layout.outbox_dir}) for otlp",
    ]
    # Oldest first.
    assert (
        every.index("ValueError: a") < every.index("ValueError: b") < every.index("ValueError: c")
    )


def test_one_report_in_several_places_is_shown_once(telemetry: Telemetry, layout: Layout) -> None:
    span = crash("twice", T0)
    stored(layout, span)
    sent(layout, span, exporter="file", delivery_id=None)
    sent(layout, span, exporter="otlp", delivery_id="t/s")
    waiting(layout, span, ("sentry",))

    text = show_text(telemetry.settings, show_all=True)
    assert places(text) == [
        "Sent to otlp at 2025-11-13 02:13 UTC, delivery id t/s",
        f"Waiting in the outbox ({layout.outbox_dir}) for sentry",
        f"Stored by the file exporter in {layout.reports_dir} at 2025-11-13 02:13 UTC",
    ]
    assert text.count("ValueError: twice") == 1
    assert stored_count(telemetry.settings) == 1  # the file's copy and its sent record


def test_json_is_the_exact_document(telemetry: Telemetry, layout: Layout) -> None:
    first, second = crash("one", T0), crash("two", T0 + 1_000_000_000)
    sent(layout, first)
    stored(layout, second)

    assert json.loads(show_text(telemetry.settings, as_json=True)) == document(second)
    both = show_text(telemetry.settings, as_json=True, show_all=True)
    decoder, documents, at = json.JSONDecoder(), [], 0
    while at < len(both):
        value, at = decoder.raw_decode(both, at)
        documents.append(value)
        at += 1  # the newline between documents
    assert documents == [document(first), document(second)]


def test_a_waiting_report_is_shown_as_it_would_be_sent(
    telemetry: Telemetry, layout: Layout
) -> None:
    # Planted unscrubbed (an older version, another program): checked and scrubbed again.
    span = crash("mail alice.smith@example.com about it", T0)
    waiting(layout, span)
    Outbox(layout.outbox_dir).put({"name": "not a record"}, ["otlp"], claimed=False)

    text = show_text(telemetry.settings, as_json=True)
    assert "alice.smith@example.com" not in text
    [span_json] = json.loads(text)["resourceSpans"][0]["scopeSpans"][0]["spans"]
    assert span_json["spanId"] == f"{span.context.span_id:016x}"
    assert "[email]" in json.dumps(span_json)
    assert len(os.listdir(layout.outbox_dir)) == 2  # read only: nothing claimed or removed


def test_a_report_withdrawn_before_is_not_shown(telemetry: Telemetry, layout: Layout) -> None:
    waiting(layout, crash("withdrawn", T0))
    save_choice(layout, enabled=True, withdrawn_ns=time.time_ns() + 10**9)
    assert show_text(telemetry.settings).startswith("No report is kept on this machine yet")


def test_local_mode_says_so_first(telemetry: Telemetry, layout: Layout) -> None:
    stored(layout, crash("kept here", T0))
    save_choice(layout, enabled=False, level="local")
    lines = show_text(telemetry.settings).splitlines()
    assert lines[0] == (
        f"Local mode: reports are recorded on this machine, in {layout.reports_dir},"
        " and never uploaded."
    )
    # JSON stays JSON.
    assert json.loads(show_text(telemetry.settings, as_json=True))


def test_sent_lists_one_line_per_delivery_newest_last(telemetry: Telemetry, layout: Layout) -> None:
    assert show_text(telemetry.settings, sent=True) == (
        f"Nothing was sent from this machine (no record in {layout.sent_dir})."
    )
    spans = [crash(f"number {i}", T0 + i * 1_000_000_000, kind="KeyError") for i in range(3)]
    for i, span in enumerate(spans):
        sent(layout, span, exporter="otlp", delivery_id=f"id{i}", time_ns=T0 + i * 1_000_000_000)
    event = finished_span("search", attributes={attr.KIND: attr.KIND_EVENT}, time_ns=T0)
    sent(layout, event, exporter="sentry", delivery_id=None, time_ns=T0 + 10 * 1_000_000_000)

    lines = show_text(telemetry.settings, sent=True).splitlines()
    assert lines == [
        f"Sent from this machine, newest last (4, kept in {layout.sent_dir}):",
        "2025-11-13 02:13:20 UTC  otlp  id0  KeyError: number 0",
        "2025-11-13 02:13:21 UTC  otlp  id1  KeyError: number 1",
        "2025-11-13 02:13:22 UTC  otlp  id2  KeyError: number 2",
        "2025-11-13 02:13:30 UTC  sentry  -  search",
    ]
    entries = json.loads(show_text(telemetry.settings, sent=True, as_json=True))
    assert [e["delivery_id"] for e in entries] == ["id0", "id1", "id2", None]
    assert entries[0]["time"] == "2025-11-13T02:13:20Z"
    assert entries[0]["report"] == document(spans[0])


def test_sent_list_never_drives_the_terminal(telemetry: Telemetry, layout: Layout) -> None:
    span = crash("\x1b[2J\x1b]0;owned\x07gone\r", T0, kind="Bad\x1b[31mType")
    sent(layout, span, exporter="otlp", delivery_id="\x1b[1mid")
    text = show_text(telemetry.settings, sent=True)
    assert "\x1b" not in text
    assert "\r" not in text
    assert "\x07" not in text
    assert "\\x1b[2J" in text


def test_junk_in_every_folder_is_skipped_and_never_waited_on(
    telemetry: Telemetry, layout: Layout, tmp_path: Path
) -> None:
    good = [crash(f"good {i}", T0 + i * 1_000_000_000) for i in range(3)]
    sent(layout, good[0])
    waiting(layout, good[1])
    stored(layout, good[2])
    outside = tmp_path / "outside.json"
    outside.write_text(json.dumps(document(crash("outside", T0 + 10**12))))
    junk = b"x" * (20 * 1024 * 1024)
    names = {
        layout.sent_dir: "99999999999999999999-otlp-0000000{}.json",
        layout.outbox_dir: "99999999999999999999-{}.json",
        layout.reports_dir: "9999-12-3{}.jsonl",
    }
    for folder, name in names.items():
        (folder / name.format("1")).symlink_to(outside)
        os.mkfifo(folder / name.format("2"))
        (folder / name.format("3")).write_bytes(junk)

    text = show_text(telemetry.settings, show_all=True)
    assert [f"good {i}" in text for i in range(3)] == [True, True, True]
    assert "outside" not in text


def test_a_linked_folder_is_not_read(telemetry: Telemetry, layout: Layout, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    FileSpanExporter(elsewhere).export([crash("through a link", T0)])
    layout.telemetry_dir.mkdir()
    layout.reports_dir.symlink_to(elsewhere)
    assert "through a link" not in show_text(telemetry.settings, show_all=True)


# -- clean --------------------------------------------------------------------------------------


def test_clean_removes_everything_but_the_choice(telemetry: Telemetry, layout: Layout) -> None:
    config = b'{"theme": "dark", "telemetry": {"enabled": true, "email": "me@example.com"}}'
    layout.config_file.write_bytes(config)
    layout.config_lock.write_bytes(b"")
    for i in range(3):
        waiting(layout, crash(f"w{i}", T0 + i))
    Outbox(layout.outbox_dir).put(span_to_record(crash("claimed", T0)), ["otlp"], claimed=True)
    stored(layout, crash("s0", T0))
    stored(layout, crash("s1", T0 + 1))
    for i in range(5):
        sent(layout, crash(f"sent {i}", T0 + i))
    layout.install_id_file.write_text("8a3c5f0e-1111-4222-8333-944445555666\n")
    layout.backoff_file.write_text('{"otlp": 9999999999}')

    cleaned = clean(telemetry.settings)

    assert cleaned == Cleaned(
        {"waiting": 4, "stored": 2, "sent": 5, "install id": 1, "backoff": 1}, ()
    )
    assert str(cleaned) == (
        "Removed 4 waiting reports, 2 stored reports, 5 sent records, the install id and the"
        " backoff state; your choice is kept."
    )
    assert layout.config_file.read_bytes() == config
    assert layout.config_lock.exists()
    for folder in (layout.outbox_dir, layout.reports_dir, layout.sent_dir):
        assert os.listdir(folder) == []
    assert not layout.install_id_file.exists()
    assert not layout.backoff_file.exists()

    again = clean(telemetry.settings)
    assert again == Cleaned({}, ())
    assert str(again) == "Nothing to remove; your choice is kept."


def test_clean_with_nothing_on_disk(telemetry: Telemetry, layout: Layout) -> None:
    assert str(clean(telemetry.settings)) == "Nothing to remove; your choice is kept."
    assert not layout.telemetry_dir.exists()


def test_clean_never_follows_a_link(telemetry: Telemetry, layout: Layout, tmp_path: Path) -> None:
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "keep.json").write_text("{}")
    (precious / "keep.jsonl").write_text("{}\n")
    layout.telemetry_dir.mkdir()
    layout.outbox_dir.symlink_to(precious)
    layout.reports_dir.mkdir()
    (layout.reports_dir / "2025-11-13.jsonl").symlink_to(precious / "keep.jsonl")
    layout.install_id_file.symlink_to(precious / "keep.json")

    cleaned = clean(telemetry.settings)

    assert sorted(p.name for p in precious.iterdir()) == ["keep.json", "keep.jsonl"]
    assert not os.path.lexists(layout.reports_dir / "2025-11-13.jsonl")  # the link itself
    assert not os.path.lexists(layout.install_id_file)
    assert layout.outbox_dir.is_symlink()  # refused, left in place, and said so
    assert cleaned.problems == (
        f"{layout.outbox_dir} (a symbolic link or not a folder: never followed, left in place)",
    )
    assert "Not removed: " in str(cleaned)


def test_a_linked_telemetry_folder_is_left_alone(
    telemetry: Telemetry, layout: Layout, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "outbox").mkdir(parents=True)
    (elsewhere / "outbox" / "x.json").write_text("{}")
    layout.telemetry_dir.symlink_to(elsewhere)
    cleaned = clean(telemetry.settings)
    assert cleaned.removed == {}
    assert len(cleaned.problems) == 1
    assert (elsewhere / "outbox" / "x.json").exists()


def test_cleaned_wording() -> None:
    assert str(Cleaned({"stored": 1})) == "Removed 1 stored report; your choice is kept."
    assert str(Cleaned({"install id": 1, "sent": 1})) == (
        "Removed 1 sent record and the install id; your choice is kept."
    )
    assert str(Cleaned({}, ("/x (Permission denied)",))) == (
        "Nothing to remove; your choice is kept.\nNot removed: /x (Permission denied)"
    )
