"""``Telemetry``: the one object a host creates; a thin facade over the parts.

Settings, consent, the question, the reporter and the pipeline each own one concern
(see docs/ARCHITECTURE.md); this class wires them and holds the public API. Creating
it and calling ``install()`` must stay cheap: only light modules are imported here.
"""

from __future__ import annotations

import sys
import threading

from . import _log
from ._fork import renew_in_child
from ._layout import reports_waiting
from ._settings import Settings
from .capture._lifecycle import Lifecycle
from .capture._reporter import Reporter
from .consent._consent import Consent

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    import os
    from collections.abc import Iterable, Mapping
    from pathlib import Path
    from typing import Any, Callable, Optional, TypeVar, Union, overload

    import click

    from ._control import Cleaned
    from ._status import TelemetryStatus
    from .capture._decorator import ErrorCapture
    from .capture._events import PropertyValue, TelemetryEvent
    from .capture._logging import LogCapture
    from .consent._question import Question
    from .consent._types import Level, Mode
    from .pipeline._pipeline import Pipeline
    from .scrubbing import ScrubbingOptions

    F = TypeVar("F", bound=Callable[..., Any])


_LONG_RUNNING = ("server", "notebook")
"""Modes whose process outlives many reports: their pipeline is built at ``install()``."""


class Telemetry:
    """Opt-in crash reporting for one host library.

    Creating it is cheap and has no side effect: nothing is hooked until :meth:`install`,
    nothing is imported from OpenTelemetry or Sentry until a report may be sent, and
    nothing is sent without consent.

    Every argument is checked here. ``app`` names files and variables and has no safe
    default: a bad one raises ``ValueError``. Any other argument of a wrong type or value
    never fails the host's import: it costs one warning on the ``otel_telemetry`` logger,
    which names the argument without repeating its value (a repr can hold a path or a
    key), and its default is used (a ``version`` that is not a str, such as a module,
    is sent as ``unknown``).

    Args:
        app: names ``~/.<app>/config.json`` and the ``<APP>_*`` variables.
        package: module prefix, or prefixes, of the host; only crashes whose traceback
            passes through them are reported. Defaults to ``app``.
        version: the host's version (a str), sent as ``service.version`` and in the Sentry
            release.
        sentry_dsn: the DSN baked into the host; ``<APP>_SENTRY_DSN`` replaces it.
        exporters: exporter names used when ``<APP>_TELEMETRY_EXPORTER`` is unset.
        config_dir: replaces ``~/.<app>`` when ``<APP>_CONFIG_DIR`` is unset.
        scrubbing: how reports are scrubbed; every rule is on by default.
        flush_timeout: the most, in seconds, that process exit waits for reports.
        display_name: the host's name in messages to users; ``app`` capitalised by default.
        prompt_timeout: seconds the terminal prompt waits for each answer.
        ignore: exception classes that are never reported, such as the host's own
            user-input errors.
        storm_limit: reports of one crash (same types, same place) per ``storm_window``
            seconds; further ones are counted and their count sent with the next report.
        storm_window: seconds.
        environment: the deployment environment (``production``, ``staging``), sent as
            ``deployment.environment.name`` and as the Sentry environment;
            ``<APP>_ENVIRONMENT`` replaces it. None: no environment is sent (Sentry shows
            ``production``).
        otlp_endpoint: the ``otlp`` exporter's base URL (``/v1/traces`` is added for
            http/protobuf), such as a gateway of the host's maintainers;
            ``<APP>_OTLP_ENDPOINT`` or ``<APP>_OTLP_TRACES_ENDPOINT`` replace it. The host
            application's ``OTEL_EXPORTER_OTLP_*`` variables are never read.
        otlp_headers: headers for ``otlp_endpoint``, a mapping or ``"k=v,k2=v2"``
            (URL-encoded); ``<APP>_OTLP_HEADERS`` replaces them. They are never sent to an
            endpoint set by a variable.
        otlp_protocol: ``http/protobuf`` (the default) or ``grpc`` (the ``grpc`` extra);
            ``<APP>_OTLP_PROTOCOL`` replaces it.
        should_report: the host's filter for expected failures, ``exc -> bool``, run on
            the host's thread before anything is captured: False drops the report. An
            exception inside it is logged once and that report dropped. For a failing
            exit it is given the original exception.
        capture_logging: report the exception of a record logged at ERROR or above, with
            ``exc_info``, by the host's package loggers (``acme``, ``acme.*``): only the
            exception, never the record's message or arguments; reported only when
            consent is already given (it was handled). The host's logging is unchanged.
        privacy_url: where users read what is sent; named in the server-mode notice.
        policy_version: the version of what this host collects (default 1). Raise it in
            a release that collects more or sends elsewhere: a yes saved for an older
            version no longer counts (terminal and notebook users are asked again at
            their next crash; server mode shows its notice again); a saved no stays no.
        server_level: what server mode sends by default: ``crash`` (crash reports, the
            default) or ``all`` (crash reports and usage events), named in the notice.
        posthog_key: the project key of the ``posthog`` exporter (the ``posthog``
            extra); ``<APP>_POSTHOG_KEY`` replaces it. Never written to disk; ``status``
            names where it came from, never the key.
        posthog_host: where the ``posthog`` exporter sends, such as
            ``https://eu.i.posthog.com``; ``<APP>_POSTHOG_HOST`` replaces it; PostHog's US
            cloud (``https://us.i.posthog.com``) by default. One that is not an http(s)
            URL sends nothing (the local file keeps the reports), never the default.
        opt_out_env: the host's own opt-out variables, such as ``["ANONYMIZED_TELEMETRY"]``
            for a host that documented one before: any of them set to ``0``, ``false``,
            ``no`` or ``off`` (any case) turns everything off, as ``<APP>_TELEMETRY=0``
            does, and ``status`` names it; other values leave the decision to the rest.

    Raises:
        ValueError: ``app`` is not a non-empty str usable as a file and variable name.
    """

    def __init__(
        self,
        app: str,
        package: Union[str, Iterable[str], None] = None,
        version: str = "unknown",
        *,
        sentry_dsn: Optional[str] = None,
        exporters: Union[str, Iterable[str], None] = None,
        config_dir: Union[str, os.PathLike[str], None] = None,
        scrubbing: Optional[ScrubbingOptions] = None,
        flush_timeout: float = 1.0,
        display_name: Optional[str] = None,
        prompt_timeout: float = 30.0,
        ignore: Iterable[type[BaseException]] = (),
        storm_limit: int = 5,
        storm_window: float = 60.0,
        environment: Optional[str] = None,
        otlp_endpoint: Optional[str] = None,
        otlp_headers: Union[str, Mapping[str, str], None] = None,
        otlp_protocol: Optional[str] = None,
        should_report: Optional[Callable[[BaseException], bool]] = None,
        capture_logging: bool = True,
        privacy_url: Optional[str] = None,
        policy_version: int = 1,
        server_level: str = "crash",
        posthog_key: Optional[str] = None,
        posthog_host: Optional[str] = None,
        opt_out_env: Union[str, Iterable[str], None] = None,
    ) -> None:
        # Every argument checked (see Settings): ValueError for `app`, warnings otherwise.
        self.settings = Settings(
            app, package, version, sentry_dsn=sentry_dsn, exporters=exporters,
            config_dir=config_dir, scrubbing=scrubbing, flush_timeout=flush_timeout,
            prompt_timeout=prompt_timeout, display_name=display_name, environment=environment,
            otlp_endpoint=otlp_endpoint, otlp_headers=otlp_headers, otlp_protocol=otlp_protocol,
            ignore=ignore, storm_limit=storm_limit, storm_window=storm_window,
            should_report=should_report, capture_logging=capture_logging,
            privacy_url=privacy_url, policy_version=policy_version, server_level=server_level,
            posthog_key=posthog_key, posthog_host=posthog_host, opt_out_env=opt_out_env,
        )  # fmt: skip
        self.app = app
        # The parts, for integrations (reporter: hooks, decorator, ASGI, cells) and for
        # otel_telemetry.testing; not a stable API.
        self.consent = Consent(self.settings)
        self._pipeline: Optional[Pipeline] = None  # made by install(), or when first used
        # Makes the pipeline and the question once, whichever thread first needs them.
        # Reentrant: a host's signal handler that reports while its own thread is making
        # one must not wait for itself (the first one made is kept).
        self._making = threading.RLock()
        renew_in_child(self._after_fork_in_child)
        self._question: Optional[Question] = None  # made when first used
        self._log_capture: Optional[LogCapture] = None
        self._lifecycle = Lifecycle(
            self._report_crash,
            before_exit=self._before_exit,
            flush=self._flush_at_exit,
            ending=self._program_ending,
            budget=lambda: self.settings.flush_timeout,
            # Off (the environment or the saved choice): no SIGTERM handler, nothing of
            # ours to flush; the host's signal handling stays as it was.
            server=lambda: (
                self.settings.mode() == "server"
                and not self.consent.environment_denies()
                and self.consent.decide().state != "denied"
            ),
        )
        self.reporter = Reporter(
            app=app,
            packages=self.settings.packages,
            ignore=self.settings.ignore,
            storm_limits=self.settings.storm_limits,
            denied=self.consent.environment_denies,
            # Decided on the host's thread without an import (Consent.prepare at install),
            # and without reading config.json when a variable decides.
            granted=self.consent.grants,
            refused=self.consent.refuses,
            declined=self.consent.declines,
            should_report=self.settings.should_report,
            submit=lambda captured: self.pipeline.submit(captured),
            noted=self._note,
            watch_asyncio=self._lifecycle.hooks.watch_asyncio,
            # A storm's count goes to the outbox when its window closes, not only at exit.
            counted=lambda when: self.pipeline.call_at(
                when, lambda: self.reporter.send_counted(final=False)
            ),
            later=lambda when, job: self.pipeline.call_at(when, job),
        )

    @property
    def question(self) -> Question:
        """The consent question, asked at most once per process."""
        question = self._question
        if question is None:
            with self._making:  # two threads' first crashes: one question, asked once
                if self._question is None:
                    from .consent._question import Question

                    made = Question(self.settings, self.consent, self.pipeline)
                    if self._question is None:  # else made meanwhile by a signal handler
                        self._question = made
                question = self._question
        return question

    @property
    def pipeline(self) -> Pipeline:
        """The worker side, made when first used.

        ``install()`` uses it when a report may go without asking, when reports wait on
        disk, or in a long-running process; otherwise a first capture (that asks) or a
        command makes it.
        """
        pipeline = self._pipeline
        if pipeline is None:
            with self._making:  # two threads' first captures: one pipeline
                if self._pipeline is None:
                    from .pipeline._pipeline import Pipeline

                    made = Pipeline(
                        self.settings, self.consent.decide, withdrawn_ns=self._withdrawn_ns
                    )
                    if self._pipeline is None:  # else made meanwhile by a signal handler
                        self._pipeline = made
                pipeline = self._pipeline
        return pipeline

    def _after_fork_in_child(self) -> None:
        # A fork while another thread made the pipeline: that thread is not in the child,
        # and the lock it held would stay held there (the child makes its own pipeline).
        self._making = threading.RLock()

    def _note(self, mechanism: str, seq: int) -> None:
        # A report was admitted: the question hears of it, and is made (imported) only
        # when it may ask. Settled without asking (a variable, a saved choice, the
        # server default), the question would only read the decision and return.
        if self._question is None:
            state = self.consent.known() or self.consent.decide().state
            if state != "ask":
                return
        self.question.note(mechanism, seq)

    @property
    def config_dir(self) -> Path:
        """``<APP>_CONFIG_DIR``, else the ``config_dir`` argument, else ``~/.<app>``."""
        return self.settings.config_dir

    def install(self, mode: Optional[Mode] = None) -> None:
        """Hook uncaught exceptions (main and other threads) and bound the exit flush.

        Cheap and idempotent; the hooks chain to the ones they replace. ``mode`` forces
        ``server``, ``interactive``, ``notebook`` or ``non-interactive``. In server mode,
        when reports are sent by that default, the one-line notice is written to stderr
        now (once per process per app; nothing is sent before it).
        """
        if mode is not None:
            self.settings.mode_override = mode
        if self.settings.mode() == "server":
            # Sent by default: operators read the one-line notice when the server starts,
            # not at its first crash (it is shown once per process; sending waits for it).
            from .consent._notice import ServerNotice

            try:
                ServerNotice(self.settings).show_at_start(self.consent.decide)
            except Exception:  # an unreadable config.json: the first send shows it
                _log.debug("otel_telemetry: the server-mode notice failed", exc_info=True)
        self._lifecycle.install()
        if self.settings.capture_logging:
            if self._log_capture is None:
                from .capture._logging import LogCapture

                self._log_capture = LogCapture(self._report_logged, self.settings.packages)
            self._log_capture.install()
        known = self.consent.known()
        if known is None or known == "granted":
            # A report may go without asking (a variable, the server default, or a
            # config.json, whose saved choice may be a yes: it is not read here, so
            # that a host that never crashes never has its file read): what a capture
            # needs is imported now (about 1 ms), and the pipeline made. The first
            # crash on the host's thread then imports nothing (no wait for the import
            # lock the worker may hold while it imports the SDK), like the next ones.
            # Otherwise nothing is imported for it: refused (no choice and no terminal,
            # or off by a variable), a capture is declined before any import; one that
            # asks (a terminal, a notebook) imports it at that crash, where a person is
            # about to answer.
            self.reporter.prepare()
            _ = self.pipeline
            if known is None:
                self.consent.prepare()  # the reader of the saved choice, for each capture
        if reports_waiting(self.settings.config_dir_path()):
            # Reports an earlier run could not send: sent by the worker, in the background.
            self.pipeline.schedule_drain()
        if self.settings.mode() in _LONG_RUNNING and not self.consent.environment_denies():
            # A server or a notebook with consent already on (the server default, a saved
            # yes, <APP>_TELEMETRY=1; decided on the worker) imports the SDK and builds
            # the pipeline now, on the worker, so that its first crash waits for no import.
            # Never in a command line: it may never crash, and its exit must stay cheap.
            self.pipeline.warm()

    def enable(
        self,
        email: Optional[str] = None,
        always: bool = True,
        usage: bool = False,
        local: bool = False,
    ) -> None:
        """Agree to send crash reports; ``always=False`` agrees for this process only.

        Args:
            email: an address the maintainers may write to, sent with crash reports.
            always: save the choice in ``config.json``; False: for this process only.
            usage: anonymous usage events too (level ``all``); crash reports only otherwise.
            local: record reports on this machine only, never upload them (``local``).

        Raises:
            ValueError: ``email`` is not an email address, or both ``usage`` and ``local``.
        """
        from .consent._precedence import validated_email

        if usage and local:
            raise ValueError("choose usage=True or local=True, not both")
        level: Level = "local" if local else "all" if usage else "crash"
        self.consent.choose(True, validated_email(email), save=always, level=level)
        self._withdraw_question()
        if local:
            # Nothing consented for upload waits any more (as at disable()); what waits
            # for the file exporter in local mode stays, and so does the install id.
            self.pipeline.forget_stored(install_id=False, uploads_only=True)
        # Held for the question: recorded as the choice now says (locally, for `local`).
        self.pipeline.release_held()

    def disable(self) -> None:
        """Stop sending, save that choice; forget the email, the install id and waiting reports."""
        self.consent.choose(False)
        self._withdraw_question()
        self.pipeline.discard_held()
        self.pipeline.forget_stored()  # withdrawn consent covers what waits on disk too

    def show(self, *, sent: bool = False, as_json: bool = False, show_all: bool = False) -> None:
        """Print the newest report kept on this machine, as a person reads it.

        Args:
            sent: list the record of sent reports instead (time, exporter, delivery id).
            as_json: the exact OTLP/JSON instead of the readable form.
            show_all: every kept report, not only the newest.
        """
        from ._control import show_text
        from ._view import wants_color

        text = show_text(
            self.settings,
            sent=sent,
            as_json=as_json,
            show_all=show_all,
            color=wants_color(sys.stdout),  # a terminal, without NO_COLOR
        )
        print(text)

    def clean(self) -> Cleaned:
        """Delete what is kept on this machine but the saved choice, and say what went.

        The outbox, stored and sent reports, the install id and the backoff state are
        removed; ``config.json`` keeps the user's choice. Never raises.
        """
        from ._control import clean

        return clean(self.settings)

    def status(self) -> TelemetryStatus:
        """Return whether reports are sent, what decided it, and where they go."""
        from ._status import current_status

        return current_status(self.settings, self.consent, self.pipeline)

    if TYPE_CHECKING:

        @overload
        def capture_errors(self, func: F) -> F: ...

        @overload
        def capture_errors(self, func: None = None) -> ErrorCapture: ...

    def capture_errors(self, func: Optional[F] = None) -> Union[F, ErrorCapture]:
        """Report exceptions escaping a function, sync or async, and re-raise them.

        Use as ``@telemetry.capture_errors``, ``@telemetry.capture_errors()`` or
        ``with telemetry.capture_errors():`` (also ``async with``).
        """
        from .capture._decorator import ErrorCapture

        capture = ErrorCapture(self.reporter)
        return capture if func is None else capture(func)

    def capture_exception(self, exc: Optional[BaseException] = None) -> None:
        """Report an exception the host caught (by default, the one being handled)."""
        exc = sys.exc_info()[1] if exc is None else exc
        if exc is not None:
            try:
                self.reporter.report(exc, "capture_exception", handled=True)
            except Exception:  # RecursionError near the limit: the host goes on
                pass

    if TYPE_CHECKING:

        @overload
        def send_event(self, event: TelemetryEvent, /) -> None: ...

        @overload
        def send_event(
            self, name: str, payload: Optional[Mapping[str, PropertyValue]] = None
        ) -> None: ...

    def send_event(
        self,
        name: Union[str, TelemetryEvent],
        payload: Optional[Mapping[str, PropertyValue]] = None,
    ) -> None:
        """Send a usage event, with the anonymous install id, at consent level ``all``.

        ``send_event(CrawlFinished(pages=3, browser="chromium", success=True))`` sends a
        :class:`TelemetryEvent` (its class's ``name``, its fields as properties);
        ``send_event("crawl_finished", {"pages": 3})`` sends a name and a dict. Recorded
        only when the user chose usage events too (level ``all``, or ``local``); sent
        to every exporter but ``sentry``, scrubbed like every report.

        The limits, checked now on the caller's thread: names of 1 to 64 characters of
        ``a-z``, ``0-9``, ``_`` and ``.``, starting with a letter (not ``otel_telemetry.*``
        nor ``user.email``); at most 32 properties; each value a ``bool``, an ``int``
        (64-bit), a finite ``float``, a ``str`` of at most 64 characters, None (the
        property is then left out), or a list or tuple of at most 64 items of one of
        those types (not None). Exact types only: a subclass (an enum member) is not
        read. An event that breaks a limit is not sent at all, and one warning names the
        event, the property and the problem, never the value. Never raises.
        """
        self.reporter.report_event(name, payload)

    def flush(self, timeout: Optional[float] = None) -> bool:
        """Send what waits (this run's queue, and reports earlier runs left on disk).

        Returns True when all of it went through the pipeline in time. With no timeout,
        waits as long as the exporters' own timeouts allow.
        """
        try:
            # Everything waiting goes, even the exception of an `except` or `finally:`
            # block this is called from: a flush promises what was captured is sent
            # (one on its way out of a `finally:` block goes as handled).
            self.reporter.release_waiting()
            self.reporter.send_counted(final=False)
            if reports_waiting(self.settings.config_dir_path()):
                self.pipeline.schedule_drain()
            elif self._pipeline is None:
                return True  # nothing captured, nothing on disk: nothing to import for it
            return self.pipeline.flush(timeout)
        except Exception:
            _log.debug("otel_telemetry: flush failed", exc_info=True)
            return False

    def shutdown(self) -> None:
        """Remove the hooks, flush within ``flush_timeout`` and close the exporters."""
        self._lifecycle.uninstall()
        if self._log_capture is not None:
            self._log_capture.uninstall()
        try:
            self.reporter.release_waiting()  # handled reports still waiting go too
            self.reporter.send_counted()
            if self._pipeline is not None:
                self._pipeline.shutdown(self.settings.flush_timeout)
        except Exception:
            _log.debug("otel_telemetry: shutdown failed", exc_info=True)

    def cli(self) -> click.Group:
        """The click group ``telemetry``, to add to the host's command line.

        Its commands: ``enable [--email] [--usage]``, ``local``, ``disable``,
        ``status [--json]``, ``show [--all] [--sent] [--json]`` and ``clean``.
        """
        from ._cli import telemetry_group

        return telemetry_group(lambda: self)

    def add_to_argparse(self, subparsers: Any, name: str = "telemetry") -> argparse.ArgumentParser:
        """Mount the ``telemetry`` commands (as :meth:`cli`) in an argparse host, under ``name``.

        Args:
            subparsers: what the host's ``parser.add_subparsers()`` returned.
            name: the command's name.

        Returns:
            The new subparser; it sets ``func``, so ``args.func(args)`` runs the command
            and returns its exit code.
        """
        from ._cli import add_to_argparse

        return add_to_argparse(lambda: self, subparsers, name)

    # -- process lifecycle ------------------------------------------------------------------

    def _report_crash(self, exc: BaseException, mechanism: str) -> None:
        self.reporter.report(exc, mechanism, handled=False)

    def _report_logged(self, exc: BaseException) -> None:
        # Logged by the host: handled, so sent only with consent already given.
        self.reporter.report(exc, "logging", handled=True, ask=False)

    def _withdraw_question(self) -> None:
        if self._question is not None:
            self._question.withdraw()

    def _withdrawn_ns(self) -> int:
        from .consent._store import withdrawn_ns  # on the worker, at the first drain

        return withdrawn_ns(self.settings.config_dir)

    def _flush_at_exit(self, timeout: float) -> bool:
        # Never made: nothing was captured and no drain was started, so nothing waits
        # for this exit (what an earlier run left stays on disk for a later one).
        pipeline = self._pipeline
        return True if pipeline is None else pipeline.flush_at_exit(timeout)

    def _program_ending(self) -> None:
        # Never made: no report may go without asking (install() makes it otherwise),
        # so there is no hand-off to prepare.
        if self._pipeline is not None:
            self._pipeline.program_ending()

    def _before_exit(self) -> None:
        if self._question is not None:
            self._question.ask_if_pending()
        self.reporter.release_waiting()
        self.reporter.send_counted()
