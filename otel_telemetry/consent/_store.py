"""``<config dir>/config.json``: the user's saved choice, shared with the host's own keys.

Only the ``"telemetry"`` key belongs to us; every other key is the host's and is written
back untouched. Writes are atomic (a temporary file in the same folder, then
``os.replace``) and serialised across processes by a lock file, so two processes saving
at once cannot lose each other's keys. Environment variables and the DSN are never
written here. Our section::

    {"telemetry": {"enabled": true, "level": "all", "policy_version": 2,
                   "email": "...", "withdrawn_ns": 1767225600000000000}}

``enabled`` alone says yes (``crash``) or no (``off``), as every version wrote it.
``level`` is written when ``enabled`` does not say it all: ``all`` (with ``enabled``
true) or ``local`` (with ``enabled`` false, so a version that knows no ``level`` never
uploads what the user chose to keep on the machine). ``policy_version`` is the host's
version of what is collected when the choice was made, written when above 1 (a file
without it was written for version 1): a yes given for an older version is asked again.

``withdrawn_ns`` (nanoseconds since the epoch) is when consent was last withdrawn while
reports waited in the outbox: a report written before it is never sent, even after a
later ``enable()`` (``disable()`` deletes them, but a read-only or immutable outbox can
keep them). Without waiting reports there is nothing to withdraw and the key is not
written. Versions that do not know the key ignore it.

Every read is bounded, on whichever thread it runs, and never raises: at most
:data:`MAX_CONFIG_BYTES` are read, a symbolic link is never followed and a FIFO never
waited on (see :mod:`otel_telemetry._layout`). A file that is not UTF-8 (a Windows editor's
cp1252) is read as cp1252, or Latin-1 when even that fails, so the host's keys survive;
we write it back as ASCII JSON, which every reader decodes the same. A file that still
cannot be read (not JSON, too large, not a regular file, unreadable) is set aside beside
itself (``config.json.corrupt-<time>`` when it is not JSON, ``config.json.unreadable-<time>``
otherwise) with one warning, and reads as no choice.
"""

from __future__ import annotations

import codecs
import os
import time

from otel_telemetry._layout import (
    FILE_MODE,
    WRITE_FLAGS,
    FileTooLargeError,
    Layout,
    UnsafePathError,
    atomic_write,
    config_file,
    count_reports,
    ensure_dir,
    open_regular,
    read_bounded,
    set_file_mode,
)
from otel_telemetry._log import warn_once

from ._precedence import SavedChoice
from ._types import LEVELS

# The saved choice is read on the host's thread at its first crash (the question asks
# the gate): reading it imports nothing (no json, re, pathlib, typing); a write does.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any, Optional, Union

    from ._types import Level

__all__ = ["MAX_CONFIG_BYTES", "ConfigStore", "SavedChoice", "withdrawn_ns"]

_SECTION = "telemetry"
_WITHDRAWN = "withdrawn_ns"
MAX_CONFIG_BYTES = 64 * 1024
"""The most of ``config.json`` ever read; a larger file is unreadable."""
LOCK_TIMEOUT = 10.0
"""Seconds a save waits for another process's save (the app thread's only wait)."""

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16: its mark starts with UTF-16 LE's
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


