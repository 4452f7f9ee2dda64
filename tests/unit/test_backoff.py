"""Backoff (``pipeline/_backoff.py``): waits asked by endpoints hold, in every run."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import pytest

from otel_telemetry import _log
from otel_telemetry.exporters import Delivery
from otel_telemetry.pipeline._backoff import Backoff
from tests.unit import mode_of, under_a_file


@pytest.fixture(autouse=True)
def fresh_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_log, "_warned", set())


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "telemetry" / "backoff.json"


@pytest.mark.parametrize(
    ("delivery", "blocked", "blocked_in_next_run"),
    [
        pytest.param(Delivery(ok=True), False, False, id="ok"),
        pytest.param(Delivery(ok=False, detail="HTTP 500"), False, False, id="plain failure"),
        pytest.param(Delivery(ok=False, retry_after=30.0), True, True, id="retry after 30 s"),
        pytest.param(Delivery(ok=False, retry_after=0.0), False, False, id="retry after 0 s"),
        pytest.param(Delivery(ok=False, fatal=True, detail="HTTP 401"), True, False, id="fatal"),
    ],
)
def test_what_a_delivery_blocks(
    path: Path, delivery: Delivery, blocked: bool, blocked_in_next_run: bool
) -> None:
    backoff = Backoff(path)
    backoff.record("sentry", delivery)

    assert backoff.blocked("sentry") is blocked
    assert backoff.blocked("otlp") is False  # only the exporter that was told
    # A new Backoff on the same file is what the next process sees.
    assert Backoff(path).blocked("sentry") is blocked_in_next_run


def test_a_fatal_refusal_warns_once_and_is_not_written(
    path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    backoff = Backoff(path)
    with caplog.at_level(logging.WARNING, logger="otel_telemetry"):
        backoff.record("sentry", Delivery(ok=False, fatal=True, detail="HTTP 403"))
        backoff.record("sentry", Delivery(ok=False, fatal=True, detail="HTTP 403"))

    [warning] = caplog.records
    assert "'sentry'" in warning.getMessage()
    assert "HTTP 403" in warning.getMessage()
    assert not path.exists()


def test_a_wait_is_written_owner_only_and_honoured_by_another_instance(path: Path) -> None:
    before = time.time()
    Backoff(path).record("otlp", Delivery(ok=False, retry_after=120.0))

    saved = json.loads(path.read_text())
    assert set(saved) == {"otlp"}
    assert before + 120 <= saved["otlp"] <= time.time() + 120
    assert mode_of(path) == 0o600
    assert mode_of(path.parent) == 0o700
    assert Backoff(path).blocked("otlp")


def test_a_shorter_wait_never_shortens_a_longer_one(path: Path) -> None:
    first = Backoff(path)
    first.record("otlp", Delivery(ok=False, retry_after=600.0))
    until = json.loads(path.read_text())["otlp"]

    Backoff(path).record("otlp", Delivery(ok=False, retry_after=5.0))

    assert json.loads(path.read_text())["otlp"] == until


def test_waits_of_several_exporters_are_kept_side_by_side(path: Path) -> None:
    Backoff(path).record("otlp", Delivery(ok=False, retry_after=60.0))
    Backoff(path).record("sentry", Delivery(ok=False, retry_after=60.0))

    assert set(json.loads(path.read_text())) == {"otlp", "sentry"}
    assert Backoff(path).blocked("otlp")
    assert Backoff(path).blocked("sentry")


@pytest.mark.parametrize(
    "content",
    [
        pytest.param("{not json", id="corrupt"),
        pytest.param('["sentry"]', id="a list"),
        pytest.param('"sentry"', id="a string"),
        pytest.param('{"sentry": true}', id="bool value"),
        pytest.param('{"sentry": "9999999999"}', id="string value"),
        pytest.param('{"sentry": null}', id="null value"),
        pytest.param("", id="empty"),
    ],
)
def test_an_unreadable_file_reads_as_no_wait(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True)
    path.write_text(content)

    backoff = Backoff(path)
    assert backoff.blocked("sentry") is False

    backoff.record("sentry", Delivery(ok=False, retry_after=60.0))  # and is replaced cleanly
    assert backoff.blocked("sentry")
    assert set(json.loads(path.read_text())) == {"sentry"}


@pytest.mark.parametrize(
    ("content", "blocked"),
    [
        pytest.param({"sentry": 1e12}, True, id="float in the future"),
        pytest.param({"sentry": 10**12}, True, id="int in the future"),
        pytest.param({"sentry": 1.0}, False, id="in the past"),
    ],
)
def test_numbers_in_the_file_are_honoured(path: Path, content: dict, blocked: bool) -> None:
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(content))
    assert Backoff(path).blocked("sentry") is blocked


def test_expired_waits_are_not_rewritten(path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"old": time.time() - 10, "older": 1.0}))

    Backoff(path).record("sentry", Delivery(ok=False, retry_after=60.0))

    assert set(json.loads(path.read_text())) == {"sentry"}


def test_an_unwritable_file_keeps_the_wait_for_this_run(tmp_path: Path) -> None:
    path = under_a_file(tmp_path, "telemetry", "backoff.json")
    backoff = Backoff(path)

    backoff.record("sentry", Delivery(ok=False, retry_after=60.0))

    assert backoff.blocked("sentry")  # remembered in memory
    assert Backoff(path).blocked("sentry") is False  # another run cannot know


def test_a_wait_kept_in_memory_is_merged_with_the_file(tmp_path: Path) -> None:
    path = under_a_file(tmp_path, "backoff.json")
    backoff = Backoff(path)
    backoff.record("sentry", Delivery(ok=False, retry_after=60.0))
    backoff.record("otlp", Delivery(ok=False, retry_after=60.0))

    assert backoff.blocked("sentry")
    assert backoff.blocked("otlp")
