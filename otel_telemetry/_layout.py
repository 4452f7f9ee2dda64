"""The on-disk layout of one config dir, and the one way files in it are written.

::

    <config dir>/                 <APP>_CONFIG_DIR, the config_dir argument, or ~/.<app>
        config.json               the user's choice; other keys belong to the host
        .config.json.lock         serialises read-modify-write across processes
        telemetry/
            outbox/               scrubbed reports waiting for delivery
            reports/              the ``file`` exporter's OTLP/JSON lines
            backoff.json          per exporter, when it may send again
            install_id            the anonymous id of usage events

Every path is spelt here and nowhere else. Folders are created owner-only, files are
written owner-only and atomically (:func:`atomic_write`). The app thread uses
:func:`count_reports` at ``install()``, so this module imports only ``os`` up front.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600
_TELEMETRY = "telemetry"
_OUTBOX = "outbox"


class Layout:
    """Where each file of one config dir lives.

    Args:
        config_dir: the config dir in force.
    """

    __slots__ = ("config_dir",)

    def __init__(self, config_dir: Path) -> None:
        self.config_dir = config_dir

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.json"

    @property
    def config_lock(self) -> Path:
        return self.config_dir / ".config.json.lock"

    @property
    def telemetry_dir(self) -> Path:
        return self.config_dir / _TELEMETRY

    @property
    def outbox_dir(self) -> Path:
        return self.telemetry_dir / _OUTBOX

    @property
    def reports_dir(self) -> Path:
        return self.telemetry_dir / "reports"

    @property
    def backoff_file(self) -> Path:
        return self.telemetry_dir / "backoff.json"

    @property
    def install_id_file(self) -> Path:
        return self.telemetry_dir / "install_id"


def outbox_dir(config_dir: str) -> str:
    """The outbox folder of a config dir, as a string (for the app thread)."""
    return os.path.join(config_dir, _TELEMETRY, _OUTBOX)


def count_reports(directory: str) -> int:
    """How many reports a folder of reports holds (temporary and hidden files aside)."""
    try:
        with os.scandir(directory) as entries:
            return sum(1 for entry in entries if not entry.name.startswith("."))
    except OSError:
        return 0


def clear_reports(directory: str) -> None:
    """Delete every file of a folder of reports; a missing folder is already clear."""
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                try:
                    os.unlink(entry.path)
                except OSError:
                    pass
    except OSError:
        pass


def ensure_dir(path: Path) -> None:
    """Create ``path`` and its missing parents, each owner-only; existing ones are left.

    (``mkdir(parents=True)`` would give the parents the umask's mode, not ours.)
    """
    missing = []
    current = path
    while not current.is_dir():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for folder in reversed(missing):
        folder.mkdir(mode=DIR_MODE, exist_ok=True)


def atomic_write(path: Path, data: bytes, *, durable: bool = False, replace: bool = True) -> None:
    """Replace ``path`` with ``data`` in one step: readers see the old file or the new one.

    The data goes to a hidden temporary file in the same folder, readable by its owner
    only, which is then renamed over ``path``. The temporary file never outlives a
    failure.

    Args:
        path: the file to replace; its folder must exist.
        data: the whole new content.
        durable: also ``fsync`` before the rename, for a file a crash must not lose.
        replace: False creates ``path`` only if it does not exist (the first writer wins).

    Raises:
        FileExistsError: ``replace`` is False and ``path`` exists.
        OSError: the folder cannot be written.
    """
    import tempfile
    from contextlib import suppress

    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.chmod(tmp, FILE_MODE)
        if replace:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)  # atomic, and never replaces
            os.unlink(tmp)
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise


def is_temporary(name: str) -> bool:
    """True for a file :func:`atomic_write` has not finished yet."""
    return name.startswith(".") and name.endswith(".tmp")
