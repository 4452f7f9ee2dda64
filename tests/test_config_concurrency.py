"""``config.json`` under several processes, corruption and a read-only folder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import run_acme, run_python

pytestmark = pytest.mark.integration

WORKER = """
import json, sys
from pathlib import Path
from otel_telemetry import Telemetry

n, cycles = int(sys.argv[1]), int(sys.argv[2])
telemetry = Telemetry(app="acme")
path = Path(telemetry.config_dir) / "config.json"
failures = []

def check(step):
    try:
        document = json.loads(path.read_text())
        assert document["theme"] == "dark", document
        assert document["plugins"] == ["a", "b"], document
        assert isinstance(document["telemetry"]["enabled"], bool), document
    except Exception as exc:
        failures.append(f"{step}: {exc!r}")

for i in range(cycles):
    telemetry.enable(email=f"p{n}@example.com")
    check(f"enable {i}")
    telemetry.disable()
    check(f"disable {i}")
print(json.dumps(failures[:5]))
"""


def test_eight_processes_enabling_and_disabling(host_env, config_dir):
    host_keys = {"theme": "dark", "plugins": ["a", "b"]}
    (config_dir / "config.json").write_text(json.dumps(host_keys))

    processes = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(n), "200"],
            env=host_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(8)
    ]
    for process in processes:
        stdout, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, stderr
        assert json.loads(stdout) == [], "a reader saw a torn or foreign file"
        assert stderr == ""

    # The last writer's choice wins, and the host's keys are still there.
    assert (
        run_acme(["telemetry", "enable", "--email", "last@example.com"], host_env).returncode == 0
    )
    assert json.loads((config_dir / "config.json").read_text()) == {
        **host_keys,
        "telemetry": {"enabled": True, "email": "last@example.com"},
    }
    leftovers = sorted(p.name for p in config_dir.iterdir())
    assert leftovers == [".config.json.lock", "config.json"]


def test_corrupt_file_gives_one_clear_warning_and_no_traceback(host_env, config_dir):
    (config_dir / "config.json").write_text('{"telemetry": {"enabled": tru')

    status = run_acme(["telemetry", "status"], host_env)
    enable = run_acme(["telemetry", "enable"], host_env)

    assert status.returncode == enable.returncode == 0
    assert status.stderr.count("config.json is not valid JSON") == 1
    assert "Traceback" not in status.stderr + enable.stderr
    assert "decided by mode:non-interactive" in status.stdout
    assert json.loads((config_dir / "config.json").read_text()) == {"telemetry": {"enabled": True}}
    [aside] = [p for p in config_dir.iterdir() if p.name.startswith("config.json.corrupt-")]
    assert aside.read_text() == '{"telemetry": {"enabled": tru'


@pytest.fixture
def read_only_config_dir(config_dir):
    """The config folder, unwritable even for root (CI runs as root)."""
    (config_dir / "config.json").write_text(
        json.dumps({"theme": "dark", "telemetry": {"enabled": False}})
    )
    config_dir.chmod(0o500)
    immutable = False
    if os.geteuid() == 0:  # permission bits do not stop root; the immutable flag does
        chattr = shutil.which("chattr")
        assert chattr, "chattr (e2fsprogs) is needed to make a folder read-only for root"
        subprocess.run([chattr, "+i", str(config_dir)], check=True)
        immutable = True
    try:
        with pytest.raises(PermissionError):
            (config_dir / "probe").write_text("x")
        yield config_dir
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(config_dir)], check=True)
        config_dir.chmod(0o700)


def test_read_only_config_dir_keeps_the_choice_for_the_session(host_env, read_only_config_dir):
    code = """
from otel_telemetry import Telemetry
t = Telemetry(app="acme", package="__main__")
t.enable(email="me@example.com")
print(t.status().enabled, t.status().decided_by)
t.disable()
print(t.status().enabled, t.status().decided_by)
"""
    result = run_python(code, host_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["True session", "False session"]
    assert result.stderr.count("Could not save the telemetry choice") == 1
    assert "Traceback" not in result.stderr
    assert json.loads((read_only_config_dir / "config.json").read_text()) == {
        "theme": "dark",
        "telemetry": {"enabled": False},
    }
