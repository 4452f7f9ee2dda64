"""``acme telemetry ...`` and ``python -m otel_telemetry --app acme ...``, as users run them."""

from __future__ import annotations

import json
import sys

import pytest

from tests.conftest import run, run_acme, run_python


def _module_cli(args, env):
    return run([sys.executable, "-m", "otel_telemetry", "--app", "acme", *args], env)


@pytest.mark.integration
def test_enable_status_disable_through_the_host_cli(host_env, config_dir):
    result = run_acme(["telemetry", "enable", "--email", "me@example.com"], host_env)
    assert result.returncode == 0, result.stderr
    assert json.loads((config_dir / "config.json").read_text()) == {
        "telemetry": {"enabled": True, "email": "me@example.com"}
    }

    status = run_acme(["telemetry", "status"], host_env).stdout
    assert status.splitlines()[0] == "Telemetry for acme: crash reports sent (decided by config)"
    assert "email:     me@example.com" in status

    assert run_acme(["telemetry", "disable"], host_env).returncode == 0
    assert json.loads((config_dir / "config.json").read_text()) == {"telemetry": {"enabled": False}}


@pytest.mark.integration
def test_generic_module_cli_and_environment_override(host_env, config_dir):
    assert _module_cli(["enable"], host_env).returncode == 0
    host_env["ACME_TELEMETRY"] = "0"
    status = _module_cli(["status"], host_env).stdout
    assert status.splitlines()[0] == "Telemetry for acme: off (decided by ACME_TELEMETRY)"
    # The variable overrides; it is never written.
    assert json.loads((config_dir / "config.json").read_text()) == {"telemetry": {"enabled": True}}


@pytest.mark.integration
def test_invalid_email_is_a_usage_error(host_env, config_dir):
    result = run_acme(["telemetry", "enable", "--email", "not-an-address"], host_env)
    assert result.returncode == 2
    assert "not an email address" in result.stderr
    assert not (config_dir / "config.json").exists()


@pytest.mark.integration
def test_show_without_reports(host_env, config_dir):
    result = run_acme(["telemetry", "show"], host_env)
    assert result.returncode == 0
    assert result.stdout == (
        f"No report is kept on this machine (in {config_dir / 'telemetry'}). To keep them:"
        " `acme telemetry enable` sends crash reports, `acme telemetry local` records them"
        " here only.\n"
    )


@pytest.mark.integration
def test_show_json_without_reports_prints_nothing_on_stdout(host_env, config_dir):
    result = run_acme(["telemetry", "show", "--json"], host_env)
    assert result.returncode == 0
    assert result.stdout == ""  # `show --json | jq` never meets a sentence
    assert result.stderr.startswith(
        f"No report is kept on this machine (in {config_dir / 'telemetry'})."
    )
    sent = run_acme(["telemetry", "show", "--sent", "--json"], host_env)
    assert (sent.returncode, json.loads(sent.stdout)) == (0, [])


@pytest.mark.integration
def test_generic_module_cli_knows_the_hosts_policy_version(host_env, config_dir):
    (config_dir / "config.json").write_text('{"telemetry": {"enabled": true}}')  # given for 1

    status = _module_cli(["--policy-version", "2", "status"], host_env).stdout.splitlines()

    assert status[0] == "Telemetry for acme: off (decided by mode:non-interactive)"
    assert status[-1] == (
        "  policy:    version 2 (your saved yes was for version 1:"
        " nothing is sent until you say yes again)"
    )
    assert _module_cli(["status"], host_env).stdout.splitlines()[-1] == "  policy:    version 1"
    advice = _module_cli(["--policy-version", "2", "show"], host_env).stdout
    assert "`python -m otel_telemetry --app acme --policy-version 2 enable`" in advice

    assert _module_cli(["--policy-version", "2", "enable"], host_env).returncode == 0

    assert json.loads((config_dir / "config.json").read_text()) == {
        "telemetry": {"enabled": True, "policy_version": 2}
    }
    status = _module_cli(["--policy-version", "2", "status"], host_env).stdout.splitlines()
    assert status[0] == "Telemetry for acme: crash reports sent (decided by config)"
    assert status[-1] == "  policy:    version 2"
    bad = _module_cli(["--policy-version", "0", "status"], host_env)
    assert bad.returncode == 2


@pytest.mark.integration
def test_status_names_the_dsn_source_never_the_key(host_env):
    host_env["ACME_SENTRY_DSN"] = "https://publickey123@o0.ingest.example/42"
    status = run_acme(["telemetry", "status"], host_env).stdout
    assert "sentry:    DSN ACME_SENTRY_DSN" in status
    assert "publickey123" not in status


ARGPARSE_HOST = """
import argparse, sys
from otel_telemetry import Telemetry

telemetry = Telemetry(app="acme", package="acme")
parser = argparse.ArgumentParser(prog="acme-argparse")
commands = parser.add_subparsers(dest="command", required=True)
commands.add_parser("crawl")
telemetry.add_to_argparse(commands)
args = parser.parse_args()
sys.exit(args.func(args) if hasattr(args, "func") else 0)
"""


@pytest.mark.integration
def test_argparse_adapter_mounts_the_same_commands(host_env, config_dir):
    def argparse_host(*args):
        return run_python(ARGPARSE_HOST, host_env, *args)

    enabled = argparse_host("telemetry", "enable", "--email", "me@example.com")
    assert enabled.returncode == 0, enabled.stderr
    assert enabled.stdout == "Crash reports for acme are enabled.\n"
    assert json.loads((config_dir / "config.json").read_text()) == {
        "telemetry": {"enabled": True, "email": "me@example.com"}
    }
    status = argparse_host("telemetry", "status")
    assert (
        status.stdout.splitlines()[0]
        == "Telemetry for acme: crash reports sent (decided by config)"
    )
    bad = argparse_host("telemetry", "enable", "--email", "nope")
    assert bad.returncode == 2
    assert "not an email address" in bad.stderr
    helped = argparse_host("telemetry", "--help")
    assert helped.returncode == 0
    assert "enable" in helped.stdout
    assert "disable" in helped.stdout
    assert argparse_host("telemetry", "disable").returncode == 0
    assert json.loads((config_dir / "config.json").read_text()) == {"telemetry": {"enabled": False}}


@pytest.mark.integration
@pytest.mark.parametrize(
    ("env", "first_line"),
    [
        ({"DO_NOT_TRACK": "1"}, "Telemetry for acme: off (decided by DO_NOT_TRACK)"),
        (
            {"ACME_TELEMETRY": "1"},
            "Telemetry for acme: crash reports sent (decided by ACME_TELEMETRY)",
        ),
        (
            {"ACME_TELEMETRY_MODE": "server"},
            "Telemetry for acme: crash reports sent (decided by mode:server)",
        ),
        ({}, "Telemetry for acme: off (decided by mode:non-interactive)"),
    ],
)
def test_status_explains_why(host_env, env, first_line):
    assert _module_cli(["status"], {**host_env, **env}).stdout.splitlines()[0] == first_line


def test_argparse_adapter_knows_every_click_command():
    from otel_telemetry import Telemetry
    from otel_telemetry._cli import COMMANDS

    assert sorted(COMMANDS) == sorted(Telemetry(app="acme").cli().commands)