class _Unreadable(Exception):
    """``config.json`` exists but yields no document; ``kind`` names the set-aside file."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


class ConfigStore:
    """Reads and writes the ``telemetry`` section of one ``config.json``."""

    def __init__(self, config_dir: Union[str, os.PathLike[str]]) -> None:
        self.config_dir = config_dir
        # The path of every read, as a string: made without pathlib.
        self._file = config_file(config_dir)
        self._layout_made: Optional[Layout] = None
        self._cache: Optional[tuple[tuple[int, int, int, int], SavedChoice]] = None

    @property
    def _layout(self) -> Layout:
        if self._layout_made is None:
            from pathlib import Path

            self._layout_made = Layout(Path(self.config_dir))
        return self._layout_made

    @property
    def path(self) -> Path:
        """The ``config.json`` of the config dir."""
        return self._layout.config_file

    def load(self) -> SavedChoice:
        """Return the saved choice; a missing, unreadable or corrupt file reads as no choice.

        Never raises and never blocks: see the module docstring.
        """
        try:
            info = os.lstat(self._file)
        except OSError:
            return SavedChoice()  # missing (or the config dir is not a folder)
        stamp = (info.st_ino, info.st_mtime_ns, info.st_size, info.st_mode)
        if self._cache is not None and self._cache[0] == stamp:
            return self._cache[1]
        try:
            document = self._read_document()
        except OSError:
            document = None  # warned about in _read_document
        choice = _choice_from(document.get(_SECTION)) if document is not None else SavedChoice()
        self._cache = (stamp, choice)
        return choice

    def save(
        self,
        *,
        enabled: bool,
        email: Optional[str],
        level: Optional[Level] = None,
        policy_version: int = 1,
    ) -> None:
        """Store the choice, keeping every other key of the file.

        Saving anything but an upload (``off`` or ``local``) while reports wait (in the
        outbox, in the spool, or with a detached sender) also records when consent to
        upload was withdrawn (``withdrawn_ns``); later saves keep that time.

        Args:
            enabled: yes or no.
            email: the user's address, for a yes.
            level: what is collected; by default ``crash`` for a yes, ``off`` for a no.
            policy_version: the host's version of what is collected, now; a yes keeps a
                newer version the file already holds.

        Raises:
            OSError: the folder cannot be written (read-only or missing home), or the
                file exists but can be neither read nor set aside (its host keys would
                be lost).
        """
        with self._locked():
            document = self._read_document() or {}
            previous = document.get(_SECTION)
            withdrawn = _withdrawn_from(previous)
            if level is None or not enabled:
                level = "crash" if enabled else "off"
            uploads = level in ("crash", "all")
            if not uploads and self._reports_may_wait():
                # Only reports on their way now can outlive the withdrawal (disable()
                # deletes them next, and may fail to; a detached sender may be scrubbing
                # a spooled capture into the outbox): with none, the file stays as it was.
                withdrawn = max(withdrawn, time.time_ns())
            if uploads:
                # A yes already given for a newer policy (the host's own commands, when
                # this save comes from an older release or the generic command line) is
                # not made to look older: that would only ask the user again.
                policy_version = max(policy_version, _choice_from(previous).policy_version)
            section: dict[str, Any] = {"enabled": uploads}
            if level in ("all", "local"):
                section["level"] = level  # "enabled" alone says crash and off
            if policy_version > 1:
                section["policy_version"] = policy_version
            if email and level != "off":
                section["email"] = email
            if withdrawn:
                section[_WITHDRAWN] = withdrawn
            document[_SECTION] = section
            self._write_atomically(document)
        self._cache = None

    def _reports_may_wait(self) -> bool:
        """Whether a report of this config dir may still be sent later.

        One in the outbox, a capture in the spool (being converted or not), or a detached
        sender that runs (it may hold a capture it took from the spool and not yet
        written to the outbox). A sender's file left by a killed one only makes the
        withdrawal be recorded when it need not be: harmless.
        """
        layout = self._layout
        return any(
            count_reports(str(directory))
            for directory in (layout.outbox_dir, layout.spool_dir, layout.senders_dir)
        )

    def _read_document(self) -> Optional[dict[str, Any]]:
        """The whole file; None when missing or set aside (unreadable).

        Raises:
            OSError: it cannot be read and could not be set aside either.
        """
        try:
            return _parse(read_bounded(self._file, MAX_CONFIG_BYTES))
        except (FileNotFoundError, NotADirectoryError):
            return None
        except _Unreadable as problem:
            self._set_aside(problem.kind, problem.reason)
            return None
        except OSError as exc:
            # A link, a FIFO, a folder, too large, no permission: set aside, so that
            # nobody waits on it again and a save keeps what it holds under its new name.
            reason = exc.strerror or str(exc)
            if not isinstance(exc, (UnsafePathError, FileTooLargeError, PermissionError)):
                warn_once(str(self.path), f"Cannot read {self.path}: {reason}; using defaults.")
                raise
            self._set_aside("unreadable", reason)
            return None

    def _set_aside(self, kind: str, reason: str) -> None:
        stamp = time.strftime("%Y%m%d%H%M%S")
        aside = self.path.with_name(f"config.json.{kind}-{stamp}")
        for n in range(2, 100):
            if not os.path.lexists(aside):
                break
            aside = self.path.with_name(f"config.json.{kind}-{stamp}-{n}")
        try:
            os.replace(self.path, aside)  # renames a link or FIFO itself, never opens it
        except FileNotFoundError:
            return  # set aside by another process meanwhile
        except OSError as exc:
            warn_once(
                str(self.path),
                f"{self.path} cannot be read ({reason}) nor set aside ({exc.strerror});"
                " defaults are used.",
            )
            raise
        if kind == "corrupt":
            message = (
                f"{self.path} is not valid JSON; it was kept as {aside.name} and defaults are used."
            )
        else:
            message = (
                f"{self.path} cannot be read ({reason}); it was kept as {aside.name}"
                " and defaults are used."
            )
        warn_once(str(self.path), message)

    def _write_atomically(self, document: dict[str, Any]) -> None:
        atomic_write(self.path, _encode(document), durable=True, trusted=self.config_dir)

    def _locked(self) -> _Locked:
        return _Locked(self.config_dir, self._layout.config_lock)


class _Locked:
    """Holds ``config.json``'s lock file across processes (writes only).

    A class rather than ``contextlib.contextmanager``: reading imports nothing.
    """

    def __init__(self, config_dir: Union[str, os.PathLike[str]], lock: Path) -> None:
        self._config_dir = config_dir
        self._lock = lock
        self._held: Any = None

    def __enter__(self) -> None:
        from filelock import FileLock  # deferred: only writes need it

        ensure_dir(self._config_dir, trusted=self._config_dir)
        _prepare_lock_file(self._lock)
        held = FileLock(str(self._lock), timeout=LOCK_TIMEOUT, mode=FILE_MODE)
        held.acquire()
        self._held = held

    def __exit__(self, *exc_info: object) -> None:
        held, self._held = self._held, None
        if held is not None:
            held.release()


def _prepare_lock_file(lock: Path) -> None:
    """Create the lock file ``0600`` ourselves, never through a planted link.

    Older ``filelock`` releases follow a link (and truncate its target) and leave the
    mode to the umask; opened here first with ``O_NOFOLLOW``, the file filelock opens
    is one we made.
    """
    fd = open_regular(lock, WRITE_FLAGS | os.O_CREAT, FILE_MODE)
    try:
        if (os.fstat(fd).st_mode & 0o777) != FILE_MODE:
            set_file_mode(fd)
    finally:
        os.close(fd)


def _encode(document: dict[str, Any]) -> bytes:
    """The file's new bytes, never more than a later read accepts.

    Indented ASCII JSON (every reader decodes it the same, UTF-8 or cp1252), else
    compact (deep host keys indent to many times their size, and indenting uses the
    pure-Python encoder, whose recursion is deeper than the parser's), else compact
    UTF-8 (escaping can triple a non-ASCII text).

    Raises:
        FileTooLargeError: even compact, the document exceeds :data:`MAX_CONFIG_BYTES`.
    """
    import json  # a write: the host chose, or the worker withdrew

    attempts: tuple[dict[str, Any], ...] = (
        {"indent": 2},
        {"separators": (",", ":")},
        {"separators": (",", ":"), "ensure_ascii": False},
    )
    for options in attempts:
        try:
            data = json.dumps(document, **options).encode("utf-8") + b"\n"
        except RecursionError:
            continue
        if len(data) <= MAX_CONFIG_BYTES:
            return data
    raise FileTooLargeError("config.json", MAX_CONFIG_BYTES)


def _decode(data: bytes) -> str:
    """The text of the file, whatever editor wrote it (see the module docstring)."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError:
                break
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1")  # never fails: each byte is one character


def _parse(data: bytes) -> dict[str, Any]:
    """The JSON object the file holds.

    Raises:
        _Unreadable: it holds no JSON object.
    """
    try:
        # Nested past the parser's depth: RecursionError.
        document = _loads(_decode(data))
    except (ValueError, RecursionError) as exc:
        raise _Unreadable("corrupt", f"not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise _Unreadable("corrupt", "the top level is not an object")
    return document


_WHITESPACE = " \t\n\r"


class _Strict:
    """What ``json.JSONDecoder()`` gives its scanner: the defaults of ``json.loads``."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    # json's own: NaN and the infinities, as json.loads reads them.
    parse_constant = {
        "NaN": float("nan"),
        "Infinity": float("inf"),
        "-Infinity": float("-inf"),
    }.__getitem__


def _loads(text: str) -> Any:
    """``json.loads(text)``, read by the C scanner ``json`` itself uses.

    The same values, without importing ``json`` and ``re`` on the host's thread. What
    the scanner does not read whole and alone (an error, extra data, a BOM) is left to
    ``json.loads``, which refuses it as it always does (``ValueError``,
    ``RecursionError``); so does a Python without that scanner.
    """
    try:
        import _json

        make_scanner: Any = _json.make_scanner
    except ImportError:  # pragma: no cover - CPython has it
        make_scanner = None
    if make_scanner is not None and not text.startswith("\ufeff"):
        start = len(text) - len(text.lstrip(_WHITESPACE))
        try:
            value, end = make_scanner(_Strict)(text, start)
        except RecursionError:
            raise
        except Exception:  # raising its own error needs json.decoder: json says it
            pass
        else:
            if not text[end:].lstrip(_WHITESPACE):
                return value
    import json

    return json.loads(text)


def _choice_from(section: object) -> SavedChoice:
    if not isinstance(section, dict):
        return SavedChoice()
    enabled = section.get("enabled")
    email = section.get("email")
    written = section.get("level")
    if isinstance(written, str):
        written = written.strip().lower()  # edited by hand: "Local", " all"
    version = section.get("policy_version")
    level: Optional[Level] = next((known for known in LEVELS if known == written), None)
    if level is None:
        # Written by a version without levels, or edited by hand: `enabled` decides.
        level = None if not isinstance(enabled, bool) else "crash" if enabled else "off"
    elif level in ("crash", "all") and enabled is not True:
        # A yes needs `"enabled": true`: a hand-edited false, "no", 0 or null is a no,
        # and a level alone is no choice at all.
        level = "off" if "enabled" in section else None
    return SavedChoice(
        enabled=None if level is None else level != "off",
        email=email if isinstance(email, str) and email else None,
        level=level,
        policy_version=version
        if isinstance(version, int) and not isinstance(version, bool) and version >= 1
        else 1,
    )


def _withdrawn_from(section: object) -> int:
    if not isinstance(section, dict):
        return 0
    value = section.get(_WITHDRAWN)
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return 0


_withdrawn_cache: dict[str, tuple[tuple[int, int, int], int]] = {}


def withdrawn_ns(config_dir: Union[str, os.PathLike[str]]) -> int:
    """When consent was last withdrawn in this config dir, in ns since the epoch; 0: never.

    For the outbox: a report written before this time (its name starts with its
    ``time_ns``) is never sent. Cheap (one ``lstat`` while the file is unchanged, at
    most :data:`MAX_CONFIG_BYTES` read otherwise), never raises, never blocks, warns
    nothing and changes nothing: an unreadable file reads as 0 here and is dealt with
    by the consent gate.
    """
    try:
        path = config_file(config_dir)
        info = os.lstat(path)
        stamp = (info.st_ino, info.st_mtime_ns, info.st_size)
        cached = _withdrawn_cache.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        value = _withdrawn_from(_parse(read_bounded(path, MAX_CONFIG_BYTES)).get(_SECTION))
        _withdrawn_cache.clear()  # one config dir in force at a time: keep one entry
        _withdrawn_cache[path] = (stamp, value)
        return value
    except Exception:
        return 0
