"""The on-disk layout of one config dir, and the one way files in it are written.

::

    <config dir>/                 <APP>_CONFIG_DIR, the config_dir argument, or ~/.<app>
        config.json               the user's choice; other keys belong to the host
        .config.json.lock         serialises read-modify-write across processes
        telemetry/
            outbox/               scrubbed reports waiting for delivery
            spool/                captures of a consented crash, written at exit, not yet
                                  scrubbed: the detached sender scrubs them into the outbox
            senders/              one file per detached sender started (its pid), removed
                                  when it ends
            reports/              the ``file`` exporter's OTLP/JSON lines
            sent/                 a copy of each delivered report (newest 100, 1 MB)
            backoff.json          per exporter, when it may send again
            install_id            the anonymous id of usage events

Every path is spelt here and nowhere else. The app thread uses :func:`count_reports` at
``install()``, so this module imports only ``os`` (and what ``os`` imports) up front.

Modes, whatever the umask: every folder we create is ``0700`` and every file we create
is ``0600``. The mode is passed at creation and then set again with ``fchmod``, because
a umask can only take bits away (``0o277`` would leave a folder we cannot write) and
``os.umask`` is process-wide and racy, so it is never called.

Symbolic links. The config dir itself, and every folder above it, is the user's: it is
followed as it is, because ``<APP>_CONFIG_DIR`` or ``~/.<app>`` pointing elsewhere (a
bigger disk, a dotfiles checkout) is a legitimate choice only the user can make, and a
planted link there needs write access to a folder above ours. Below the config dir
everything is ours, and no symbolic link is ever followed there:

* ``telemetry/``, ``telemetry/outbox/``, ``telemetry/reports/`` and ``telemetry/sent/``
  (any folder at or below ``telemetry``) must be real folders; a symbolic link (or a
  file) there is refused with :class:`UnsafePathError`: nothing is written, read,
  counted or deleted through it, and it is left in place.
* Files are opened with ``O_NOFOLLOW`` (and ``O_NONBLOCK``, so a FIFO never blocks) and
  must be regular files: ``config.json``, ``.config.json.lock``, ``install_id``, the
  ``file`` exporter's day files, reports, the record of sent reports. A link there is
  never followed; files written by :func:`atomic_write` replace the link itself, never
  its target.
"""

from __future__ import annotations

import os
import stat

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path
    from typing import Optional, Union

    StrPath = Union[str, "os.PathLike[str]"]

CONFIG_FILE = "config.json"
"""The user's choice, in the config dir (other keys belong to the host)."""
DIR_MODE = 0o700
FILE_MODE = 0o600
_TELEMETRY = "telemetry"
_OUTBOX = "outbox"
_SPOOL = "spool"
_SENDERS = "senders"

