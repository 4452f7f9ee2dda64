"""Levels (off, crash, all, local) and the policy version, rule by rule: the pure table
written out independently, then through a real environment and config file."""

from __future__ import annotations

import itertools
import json
import logging

import pytest

from otel_telemetry import Telemetry
from otel_telemetry._settings import Settings
from otel_telemetry.consent._consent import Consent
from otel_telemetry.consent._environment import AppEnvironment
from otel_telemetry.consent._notice import notice_line
from otel_telemetry.consent._precedence import (
    ConsentInputs,
    SavedChoice,
    SessionChoice,
    decide,
)
from otel_telemetry.consent._store import ConfigStore

LEVELS = ("off", "crash", "all", "local")


def _expected(inputs: ConsentInputs) -> tuple[str, str, str, object]:
    """(state, source, level, outdated policy), written out without decide()."""
    if inputs.disabled_by:
        return ("denied", inputs.disabled_by, "off", None)
    if inputs.level is not None:
        state = "denied" if inputs.level == "off" else "granted"
        return (state, "ACME_TELEMETRY", inputs.level, None)
    if inputs.session is not None:
        level = (inputs.session.level or "crash") if inputs.session.enabled else "off"
        return ("denied" if level == "off" else "granted", "session", level, None)
    saved, outdated = inputs.saved, None
    if saved.level is not None:
        uploads = saved.level in ("crash", "all")
        if uploads and saved.policy_version < inputs.policy_version:
            outdated = saved.policy_version
        else:
            state = "denied" if saved.level == "off" else "granted"
            return (state, "config", saved.level, None)
    if inputs.mode == "server":
        return ("granted", "mode:server", inputs.server_level, outdated)
    if inputs.mode == "non-interactive":
        return ("denied", "mode:non-interactive", "off", outdated)
    if inputs.answered:
        return ("denied", "prompt:answered", "off", outdated)
    return ("ask", f"mode:{inputs.mode}", "crash", outdated)


def _saved(level, version):
    if level is None:
        return SavedChoice()
    return SavedChoice(enabled=level != "off", level=level, policy_version=version)


TABLE = [
    ConsentInputs(
        mode=mode,
        disabled_by=disabled_by,
        level=switch,
        switch_name="ACME_TELEMETRY",
        session=session,
        saved=_saved(saved_level, saved_version),
        answered=answered,
        policy_version=policy,
        server_level=server_level,
    )
    for (
        mode,
        disabled_by,
        switch,
        session,
        saved_level,
        saved_version,
        answered,
        policy,
        server_level,
    ) in itertools.product(
        ("server", "interactive", "notebook", "non-interactive"),
        (None, "DO_NOT_TRACK"),
        (None, *LEVELS),
        (None, SessionChoice(True, level="all"), SessionChoice(True), SessionChoice(False)),
        (None, *LEVELS),
        (1, 2, 3),
        (False, True),
        (1, 2),
        ("crash", "all"),
    )
]


@pytest.mark.parametrize("inputs", TABLE)
def test_the_table_with_levels_and_policy(inputs):
    decision = decide(inputs)
    assert (
        decision.state,
        decision.source,
        decision.level,
        decision.outdated_policy,
    ) == _expected(inputs)
    assert decision.local == (decision.state == "granted" and decision.level == "local")
    assert decision.usage == (decision.state == "granted" and decision.level in ("all", "local"))


def _consent(tmp_path, env=None, mode="interactive", **settings):
    config = Settings("acme", ("acme",), "1.0", config_dir=tmp_path, **settings)
    config.env = AppEnvironment("acme", env or {})
    config.mode_override = mode
    return Consent(config)


@pytest.mark.parametrize(
    ("value", "level"),
    [
        ("0", "off"),
        ("off", "off"),
        ("1", "crash"),
        ("yes", "crash"),
        ("crash", "crash"),
        (" CRASH ", "crash"),
        ("all", "all"),
        ("All", "all"),
        ("local", "local"),
        ("LOCAL ", "local"),
    ],
)
def test_the_variable_takes_every_level(tmp_path, value, level):
    decision = _consent(tmp_path, {"ACME_TELEMETRY": value}).decide()
    assert (decision.state, decision.level) == ("denied" if level == "off" else "granted", level)
    assert decision.source == "ACME_TELEMETRY"


