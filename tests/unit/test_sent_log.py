"""The record of sent reports (``pipeline/_sent.py``): bounded, owner-only, never follows a link."""

from __future__ import annotations

import json
import os
import stat
import threading
import time
from pathlib import Path

import pytest

from otel_telemetry._layout import UnsafePathError
from otel_telemetry.pipeline import _sent
from otel_telemetry.pipeline._sent import (
    MAX_BATCH,
    MAX_BYTES,
    MAX_ENTRIES,
    MAX_ENTRY_BYTES,
    OMITTED,
    SentEntry,
    SentLog,
)

T0 = 1_700_000_000_000_000_000


def document(message: str = "boom", padding: int = 0) -> dict:
    """An OTLP/JSON document of one report, ``padding`` characters bigger."""
    return {
        "resourceSpans": [
            {
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "name": "exception",
                                "attributes": [
                                    {"key": "m", "value": {"stringValue": message}},
                                    {"key": "pad", "value": {"stringValue": "x" * padding}},
                                ],
                            }
                        ]
                    }
                ]
            }
        ]
    }


def message_of(entry: SentEntry) -> str:
    span = entry.document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    return span["attributes"][0]["value"]["stringValue"]


@pytest.fixture
def sent_dir(tmp_path: Path) -> Path:
    return tmp_path / "config" / "telemetry" / "sent"


@pytest.fixture
def log(sent_dir: Path) -> SentLog:
    return SentLog(sent_dir)


def sizes(directory: Path) -> list[int]:
    return [p.lstat().st_size for p in directory.iterdir()]


def test_an_entry_keeps_what_was_sent_where_and_under_which_id(log: SentLog) -> None:
    log.add(document("first"), exporter="sentry", delivery_id="a" * 32, time_ns=T0)
    log.add(document("second"), exporter="otlp", delivery_id=None, time_ns=T0 + 1)

    assert log.entries() == [
        SentEntry(T0, "sentry", "a" * 32, document("first")),
        SentEntry(T0 + 1, "otlp", None, document("second")),
    ]
    assert log.count() == 2
    [name, _] = sorted(os.listdir(log.directory))
    assert name.startswith(f"{T0:020d}-sentry-")
    assert name.endswith(".json")


def test_entries_are_newest_last_whatever_order_they_were_added_in(log: SentLog) -> None:
    for offset in (3, 1, 2):
        log.add(document(str(offset)), exporter="file", delivery_id=None, time_ns=T0 + offset)

    assert [message_of(e) for e in log.entries()] == ["1", "2", "3"]


def test_the_newest_100_are_kept(log: SentLog) -> None:
    for index in range(MAX_ENTRIES + 1):
        log.add(document(str(index)), exporter="file", delivery_id=None, time_ns=T0 + index)

    entries = log.entries()
    assert len(entries) == MAX_ENTRIES == log.count()
    assert [message_of(e) for e in entries] == [str(i) for i in range(1, MAX_ENTRIES + 1)]


def test_big_reports_keep_the_record_within_1_mb(log: SentLog) -> None:
    padding = MAX_ENTRY_BYTES // 2  # about 8 of them fit
    for index in range(20):
        log.add(
            document(str(index), padding), exporter="otlp", delivery_id=None, time_ns=T0 + index
        )

    assert sum(sizes(log.directory)) <= MAX_BYTES
    kept = [message_of(e) for e in log.entries()]
    assert 1 < len(kept) < 20
    assert kept == [str(i) for i in range(20 - len(kept), 20)]  # the newest, in order


def test_a_report_too_large_is_kept_as_a_stub_never_whole(log: SentLog) -> None:
    log.add(document("small"), exporter="otlp", delivery_id="ids", time_ns=T0)
    log.add(
        document("huge", 2 * MAX_BYTES), exporter="sentry", delivery_id="e" * 32, time_ns=T0 + 1
    )

    small, stub = log.entries()
    assert message_of(small) == "small"  # the record is not emptied for it
    assert (stub.exporter, stub.delivery_id) == ("sentry", "e" * 32)
    assert list(stub.document) == [OMITTED]
    assert "too large" in stub.document[OMITTED]
    assert max(sizes(log.directory)) < MAX_ENTRY_BYTES


