"""The precedence of DESIGN §3, rule by rule (the consent issue adds the prompts)."""

from __future__ import annotations

import pytest

from otel_telemetry._config_store import ConfigStore
from otel_telemetry._consent import SessionChoice, decide, validated_email
from otel_telemetry._environment import AppEnvironment


def _decide(tmp_path, env, mode="non-interactive", saved=None, session=None):
    store = ConfigStore(tmp_path)
    if saved is not None:
        store.save(enabled=saved, email=None)
    return decide(AppEnvironment("acme", env), store, mode, session)


@pytest.mark.parametrize(
    ("env", "saved", "mode", "expected"),
    [
        ({"DO_NOT_TRACK": "1", "ACME_TELEMETRY": "1"}, True, "server", ("denied", "DO_NOT_TRACK")),
        ({"DO_NOT_TRACK": "yes"}, None, "server", ("denied", "DO_NOT_TRACK")),
        ({"OTEL_SDK_DISABLED": "true"}, True, "server", ("denied", "OTEL_SDK_DISABLED")),
        ({"ACME_TELEMETRY": "0"}, True, "server", ("denied", "ACME_TELEMETRY")),
        ({"ACME_TELEMETRY": "on"}, False, "non-interactive", ("granted", "ACME_TELEMETRY")),
        ({}, False, "server", ("denied", "config")),
        ({}, True, "non-interactive", ("granted", "config")),
        ({}, None, "server", ("granted", "mode:server")),
        ({}, None, "interactive", ("ask", "mode:interactive")),
        ({}, None, "notebook", ("ask", "mode:notebook")),
        ({}, None, "non-interactive", ("denied", "mode:non-interactive")),
        ({"DO_NOT_TRACK": "0"}, None, "server", ("granted", "mode:server")),
    ],
)
def test_precedence(tmp_path, env, saved, mode, expected):
    decision = _decide(tmp_path, env, mode, saved)
    assert (decision.state, decision.source) == expected


ON = ["1", "true", "on", "yes", "TRUE", "Yes", " on ", "oN"]
OFF = ["0", "false", "off", "no", "FALSE", "No", " off ", "nO"]
MODES = ["server", "interactive", "notebook", "non-interactive"]
MODE_DEFAULT = {
    "server": ("granted", "mode:server"),
    "interactive": ("ask", "mode:interactive"),
    "notebook": ("ask", "mode:notebook"),
    "non-interactive": ("denied", "mode:non-interactive"),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("saved", [None, True, False])
@pytest.mark.parametrize("switch", [None, *ON, *OFF, "maybe", "2", ""])
def test_precedence_table(tmp_path, mode, saved, switch):
    env = {} if switch is None else {"ACME_TELEMETRY": switch}
    decision = _decide(tmp_path, env, mode, saved)

    if switch in ON:
        expected = ("granted", "ACME_TELEMETRY")
    elif switch in OFF:
        expected = ("denied", "ACME_TELEMETRY")
    elif saved is not None:  # unset, blank or malformed: the next rule decides
        expected = ("granted" if saved else "denied", "config")
    else:
        expected = MODE_DEFAULT[mode]
    assert (decision.state, decision.source) == expected


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("variable", "value", "off"),
    [
        ("DO_NOT_TRACK", "1", True),
        ("DO_NOT_TRACK", "true", True),
        ("DO_NOT_TRACK", "YES", True),
        ("DO_NOT_TRACK", "0", False),
        ("DO_NOT_TRACK", "", False),
        ("OTEL_SDK_DISABLED", "true", True),
        ("OTEL_SDK_DISABLED", "TRUE", True),
        ("OTEL_SDK_DISABLED", "false", False),
    ],
)
def test_global_switches_beat_everything(tmp_path, mode, variable, value, off):
    env = {variable: value, "ACME_TELEMETRY": "1"}
    decision = _decide(tmp_path, env, mode, saved=True)
    if off:
        assert (decision.state, decision.source) == ("denied", variable)
    else:
        assert (decision.state, decision.source) == ("granted", "ACME_TELEMETRY")


def test_malformed_switch_warns_once_and_is_ignored(tmp_path, caplog):
    for _ in range(3):
        decision = _decide(tmp_path, {"ACME_TELEMETRY": "perhaps"}, "server")
    assert (decision.state, decision.source) == ("granted", "mode:server")
    warnings = [r for r in caplog.records if "ACME_TELEMETRY='perhaps'" in r.getMessage()]
    assert len(warnings) == 1


def test_session_choice_beats_saved_choice(tmp_path):
    decision = _decide(tmp_path, {}, saved=False, session=SessionChoice(True, "me@example.com"))
    assert (decision.state, decision.source, decision.email) == (
        "granted",
        "session",
        "me@example.com",
    )


@pytest.mark.parametrize("bad", ["nope", "a@b", "a b@c.io", "@example.com"])
def test_invalid_emails_are_refused(bad):
    with pytest.raises(ValueError, match="not an email address"):
        validated_email(bad)


def test_blank_email_is_none():
    assert validated_email("  ") is None
    assert validated_email(" me@example.com ") == "me@example.com"
