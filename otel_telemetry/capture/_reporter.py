"""The one way into reporting: every hook, decorator and integration calls ``report``.

It runs on the host's thread, so it only decides and copies: is this a crash (or the
crash behind a failing exit, ``_exits``), is it ignored, does the host's
``should_report`` keep it, may it be kept without asking, did it pass through the host,
is it a repeat of a storm. Then it queues a snapshot for the pipeline and tells the
question a report was made. It never raises.
"""

from __future__ import annotations

import sys
import threading

from otel_telemetry._fork import renew_in_child
from otel_telemetry._log import debug, warn_once

from ._builtins import TYPE_MODULE, TYPE_QUALNAME

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from types import FrameType, ModuleType
    from typing import Any, Callable, Optional

    from ._snapshot import Captured, CapturedException
    from ._storm import StormGuard
    from ._tentative import Tentative

# Exceptions that end or cancel work on purpose (``_snapshot.NOT_CRASHES``), checked
# before anything is imported: after an unhandled Ctrl-C, an import that defines a
# dataclass or a namedtuple compiles code, which resets CPython's record of the Ctrl-C,
# and the process would then exit with status 1 instead of dying by SIGINT. SystemExit
# is not among them: a failing exit may stand for a crash (``_exits``), and it never
# dies by a signal.
_NOT_CRASHES = (KeyboardInterrupt, GeneratorExit)
_MAX_NESTED = 32
"""Reports made inside one report (signal handlers...) made after it; more are dropped."""
_NOT_REPORTING = (None, None)
"""``reporting.get``'s default: checked without a local that would keep the frame."""
_REQUEST_MODULE = "otel_telemetry.capture._request"
_EXIT_MECHANISM = "exit"
_MAX_GROUPED = 11  # the group and the first 10 exceptions it holds


