"""Handoff: a crashing process leaves its reports to a detached sender and exits at once.

At exit (``Pipeline.flush_at_exit``), a process that captured something and has consent
writes the captures the recorder has not taken to the *spool* (``telemetry/spool/``),
one JSON file of plain values, written with one ``fsync`` (the newest :data:`MAX_SPOOLED`
captures and at most :data:`MAX_SPOOL_BYTES`: what the outbox would keep), then starts the detached sender
(``otel_telemetry._detached``) with ``os.posix_spawn`` in a session of its own, stdin,
stdout and stderr on ``/dev/null``, and returns without waiting for the network. The
exiting thread imports nothing here but base modules the process has loaded already
(``os``, ``sys``, ``time``, ``_layout``, and the ``_json`` accelerator): no scrubber,
no SDK, no ``json``, no ``subprocess``, no ``tempfile``.

The sender (or a later run's drain, or ``show``) reads the spool back with
:func:`take_spooled`: each capture becomes a record (``_report.new_record``) scrubbed
with the same rules as every report (``scrub_record``), bounded, and written to the
outbox, unclaimed; only then is its spool file deleted, so a report is always on disk,
scrubbed or not. Its trace and span ids were drawn when the spool file was written, so
a capture converted twice (a converter killed between the two steps) is the same report,
the same Sentry event. Conversions hold the sender lock (``flock`` on the ``telemetry``
folder), so two converters never take the same file.

Privacy: a spool file holds an unscrubbed capture (the same plain values the recorder
queue holds in memory: types, messages, frames) of a crash the user consented to, in
the user's config dir, owner-only (``0600`` in a ``0700`` folder), for the moments
between the exit and the sender's scrub. It is never sent as it is. A capture written
before consent was withdrawn is deleted unsent; ``disable()`` and ``telemetry clean``
delete the spool; ``show`` shows it scrubbed.
"""

from __future__ import annotations

import os
import sys

