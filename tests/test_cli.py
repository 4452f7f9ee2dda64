"""``acme telemetry ...`` and ``python -m otel_telemetry --app acme ...``, as users run them."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import run_acme


def _module_cli(args, env):
    return subprocess.run(
        [sys.executable, "-m", "otel_telemetry", "--app", "acme", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_enable_status_disable_through_the_host_cli(host_env, config_dir):
    result = run_acme(["telemetry", "enable", "--email", "me@example.com"], host_env)
    assert result.returncode == 0, result.stderr
    assert json.loads((config_dir / "config.json").read_text()) == {
        "telemetry": {"enabled": True, "email": "me@example.com"}
    }

    status = run_acme(["telemetry", "status"], host_env).stdout
    assert status.splitlines()[0] == "Telemetry for acme: enabled (decided by config)"
    assert "email:     me@example.com" in status

    assert run_acme(["telemetry", "disable"], host_env).returncode == 0
    assert json.loads((config_dir / "config.json").read_text()) == {"telemetry": {"enabled": False}}


def test_generic_module_cli_and_environment_override(host_env, config_dir):
    assert _module_cli(["enable"], host_env).returncode == 0
    host_env["ACME_TELEMETRY"] = "0"
    status = _module_cli(["status"], host_env).stdout
    assert status.splitlines()[0] == "Telemetry for acme: disabled (decided by ACME_TELEMETRY)"
    # The variable overrides; it is never written.
    assert json.loads((config_dir / "config.json").read_text()) == {"telemetry": {"enabled": True}}


def test_invalid_email_is_a_usage_error(host_env, config_dir):
    result = run_acme(["telemetry", "enable", "--email", "not-an-address"], host_env)
    assert result.returncode == 2
    assert "not an email address" in result.stderr
    assert not (config_dir / "config.json").exists()


def test_show_without_reports(host_env):
    result = run_acme(["telemetry", "show"], host_env)
    assert result.returncode == 0
    assert result.stdout.startswith("No stored reports in ")


def test_status_names_the_dsn_source_never_the_key(host_env):
    host_env["ACME_SENTRY_DSN"] = "https://publickey123@o0.ingest.example/42"
    status = run_acme(["telemetry", "status"], host_env).stdout
    assert "sentry:    DSN ACME_SENTRY_DSN" in status
    assert "publickey123" not in status
