"""``<config dir>/config.json``: the user's saved choice, shared with the host's own keys.

Only the ``"telemetry"`` key belongs to us; every other key is the host's and is written
back untouched. Writes are atomic (a temporary file in the same folder, then
``os.replace``) and serialised across processes by a lock file, so two processes saving
at once cannot lose each other's keys. Environment variables and the DSN are never
written here.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Optional

from otel_telemetry._layout import FILE_MODE, Layout, atomic_write, ensure_dir
from otel_telemetry._log import warn_once

from ._precedence import SavedChoice

__all__ = ["ConfigStore", "SavedChoice"]

_SECTION = "telemetry"


class ConfigStore:
    """Reads and writes the ``telemetry`` section of one ``config.json``."""

    def __init__(self, config_dir: Path) -> None:
        self.config_dir = config_dir
        self._layout = Layout(config_dir)
        self.path = self._layout.config_file
        self._cache: Optional[tuple[tuple[int, int], SavedChoice]] = None

    def load(self) -> SavedChoice:
        """Return the saved choice; a missing, unreadable or corrupt file reads as no choice."""
        try:
            stat = self.path.stat()
        except OSError:
            return SavedChoice()
        stamp = (stat.st_mtime_ns, stat.st_size)
        if self._cache is not None and self._cache[0] == stamp:
            return self._cache[1]
        document = self._read_document()
        choice = _choice_from(document.get(_SECTION)) if document is not None else SavedChoice()
        self._cache = (stamp, choice)
        return choice

    def save(self, *, enabled: bool, email: Optional[str]) -> None:
        """Store the choice, keeping every other key of the file.

        Raises:
            OSError: the folder cannot be written (read-only or missing home).
        """
        section: dict[str, Any] = {"enabled": enabled}
        if email:
            section["email"] = email
        with self._locked():
            document = self._read_document() or {}
            document[_SECTION] = section
            self._write_atomically(document)
        self._cache = None

    def _read_document(self) -> Optional[dict[str, Any]]:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            warn_once(str(self.path), f"Cannot read {self.path}: {exc.strerror}; using defaults.")
            return None
        try:
            # Not UTF-8 (an editor's UTF-16), not JSON, nested past the parser's depth.
            document = json.loads(data.decode("utf-8"))
            if not isinstance(document, dict):
                raise ValueError("top level is not an object")
        except (ValueError, RecursionError):
            self._set_aside_corrupt()
            return None
        return document

    def _set_aside_corrupt(self) -> None:
        aside = self.path.with_name(f"config.json.corrupt-{time.strftime('%Y%m%d%H%M%S')}")
        try:
            os.replace(self.path, aside)
        except OSError:
            aside = self.path
        warn_once(
            str(self.path),
            f"{self.path} is not valid JSON; it was kept as {aside.name} and defaults are used.",
        )

    def _write_atomically(self, document: dict[str, Any]) -> None:
        text = json.dumps(document, indent=2, sort_keys=False) + "\n"
        atomic_write(self.path, text.encode("utf-8"), durable=True)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        from filelock import FileLock  # deferred: only writes need it

        ensure_dir(self.config_dir)
        with FileLock(str(self._layout.config_lock), timeout=10, mode=FILE_MODE):
            yield


def _choice_from(section: object) -> SavedChoice:
    if not isinstance(section, dict):
        return SavedChoice()
    enabled = section.get("enabled")
    email = section.get("email")
    return SavedChoice(
        enabled=enabled if isinstance(enabled, bool) else None,
        email=email if isinstance(email, str) and email else None,
    )
