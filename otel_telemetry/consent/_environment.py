"""The ``<APP>_*`` environment variables (see README), read in one place.

Nothing here writes to the environment or to disk: environment variables override the
saved choice but are never persisted.
"""

from __future__ import annotations

import os

from otel_telemetry._log import warn_once

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from typing import Optional

    from ._types import Level

_TRUE = frozenset({"1", "true", "on", "yes"})
_FALSE = frozenset({"0", "false", "off", "no"})


def env_prefix(app: str) -> str:
    """Return the variable prefix of an app: ``"my-app"`` gives ``"MY_APP"``."""
    words = "".join(c if c.isascii() and c.isalnum() else " " for c in app).split()
    return "_".join(words).upper()


def parse_switch(name: str, value: Optional[str]) -> Optional[bool]:
    """Read an on/off variable; an unknown value is warned about once and ignored."""
    if value is None or not value.strip():
        return None
    normalized = value.strip().lower()
    if normalized in _TRUE:
        return True
    if normalized in _FALSE:
        return False
    warn_once(
        f"{name}={value}",
        f"Ignoring {name}={value!r}: expected one of 0/false/off/no or 1/true/on/yes.",
    )
    return None


_LEVEL_WORDS: dict[str, Level] = {
    **{word: "off" for word in _FALSE},
    **{word: "crash" for word in _TRUE},
    "crash": "crash",
    "all": "all",
    "local": "local",
}


def parse_level(name: str, value: Optional[str]) -> Optional[Level]:
    """Read ``<APP>_TELEMETRY``: ``0/1/crash/all/local`` (and the on/off words).

    ``1`` and the other "on" words mean ``crash``; an unknown value is warned about once
    and ignored.
    """
    if value is None or not value.strip():
        return None
    level = _LEVEL_WORDS.get(value.strip().lower())
    if level is None:
        warn_once(
            f"{name}={value}",
            f"Ignoring {name}={value!r}: expected 0 (off), 1 or crash, all (crash reports"
            " and usage events), or local (recorded here, never uploaded).",
        )
    return level


def globally_disabled(environ: Mapping[str, str], opt_out: Iterable[str] = ()) -> Optional[str]:
    """Return the name of the variable that switches every telemetry off, if any.

    ``DO_NOT_TRACK`` true-ish (``1``, ``true``, ``yes``), ``OTEL_SDK_DISABLED=true``, or
    one of the host's ``opt_out`` variables (``Telemetry(opt_out_env=...)``, such as
    ``ANONYMIZED_TELEMETRY``) set to ``0``, ``false``, ``no`` or ``off`` (any case,
    stripped). An ``opt_out`` variable set to another word than those and the "on" ones
    is warned about once and ignored.
    """
    if environ.get("DO_NOT_TRACK", "").strip().lower() in {"1", "true", "yes"}:
        return "DO_NOT_TRACK"
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return "OTEL_SDK_DISABLED"
    for name in opt_out:
        value = environ.get(name)
        if value is not None and value.strip():
            word = value.strip().lower()
            if word in _FALSE:
                return name
            if word not in _TRUE:
                # Never the value: the host's variable may hold anything (a token).
                warn_once(
                    f"{name}={value}",
                    f"Ignoring the value of {name}: only 0/false/no/off turn telemetry off.",
                )
    return None


#: The protocols of the ``otlp`` exporter, as OpenTelemetry spells them.
OTLP_PROTOCOLS = ("http/protobuf", "grpc")

# The characters of a header name (an RFC 9110 token), once lower-cased.
_HEADER_NAME_CHARS = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz")


def parse_headers(raw: str) -> tuple[dict[str, str], bool]:
    """Headers written as OpenTelemetry's ``OTEL_EXPORTER_OTLP_HEADERS`` are: ``k=v,k2=v2``.

    Names and values are URL-decoded and stripped, names lower-cased. An entry that is
    not ``name=value``, whose name is not an HTTP token or whose value is not printable
    ASCII (a line break would inject a header) is left out.

    Returns:
        The headers, and whether every non-blank entry was valid. Nothing is logged:
        the caller warns without repeating a value (it is usually a secret).
    """
    from urllib.parse import unquote

    headers: dict[str, str] = {}
    valid = True
    for entry in raw.split(","):
        if not entry.strip():
            continue
        name, equals, value = entry.partition("=")
        name, value = unquote(name).strip().lower(), unquote(value).strip()
        if equals and valid_header(name, value):
            headers[name] = value
        else:
            valid = False
    return headers, valid


def valid_header(name: str, value: str) -> bool:
    """A header both HTTP and gRPC metadata can carry: a token, printable ASCII for the value."""
    return (
        bool(name)
        and all(c in _HEADER_NAME_CHARS for c in name)
        and all(" " <= c <= "~" for c in value)
    )


def is_http_url(value: str) -> bool:
    """A URL the ``otlp`` exporter can send to, else False (never an exception).

    ``http://`` or ``https://``, a host name or address (an IPv6 one in brackets,
    closed), a port from 1 to 65535 if one is given, and no space or control character
    anywhere. ``collector.example:4318`` (no scheme), ``http://[::1``, ``http://h:99999``
    and ``ftp://h`` are not.
    """
    from urllib.parse import urlsplit

    if not all(" " < c != "\x7f" for c in value):
        return False
    try:
        parts = urlsplit(value)
        port = parts.port  # a port that is not a number from 0 to 65535 raises
        host = parts.hostname
    except ValueError:  # an unclosed IPv6 bracket, a bad port
        return False
    return (
        parts.scheme.lower() in ("http", "https")
        and value[len(parts.scheme) :].startswith("://")
        and bool(host)
        and port != 0
    )