class Reporter:
    """Takes exceptions from every mechanism to the pipeline's queue.

    Args:
        app: the host's app name; an exception is reported once per app.
        packages: the host's module prefixes; a crash that never passed through them
            is not the host's and is not reported.
        ignore: exception classes never reported.
        storm_limits: ``(limit, window)`` of the storm guard.
        denied: True when the environment alone says no (checked first, cheaply).
        granted: True when consent is given now (a report that may not ask needs it).
        should_report: the host's filter; False drops the report.
        submit: queues a capture for the pipeline.
        noted: called with the mechanism and the capture's ``seq`` after a report was
            queued (the question).
        watch_asyncio: starts seeing asyncio's unretrieved exceptions once asyncio is used.
        counted: called with the ``time.monotonic()`` at which the storm window of a
            crash just counted closes (see ``StormGuard``).
        later: runs a job once ``time.monotonic()`` reaches a time (the pipeline's
            worker): reports the caller may still handle wait there (``_tentative``).
        refused: True when the decision now is no (a saved no, a command line that
            cannot ask): nothing is captured, queued or counted, and the pipeline's
            worker is not started. Asked, after the cheaper checks, until a report was
            queued; from then on the worker's gate alone decides.
        declined: True when the decision is a no known without reading a file or
            importing anything (``Consent.declines``): asked first, right after
            ``denied``, until a report was queued.
    """

    def __init__(
        self,
        *,
        app: str,
        packages: tuple[str, ...],
        ignore: tuple[type[BaseException], ...],
        storm_limits: tuple[int, float],
        denied: Callable[[], bool],
        granted: Callable[[], bool],
        should_report: Optional[Callable[[BaseException], bool]],
        submit: Callable[[Captured], None],
        noted: Callable[[str, int], None],
        watch_asyncio: Callable[[], None],
        counted: Optional[Callable[[float], None]] = None,
        later: Optional[Callable[[float, Callable[[], object]], None]] = None,
        refused: Optional[Callable[[], bool]] = None,
        declined: Optional[Callable[[], bool]] = None,
    ) -> None:
        self._app = app
        self._packages = packages
        self._ignore = ignore
        self._storm_limits = storm_limits
        self._storm: Optional[StormGuard] = None
        self._denied = denied
        self._granted = granted
        self._refused = refused
        self._declined = declined
        self._submitted = False  # a report was queued: the worker runs, and decides
        self._should_report = should_report
        self._submit = submit
        self._noted = noted
        self.watch_asyncio = watch_asyncio
        self._counted = counted
        self._later = later
        self._tentative_made: Optional[Tentative] = None  # at the first report held
        self._tentative_lock = threading.RLock()
        # The threads making a report now: the frame of it, and the reports made inside.
        self._reporting: dict[int, tuple[FrameType, list[Any]]] = {}
        renew_in_child(self._after_fork_in_child)
        self._event_parts: Optional[tuple[Callable[..., Any], Callable[..., Captured]]] = None

    def report(
        self,
        exc: BaseException,
        mechanism: str,
        *,
        handled: bool,
        attributes: Optional[Mapping[str, Any]] = None,
        ask: bool = True,
    ) -> None:
        """Report ``exc``, caught by ``mechanism``; never raises, never blocks.

        A failing exit (``SystemExit(1)``, ``click.ClickException``, ``typer.Exit(1)``...)
        is not reported itself: the crash it stands for, the exception it was raised
        while handling, is, once, with mechanism ``exit``, ``handled`` False, and it may
        ask, whatever the arguments say (the host turned that crash into its end). An
        exit with nothing behind it, or that succeeds, is not reported.

        ``should_report`` (the host's filter) runs here, on the host's thread, after
        ``ignore`` and before anything is captured, given the crash behind an exit
        rather than the exit. It returns False: nothing is kept. It raises (anything,
        ``KeyboardInterrupt`` and ``SystemExit`` included: what propagates from the host's
        code must stay the host's own exception): one warning names the filter, never the
        exception's message, and that report is dropped; later reports still call it.

        Args:
            exc: the exception.
            mechanism: where it was caught (``excepthook``, ``capture_errors``, ``asgi``...).
            handled: the host handled it (``capture_exception``) or may still handle it
                (``capture_errors``, ``logging``), or it ended unhandled.
            attributes: extra span attributes; by default, the current request's route.
            ask: the report may ask the user for consent. False: the caller may still
                handle the exception, so it is kept only when consent is given now;
                otherwise nothing is kept (not even the mark that it was seen), so that
                if it ends unhandled later, a hook reports it then and asks.
        """
        # A report made on a thread that is already making one (a host's signal handler
        # run between two steps of ours, a host's filter that logs an error, a `__del__`
        # run as we let go of an exception) waits until that one is done, then is made
        # on the same thread: the outer report may hold what it would wait for. The
        # outer report is known by its frame, still running: a signal handler that
        # raised out of a report (past any `finally`) leaves no thread marked for good.
        ident = threading.get_ident()  # looked up each time: a greenlet's, under gevent
        reporting = self._reporting
        outer = reporting.get(ident)
        if outer is not None and _running(outer[0]):
            if len(outer[1]) < _MAX_NESTED:
                outer[1].append((exc, mechanism, handled, attributes, ask))
            return
        waiting: list[tuple[BaseException, str, bool, Optional[Mapping[str, Any]], bool]] = []
        here = sys._getframe()
        try:
            reporting[ident] = (here, waiting)
            self._report(exc, mechanism, handled, attributes, ask)
            made = 0  # never popped: at most _MAX_NESTED in all, however fast they come
            while made < len(waiting):
                self._report(*waiting[made])
                made += 1
        finally:
            if reporting.get(ident, _NOT_REPORTING)[0] is here:
                reporting.pop(ident, None)
            # This frame would hold itself through `here` (and with it the exception,
            # whose frames a failing __del__ may be waiting on): no local keeps it.
            del here

    def _report(
        self,
        exc: BaseException,
        mechanism: str,
        handled: bool,
        attributes: Optional[Mapping[str, Any]],
        ask: bool,
    ) -> None:
        try:
            if isinstance(exc, _NOT_CRASHES) or self._denied():
                return  # off by a variable: nothing read, nothing imported
            if not self._submitted and self._declined is not None and self._declined():
                # A no known without reading anything (no choice saved and no terminal,
                # as in CI): declined before anything is imported for a capture.
                return
            exits, snapshot, tentative = _capture_modules()
            if exits.is_exit(exc):
                if isinstance(exc, self._ignore):
                    return
                if isinstance(exc, SystemExit) and not _on_main_thread():
                    return  # it ends that thread only, quietly: the process goes on
                original = exits.crash_behind_exit(exc)
                if original is None:
                    return  # a usage error, a success, Ctrl-C: not a crash
                exc, mechanism, handled, ask = original, _EXIT_MECHANISM, False, True
            if not handled and tentative.is_group(exc):
                # An exception group that ends unhandled (asyncio.TaskGroup, `except*`):
                # each exception it holds is the crash, reported as one (or claimed).
                for inner in tentative.grouped(exc)[1:_MAX_GROUPED]:
                    if not tentative.is_group(inner):
                        self._report(inner, mechanism, False, attributes, ask)
                return
            self.watch_asyncio()
            if not snapshot.is_crash(exc) or isinstance(exc, self._ignore):
                return
            # Ended unhandled after a report that waited to learn how it ends: that
            # report is dropped and this one goes instead, as a crash.
            held = self._tentative_made
            claimed = held.claim(exc) if held is not None and ask and not handled else None
            if claimed is not None:
                exc = claimed  # itself, or the task's exception an ExceptionGroup holds
            if claimed is None and _SEEN.reported(exc, self._app):
                return
            if not ask and not self._granted():
                return  # maybe handled by the caller: nothing kept, nothing asked
            if ask and not self._submitted and self._refused is not None and self._refused():
                # The answer is no: the worker would only drop it, so it is not started.
                # Asked of real crashes only, as reading config.json may set aside a
                # corrupt one. Once a report went, the worker decides alone (a decision
                # costs ~20 µs).
                return
            if claimed is None and not self._accepted(exc):
                _SEEN.add(exc, self._app)  # decided: later mechanisms do not ask the filter again
                return
            if attributes is None:
                # The request context exists only once the ASGI middleware imported it.
                request = sys.modules.get(_REQUEST_MODULE)
                attributes = request.request_attributes() if request is not None else {}
            captured = snapshot.capture_exception(
                exc, mechanism, handled, attributes, self._packages
            )
            if not snapshot.passes_through(captured, self._packages):
                return
            _SEEN.add(exc, self._app)
            if not ask:
                # The caller may still handle it: wait a moment to learn how it ends.
                self._held_reports().hold(exc, captured)
                return
            admitted = self._admit_and_submit(captured)
            if admitted is not None:
                self._noted(mechanism, admitted.seq)
        except Exception:
            debug("otel_telemetry: capture failed", exc_info=True)

    def prepare(self) -> None:
        """Import now what the first report needs, so that it imports nothing.

        Called by ``install()``: a capture on the host's thread then only reads
        ``sys.modules``, never waits for the import lock (which the worker may hold
        while it imports the OpenTelemetry SDK), and its first run costs no more than
        the next ones. These modules import nothing but the standard library's
        ``sys``, ``os``, ``time``, ``itertools``, ``threading`` and ``collections``.
        """
        _capture_modules()
        from . import _storm  # noqa: F401

    def _after_fork_in_child(self) -> None:
        # Held by a thread the child does not have (one making the held reports' keeper),
        # and the threads reporting at the fork are not in the child: a new one there
        # may get the same ident.
        self._tentative_lock = threading.RLock()
        self._reporting = {}

    def _held_reports(self) -> Tentative:
        # Made at the first report held: one for all threads, so none is lost.
        with self._tentative_lock:
            if self._tentative_made is None:
                from ._tentative import Tentative

                self._tentative_made = Tentative(self._admit_and_submit, self._later)
            return self._tentative_made

    def _admit_and_submit(self, captured: CapturedException) -> Optional[CapturedException]:
        admitted = self._storm_guard().admit(captured)
        if admitted is not None:  # else a storm of the same crash: counted, sent with the count
            self._submit(admitted)
            self._submitted = True
        return admitted

    def release_waiting(self) -> None:
        """Queue now the reports waiting to learn how their exception ends (flush, exit)."""
        held = self._tentative_made
        if held is not None:
            held.release_all()

    def _accepted(self, exc: BaseException) -> bool:
        """The host's ``should_report`` keeps ``exc`` (True without a filter)."""
        should_report = self._should_report
        if should_report is None:
            return True
        try:
            return bool(should_report(exc))
        except BaseException as failure:  # the host's exception in flight must win
            warn_once(
                f"should_report:{self._app}",
                f"otel_telemetry: {self._app}'s should_report filter "
                f"{_callable_name(should_report)} raised {_type_name(failure)}; "
                "the report it was asked about was dropped",
            )
            return False

    def report_event(self, event: object, payload: object = None) -> None:
        """Queue a usage event within the limits of ``_events``; never raises, never blocks.

        Off by a variable: nothing is read. Otherwise the event is checked here, on the
        host's thread: one that breaks a limit is refused whole, with one warning, and
        nothing is queued. Whether the consent level lets it be recorded (``all``,
        ``local``) is decided on the worker.

        Args:
            event: a ``TelemetryEvent``, or an event name (a str).
            payload: with a name, a dict of properties (or None).
        """
        try:
            if self._denied():
                return
            parts = self._event_parts
            if parts is None:  # imported at the first event: an import costs every call
                from ._events import checked_event
                from ._snapshot import CapturedEvent

                parts = self._event_parts = (checked_event, CapturedEvent)
            checked = parts[0](self._app, event, payload)
            if checked is not None:
                self._submit(parts[1](name=checked[0], payload=checked[1]))
        except Exception:
            debug("otel_telemetry: send_event failed", exc_info=True)

    def send_counted(self, *, final: bool = True) -> None:
        """Queue, once, the crashes a storm counted but did not send, with their counts.

        Args:
            final: the process ends: every count goes. Otherwise (a host's ``flush()``)
                at most one count per crash and storm window, so that flushing after
                every crash never lets a storm through.
        """
        if self._storm is not None:
            for captured in self._storm.counted(final=final):
                self._submit(captured)

    def swap_storm_guard(self, guard: Optional[StormGuard]) -> Optional[StormGuard]:
        """Put ``guard`` in place (None: a new one at the next report); return the old one.

        :mod:`otel_telemetry.testing` gives each capture a guard that has counted nothing.
        """
        old, self._storm = self._storm, guard
        return old

    def _storm_guard(self) -> StormGuard:
        if self._storm is None:
            from ._storm import StormGuard

            self._storm = StormGuard(*self._storm_limits, on_counted=self._counted)
        return self._storm


