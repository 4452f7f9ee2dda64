"""``Telemetry(...)`` checks every argument: ``app`` raises, anything else warns once.

A host's import must never fail because of its telemetry, and a warning must never
repeat the bad value: a module given as ``version`` (crawl4ai's ``__version__`` is a
module) has a repr holding a home path. Each bad argument gives exactly one warning on
the ``otel_telemetry`` logger, naming the argument, and its default is used.
"""

from __future__ import annotations

import json
import logging
import math
import os
import textwrap
import types
from pathlib import Path
from typing import Any

import pytest

from otel_telemetry import ScrubbingOptions, Telemetry, _log
from otel_telemetry._settings import check_app
from tests.conftest import run_python


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith(("ACME_", "OTEL_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("ACME_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setattr(_log, "_warned", set())


class _Personal:
    """An object of the user's whose repr is personal."""

    def __repr__(self) -> str:
        return "<Patient grace.hopper@clinic.example at /home/grace/records>"

    __str__ = __repr__


def _module_from_home(tmp_path: Path) -> types.ModuleType:
    """A module whose repr holds a home path, as ``crawl4ai.__version__`` does."""
    path = tmp_path / "home" / "grace" / "site-packages" / "crawlx" / "__version__.py"
    path.parent.mkdir(parents=True)
    path.write_text("__version__ = '0.9.5'\n")
    module = types.ModuleType("crawlx.__version__")
    module.__file__ = str(path)
    return module


PERSONAL = _Personal()


def _reprs(value: Any) -> list[str]:
    texts = [repr(value), str(value)]
    if isinstance(value, (list, tuple)):
        texts += [repr(v) for v in value]
    # What a message may say anyway: None, and the app's own name (a default).
    return [t for t in texts if len(t) > 3 and t not in ("None", "'acme'")]


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "otel_telemetry" and r.levelno == logging.WARNING
    ]


def _build(caplog: pytest.LogCaptureFixture, **arguments: Any) -> tuple[Telemetry, list[str]]:
    with caplog.at_level(logging.WARNING, logger="otel_telemetry"):
        telemetry = Telemetry(app="acme", **arguments)
    return telemetry, _warnings(caplog)


# (argument, bad value, what is used instead, read from the built Telemetry)
def _version(t: Telemetry) -> Any:
    return t.settings.version


def _packages(t: Telemetry) -> Any:
    return t.settings.packages


def _exporters(t: Telemetry) -> Any:
    return t.settings.exporter_names()


def _config_dir(t: Telemetry) -> Any:
    return t.settings._config_dir


def _scrubbing(t: Telemetry) -> Any:
    return t.settings.scrubbing


def _flush(t: Telemetry) -> Any:
    return t.settings.flush_timeout


def _prompt(t: Telemetry) -> Any:
    return t.settings.prompt_timeout


def _storm(t: Telemetry) -> Any:
    return t.settings.storm_limits


def _ignore(t: Telemetry) -> Any:
    return t.settings.ignore


def _display(t: Telemetry) -> Any:
    return t.settings.display_name


def _dsn(t: Telemetry) -> Any:
    return t.settings.sentry_dsn()


def _environment(t: Telemetry) -> Any:
    return t.settings.environment()


def _route(t: Telemetry) -> Any:
    route = t.settings.otlp_route()
    return (route.endpoint, route.headers, route.protocol)


DEFAULT_ROUTE = (None, (), "http/protobuf")

BAD = [
    # version: never a repr, always "unknown"
    ("version", "module", _version, "unknown"),
    ("version", ("0", "9", "5"), _version, "unknown"),
    ("version", None, _version, "unknown"),
    ("version", 1.5, _version, "unknown"),
    ("version", b"1.0", _version, "unknown"),
    ("version", PERSONAL, _version, "unknown"),
    ("package", 3, _packages, ("acme",)),
    ("package", [b"acme"], _packages, ("acme",)),
    ("package", ["acme", PERSONAL], _packages, ("acme",)),
    ("package", [], _packages, ("acme",)),
    ("package", "module", _packages, ("acme",)),
    ("exporters", 3, _exporters, ("file",)),
    ("exporters", ["otlp", 3], _exporters, ("file",)),
    ("exporters", PERSONAL, _exporters, ("file",)),
    ("config_dir", 3, _config_dir, None),
    ("config_dir", b"/tmp/acme", _config_dir, None),
    ("config_dir", "", _config_dir, None),
    ("config_dir", "module", _config_dir, None),
    ("scrubbing", "all", _scrubbing, None),
    ("scrubbing", {"disabled_rules": ["email"]}, _scrubbing, None),
    ("scrubbing", PERSONAL, _scrubbing, None),
    ("flush_timeout", -1, _flush, 1.0),
    ("flush_timeout", math.nan, _flush, 1.0),
    ("flush_timeout", math.inf, _flush, 1.0),
    ("flush_timeout", "2", _flush, 1.0),
    ("flush_timeout", True, _flush, 1.0),
    ("flush_timeout", None, _flush, 1.0),
    ("prompt_timeout", -0.5, _prompt, 30.0),
    ("prompt_timeout", "30", _prompt, 30.0),
    ("storm_window", -1, _storm, (5, 60.0)),
    ("storm_window", math.inf, _storm, (5, 60.0)),
    ("storm_limit", 0, _storm, (5, 60.0)),
    ("storm_limit", -3, _storm, (5, 60.0)),
    ("storm_limit", 2.5, _storm, (5, 60.0)),
    ("storm_limit", True, _storm, (5, 60.0)),
    ("storm_limit", "5", _storm, (5, 60.0)),
    ("ignore", 3, _ignore, ()),
    ("ignore", "ValueError", _ignore, ()),
    ("ignore", [ValueError, "KeyError", PERSONAL], _ignore, (ValueError,)),
    ("ignore", [int], _ignore, ()),
    ("display_name", 3, _display, "Acme"),
    ("display_name", PERSONAL, _display, "Acme"),
    ("sentry_dsn", 3, _dsn, (None, None)),
    ("sentry_dsn", PERSONAL, _dsn, (None, None)),
    ("environment", 3, _environment, None),
    ("environment", PERSONAL, _environment, None),
    ("otlp_endpoint", 3, _route, DEFAULT_ROUTE),
    ("otlp_endpoint", "ftp://alice:pw-123@collector.example", _route, DEFAULT_ROUTE),
    ("otlp_endpoint", "collector.example:4318", _route, DEFAULT_ROUTE),
    ("otlp_endpoint", "http://[::1", _route, DEFAULT_ROUTE),
    ("otlp_endpoint", "http://collector.example:99999", _route, DEFAULT_ROUTE),
    ("otlp_endpoint", "http://collector example", _route, DEFAULT_ROUTE),
    ("otlp_headers", 3, _route, DEFAULT_ROUTE),
    ("otlp_headers", {"authorization": 123}, _route, DEFAULT_ROUTE),
    ("otlp_headers", {"x-key": "tok-456\r\nX-Injected: 1"}, _route, DEFAULT_ROUTE),
    ("otlp_headers", "x-key tok-456", _route, DEFAULT_ROUTE),
    ("otlp_protocol", "http/json", _route, DEFAULT_ROUTE),
    ("otlp_protocol", 3, _route, DEFAULT_ROUTE),
]


@pytest.mark.parametrize(
    ("name", "value", "read", "default"),
    [
        pytest.param(*case, id=f"{case[0]}={type(case[1]).__name__}:{i}")
        for i, case in enumerate(BAD)
    ],
)
def test_a_bad_argument_warns_once_by_name_and_uses_the_default(
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
    name: str,
    value: Any,
    read: Any,
    default: Any,
) -> None:
    if value == "module":
        value = _module_from_home(tmp_path)

    telemetry, warnings = _build(caplog, **{name: value})

    assert read(telemetry) == default
    [warning] = warnings
    assert f"Telemetry({name}=...)" in warning
    for text in _reprs(value):
        assert text not in warning, (text, warning)
    for personal in ("grace", "/home/", "tok-456", "pw-123", "alice", "Injected"):
        assert personal not in warning, (personal, warning)


@pytest.mark.parametrize(
    ("arguments", "read", "expected"),
    [
        pytest.param({"version": "  1.2.3 "}, _version, "1.2.3", id="version stripped"),
        pytest.param({"version": ""}, _version, "unknown", id="blank version: unknown"),
        pytest.param({"package": "acme"}, _packages, ("acme",), id="one package"),
        pytest.param(
            {"package": (p for p in ["acme", "acme_ext"])},
            _packages,
            ("acme", "acme_ext"),
            id="packages from a generator",
        ),
        pytest.param({"exporters": ["otlp", "file"]}, _exporters, ("otlp", "file"), id="list"),
        pytest.param({"exporters": ""}, _exporters, ("file",), id="blank exporters: default"),
        pytest.param({"config_dir": Path("/srv/acme")}, _config_dir, "/srv/acme", id="a Path"),
        pytest.param({"flush_timeout": 0}, _flush, 0.0, id="zero seconds"),
        pytest.param({"storm_window": 2.5}, _storm, (5, 2.5), id="a float window"),
        pytest.param({"storm_limit": 1}, _storm, (1, 60.0), id="a limit of one"),
        pytest.param({"ignore": KeyError}, _ignore, (KeyError,), id="one class alone"),
        pytest.param({"ignore": [KeyboardInterrupt]}, _ignore, (KeyboardInterrupt,), id="base"),
        pytest.param({"display_name": "ACME Corp"}, _display, "ACME Corp", id="display name"),
        pytest.param({"environment": " staging "}, _environment, "staging", id="environment"),
        pytest.param({"sentry_dsn": ""}, _dsn, (None, None), id="blank DSN: none"),
        pytest.param(
            {
                "otlp_endpoint": "https://gateway.acme.example",
                "otlp_headers": "x-api-key=abc%3D,x-team=acme",
                "otlp_protocol": "GRPC",
            },
            _route,
            (
                "https://gateway.acme.example",
                (("x-api-key", "abc="), ("x-team", "acme")),
                "grpc",
            ),
            id="otlp arguments, headers as a string",
        ),
        pytest.param(
            {"otlp_headers": {"X-Api-Key": "abc"}},
            _route,
            (None, (("x-api-key", "abc"),), "http/protobuf"),
            id="headers as a mapping",
        ),
    ],
)
def test_good_arguments_give_no_warning(
    caplog: pytest.LogCaptureFixture, arguments: dict[str, Any], read: Any, expected: Any
) -> None:
    telemetry, warnings = _build(caplog, **arguments)

    assert read(telemetry) == expected
    assert warnings == []


def test_scrubbing_options_are_kept_as_a_copy_the_host_cannot_change(
    caplog: pytest.LogCaptureFixture,
) -> None:
    callback = lambda match: None  # noqa: E731
    options = ScrubbingOptions(
        disabled_rules=["email"],
        extra_patterns=["ORION-\\d+"],
        allow_patterns=["build-\\d+"],
        keep_values=True,
        callback=callback,
    )
    telemetry, warnings = _build(caplog, scrubbing=options)
    options.disabled_rules.append("nope")  # type: ignore[attr-defined]

    kept = telemetry.settings.scrubbing
    assert kept is not None
    assert (kept.disabled_rules, kept.extra_patterns, kept.allow_patterns) == (
        ("email",),
        ("ORION-\\d+",),
        ("build-\\d+",),
    )
    assert (kept.keep_values, kept.callback) == (True, callback)
    assert warnings == []


class _Unfinished:
    """A secret-looking pattern: a warning must never show it."""


# (field, bad value, what is kept, the warning's words)
BAD_SCRUBBING = [
    ("disabled_rules", ["nope-secret", "ipv4"], ("ipv4",), "does not exist"),
    ("disabled_rules", "ipv4", ("ipv4",), "one str"),
    ("disabled_rules", "nope-secret", (), "does not exist"),
    ("disabled_rules", 3, (), "must be a list of str"),
    ("disabled_rules", ["ipv4", 3], ("ipv4",), "str items only"),
    ("extra_patterns", ["(tok-456", "ORION"], ("ORION",), "regular expression"),
    ("extra_patterns", ["ORION", "(?i)tok-456"], ("ORION",), "regular expression"),
    ("extra_patterns", ["(?P<email>tok-456)", "ORION"], ("ORION",), "regular expression"),
    ("extra_patterns", ["(?P<sp_key>tok-456)"], (), "regular expression"),
    ("extra_patterns", "(tok-456", (), "one str"),
    ("allow_patterns", ["[tok-456", "build"], ("build",), "regular expression"),
    ("keep_values", "no", False, "True or False"),
    ("keep_values", 1, False, "True or False"),
    ("callback", "tok-456", None, "callable"),
]


@pytest.mark.parametrize(
    ("field", "value", "kept", "words"),
    [pytest.param(*case, id=f"{case[0]}:{i}") for i, case in enumerate(BAD_SCRUBBING)],
)
def test_a_bad_scrubbing_field_warns_by_name_and_only_its_bad_item_goes(
    caplog: pytest.LogCaptureFixture, field: str, value: Any, kept: Any, words: str
) -> None:
    other = {"disabled_rules": ["card"], "extra_patterns": ["ACME-\\d+"]}
    other = {k: v for k, v in other.items() if k != field}
    options = ScrubbingOptions(**{**other, field: value})

    telemetry, warnings = _build(caplog, scrubbing=options)

    scrubbing = telemetry.settings.scrubbing
    assert scrubbing is not None
    assert getattr(scrubbing, field) == kept
    for name, value_kept in other.items():  # everything else is kept
        assert list(getattr(scrubbing, name)) == value_kept
    assert warnings, "no warning"
    assert all(f"Telemetry(scrubbing.{field}=...)" in w for w in warnings), warnings
    assert any(words in w for w in warnings), warnings
    for secret in ("tok-456", "nope-secret"):
        assert not any(secret in w for w in warnings), warnings
    # The scrubber takes what passed: it never raises at report time, and scrubs.
    from otel_telemetry.scrubbing import Scrubber

    scrubbed = Scrubber(scrubbing).new_pass().text("mail grace@clinic.example about ACME-42")
    assert "grace@clinic.example" not in scrubbed


def test_every_bad_scrubbing_field_at_once(caplog: pytest.LogCaptureFixture) -> None:
    options = ScrubbingOptions(
        disabled_rules="nope",  # type: ignore[arg-type]
        extra_patterns=["("],
        allow_patterns=["["],
        keep_values="no",  # type: ignore[arg-type]
        callback=3,  # type: ignore[arg-type]
    )

    telemetry, warnings = _build(caplog, scrubbing=options)

    named = {w.split("=...)")[0] for w in warnings}
    assert named == {
        f"Telemetry(scrubbing.{field}"
        for field in (
            "disabled_rules",
            "extra_patterns",
            "allow_patterns",
            "keep_values",
            "callback",
        )
    }
    assert telemetry.settings.scrubbing == ScrubbingOptions(
        disabled_rules=(), extra_patterns=(), allow_patterns=(), keep_values=False
    )


class _RaisingPath:
    def __fspath__(self) -> str:
        raise RuntimeError("/home/grace/secret")


def test_a_config_dir_whose_fspath_raises_warns_and_uses_the_default(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ACME_CONFIG_DIR")

    telemetry, warnings = _build(caplog, config_dir=_RaisingPath())

    assert telemetry.settings._config_dir is None
    assert telemetry.settings.config_dir.name == ".acme"
    [warning] = warnings
    assert "Telemetry(config_dir=...)" in warning
    assert "grace" not in warning


def test_every_argument_bad_at_once_still_builds_and_installs(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    module = _module_from_home(tmp_path)
    bad: dict[str, Any] = {
        "package": 3,
        "version": module,
        "sentry_dsn": 3,
        "exporters": 3,
        "config_dir": 3,
        "scrubbing": "all",
        "flush_timeout": -1,
        "display_name": 3,
        "prompt_timeout": "x",
        "ignore": 3,
        "storm_limit": 0,
        "storm_window": -1,
        "environment": 3,
        "otlp_endpoint": 3,
        "otlp_headers": 3,
        "otlp_protocol": 3,
    }

    telemetry, warnings = _build(caplog, **bad)
    try:
        telemetry.install()
        telemetry.status()
    finally:
        telemetry.shutdown()

    assert len(warnings) == len(bad)
    for name in bad:
        [for_it] = [w for w in warnings if f"Telemetry({name}=...)" in w]
        assert repr(module) not in for_it
        assert str(tmp_path) not in for_it


def test_the_same_bad_argument_warns_once_per_process(caplog: pytest.LogCaptureFixture) -> None:
    _, first = _build(caplog, version=("1", "0"))
    caplog.clear()
    _, second = _build(caplog, version=("1", "0"))

    assert len(first) == 1
    assert second == []


@pytest.mark.parametrize(
    "app",
    [None, "", "   ", 3, b"acme", "a/b", "..\\x", ".", "..", "ac\x00me", "ac\nme", "!!!", PERSONAL],
)
def test_a_bad_app_raises_without_its_repr(app: Any) -> None:
    with pytest.raises(ValueError, match=r"Telemetry\(app=\.\.\.\)") as raised:
        Telemetry(app=app)

    message = str(raised.value)
    for text in _reprs(app):
        assert text not in message


@pytest.mark.parametrize("app", ["acme", "my-app", "my_app", "Acme Crawler", "acme.v2", "crawl4ai"])
def test_good_app_names(app: str) -> None:
    assert check_app(app) == app


# A host module that gives its version module by mistake, as crawl4ai 0.9.5 does; its
# repr holds the file's path under the user's home.
_MODULE_VERSION = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, sys.argv[1])
    import crawlx.__version__ as version_module
    from otel_telemetry import Telemetry
    t = Telemetry(app="acme", package="__main__", version=version_module)
    try:
        raise ValueError("a crash of the host")
    except ValueError as exc:
        t.capture_exception(exc)
    assert t.flush(30)
    """
)


@pytest.mark.integration
def test_a_module_as_version_in_a_real_host(host_env: dict[str, str], tmp_path: Path) -> None:
    """One warning of ours on stderr, nothing of the SDK's, and ``unknown`` sent."""
    packages = Path(host_env["HOME"]) / "grace" / "site-packages"
    (packages / "crawlx").mkdir(parents=True)
    (packages / "crawlx" / "__init__.py").write_text("")
    (packages / "crawlx" / "__version__.py").write_text("__version__ = '0.9.5'\n")
    host_env.update(ACME_TELEMETRY="1", ACME_TELEMETRY_EXPORTER="file")

    result = run_python(_MODULE_VERSION, host_env, str(packages), check=True)

    [line] = result.stderr.splitlines()
    assert "Telemetry(version=...) must be a str" in line
    assert str(packages) not in result.stderr
    assert "opentelemetry" not in result.stderr.lower()
    reports = Path(host_env["ACME_CONFIG_DIR"]) / "telemetry" / "reports"
    text = "".join(p.read_text() for p in sorted(reports.iterdir()))
    assert str(packages) not in text
    assert "crawlx" not in text
    [resource] = [
        rs["resource"] for line in text.splitlines() for rs in json.loads(line)["resourceSpans"]
    ]
    values = {kv["key"]: kv["value"].get("stringValue") for kv in resource["attributes"]}
    assert values["service.version"] == "unknown"
