"""``<app> telemetry enable|disable|status|show`` (``_cli.py``), run in-process."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Optional

import pytest
from click.testing import CliRunner

from otel_telemetry import Telemetry
from otel_telemetry._cli import main
from otel_telemetry.exporters import FileSpanExporter
from tests.unit import exception_span, finished_span


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in list(os.environ):
        if name.startswith("ACME_") or name in ("DO_NOT_TRACK", "OTEL_SDK_DISABLED"):
            monkeypatch.delenv(name)
    config_dir = tmp_path / "config"
    monkeypatch.setenv("ACME_CONFIG_DIR", str(config_dir))
    return config_dir


@pytest.fixture
def telemetry():
    host = Telemetry(app="acme", version="1.0")
    yield host
    host.shutdown()


def saved(config_dir: Path) -> Optional[dict]:
    path = config_dir / "config.json"
    return json.loads(path.read_text())["telemetry"] if path.exists() else None


@pytest.mark.parametrize(
    ("args", "exit_code", "output", "config"),
    [
        pytest.param(
            ["enable"], 0, "Crash reports for acme are enabled.", {"enabled": True}, id="enable"
        ),
        pytest.param(
            ["enable", "--email", "dev@example.org"],
            0,
            "are enabled",
            {"enabled": True, "email": "dev@example.org"},
            id="enable with email",
        ),
        pytest.param(
            ["enable", "--email", "not an address"],
            2,
            "not an email address",
            None,
            id="enable with a bad email",
        ),
        pytest.param(
            ["disable"], 0, "Crash reports for acme are disabled.", {"enabled": False}, id="disable"
        ),
        pytest.param(["status"], 0, "Telemetry for acme: ", None, id="status"),
        pytest.param(
            ["show"], 0, "No report is kept on this machine (in ", None, id="show, nothing stored"
        ),
    ],
)
def test_the_commands(
    telemetry: Telemetry,
    clean_environment: Path,
    args: list[str],
    exit_code: int,
    output: str,
    config: Optional[dict],
) -> None:
    result = CliRunner().invoke(telemetry.cli(), args)

    assert result.exit_code == exit_code, result.output
    assert output in result.output
    assert saved(clean_environment) == config


def test_status_after_a_choice(telemetry: Telemetry) -> None:
    runner = CliRunner()
    runner.invoke(telemetry.cli(), ["enable", "--email", "dev@example.org"])

    lines = runner.invoke(telemetry.cli(), ["status"]).output.splitlines()

    assert lines[0] == "Telemetry for acme: crash reports sent (decided by config)"
    assert "  email:     dev@example.org" in lines
    assert "  exporters: file" in lines


def test_disable_forgets_what_waits_on_disk(telemetry: Telemetry) -> None:
    outbox = telemetry.settings.layout().outbox_dir
    outbox.mkdir(parents=True)
    (outbox / "00000000000000000001-a.json").write_text("{}")

    CliRunner().invoke(telemetry.cli(), ["disable"])

    assert list(outbox.iterdir()) == []


@pytest.mark.parametrize(("flag", "shown"), [([], ["newest"]), (["--all"], ["oldest", "newest"])])
def test_show_prints_the_stored_reports(
    telemetry: Telemetry, flag: list[str], shown: list[str]
) -> None:
    exporter = FileSpanExporter(telemetry.settings.layout().reports_dir)
    exporter.export([finished_span("oldest")])
    exporter.export([finished_span("newest")])

    output = CliRunner().invoke(telemetry.cli(), ["show", "--json", *flag]).output

    assert [name for name in ("oldest", "newest") if f'"name": "{name}"' in output] == shown


def test_the_generic_command_line(clean_environment: Path) -> None:
    runner = CliRunner()

    assert runner.invoke(main, ["--app", "acme", "enable"]).exit_code == 0
    result = runner.invoke(main, ["--app", "acme", "status"])

    assert result.output.startswith("Telemetry for acme: crash reports sent (decided by config)")
    assert saved(clean_environment) == {"enabled": True}
    assert runner.invoke(main, ["status"]).exit_code == 2  # --app is required


@pytest.mark.parametrize(
    ("argv", "code", "config"),
    [
        pytest.param(["telemetry", "enable"], 0, {"enabled": True}, id="enable"),
        pytest.param(
            ["telemetry", "enable", "--email", "dev@example.org"],
            0,
            {"enabled": True, "email": "dev@example.org"},
            id="options go to the command",
        ),
        pytest.param(["telemetry", "enable", "--email", "nope"], 2, None, id="bad email"),
        pytest.param(["telemetry", "enable", "--nosuch"], 2, None, id="unknown option"),
        pytest.param(["telemetry", "status"], 0, None, id="status"),
    ],
)
def test_argparse_hosts(
    telemetry: Telemetry,
    clean_environment: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    code: int,
    config: Optional[dict],
) -> None:
    parser = argparse.ArgumentParser(prog="acme")
    telemetry.add_to_argparse(parser.add_subparsers())

    args = parser.parse_args(argv)

    assert args.func(args) == code
    assert saved(clean_environment) == config
    captured = capsys.readouterr()
    assert (captured.err != "") is (code != 0)


def test_a_crash_report_written_by_the_file_exporter_is_shown_exactly(
    telemetry: Telemetry,
) -> None:
    FileSpanExporter(telemetry.settings.layout().reports_dir).export([exception_span()])

    output = CliRunner().invoke(telemetry.cli(), ["show", "--json"]).output

    document = json.loads(output)
    [span] = document["resourceSpans"][0]["scopeSpans"][0]["spans"]
    assert span["name"] == "exception"