def split_names(raw: str) -> tuple[str, ...]:
    """Split a comma list of exporter names, lower-cased, without blanks or repeats."""
    names: list[str] = []
    for part in raw.split(","):
        name = part.strip().lower()
        if name and name not in names:
            names.append(name)
    return tuple(names)


class AppEnvironment:
    """The ``<APP>_*`` variables of one host app, read from the live environment."""

    __slots__ = ("environ", "opt_out", "prefix")

    def __init__(
        self,
        app: str,
        environ: Optional[Mapping[str, str]] = None,
        opt_out: tuple[str, ...] = (),
    ) -> None:
        self.prefix = env_prefix(app)
        self.environ: Mapping[str, str] = os.environ if environ is None else environ
        self.opt_out = opt_out
        """The host's own opt-out variables (``Telemetry(opt_out_env=...)``)."""

    @property
    def disabled_by(self) -> Optional[str]:
        """The variable that switches every telemetry off (rule 1 of the precedence), if any.

        ``DO_NOT_TRACK``, ``OTEL_SDK_DISABLED``, or one of the host's ``opt_out``
        variables set false-ish (see :func:`globally_disabled`).
        """
        return globally_disabled(self.environ, self.opt_out)

    def name(self, suffix: str) -> str:
        """The full variable name: ``name("TELEMETRY")`` is ``ACME_TELEMETRY``."""
        return f"{self.prefix}_{suffix}"

    def get(self, suffix: str) -> Optional[str]:
        """The stripped value of ``<APP>_<suffix>``; None when unset or blank."""
        value = self.environ.get(self.name(suffix))
        if value is None or not value.strip():
            return None
        return value.strip()

    @property
    def telemetry_level(self) -> Optional[Level]:
        """``<APP>_TELEMETRY``: ``off``, ``crash``, ``all`` or ``local``; None when unset or malformed."""
        return parse_level(self.name("TELEMETRY"), self.get("TELEMETRY"))

    @property
    def telemetry_switch(self) -> Optional[bool]:
        """``<APP>_TELEMETRY``: False for off, True for any level on, None when unset or malformed."""
        level = self.telemetry_level
        return None if level is None else level != "off"

    @property
    def debug(self) -> bool:
        """``<APP>_TELEMETRY_DEBUG``: print scrubbed reports instead of sending them."""
        return bool(parse_switch(self.name("TELEMETRY_DEBUG"), self.get("TELEMETRY_DEBUG")))

    @property
    def widgets(self) -> Optional[bool]:
        """``<APP>_TELEMETRY_WIDGETS``: 0 where the front end cannot render ipywidgets."""
        return parse_switch(self.name("TELEMETRY_WIDGETS"), self.get("TELEMETRY_WIDGETS"))

    @property
    def exporters(self) -> Optional[tuple[str, ...]]:
        """``<APP>_TELEMETRY_EXPORTER``: the exporter names, or None when unset."""
        raw = self.get("TELEMETRY_EXPORTER")
        return None if raw is None else split_names(raw)

    @property
    def mode(self) -> Optional[str]:
        """``<APP>_TELEMETRY_MODE``, lower-cased, or None when unset."""
        raw = self.get("TELEMETRY_MODE")
        return None if raw is None else raw.lower()

    @property
    def sentry_dsn(self) -> Optional[str]:
        """``<APP>_SENTRY_DSN``: replaces the DSN baked into the host."""
        return self.get("SENTRY_DSN")

    @property
    def flush_timeout(self) -> Optional[float]:
        """``<APP>_TELEMETRY_FLUSH_TIMEOUT``: seconds that exit may wait, or None when unset."""
        return self.seconds("TELEMETRY_FLUSH_TIMEOUT")

    def seconds(self, suffix: str) -> Optional[float]:
        """A duration variable in seconds; a malformed one is warned about once and ignored."""
        raw = self.get(suffix)
        if raw is None:
            return None
        try:
            value = float(raw)
        except ValueError:
            value = -1.0
        if not 0 <= value < float("inf"):  # negative, NaN or infinite
            name = self.name(suffix)
            warn_once(f"{name}={raw}", f"Ignoring {name}={raw!r}: expected seconds >= 0.")
            return None
        return value

    @property
    def environment(self) -> Optional[str]:
        """``<APP>_ENVIRONMENT``: the deployment environment sent with reports."""
        return self.get("ENVIRONMENT")

    def otlp(self, suffix: str) -> tuple[Optional[str], str]:
        """``<APP>_OTLP_<suffix>`` (``ENDPOINT``, ``TRACES_ENDPOINT``, ``HEADERS``, ``PROTOCOL``).

        Returns:
            The stripped value (None when unset or blank) and the variable's name. The
            host's own ``OTEL_EXPORTER_OTLP_*`` variables are never read.
        """
        name = f"OTLP_{suffix}"
        return self.get(name), self.name(name)

    def posthog(self, suffix: str) -> tuple[Optional[str], str]:
        """``<APP>_POSTHOG_<suffix>`` (``KEY``, ``HOST``): the stripped value and the name.

        Read live, never stored: the value is None when unset or blank.
        """
        name = f"POSTHOG_{suffix}"
        return self.get(name), self.name(name)

    @property
    def config_dir(self) -> Optional[str]:
        """``<APP>_CONFIG_DIR``, user-expanded, or None when unset."""
        raw = self.get("CONFIG_DIR")
        return None if raw is None else os.path.expanduser(raw)