@pytest.mark.parametrize("umask", [0o077, 0o000, 0o277], ids=oct)
def test_files_are_0600_and_folders_0700_whatever_the_umask(tmp_path: Path, umask: int) -> None:
    log = SentLog(tmp_path / "config" / "telemetry" / "sent")
    previous = os.umask(umask)
    try:
        log.add(document(), exporter="file", delivery_id=None, time_ns=T0)
    finally:
        os.umask(previous)

    [entry] = log.directory.iterdir()
    assert stat.S_IMODE(entry.stat().st_mode) == 0o600
    for folder in (log.directory, log.directory.parent):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    assert len(log.entries()) == 1


def test_a_planted_link_in_the_folder_is_never_followed(log: SentLog, tmp_path: Path) -> None:
    log.add(document("ours"), exporter="file", delivery_id=None, time_ns=T0)
    target = tmp_path / "elsewhere.json"
    planted = {
        "time_ns": T0 + 5,
        "exporter": "otlp",
        "delivery_id": None,
        "report": document("planted"),
    }
    target.write_text(json.dumps(planted))
    link = log.directory / f"{T0 + 5:020d}-otlp-0123abcd.json"
    link.symlink_to(target)

    assert [message_of(e) for e in log.entries()] == ["ours"]
    assert log.count() == 1
    for index in range(MAX_ENTRIES + 1):  # pruning passes over it
        log.add(document(str(index)), exporter="file", delivery_id=None, time_ns=T0 + 10 + index)
    assert target.read_text() == json.dumps(planted)

    assert log.clear() == MAX_ENTRIES
    assert not os.path.lexists(link)  # the link itself is removed, never its target
    assert target.read_text() == json.dumps(planted)


