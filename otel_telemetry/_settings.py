"""Settings: what one ``Telemetry`` was given, checked once, resolved live against the environment.

Every argument is checked when ``Telemetry(...)`` is created (see :class:`Settings`): a
bad ``app`` raises ``ValueError``; any other bad argument costs one warning on the
``otel_telemetry`` logger, naming the argument (never repeating its value, whose repr
could hold a path or a key), and its safe default is used. A host's import never
fails because of its telemetry.

Every value that a variable can override is a method or property read at the moment it
is needed, so a changed environment takes effect at once and nothing is cached that a
test or a user would have to reset. Only ``os`` is imported up front: the app thread
resolves settings on every crash.
"""

from __future__ import annotations

import os
import sys

from ._log import warn_once
from .consent._environment import (
    OTLP_PROTOCOLS,
    AppEnvironment,
    env_prefix,
    is_http_url,
    parse_headers,
    split_names,
    valid_header,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from pathlib import Path
    from typing import Any, Callable, Optional, Union

    from ._layout import Layout
    from .consent._types import Level, Mode
    from .exporters import ExporterContext
    from .exporters._route import OtlpRoute
    from .scrubbing import ScrubbingOptions

    Headers = tuple[tuple[str, str], ...]

#: Without a DSN in force, crash reports stay in the local file; with one, go to Sentry.
DEFAULT_EXPORTERS = ("file",)
DEFAULT_EXPORTERS_WITH_DSN = ("sentry",)
DEFAULT_VERSION = "unknown"
DEFAULT_FLUSH_TIMEOUT = 1.0
DEFAULT_PROMPT_TIMEOUT = 30.0
DEFAULT_STORM_LIMIT = 5
DEFAULT_STORM_WINDOW = 60.0
OTLP_ARGUMENT = "argument otlp_endpoint"
DEFAULT_POSTHOG_HOST = "https://us.i.posthog.com"
"""PostHog's US cloud, where the ``posthog`` exporter sends when no host is given."""
BAKED_IN = "baked in"


class Settings:
    """The arguments of ``Telemetry(...)``, checked, and the variables that override them.

    Errors and warnings: ``app`` is the one argument without a safe default (it names
    the config dir and the variables), so a bad one raises ``ValueError``. Every other
    argument of a wrong type or value gives one warning, which names the argument but
    never repeats the value, and its default is used: ``version`` (not a str: ``unknown``),
    ``packages`` (not a str or strings: ``app``), ``sentry_dsn``, ``exporters``,
    ``config_dir``, ``scrubbing`` (not a ``ScrubbingOptions``: every rule on),
    ``flush_timeout``, ``prompt_timeout`` and ``storm_window`` (not a finite number >= 0),
    ``storm_limit`` (not an int >= 1), ``ignore`` (what is not an exception class is left
    out), ``display_name``, ``environment``, the ``otlp_*`` arguments, ``should_report``
    (not callable: every report is kept), ``capture_logging`` (not a bool: True),
    ``privacy_url`` (not an http(s) URL: left out of the server notice),
    ``policy_version`` (not an int >= 1: 1), ``server_level`` (not ``crash`` or
    ``all``: ``crash``), ``posthog_key``, ``posthog_host`` (not an http(s) URL: the
    ``posthog`` exporter sends nothing) and ``opt_out_env`` (not a variable name or a
    list of them: ignored; a bad name in the list is left out).

    Args:
        app: names ``~/.<app>`` and the ``<APP>_*`` variables.
        packages: the host's module prefix, or prefixes; ``app`` when None.
        version: the host's version, a str.
        sentry_dsn: the DSN baked into the host.
        exporters: exporter names used when ``<APP>_TELEMETRY_EXPORTER`` is unset.
        config_dir: replaces ``~/.<app>`` when ``<APP>_CONFIG_DIR`` is unset.
        scrubbing: the scrubbing options.
        flush_timeout: seconds exit may wait, unless ``<APP>_TELEMETRY_FLUSH_TIMEOUT``.
        prompt_timeout: seconds the prompt waits, unless ``<APP>_TELEMETRY_PROMPT_TIMEOUT``.
        display_name: the host's name in messages; ``app`` capitalised by default.
        environment: the deployment environment, unless ``<APP>_ENVIRONMENT``.
        otlp_endpoint: the ``otlp`` exporter's base URL, unless ``<APP>_OTLP_ENDPOINT``
            or ``<APP>_OTLP_TRACES_ENDPOINT``.
        otlp_headers: its headers, a mapping or ``k=v,k2=v2``, unless ``<APP>_OTLP_HEADERS``.
        otlp_protocol: ``http/protobuf`` or ``grpc``, unless ``<APP>_OTLP_PROTOCOL``.
        ignore: exception classes that are never reported.
        storm_limit: reports of one crash per ``storm_window``.
        storm_window: seconds.
        should_report: the host's filter, ``exc -> bool``, run before a capture.
        capture_logging: report exceptions logged at ERROR by the host's loggers.
        privacy_url: where users read what is sent, named in the server notice.
        policy_version: the host's version of what it collects; a saved yes given for
            an older one is asked again.
        server_level: what server mode collects by default, ``crash`` or ``all``.
        posthog_key: the ``posthog`` exporter's project key, unless ``<APP>_POSTHOG_KEY``.
        posthog_host: its host, unless ``<APP>_POSTHOG_HOST``; PostHog's US cloud by default.
        opt_out_env: the host's own opt-out variables: any of them set to ``0``, ``false``,
            ``no`` or ``off`` turns everything off, as ``<APP>_TELEMETRY=0`` does.

    Raises:
        ValueError: ``app`` is not a non-empty str usable as a file and variable name.
    """

    def __init__(
        self,
        app: str,
        packages: Union[str, Iterable[str], None] = None,
        version: str = DEFAULT_VERSION,
        *,
        sentry_dsn: Optional[str] = None,
        exporters: Union[str, Iterable[str], None] = None,
        config_dir: Union[str, os.PathLike[str], None] = None,
        scrubbing: Optional[ScrubbingOptions] = None,
        flush_timeout: float = DEFAULT_FLUSH_TIMEOUT,
        prompt_timeout: float = DEFAULT_PROMPT_TIMEOUT,
        display_name: Optional[str] = None,
        environment: Optional[str] = None,
        otlp_endpoint: Optional[str] = None,
        otlp_headers: Union[str, Mapping[str, str], None] = None,
        otlp_protocol: Optional[str] = None,
        ignore: Iterable[type[BaseException]] = (),
        storm_limit: int = DEFAULT_STORM_LIMIT,
        storm_window: float = DEFAULT_STORM_WINDOW,
        should_report: Optional[Callable[[BaseException], bool]] = None,
        capture_logging: bool = True,
        privacy_url: Optional[str] = None,
        policy_version: int = 1,
        server_level: str = "crash",
        posthog_key: Optional[str] = None,
        posthog_host: Optional[str] = None,
        opt_out_env: Union[str, Iterable[str], None] = None,
    ) -> None:
        self.app = check_app(app)
        self.packages = _packages(app, packages)
        self.version = _version(version)
        self.scrubbing = _scrubbing(scrubbing)
        self.display_name = _text("display_name", display_name) or app[:1].upper() + app[1:]
        self.ignore = _ignored(ignore)
        self.storm_limits = (
            _count("storm_limit", storm_limit, DEFAULT_STORM_LIMIT),
            _seconds("storm_window", storm_window, DEFAULT_STORM_WINDOW),
        )
        self.should_report = _filter("should_report", should_report)
        self.capture_logging = _flag("capture_logging", capture_logging, default=True)
        self.privacy_url = _url("privacy_url", privacy_url)
        self.policy_version = _count("policy_version", policy_version, 1)
        self.server_level: Level = _server_level(server_level)
        self.opt_out_env = _variables("opt_out_env", opt_out_env)
        self.env = AppEnvironment(app, opt_out=self.opt_out_env)  # reads os.environ live
        self.mode_override: Optional[str] = None
        self._sentry_dsn = _text("sentry_dsn", sentry_dsn)
        self._exporters = _names("exporters", exporters)
        self._config_dir = _path("config_dir", config_dir)
        self._flush_timeout = _seconds("flush_timeout", flush_timeout, DEFAULT_FLUSH_TIMEOUT)
        self._prompt_timeout = _seconds("prompt_timeout", prompt_timeout, DEFAULT_PROMPT_TIMEOUT)
        self._environment = _text("environment", environment)
        self._otlp_endpoint = _endpoint(otlp_endpoint)
        # Given but not usable (a blank str is as good as none): the route fails closed.
        self._otlp_endpoint_invalid = self._otlp_endpoint is None and not (
            otlp_endpoint is None or (isinstance(otlp_endpoint, str) and not otlp_endpoint.strip())
        )
        self._otlp_headers = _headers(otlp_headers)
        self._otlp_protocol = _protocol("otlp_protocol", otlp_protocol, argument=True)
        self._posthog_key = _text("posthog_key", posthog_key)
        self._posthog_host = _text("posthog_host", posthog_host)
        if self._posthog_host is not None and not is_http_url(self._posthog_host):
            # Fail closed, as otlp_endpoint: never the default cloud instead of the host's.
            _warn(
                "posthog_host",
                "must be an http:// or https:// URL with a host (and a port from 1 to 65535)",
                "the 'posthog' exporter sends nothing and the 'file' exporter keeps the reports",
            )
            self._posthog_host_invalid = True
        else:
            self._posthog_host_invalid = False

    def handoff_arguments(self) -> dict[str, object]:
        """The arguments as the host passed them, as plain values, for the detached sender.

        ``Settings(**arguments)`` in the sender rebuilds these settings; variables are
        read there live, as here (the sender inherits the environment). Imports nothing,
        so the exiting thread pays no import for it. Holds the DSN and the OTLP headers:
        passed in the sender's environment, never written to disk or its command line.
        """
        return {
            "app": self.app,
            "packages": list(self.packages),
            "version": self.version,
            "sentry_dsn": self._sentry_dsn,
            "exporters": None if self._exporters is None else list(self._exporters),
            "display_name": self.display_name,
            "environment": self._environment,
            # A value refused here is passed as one refused there: the route fails closed.
            "otlp_endpoint": "invalid" if self._otlp_endpoint_invalid else self._otlp_endpoint,
            "otlp_headers": dict(self._otlp_headers),
            "otlp_protocol": self._otlp_protocol,
            "posthog_key": self._posthog_key,
            "posthog_host": "invalid" if self._posthog_host_invalid else self._posthog_host,
            "policy_version": self.policy_version,
            "server_level": self.server_level,
            "opt_out_env": list(self.opt_out_env),
        }

    def config_dir_path(self) -> str:
        """``<APP>_CONFIG_DIR``, else the ``config_dir`` argument, else ``~/.<app>``.

        A plain string: ``install()`` resolves it and must not import ``pathlib``.
        """
        from_env = self.env.config_dir
        if from_env is not None:
            return from_env
        if self._config_dir is not None:
            return os.path.expanduser(self._config_dir)
        return os.path.join(os.path.expanduser("~"), f".{self.app}")

    @property
    def config_dir(self) -> Path:
        """The config dir in force, as a path."""
        from pathlib import Path

        return Path(self.config_dir_path())

    def layout(self) -> Layout:
        """Where each file of the config dir in force lives."""
        from ._layout import Layout

        return Layout(self.config_dir)

    @property
    def flush_timeout(self) -> float:
        """Seconds that exit may wait for reports."""
        from_env = self.env.flush_timeout
        return self._flush_timeout if from_env is None else from_env

    @property
    def prompt_timeout(self) -> float:
        """Seconds the terminal prompt waits for each answer."""
        from_env = self.env.seconds("TELEMETRY_PROMPT_TIMEOUT")
        return self._prompt_timeout if from_env is None else from_env

    def mode(self) -> Mode:
        """``install(mode=...)``, else ``<APP>_TELEMETRY_MODE``, else the detected mode."""
        from .consent._mode import resolve_mode

        env = self.env
        return resolve_mode(self.mode_override, env.mode, env.name("TELEMETRY_MODE"), env.environ)

    def exporter_names(self) -> tuple[str, ...]:
        """The exporters in force: debug, else the variable, else the argument, else the default."""
        env = self.env
        if env.debug:
            return ("console",)
        configured = env.exporters or self._exporters
        if configured:
            return configured
        return DEFAULT_EXPORTERS_WITH_DSN if self.sentry_dsn()[0] else DEFAULT_EXPORTERS

    def exporters_in_use(self) -> tuple[str, ...]:
        """``exporter_names()`` that export.

        Not ``none``, nor ``sentry`` without a DSN, nor ``posthog`` without a key and a
        usable host (both stand in with the file).
        """
        has_dsn = bool(self.sentry_dsn()[0])
        names = self.exporter_names()
        has_posthog = "posthog" in names and self._posthog_usable()
        return tuple(
            name
            for name in names
            if name != "none"
            and (name != "sentry" or has_dsn)
            and (name != "posthog" or has_posthog)
        )

    def destinations(self) -> tuple[str, ...]:
        """Where a report goes now, in words for the user (what ``[v]`` and ``show`` say).

        An exporter that stands in for another is named as it is: ``sentry`` without a
        valid DSN and ``otlp`` without a usable endpoint keep reports in the local file;
        an unknown exporter sends nothing. Imports the exporters' registry (the SDK):
        for ``[v]`` and the commands, never on a capture.
        """
        from .exporters._registry import BUILTIN_EXPORTERS, find_factory
        from .exporters._sentry import parse_dsn

        names: list[str] = []
        for name in self.exporter_names():
            if name == "none":
                continue
            if name not in BUILTIN_EXPORTERS and find_factory(name) is None:
                name = f"nowhere ({name} is not an exporter)"
            elif name == "sentry" and parse_dsn(self.sentry_dsn()[0]) is None:
                name = "file (sentry has no valid DSN)"
            elif name == "otlp":
                endpoint, _, problem = self.otlp_destination()
                name = (
                    f"otlp to {endpoint}"
                    if endpoint and not problem
                    else "file (otlp has no endpoint)"
                )
            elif name == "posthog":
                name = self._posthog_destination()
            if name not in names:
                names.append(name)
        return tuple(names)

    def sentry_dsn(self) -> tuple[Optional[str], Optional[str]]:
        """``(dsn, where it came from)``: ``<APP>_SENTRY_DSN``, else the baked-in one."""
        env = self.env
        if env.sentry_dsn is not None:
            return env.sentry_dsn, env.name("SENTRY_DSN")
        if self._sentry_dsn:
            return self._sentry_dsn, BAKED_IN
        return None, None

    def posthog(self) -> tuple[Optional[str], Optional[str], Optional[str]]:
        """``(key, where it came from, host)`` of the ``posthog`` exporter, read live.

        The key: ``<APP>_POSTHOG_KEY``, else the ``posthog_key`` argument (``baked in``),
        else None. The host: ``<APP>_POSTHOG_HOST``, else the ``posthog_host`` argument,
        else PostHog's US cloud (``https://us.i.posthog.com``). Each variable wins over
        its argument on its own. Neither is ever written to disk.

        Fails closed: a host that is given but is not an http(s) URL (the variable, or
        the argument) gives None, never the default cloud in its place; the variable's
        is warned about once (the argument's when ``Telemetry`` was created). With no
        key or no host, the exporter sends nothing and the file keeps the reports.
        """
        env = self.env
        key, key_name = env.posthog("KEY")
        source: Optional[str] = key_name
        if key is None:
            key, source = (self._posthog_key, BAKED_IN) if self._posthog_key else (None, None)
        host, host_name = env.posthog("HOST")
        if host is not None:
            if not is_http_url(host):
                # Never the value: a URL may hold user info.
                warn_once(
                    f"variable:{host_name}",
                    f"Ignoring {host_name}: it is not an http:// or https:// URL with a host;"
                    " the 'posthog' exporter sends nothing and the 'file' exporter keeps"
                    " the reports.",
                )
                host = None
        elif self._posthog_host_invalid:
            host = None
        else:
            host = self._posthog_host or DEFAULT_POSTHOG_HOST
        return key, source, host

    def posthog_destination(self) -> tuple[Optional[str], Optional[str]]:
        """``(where the key came from, scheme://host[:port])`` of the ``posthog`` exporter.

        Never the key, nor a path, user info or query of the host; None for what is not
        set or not usable.
        """
        _, source, host = self.posthog()
        return source, None if host is None else _origin(host)

    def _posthog_usable(self) -> bool:
        key, _, host = self.posthog()
        return bool(key) and host is not None

    def _posthog_destination(self) -> str:
        key, _, host = self.posthog()
        if host is None:
            return "file (posthog has no valid host)"
        if not key:
            return "file (posthog has no key)"
        from importlib.metadata import PackageNotFoundError, version

        try:
            release = version("posthog")
        except (PackageNotFoundError, ValueError):
            return "file (the posthog package is not installed)"
        from .exporters._posthog import MINIMUM_SDK

        numbers = tuple(int(part) for part in release.split(".")[:2] if part.isdigit())
        if numbers < MINIMUM_SDK:
            return f"file (posthog {release} is older than {'.'.join(map(str, MINIMUM_SDK))})"
        return f"posthog to {_origin(host)}"

    def environment(self) -> Optional[str]:
        """``<APP>_ENVIRONMENT``, else the ``environment`` argument, else None (no attribute)."""
        return self.env.environment or self._environment

    def otlp_route(self) -> OtlpRoute:
        """The ``otlp`` exporter's route.

        The library's own route, never the host's: OpenTelemetry's generic
        ``OTEL_EXPORTER_OTLP_*`` variables are not read. Variables win over arguments, as
        for the DSN. An endpoint from a variable (``<APP>_OTLP_TRACES_ENDPOINT``, used as
        it is, else ``<APP>_OTLP_ENDPOINT``) is the user's own collector: it gets only the
        variables' headers and protocol, never the headers baked into the host for its
        endpoint. Otherwise the ``otlp_endpoint`` argument, with ``<APP>_OTLP_HEADERS`` /
        ``<APP>_OTLP_PROTOCOL`` else the arguments.

        Fails closed: with no endpoint at all, or when the endpoint that would be used is
        malformed (a variable, or the argument), the route has a ``problem`` (naming the
        variable or argument, never its value) and no endpoint, and the exporter keeps
        reports in the local file. Nothing falls back to a collector on this machine (the
        host application's own may listen there) or to another configured endpoint.
        """
        from .exporters._route import OtlpRoute

        env = self.env
        traces, traces_name = env.otlp("TRACES_ENDPOINT")
        base, base_name = env.otlp("ENDPOINT")
        raw_headers, headers_name = env.otlp("HEADERS")
        headers = None if raw_headers is None else _header_variable(raw_headers, headers_name)
        raw_protocol, protocol_name = env.otlp("PROTOCOL")
        protocol = _protocol(protocol_name, raw_protocol)
        if traces is not None or base is not None:
            name = traces_name if traces is not None else base_name
            in_use = traces if traces is not None else base
            problem = None if is_http_url(in_use or "") else f"{name} is not a valid URL"
            if base is not None and not is_http_url(base):
                base = None  # unused beside a traces endpoint; never sent to anyway
            return OtlpRoute(
                endpoint=None if problem else base,
                traces_endpoint=None if problem else traces,
                headers=headers or (),
                protocol=protocol or "http/protobuf",
                source=name,
                problem=problem,
            )
        if self._otlp_endpoint is None:
            if self._otlp_endpoint_invalid:
                problem = f"the {OTLP_ARGUMENT} is not a valid URL"
            else:
                problem = f"no endpoint is set ({OTLP_ARGUMENT} or {base_name})"
        else:
            problem = None
        return OtlpRoute(
            endpoint=self._otlp_endpoint,
            traces_endpoint=None,
            headers=self._otlp_headers if headers is None else headers,
            protocol=protocol or self._otlp_protocol or "http/protobuf",
            source=OTLP_ARGUMENT
            if self._otlp_endpoint or self._otlp_endpoint_invalid
            else "not set",
            problem=problem,
            problem_warned=self._otlp_endpoint_invalid,
        )

    def otlp_destination(self) -> tuple[Optional[str], str, Optional[str]]:
        """``(scheme://host[:port], where it came from, problem)`` of the ``otlp`` route.

        No secret: no user info, path, query or header. With a ``problem`` (see
        :meth:`otlp_route`) there is no destination: ``(None, source, problem)``.
        """
        route = self.otlp_route()
        url = route.traces_endpoint or route.endpoint
        if route.problem is not None or not url:
            return None, route.source, route.problem or "no endpoint is set"
        return _origin(url), route.source, None

    def exporter_context(self) -> ExporterContext:
        """What exporter factories may know about the host."""
        from .exporters import ExporterContext

        dsn, dsn_source = self.sentry_dsn()
        posthog_key, posthog_key_source, posthog_host = self.posthog()
        if posthog_host is None:
            posthog_key = posthog_key_source = None  # no host to send to: nothing is sent
        return ExporterContext(
            app=self.app,
            version=self.version,
            config_dir=self.config_dir,
            environ=os.environ,
            sentry_dsn=dsn,
            sentry_dsn_source=dsn_source,
            packages=self.packages,
            otlp=self.otlp_route(),
            environment=self.environment(),
            posthog_key=posthog_key,
            posthog_key_source=posthog_key_source,
            posthog_host=posthog_host,
        )


def _origin(url: str) -> str:
    """``scheme://host[:port]`` of a URL ``is_http_url`` accepted: no user info, path or query."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)  # checked by is_http_url: parses, with a valid port
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}"


# -- the arguments, checked once ------------------------------------------------------------


def check_app(app: object) -> str:
    """``app`` if it can name ``~/.<app>`` and the ``<APP>_*`` variables, else ``ValueError``.

    A non-empty str, without a path separator or a control character, not ``.`` or
    ``..``, with at least one ASCII letter or digit (the variables' prefix).
    """
    if (
        not isinstance(app, str)
        or not app.strip()
        or app in (".", "..")
        or any(c in "/\\" or not c.isprintable() for c in app)
        or not env_prefix(app)
    ):
        raise ValueError(
            "Telemetry(app=...) must be a non-empty str without path separators or"
            f" control characters, with an ASCII letter or digit; got {_kind(app)}"
        )
    return app


def _kind(value: object) -> str:
    """What a bad argument was, without its value or repr: a built-in type's name at most.

    A repr can hold a path (a module's) or a secret; the name of a class of the host's
    or the user's says nothing useful either.
    """
    if value is None:
        return "None"
    kind = type(value)
    if kind.__module__ == "builtins":
        return f"a value of type {kind.__name__}"
    return "an object of another type"


def _warn(name: str, problem: str, fallback: str) -> None:
    # Once per argument and problem: two problems of one field are two warnings.
    warn_once(f"argument:{name}:{problem}", f"Telemetry({name}=...) {problem}; {fallback}.")


def _version(value: object) -> str:
    if isinstance(value, str):
        return value.strip() or DEFAULT_VERSION
    _warn("version", f"must be a str, got {_kind(value)}", f"{DEFAULT_VERSION!r} is sent instead")
    return DEFAULT_VERSION


def _text(name: str, value: object) -> Optional[str]:
    """An optional str argument: None or blank is None; another type is warned about."""
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip() or None
    _warn(name, f"must be a str, got {_kind(value)}", "it is ignored")
    return None


def _filter(name: str, value: object) -> Optional[Callable[[BaseException], bool]]:
    if value is None or callable(value):
        return value
    _warn(name, f"must be callable, got {_kind(value)}", "every report is kept")
    return None


def _server_level(value: object) -> Level:
    if value == "crash" or value == "all":
        return "all" if value == "all" else "crash"
    _warn("server_level", "must be 'crash' or 'all'", "'crash' is used")
    return "crash"


def _flag(name: str, value: object, *, default: bool) -> bool:
    if isinstance(value, bool):
        return value
    _warn(name, f"must be a bool, got {_kind(value)}", f"{default} is used")
    return default


def _url(name: str, value: object) -> Optional[str]:
    text = _text(name, value)
    if text is not None and not is_http_url(text):
        _warn(name, "is not an http(s) URL", "it is left out of the notice")
        return None
    return text


def _strings(value: Any) -> Optional[tuple[str, ...]]:
    """A str or an iterable of str as a tuple; None when it is neither."""
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (bytes, bytearray)) or not hasattr(value, "__iter__"):
        return None
    try:
        items = tuple(value)
    except Exception:  # an iterable that raises: as bad as any other value
        return None
    return items if all(isinstance(item, str) for item in items) else None


def _packages(app: str, value: object) -> tuple[str, ...]:
    if value is None:
        return (app,)
    packages = _strings(value)
    packages = tuple(p.strip() for p in packages if p.strip()) if packages is not None else None
    if not packages:
        _warn(
            "package",
            f"must be a module name or names (str), got {_kind(value)}",
            f"the app's name {app!r} is used",
        )
        return (app,)
    return packages


def _variables(name: str, value: object) -> tuple[str, ...]:
    """``opt_out_env``: variable names, a str for one; anything else is ignored with a warning."""
    if value is None:
        return ()
    names = _strings(value)
    if names is None:
        _warn(
            name, f"must be a variable name or a list of them, got {_kind(value)}", "it is ignored"
        )
        return ()
    kept = tuple(dict.fromkeys(n.strip() for n in names if _variable_name(n.strip())))
    if len(kept) != len({n.strip() for n in names}):
        _warn(
            name,
            "holds a name that cannot be a variable's (empty, or with '=', a space or a"
            " control character)",
            "that name is left out",
        )
    return kept


def _variable_name(name: str) -> bool:
    return bool(name) and all(c.isprintable() and not c.isspace() and c != "=" for c in name)


def _names(name: str, value: object) -> Optional[tuple[str, ...]]:
    if value is None:
        return None
    if isinstance(value, str):
        return split_names(value)
    names = _strings(value)
    if names is None:
        _warn(name, f"must be a str or a list of str, got {_kind(value)}", "the default is used")
        return None
    return split_names(",".join(names))


def _path(name: str, value: object) -> Optional[str]:
    if value is None:
        return None
    try:
        path = os.fspath(value)  # type: ignore[call-overload]
    except Exception:  # not a path, or an __fspath__ that raises: never into the host
        path = None
    if not isinstance(path, str) or not path.strip() or "\0" in path:
        _warn(name, f"must be a str or os.PathLike path, got {_kind(value)}", "the default is used")
        return None
    return path


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _seconds(name: str, value: object, default: float) -> float:
    if _is_number(value) and 0 <= value < float("inf"):  # type: ignore[operator]
        return float(value)  # type: ignore[arg-type]
    _warn(name, "must be a finite number of seconds >= 0", f"{default} is used")
    return default


def _count(name: str, value: object, default: int) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    _warn(name, "must be an int >= 1", f"{default} is used")
    return default


def _ignored(value: Any) -> tuple[type[BaseException], ...]:
    def exception_class(item: object) -> bool:
        return isinstance(item, type) and issubclass(item, BaseException)

    if exception_class(value):  # one class given alone: what was meant is clear
        return (value,)
    items: Optional[tuple[Any, ...]]
    try:
        items = None if isinstance(value, (str, bytes)) else tuple(value)
    except Exception:
        items = None
    if items is None:
        _warn("ignore", f"must be exception classes, got {_kind(value)}", "nothing is ignored")
        return ()
    kept = tuple(item for item in items if exception_class(item))
    if len(kept) != len(items):
        _warn("ignore", "must hold exception classes only", "the other items are left out")
    return kept


def _scrubbing(value: Any) -> Optional[ScrubbingOptions]:
    if value is None:
        return None
    # A host that built ScrubbingOptions has imported the module: look it up there, so
    # that checking never loads the scrubbing package on the app thread.
    module = sys.modules.get("otel_telemetry.scrubbing")
    options = getattr(module, "ScrubbingOptions", None)
    valid = isinstance(options, type) and isinstance(value, options)
    if valid:
        return _checked_scrubbing(value, getattr(module, "RULES", ()))
    _warn(
        "scrubbing",
        f"must be a ScrubbingOptions, got {_kind(value)}",
        "every scrubbing rule is on",
    )
    return None


def _checked_scrubbing(options: ScrubbingOptions, rules: Iterable[str]) -> ScrubbingOptions:
    """A copy of ``options`` that the scrubber can always use: each bad field fixed alone.

    A bad item never costs every report (the scrubber refuses an unknown rule, and a
    pattern that does not compile would fail every scrub): each field is checked here,
    one warning names the field (never its value, which may be a secret pattern), the
    bad items are left out and the rest is kept. Lists become tuples, so that a host
    changing its own object afterwards changes nothing here.
    """
    import dataclasses
    import re

    field = "scrubbing.disabled_rules"
    names = _option_strings(field, options.disabled_rules)
    known = tuple(name for name in names if name in rules)
    if len(known) != len(names):
        _warn(field, "names a rule that does not exist", "that name is left out")

    extra = _option_strings("scrubbing.extra_patterns", options.extra_patterns)
    kept_extra: list[str] = []
    for pattern in extra:
        # Compiled as the scrubber combines them (each in a named group, after the
        # ones before it, then the rules' own groups), so that a pattern valid alone but
        # not there (a global flag not at the start, a back reference by number, a group
        # name that the rules use too) is refused here, not at every report.
        trial = [*kept_extra, pattern]
        try:
            alone = re.compile(pattern)
            # A global flag ("(?i)") is an error inside the combination from Python 3.11
            # on, only deprecated before: refused everywhere ("(?i:...)" is fine).
            usable = not alone.groupindex and alone.flags == re.compile("").flags
            re.compile("|".join(f"(?P<extra_{i}>{p})" for i, p in enumerate(trial)))
        except (re.error, RecursionError, OverflowError, ValueError):
            usable = False
        if not usable:
            _warn(
                "scrubbing.extra_patterns",
                "holds a pattern that is not a usable regular expression (one that"
                " compiles, without named groups or global flags)",
                "that pattern is left out",
            )
            continue
        kept_extra.append(pattern)

    allow = _option_strings("scrubbing.allow_patterns", options.allow_patterns)
    kept_allow: list[str] = []
    for pattern in allow:
        try:
            re.compile(pattern)
        except (re.error, RecursionError, OverflowError, ValueError):
            _warn(
                "scrubbing.allow_patterns",
                "holds a pattern that is not a valid regular expression",
                "that pattern is left out",
            )
            continue
        kept_allow.append(pattern)

    # Typed fields, but a host's value is whatever it passed.
    keep_values: object = options.keep_values
    if not isinstance(keep_values, bool):
        _warn("scrubbing.keep_values", "must be True or False", "values are scrubbed")
        keep_values = False

    callback: object = options.callback
    if callback is not None and not callable(callback):
        _warn("scrubbing.callback", "must be callable or None", "it is not called")
        callback = None

    return dataclasses.replace(
        options,
        disabled_rules=known,
        extra_patterns=tuple(kept_extra),
        allow_patterns=tuple(kept_allow),
        keep_values=keep_values,
        callback=callback,  # None or callable, checked above
    )


def _option_strings(name: str, value: object) -> tuple[str, ...]:
    """A field of str items as a tuple: a lone str is one item, other items are left out."""
    if isinstance(value, str):
        # disabled_rules="ipv4" means the one rule, not the letters i, p, v and 4.
        _warn(name, "must be a list of str, got one str", "it is read as a list of that one")
        return (value,)
    items: Optional[tuple[Any, ...]]
    try:
        items = None if isinstance(value, (bytes, bytearray)) else tuple(value)  # type: ignore[arg-type]
    except Exception:
        items = None
    if items is None:
        _warn(name, f"must be a list of str, got {_kind(value)}", "it is left empty")
        return ()
    kept = tuple(item for item in items if isinstance(item, str))
    if len(kept) != len(items):
        _warn(name, "must hold str items only", "the other items are left out")
    return kept


def _endpoint(value: object) -> Optional[str]:
    text = _text("otlp_endpoint", value)
    if text is not None and not is_http_url(text):
        # Fail closed: a mistyped destination sends nothing rather than elsewhere.
        _warn(
            "otlp_endpoint",
            "must be an http:// or https:// URL with a host (and a port from 1 to 65535)",
            "the 'otlp' exporter sends nothing and the 'file' exporter keeps the reports",
        )
        return None
    return text


def _headers(value: object) -> Headers:
    """``otlp_headers``: a mapping of str to str, or ``k=v,k2=v2`` as the variable takes."""
    if value is None:
        return ()
    if isinstance(value, str):
        headers, valid = parse_headers(value)
    elif hasattr(value, "items"):
        headers, valid = {}, True
        try:
            for name, item in value.items():
                if isinstance(name, str) and isinstance(item, str):
                    name, item = name.strip().lower(), item.strip()
                    if valid_header(name, item):
                        headers[name] = item
                        continue
                valid = False
        except Exception:
            headers, valid = {}, False
    else:
        _warn(
            "otlp_headers",
            f"must be a mapping of str to str or 'k=v,k2=v2', got {_kind(value)}",
            "no header is sent",
        )
        return ()
    if not valid:
        _warn(
            "otlp_headers",
            "holds a header that cannot be sent (a name that is not a token, a value that"
            " is not printable ASCII, or an entry without '=')",
            "that header is left out",
        )
    return tuple(headers.items())


def _protocol(name: str, value: object, *, argument: bool = False) -> Optional[str]:
    """``http/protobuf`` or ``grpc``; anything else is warned about once and ignored."""
    if value is None:
        return None
    text = value.strip().lower() if isinstance(value, str) else None
    if text in OTLP_PROTOCOLS:
        return text
    if argument:
        _warn(name, "must be 'http/protobuf' or 'grpc'", "http/protobuf is used")
    else:  # a variable's value is the user's own text: it may be shown
        warn_once(
            f"variable:{name}={value}",
            f"Ignoring {name}={value!r}: expected 'http/protobuf' or 'grpc'; using http/protobuf.",
        )
    return None


def _header_variable(value: str, name: str) -> Headers:
    headers, valid = parse_headers(value)
    if not valid:
        # Never the value: headers usually carry a key.
        warn_once(
            f"variable:{name}",
            f"{name} holds an entry that cannot be sent (not 'name=value', or a value that is"
            " not printable ASCII); that entry is left out.",
        )
    return tuple(headers.items())
