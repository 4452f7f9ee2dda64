"""``config.json``: atomic, owner-only, keeps the host's keys, survives corruption."""

from __future__ import annotations

import json
import stat

import pytest

from otel_telemetry.consent._store import ConfigStore, SavedChoice
from tests.conftest import run_python


def test_save_keeps_host_keys_and_is_owner_only(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"theme": "dark", "telemetry": {"enabled": False}}))
    store = ConfigStore(tmp_path)

    store.save(enabled=True, email="me@example.com")

    assert json.loads(path.read_text()) == {
        "theme": "dark",
        "telemetry": {"enabled": True, "email": "me@example.com"},
    }
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert store.load() == SavedChoice(True, "me@example.com", "crash")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".config.json.")] == [
        ".config.json.lock"
    ]


def test_corrupt_file_is_set_aside_with_one_warning(tmp_path, caplog):
    (tmp_path / "config.json").write_text("{not json")
    store = ConfigStore(tmp_path)

    assert store.load() == SavedChoice()
    assert store.load() == SavedChoice()

    aside = [p for p in tmp_path.iterdir() if p.name.startswith("config.json.corrupt-")]
    assert len(aside) == 1
    assert aside[0].read_text() == "{not json"
    assert len([r for r in caplog.records if "not valid JSON" in r.getMessage()]) == 1
    store.save(enabled=False, email=None)
    assert store.load() == SavedChoice(False, None, "off")


def test_missing_folder_reads_as_no_choice(tmp_path):
    assert ConfigStore(tmp_path / "absent").load() == SavedChoice()


def test_wrong_types_read_as_no_choice(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"telemetry": {"enabled": "yes", "email": 3}}))
    assert ConfigStore(tmp_path).load() == SavedChoice()


_NO_CRASH = """
import argparse, sys
from otel_telemetry import Telemetry
t = Telemetry(app="acme", package="__main__")
t.install()
@t.capture_errors
def main():
    parser = argparse.ArgumentParser(prog="acme")
    parser.add_argument("--n", type=int)
    parser.parse_args()
    sys.exit(0)
if sys.argv[1:] != ["--plain"]:
    main()
"""


@pytest.mark.integration
@pytest.mark.parametrize(
    ("args", "status"),
    [(["--plain"], 0), (["--help"], 0), (["--n", "x"], 2), ([], 0)],
    ids=["install only", "--help", "usage error", "sys.exit(0)"],
)
def test_a_run_without_a_crash_never_reads_config_json(host_env, config_dir, args, status):
    # The host's own file, hand-edited (not JSON): read only at a crash, where a corrupt
    # one is set aside. A run that ends well (or by a usage error) leaves it as it is.
    text = '{"theme": "dark",}\n'
    (config_dir / "config.json").write_text(text)

    result = run_python(_NO_CRASH, host_env, *args)

    assert result.returncode == status, result.stderr
    assert sorted(p.name for p in config_dir.iterdir()) == ["config.json"]
    assert (config_dir / "config.json").read_text() == text
    assert "config.json" not in result.stderr
