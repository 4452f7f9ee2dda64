"""``Telemetry``: the one object a host creates (DESIGN §1).

Importing this module, creating a ``Telemetry`` and calling ``install()`` must stay cheap
(DESIGN goal: well under the cost of importing ``opentelemetry.trace``), so only
``os``, ``sys``, ``atexit`` and ``threading`` are imported up front; everything else is
imported by the code path that needs it, on first use.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading

from . import _log
from ._environment import AppEnvironment, globally_disabled, split_names
from ._hooks import CrashHooks
from ._pipeline import Pipeline

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Iterable, Mapping
    from pathlib import Path
    from types import TracebackType
    from typing import Any, Callable, Optional, TypeVar, Union, overload

    import click

    from ._config_store import ConfigStore
    from ._consent import ConsentDecision, SessionChoice
    from ._mode import Mode
    from ._notebook import CellHook
    from ._scrubbing import ScrubbingOptions
    from ._status import TelemetryStatus
    from ._storm import StormGuard
    from .exporters import ExporterContext

    F = TypeVar("F", bound=Callable[..., Any])

#: With a DSN in force, crash reports go to Sentry; without one, to the local file.
DEFAULT_EXPORTERS = ("file",)
_PROMPT_READY_TIMEOUT = 10.0
DEFAULT_EXPORTERS_WITH_DSN = ("sentry",)
_REPORTED = "_otel_telemetry_reported"
_CO_COROUTINE = 0x80  # inspect.CO_COROUTINE, without importing inspect


class Telemetry:
    """Opt-in crash reporting for one host library.

    Creating it is cheap and has no side effect: nothing is hooked until :meth:`install`,
    nothing is imported from OpenTelemetry or Sentry until a report may be sent, and
    nothing is sent without consent (DESIGN §3).

    Args:
        app: names ``~/.<app>/config.json`` and the ``<APP>_*`` variables.
        package: module prefix, or prefixes, of the host; only crashes whose traceback
            passes through them are reported. Defaults to ``app``.
        version: the host's version, sent as ``service.version``.
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
    ) -> None:
        if not app or not isinstance(app, str):
            raise ValueError("Telemetry(app=...) must be a non-empty string")
        self.app = app
        if package is None:
            package = app
        self.packages = (package,) if isinstance(package, str) else tuple(package)
        self.version = version
        self._flush_timeout = flush_timeout
        self.display_name = display_name or app[:1].upper() + app[1:]
        self._prompt_timeout = prompt_timeout
        self._ignore = tuple(ignore)
        self._storm: Optional[StormGuard] = None
        self._storm_limits = (storm_limit, storm_window)
        # The terminal question is asked at most once per process: pending (a report waits
        # for it), prompted (it is being asked), answered (later reports are not held).
        self._prompt_pending = False
        self._prompted = False
        self._answered = False
        self._prompt_lock = threading.Lock()
        self._sentry_dsn = sentry_dsn
        if isinstance(exporters, str):
            self._exporters: Optional[tuple[str, ...]] = split_names(exporters)
        else:
            self._exporters = None if exporters is None else tuple(exporters)
        self._config_dir_arg = None if config_dir is None else os.fspath(config_dir)
        self._mode_override: Optional[str] = None
        self._session: Optional[SessionChoice] = None
        self._config_store: Optional[ConfigStore] = None
        self._environment = AppEnvironment(app)  # reads os.environ live
        self._hooks = CrashHooks(self._report_crash, settle=self._after_uncaught)
        self._cell_hook: Optional[CellHook] = None
        self._exit_deadline: Optional[float] = None
        self._atexit_registered = False
        self._pipeline = Pipeline(
            app=app,
            version=version,
            packages=self.packages,
            gate=self._decide,
            scrubbing=scrubbing,
            exporter_names=self._exporter_names,
            exporter_context=self._exporter_context,
            mode=self._mode,
            install_id=self._install_id,
        )

    # -- configuration, read live so that a changed environment takes effect at once ----

    @property
    def config_dir(self) -> Path:
        """``<APP>_CONFIG_DIR``, else the ``config_dir`` argument, else ``~/.<app>``."""
        from pathlib import Path

        return Path(self._config_dir_path())

    def _config_dir_path(self) -> str:
        # A plain string, for install(), which must not import pathlib.
        from_env = self._env().config_dir
        if from_env is not None:
            return from_env
        if self._config_dir_arg is not None:
            return os.path.expanduser(self._config_dir_arg)
        return os.path.join(os.path.expanduser("~"), f".{self.app}")

    @property
    def _store(self) -> ConfigStore:
        from ._config_store import ConfigStore

        config_dir = self.config_dir
        if self._config_store is None or self._config_store.config_dir != config_dir:
            self._config_store = ConfigStore(config_dir)
        return self._config_store

    @property
    def flush_timeout(self) -> float:
        """Seconds that exit may wait for reports: ``<APP>_TELEMETRY_FLUSH_TIMEOUT``, else the argument."""
        from_env = self._env().flush_timeout
        return self._flush_timeout if from_env is None else from_env

    @property
    def prompt_timeout(self) -> float:
        """Seconds the prompt waits: ``<APP>_TELEMETRY_PROMPT_TIMEOUT``, else the argument."""
        from_env = self._env().seconds("TELEMETRY_PROMPT_TIMEOUT")
        return self._prompt_timeout if from_env is None else from_env

    def _env(self) -> AppEnvironment:
        return self._environment

    def _environment_denies(self) -> bool:
        # The app thread's early out: only the variables, no file, no terminal check.
        # The full decision is made off the app thread, by the pipeline's gate.
        env = self._environment
        return globally_disabled(env.environ) is not None or env.telemetry_switch is False

    def _mode(self) -> Mode:
        from ._mode import resolve_mode

        env = self._env()
        return resolve_mode(self._mode_override, env.mode, env.name("TELEMETRY_MODE"), env.environ)

    def _decide(self) -> ConsentDecision:
        from ._consent import ConsentDecision, decide

        decision = decide(self._env(), self._store, self._mode(), self._session)
        if decision.state == "ask" and self._answered:
            # Asked once per process: whatever the answer, later reports are not held.
            return ConsentDecision("denied", "prompt:answered")
        return decision

    def _exporter_names(self) -> tuple[str, ...]:
        env = self._env()
        if env.debug:
            return ("console",)
        configured = env.exporters or self._exporters
        if configured:
            return configured
        return DEFAULT_EXPORTERS_WITH_DSN if self._sentry_dsn_in_force()[0] else DEFAULT_EXPORTERS

    def _sentry_dsn_in_force(self) -> tuple[Optional[str], Optional[str]]:
        env = self._env()
        if env.sentry_dsn is not None:
            return env.sentry_dsn, env.name("SENTRY_DSN")
        if self._sentry_dsn:
            return self._sentry_dsn, "baked in"
        return None, None

    def _exporter_context(self) -> ExporterContext:
        from .exporters import ExporterContext

        dsn, dsn_source = self._sentry_dsn_in_force()
        return ExporterContext(
            app=self.app,
            version=self.version,
            config_dir=self.config_dir,
            environ=os.environ,
            sentry_dsn=dsn,
            sentry_dsn_source=dsn_source,
            packages=self.packages,
        )

    def _outbox_dir(self) -> str:
        return os.path.join(self._config_dir_path(), "telemetry", "outbox")

    def _outbox_count(self) -> int:
        try:
            with os.scandir(self._outbox_dir()) as entries:
                return sum(1 for e in entries if not e.name.startswith("."))
        except OSError:
            return 0

    def _outbox_waiting(self) -> bool:
        return self._outbox_count() > 0

    def _install_id(self) -> Optional[str]:
        from ._install_id import load_or_create

        return load_or_create(self.config_dir)

    # -- public API -----------------------------------------------------------------------

    def install(self, mode: Optional[Mode] = None) -> None:
        """Hook uncaught exceptions (main and other threads) and bound the exit flush.

        Cheap and idempotent; the hooks chain to the ones they replace. ``mode`` forces
        ``server``, ``interactive``, ``notebook`` or ``non-interactive``.
        """
        if mode is not None:
            self._mode_override = mode
        self._hooks.install()
        if self._outbox_waiting():
            # Reports an earlier run could not send: sent by the worker, in the background.
            self._pipeline.schedule_drain()
        if "IPython" in sys.modules:  # a kernel or an IPython shell: cells bypass excepthook
            from ._notebook import CellHook

            if self._cell_hook is None:
                self._cell_hook = CellHook(self._report_crash)
            self._cell_hook.install()
        if not self._atexit_registered:
            atexit.register(self._at_exit)
            self._atexit_registered = True

    def enable(self, email: Optional[str] = None, always: bool = True) -> None:
        """Agree to send crash reports; ``always=False`` agrees for this process only.

        Raises:
            ValueError: ``email`` is not an email address.
        """
        from ._consent import SessionChoice, validated_email

        email = validated_email(email)
        self._session = SessionChoice(True, email)
        if always:
            self._save(enabled=True, email=email)
        self._pipeline.release_held()

    def disable(self) -> None:
        """Stop sending, save that choice; forget the email, the install id and waiting reports."""
        from ._consent import SessionChoice
        from ._install_id import forget

        self._session = SessionChoice(False)
        self._save(enabled=False, email=None)
        forget(self.config_dir)
        self._pipeline.discard_held()
        # Withdrawn consent covers what waits on disk too.
        try:
            with os.scandir(self._outbox_dir()) as entries:
                for entry in entries:
                    os.unlink(entry.path)
        except OSError:
            pass

    def _save(self, *, enabled: bool, email: Optional[str]) -> None:
        try:
            self._store.save(enabled=enabled, email=email)
        except OSError as exc:
            _log.warn_once(
                "save",
                f"Could not save the telemetry choice in {self._store.path} ({exc.strerror});"
                " it holds for this session only.",
            )
            return
        self._session = None  # saved: the file is the truth from now on

    def status(self) -> TelemetryStatus:
        """Return whether reports are sent, what decided it, and where they go."""
        from ._status import TelemetryStatus

        decision = self._decide()
        return TelemetryStatus(
            app=self.app,
            enabled={"granted": True, "denied": False, "ask": None}[decision.state],
            decided_by=decision.source,
            mode=self._mode(),
            exporters=self._exporter_names(),
            config_file=self._store.path,
            email=decision.email,
            sentry_dsn_source=self._sentry_dsn_in_force()[1],
            dropped=self._pipeline.dropped,
            waiting=self._outbox_count(),
        )

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
        capture = ErrorCapture(self)
        return capture if func is None else capture(func)

    def capture_exception(self, exc: Optional[BaseException] = None) -> None:
        """Report an exception the host caught (by default, the one being handled)."""
        if exc is None:
            exc = sys.exc_info()[1]
        if exc is not None:
            self._report(exc, "capture_exception", handled=True)

    def send_event(self, name: str, payload: Optional[Mapping[str, Any]] = None) -> None:
        """Send a usage event, with the anonymous install id, under the same consent."""
        try:
            if self._environment_denies():
                return
            from ._capture import CapturedEvent

            self._pipeline.submit(CapturedEvent(name=str(name), payload=dict(payload or {})))
        except Exception:
            _log.debug("otel_telemetry: send_event failed", exc_info=True)

    def flush(self, timeout: Optional[float] = None) -> bool:
        """Send what waits (this run's queue, and reports earlier runs left on disk).

        Returns True when all of it went through the pipeline in time. With no timeout,
        waits as long as the exporters' own timeouts allow.
        """
        try:
            self._send_counted()
            if self._outbox_waiting():
                self._pipeline.schedule_drain()
            return self._pipeline.flush(timeout)
        except Exception:
            _log.debug("otel_telemetry: flush failed", exc_info=True)
            return False

    def shutdown(self) -> None:
        """Remove the hooks, flush within ``flush_timeout`` and close the exporters."""
        self._hooks.uninstall()
        if self._cell_hook is not None:
            self._cell_hook.uninstall()
        if self._atexit_registered:
            atexit.unregister(self._at_exit)
            self._atexit_registered = False
        try:
            self._pipeline.shutdown(self.flush_timeout)
        except Exception:
            _log.debug("otel_telemetry: shutdown failed", exc_info=True)

    def cli(self) -> click.Group:
        """A click group ``telemetry`` with ``enable [--email]``, ``disable``, ``status``, ``show``."""
        from ._cli import telemetry_group

        return telemetry_group(lambda: self)

    def add_to_argparse(self, subparsers: Any, name: str = "telemetry") -> argparse.ArgumentParser:
        """Mount ``enable|disable|status|show`` in an argparse host, under ``name``.

        Args:
            subparsers: what the host's ``parser.add_subparsers()`` returned.
            name: the command's name.

        Returns:
            The new subparser; it sets ``func``, so ``args.func(args)`` runs the command
            and returns its exit code.
        """
        from ._cli import add_to_argparse

        return add_to_argparse(lambda: self, subparsers, name)

    # -- reporting ------------------------------------------------------------------------

    def _report_crash(self, exc: BaseException, mechanism: str) -> None:
        self._report(exc, mechanism, handled=False)

    def _report(
        self,
        exc: BaseException,
        mechanism: str,
        handled: bool,
        attributes: Optional[Mapping[str, Any]] = None,
    ) -> None:
        try:
            from ._capture import capture_exception, is_crash, passes_through

            self._hooks.watch_asyncio()
            if not is_crash(exc) or isinstance(exc, self._ignore):
                return
            if self.app in getattr(exc, _REPORTED, ()) or self._environment_denies():
                return
            if attributes is None:
                from ._request import request_attributes

                attributes = request_attributes()
            captured = capture_exception(exc, mechanism, handled, attributes)
            if not passes_through(captured, self.packages):
                return
            _mark_reported(exc, self.app)
            if not self._storm_guard().admit(captured):
                return  # a storm of the same crash: counted, sent later with the count
            self._pipeline.submit(captured)
            self._note_question(mechanism)
        except Exception:
            _log.debug("otel_telemetry: capture failed", exc_info=True)

    # -- the consent question ----------------------------------------------------------------

    def _note_question(self, mechanism: str) -> None:
        if self._prompted or self._environment.telemetry_switch is not None:
            return
        if self._decide().state != "ask":
            return
        self._prompt_pending = True
        # A notebook's question is a widget under the cell: it never blocks, show it now.
        # In a terminal, a report the host handled, on the main thread outside an event
        # loop, is asked about at once. An exception still propagating is asked about
        # once it has ended (after its traceback, in the excepthook) or at exit; so is
        # one captured in a running event loop or another thread, so that the loop
        # never freezes.
        if self._mode() == "notebook" or (mechanism == "capture_exception" and _at_safe_point()):
            self._ask_if_pending()

    def _ask_if_pending(self) -> None:
        with self._prompt_lock:
            if not self._prompt_pending or self._prompted:
                return
            self._prompted = True
        mode = self._mode()
        if mode == "notebook":
            from ._notebook import show_question

            show_question(self, widgets_allowed=self._env().widgets is not False)
            return
        if mode != "interactive":
            self._prompted = False
            return
        from ._prompt import TerminalPrompt

        self._pipeline.flush(_PROMPT_READY_TIMEOUT)  # the report is built and held, for [v]
        answer = TerminalPrompt(
            self.display_name, self._pipeline.preview_held, self.prompt_timeout
        ).ask()
        self._answer_question(answer.choice, answer.email)

    def _answer_question(self, choice: str, email: Optional[str]) -> None:
        """Apply the user's answer: ``once``, ``always``, ``never`` or ``dismissed``."""
        from ._consent import ConsentDecision, SessionChoice

        self._answered = True
        if choice == "once":
            decision = ConsentDecision("granted", "prompt", email)
            self._pipeline.release_held(decision, first_only=True)  # "send this error only"
        elif choice == "always":
            self._session = SessionChoice(True, email)
            self._save(enabled=True, email=email)
            self._pipeline.release_held()
        elif choice == "never":
            self._session = SessionChoice(False)
            self._save(enabled=False, email=None)
            self._pipeline.discard_held()
        else:
            self._pipeline.discard_held()

    def _after_uncaught(self) -> None:
        self._ask_if_pending()
        self._send_counted()
        self._flush_for_exit()

    def _flush_for_exit(self) -> None:
        # One budget for the whole exit, however many times we are asked to wait in it.
        import time

        now = time.monotonic()
        if self._exit_deadline is None:
            self._exit_deadline = now + self.flush_timeout
        self._pipeline.flush(max(0.0, self._exit_deadline - now))

    def _storm_guard(self) -> StormGuard:
        if self._storm is None:
            from ._storm import StormGuard

            self._storm = StormGuard(*self._storm_limits)
        return self._storm

    def _send_counted(self) -> None:
        """Send, once, the crashes a storm counted but did not send, with their counts."""
        if self._storm is not None:
            for captured in self._storm.counted():
                self._pipeline.submit(captured)

    def _at_exit(self) -> None:
        try:
            self._ask_if_pending()
            self._send_counted()
            self._flush_for_exit()
        except Exception:
            pass


