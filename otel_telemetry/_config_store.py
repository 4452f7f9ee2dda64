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
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from ._log import warn_once

_SECTION = "telemetry"


@dataclass(frozen=True)
class SavedChoice:
    """What the user chose, as stored in ``config.json``."""

    enabled: Optional[bool] = None
    """True or False once the user decided; None when never asked or answered."""
    email: Optional[str] = None
    """The address the user typed to be contacted, if any."""


class ConfigStore:
    """Reads and writes the ``telemetry`` section of one ``config.json``."""

    def __init__(self, config_dir: Path) -> None:
        self.config_dir = config_dir
        self.path = config_dir / "config.json"
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
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            warn_once(str(self.path), f"Cannot read {self.path}: {exc.strerror}; using defaults.")
            return None
        try:
            document = json.loads(text)
            if not isinstance(document, dict):
                raise ValueError("top level is not an object")
        except ValueError:
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
        fd, tmp = tempfile.mkstemp(prefix=".config.json.", dir=self.config_dir)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(document, handle, indent=2, sort_keys=False)
                handle.write("\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            with suppress(OSError):
                os.unlink(tmp)
            raise

    @contextmanager
    def _locked(self) -> Iterator[None]:
        from filelock import FileLock  # deferred: only writes need it

        self.config_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        with FileLock(str(self.config_dir / ".config.json.lock"), timeout=10):
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
