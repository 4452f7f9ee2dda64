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
    monkeypatch.setenv("ACME_TELEMETRY_EXPORTER", "otlp,sentry")
    monkeypatch.setenv("ACME_OTLP_ENDPOINT", "https://collector.acme.example")

    status = Telemetry(app="acme", sentry_dsn="https://key@o0.ingest.example/1").status()
    lines = str(status).splitlines()

    assert "  exporters: file (local mode; configured: otlp, sentry)" in lines
    # Nothing is uploaded: no destination is named, as if it were.
    assert [line for line in lines if line.startswith(("  otlp:", "  sentry:"))] == []
    assert status.otlp_endpoint == "https://collector.acme.example"  # the field still says it


@pytest.mark.parametrize(
    ("mode", "then"),
    [
        pytest.param("interactive", "you will be asked again", id="interactive"),
        pytest.param("notebook", "you will be asked again", id="notebook"),
        pytest.param(
            "non-interactive", "nothing is sent until you say yes again", id="non-interactive"
        ),
        pytest.param("server", "the server default applies, after its notice", id="server"),
    ],
)
def test_a_saved_yes_for_an_older_policy_says_so(
    clean: Path, monkeypatch: pytest.MonkeyPatch, mode: str, then: str
) -> None:
    monkeypatch.setenv("ACME_TELEMETRY_MODE", mode)
    clean.mkdir()
    (clean / "config.json").write_text('{"telemetry": {"enabled": true}}')

    status = Telemetry(app="acme", policy_version=2).status()

    assert status.outdated_policy == 1
    assert (
        f"  policy:    version 2 (your saved yes was for version 1: {then})"
        in str(status).splitlines()
    )
    current = Telemetry(app="acme", policy_version=1).status()
    assert current.outdated_policy is None
    assert "  policy:    version 1" in str(current).splitlines()


def test_every_string_from_outside_is_escaped() -> None:
    evil = "a\x1b]0;PWNED\x07\x1b[2J\x9b2J\u202e\u2028z"
    status = _status(
        app=f"acme{evil}",
        decided_by=f"ACME_TELEMETRY{evil}",
        exporters=(f"otlp{evil}",),
        config_file=Path(f"/home/{evil}/config.json"),
        email=f"{evil}@example.com",
        sentry_dsn_source=f"ACME_SENTRY_DSN{evil}",
        otlp_endpoint=f"https://{evil}",
        otlp_endpoint_source=f"ACME_OTLP_ENDPOINT{evil}",
        drops={f"no consent{evil}": 1},
        dropped=1,
    )
    text = str(status)
    for char in ("\x1b", "\x07", "\x9b", "\u202e", "\u2028"):
        assert char not in text, repr(char)
    assert len(text.splitlines()) == 9
    assert "  email:     a\\x1b]0;PWNED\\x07\\x1b[2J\\x9b2J\\u202e\\u2028z@example.com" in text
    local = str(_status(enabled=False, level="local", reports_dir=Path(f"/r/{evil}")))
    assert "\x1b" not in local


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
        "  reports:   waiting 0, sent 3; in this process: held 0, dropped 1 (1 usage events off)"
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
            "waiting 2, sent 5; in this process: held 1, dropped 0",
            id="nothing dropped",
        ),
        pytest.param(
            {"dropped": 3, "drops": {"no consent": 1, "queue full": 0, "outbox full": 2}},
            "waiting 0, sent 0; in this process: held 0, dropped 3 (1 no consent, 2 outbox full)",
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
