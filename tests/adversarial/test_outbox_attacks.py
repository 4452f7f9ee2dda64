"""Promise: what waits on disk is bounded, owned by whoever can send it, and never trusted.

Planted, poisoned, oversized and orphaned files in the outbox; claims left by processes
that are gone, or by a PID that lives on as another process. Real files, a real SDK
pipeline, and (for the replay) a real host process and a real OTLP/HTTP receiver.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from otel_telemetry import _attributes as attr
from otel_telemetry._layout import Layout
from otel_telemetry.pipeline import _outbox
from otel_telemetry.pipeline._outbox import Outbox, _claim_tag
from otel_telemetry.pipeline._report import (
    FORMAT,
    MAX_STRING,
    Record,
    resource_attributes,
    scrub_record,
)
from otel_telemetry.pipeline._sending import SendingProcessor
from otel_telemetry.scrubbing import Scrubber, ScrubbingOptions
from tests.conftest import otlp_env, run_python
from tests.receivers.otlp import OtlpHttpReceiver
from tests.unit import exception_span, record_of

PII = ("alice@example.com", "/home/alice/patients.csv", "hunter2", "4111 1111 1111 1111")


class Kept(SpanExporter):
    """Keeps what it is given, as the in-memory exporter of the SDK does."""

    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def export(self, spans: Any) -> SpanExportResult:
        self.spans.extend(spans)
        return SpanExportResult.SUCCESS


def _plant(directory: Path, name: str, document: Any) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(json.dumps(document), "utf-8")
    return path


def _document(record: Record) -> dict[str, Any]:
    return {"format": FORMAT, "pending": ["memory"], "span": record}


def _sending(outbox: Outbox, exporter: Kept) -> SendingProcessor:
    scrubber = Scrubber(ScrubbingOptions())
    resource = resource_attributes("acme", "1.4.0")
    return SendingProcessor(
        {"memory": exporter},
        outbox,
        backoff=None,
        rescrub=lambda record: scrub_record(record, scrubber, resource=resource),
    )


def _bad_attributes(value: Any) -> Record:
    record = record_of("poisoned")
    record["attributes"]["poison"] = value
    return record


@pytest.mark.parametrize(
    "document",
    [
        pytest.param(None, id="JSON null"),
        pytest.param(_document(_bad_attributes({"nested": "object"})), id="attribute object"),
        pytest.param(_document(_bad_attributes([1, "mixed"])), id="attribute list of mixed"),
        pytest.param(_document(_bad_attributes(None)), id="attribute null"),
        pytest.param(_document(_bad_attributes(10**40)), id="attribute int beyond 64 bits"),
        pytest.param(_document({**record_of("poisoned"), "start": 10**40}), id="start beyond"),
        pytest.param(_document({**record_of("poisoned"), "events": None}), id="events null"),
        pytest.param(_document({**record_of("poisoned"), "events": [7]}), id="event a number"),
        pytest.param(_document({**record_of("poisoned"), "status": None}), id="status null"),
        pytest.param(_document({**record_of("poisoned"), "start": "soon"}), id="start text"),
        pytest.param(_document({**record_of("poisoned"), "resource": []}), id="resource list"),
        pytest.param({"format": FORMAT, "pending": [None], "span": {}}, id="pending of null"),
    ],
)
def test_a_poisoned_report_is_dropped_and_every_good_one_behind_it_is_sent(
    tmp_path: Path, document: Any
) -> None:
    outbox = Outbox(tmp_path / "outbox")
    _plant(outbox.directory, "00000000000000000001-poison.json", document)
    for n in range(3):
        _plant(
            outbox.directory,
            f"0000000000000000000{n + 2}-good.json",
            _document(record_of(f"good {n}")),
        )
    exporter = Kept()

    delivered = _sending(outbox, exporter).drain()

    assert [span.name for span in exporter.spans] == ["good 0", "good 1", "good 2"]
    assert delivered == 3
    assert outbox.dropped == 1
    assert os.listdir(outbox.directory) == []


def test_a_planted_report_is_scrubbed_again_before_it_is_sent(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox")
    record = record_of(f"for {PII[0]}")
    record["attributes"].update(
        {
            "note": f"{PII[1]} password={PII[2]}",
            attr.USER_EMAIL: "mallory@example.com",
            "huge": "x" * (MAX_STRING * 8),
            attr.SCRUBBED: ["https://leak:pw@audit.example.com/x?token=AUDITSECRET:1"],
        }
    )
    record["status"] = {"code": 2, "description": f"card {PII[3]}"}
    record["scope"] = {"name": f"scope {PII[0]}", "version": "1"}
    record["resource"] = {"host.name": "alice-laptop", "service.name": "acme"}
    _plant(outbox.directory, "00000000000000000001-planted.json", _document(record))
    exporter = Kept()

    _sending(outbox, exporter).drain()

    [span] = exporter.spans
    sent = json.dumps(
        [
            span.name,
            dict(span.attributes),
            span.status.description,
            span.instrumentation_scope.name,
            dict(span.resource.attributes),
        ],
        default=str,
    )
    assert not [value for value in PII if value in sent]
    assert attr.USER_EMAIL not in span.attributes  # not the address the user gave
    assert "mallory" not in sent
    assert "AUDITSECRET" not in sent  # the audit is ours to write, not a planted file's
    assert "alice-laptop" not in sent  # the resource is ours, not the file's
    assert len(span.attributes["huge"]) < MAX_STRING + 64  # bounded again


def test_one_huge_report_is_cut_and_pushes_no_small_one_out(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox")
    for n in range(20):
        _plant(outbox.directory, f"{n + 1:020d}-small.json", _document(record_of(f"small {n}")))
    sending = SendingProcessor({"memory": _Refusing()}, outbox, backoff=None)

    sending.on_end(exception_span(message="x" * (5 * 1024 * 1024)))

    names = sorted(os.listdir(outbox.directory))
    assert len(names) == 21
    assert outbox.dropped == 0
    [huge] = [outbox.directory / n for n in names if not n.endswith("-small.json")]
    assert huge.stat().st_size < 4 * MAX_STRING
    stored = json.loads(huge.read_text("utf-8"))["span"]
    [event] = stored["events"]
    assert event["attributes"][attr.EXCEPTION_MESSAGE].endswith("characters cut]")


class _Refusing(SpanExporter):
    def export(self, spans: Any) -> SpanExportResult:
        return SpanExportResult.FAILURE


def test_temporary_files_of_killed_writers_are_removed_and_live_ones_kept(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox")
    outbox.directory.mkdir()
    orphan = outbox.directory / ".00001-a.json.x1y2z3.tmp"
    orphan.write_bytes(b"{" * 1000)
    old = time.time() - 2 * _outbox.ORPHAN_AGE
    os.utime(orphan, (old, old))
    live = outbox.directory / ".00002-b.json.q7w8e9.tmp"
    live.write_bytes(b"{")

    assert outbox.put(record_of(), ["memory"]) is not None

    assert not orphan.exists()
    assert live.exists()


def _claimed_by(outbox: Outbox, claim: str) -> Path:
    ready = _plant(
        outbox.directory, "00000000000000000001-claimed.json", _document(record_of("it"))
    )
    claimed = ready.with_name(f"{ready.name}.claimed-{claim}")
    os.rename(ready, claimed)
    return claimed


def test_a_claim_of_pid_1_in_an_earlier_container_is_taken_back(tmp_path: Path) -> None:
    # PID 1 is alive in every container; the claim's token says it was another process.
    outbox = Outbox(tmp_path / "outbox")
    _claimed_by(outbox, "1.0123456789abcdef")

    assert [entry.record["name"] for entry in outbox.claim()] == ["it"]


def test_a_claim_of_this_pid_in_an_earlier_life_is_taken_back(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox")
    _claimed_by(outbox, f"{os.getpid()}.0123456789abcdef")

    assert [entry.record["name"] for entry in outbox.claim()] == ["it"]


def test_a_live_claim_is_left_until_its_lease_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outbox = Outbox(tmp_path / "outbox")
    # A live process of an older version (no token): only the lease ends its claim.
    claimed = _claimed_by(outbox, str(os.getppid()))
    assert list(outbox.claim()) == []
    assert claimed.exists()

    monkeypatch.setattr(_outbox, "LEASE", 0.0)
    assert [entry.record["name"] for entry in outbox.claim()] == ["it"]
    assert claimed.with_name(
        f"{claimed.name.split('.claimed-')[0]}.claimed-{_claim_tag()}"
    ).exists()


@pytest.mark.integration
def test_a_planted_report_leaves_a_real_host_scrubbed(
    host_env: dict[str, str], config_dir: Path
) -> None:
    record = record_of("planted")
    record["attributes"][attr.KIND] = attr.KIND_EXCEPTION
    record["attributes"]["note"] = f"{PII[0]}; {PII[1]}; password={PII[2]}; card {PII[3]}"
    record["events"] = [
        {
            "name": attr.EVENT_EXCEPTION,
            "timestamp": record["start"],
            "attributes": {attr.EXCEPTION_TYPE: "ValueError", attr.EXCEPTION_MESSAGE: PII[0]},
        }
    ]
    outbox_dir = Layout(config_dir).outbox_dir
    _plant(
        outbox_dir, "00000000000000000001-planted.json", {**_document(record), "pending": ["otlp"]}
    )
    with OtlpHttpReceiver() as receiver:
        env = otlp_env(host_env, receiver, ACME_TELEMETRY="1")

        run_python(
            "from acme.telemetry import telemetry; assert telemetry.flush(30)", env, check=True
        )

        [received] = receiver.wait_for(1)
    assert received.spans()[0]["name"] == "planted"
    assert not [value for value in PII if value.encode() in received.body]
    assert os.listdir(outbox_dir) == []
