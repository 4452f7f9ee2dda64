"""Settings (``_settings.py``): the arguments, and the variables that override them, read live."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Optional

import pytest

from otel_telemetry import _log
from otel_telemetry._layout import Layout
from otel_telemetry._settings import Settings

DSN = "https://0123456789abcdef0123456789abcdef@o0.ingest.sentry.io/7"
ENV_DSN = "https://fedcba9876543210fedcba9876543210@o1.ingest.sentry.io/8"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith(("ACME_", "MY_APP_")) or name in ("DO_NOT_TRACK", "SENTRY_DSN"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(_log, "_warned", set())


def settings(**arguments: Any) -> Settings:
    return Settings("acme", ("acme",), "1.2.3", **arguments)


@pytest.mark.parametrize(
    ("arguments", "env", "names"),
    [
        pytest.param({}, {}, ("file",), id="default: the local file"),
        pytest.param({"sentry_dsn": DSN}, {}, ("sentry",), id="a baked-in DSN: sentry"),
        pytest.param({}, {"ACME_SENTRY_DSN": ENV_DSN}, ("sentry",), id="a DSN variable: sentry"),
        pytest.param({}, {"SENTRY_DSN": ENV_DSN}, ("file",), id="the host's SENTRY_DSN: ignored"),
        pytest.param({"exporters": "otlp"}, {}, ("otlp",), id="argument string"),
        pytest.param(
            {"exporters": " OTLP, file,otlp,, "}, {}, ("otlp", "file"), id="comma list normalised"
        ),
        pytest.param({"exporters": ["otlp", "sentry"]}, {}, ("otlp", "sentry"), id="a list"),
        pytest.param({"exporters": ""}, {}, ("file",), id="empty argument: default"),
        pytest.param(
            {"exporters": "otlp", "sentry_dsn": DSN}, {}, ("otlp",), id="argument beats the DSN"
        ),
        pytest.param(
            {"exporters": "otlp"},
            {"ACME_TELEMETRY_EXPORTER": "console,none"},
            ("console", "none"),
            id="variable beats argument",
        ),
        pytest.param(
            {"exporters": "otlp"},
            {"ACME_TELEMETRY_EXPORTER": "   "},
            ("otlp",),
            id="blank variable: argument",
        ),
        pytest.param(
            {"exporters": "otlp", "sentry_dsn": DSN},
            {"ACME_TELEMETRY_EXPORTER": "sentry", "ACME_TELEMETRY_DEBUG": "1"},
            ("console",),
            id="debug beats everything",
        ),
        pytest.param({}, {"ACME_TELEMETRY_DEBUG": "0"}, ("file",), id="debug off"),
    ],
)
def test_exporter_names(
    monkeypatch: pytest.MonkeyPatch, arguments: dict, env: dict, names: tuple
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert settings(**arguments).exporter_names() == names


@pytest.mark.parametrize(
    ("argument", "env", "expected"),
    [
        pytest.param(None, None, (None, None), id="none"),
        pytest.param("", None, (None, None), id="empty argument"),
        pytest.param(DSN, None, (DSN, "baked in"), id="baked in"),
        pytest.param(DSN, ENV_DSN, (ENV_DSN, "ACME_SENTRY_DSN"), id="variable wins"),
        pytest.param(None, f"  {ENV_DSN}  ", (ENV_DSN, "ACME_SENTRY_DSN"), id="variable stripped"),
        pytest.param(DSN, "  ", (DSN, "baked in"), id="blank variable ignored"),
    ],
)
def test_sentry_dsn_and_where_it_came_from(
    monkeypatch: pytest.MonkeyPatch, argument: Optional[str], env: Optional[str], expected: tuple
) -> None:
    if env is not None:
        monkeypatch.setenv("ACME_SENTRY_DSN", env)
    assert settings(sentry_dsn=argument).sentry_dsn() == expected


@pytest.mark.parametrize(
    ("argument", "env", "expected", "warned"),
    [
        pytest.param(1.0, None, 1.0, False, id="default"),
        pytest.param(2.5, None, 2.5, False, id="argument"),
        pytest.param(2.5, "0", 0.0, False, id="variable zero"),
        pytest.param(2.5, "7.5", 7.5, False, id="variable"),
        pytest.param(2.5, "-1", 2.5, True, id="negative: ignored"),
        pytest.param(2.5, "soon", 2.5, True, id="not a number: ignored"),
        pytest.param(2.5, "inf", 2.5, True, id="infinite: ignored"),
        pytest.param(2.5, "nan", 2.5, True, id="NaN: ignored"),
    ],
)
def test_flush_timeout(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    argument: float,
    env: Optional[str],
    expected: float,
    warned: bool,
) -> None:
    if env is not None:
        monkeypatch.setenv("ACME_TELEMETRY_FLUSH_TIMEOUT", env)
    with caplog.at_level(logging.WARNING, logger="otel_telemetry"):
        assert settings(flush_timeout=argument).flush_timeout == expected
    assert bool(caplog.records) is warned


def test_prompt_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings().prompt_timeout == 30.0
    assert settings(prompt_timeout=5).prompt_timeout == 5
    monkeypatch.setenv("ACME_TELEMETRY_PROMPT_TIMEOUT", "12")
    assert settings(prompt_timeout=5).prompt_timeout == 12.0


@pytest.mark.parametrize(
    ("argument", "env", "expected"),
    [
        pytest.param(None, None, "home/.acme", id="default: ~/.acme"),
        pytest.param("custom", None, "custom", id="argument"),
        pytest.param("~/elsewhere", None, "home/elsewhere", id="argument, user-expanded"),
        pytest.param("custom", "from-env", "from-env", id="variable wins"),
        pytest.param(None, "~/env-dir", "home/env-dir", id="variable, user-expanded"),
    ],
)
def test_config_dir(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    argument: Optional[str],
    env: Optional[str],
    expected: str,
) -> None:
    def absolute(value: str) -> str:
        return value if value.startswith("~") else str(tmp_path / value)

    if env is not None:
        monkeypatch.setenv("ACME_CONFIG_DIR", absolute(env))
    subject = settings(config_dir=None if argument is None else absolute(argument))

    assert subject.config_dir_path() == str(tmp_path / expected)
    assert subject.config_dir == tmp_path / expected
    assert subject.layout().config_file == Layout(tmp_path / expected).config_file


def test_the_environment_is_read_live(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    subject = settings()
    assert subject.exporter_names() == ("file",)
    monkeypatch.setenv("ACME_TELEMETRY_EXPORTER", "otlp")
    monkeypatch.setenv("ACME_CONFIG_DIR", str(tmp_path / "now"))
    assert subject.exporter_names() == ("otlp",)
    assert subject.config_dir == tmp_path / "now"


@pytest.mark.parametrize(
    ("override", "env", "expected"),
    [
        pytest.param("server", None, "server", id="install(mode=...)"),
        pytest.param("server", "notebook", "server", id="install beats the variable"),
        pytest.param(None, "NOTEBOOK", "notebook", id="variable, any case"),
        pytest.param(None, "server", "server", id="variable"),
        pytest.param("cloud", "server", "server", id="unknown argument: variable"),
    ],
)
def test_mode(
    monkeypatch: pytest.MonkeyPatch, override: Optional[str], env: Optional[str], expected: str
) -> None:
    if env is not None:
        monkeypatch.setenv("ACME_TELEMETRY_MODE", env)
    subject = settings()
    subject.mode_override = override
    assert subject.mode() == expected


def test_an_unknown_mode_falls_back_to_detection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACME_TELEMETRY_MODE", "cloud")
    monkeypatch.setenv("CI", "true")
    assert settings().mode() == "non-interactive"


@pytest.mark.parametrize(
    ("app", "display_name", "shown", "variable"),
    [
        ("acme", None, "Acme", "ACME_TELEMETRY"),
        ("my-app", None, "My-app", "MY_APP_TELEMETRY"),
        ("acme", "ACME Corp", "ACME Corp", "ACME_TELEMETRY"),
    ],
)
def test_names(app: str, display_name: Optional[str], shown: str, variable: str) -> None:
    subject = Settings(app, (app,), "1", display_name=display_name)
    assert subject.display_name == shown
    assert subject.env.name("TELEMETRY") == variable


def test_exporter_context(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ACME_SENTRY_DSN", ENV_DSN)
    context = Settings(
        "acme", ("acme", "acme_ext"), "1.2.3", config_dir=tmp_path
    ).exporter_context()

    assert (context.app, context.version, context.config_dir) == ("acme", "1.2.3", tmp_path)
    assert (context.sentry_dsn, context.sentry_dsn_source) == (ENV_DSN, "ACME_SENTRY_DSN")
    assert context.packages == ("acme", "acme_ext")
    assert context.environ["ACME_SENTRY_DSN"] == ENV_DSN
    assert context.reports_dir == tmp_path / "telemetry" / "reports"


DSN = "https://0123456789abcdef0123456789abcdef@o0.ingest.sentry.io/7"


@pytest.mark.parametrize(
    ("variables", "destinations"),
    [
        ({"ACME_SENTRY_DSN": DSN}, ("sentry",)),
        ({"ACME_TELEMETRY_EXPORTER": "sentry"}, ("file (sentry has no valid DSN)",)),
        ({"ACME_SENTRY_DSN": "garbage"}, ("file (sentry has no valid DSN)",)),
        ({"ACME_TELEMETRY_EXPORTER": "otlp"}, ("file (otlp has no endpoint)",)),
        (
            {"ACME_TELEMETRY_EXPORTER": "otlp", "ACME_OTLP_ENDPOINT": "http://127.0.0.1:4318"},
            ("otlp to http://127.0.0.1:4318",),
        ),
        ({"ACME_TELEMETRY_EXPORTER": "none"}, ()),
        ({"ACME_TELEMETRY_EXPORTER": "bogus,file"}, ("nowhere (bogus is not an exporter)", "file")),
        ({"ACME_TELEMETRY_DEBUG": "1"}, ("console",)),
    ],
)
def test_destinations_name_where_a_report_really_goes(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], destinations: tuple[str, ...]
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    assert settings().destinations() == destinations