class _Seen:
    """Which hosts (apps) reported which exception, without touching the exception.

    The same exception passes several mechanisms on its way out (nested
    ``capture_errors``, then ``sys.excepthook``) and is reported once per app. The mark
    cannot live on the exception: the host may serialise ``vars(exc)``. Exceptions
    cannot be weakly referenced, and an ``id()`` alone may be reused by a new exception
    at the same address as soon as the old one is freed (a crash in a loop), which would
    lose that report. So an entry holds the exception, and to keep the host's frames
    alive no longer than needed, every new report first forgets the exceptions nothing
    but this table refers to any more, and at most ``MAX`` are remembered.
    """

    MAX = 32
    # sys.getrefcount of an exception only this table holds: its entry, the loop's
    # variable and the call's argument.
    _ONLY_OURS = 3

    def __init__(self) -> None:
        # Reentrant, and every step tolerates a nested add: a host's signal handler may
        # report while its thread is in here (pop, never del, for that).
        self._lock = threading.RLock()
        self._entries: dict[int, tuple[BaseException, set[str]]] = {}

    def reported(self, exc: BaseException, app: str) -> bool:
        entry = self._entries.get(id(exc))
        return entry is not None and entry[0] is exc and app in entry[1]

    def add(self, exc: BaseException, app: str) -> None:
        with self._lock:
            self._forget_unreferenced()
            entry = self._entries.get(id(exc))
            if entry is None or entry[0] is not exc:
                self._entries.pop(id(exc), None)  # keep insertion order: oldest first
                entry = self._entries[id(exc)] = (exc, set())
                while len(self._entries) > self.MAX:
                    self._entries.pop(next(iter(self._entries)), None)
            entry[1].add(app)

    def _forget_unreferenced(self) -> None:
        for key, (held, _) in list(self._entries.items()):
            if sys.getrefcount(held) <= self._ONLY_OURS:
                self._entries.pop(key, None)

    def after_fork_in_child(self) -> None:
        # Another thread may have held the lock at the fork: it never lets go in the child.
        self._lock = threading.RLock()


