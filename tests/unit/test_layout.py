"""The on-disk layout (``_layout.py``) and the one way files in it are written."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from otel_telemetry._layout import (
    Layout,
    atomic_write,
    clear_reports,
    count_reports,
    ensure_dir,
    is_temporary,
    outbox_dir,
    written_ns,
)
from tests.unit import mode_of


@pytest.mark.parametrize(
    ("prop", "relative"),
    [
        ("config_file", "config.json"),
        ("config_lock", ".config.json.lock"),
        ("telemetry_dir", "telemetry"),
        ("outbox_dir", "telemetry/outbox"),
        ("reports_dir", "telemetry/reports"),
        ("backoff_file", "telemetry/backoff.json"),
        ("install_id_file", "telemetry/install_id"),
    ],
)
def test_every_path_of_a_config_dir(tmp_path: Path, prop: str, relative: str) -> None:
    assert getattr(Layout(tmp_path), prop) == tmp_path / relative


def test_the_app_thread_outbox_path_is_the_same(tmp_path: Path) -> None:
    assert Path(outbox_dir(str(tmp_path))) == Layout(tmp_path).outbox_dir


@pytest.mark.parametrize("durable", [False, True], ids=["plain", "durable"])
def test_atomic_write_replaces_the_file_owner_only(tmp_path: Path, durable: bool) -> None:
    target = tmp_path / "config.json"
    target.write_text("old")
    target.chmod(0o644)

    atomic_write(target, b"new", durable=durable)

    assert target.read_bytes() == b"new"
    assert mode_of(target) == 0o600
    assert os.listdir(tmp_path) == ["config.json"]  # no temporary file left


@pytest.mark.parametrize(
    ("target", "data", "error"),
    [
        pytest.param("missing/config.json", b"x", FileNotFoundError, id="missing folder"),
        pytest.param("a-folder", b"x", IsADirectoryError, id="rename over a folder fails"),
        pytest.param("config.json", "not bytes", TypeError, id="write fails midway"),
    ],
)
def test_atomic_write_leaves_no_temporary_file_on_failure(
    tmp_path: Path, target: str, data, error: type[BaseException]
) -> None:
    (tmp_path / "a-folder").mkdir()
    (tmp_path / "a-folder" / "inside").write_text("")
    before = sorted(os.listdir(tmp_path))

    with pytest.raises(error):
        atomic_write(tmp_path / target, data)

    assert sorted(os.listdir(tmp_path)) == before


@pytest.mark.parametrize(
    ("names", "count"),
    [
        pytest.param([], 0, id="empty"),
        pytest.param(["a.json", "b.json.claimed-12"], 2, id="reports and claims"),
        pytest.param(["a.json", ".a.json.x1.tmp", ".hidden"], 1, id="hidden files aside"),
    ],
)
def test_count_reports(tmp_path: Path, names: list[str], count: int) -> None:
    for name in names:
        (tmp_path / name).write_text("{}")
    assert count_reports(str(tmp_path)) == count


def test_count_reports_of_a_missing_folder_is_zero(tmp_path: Path) -> None:
    assert count_reports(str(tmp_path / "missing")) == 0


def test_clear_reports_deletes_every_file(tmp_path: Path) -> None:
    for name in ("a.json", "b.json.claimed-1", ".c.tmp"):
        (tmp_path / name).write_text("{}")
    (tmp_path / "a-folder").mkdir()  # not a report: left, and no error

    clear_reports(str(tmp_path))

    assert os.listdir(tmp_path) == ["a-folder"]


def test_clear_reports_of_a_missing_folder_is_a_no_op(tmp_path: Path) -> None:
    clear_reports(str(tmp_path / "missing"))
    assert not (tmp_path / "missing").exists()


def test_ensure_dir_keeps_an_existing_folder_as_it_is(tmp_path: Path) -> None:
    folder = tmp_path / "existing"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    ensure_dir(folder)
    assert mode_of(folder) == 0o755
    ensure_dir(tmp_path / "new")
    assert mode_of(tmp_path / "new") == 0o700


@pytest.mark.parametrize(
    ("name", "temporary"),
    [
        (".config.json.ab12.tmp", True),
        ("config.json", False),
        (".config.json.lock", False),
        ("report.tmp", False),
        (".hidden", False),
    ],
)
def test_is_temporary(name: str, temporary: bool) -> None:
    assert is_temporary(name) is temporary


@pytest.mark.parametrize(
    ("name", "ns"),
    [
        ("1700000000000000000-0123456789ab-3.json", 1700000000000000000),  # a batch
        ("1700000000000000000-0123456789ab.json", 1700000000000000000),  # one report
        ("1700000000000000001-4242-0123456789abcdef.json", 1700000000000000001),  # a spool
        ("1700000000000000000-0123456789ab.json.claimed-99", 1700000000000000000),
        ("report.json", 0),  # not ours: older than any withdrawal
        ("-1.json", 0),
    ],
)
def test_written_ns_reads_the_time_a_name_starts_with(name: str, ns: int) -> None:
    assert written_ns(name) == ns