def test_an_unknown_level_is_warned_about_once_and_ignored(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="otel_telemetry"):
        for _ in range(3):
            decision = _consent(tmp_path, {"ACME_TELEMETRY": "everything"}).decide()
    assert (decision.state, decision.source) == ("ask", "mode:interactive")
    warnings = [r.getMessage() for r in caplog.records if "'everything'" in r.getMessage()]
    assert len(warnings) == 1
    assert "crash" in warnings[0]
    assert "local" in warnings[0]


@pytest.mark.parametrize(
    ("level", "section"),
    [
        ("crash", {"enabled": True}),
        ("all", {"enabled": True, "level": "all"}),
        ("local", {"enabled": False, "level": "local"}),
        ("off", {"enabled": False}),
    ],
)
def test_each_level_is_saved_so_an_older_version_never_uploads_more(tmp_path, level, section):
    consent = _consent(tmp_path)
    consent.choose(level != "off", "me@example.com", level=None if level == "off" else level)
    document = json.loads((tmp_path / "config.json").read_text())
    email = {} if level == "off" else {"email": "me@example.com"}
    assert document == {"telemetry": {**section, **email}}
    decision = _consent(tmp_path).decide()
    assert (decision.source, decision.level) == ("config", level)


def test_the_policy_version_is_saved_when_above_one(tmp_path):
    _consent(tmp_path, policy_version=3).choose(True, level="all")
    document = json.loads((tmp_path / "config.json").read_text())
    assert document == {"telemetry": {"enabled": True, "level": "all", "policy_version": 3}}


@pytest.mark.parametrize(
    ("section", "level", "version"),
    [
        ({"enabled": True}, "crash", 1),  # written before levels existed
        ({"enabled": False}, "off", 1),
        ({"enabled": True, "level": "bogus"}, "crash", 1),
        ({"enabled": False, "level": "all"}, "off", 1),  # contradictory: the no wins
        ({"enabled": "false", "level": "all"}, "off", 1),  # hand-edited: any no is a no
        ({"enabled": "no", "level": "crash"}, "off", 1),
        ({"enabled": 0, "level": "all"}, "off", 1),
        ({"enabled": None, "level": "all"}, "off", 1),
        ({"enabled": 1, "level": "all"}, "off", 1),
        ({"enabled": True, "level": "local"}, "local", 1),
        ({"enabled": True, "policy_version": 0}, "crash", 1),
        ({"enabled": True, "policy_version": True}, "crash", 1),
        ({"enabled": True, "policy_version": "2"}, "crash", 1),
        ({"enabled": True, "policy_version": 7}, "crash", 7),
        ({"level": "all"}, None, 1),  # a yes needs "enabled": true
        ({"level": "crash"}, None, 1),
        ({"level": "local"}, "local", 1),  # uploads nothing: a level alone is enough
        ({"level": "off"}, "off", 1),
        ({"enabled": True, "level": " All "}, "all", 1),  # edited by hand
        ({"enabled": False, "level": "Local"}, "local", 1),
        ({}, None, 1),
    ],
)
def test_what_any_file_says_is_read_safely(tmp_path, section, level, version):
    (tmp_path / "config.json").write_text(json.dumps({"telemetry": section, "host": 1}))
    choice = ConfigStore(tmp_path).load()
    assert (choice.level, choice.policy_version) == (level, version)
    assert choice.enabled == (None if level is None else level != "off")


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("interactive", ("ask", "mode:interactive")),
        ("notebook", ("ask", "mode:notebook")),
        ("server", ("granted", "mode:server")),  # sent by default again: the notice again
        ("non-interactive", ("denied", "mode:non-interactive")),
    ],
)
@pytest.mark.parametrize("saved", ["crash", "all"])
def test_a_raised_policy_version_asks_again_for_a_saved_yes(tmp_path, mode, expected, saved):
    _consent(tmp_path, policy_version=1).choose(True, level=saved)
    decision = _consent(tmp_path, mode=mode, policy_version=2).decide()
    assert (decision.state, decision.source) == expected
    assert decision.outdated_policy == 1
    # The version it was given for keeps it.
    kept = _consent(tmp_path, mode=mode, policy_version=1).decide()
    assert (kept.state, kept.source, kept.level) == ("granted", "config", saved)