def _on_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


_SEEN = _Seen()
renew_in_child(_SEEN.after_fork_in_child)

_FUNCTION = type(renew_in_child)
_METHOD = type(_SEEN.add)
_FUNCTION_NAME = vars(_FUNCTION)["__qualname__"].__get__
_FUNCTION_MODULE = vars(_FUNCTION)["__module__"].__get__
_METHOD_FUNCTION = vars(_METHOD)["__func__"].__get__


def _callable_name(func: object) -> str:
    """``module.qualname`` of a function or method, read without running the host's code."""
    try:
        if type(func) is _METHOD:
            func = _METHOD_FUNCTION(func)
        if type(func) is _FUNCTION:
            return f"{_FUNCTION_MODULE(func)}.{_FUNCTION_NAME(func)}"
        return f"(a {TYPE_MODULE(type(func))}.{TYPE_QUALNAME(type(func))} object)"
    except Exception:
        return "(unnamed)"


def _type_name(exc: BaseException) -> str:
    try:
        cls = type(exc)
        module = TYPE_MODULE(cls)
        name = TYPE_QUALNAME(cls)
        return name if module == "builtins" else f"{module}.{name}"
    except Exception:
        return "an exception"


_loaded: Optional[tuple[ModuleType, ModuleType, ModuleType]] = None


def _running(frame: FrameType) -> bool:
    """``frame`` is on the calling thread's stack (a report still being made)."""
    current: Optional[FrameType] = sys._getframe(1)
    while current is not None:
        if current is frame:
            return True
        current = current.f_back
    return False


def _capture_modules() -> tuple[ModuleType, ModuleType, ModuleType]:
    """``_exits``, ``_snapshot`` and ``_tentative``, imported once.

    ``prepare`` imports them at install when a report may go without asking; otherwise
    the first capture that is not refused does.

    Held here rather than imported in :meth:`Reporter.report`: an import statement costs
    a microsecond even of a module imported already, twice per report.
    """
    global _loaded
    if _loaded is None:
        from . import _exits, _snapshot, _tentative

        _loaded = (_exits, _snapshot, _tentative)
    return _loaded
