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
    from typing import Any, Optional, Union

    from ._layout import Layout
    from .consent._types import Mode
    from .exporters import ExporterContext
    from .exporters._registry import OtlpRoute
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
#: Where the ``otlp`` exporter sends when nothing is configured: a collector on this
#: machine (the same defaults as ``exporters/_registry.py``, which the worker uses).
DEFAULT_OTLP_ENDPOINTS = {"http/protobuf": "http://localhost:4318", "grpc": "http://localhost:4317"}
OTLP_ARGUMENT = "argument otlp_endpoint"


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
    out), ``display_name``, ``environment`` and the ``otlp_*`` arguments.

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
        self.env = AppEnvironment(app)  # reads os.environ live
        self.mode_override: Optional[str] = None
        self._sentry_dsn = _text("sentry_dsn", sentry_dsn)
        self._exporters = _names("exporters", exporters)
        self._config_dir = _path("config_dir", config_dir)
        self._flush_timeout = _seconds("flush_timeout", flush_timeout, DEFAULT_FLUSH_TIMEOUT)
        self._prompt_timeout = _seconds("prompt_timeout", prompt_timeout, DEFAULT_PROMPT_TIMEOUT)
        self._environment = _text("environment", environment)
        self._otlp_endpoint = _endpoint(otlp_endpoint)
        self._otlp_headers = _headers(otlp_headers)
        self._otlp_protocol = _protocol("otlp_protocol", otlp_protocol, argument=True)

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

    def sentry_dsn(self) -> tuple[Optional[str], Optional[str]]:
        """``(dsn, where it came from)``: ``<APP>_SENTRY_DSN``, else the baked-in one."""
        env = self.env
        if env.sentry_dsn is not None:
            return env.sentry_dsn, env.name("SENTRY_DSN")
        if self._sentry_dsn:
            return self._sentry_dsn, "baked in"
        return None, None

    def environment(self) -> Optional[str]:
        """``<APP>_ENVIRONMENT``, else the ``environment`` argument, else None (no attribute)."""
        return self.env.environment or self._environment

    def otlp_route(self) -> dict[str, Any]:
        """The ``otlp`` exporter's route, as the fields of ``OtlpRoute``.

        The library's own route, never the host's: OpenTelemetry's generic
        ``OTEL_EXPORTER_OTLP_*`` variables are not read. Variables win over arguments, as
        for the DSN. An endpoint from a variable (``<APP>_OTLP_TRACES_ENDPOINT``, used as
        it is, else ``<APP>_OTLP_ENDPOINT``) is the user's own collector: it gets only the
        variables' headers and protocol, never the headers baked into the host for its
        endpoint. Otherwise the ``otlp_endpoint`` argument (or the default), with
        ``<APP>_OTLP_HEADERS`` / ``<APP>_OTLP_PROTOCOL`` else the arguments. A malformed
        variable is warned about once (by name, never its value) and ignored.
        """
        env = self.env
        traces, traces_name = env.otlp("TRACES_ENDPOINT")
        base, base_name = env.otlp("ENDPOINT")
        traces, base = _url_variable(traces, traces_name), _url_variable(base, base_name)
        raw_headers, headers_name = env.otlp("HEADERS")
        headers = None if raw_headers is None else _header_variable(raw_headers, headers_name)
        raw_protocol, protocol_name = env.otlp("PROTOCOL")
        protocol = _protocol(protocol_name, raw_protocol)
        if traces or base:
            return {
                "endpoint": base,
                "traces_endpoint": traces,
                "headers": headers or (),
                "protocol": protocol or "http/protobuf",
                "source": traces_name if traces else base_name,
            }
        return {
            "endpoint": self._otlp_endpoint,
            "traces_endpoint": None,
            "headers": self._otlp_headers if headers is None else headers,
            "protocol": protocol or self._otlp_protocol or "http/protobuf",
            "source": OTLP_ARGUMENT if self._otlp_endpoint else "default",
        }

    def otlp_destination(self) -> tuple[str, str]:
        """``(scheme://host[:port], where it came from)`` of the ``otlp`` route; no secret."""
        from urllib.parse import urlsplit

        route = self.otlp_route()
        url = (
            route["traces_endpoint"]
            or route["endpoint"]
            or DEFAULT_OTLP_ENDPOINTS.get(route["protocol"], DEFAULT_OTLP_ENDPOINTS["grpc"])
        )
        try:
            parts = urlsplit(url)
            port = f":{parts.port}" if parts.port else ""
        except ValueError:
            return "an invalid URL", route["source"]
        return f"{parts.scheme}://{parts.hostname}{port}", route["source"]

    def exporter_context(self) -> ExporterContext:
        """What exporter factories may know about the host."""
        from .exporters import ExporterContext
        from .exporters._registry import OtlpRoute

        dsn, dsn_source = self.sentry_dsn()
        route: OtlpRoute = OtlpRoute(**self.otlp_route())
        return ExporterContext(
            app=self.app,
            version=self.version,
            config_dir=self.config_dir,
            environ=os.environ,
            sentry_dsn=dsn,
            sentry_dsn_source=dsn_source,
            packages=self.packages,
            otlp=route,
            environment=self.environment(),
        )


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
    warn_once(f"argument:{name}", f"Telemetry({name}=...) {problem}; {fallback}.")


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
    except TypeError:
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
        return value  # type: ignore[no-any-return]
    _warn(
        "scrubbing",
        f"must be a ScrubbingOptions, got {_kind(value)}",
        "every scrubbing rule is on",
    )
    return None


def _endpoint(value: object) -> Optional[str]:
    text = _text("otlp_endpoint", value)
    if text is not None and not is_http_url(text):
        _warn("otlp_endpoint", "must be an http:// or https:// URL", "the default is used")
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


def _url_variable(value: Optional[str], name: str) -> Optional[str]:
    if value is not None and not is_http_url(value):
        # Never the value: a URL can hold a user name and password.
        warn_once(f"variable:{name}", f"Ignoring {name}: it is not an http:// or https:// URL.")
        return None
    return value


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
