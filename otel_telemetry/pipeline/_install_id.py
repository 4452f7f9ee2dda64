"""The anonymous install id of usage events: a random UUID in ``telemetry/install_id``.

Kept apart from ``config.json`` so that the host's config never holds it, and deleted by
``disable()``. It is created only when a consented usage event is sent: the caller asks
for it after the consent gate said yes, never before. It is read without following a
symbolic link and without waiting on a FIFO, and written ``0600`` (a link planted there
is replaced, never written through).
"""

from __future__ import annotations

import os
import uuid
from contextlib import suppress
from pathlib import Path
from typing import Optional

from otel_telemetry._layout import Layout, atomic_write, ensure_dir, read_bounded

_MAX_BYTES = 256  # a UUID and a newline, with room for stray whitespace


def install_id_path(config_dir: Path) -> Path:
    """Where the install id of a config dir is kept."""
    return Layout(config_dir).install_id_file


def load_or_create(config_dir: Path) -> Optional[str]:
    """Return the install id, creating it once; None when the folder cannot be written.

    When two processes race, the first id written wins for both; an id file that cannot
    be read (a crash of an older version mid-write, a stray edit) is replaced.
    """
    path = install_id_path(config_dir)
    existing = _read(path)
    if existing is not None:
        return existing
    data = f"{uuid.uuid4()}\n".encode("ascii")
    try:
        ensure_dir(path.parent)
        # lexists: an unreadable entry (a link, a torn file) is replaced, not followed.
        atomic_write(path, data, replace=os.path.lexists(path))
    except FileExistsError:
        pass  # another process created it first: its id is the one
    except OSError:
        return None
    return _read(path)


def forget(config_dir: Path) -> None:
    """Delete the install id, so a later opt-in starts with a new one."""
    with suppress(OSError):
        install_id_path(config_dir).unlink()


def _read(path: Path) -> Optional[str]:
    try:
        value = read_bounded(path, _MAX_BYTES).decode("ascii").strip()
        return str(uuid.UUID(value))
    except (OSError, ValueError):  # UnicodeDecodeError is a ValueError
        return None
