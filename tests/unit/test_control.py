"""``show`` and ``clean`` (``_control.py``), in process, over real files in ``tmp_path``."""

from __future__ import annotations

import json
import os
import time
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import Status, StatusCode

from otel_telemetry import Telemetry
from otel_telemetry import _attributes as attr
from otel_telemetry._control import (
    Cleaned,
    clean,
    json_text,
    show_output,
    show_text,
    stored_count,
    stored_reports,
)
from otel_telemetry._layout import Layout
from otel_telemetry.exporters import _file, encode_otlp_json
from otel_telemetry.exporters._file import (
    MAX_READ_FILE,
    FileSpanExporter,
    read_reports,
    scan_reports,
)
from otel_telemetry.pipeline._outbox import Outbox
from otel_telemetry.pipeline._records import span_to_record
from otel_telemetry.pipeline._sent import SentLog
from tests.unit import finished_span

T0 = 1_763_000_000_000_000_000  # 2025-11-13 02:13:20 UTC
UNSAFE_CATEGORIES = {"Cc", "Cf", "Zl", "Zp", "Cs"}


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
    # With --all, one JSON value (a list), so that `show --all --json | jq` parses it.
    both = show_text(telemetry.settings, as_json=True, show_all=True)
    assert json.loads(both) == [document(first), document(second)]


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


# -- what is on disk never breaks show, disable or clean -----------------------------------------

DEEP = "[" * 100_000 + "]" * 100_000  # json.loads raises RecursionError, not ValueError


def append_line(layout: Layout, line: bytes, day: str = "2025-11-13") -> None:
    with open(layout.reports_dir / f"{day}.jsonl", "ab") as handle:
        handle.write(line + b"\n")


def test_lines_that_are_not_reports_are_skipped_and_the_others_still_count(
    telemetry: Telemetry, layout: Layout
) -> None:
    stored(layout, crash("before the junk", T0))
    day = next(layout.reports_dir.iterdir()).name[: -len(".jsonl")]
    append_line(layout, DEEP.encode(), day)
    append_line(layout, b'{"note": "caf\xe9"}', day)  # cp1252, not UTF-8
    nested = document(crash("nested", T0 + 5))
    for _ in range(100):  # valid JSON, but nested deeper than any report of ours
        nested = {"x": [nested]}
    append_line(layout, json.dumps(nested).encode(), day)
    stored(layout, crash("after the junk", T0 + 10))

    text = show_text(telemetry.settings, show_all=True)

    assert "ValueError: before the junk" in text
    assert "ValueError: after the junk" in text
    assert "nested" not in text
    assert stored_count(telemetry.settings) == 2
    cleaned = clean(telemetry.settings)  # Telemetry.clean() promises never to raise
    assert cleaned == Cleaned({"stored": 2}, ())
    assert os.listdir(layout.reports_dir) == []


def test_a_day_file_with_one_undecodable_line_still_counts_its_reports(
    telemetry: Telemetry, layout: Layout
) -> None:
    stored(layout, crash("real", T0))
    [day_file] = layout.reports_dir.iterdir()
    with open(day_file, "ab") as handle:
        handle.write(b'{"note": "caf\xe9"}\n')

    assert "ValueError: real" in show_text(telemetry.settings)
    assert clean(telemetry.settings).removed == {"stored": 1}  # removed, and said so


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x85"])  # raw in the JSON
def test_a_report_holding_a_unicode_line_separator_is_one_line(
    telemetry: Telemetry, layout: Layout, separator: str
) -> None:
    span = crash(f"one{separator}two", T0)
    stored(layout, span)

    assert read_reports(layout.reports_dir) == [document(span)]
    assert "ValueError: one" in show_text(telemetry.settings)


