"""Consent precedence, rule by rule: the pure table, then as gathered from a real
environment and config file."""

from __future__ import annotations

import itertools

import pytest

from otel_telemetry._settings import Settings
from otel_telemetry.consent._consent import Consent
from otel_telemetry.consent._environment import AppEnvironment
from otel_telemetry.consent._precedence import (
    ConsentInputs,
    SavedChoice,
    SessionChoice,
    decide,
    validated_email,
)
from otel_telemetry.consent._store import ConfigStore


def _consent(tmp_path, env, mode="non-interactive", saved=None, session=None):
    if saved is not None:
        ConfigStore(tmp_path).save(enabled=saved, email=None)
    settings = Settings("acme", ("acme",), "1.0", config_dir=tmp_path)
    settings.env = AppEnvironment("acme", env)
    settings.mode_override = mode
    consent = Consent(settings)
    if session is not None:
        consent.choose(session.enabled, session.email, save=False)
    return consent


def _decide(tmp_path, env, mode="non-interactive", saved=None, session=None):
    return _consent(tmp_path, env, mode, saved, session).decide()


def _expected(inputs: ConsentInputs) -> tuple[str, str]:
    """The precedence written out independently of decide(), rule by rule."""
    if inputs.disabled_by:
        return ("denied", inputs.disabled_by)
    if inputs.switch is not None:
        return ("granted" if inputs.switch else "denied", "ACME_TELEMETRY")
    if inputs.session is not None:
        return ("granted" if inputs.session.enabled else "denied", "session")
    if inputs.saved.enabled is not None:
        return ("granted" if inputs.saved.enabled else "denied", "config")
    if inputs.mode == "server":
        return ("granted", "mode:server")
    if inputs.mode == "non-interactive":
        return ("denied", "mode:non-interactive")
    return ("denied", "prompt:answered") if inputs.answered else ("ask", f"mode:{inputs.mode}")


ALL_INPUTS = [
    ConsentInputs(
        mode=mode,
        disabled_by=disabled_by,
        switch=switch,
        switch_name="ACME_TELEMETRY",
        session=session,
        saved=saved,
        answered=answered,
    )
    for mode, disabled_by, switch, session, saved, answered in itertools.product(
        ("server", "interactive", "notebook", "non-interactive"),
        (None, "DO_NOT_TRACK", "OTEL_SDK_DISABLED"),
        (None, True, False),
        (None, SessionChoice(True, "s@example.com"), SessionChoice(False)),
        (SavedChoice(), SavedChoice(True, "c@example.com"), SavedChoice(False)),
        (False, True),
    )
]


@pytest.mark.parametrize("inputs", ALL_INPUTS)
def test_decide_pure_table(inputs):
    decision = decide(inputs)
    assert (decision.state, decision.source) == _expected(inputs)


@pytest.mark.parametrize(
    ("session", "saved", "switch", "email"),
    [
        (None, SavedChoice(True, "c@example.com"), None, "c@example.com"),
        (
            SessionChoice(True, "s@example.com"),
            SavedChoice(True, "c@example.com"),
            None,
            "s@example.com",
        ),
        (None, SavedChoice(None, "c@example.com"), True, "c@example.com"),
        (SessionChoice(True, "s@example.com"), SavedChoice(), True, "s@example.com"),
        (None, SavedChoice(False), None, None),
    ],
)
def test_decide_carries_the_email_the_user_gave(session, saved, switch, email):
    inputs = ConsentInputs(mode="server", switch=switch, session=session, saved=saved)
    assert decide(inputs).email == email


def test_answered_question_only_overrides_asking():
    # After [1] or no answer, a process does not ask again; a lasting choice still rules.
    asked = ConsentInputs(mode="interactive", answered=True)
    assert decide(asked).state == "denied"
    saved = ConsentInputs(mode="interactive", answered=True, saved=SavedChoice(True))
    assert decide(saved).state == "granted"


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


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("saved", [None, True, False])
@pytest.mark.parametrize("switch", [None, *ON, *OFF, "all", "local", "maybe", ""])
@pytest.mark.parametrize("global_off", [None, "DO_NOT_TRACK", "OTEL_SDK_DISABLED"])
@pytest.mark.parametrize("forced", [False, True])
@pytest.mark.parametrize("answered", [False, True])
def test_grants_and_refuses_answer_as_decide(
    tmp_path, mode, saved, switch, global_off, forced, answered
):
    # The host's thread asks grants()/refuses() at a crash: read from the variables
    # alone when they decide, or from the mode when no config.json exists, they must
    # still say what decide() says.
    env = {} if switch is None else {"ACME_TELEMETRY": switch}
    if global_off is not None:
        env[global_off] = "true"
    consent = _consent(tmp_path, env, mode, saved)
    consent.force_granted(forced)
    if answered:
        consent.mark_answered()
    state = consent.decide().state
    assert consent.grants() == (state == "granted")
    assert consent.refuses() == (state == "denied")
    assert consent.known() in (None, state)
    assert consent.declines() == (consent.known() == "denied")
    if saved is None and switch is None:  # no file, no switch: settled without reading
        assert consent.known() == state


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("enabled", [False, True])
def test_a_choice_made_in_this_process_is_never_guessed(tmp_path, mode, enabled):
    # No config.json, but a choice for this process (save=False, or a save that
    # failed): only decide() knows it, so known() says it cannot tell.
    consent = _consent(tmp_path, {}, mode, session=SessionChoice(enabled))
    assert consent.known() is None
    state = consent.decide().state
    assert state == ("granted" if enabled else "denied")
    assert (consent.grants(), consent.refuses()) == (enabled, not enabled)


@pytest.mark.parametrize(
    "blocker",
    ["directory", "dangling link", "unreadable dir"],
)
def test_a_config_json_that_is_not_a_readable_file_is_read_as_decide_reads_it(tmp_path, blocker):
    # known() only looks whether the name exists; whatever stands there, decide() reads
    # it (a folder or a dangling link reads as no choice, as a missing file does).
    config = tmp_path / "config.json"
    if blocker == "directory":
        config.mkdir()
    elif blocker == "dangling link":
        config.symlink_to(tmp_path / "nowhere")
    else:
        tmp_path.chmod(0o300)  # no read: lstat in it still works for the owner
    try:
        for mode in MODES:
            consent = _consent(tmp_path, {}, mode)
            state = consent.decide().state
            assert consent.known() in (None, state)
            assert consent.refuses() == (state == "denied")
            assert consent.grants() == (state == "granted")
    finally:
        tmp_path.chmod(0o700)