class ErrorCapture:
    """Reports exceptions leaving a block or a function, then lets them propagate."""

    __slots__ = ("_telemetry",)

    def __init__(self, telemetry: Telemetry) -> None:
        self._telemetry = telemetry

    def __enter__(self) -> ErrorCapture:
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        if exc is not None:
            self._telemetry._report(exc, "capture_errors", handled=False)

    async def __aenter__(self) -> ErrorCapture:
        return self

    async def __aexit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def __call__(self, func: F) -> F:
        import functools  # at decoration time, not at import time

        report = self._telemetry._report
        if _is_coroutine_function(func):
            # asyncio is in use: start seeing its tasks' unretrieved exceptions too.
            self._telemetry._hooks.watch_asyncio()

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                try:
                    return await func(*args, **kwargs)
                except BaseException as exc:
                    report(exc, "capture_errors", False)
                    raise

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return func(*args, **kwargs)
            except BaseException as exc:
                report(exc, "capture_errors", False)
                raise

        return wrapper  # type: ignore[return-value]


def _at_safe_point() -> bool:
    """True on the main thread with no event loop running in it."""
    if threading.current_thread() is not threading.main_thread():
        return False
    asyncio = sys.modules.get("asyncio")
    return asyncio is None or asyncio.events._get_running_loop() is None


def _is_coroutine_function(func: Callable[..., Any]) -> bool:
    code = getattr(func, "__code__", None)
    if code is not None:
        return bool(code.co_flags & _CO_COROUTINE)
    import inspect  # partials, callable objects: rare, and only at decoration time

    return inspect.iscoroutinefunction(func)


def _mark_reported(exc: BaseException, app: str) -> None:
    # Exceptions cannot be weakly referenced, so the mark lives on the exception itself.
    try:
        exc.__dict__.setdefault(_REPORTED, set()).add(app)
    except (AttributeError, TypeError):
        pass
