"""The anonymous install id (``pipeline/_install_id.py``)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from otel_telemetry.pipeline._install_id import forget, install_id_path, load_or_create
from tests.unit import mode_of, under_a_file


def test_created_once_owner_only_and_kept(tmp_path: Path) -> None:
    first = load_or_create(tmp_path)

    assert first is not None
    assert uuid.UUID(first).version == 4
    path = install_id_path(tmp_path)
    assert path == tmp_path / "telemetry" / "install_id"
    assert path.read_text() == first + "\n"
    assert mode_of(path) == 0o600
    assert mode_of(path.parent) == 0o700
    assert load_or_create(tmp_path) == first


@pytest.mark.parametrize(
    "written",
    ["12345678-1234-4234-8234-123456789abc", "  12345678-1234-4234-8234-123456789ABC\n\n"],
)
def test_an_id_written_by_another_process_is_used(tmp_path: Path, written: str) -> None:
    path = install_id_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text(written)
    assert load_or_create(tmp_path) == "12345678-1234-4234-8234-123456789abc"


def test_forget_gives_a_new_id_at_the_next_opt_in(tmp_path: Path) -> None:
    first = load_or_create(tmp_path)
    forget(tmp_path)
    assert not install_id_path(tmp_path).exists()
    forget(tmp_path)  # nothing to forget: fine

    second = load_or_create(tmp_path)
    assert second is not None
    assert second != first


def test_an_unwritable_folder_gives_none(tmp_path: Path) -> None:
    assert load_or_create(under_a_file(tmp_path, "config")) is None


@pytest.mark.parametrize("content", ["", "not-a-uuid\n"], ids=["empty", "corrupt"])
def test_an_unreadable_id_is_replaced(tmp_path: Path, content: str) -> None:
    path = install_id_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text(content)

    created = load_or_create(tmp_path)

    assert created is not None
    assert load_or_create(tmp_path) == created