from otel_telemetry._layout import (
    WRITE_FLAGS,
    ensure_dir,
    is_temporary,
    senders_dir,
    set_file_mode,
    spool_dir,
    telemetry_dir,
    written_ns,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from typing import Any, Optional

    from otel_telemetry._settings import Settings
    from otel_telemetry.capture._snapshot import Captured
    from otel_telemetry.consent._precedence import ConsentDecision

    from ._report import Record

FORMAT = 1
"""The version of a spool file; a file of another version is deleted unread."""
HANDOFF_VARIABLE = "OTEL_TELEMETRY_HANDOFF"
"""The sender's instructions (JSON): the parent's pid, the settings to rebuild, its consent.
In the environment, not the command line: it may hold a DSN or headers, and another user
can read a command line (``ps``), never another user's environment."""
PATH_VARIABLE = "OTEL_TELEMETRY_SENDER_PATH"
"""The host's ``sys.path`` (JSON), the sender's own: it imports what the host imports
(this package, the SDK, a vendored or zipped dependency), and nothing else."""
# `-I` (isolated): no PYTHONPATH, PYTHONSTARTUP or user site of the environment, no
# current folder first: the sender's path is the host's, set before anything is
# imported. Descriptors the host inherited (a caller's pipe, a `flock -n` guard) are
# closed at spawn, and again here for a platform where they could not be listed.
_BOOT = (
    "import os;os.closerange(3,65536);import sys,json;"
    f"sys.path[:]=json.loads(os.environ.pop({PATH_VARIABLE!r}));"
    "from otel_telemetry._detached import main;main()"
)
MAX_SPOOLED = 200
"""The most captures one exit spools, the newest: the outbox's own count bound."""
MAX_SPOOL_BYTES = 12_000_000
"""The most bytes one exit writes to the spool (captures are escaped to ASCII: a chain of
10 messages of 64 Ki characters outside ASCII is about 4 MB); the newest captures first."""
MAX_SPOOL_FILE = 16_000_000
"""Bytes of the largest spool file read back."""
_CONVERTING = ".converting"


# -- the exiting process ----------------------------------------------------------------------


def can_hand_off(settings: Settings) -> bool:
    """Whether a detached sender can take this host's reports.

    Not in server mode (a server keeps sending in-process: it is not ending for good),
    not for a container's first process or its direct child (PID 1 or a parent of PID 1:
    the container ends with them), not where ``posix_spawn`` is missing (Windows) or
    ``sys.executable`` is not a Python interpreter (an embedding program, a frozen app),
    not with the ``console`` exporter (the sender's stdout is ``/dev/null``), and not with
    a scrubbing ``callback`` (a function cannot be passed to another process).
    """
    if not hasattr(os, "posix_spawn") or getattr(sys, "frozen", False):
        return False
    if os.getpid() == 1 or os.getppid() == 1:
        # The init of a PID namespace (a container's command, without --init): when it
        # ends, the kernel ends every process of the namespace, the sender too. Its child
        # (under `docker run --init`, tini, or `sh -c` as the container's command) is
        # followed by the init's own end, as soon as it exits: the same. A process whose
        # parent ended before it (adopted by init) sends as it always did, in process.
        return False
    # An embedding program (uWSGI, a frozen app) is not an interpreter to start with -c.
    name = os.path.basename(sys.executable or "").lower()
    if not name.startswith(("python", "pypy")):
        return False
    scrubbing = settings.scrubbing
    if scrubbing is not None and scrubbing.callback is not None:
        return False
    if "console" in settings.exporter_names():
        return False
    return settings.mode() != "server"


def write_spool(
    captures: Sequence[Captured], config_dir: str, decision: ConsentDecision
) -> tuple[int, list[Captured]]:
    """Write the captures to the spool, as one file with one ``fsync``.

    At most the newest :data:`MAX_SPOOLED` captures and :data:`MAX_SPOOL_BYTES` (the
    outbox would drop the older ones anyway). A capture that alone takes more than
    :data:`MAX_SPOOL_BYTES` (frames of generated code with huge file names, escaped to
    ASCII) is not spooled: the sender could not read it back whole.

    Args:
        captures: consented captures the recorder has not taken, in the order made.
        config_dir: the config dir in force.
        decision: the consent in force (its email and level go with the captures).

    Returns:
        How many captures the spool file holds, and the captures the caller must write
        to the outbox itself (scrubbed, bounded): the ones too large for the spool, or
        all of them when the disk refuses. The others were beyond the bounds.
    """
    reports: list[str] = []
    spooled: list[Captured] = []
    too_large: list[Captured] = []
    size = 0
    for captured in reversed(captures):  # the newest first: the bounds keep them
        if len(reports) >= MAX_SPOOLED:
            break
        text = to_json(
            {
                "trace_id": _random_hex(16),
                "span_id": _random_hex(8),
                "capture": capture_document(captured),
            }
        )
        if len(text) > MAX_SPOOL_BYTES:
            too_large.append(captured)
            continue
        if reports and size + len(text) > MAX_SPOOL_BYTES:
            break
        reports.append(text)
        spooled.append(captured)
        size += len(text) + 1
    too_large.reverse()
    if not reports:
        return 0, too_large
    reports.reverse()
    header = to_json({"format": FORMAT, "email": decision.email, "local": decision.local})
    data = f'{header[:-1]},"reports":[{",".join(reports)}]}}'
    # Named by the oldest capture's time: the outbox file it becomes is as old as that.
    # Its count in the name, as a batch of the outbox: `status` and `clean` count captures.
    made = min(c.time_ns for c in spooled)
    name = f"{made:020d}-{_random_hex(6)}-{len(reports)}.json"
    try:
        ensure_dir(spool_dir(config_dir))
        _write_durable(spool_dir(config_dir), name, data.encode("ascii"))
    except OSError:
        return 0, list(captures)  # the disk refuses: the caller writes them itself
    return len(reports), too_large


def start_sender(settings: Settings, decision: ConsentDecision) -> Optional[int]:
    """Start the detached sender for this host's config dir; its pid, None if it cannot.

    The sender waits for this process to end before it sends anything, so whatever this
    process still has claimed is abandoned by then and sent once.
    """
    arguments = settings_arguments(settings)
    instructions = {
        "parent": os.getpid(),
        "settings": arguments,
        "consent": {"level": decision.level, "email": decision.email, "source": decision.source},
    }
    env = dict(os.environ)
    env[HANDOFF_VARIABLE] = to_json(instructions)
    env[PATH_VARIABLE] = to_json(sender_path())
    null = os.devnull
    actions: list[tuple[Any, ...]] = [
        (os.POSIX_SPAWN_OPEN, 0, null, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, null, os.O_WRONLY, 0),
        (os.POSIX_SPAWN_OPEN, 2, null, os.O_WRONLY, 0),
    ]
    actions += [(os.POSIX_SPAWN_CLOSE, fd) for fd in _inherited_descriptors()]
    try:
        pid = os.posix_spawn(
            sys.executable,
            [sys.executable, "-I", "-c", _BOOT],
            env,
            file_actions=actions,
            setsid=True,
        )
    except OSError:
        return None
    _register(arguments["config_dir"], pid)
    return pid


def sender_path() -> list[str]:
    """The sender's ``sys.path``: the host's absolute entries, in order, and this package's.

    A relative entry ('' for the current folder, 'src') is left out: the sender would read
    it from wherever it runs, and a module planted there could come before the standard
    library's. This package's folder comes last when the host found it some other way.
    """
    package = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    path = [entry for entry in sys.path if type(entry) is str and os.path.isabs(entry)]
    return path if package in path else [*path, package]


def settings_arguments(settings: Settings) -> dict[str, Any]:
    """What rebuilds ``settings`` in the sender (``Settings(**arguments)``), as plain values.

    ``Settings.handoff_arguments()`` gives the arguments as the host passed them, without
    an import; without it, they are rebuilt from the public API, values resolved now from
    variables and arguments alike (the sender inherits the environment, where variables
    win anyway), at the cost of importing the ``otlp`` route (~15 ms) on the exiting
    thread. A route that failed closed here is passed as one that fails closed there.
    """
    own = getattr(settings, "handoff_arguments", None)
    arguments = dict(own()) if callable(own) else _public_arguments(settings)
    arguments["config_dir"] = settings.config_dir_path()
    arguments["mode"] = settings.mode()
    scrubbing = settings.scrubbing
    if scrubbing is not None:
        arguments["scrubbing"] = {
            "extra_patterns": list(scrubbing.extra_patterns),
            "allow_patterns": list(scrubbing.allow_patterns),
            "disabled_rules": list(scrubbing.disabled_rules),
            "keep_values": scrubbing.keep_values,
        }
    return arguments


def _public_arguments(settings: Settings) -> dict[str, Any]:
    exporters = settings.exporter_names()
    arguments: dict[str, Any] = {
        "app": settings.app,
        "packages": list(settings.packages),
        "version": settings.version,
        "sentry_dsn": settings.sentry_dsn()[0],
        "exporters": list(exporters),
        "display_name": settings.display_name,
        "environment": settings.environment(),
        "policy_version": settings.policy_version,
        "server_level": settings.server_level,
        "opt_out_env": list(settings.opt_out_env),
    }
    if "otlp" in exporters:
        route = settings.otlp_route()
        # From a variable, the sender reads the same variable; from the argument, or
        # failed closed on a malformed argument, it is passed as it is.
        if route.endpoint is not None and route.traces_endpoint is None and route.problem is None:
            arguments["otlp_endpoint"] = route.endpoint
            arguments["otlp_headers"] = dict(route.headers)
            arguments["otlp_protocol"] = route.protocol
        elif route.problem is not None:
            arguments["otlp_endpoint"] = "invalid"  # fails closed there too
    if "posthog" in exporters:
        key, _, host = settings.posthog()
        arguments["posthog_key"] = key
        arguments["posthog_host"] = host if host is not None else "invalid"
    return arguments


def capture_document(captured: Captured) -> dict[str, Any]:
    """A capture as plain JSON values, read attribute by attribute."""
    from otel_telemetry.capture._snapshot import CapturedEvent  # loaded: it was captured

    if isinstance(captured, CapturedEvent):
        return {
            "kind": "event",
            "name": captured.name,
            "payload": dict(captured.payload),
            "time_ns": captured.time_ns,
            "seq": captured.seq,
        }
    return {
        "kind": "exception",
        "exceptions": [
            {
                "module": raw.module,
                "qualname": raw.qualname,
                "message": raw.message,
                "frames": [list(frame) for frame in raw.frames],
                "omitted_frames": raw.omitted_frames,
                "relation": raw.relation,
            }
            for raw in captured.exceptions
        ],
        "mechanism": captured.mechanism,
        "handled": captured.handled,
        "time_ns": captured.time_ns,
        "attributes": dict(captured.attributes),
        "seq": captured.seq,
    }


def _inherited_descriptors() -> list[int]:
    """The descriptors above 2 a spawned process would inherit (Linux: ``/proc``)."""
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:
        return []  # the sender closes them itself (_BOOT)
    found = []
    for name in names:
        fd = int(name) if name.isdigit() else -1
        try:
            if fd > 2 and os.get_inheritable(fd):
                found.append(fd)
        except OSError:
            continue  # the listing's own descriptor, closed since
    return found


def _random_hex(size: int) -> str:
    value = os.urandom(size).hex()
    return value if value.strip("0") else value[:-1] + "1"  # never the invalid all-zero id


def to_json(value: Any) -> str:
    """``value`` as compact ASCII JSON, without importing ``json`` (milliseconds at exit).

    Strings are escaped by the ``_json`` accelerator that ``json`` itself uses (lone
    surrogates of undecodable names too); dicts, lists and tuples, ints, floats, bools
    and None are written as ``json.dumps`` writes them. Anything else (never in our own
    captures) is ``"<object>"``: no code of another object runs.
    """
    from _json import encode_basestring_ascii as quoted

    parts: list[str] = []

    def write(item: Any) -> None:
        kind = type(item)
        if kind is str:
            parts.append(quoted(item))
        elif item is None:
            parts.append("null")
        elif kind is bool:
            parts.append("true" if item else "false")
        elif kind is int:
            parts.append(int.__repr__(item))
        elif kind is float:
            parts.append(float.__repr__(item) if item == item and abs(item) != 1e999 else "null")
        elif kind is dict:
            parts.append("{")
            for index, (key, member) in enumerate(item.items()):
                parts.append("," if index else "")
                parts.append(quoted(key if type(key) is str else "<object>"))
                parts.append(":")
                write(member)
            parts.append("}")
        elif kind in (list, tuple):
            parts.append("[")
            for index, member in enumerate(item):
                parts.append("," if index else "")
                write(member)
            parts.append("]")
        else:
            parts.append('"<object>"')

    write(value)
    return "".join(parts)


def _write_durable(directory: str, name: str, data: bytes) -> None:
    """``atomic_write(..., durable=True)`` with ``os`` alone (``tempfile`` costs ms at exit)."""
    temporary = os.path.join(directory, f".{name}.tmp")
    fd = os.open(temporary, WRITE_FLAGS | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        try:
            set_file_mode(fd)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(temporary, os.path.join(directory, name))
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise


def _register(config_dir: str, pid: int) -> None:
    """Note a started sender (``senders/<pid>``): it removes the file when it ends.

    The file holds the process's start time where the system tells it (Linux), so that a
    later process given the same pid is not taken for the sender.
    """
    directory = senders_dir(config_dir)
    try:
        ensure_dir(directory)
        fd = os.open(
            os.path.join(directory, str(pid)), WRITE_FLAGS | os.O_CREAT | os.O_TRUNC, 0o600
        )
        try:
            os.write(fd, _started(pid).encode("ascii"))
        finally:
            os.close(fd)
    except OSError:
        pass


def _started(pid: int) -> str:
    """When process ``pid`` started, in clock ticks since boot; '' where unknown."""
    try:
        fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY)
        try:
            data = os.read(fd, 4096)
        finally:
            os.close(fd)
        # Field 22 (starttime), counted after the command name, which may hold spaces.
        return data.rsplit(b")", 1)[1].split()[19].decode("ascii")
    except (OSError, IndexError, UnicodeDecodeError):
        return ""


def unregister(config_dir: str, pid: int) -> None:
    """Remove a sender's file (the sender, as it ends)."""
    try:
        os.unlink(os.path.join(senders_dir(config_dir), str(pid)))
    except OSError:
        pass


def running_senders(config_dir: str) -> list[int]:
    """The pids of detached senders of ``config_dir`` that still run."""
    try:
        names = os.listdir(senders_dir(config_dir))
    except OSError:
        return []
    alive = []
    for name in names:
        if not name.isdigit():
            continue
        pid = int(name)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            unregister(config_dir, pid)  # killed before it could remove it
            continue
        except OSError:
            pass
        if not _same_process(os.path.join(senders_dir(config_dir), name), pid):
            unregister(config_dir, pid)  # killed, and its pid given to another process
            continue
        alive.append(pid)
    return alive


def _same_process(path: str, pid: int) -> bool:
    """Whether the sender noted at ``path`` is still process ``pid`` (True when unknown).

    Read as every file of ours is (``read_bounded``): a link, a FIFO or a large file
    planted in its place is never followed, waited on or read whole; it says nothing.
    """
    from otel_telemetry._layout import read_bounded

    try:
        noted = read_bounded(path, 64).decode("ascii", "replace").strip()
    except OSError:
        return True
    started = _started(pid)
    return not noted or not started or noted == started


# -- the sender, a later run's drain, show -----------------------------------------------------


def spooled_names(config_dir: str) -> list[str]:
    """The spool's files ready to be read, oldest first (none being written).

    A temporary file older than :data:`ORPHAN_AGE` is removed on the way: its writer was
    killed mid-write (it holds an unscrubbed capture nobody will finish).
    """
    directory = spool_dir(config_dir)
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    for name in names:
        if is_temporary(name):
            _remove_orphan(os.path.join(directory, name))
    return sorted(
        name
        for name in names
        if not is_temporary(name) and (name.endswith(".json") or name.endswith(_CONVERTING))
    )


ORPHAN_AGE = 60.0
"""Seconds after which a temporary spool file is a killed writer's, never a write under way."""


def _remove_orphan(path: str) -> None:
    import time

    try:
        info = os.lstat(path)
        if time.time() - info.st_mtime > ORPHAN_AGE:
            os.unlink(path)
    except OSError:
        pass


def lock_sender(config_dir: str) -> Optional[int]:
    """Take the sender lock of ``config_dir`` without waiting; its descriptor, or None.

    Released by :func:`unlock_sender`, or by the kernel when the holder ends (a sender
    killed with SIGKILL holds nothing). The lock is on the ``telemetry`` folder itself,
    which is checked to be ours (no link): a lock file could be replaced by a link or a
    folder, and then no sender could ever take it.
    """
    try:
        import fcntl
    except ImportError:  # not POSIX: no sender, and the drain converts unlocked
        return -1

    directory = telemetry_dir(config_dir)
    try:
        ensure_dir(directory)
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def unlock_sender(fd: int) -> None:
    """Release the sender lock taken by :func:`lock_sender`."""
    if fd >= 0:
        os.close(fd)  # closing the descriptor releases its flock


def take_spooled(
    settings: Settings,
    decision: ConsentDecision,
    withdrawn_ns: int = 0,
    *,
    locked: bool = False,
) -> int:
    """Scrub the spool's captures into the outbox; how many reports were written.

    Each file is converted and then deleted. One written before ``withdrawn_ns`` (consent
    withdrawn since), or read while consent is ``denied``, is deleted unsent; one that
    cannot be read or scrubbed is deleted too (fail closed: never written raw).

    Args:
        settings: the host's settings (exporters, config dir, scrubbing, mode).
        decision: the consent in force now (``denied`` deletes everything spooled).
        withdrawn_ns: when consent was last withdrawn, ns since the epoch (0: never).
        locked: the caller holds the sender lock; otherwise it is taken here, and
            nothing is done if another process holds it (that one converts).
    """
    config_dir = settings.config_dir_path()
    if not spooled_names(config_dir):
        return 0
    fd = -1 if locked else lock_sender(config_dir)
    if fd is None:
        return 0
    try:
        return _convert(settings, decision, withdrawn_ns)
    finally:
        if not locked:
            unlock_sender(fd)


def spooled_records(settings: Settings, withdrawn_ns: int = 0) -> list[tuple[list[str], Record]]:
    """The spool's captures as the reports they will be: ``(exporters, scrubbed record)``.

    For ``show``: read only, nothing converted or deleted. A capture written before
    ``withdrawn_ns`` (it will be deleted unsent), or one that cannot be read or
    scrubbed, is left out.
    """
    from otel_telemetry.scrubbing import Scrubber

    scrubber = Scrubber(settings.scrubbing)
    found: list[tuple[list[str], Record]] = []
    config_dir = settings.config_dir_path()
    directory = spool_dir(config_dir)
    for name in spooled_names(config_dir):
        if written_ns(name) < withdrawn_ns:
            continue
        document = _read(os.path.join(directory, name))
        if document is None:
            continue
        local = document.get("local") is True
        pending = ["file"] if local else list(settings.exporters_in_use())
        for entry in _reports(document):
            try:
                found.append((pending, _record(entry, document, settings, scrubber)))
            except Exception:
                continue
    return found


def _reports(document: Optional[dict[str, Any]]) -> list[dict[str, Any]]:
    """The captures of a spool file (ids and plain values), each a dict; none if malformed."""
    reports = document.get("reports") if document is not None else None
    if not isinstance(reports, list):
        return []
    return [entry for entry in reports if isinstance(entry, dict)]


def _convert(settings: Settings, decision: ConsentDecision, withdrawn_ns: int) -> int:
    from pathlib import Path

    from otel_telemetry._log import debug
    from otel_telemetry.scrubbing import Scrubber

    from ._outbox import Outbox

    config_dir = settings.config_dir_path()
    directory = spool_dir(config_dir)
    outbox = Outbox(Path(settings.layout().outbox_dir))
    scrubber = Scrubber(settings.scrubbing)
    written = 0
    for name in spooled_names(config_dir):
        path = os.path.join(directory, name)
        resumed = name.endswith(_CONVERTING)
        # Marked first: a converter that ends between the outbox write and the removal
        # leaves a marked file, and the next one looks for its report before writing.
        done = path if resumed else path + _CONVERTING
        if not resumed:
            try:
                os.rename(path, done)
            except OSError:
                continue
        document = _read(done)
        records: list[Record] = []
        pending: list[str] = []
        if document is not None and decision.state != "denied" and written_ns(name) >= withdrawn_ns:
            pending = (
                ["file"] if document.get("local") is True else list(settings.exporters_in_use())
            )
        for entry in _reports(document) if pending else ():
            if resumed and _in_outbox(outbox.directory, entry):
                continue  # written by the converter that was cut short
            try:
                records.append(_record(entry, document or {}, settings, scrubber))
            except Exception:  # fail closed, one capture at a time: never written raw
                debug("otel_telemetry: a spooled report could not be scrubbed", exc_info=True)
        # One file, one fsync; named by the captures' time, not now, so that a report
        # made before consent was withdrawn is deleted unsent even if converted after.
        if records and (
            outbox.put_batch(records, pending, claimed=False, written_ns=written_ns(name)) is None
        ):
            break  # the disk refuses: the marked file waits for a later run
        written += len(records)
        try:
            os.unlink(done)
        except OSError:
            pass
    return written


def _record(
    document: dict[str, Any], spooled: dict[str, Any], settings: Settings, scrubber: Any
) -> Record:
    """The scrubbed, bounded record of one spooled capture (ids as drawn at exit).

    Args:
        document: the capture's entry: its ids and plain values.
        spooled: the spool file it is in (the email the user gave, for all its captures).
        settings: the host's settings.
        scrubber: the scrubber of those settings.
    """
    from ._install_id import load_or_create
    from ._report import bound_record, new_record, resource_attributes, scrub_record

    captured = _captured(document["capture"])
    install_id = None
    if not hasattr(captured, "exceptions"):
        install_id = load_or_create(settings.config_dir)
    resource = resource_attributes(settings.app, settings.version, settings.environment())
    record = new_record(
        captured,
        packages=settings.packages,
        mode=settings.mode(),
        install_id=install_id,
        resource=resource,
    )
    trace_id, span_id = document.get("trace_id"), document.get("span_id")
    if _hex(trace_id, 32) and _hex(span_id, 16):
        record["trace_id"], record["span_id"] = trace_id, span_id
    email = spooled.get("email")
    return bound_record(
        scrub_record(record, scrubber, email=email if isinstance(email, str) else None)
    )


def _captured(value: Any) -> Captured:
    """Rebuild a capture from its plain values (checked: a file may have been planted)."""
    from otel_telemetry.capture._snapshot import CapturedEvent, CapturedException, RawException

    if not isinstance(value, dict):
        raise ValueError("not a capture")
    time_ns, seq = int(value["time_ns"]), int(value["seq"])
    if value.get("kind") == "event":
        payload = {str(k): _tuples(v) for k, v in dict(value["payload"]).items()}
        return CapturedEvent(name=str(value["name"]), payload=payload, time_ns=time_ns, seq=seq)
    exceptions = tuple(
        RawException(
            module=str(raw["module"]),
            qualname=str(raw["qualname"]),
            message=str(raw["message"]),
            frames=tuple(
                (str(f[0]), int(f[1]), str(f[2]), str(f[3])) for f in _list(raw["frames"])
            ),
            omitted_frames=int(raw.get("omitted_frames", 0)),
            relation=_relation(raw.get("relation", "")),
        )
        for raw in _list(value["exceptions"])
    )
    attributes = {str(k): _tuples(v) for k, v in dict(value.get("attributes") or {}).items()}
    return CapturedException(
        exceptions=exceptions,
        mechanism=str(value["mechanism"]),
        handled=bool(value["handled"]),
        time_ns=time_ns,
        attributes=attributes,
        seq=seq,
    )


def _relation(value: Any) -> Any:
    return value if value in ("", "cause", "context") else ""


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError("not a list")
    return value


def _tuples(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _hex(value: Any, length: int) -> bool:
    return (
        isinstance(value, str)
        and len(value) == length
        and all(c in "0123456789abcdef" for c in value)
        and value.strip("0") != ""
    )


def _read(path: str) -> Optional[dict[str, Any]]:
    import json

    from otel_telemetry._layout import read_bounded

    try:
        document = json.loads(read_bounded(path, MAX_SPOOL_FILE).decode("utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        return None
    return document


def _in_outbox(directory: Any, document: dict[str, Any]) -> bool:
    """Whether a report with this spooled capture's span id waits in the outbox already."""
    span_id = document.get("span_id")
    if not _hex(span_id, 16):
        return False
    needle = f'"span_id":"{span_id}"'.encode("ascii")
    try:
        names = os.listdir(directory)
    except OSError:
        return False
    from otel_telemetry._layout import read_bounded

    for name in names:
        try:
            if needle in read_bounded(os.path.join(directory, name), 4 * MAX_SPOOL_FILE):
                return True
        except OSError:
            continue
    return False


def senders_of(config_dirs: Iterable[str]) -> list[int]:
    """The running detached senders of several config dirs (for tests and tools)."""
    return [pid for config_dir in config_dirs for pid in running_senders(config_dir)]
