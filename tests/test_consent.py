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


def test_malformed_switch_warns_once_and_is_ignored(tmp_path, caplog):
    for _ in range(3):
        decision = _decide(tmp_path, {"ACME_TELEMETRY": "maybe"}, "server")
    assert (decision.state, decision.source) == ("granted", "mode:server")
    warnings = [r for r in caplog.records if "ACME_TELEMETRY='maybe'" in r.getMessage()]
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
