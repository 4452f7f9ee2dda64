"""The anonymous install id of usage events: a random UUID in ``telemetry/install_id``.

Kept apart from ``config.json`` so that the host's config never holds it, and deleted by
``disable()``. It is created only when a consented usage event is sent.
"""

from __future__ import annotations

import os
import uuid
from contextlib import suppress
from pathlib import Path
from typing import Optional


def install_id_path(config_dir: Path) -> Path:
    return config_dir / "telemetry" / "install_id"


def load_or_create(config_dir: Path) -> Optional[str]:
    """Return the install id, creating it once; None when the folder cannot be written."""
    path = install_id_path(config_dir)
    existing = _read(path)
    if existing is not None:
        return existing
    candidate = str(uuid.uuid4())
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # O_EXCL: when two processes race, the first id written wins for both.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read(path)
    except OSError:
        return None
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(candidate + "\n")
    return candidate


def forget(config_dir: Path) -> None:
    """Delete the install id, so a later opt-in starts with a new one."""
    with suppress(OSError):
        install_id_path(config_dir).unlink()


def _read(path: Path) -> Optional[str]:
    try:
        value = path.read_text(encoding="ascii").strip()
        return str(uuid.UUID(value))
    except (OSError, ValueError):
        return None