def test_a_step_that_fails_unexpectedly_is_a_problem_and_the_others_still_run(
    telemetry: Telemetry, layout: Layout, monkeypatch: pytest.MonkeyPatch
) -> None:
    stored(layout, crash("stored", T0))
    sent(layout, crash("sent", T0))
    layout.install_id_file.write_text("8a3c5f0e-1111-4222-8333-944445555666\n")

    def broken(self: SentLog) -> int:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(SentLog, "clear", broken)

    cleaned = clean(telemetry.settings)

    assert cleaned.removed == {"stored": 1, "install id": 1}
    assert cleaned.problems == ("RuntimeError: disk on fire",)


# -- bounded reading of the day files ------------------------------------------------------------


def test_a_day_file_over_the_bound_is_never_read_but_is_named_and_removed(
    telemetry: Telemetry, layout: Layout, monkeypatch: pytest.MonkeyPatch
) -> None:
    stored(layout, crash("small and new", T0))
    huge = layout.reports_dir / "2000-01-01.jsonl"
    with open(huge, "wb") as handle:
        handle.truncate(MAX_READ_FILE + 1)  # sparse: costs no disk
    opened: list[str] = []
    real_read = _file.read_bounded

    def spy(path: Any, limit: int) -> bytes:
        opened.append(os.path.basename(path))
        return real_read(path, limit)

    monkeypatch.setattr(_file, "read_bounded", spy)

    text = show_text(telemetry.settings, show_all=True, prog="acme telemetry")

    assert "ValueError: small and new" in text
    assert text.splitlines()[-1] == (
        f"Not read: 1 file of reports in {layout.reports_dir}, too large to read here;"
        " `acme telemetry clean` removes it."
    )
    assert huge.name not in opened
    assert stored_reports(telemetry.settings) == (1, 1)
    out, notes = show_output(telemetry.settings, as_json=True)
    assert json.loads(out)  # the JSON alone on stdout; the note on stderr
    assert notes.startswith("Not read: 1 file of reports")
    assert clean(telemetry.settings).removed == {"stored": 1, "unread": 1}
    assert os.listdir(layout.reports_dir) == []
    assert huge.name not in opened


def test_day_files_are_read_newest_first_within_a_total_bound(tmp_path: Path) -> None:
    directory = tmp_path / "telemetry" / "reports"
    directory.mkdir(parents=True)
    line = json.dumps(document(crash("x", T0))).encode() + b"\n"
    for day in ("2025-01-01", "2025-01-02", "2025-01-03", "2025-01-04"):
        (directory / f"{day}.jsonl").write_bytes(line * 2)
    (directory / "2025-01-05.jsonl").write_bytes(line * 5)  # over max_file on its own

    days = scan_reports(directory, max_file=4 * len(line), max_total=5 * len(line))

    assert [d.path.name[:10] for d in days] == [
        "2025-01-01",
        "2025-01-02",
        "2025-01-03",
        "2025-01-04",
        "2025-01-05",
    ]
    # The newest too large: skipped at no cost; then two fit; the older ones do not.
    assert [None if d.documents is None else len(d.documents) for d in days] == [
        None,
        None,
        2,
        2,
        None,
    ]


# -- JSON output -----------------------------------------------------------------------------------

UNSAFE = [
    "\x1b",
    "\x7f",
    "\x85",
    "\x9b",
    "\x9d",
    "\xad",
    "\u061c",
    "\u200b",
    "\u200e",
    "\u202e",
    "\u2066",
    "\u2028",
    "\u2029",
    "\ufeff",
    "\U000e0001",
    "\ud800",
]