# Absent on Windows: there the lstat checks below are the guard.
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_BINARY = getattr(os, "O_BINARY", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
READ_FLAGS = os.O_RDONLY | _NOFOLLOW | _NONBLOCK | _CLOEXEC | _BINARY
"""How every file of the config dir is opened for reading: no link, no blocking FIFO."""
WRITE_FLAGS = os.O_WRONLY | _NOFOLLOW | _NONBLOCK | _CLOEXEC | _BINARY
"""How every file of the config dir is opened for writing (add ``O_CREAT``, ...)."""


class UnsafePathError(OSError):
    """A symbolic link (or a FIFO, a file...) where only our own folder or file may be.

    Refused, never followed; an ``OSError``, so every caller's disk error path applies.
    """

    def __init__(self, path: StrPath, what: str) -> None:
        import errno  # where an error is made: not at install (~50 µs)

        super().__init__(errno.ELOOP, what, os.fspath(path))


class FileTooLargeError(OSError):
    """A file bigger than its reader's bound: not read at all."""

    def __init__(self, path: StrPath, limit: int) -> None:
        import errno

        super().__init__(errno.EFBIG, f"larger than {limit} bytes", os.fspath(path))


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
        return self.config_dir / CONFIG_FILE

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
    def sent_dir(self) -> Path:
        """The record of delivered reports, one file each (``pipeline/_sent.py``)."""
        return self.telemetry_dir / "sent"

    @property
    def backoff_file(self) -> Path:
        return self.telemetry_dir / "backoff.json"

    @property
    def install_id_file(self) -> Path:
        return self.telemetry_dir / "install_id"

    @property
    def spool_dir(self) -> Path:
        """Captures written at exit, unscrubbed, for the detached sender (``pipeline/_handoff.py``)."""
        return self.telemetry_dir / _SPOOL

    @property
    def senders_dir(self) -> Path:
        """One file per detached sender started, named by its pid."""
        return self.telemetry_dir / _SENDERS


def config_file(config_dir: StrPath) -> str:
    """The ``config.json`` of a config dir, as a string (for the app thread)."""
    return os.path.join(os.fspath(config_dir), CONFIG_FILE)


def outbox_dir(config_dir: str) -> str:
    """The outbox folder of a config dir, as a string (for the app thread)."""
    return os.path.join(config_dir, _TELEMETRY, _OUTBOX)


def spool_dir(config_dir: str) -> str:
    """The spool folder of a config dir, as a string (for the exiting thread)."""
    return os.path.join(config_dir, _TELEMETRY, _SPOOL)


def telemetry_dir(config_dir: str) -> str:
    """The telemetry folder of a config dir, as a string.

    The detached sender of the config dir holds an ``flock`` on it
    (``pipeline/_handoff.lock_sender``).
    """
    return os.path.join(config_dir, _TELEMETRY)


def senders_dir(config_dir: str) -> str:
    """The folder of detached senders' pid files of a config dir, as a string."""
    return os.path.join(config_dir, _TELEMETRY, _SENDERS)


def reports_waiting(config_dir: str) -> int:
    """Reports waiting on disk in a config dir (cheap: no pathlib).

    Its outbox, and the captures a crashed process spooled: a drain converts and sends
    them.
    """
    return count_reports(outbox_dir(config_dir)) + count_reports(spool_dir(config_dir))


def count_reports(directory: str) -> int:
    """How many reports a folder of reports holds (temporary and hidden files aside).

    A batch file of the outbox or a spool file (``<ns>-<12 hex>-<count>.json``, claimed
    or not) holds ``count`` reports, read from its name (:func:`reports_in`); every other
    file holds one. A folder of ours that is a symbolic link holds none: it is not
    looked into.
    """
    try:
        check_tree(directory)
        with os.scandir(directory) as entries:
            return sum(reports_in(entry.name) for entry in entries if entry.name[:1] != ".")
    except OSError:
        return 0


def reports_in(name: str) -> int:
    """How many reports the file ``name`` of the outbox or the spool holds, from its name.

    ``<ns>-<12 hex>-<count>.json`` (claimed or not) holds ``count``; any other name one.
    """
    parts = name.split(".json", 1)[0].split("-")
    if len(parts) == 3 and len(parts[1]) == 12 and parts[2].isdigit():
        return max(1, int(parts[2]))
    return 1


def newest_within(sizes: Sequence[int], limit: int) -> int:
    """The index of the oldest item from which the newest ones fit in ``limit`` bytes.

    ``sizes`` are oldest first; the newest item is always kept, whatever its size (a
    file of reports keeps at least the last one).
    """
    first, total = len(sizes) - 1, sizes[-1]
    while first > 0 and total + sizes[first - 1] <= limit:
        first -= 1
        total += sizes[first]
    return first


def written_ns(name: str) -> int:
    """When the file ``name`` of an outbox or spool (``<ns>-...``) was written, in ns.

    0 for a name that does not start with a number: older than any time it is compared
    with.
    """
    try:
        return int(name.split("-", 1)[0])
    except ValueError:
        return 0


def clear_reports(directory: str) -> None:
    """Delete every file of a folder of reports; a missing folder is already clear.

    A folder of ours that is a symbolic link is not cleared: deleting through it would
    delete files outside the config dir.
    """
    try:
        check_tree(directory)
        with os.scandir(directory) as entries:
            for entry in entries:
                try:
                    os.unlink(entry.path)
                except OSError:
                    pass
    except OSError:
        pass


def _tree_root(path: StrPath) -> str:
    """The config dir above ``path`` when ``path`` lies in its ``telemetry`` folder.

    ``telemetry`` and the folders directly in it are ours (see the module docstring);
    for any other path the whole path is the user's, and the root is the path itself.
    """
    text = os.path.normpath(os.fspath(path))
    parent, name = os.path.split(text)
    if name == _TELEMETRY:
        return parent
    grandparent, parent_name = os.path.split(parent)
    if parent_name == _TELEMETRY and name:
        return grandparent
    return text


def check_tree(path: StrPath, *, trusted: Optional[StrPath] = None) -> None:
    """Refuse ``path`` when a folder of it below ``trusted`` is a link or not a folder.

    Args:
        path: a folder of the config dir (missing ones pass: they are created later).
        trusted: the folder whose links are followed (the config dir); by default the
            config dir when ``path`` lies in ``telemetry``, else ``path`` itself.

    Raises:
        UnsafePathError: a component below ``trusted`` is a symbolic link or a file.
    """
    for current in _below(path, trusted):
        try:
            mode = os.lstat(current).st_mode
        except FileNotFoundError:
            return
        if not stat.S_ISDIR(mode):
            raise UnsafePathError(current, "not a folder (a symbolic link is never followed)")


def _below(path: StrPath, trusted: Optional[StrPath]) -> list[str]:
    """The folders from just below ``trusted`` down to ``path``, outermost first."""
    target = os.path.normpath(os.fspath(path))
    root = _tree_root(target) if trusted is None else os.path.normpath(os.fspath(trusted))
    try:
        relative = os.path.relpath(target, root)
    except ValueError:  # another drive (Windows)
        return []
    if relative == os.curdir or relative.startswith(os.pardir):
        return []  # path is the trusted folder (or not below it): all of it is the user's
    folders, current = [], root
    for part in relative.split(os.sep):
        current = os.path.join(current, part)
        folders.append(current)
    return folders


def ensure_dir(path: StrPath, *, trusted: Optional[StrPath] = None) -> None:
    """Create ``path`` and its missing parents, each ``0700`` whatever the umask.

    Existing folders at or above ``trusted`` are left as they are, links included (the
    user's choice). Below it, a symbolic link or a file where a folder should be is
    refused, and existing folders of ours are made ``0700`` again.

    Args:
        path: the folder to make sure of.
        trusted: the config dir; by default inferred from the layout (see
            :func:`check_tree`).

    Raises:
        UnsafePathError: a folder below ``trusted`` is a symbolic link or a file.
        OSError: a folder cannot be created.
    """
    below = _below(path, trusted)
    root = os.path.dirname(below[0]) if below else os.fspath(path)
    _ensure_trusted(root)
    for folder in below:
        _ensure_own_dir(folder)


def _ensure_trusted(root: str) -> None:
    # The user's part: an existing folder (or link to one) is used as it is; missing
    # ones are created by us, so they are ours and owner-only.
    missing = []
    current = os.path.normpath(root)
    while not os.path.isdir(current):
        missing.append(current)
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    home = os.path.normpath(os.path.expanduser("~"))
    for folder in reversed(missing):
        if folder == home or home.startswith(os.path.join(folder, "")):
            # A home directory (and what is above it) is the system's to create, never
            # ours (HOME=/nonexistent of a service account): no report is kept, and the
            # disk warning says so.
            import errno

            raise FileNotFoundError(errno.ENOENT, "the home directory does not exist", folder)
        try:
            os.mkdir(folder, DIR_MODE)
        except FileExistsError:
            if not os.path.isdir(folder):
                raise
            continue  # another process made it first
        _set_dir_mode(folder)


def _ensure_own_dir(folder: str) -> None:
    try:
        os.mkdir(folder, DIR_MODE)
    except FileExistsError:
        pass  # existing, or made by another process meanwhile: checked below
    else:
        _set_dir_mode(folder)
        return
    info = os.lstat(folder)
    if not stat.S_ISDIR(info.st_mode):
        raise UnsafePathError(folder, "not a folder (a symbolic link is never followed)")
    if stat.S_IMODE(info.st_mode) != DIR_MODE and _owned(info):
        _set_dir_mode(folder)  # made by an older version under a loose umask


def _owned(info: os.stat_result) -> bool:
    geteuid = getattr(os, "geteuid", None)
    return geteuid is None or info.st_uid == geteuid()


def _set_dir_mode(folder: str) -> None:
    if not _DIRECTORY or not hasattr(os, "fchmod"):
        os.chmod(folder, DIR_MODE)  # Windows: modes are mostly advisory there
        return
    fd = os.open(folder, os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _CLOEXEC)
    try:
        os.fchmod(fd, DIR_MODE)
    finally:
        os.close(fd)


def set_file_mode(fd: int) -> None:
    """Make an open file of ours ``0600`` (the umask may have taken bits away)."""
    if hasattr(os, "fchmod"):
        os.fchmod(fd, FILE_MODE)


def open_regular(path: StrPath, flags: int = READ_FLAGS, mode: int = FILE_MODE) -> int:
    """Open a file of the config dir: never through a link, never blocking on a FIFO.

    Returns:
        The descriptor of a regular file; the caller closes it.

    Raises:
        UnsafePathError: ``path`` is a symbolic link, a FIFO, a folder or a device.
        OSError: it cannot be opened (``FileNotFoundError`` when missing).
    """
    try:
        # Checked first too where O_NOFOLLOW does not exist (Windows).
        if stat.S_ISLNK(os.lstat(path).st_mode):
            raise UnsafePathError(path, "a symbolic link, never followed")
    except FileNotFoundError:
        if not flags & os.O_CREAT:
            raise
    try:
        fd = os.open(path, flags, mode)
    except OSError as exc:
        import errno

        if exc.errno in (errno.ELOOP, errno.EMLINK) and _NOFOLLOW:
            raise UnsafePathError(path, "a symbolic link, never followed") from None
        if exc.errno == errno.ENXIO:  # a FIFO without reader, a socket
            raise UnsafePathError(path, "not a regular file") from None
        raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UnsafePathError(path, "not a regular file")
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_bounded(path: StrPath, limit: int) -> bytes:
    """Read a whole regular file of at most ``limit`` bytes, in bounded time and memory.

    Raises:
        FileNotFoundError: there is no such file.
        UnsafePathError: it is a symbolic link, a FIFO, a folder or a device.
        FileTooLargeError: it holds more than ``limit`` bytes (nothing beyond the bound
            is read).
        OSError: it cannot be read.
    """
    fd = open_regular(path)
    try:
        if os.fstat(fd).st_size > limit:
            raise FileTooLargeError(path, limit)
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:  # grown since fstat
            raise FileTooLargeError(path, limit)
        return b"".join(chunks)
    finally:
        os.close(fd)


def atomic_write(
    path: Path,
    data: bytes,
    *,
    durable: bool = False,
    replace: bool = True,
    trusted: Optional[StrPath] = None,
) -> None:
    """Replace ``path`` with ``data`` in one step: readers see the old file or the new one.

    The data goes to a hidden temporary file in the same folder, created ``0600`` (and
    made so with ``fchmod`` whatever the umask), which is then renamed over ``path``.
    A symbolic link at ``path`` is replaced itself, never written through; a folder of
    ours that is a link is refused. The temporary file never outlives a failure.

    Args:
        path: the file to replace; its folder must exist.
        data: the whole new content.
        durable: also ``fsync`` before the rename, for a file a crash must not lose.
        replace: False creates ``path`` only if it does not exist (the first writer wins).
        trusted: the config dir, as in :func:`check_tree`.

    Raises:
        FileExistsError: ``replace`` is False and ``path`` exists.
        UnsafePathError: a folder of ours on the way is a symbolic link.
        OSError: the folder cannot be written.
    """
    import tempfile
    from contextlib import suppress

    check_tree(os.path.dirname(os.fspath(path)), trusted=trusted)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            set_file_mode(handle.fileno())
            handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        if not hasattr(os, "fchmod"):
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
