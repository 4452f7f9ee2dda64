"""``config.json``: atomic, owner-only, keeps the host's keys, survives corruption."""

from __future__ import annotations

import json
import stat

from otel_telemetry.consent._store import ConfigStore, SavedChoice


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
