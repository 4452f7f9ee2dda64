"""The outbox (``pipeline/_outbox.py``): reports on disk until every exporter confirmed them."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, Status, StatusCode

from otel_telemetry import _log
from otel_telemetry._layout import clear_reports
from otel_telemetry.pipeline._outbox import Entry, Outbox, _claim_tag
from otel_telemetry.pipeline._records import record_to_span, span_to_record
from otel_telemetry.pipeline._report import FORMAT, Record
from tests.unit import dead_pid, finished_span, mode_of, under_a_file


@pytest.fixture(autouse=True)
def fresh_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    """``warn_once`` remembers keys per process; each test starts with none warned."""
    monkeypatch.setattr(_log, "_warned", set())


def rich_span(name: str = "exception") -> ReadableSpan:
    return finished_span(
        name,
        attributes={
            "otel_telemetry.kind": "exception",
            "otel_telemetry.handled": False,
            "count": 3,
            "ratio": 0.5,
            "tags": ("a", "b"),
        },
        events=[("exception", {"exception.type": "ValueError", "exception.message": "boom"})],
        status=Status(StatusCode.ERROR, "ValueError: boom"),
        kind=SpanKind.SERVER,
    )


def rich_record(name: str = "exception") -> Record:
    return span_to_record(rich_span(name))


def assert_same_span(actual: ReadableSpan, expected: ReadableSpan) -> None:
    assert actual.name == expected.name
    assert actual.context.trace_id == expected.context.trace_id
    assert actual.context.span_id == expected.context.span_id
    assert actual.kind == expected.kind
    assert (actual.start_time, actual.end_time) == (expected.start_time, expected.end_time)
    assert dict(actual.attributes) == dict(expected.attributes)
    assert [(e.name, e.timestamp, dict(e.attributes)) for e in actual.events] == [
        (e.name, e.timestamp, dict(e.attributes)) for e in expected.events
    ]
    assert actual.status.status_code == expected.status.status_code
    assert actual.status.description == expected.status.description
    assert dict(actual.resource.attributes) == dict(expected.resource.attributes)
    assert actual.instrumentation_scope.name == expected.instrumentation_scope.name


def ready_report(outbox: Outbox, name: str = "exception", pending=("sentry",)) -> Path:
    """A report waiting in the outbox, claimed by nobody; returns its path."""
    entry = outbox.put(rich_record(name), list(pending))
    assert entry is not None
    outbox.settle(entry)  # undelivered: given back to the outbox
    [path] = [p for p in outbox.directory.iterdir() if p.name.startswith(entry.path.name[:20])]
    assert path.name.endswith(".json")
    return path


def test_put_settle_claim_round_trip_preserves_the_span(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox")
    span = rich_span()

    entry = outbox.put(span_to_record(span), ["sentry", "otlp"])

    assert entry is not None
    assert entry.path.name.endswith(f".json.claimed-{_claim_tag()}")
    assert list(outbox.claim()) == []  # claimed by this (live) process: not taken again
    outbox.settle(entry)  # not delivered: back to the outbox, unclaimed
    assert [p.name.endswith(".json") for p in outbox.directory.iterdir()] == [True]

    [claimed] = list(outbox.claim())
    assert claimed.pending == ["sentry", "otlp"]
    assert_same_span(record_to_span(claimed.record), span)
    assert (
        record_to_span(claimed.record).resource.attributes["host.name"] == "alice-laptop"
    )  # kept as given

    claimed.pending = []
    outbox.settle(claimed)  # delivered everywhere: removed
    assert outbox.count() == 0
    assert list(outbox.directory.iterdir()) == []


def test_settle_of_an_entry_without_a_file_does_nothing(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox")
    outbox.settle(Entry(None, rich_record(), ["sentry"]))
    assert not outbox.directory.exists()


def test_claim_of_a_missing_folder_yields_nothing(tmp_path: Path) -> None:
    assert list(Outbox(tmp_path / "never-created").claim()) == []


@pytest.mark.parametrize(
    ("claimer", "taken_back"),
    [
        pytest.param(lambda: os.getppid(), False, id="live process (our parent)"),
        pytest.param(lambda: os.getpid(), False, id="this process"),
        pytest.param(dead_pid, True, id="pid that does not exist"),
        pytest.param(lambda: "not-a-pid", True, id="unreadable pid"),
    ],
)
def test_a_claim_is_taken_back_only_from_a_dead_process(
    tmp_path: Path, claimer, taken_back: bool
) -> None:
    outbox = Outbox(tmp_path / "outbox")
    ready = ready_report(outbox, "claimed-elsewhere")
    claimed = ready.with_name(f"{ready.name}.claimed-{claimer()}")
    os.rename(ready, claimed)

    entries = list(outbox.claim())

    assert [e.record["name"] for e in entries] == (["claimed-elsewhere"] if taken_back else [])
    if taken_back:
        assert entries[0].path.name == f"{ready.name}.claimed-{_claim_tag()}"
    else:
        assert claimed.exists()  # left to its live claimer


def test_claim_is_oldest_first_and_each_report_once(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox")
    for name in ("first", "second", "third"):
        ready_report(outbox, name)

    assert [e.record["name"] for e in outbox.claim()] == ["first", "second", "third"]
    assert list(outbox.claim()) == []  # all claimed by this process now


def _report_size(tmp_path: Path) -> int:
    probe = Outbox(tmp_path / "probe")
    entry = probe.put(rich_record("r0"), ["sentry"])
    assert entry is not None
    return entry.path.stat().st_size


@pytest.mark.parametrize(
    ("max_reports", "max_sizes", "puts", "survivors"),
    [
        pytest.param(200, 10.0, 3, [True, True, True], id="within bounds"),
        pytest.param(2, 10.0, 3, [False, True, True], id="count: oldest dropped"),
        pytest.param(1, 10.0, 3, [False, False, True], id="count of one"),
        pytest.param(200, 2.5, 4, [False, False, True, True], id="bytes: oldest dropped"),
        pytest.param(2, 1.5, 3, [False, False, True], id="bytes tighter than count"),
    ],
)
def test_bounds_drop_the_oldest_and_count_them(
    tmp_path: Path, max_reports: int, max_sizes: float, puts: int, survivors: list[bool]
) -> None:
    size = _report_size(tmp_path)
    outbox = Outbox(tmp_path / "outbox", max_reports=max_reports, max_bytes=int(size * max_sizes))

    entries = [outbox.put(rich_record(f"r{i}"), ["sentry"]) for i in range(puts)]

    assert [e is not None and e.path.exists() for e in entries] == survivors
    assert outbox.dropped == survivors.count(False)
    assert outbox.count() == survivors.count(True)


def test_bounds_ignore_files_being_written(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox", max_reports=1)
    outbox.directory.mkdir()
    (outbox.directory / ".0001.json.abc.tmp").write_text("half written")

    entry = outbox.put(rich_record(), ["sentry"])

    assert entry is not None
    assert entry.path.exists()
    assert outbox.dropped == 0


def _record(**overrides) -> bytes:
    import json

    record = {"format": FORMAT, "pending": ["sentry"], "span": span_to_record(rich_span("bad"))}
    record.update(overrides)
    return json.dumps(record).encode()


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b'{"format": 1, "pending": ["sentry"], "span": {"na', id="torn write"),
        pytest.param(b"", id="empty file"),
        pytest.param(b"\xff\xfe\x00garbage", id="not utf-8"),
        pytest.param(_record(format=FORMAT + 1), id="future format"),
        pytest.param(_record(format=None), id="no format"),
        pytest.param(_record(span={}), id="span without fields"),
        pytest.param(_record(pending=7), id="pending not a list"),
        pytest.param(
            _record(span={**span_to_record(rich_span()), "kind": 99}), id="unknown span kind"
        ),
        pytest.param(
            _record(span={**span_to_record(rich_span()), "trace_id": "zz"}), id="bad trace id"
        ),
        pytest.param(
            b"[1, 2]",
            id="a JSON list",
        ),
        pytest.param(
            b"null",
            id="JSON null",
        ),
        pytest.param(
            _record(span="text"),
            id="span not an object",
        ),
    ],
)
def test_an_unreadable_report_is_dropped_counted_and_the_next_one_still_sent(
    tmp_path: Path, content: bytes
) -> None:
    outbox = Outbox(tmp_path / "outbox")
    outbox.directory.mkdir()
    (outbox.directory / "00000000000000000001-bad.json").write_bytes(content)
    good = ready_report(outbox, "good")

    claimed = list(outbox.claim())

    assert [e.record["name"] for e in claimed] == ["good"]
    assert outbox.dropped == 1
    assert sorted(p.name for p in outbox.directory.iterdir()) == [
        f"{good.name}.claimed-{_claim_tag()}"
    ]


def test_a_disk_that_refuses_gives_none_and_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    outbox = Outbox(under_a_file(tmp_path, "telemetry", "outbox"))

    with caplog.at_level(logging.WARNING, logger="otel_telemetry"):
        results = [outbox.put(rich_record(), ["sentry"]) for _ in range(3)]

    assert results == [None, None, None]
    assert [r.message for r in caplog.records if "Cannot write crash reports" in r.message] == [
        caplog.records[0].message
    ]
    assert len(caplog.records) == 1
    assert outbox.count() == 0
    assert list(outbox.claim()) == []


def test_files_are_owner_only_and_the_folder_too(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox")
    entry = outbox.put(rich_record(), ["sentry"])
    assert entry is not None
    assert mode_of(entry.path) == 0o600
    assert mode_of(outbox.directory) == 0o700

    outbox.settle(entry)  # rewritten as a waiting report
    [ready] = list(outbox.directory.iterdir())
    assert mode_of(ready) == 0o600


def test_missing_parent_folders_are_created_owner_only(tmp_path: Path) -> None:
    config_dir = tmp_path / "config"
    outbox = Outbox(config_dir / "telemetry" / "outbox")
    assert outbox.put(rich_record(), ["sentry"]) is not None
    assert mode_of(config_dir / "telemetry") == 0o700
    assert mode_of(config_dir) == 0o700


def test_count_and_clear(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox")
    assert outbox.count() == 0
    clear_reports(str(outbox.directory))  # a missing folder is already clear

    ready_report(outbox, "waiting")
    assert outbox.put(rich_record("claimed"), ["otlp"]) is not None
    (outbox.directory / ".half-written.json.tmp").write_text("{")

    assert outbox.count() == 2  # claimed ones included, temporary files aside
    clear_reports(str(outbox.directory))  # what disable() does
    assert outbox.count() == 0
    assert list(outbox.claim()) == []


def test_a_report_the_bound_dropped_while_in_flight_stays_dropped(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox", max_reports=1)
    in_flight = outbox.put(rich_record("r0"), ["sentry"])
    assert outbox.put(rich_record("r1"), ["sentry"]) is not None  # the bound drops r0
    assert in_flight is not None
    assert not in_flight.path.exists()
    assert outbox.dropped == 1

    outbox.settle(in_flight)  # r0's sending failed meanwhile

    assert outbox.count() == 1


def test_a_settle_that_cannot_write_leaves_the_claim_for_a_later_run(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox")
    entry = outbox.put(rich_record(), ["sentry"])
    assert entry is not None
    ready = entry.path.with_name(entry.path.name.split(".claimed-")[0])
    ready.mkdir()  # the rename back over it fails

    outbox.settle(entry)  # raises nothing

    assert entry.path.exists()  # still claimed: taken back once this process is gone


# -- batches (format 2) ---------------------------------------------------------------------


def test_a_batch_is_one_file_named_with_its_count_and_claimed_whole(tmp_path: Path) -> None:
    import json

    from otel_telemetry.pipeline._outbox import report_count
    from otel_telemetry.pipeline._report import BATCH_FORMAT

    outbox = Outbox(tmp_path / "outbox")
    batch = outbox.put_batch([rich_record(f"r{i}") for i in range(3)], ["otlp", "sentry"])

    assert batch is not None
    assert batch.path is not None
    [path] = list(outbox.directory.iterdir())
    assert report_count(path.name) == 3
    assert outbox.count() == 3
    document = json.loads(path.read_text())
    assert document["format"] == BATCH_FORMAT
    assert [r["pending"] for r in document["reports"]] == [["otlp", "sentry"]] * 3

    outbox.settle_batch(batch)  # nothing delivered: given back as it was written
    [claimed] = list(outbox.claim_batches())
    assert [e.record["name"] for e in claimed.entries] == ["r0", "r1", "r2"]
    assert list(outbox.claim_batches()) == []  # claimed by this process now


@pytest.mark.parametrize(
    ("max_reports", "max_sizes", "kept"),
    [
        pytest.param(200, 3.5, 3, id="bytes: the newest three fit"),
        pytest.param(4, 100.0, 4, id="count: the newest four"),
    ],
)
def test_a_batch_over_the_outbox_s_bounds_keeps_its_newest_reports(
    tmp_path: Path, max_reports: int, max_sizes: float, kept: int
) -> None:
    """A burst of large reports (or a spool converted at once) is one batch: the outbox keeps
    what fits of it, newest first, and counts the rest; it was once deleted whole."""
    size = _report_size(tmp_path)
    outbox = Outbox(tmp_path / "outbox", max_reports=max_reports, max_bytes=int(size * max_sizes))
    older = outbox.put(rich_record("older"), ["sentry"])
    assert older is not None

    batch = outbox.put_batch([rich_record(f"r{i}") for i in range(10)], ["sentry"])

    assert batch is not None
    assert [e.record["name"] for e in batch.entries] == [f"r{i}" for i in range(10 - kept, 10)]
    assert outbox.count() == kept
    assert not older.path.exists()  # the oldest file made room
    assert outbox.dropped == 10 - kept + 1
    assert sum(p.stat().st_size for p in outbox.directory.iterdir()) <= outbox.max_bytes


def test_a_batch_settles_each_report_for_the_exporters_that_did_not_confirm_it(
    tmp_path: Path,
) -> None:
    from otel_telemetry.pipeline._outbox import report_count

    outbox = Outbox(tmp_path / "outbox")
    batch = outbox.put_batch([rich_record(f"r{i}") for i in range(4)], ["otlp", "sentry"])
    assert batch is not None
    batch.entries[0].pending = []  # confirmed everywhere
    batch.entries[1].pending = ["sentry"]
    batch.entries[2].pending = []
    batch.entries[3].pending = ["otlp"]

    outbox.settle_batch(batch)

    [path] = list(outbox.directory.iterdir())
    assert path.name.endswith(".json")  # unclaimed, waiting
    assert report_count(path.name) == 2
    [again] = list(outbox.claim_batches())
    assert [(e.record["name"], e.pending) for e in again.entries] == [
        ("r1", ["sentry"]),
        ("r3", ["otlp"]),
    ]
    for entry in again.entries:
        entry.pending = []
    outbox.settle_batch(again)
    assert list(outbox.directory.iterdir()) == []


def test_reports_of_a_batch_claimed_one_by_one_settle_the_file_once_all_are_settled(
    tmp_path: Path,
) -> None:
    outbox = Outbox(tmp_path / "outbox")
    batch = outbox.put_batch([rich_record("a"), rich_record("b")], ["sentry"])
    assert batch is not None
    outbox.settle_batch(batch)

    first, second = outbox.claim()
    first.pending = []
    outbox.settle(first)
    assert outbox.count() == 2  # the file waits for its other report
    outbox.settle(second)  # not delivered

    [entry] = list(outbox.claim())
    assert (entry.record["name"], entry.pending) == ("b", ["sentry"])


def test_a_single_report_file_of_format_1_is_still_read(tmp_path: Path) -> None:
    import json

    outbox = Outbox(tmp_path / "outbox")
    outbox.directory.mkdir(mode=0o700)
    name = f"{1_700_000_000_000_000_000:020d}-0123456789ab.json"
    document = {"format": FORMAT, "pending": ["otlp"], "span": rich_record("older version")}
    (outbox.directory / name).write_text(json.dumps(document))

    [batch] = list(outbox.claim_batches())
    assert [(e.record["name"], e.pending) for e in batch.entries] == [("older version", ["otlp"])]


def test_in_a_batch_a_report_that_fails_its_checks_is_dropped_alone(tmp_path: Path) -> None:
    import json

    outbox = Outbox(tmp_path / "outbox")
    batch = outbox.put_batch([rich_record("good"), rich_record("planted")], ["otlp"])
    assert batch is not None
    assert batch.path is not None
    outbox.settle_batch(batch)
    [path] = list(outbox.directory.iterdir())
    document = json.loads(path.read_text())
    document["reports"][1]["span"] = {"name": 3}
    path.write_text(json.dumps(document))

    [claimed] = list(outbox.claim_batches())

    assert [e.record["name"] for e in claimed.entries] == ["good"]
    assert (outbox.dropped, outbox.unreadable) == (1, 1)


def test_bounds_count_the_reports_of_each_batch(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox", max_reports=5)
    assert outbox.put_batch([rich_record(f"old{i}") for i in range(3)], ["otlp"], claimed=False)
    assert outbox.put_batch([rich_record(f"new{i}") for i in range(3)], ["otlp"], claimed=False)

    # 6 > 5: the oldest file goes whole, and each of its reports is counted.
    assert outbox.count() == 3
    assert outbox.dropped == 3
    assert [e.record["name"] for e in outbox.claim()] == ["new0", "new1", "new2"]


def test_peek_reads_both_formats_without_claiming(tmp_path: Path) -> None:
    from otel_telemetry.pipeline._outbox import peek

    outbox = Outbox(tmp_path / "outbox")
    assert outbox.put(rich_record("single"), ["otlp"], claimed=False)
    assert outbox.put_batch([rich_record("a"), rich_record("b")], ["sentry"], claimed=False)
    before = sorted(p.name for p in outbox.directory.iterdir())

    found = [(pending, span["name"]) for _, pending, span in peek(outbox.directory)]

    assert found == [(["otlp"], "single"), (["sentry"], "a"), (["sentry"], "b")]
    assert sorted(p.name for p in outbox.directory.iterdir()) == before
