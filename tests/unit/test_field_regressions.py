"""Attacks on the restructured package that once broke a promise; each stays fixed."""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import pytest

from otel_telemetry.consent._store import ConfigStore
from otel_telemetry.exporters import Delivery
from otel_telemetry.exporters._delivery import MAX_WAIT, retry_after_seconds
from otel_telemetry.pipeline._backoff import Backoff
from otel_telemetry.pipeline._outbox import Outbox
from tests.unit import mode_of, record_of


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"\xff\xfe[\x00]\x00", id="UTF-16 with a byte-order mark, no object"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="nested past the parser's depth"),
        pytest.param(b"\x80\x81not utf-8", id="not UTF-8"),
    ],
)
def test_a_config_file_of_any_bytes_is_set_aside_not_raised(tmp_path: Path, content: bytes):
    (tmp_path / "config.json").write_bytes(content)
    store = ConfigStore(tmp_path)
    assert store.load().enabled is None
    store.save(enabled=False, email=None)  # the user can still opt out
    assert ConfigStore(tmp_path).load().enabled is False
    # Set aside: ``corrupt`` when not JSON, ``unreadable`` when too large to read.
    assert [p.name for p in tmp_path.glob("config.json.*-*")]


def test_the_lock_file_is_owner_only_whatever_the_umask(tmp_path: Path):
    old = os.umask(0)
    try:
        ConfigStore(tmp_path / "config").save(enabled=True, email=None)
    finally:
        os.umask(old)
    assert mode_of(tmp_path / "config" / ".config.json.lock") == 0o600
    assert mode_of(tmp_path / "config") == 0o700


@pytest.mark.parametrize(
    ("header", "expected"),
    [("inf", MAX_WAIT), ("1e308", MAX_WAIT), ("nan", None), ("-5", 0.0), ("30", 30.0)],
)
def test_retry_after_is_bounded(header: str, expected):
    assert retry_after_seconds(header) == expected


def test_an_endless_wait_from_any_exporter_is_capped(tmp_path: Path):
    path = tmp_path / "backoff.json"
    Backoff(path).record("otlp", Delivery(ok=False, retry_after=math.inf))
    saved = json.loads(path.read_text())  # valid JSON: no Infinity
    assert saved["otlp"] <= time.time() + MAX_WAIT + 1
    path.write_text(json.dumps({"otlp": 1e300}))  # written by something else
    backoff = Backoff(path)
    assert backoff.blocked("otlp")
    assert backoff._until()["otlp"] <= time.time() + MAX_WAIT + 1


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="nested past the parser's depth"),
        pytest.param(b'{"format": 1, "pending": "otlp", "span": {}}', id="pending not a list"),
    ],
)
def test_a_bad_record_is_dropped_and_the_next_one_still_claimed(tmp_path: Path, content: bytes):
    outbox = Outbox(tmp_path / "outbox")
    (tmp_path / "outbox").mkdir()
    (tmp_path / "outbox" / "00000000000000000000-bad.json").write_bytes(content)
    good = outbox.put(record_of("good"), ["otlp"])
    assert good is not None
    good.pending = ["otlp"]
    outbox.settle(good)
    claimed = list(outbox.claim())
    assert [entry.record["name"] for entry in claimed] == ["good"]
    assert outbox.dropped == 1


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_a_fifo_in_the_outbox_never_blocks_the_worker(tmp_path: Path):
    outbox = Outbox(tmp_path / "outbox")
    (tmp_path / "outbox").mkdir()
    os.mkfifo(tmp_path / "outbox" / "00000000000000000000-fifo.json")
    assert list(outbox.claim()) == []  # returns at once instead of waiting for a writer
    assert outbox.dropped == 1


def test_a_report_removed_by_another_process_while_bounding_is_no_write_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    outbox = Outbox(tmp_path / "outbox", max_reports=10)
    first = outbox.put(record_of("first"), ["otlp"])
    assert first is not None
    assert first.path is not None
    real_stat = Path.stat

    def vanishing(self: Path, *args, **kwargs):
        if self == first.path:
            raise FileNotFoundError(self)  # another process sent it and removed it
        return real_stat(self, *args, **kwargs)

    monkeypatch.setattr(Path, "stat", vanishing)
    assert outbox.put(record_of("second"), ["otlp"]) is not None


def test_a_write_in_progress_of_another_process_is_never_claimed(tmp_path: Path):
    outbox = Outbox(tmp_path / "outbox")
    (tmp_path / "outbox").mkdir()
    # atomic_write's temporary file carries its target's name, claim and all.
    temporary = tmp_path / "outbox" / ".00000000000000000001-a.json.claimed-999999.x1y2.tmp"
    temporary.write_text("{")
    assert list(outbox.claim()) == []
    assert temporary.exists()  # left to its writer
    assert outbox.dropped == 0


def test_a_send_queued_before_disable_is_not_made(tmp_path: Path):
    import threading

    from otel_telemetry._settings import Settings
    from otel_telemetry.consent._precedence import ConsentDecision
    from otel_telemetry.pipeline._pipeline import Pipeline

    pipeline = Pipeline(
        Settings("acme", ("acme",), "1.0", config_dir=tmp_path),
        lambda: ConsentDecision("granted", "config"),
    )
    busy, sent = threading.Event(), []
    pipeline._send_later(lambda: busy.wait(5))  # a send in flight to a slow endpoint
    pipeline._send_later(lambda: sent.append("queued before disable"))
    pipeline.forget_stored()  # what disable() does
    pipeline._send_later(lambda: sent.append("queued after"))
    busy.set()
    assert pipeline.flush(5)
    assert sent == ["queued after"]
