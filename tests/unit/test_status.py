"""``status()`` (``_status.py``): the level, the counts of reports, drops by reason, the policy."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from otel_telemetry import Telemetry
from otel_telemetry._status import TelemetryStatus
from otel_telemetry.pipeline._sent import SentLog

WAIT = 10.0


@pytest.fixture
def clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in list(os.environ):
        if name.startswith(("ACME_", "OTEL_")) or name == "DO_NOT_TRACK":
            monkeypatch.delenv(name)
    config_dir = tmp_path / "config"
    monkeypatch.setenv("ACME_CONFIG_DIR", str(config_dir))
    monkeypatch.setenv("ACME_TELEMETRY_MODE", "non-interactive")
    return config_dir


@pytest.mark.parametrize(
    ("switch", "enabled", "level", "verdict"),
    [
        pytest.param("1", True, "crash", "crash reports sent", id="1"),
        pytest.param("crash", True, "crash", "crash reports sent", id="crash"),
        pytest.param("all", True, "all", "crash reports and usage events sent", id="all"),
        pytest.param("0", False, "off", "off", id="0"),
        pytest.param(None, False, "off", "off", id="non-interactive default"),
        pytest.param(
            "local",
            False,
            "local",
            "local: recorded on this machine in {reports}, never uploaded",
            id="local",
        ),
    ],
)
def test_the_first_line_says_what_happens_to_a_report(
    clean: Path,
    monkeypatch: pytest.MonkeyPatch,
    switch: str,
    enabled: bool,
    level: str,
    verdict: str,
) -> None:
    if switch is not None:
        monkeypatch.setenv("ACME_TELEMETRY", switch)

    status = Telemetry(app="acme", policy_version=3).status()

    assert (status.enabled, status.level, status.policy_version) == (enabled, level, 3)
    source = "ACME_TELEMETRY" if switch is not None else "mode:non-interactive"
    reports = clean / "telemetry" / "reports"
    assert str(status).splitlines()[0] == (
        f"Telemetry for acme: {verdict.format(reports=reports)} (decided by {source})"
    )
    assert "  policy:    version 3" in str(status).splitlines()


def test_local_mode_names_the_one_exporter_that_records(
    clean: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACME_TELEMETRY", "local")
    monkeypatch.setenv("ACME_TELEMETRY_EXPORTER", "otlp")

    text = str(Telemetry(app="acme").status())

    assert "  exporters: file (local mode; configured: otlp)" in text.splitlines()


def test_the_counts_of_reports(clean: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACME_TELEMETRY", "1")
    telemetry = Telemetry(app="acme", package="tests")
    sent = SentLog(clean / "telemetry" / "sent")
    for index in range(3):
        sent.add({"resourceSpans": []}, exporter="sentry", delivery_id=None, time_ns=index)
    telemetry.send_event("page_view")  # level crash: dropped, with its reason
    assert telemetry.flush(WAIT)

    status = telemetry.status()

    assert (status.held, status.waiting, status.sent, status.dropped) == (0, 0, 3, 1)
    assert status.drops["usage events off"] == 1
    assert sum(status.drops.values()) == status.dropped
    assert (
        "  reports:   held 0, waiting 0, sent 3, dropped 1 (1 usage events off)"
        in str(status).splitlines()
    )


def _status(**fields: object) -> TelemetryStatus:
    base: dict = {
        "app": "acme",
        "enabled": True,
        "decided_by": "config",
        "mode": "interactive",
        "exporters": ("sentry",),
        "config_file": Path("config.json"),
        "email": None,
        "sentry_dsn_source": "baked in",
    }
    return TelemetryStatus(**{**base, **fields})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "line"),
    [
        pytest.param(
            {"held": 1, "waiting": 2, "sent": 5},
            "held 1, waiting 2, sent 5, dropped 0",
            id="nothing dropped",
        ),
        pytest.param(
            {"dropped": 3, "drops": {"no consent": 1, "queue full": 0, "outbox full": 2}},
            "held 0, waiting 0, sent 0, dropped 3 (1 no consent, 2 outbox full)",
            id="reasons that count, in order",
        ),
    ],
)
def test_the_reports_line(fields: dict, line: str) -> None:
    assert f"  reports:   {line}" in str(_status(**fields)).splitlines()


@pytest.mark.parametrize(
    ("enabled", "level", "verdict"),
    [
        pytest.param(None, "crash", "ask at the first crash", id="asking"),
        pytest.param(False, "off", "off", id="off"),
        pytest.param(True, "crash", "crash reports sent", id="crash"),
        pytest.param(True, "all", "crash reports and usage events sent", id="all"),
    ],
)
def test_every_verdict(enabled: object, level: str, verdict: str) -> None:
    first = str(_status(enabled=enabled, level=level)).splitlines()[0]
    assert first == f"Telemetry for acme: {verdict} (decided by config)"


def test_a_status_stays_hashable_and_comparable() -> None:
    status = _status(drops={"no consent": 1})
    assert status == _status(drops={"no consent": 1})
    assert status != _status(drops={"no consent": 2})
    hash(status)