def test_a_folder_that_is_a_link_is_neither_written_read_nor_cleared(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("theirs")
    telemetry = tmp_path / "config" / "telemetry"
    telemetry.mkdir(parents=True)
    (telemetry / "sent").symlink_to(elsewhere, target_is_directory=True)
    log = SentLog(telemetry / "sent")

    log.add(document(), exporter="file", delivery_id=None, time_ns=T0)  # never raises

    assert os.listdir(elsewhere) == ["keep.txt"]
    assert log.entries() == []
    assert log.count() == 0
    with pytest.raises(UnsafePathError):
        log.clear()
    assert os.listdir(elsewhere) == ["keep.txt"]


def test_add_never_raises(tmp_path: Path) -> None:
    telemetry = tmp_path / "config" / "telemetry"
    telemetry.mkdir(parents=True)
    (telemetry / "sent").write_text("a file where the folder should be")
    log = SentLog(telemetry / "sent")

    log.add(document(), exporter="file", delivery_id=None, time_ns=T0)
    log.add({"not": {"json": object()}}, exporter="file", delivery_id=None, time_ns=T0)

    assert log.entries() == []


def test_planted_junk_is_skipped_and_reading_never_blocks(log: SentLog) -> None:
    log.add(document("ours"), exporter="file", delivery_id=None, time_ns=T0)
    directory = log.directory
    junk = {
        f"{T0 + 1:020d}-file-00000001.json": b"{not json",
        f"{T0 + 2:020d}-file-00000002.json": json.dumps([1, 2]).encode(),
        f"{T0 + 3:020d}-file-00000003.json": json.dumps({"time_ns": "soon"}).encode(),
        f"{T0 + 4:020d}-file-00000004.json": b"[" * 100_000 + b"]" * 100_000,
        f"{T0 + 5:020d}-file-00000005.json": b" " * (MAX_ENTRY_BYTES + 1),
        f"{T0 + 7:020d}-file-00000007.json": b"x" * (20 * MAX_BYTES),  # the newest
        "notes.txt": b"not a name of ours",
    }
    for name, data in junk.items():
        (directory / name).write_bytes(data)
    fifo = directory / f"{T0 + 6:020d}-file-00000006.json"
    os.mkfifo(fifo)

    result: list[list[SentEntry]] = []
    reader = threading.Thread(target=lambda: result.append(log.entries()), daemon=True)
    reader.start()
    reader.join(30)

    assert result, "entries() blocked on the FIFO"
    assert [message_of(e) for e in result[0]] == ["ours"]


def test_a_killed_writers_temporary_file_goes_at_the_next_addition(log: SentLog) -> None:
    log.add(document(), exporter="file", delivery_id=None, time_ns=T0)
    orphan = log.directory / ".0001-file-x.json.abc.tmp"
    orphan.write_text("{half")
    recent = log.directory / ".0002-file-y.json.abc.tmp"
    recent.write_text("{a write in progress")
    old = time.time() - _sent.ORPHAN_AGE - 10
    os.utime(orphan, (old, old))

    log.add(document(), exporter="file", delivery_id=None, time_ns=T0 + 1)

    assert not orphan.exists()
    assert recent.exists()
    assert log.count() == 2


def test_clear_removes_everything_and_counts_the_reports(log: SentLog) -> None:
    assert log.clear() == 0  # no folder yet
    for index in range(3):
        log.add(document(), exporter="file", delivery_id=None, time_ns=T0 + index)
    (log.directory / ".x.json.1.tmp").write_text("")

    assert log.clear() == 3
    assert os.listdir(log.directory) == []
    assert log.entries() == []


def test_names_of_exporters_cannot_leave_the_folder(log: SentLog) -> None:
    log.add(document(), exporter="../../evil/x", delivery_id="i" * 10_000, time_ns=-5)

    [entry] = log.entries()
    assert entry.exporter == ".._.._evil_x"  # no separator: a name within the folder
    assert entry.time_ns == 0
    assert entry.delivery_id is not None
    assert len(entry.delivery_id) == 256
    assert os.listdir(log.directory.parent) == ["sent"]


def test_count_is_of_whole_entries_of_ours_never_of_junk_named_like_one(
    log: SentLog, tmp_path: Path
) -> None:
    log.add(document("ours"), exporter="otlp", delivery_id=None, time_ns=T0)
    directory = log.directory
    outside = tmp_path / "outside.json"
    outside.write_text(
        json.dumps({"time_ns": T0 + 9, "exporter": "otlp", "delivery_id": None, "report": {}})
    )
    (directory / f"{T0 + 9:020d}-sentry-aaaaaaaa.json").symlink_to(outside)
    os.mkfifo(directory / f"{T0 + 8:020d}-sentry-bbbbbbbb.json")
    (directory / f"{T0 + 7:020d}-otlp-cccccccc.json").write_bytes(b"[" * 50_000 + b"]" * 50_000)
    (directory / f"{T0 + 6:020d}-otlp-dddddddd.json").write_bytes(b"x" * (MAX_ENTRY_BYTES + 1))
    for index in range(300):
        (directory / f"{index:020d}-junk-{index:08x}.json").write_text("{}")

    assert log.count() == 1 == len(log.entries())


# Reports delivered together: a file per exporter and MAX_BATCH reports, not one each.


def _copies(first: int, count: int, exporter: str = "otlp", padding: int = 0) -> list:
    return [(document(str(i), padding), exporter, f"id-{i}") for i in range(first, first + count)]


def test_a_batch_is_a_file_per_ten_reports_read_in_order(log: SentLog) -> None:
    log.add_many(_copies(0, 25), time_ns=T0)

    names = sorted(os.listdir(log.directory))
    assert [name.rsplit("-", 1)[1] for name in names] == ["10.json", "10.json", "5.json"]
    assert names[0].startswith(f"{T0:020d}-otlp-")
    entries = log.entries()
    assert [message_of(e) for e in entries] == [str(i) for i in range(25)]
    assert [e.time_ns for e in entries] == [T0 + i for i in range(25)]
    assert [e.delivery_id for e in entries] == [f"id-{i}" for i in range(25)]
    assert log.count() == 25


def test_each_exporter_of_a_batch_has_its_file(log: SentLog) -> None:
    log.add_many([*_copies(0, 3, "otlp"), *_copies(3, 2, "sentry")], time_ns=T0)

    assert sorted(name.split("-")[1] for name in os.listdir(log.directory)) == ["otlp", "sentry"]
    assert [(message_of(e), e.exporter) for e in log.entries()] == [
        ("0", "otlp"),
        ("1", "otlp"),
        ("2", "otlp"),
        ("3", "sentry"),
        ("4", "sentry"),
    ]


def test_the_newest_are_kept_a_file_at_a_time(log: SentLog) -> None:
    log.add_many(_copies(0, MAX_ENTRIES), time_ns=T0)
    log.add_many(_copies(MAX_ENTRIES, 30), time_ns=T0 + 10_000)
    assert [message_of(e) for e in log.entries()] == [str(i) for i in range(30, 130)]

    log.add(document("single"), exporter="file", delivery_id=None, time_ns=T0 + 20_000)

    entries = log.entries()
    assert log.count() == len(entries) == MAX_ENTRIES - MAX_BATCH + 1  # the oldest file went
    assert [message_of(e) for e in entries] == [str(i) for i in range(40, 130)] + ["single"]


def test_the_newest_batch_stays_when_older_big_reports_fill_the_bytes(log: SentLog) -> None:
    # Found by a red team: pruning for the byte bound removed the batch just written.
    log.add_many(_copies(0, 10, padding=90_000), time_ns=T0)
    log.add_many(_copies(10, 91, padding=3_000), time_ns=T0 + 10_000)

    kept = [message_of(e) for e in log.entries()]
    assert kept[-91:] == [str(i) for i in range(10, 101)]
    assert sum(sizes(log.directory)) <= MAX_BYTES


def test_copies_for_two_exporters_are_pruned_oldest_first(log: SentLog) -> None:
    # Found by a red team: one exporter's copies of newer reports went before older ones.
    copies = []
    for i in range(50):
        copies += [(document(f"s{i}"), "sentry", f"s{i}"), (document(f"o{i}"), "otlp", f"o{i}")]
    log.add_many(copies, time_ns=T0)
    log.add_many(_copies(1000, 10, "file"), time_ns=T0 + 10_000)

    entries = log.entries()
    assert MAX_ENTRIES - MAX_BATCH < log.count() <= MAX_ENTRIES
    for exporter, prefix in (("sentry", "s"), ("otlp", "o")):
        kept = [e.delivery_id for e in entries if e.exporter == exporter]
        newest = [f"{prefix}{i}" for i in range(50 - len(kept), 50)]
        assert kept == newest  # the newest of each, in order


def test_a_batch_keeps_the_record_within_1_mb(log: SentLog) -> None:
    log.add_many(_copies(0, 40, padding=MAX_ENTRY_BYTES // 8), time_ns=T0)

    assert sum(sizes(log.directory)) <= MAX_BYTES
    entries = log.entries()
    assert 0 < len(entries) < 40
    assert message_of(entries[-1]) == "39"  # the newest stay


def test_clear_counts_the_reports_of_batches(log: SentLog) -> None:
    log.add_many(_copies(0, 7), time_ns=T0)
    log.add(document(), exporter="file", delivery_id=None, time_ns=T0 + 100)

    assert log.clear() == 8
    assert os.listdir(log.directory) == []


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("-999", b"{}"),  # claims more than a file of ours holds
        ("-0", b"{}"),
        ("-1", b"{}"),
        ("-5", b" " * (MAX_BYTES + 1)),  # larger than a file of ours
        ("", b"x" * (5 * MAX_BYTES)),
    ],
    ids=["claims 999", "claims 0", "claims 1", "batch too large", "entry too large"],
)
def test_a_planted_file_neither_counts_nor_makes_pruning_remove_ours(
    log: SentLog, name: str, content: bytes
) -> None:
    # Found by a red team: a future-dated file claiming 999 reports (or 5 MB) made the
    # next addition remove every report of ours, the new one included.
    log.add_many(_copies(0, 30), time_ns=T0)
    planted = log.directory / f"{T0 + 10**15:020d}-otlp-0000abcd{name}.json"
    planted.write_bytes(content)

    log.add(document("new"), exporter="otlp", delivery_id=None, time_ns=T0 + 1000)

    assert [message_of(e) for e in log.entries()] == [str(i) for i in range(30)] + ["new"]
    assert log.count() == 31


def test_a_planted_batch_of_junk_is_skipped(log: SentLog) -> None:
    log.add_many(_copies(0, 3), time_ns=T0)
    (log.directory / f"{T0 + 50:020d}-otlp-0000abcd-9.json").write_text('{"entries": [1, "x"]}')
    (log.directory / f"{T0 + 52:020d}-otlp-0000abcf-2.json").write_text(
        json.dumps({"entries": [{"time_ns": T0 + 52, "exporter": "otlp", "report": 1}]})
    )

    assert [message_of(e) for e in log.entries()] == ["0", "1", "2"]


def test_a_file_planted_twice_is_shown_once(log: SentLog) -> None:
    log.add_many(_copies(0, 5), time_ns=T0)
    [name] = os.listdir(log.directory)
    time_part, exporter, _, count = name.split("-")
    twin = f"{time_part}-{exporter}-ffffffff-{count}"
    (log.directory / twin).write_bytes((log.directory / name).read_bytes())

    assert [message_of(e) for e in log.entries()] == ["0", "1", "2", "3", "4"]
