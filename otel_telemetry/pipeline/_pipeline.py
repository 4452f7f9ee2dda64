"""Pipeline: moves captures from the app thread to the exporters without blocking the host.

The app thread only queues (:meth:`Pipeline.submit`). One worker records: it builds
the span, and the processor gates, scrubs and writes it to the outbox; a second worker
sends what the first recorded. The OpenTelemetry SDK, the exporters and the scrubber are
imported on the workers at the first report, never when the host imports us. Every
action on held reports runs on the recording worker, in the order it was asked for.

A flush that runs out of time before the recorder took every capture (the SDK still
importing at exit, a machine under load, a budget of 50 ms) writes the captures left,
consented and scrubbed, to the outbox itself, without the SDK (``_report``): a consented
report is on disk before the process ends, whatever the budget. Each capture is taken
once, by the recorder or by that flush.

What the decision's level asks is applied here, before anything is built: a usage event
goes on only at ``all`` or ``local`` (``decision.usage``), and at ``local`` the pipeline
is built with the ``file`` exporter alone, no outbox written or drained. Every report
dropped is counted by its reason (:meth:`Pipeline.drops`).
"""

from __future__ import annotations

import threading
from collections import deque

from otel_telemetry._fork import renew_in_child
from otel_telemetry._layout import (
    clear_reports,
    ensure_dir,
    outbox_dir,
    reports_waiting,
    spool_dir,
)
from otel_telemetry._log import debug

from ._worker import Worker, wait_time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Optional

    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.trace.export import SpanExporter

    from otel_telemetry._settings import Settings
    from otel_telemetry.capture._snapshot import Captured
    from otel_telemetry.consent._precedence import ConsentDecision

    from ._provider import Built

MAX_QUEUE = 16_384
"""The most captures waiting for the recorder: a burst of 10,000 distinct crashes fits."""
MAX_QUEUE_BYTES = 32 * 1024 * 1024
"""The most bytes of captures waiting for the recorder, as :func:`_estimated_size` counts
them: the bound on memory whatever the captures hold (a message is up to 64 KiB)."""
BATCH = 512
"""The most captures recorded in one batch: one outbox file, one delivery job, one
request per exporter that takes batches."""
MAX_JOBS = 256
"""The most jobs waiting on the recording worker."""
MAX_DELIVERIES = 256
"""The most jobs waiting on the sending worker (the batches they send wait in the
sending processor, bounded there: ``_sending.MAX_WAITING``)."""
IDLE_EXIT_WAIT = 0.2
"""Seconds the exit of a process that reported nothing lends to older reports' sending:
they wait on disk anyway, and a healthy command must not pay the budget every run."""
IN_FLIGHT_WAIT = 0.25
"""Seconds a hand-off at exit waits for a send this process has under way: a healthy
endpoint answers in far less, and a confirmed report is not sent again by the sender."""
RECORD_GRACE = 2.0
"""Seconds a flush that ran out of time still waits for a capture the recorder is
writing: local work (scrub, one file), never the network; only a stalled disk uses it."""

# Why a report was dropped, as ``drops()`` and ``status()`` name it.
NO_CONSENT = "no consent"
"""Off, or the question was not answered yes (held reports discarded)."""
USAGE_OFF = "usage events off"
"""A usage event at level ``crash``, or while the user is asked: never built nor held."""
QUEUE_FULL = "queue full"
"""More captures queued than the worker could take (:data:`MAX_QUEUE`, :data:`MAX_QUEUE_BYTES`)."""
SCRUBBING_FAILED = "scrubbing failed"
"""The scrubber raised: a report is never forwarded raw."""
OUTBOX_FULL = "outbox full"
"""The oldest waiting reports, dropped to keep the outbox within its bounds."""
FAILED_CHECKS = "failed checks"
"""Read back from the outbox, a report was not one of ours, or failed its checks."""
DROP_REASONS = (
    NO_CONSENT,
    USAGE_OFF,
    QUEUE_FULL,
    SCRUBBING_FAILED,
    OUTBOX_FULL,
    FAILED_CHECKS,
)