@pytest.mark.parametrize("saved", ["off", "local"])
def test_a_raised_policy_version_keeps_a_saved_no_and_local(tmp_path, saved):
    _consent(tmp_path).choose(saved == "local", level="local" if saved == "local" else None)
    decision = _consent(tmp_path, mode="server", policy_version=5).decide()
    assert (decision.source, decision.level, decision.outdated_policy) == ("config", saved, None)


def test_a_new_yes_is_saved_for_the_new_version_and_counts(tmp_path):
    _consent(tmp_path, policy_version=1).choose(True)
    _consent(tmp_path, policy_version=2).choose(True)
    decision = _consent(tmp_path, policy_version=2).decide()
    assert (decision.state, decision.source) == ("granted", "config")


def test_server_level_all_is_the_server_default_and_in_the_notice(tmp_path):
    decision = _consent(tmp_path, mode="server", server_level="all").decide()
    assert (decision.state, decision.level, decision.usage) == ("granted", "all", True)
    line = notice_line("Acme", "ACME_TELEMETRY", None, "all")
    assert "crash reports and anonymous usage events" in line
    assert "errors only" not in line


@pytest.mark.parametrize(
    ("arguments", "warned"),
    [
        ({"policy_version": 0}, "policy_version"),
        ({"policy_version": "2"}, "policy_version"),
        ({"policy_version": True}, "policy_version"),
        ({"server_level": "local"}, "server_level"),
        ({"server_level": "off"}, "server_level"),
        ({"server_level": None}, "server_level"),
    ],
)
def test_bad_arguments_warn_and_fall_back(tmp_path, caplog, monkeypatch, arguments, warned):
    from otel_telemetry import _log

    monkeypatch.setattr(_log, "_warned", set())  # each case warns afresh
    with caplog.at_level(logging.WARNING, logger="otel_telemetry"):
        settings = Settings("acme", config_dir=tmp_path, **arguments)
    assert (settings.policy_version, settings.server_level) == (1, "crash")
    assert any(warned in r.getMessage() for r in caplog.records)


def test_enable_usage_and_local_through_the_public_api(tmp_path):
    telemetry = Telemetry("acme", config_dir=tmp_path)
    telemetry.settings.env = AppEnvironment("acme", {})
    telemetry.enable(usage=True)
    assert telemetry.consent.decide().level == "all"
    telemetry.enable(local=True)
    assert telemetry.consent.decide().level == "local"
    telemetry.enable(always=False)
    assert (telemetry.consent.decide().source, telemetry.consent.decide().level) == (
        "session",
        "crash",
    )
    with pytest.raises(ValueError, match="not both"):
        telemetry.enable(usage=True, local=True)


def test_a_yes_from_an_older_release_keeps_the_newer_version_already_saved(tmp_path):
    _consent(tmp_path, policy_version=2).choose(True)
    _consent(tmp_path, policy_version=1).choose(True, level="all")  # the generic CLI, say
    assert json.loads((tmp_path / "config.json").read_text()) == {
        "telemetry": {"enabled": True, "level": "all", "policy_version": 2}
    }
    assert _consent(tmp_path, policy_version=2).decide().source == "config"  # not asked again


def test_local_keeps_what_waits_for_the_file_exporter_and_drops_what_waits_to_upload(tmp_path):
    from otel_telemetry.pipeline._outbox import Outbox
    from tests.unit import record_of

    outbox = Outbox(tmp_path / "telemetry" / "outbox")
    for pending in (["file"], ["sentry"], ["file", "otlp"]):
        entry = outbox.put(record_of(), pending)
        outbox.settle(entry)
    telemetry = Telemetry("acme", config_dir=tmp_path)
    telemetry.settings.env = AppEnvironment("acme", {})

    telemetry.enable(local=True)
    telemetry.enable(local=True)  # again: what waits for the file exporter still stays

    [kept] = [json.loads(p.read_text()) for p in outbox.directory.iterdir()]
    assert kept["pending"] == ["file"]
    from otel_telemetry.consent._store import withdrawn_ns

    assert withdrawn_ns(tmp_path) > 0  # consent to upload was withdrawn...
    drained = Outbox(outbox.directory, withdrawn_ns=lambda: withdrawn_ns(tmp_path))
    assert [entry.pending for entry in drained.claim()] == [["file"]]  # ...not to record here