def test_json_escapes_what_could_drive_a_terminal_and_keeps_the_rest_readable() -> None:
    value = {"message": "A" + "B".join(UNSAFE) + "Z café 日本 😀", "n": [1, None, True]}

    text = json_text(value)

    assert json.loads(text) == value
    for char in UNSAFE:
        assert char not in text, f"U+{ord(char):04X}"
    assert "\\u202e" in text
    assert "\\udb40\\udc01" in text  # beyond U+FFFF: a surrogate pair
    assert "café 日本 😀" in text


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(alphabet=st.characters()),
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(st.text(alphabet=st.characters(), max_size=5), inner, max_size=3)
        ),
        max_leaves=8,
    )
)
def test_json_text_parses_to_the_same_value_and_holds_no_unsafe_character(value: Any) -> None:
    text = json_text(value)
    assert json.loads(text) == value
    unsafe = [c for c in text if c != "\n" and unicodedata.category(c) in UNSAFE_CATEGORIES]
    assert unsafe == []


def test_show_json_and_sent_json_print_no_control_or_format_character(
    telemetry: Telemetry, layout: Layout
) -> None:
    span = crash("A" + "B".join(UNSAFE[:-1]) + "Z", T0)
    stored(layout, span)
    sent(layout, span, exporter="otlp", delivery_id="t/s")

    for as_sent in (False, True):
        text = show_text(telemetry.settings, as_json=True, sent=as_sent)
        for char in UNSAFE[:-1]:
            assert char not in text, (as_sent, f"U+{ord(char):04X}")
        parsed = json.loads(text)
        assert (parsed[0]["report"] if as_sent else parsed) == document(span)


# -- a waiting report, as the host that wrote it sends it ----------------------------------------


def test_a_waiting_report_keeps_its_own_resource_scrubbed_again(
    telemetry: Telemetry, layout: Layout
) -> None:
    record = span_to_record(crash("waiting", T0))
    record["resource"] = {
        "service.name": "acme",
        "service.version": "7.7.7",
        "owner": "mail alice.smith@example.com",
    }
    assert Outbox(layout.outbox_dir).put(record, ["otlp"], claimed=False)
    generic = Telemetry(app="acme", config_dir=layout.config_dir)  # knows no version of acme

    shown = json.loads(show_text(generic.settings, as_json=True))

    resource = {
        a["key"]: a["value"]["stringValue"]
        for a in shown["resourceSpans"][0]["resource"]["attributes"]
    }
    assert resource["service.version"] == "7.7.7"
    assert "alice.smith@example.com" not in resource["owner"]
    assert "[email]" in resource["owner"]
    assert "acme 7.7.7" in show_text(generic.settings)


# -- show --json with nothing kept ---------------------------------------------------------------


def test_show_json_with_nothing_kept_prints_nothing_on_stdout(
    telemetry: Telemetry, layout: Layout
) -> None:
    out, notes = show_output(telemetry.settings, as_json=True, prog="acme telemetry")
    assert out == ""
    assert notes.startswith(f"No report is kept on this machine (in {layout.telemetry_dir})")
    # The sent record is a list: empty, it is still JSON.
    assert show_output(telemetry.settings, as_json=True, sent=True) == ("[]", "")
    # Readable output, and the Python API, keep the sentence where it was.
    assert show_text(telemetry.settings, as_json=True) == notes


def test_local_mode_notes_go_to_stderr_with_json(telemetry: Telemetry, layout: Layout) -> None:
    stored(layout, crash("kept here", T0))
    save_choice(layout, enabled=False, level="local")
    out, notes = show_output(telemetry.settings, as_json=True)
    assert json.loads(out)
    assert notes.startswith("Local mode: reports are recorded on this machine")


# -- the sent record: only entries of ours count -------------------------------------------------


def test_clean_counts_only_the_sent_entries_of_ours(telemetry: Telemetry, layout: Layout) -> None:
    for i in range(2):
        sent(layout, crash(f"sent {i}", T0 + i))
    for i in range(30):  # junk named like entries
        (layout.sent_dir / f"{i:020d}-junk-{i:08x}.json").write_text("{}")
    (layout.sent_dir / f"{T0 + 99:020d}-otlp-0000abcd.json").write_text(DEEP)

    assert clean(telemetry.settings).removed == {"sent": 2}
    assert os.listdir(layout.sent_dir) == []