class _Pending:
    """A capture on its way to the recorder; ``taken`` once recorded or written at exit.

    ``deferred``: made while the process was ending, so not queued for the recorder: the
    exit hands it to the detached sender (or a flush queues it).
    """

    __slots__ = ("captured", "deferred", "taken")

    def __init__(self, captured: Captured, deferred: bool = False) -> None:
        self.captured = captured
        self.taken = False
        self.deferred = deferred


class Pipeline:
    """The worker side of one ``Telemetry``.

    Args:
        settings: the host's settings, read live (exporters, config dir, mode, scrubbing).
        gate: the consent decision, asked for every report and before every drain.
        withdrawn_ns: when consent was last withdrawn (ns since the epoch, 0: never); a
            waiting report written before that is never sent.
    """

    def __init__(
        self,
        settings: Settings,
        gate: Callable[[], ConsentDecision],
        withdrawn_ns: Optional[Callable[[], int]] = None,
    ) -> None:
        self._settings = settings
        self._gate = gate
        self._withdrawn_ns = withdrawn_ns
        # Two threads: one records (span, gate, scrub, outbox on disk), one sends, so that
        # an endpoint that does not answer never keeps a new report from the disk.
        # Captures wait in batches (the recorder takes all that queued while it was busy,
        # up to BATCH), bounded in count and bytes.
        self._worker = Worker(
            "otel_telemetry",
            MAX_JOBS,
            local=True,
            max_items=MAX_QUEUE,
            max_bytes=MAX_QUEUE_BYTES,
            max_batch=BATCH,
        )
        self._sender = Worker("otel_telemetry.send", MAX_DELIVERIES)
        self._built: Optional[Built] = None
        self._route: Optional[SpanExporter] = None
        self._withdrawals = 0  # disable() calls: a send queued before one is not made
        self._submitted = False  # this process captured something
        self._ending = False  # the process is ending: captures wait for the hand-off
        # Captures not yet taken, oldest first (the recorder pops what it took).
        self._unrecorded: deque[_Pending] = deque(maxlen=MAX_QUEUE)
        self._take_lock = threading.Lock()
        self._recorded = threading.Condition(self._take_lock)
        self._recording = 0  # captures taken by the recorder and not yet on disk
        # Drops counted here (no consent, usage events off), and those of
        # builds that were replaced: their processor and outbox go with them.
        self._drops = dict.fromkeys(DROP_REASONS, 0)
        # A child forked while another thread held the lock must not wait for it.
        renew_in_child(self._after_fork)

    # -- from the app thread ----------------------------------------------------------------

    def submit(self, captured: Captured) -> None:
        """Queue a capture; never blocks (a full queue drops its oldest capture).

        Captures queued while the recorder is busy are recorded together, as one batch.
        """
        self._submitted = True
        self._enqueue(_Pending(captured, deferred=self._ending))

    def _enqueue(self, pending: _Pending) -> None:
        """Note ``pending`` as unrecorded and queue it, unless the exit's hand-off takes it."""
        with self._take_lock:
            self._unrecorded.append(pending)
        if pending.deferred:
            return  # the exit's hand-off takes it (see program_ending)
        self._queue(pending)

    def _queue(self, pending: _Pending) -> None:
        dropped = self._worker.submit_item(
            pending, self._record_batch, _estimated_size(pending.captured)
        )
        if dropped:
            with self._take_lock:  # counted by the worker (queue full); never written at exit
                for gone in dropped:
                    gone.taken = True

    def program_ending(self) -> None:
        """The main thread's uncaught exception is about to end the process.

        Called on the app thread just before that exception is reported. When a detached
        sender can take this process's reports at exit (``_handoff.can_hand_off``: not a
        server, an interpreter to start), consent is granted now and no other thread of
        the host keeps the process alive, its report and any made from now on are not
        queued for the recorder: the exit writes them to the spool and the sender
        delivers them. So the ending process neither imports the SDK nor builds a span
        only to hand the report over, and its exit does not compete with that work for
        the interpreter. Anything else (asked: the question needs the recorded report;
        off; a thread still running) is as before. Never raises.
        """
        try:
            if self._route is not None or self._ending:
                return
            main = threading.main_thread()
            for thread in threading.enumerate():
                if thread is not main and not thread.daemon and thread.is_alive():
                    return  # the process goes on after the main thread: record as usual
            if self._gate().state != "granted":
                return
            from ._handoff import can_hand_off

            self._ending = can_hand_off(self._settings)
        except Exception:
            debug("otel_telemetry: deciding the hand-off at the crash failed", exc_info=True)

    def call_at(self, when: float, job: Callable[[], object]) -> None:
        """Run ``job`` on the recording worker once ``time.monotonic()`` reaches ``when``.

        Never blocks; a flush does not wait for a job whose time has not come. A forked
        child does not run its parent's (its worker starts afresh).
        """
        self._worker.submit_at(when, job)

    def schedule_drain(self) -> None:
        """Send, on the worker, the reports that earlier runs or attempts left in the outbox."""
        self._worker.submit(self._drain)

    def warm(self) -> None:
        """Build, on the recording worker, what the first report needs, if consent is on.

        For a long-running process (a server, a notebook) whose consent is already given:
        the worker imports the OpenTelemetry SDK, the exporters (protobuf...) and the
        span builder, builds the provider (the scrubber's rules compiled), and makes
        the record of a report of its own, which it keeps nowhere (the span builder's
        path roots, the standard library modules of the outbox's write and of a
        connection's host name), so that its first crash waits for no import. The
        consent decision is made on the worker too; without it nothing is built. Nothing
        is sent, no connection opened, the outbox neither read nor written. Never
        blocks, never raises; a build that fails is built again by the first report.
        """

        def build() -> None:
            try:
                decision = self._gate()
                if decision.state != "granted":
                    return  # asked, or off: a report builds what it needs, if ever
                self._build(decision.local)
                import tempfile  # noqa: F401  the outbox's atomic write
                import zlib  # noqa: F401  compressed exports

                from otel_telemetry.capture._snapshot import CapturedException, RawException

                from . import _install_id  # noqa: F401  what `_record` imports
                from ._report import new_record

                "localhost".encode("idna")  # a connection's host name: encodings.idna
                frame = (__file__, 1, "warm", __name__)
                exception = RawException("builtins", "ValueError", "", (frame,))
                new_record(
                    CapturedException((exception,), "warm", True, seq=0),
                    packages=self._settings.packages,
                    mode=self._settings.mode(),
                    install_id=None,
                    resource={},
                )
            except Exception:
                debug("otel_telemetry: warming the pipeline failed", exc_info=True)

        self._worker.submit(build)

    def release_held(
        self, decision: Optional[ConsentDecision] = None, *, only: Optional[int] = None
    ) -> None:
        """Send the reports held while the user was asked.

        Args:
            decision: the user's answer for these reports (``[1]``); by default the gate
                is asked again.
            only: the ``seq`` of the one report to send, the one the question was about;
                every other held report stays held. None: every held report.
        """
        self._worker.submit(lambda: self._on_held(release=True, decision=decision, only=only))

    def discard_held(self) -> None:
        """Forget the reports held while the user was asked."""
        self._worker.submit(lambda: self._on_held(release=False))

    def after_queued(self, job: Callable[[], object]) -> None:
        """Run ``job`` on the recording worker after every report queued so far."""
        self._worker.submit(job)

    def preview_held(self, only: Optional[int] = None) -> str:
        """The held reports exactly as they would be sent, as indented OTLP/JSON.

        Args:
            only: the ``seq`` of the one report to show, exactly what
                ``release_held(only=...)`` would send; None: every held report.
        """
        document = self.preview_document(only)
        if document is None:
            return "(no report is waiting)"
        import json

        return json.dumps(document, indent=2, ensure_ascii=False)

    def preview_document(self, only: Optional[int] = None) -> Optional[dict[str, Any]]:
        """The held reports exactly as they would be sent, as an OTLP/JSON document.

        Args:
            only: as for :meth:`preview_held`.

        Returns:
            ``{"resourceSpans": [...]}``, or None when no such report is held.
        """
        built = self._built
        spans = built.processor.preview_held(only) if built is not None else []
        if not spans:
            return None
        from otel_telemetry.exporters import encode_otlp_json

        document: dict[str, Any] = encode_otlp_json(spans)
        return document

    def held(self) -> int:
        """Reports held in this process while the user is asked."""
        built = self._built
        return built.processor.held_count if built is not None else 0

    def waiting(self) -> int:
        """Reports in the outbox of the config dir in force (cheap: no SDK, no pathlib)."""
        return reports_waiting(self._settings.config_dir_path())

    def forget_stored(self, install_id: bool = True, *, uploads_only: bool = False) -> None:
        """Delete the reports waiting on disk, and the install id (consent was withdrawn).

        Args:
            install_id: delete the install id too; False keeps it (``local`` was chosen:
                what waits for upload goes, the user's id stays theirs).
            uploads_only: delete only what waits for an upload (``local`` was chosen);
                reports written for the ``file`` exporter in local mode stay.
        """
        from ._install_id import forget

        self._withdrawals += 1
        directory = outbox_dir(self._settings.config_dir_path())
        if uploads_only:
            from pathlib import Path

            from ._outbox import Outbox

            Outbox(Path(directory)).forget_uploads()
        else:
            # Captures a crashed process left for its sender (unscrubbed) first: never
            # sent now. One its sender converts meanwhile is named by its crash's time,
            # before the withdrawal, so the sender's drain deletes it unsent.
            clear_reports(spool_dir(self._settings.config_dir_path()))
            clear_reports(directory)
        if install_id:
            forget(self._settings.config_dir)

    def flush(self, timeout: Optional[float]) -> bool:
        """Wait until every queued report is recorded, then sent; bounded by ``timeout``.

        Recording comes first: when the time runs out while sending, every report is
        already on disk, and a later flush or run sends it. Captures that a crashing
        process spooled and its detached sender did not deliver (killed, or out of
        time) are scrubbed into the outbox and sent too (``_handoff``).
        """
        import time

        self._queue_deferred()
        self._convert_spooled()
        timeout = wait_time(timeout)
        deadline = None if timeout is None else time.monotonic() + timeout

        def remaining() -> Optional[float]:
            return None if deadline is None else max(0.0, deadline - time.monotonic())

        if not self._worker.wait(timeout):
            self._write_unrecorded()
            return False
        if not self._sender.wait(remaining()):
            return False
        built = self._built
        if built is None:
            return True
        left = remaining()
        return built.provider.force_flush(30_000 if left is None else int(left * 1000))

    def _queue_deferred(self) -> None:
        """Queue for the recorder the captures kept for a hand-off that is not made."""
        with self._take_lock:
            deferred = [p for p in self._unrecorded if p.deferred and not p.taken]
            for pending in deferred:
                pending.deferred = False
        for pending in deferred:
            self._queue(pending)

    def _convert_spooled(self) -> None:
        """Queue, on the recorder, the conversion of spooled captures, then a drain.

        Cheap when the spool is empty (one ``listdir``, nothing imported).
        """
        import os

        from otel_telemetry._layout import spool_dir

        if self._route is not None or self._sender_started:
            return  # the testing seam; or this process's sender converts them
        try:
            if not os.listdir(spool_dir(self._settings.config_dir_path())):
                return
        except OSError:
            return
        self._worker.submit(self._take_spooled)
        self.schedule_drain()

    def _take_spooled(self) -> None:
        # On the recorder: under the sender lock (a detached sender converting now keeps it).
        decision = self._gate()
        if decision.state == "ask":
            return  # spooled with consent, but the user is being asked again: it waits
        from ._handoff import running_senders, take_spooled

        if running_senders(self._settings.config_dir_path()):
            return  # a detached sender runs for this config dir: it converts them
        withdrawn = self._withdrawn_ns() if self._withdrawn_ns is not None else 0
        take_spooled(self._settings, decision, withdrawn)

    def flush_at_exit(self, timeout: float) -> bool:
        """:meth:`flush` as the process ends, within what is left of its exit budget.

        A process that captured something and has consent hands its reports to a
        detached sender (``_handoff``) and returns without waiting for the network: the
        captures the recorder has not taken are written to the spool, the ones it is
        writing are waited for (local work, at most :data:`RECORD_GRACE`), and the
        sender, which waits for this process to end, delivers them. Not in server mode,
        with the testing seam, or where no sender can start: then the flush below.

        A process that captured nothing waits at most :data:`IDLE_EXIT_WAIT` for the
        sending of reports earlier runs left: they stay on disk for a later run.
        """
        if not self._submitted:
            timeout = min(timeout, IDLE_EXIT_WAIT)
        elif self._hand_off(timeout):
            return True
        return self.flush(timeout)

    def shutdown(self, timeout: Optional[float]) -> None:
        """Flush, then shut the private provider and its exporters down."""
        self.flush(timeout)
        built = self._built
        if built is not None:
            self._retire(built)

    def route_to(self, exporter: Optional[SpanExporter], *, timeout: Optional[float]) -> bool:
        """Send every later report to ``exporter`` alone (None: back to the configured ones).

        The in-memory seam of :mod:`otel_telemetry.testing`: no outbox, no backoff file,
        no network. The switch is a job of the worker, so every report queued before it
        goes where reports went before, and every report queued after it goes to the new
        route, however long the worker is busy. Waits at most ``timeout`` seconds for it.

        Returns:
            True when the switch was made within ``timeout``.
        """
        self._worker.submit(lambda: self._switch_route(exporter))
        return self._worker.wait(timeout)

    @property
    def dropped(self) -> int:
        """Reports dropped in this process, for every reason (the sum of :meth:`drops`)."""
        return sum(self.drops().values())

    def drops(self) -> dict[str, int]:
        """Reports dropped in this process, by reason: every one of :data:`DROP_REASONS`.

        Cheap (counters only, nothing is read from disk), from any thread.
        """
        counts = dict(self._drops)
        counts[QUEUE_FULL] += self._worker.dropped
        built = self._built
        if built is not None:
            for reason, count in _drops_of(built).items():
                counts[reason] += count
        return counts

    # -- on the worker ------------------------------------------------------------------------

    def _build(self, local: bool = False) -> Built:
        # Settings are read live: exporters, their destinations or a config dir changed
        # since the last build (a variable set by a test or a long-lived host), or the
        # user's switch to or from local mode, mean a new build; the reports it held for
        # the question move to the new one (so a report held before `local` was chosen
        # is recorded locally, never uploaded by the old build).
        settings = self._settings
        key = (
            settings.exporter_names(),
            settings.config_dir_path(),
            settings.sentry_dsn()[0],
            settings.otlp_route(),
            settings.posthog(),
            settings.environment(),
            local,
        )
        built = self._built
        held: list[tuple[Optional[int], ReadableSpan]] = []
        if built is not None and built.key != key:
            held = built.processor.take_held()
            self._retire(built)
        if self._built is None:
            from otel_telemetry._log import host_warnings_kept

            with host_warnings_kept():  # the SDK's imports and get_tracer add filters
                from ._provider import build

                self._built = build(
                    self._settings,
                    self._gate,
                    self._route,
                    key,
                    self._send_later,
                    withdrawn_ns=self._withdrawn_ns,
                    local=local,
                    later=self._sender.submit_at,
                )
        if held:
            self._built.processor.hold(held)
        return self._built

    def _retire(self, built: Built) -> None:
        """Shut a build down, keeping the count of what it dropped."""
        if self._built is built:
            self._built = None
        built.provider.shutdown()  # discards what it held: counted below
        for reason, count in _drops_of(built).items():
            self._drops[reason] += count

    def _record(self, pending: _Pending) -> None:
        self._record_batch([pending])

    def _record_batch(self, batch: list[_Pending]) -> None:
        """Record captures queued together: one build, one outbox file, one delivery job."""
        from otel_telemetry.capture._snapshot import CapturedEvent

        with self._take_lock:  # taken ones (recorded, dropped, written at exit) leave
            while self._unrecorded and self._unrecorded[0].taken:
                self._unrecorded.popleft()
        decision = self._gate()
        state = decision.state
        # Decided before anything is built: a crash without consent imports nothing, and
        # a usage event the level does not allow is never built, nor held for a question.
        kept = []
        for pending in batch:
            reason = (
                NO_CONSENT
                if state == "denied"
                else USAGE_OFF
                if isinstance(pending.captured, CapturedEvent) and not decision.usage
                else None
            )
            if reason is None:
                kept.append(pending)
            elif self._take(pending):
                self._drop(reason)
        if not kept:
            return

        from ._install_id import load_or_create
        from ._spans import record_span

        try:
            built = self._build(decision.local)
        except Exception as exc:  # the SDK cannot load here (a host variable it rejects)
            self._write_without_sdk(kept, exc)
            return
        # Taken only now: while the SDK was imported, an ending process could write them.
        taken = [pending for pending in kept if self._take(pending, recording=True)]
        moved: list[int] = []
        mode = self._settings.mode()
        try:
            # On disk (one file) when the block ends: a flush that runs out of time waits
            # for the recorder's count of these to reach 0 (`_recording`). The gate is
            # asked once for the batch, and once more before it is stored.
            with built.sending.batch() as cancel, built.processor.deciding(decision) as redo:
                for pending in taken:
                    captured = pending.captured
                    try:
                        install_id = None
                        # The id is created only for an event that may leave now, never in
                        # a test route.
                        if (
                            isinstance(captured, CapturedEvent)
                            and state == "granted"
                            and self._route is None
                        ):
                            install_id = load_or_create(self._settings.config_dir)
                        with built.processor.recording(captured.seq):  # held spans know it
                            record_span(
                                built.recorder,
                                captured,
                                packages=self._settings.packages,
                                mode=mode,
                                install_id=install_id,
                            )
                    except Exception:  # one capture that fails never costs the others
                        debug("otel_telemetry: report failed", exc_info=True)
                        continue
                    moved.append(captured.seq)
                end = self._gate()
                if (end.state, end.local, end.usage) != (
                    decision.state,
                    decision.local,
                    decision.usage,
                ):
                    # The choice changed while they were recorded (withdrawn, `local`):
                    # each report is gated again, as the gate says now.
                    cancel()
                    redo()
            now = self._gate()
            if now.state == "granted" and now.local and not built.processor.local:
                # `local` chosen while they were recorded: the processor held them;
                # recorded now through a local build (after the batch: never inside it).
                for seq in moved:
                    self._on_held(release=True, only=seq)
        finally:
            with self._recorded:
                self._recording -= len(taken)
                self._recorded.notify_all()

    def _write_without_sdk(self, batch: list[_Pending], error: Exception) -> None:
        """Keep a consented report on disk when the pipeline cannot be built.

        The OpenTelemetry SDK refuses to import when the host sets one of its variables to
        a value it rejects (``OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT=abc``): the report is written
        to the outbox without the SDK, as at exit, and waits there for a run that can
        send it. One warning names the kind of error, never the host's value.
        """
        from otel_telemetry._log import warn_once

        decision = self._gate()
        if decision.state != "granted":
            return
        captures = [pending.captured for pending in batch if self._take(pending)]
        if not captures:
            return
        warn_once(
            "pipeline-build",
            "the OpenTelemetry SDK could not be loaded in this process"
            f" ({type(error).__name__}; an OTEL_* variable it rejects?): reports are kept"
            " in the outbox and delivered by a later run",
        )
        from ._spool import write_captures

        write_captures(captures, self._settings, decision)

    def _take(self, pending: _Pending, *, recording: bool = False) -> bool:
        with self._take_lock:
            if pending.taken:
                return False
            pending.taken = True
            self._recording += recording
            return True

    def _write_unrecorded(self) -> None:
        # On the flushing thread: the recorder did not take these in time.
        if self._route is not None or not self._unrecorded:
            return  # the testing seam keeps its reports in memory, never on disk
        import time

        decision = self._gate()
        if decision.state == "ask":
            return  # the recorder holds them for the question: never written unasked
        deadline = time.monotonic() + RECORD_GRACE
        waiting = self._take_unrecorded(decision)
        if waiting:  # in local mode, for the file exporter alone
            from ._spool import write_captures

            write_captures(waiting, self._settings, decision)
        self._wait_recorded(deadline)

    def _take_unrecorded(self, decision: ConsentDecision) -> list[Captured]:
        """Take every capture the recorder has not taken; those ``decision`` allows."""
        from otel_telemetry.capture._snapshot import CapturedEvent

        with self._take_lock:
            waiting = [p.captured for p in self._unrecorded if not p.taken]
            for pending in self._unrecorded:
                pending.taken = True
            self._unrecorded.clear()
        if decision.state != "granted":
            self._drop(NO_CONSENT, len(waiting))
            return []
        if not decision.usage:
            events = [c for c in waiting if isinstance(c, CapturedEvent)]
            self._drop(USAGE_OFF, len(events))
            waiting = [c for c in waiting if not isinstance(c, CapturedEvent)]
        return waiting

    def _wait_recorded(self, deadline: float) -> None:
        """Wait until the captures the recorder took are on disk, at most until ``deadline``."""
        import time

        with self._recorded:
            self._recorded.wait_for(
                lambda: not self._recording, max(0.0, deadline - time.monotonic())
            )

    _sender_started = False  # this process handed off to a detached sender already

    def _hand_off(self, timeout: float) -> bool:
        """At exit: spool what is left and start the detached sender; False: flush here.

        The exiting thread imports only ``_handoff`` (base modules): no SDK, no scrubber.
        When the SDK is loaded already, the recorder's work left is local (reports held
        for the question and released at exit, scrub, one file): it gets ``timeout``
        (at most :data:`RECORD_GRACE`) to finish, as in a flush; what it has not taken
        then is spooled.
        """
        if self._route is not None:
            return False  # the testing seam keeps its reports in memory
        with self._take_lock:
            untaken = any(not p.taken for p in self._unrecorded)
        if not untaken and self._worker.wait(0) and self._sender.wait(0):
            # Everything went already (the flush returns at once), or to the sender.
            return self._sender_started
        from ._handoff import can_hand_off, start_sender, take_spooled, write_spool

        settings = self._settings
        if not can_hand_off(settings):
            return False
        decision = self._gate()
        if decision.state != "granted":
            return False  # asked (held for the question) or off: as the flush decides
        if not decision.local and not settings.exporters_in_use():
            return False  # exporter "none": nothing is sent, nothing kept
        try:
            ensure_dir(outbox_dir(settings.config_dir_path()))
        except OSError:
            # No outbox a sender could write (a link or a file in its place): it would
            # leave the spool unscrubbed. This process sends, without a copy on disk.
            return False
        import time

        deadline = time.monotonic() + RECORD_GRACE
        if self._built is not None:
            self._worker.wait(min(timeout, RECORD_GRACE))
        waiting = self._take_unrecorded(decision)
        spooled, left = write_spool(waiting, settings.config_dir_path(), decision)
        if left:
            # The spool refused them (a file or a link in its place, a full disk; one too
            # large to be read back): scrubbed into the outbox here, without the SDK, as
            # a flush out of time does.
            from ._spool import write_captures

            refused = write_captures(left, settings, decision)
            if refused:
                # Neither the spool nor the outbox takes them (a full or read-only disk):
                # no sender could find them. Recorded and sent by this process, without
                # a copy on disk, as a flush does when the disk refuses.
                for captured in refused:
                    self._enqueue(_Pending(captured))
                return False
        if spooled + len(left) < len(waiting):
            self._drop(OUTBOX_FULL, len(waiting) - spooled - len(left))  # beyond the bounds
        self._wait_recorded(deadline)
        # Sends queued here and not begun are the sender's now (it waits for this
        # process to end, so what this process has claimed is abandoned by then).
        self._withdrawals += 1
        # A send already under way finishes first (briefly): once confirmed, its claim is
        # settled, and the sender does not send that report again.
        self._sender.wait(min(timeout, IN_FLIGHT_WAIT))
        if self._sender_started:
            return True  # the sender started earlier takes what was spooled since
        if start_sender(settings, decision) is None:
            self._withdrawals -= 1
            take_spooled(settings, decision)  # no sender: scrubbed here, sent below
            return False
        self._sender_started = True
        return True

    def _drop(self, reason: str, count: int = 1) -> None:
        self._drops[reason] += count

    def _after_fork(self) -> None:
        self._take_lock = threading.Lock()
        self._recorded = threading.Condition(self._take_lock)
        self._recording = 0
        self._unrecorded.clear()  # the parent's captures: the parent reports them
        self._submitted = False
        self._ending = False
        # The parent's exporters, processor and provider may hold locks its threads held
        # at the fork: the child builds its own at its first report.
        self._built = None

    def _switch_route(self, exporter: Optional[SpanExporter]) -> None:
        built = self._built
        self._route = exporter
        if built is not None:
            self._retire(built)

    def _send_later(self, job: Callable[[], object], on_disk: bool = False) -> None:
        # A report on disk may be dropped from a full queue: a later flush sends it.
        queued_at = self._withdrawals

        def send() -> None:
            if self._withdrawals == queued_at:  # consent was not withdrawn meanwhile
                job()
            else:  # called off: what it would have sent waits on disk
                skip = getattr(job, "skip", None)
                if skip is not None:
                    skip()

        self._sender.submit(send, droppable=on_disk)

    def _drain(self) -> None:
        decision = self._gate()
        if decision.state != "granted":
            return  # no consent now: what waits, waits (disable() clears it)
        if self._route is None:
            # Captures a crashed process spooled and its sender did not convert (killed,
            # out of time): scrubbed into the outbox first, then sent with the rest.
            self._take_spooled()
        # Local mode: the local build's drain records what waits for `file` and leaves
        # what waits for an upload (consented under another choice) where it is.
        self._send_later(self._build(decision.local).sending.drain)

    def _on_held(
        self,
        *,
        release: bool,
        decision: Optional[ConsentDecision] = None,
        only: Optional[int] = None,
    ) -> None:
        built = self._built
        if built is None:
            return
        if release:
            # Through the build of the choice now in force: `enable(local=True)` records
            # what was held on this machine, never through the upload build it was held in.
            try:
                built = self._build(self._gate().local)
            except Exception:  # the SDK cannot load now: the old build still can
                debug("otel_telemetry: rebuilding before a release failed", exc_info=True)
            built.processor.release_held(decision, only=only)
        else:
            built.processor.discard_held()


def _estimated_size(captured: Captured) -> int:
    """Bytes a waiting capture holds, roughly: its messages, and a tuple of four per frame.

    Cheap (on the app thread): lengths only. The strings of frames (file, function) are
    mostly the code objects' own, shared, so a frame counts as its tuple.
    """
    exceptions = getattr(captured, "exceptions", None)
    if exceptions is None:
        return 2048  # a usage event: short names and values, checked at the call
    size = 512
    for entry in exceptions:
        size += 200 + len(entry.message) + 100 * len(entry.frames)
    return size


def _drops_of(built: Built) -> dict[str, int]:
    """What one build's processor and outbox dropped, by reason."""
    processor = built.processor
    scrubbing = processor.scrubbing_failed
    sending = built.sending
    outbox = sending.outbox
    checks = sending.failed_checks + (outbox.unreadable if outbox is not None else 0)
    return {
        NO_CONSENT: processor.dropped - scrubbing - processor.usage_off,
        USAGE_OFF: sending.usage_off + processor.usage_off,
        SCRUBBING_FAILED: scrubbing,
        OUTBOX_FULL: max(0, outbox.dropped - checks - sending.usage_off)
        if outbox is not None
        else 0,
        FAILED_CHECKS: checks,
    }
