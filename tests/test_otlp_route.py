"""The library's own OTLP route: ``<APP>_OTLP_*`` and ``otlp_*``, never the host's ``OTEL_EXPORTER_OTLP_*``.

A host application that sends its own traces to its collector (with its own auth
header) sets OpenTelemetry's generic ``OTEL_EXPORTER_OTLP_*`` variables. Those are the
host's: the library's crash reports never go there and never carry its headers. The
library's route is ``Telemetry(otlp_endpoint=..., otlp_headers=..., otlp_protocol=...)``
and ``ACME_OTLP_ENDPOINT`` / ``ACME_OTLP_TRACES_ENDPOINT`` / ``ACME_OTLP_HEADERS`` /
``ACME_OTLP_PROTOCOL``, with the same meanings and formats as OpenTelemetry's.
"""

from __future__ import annotations

import logging
import os
import textwrap
from pathlib import Path
from typing import Any, Union

import pytest

from otel_telemetry import _log
from otel_telemetry._settings import Settings
from otel_telemetry.exporters import OtlpRoute
from otel_telemetry.exporters._file import FileSpanExporter
from otel_telemetry.exporters._otlp import (
    OtlpGrpcSpanExporter,
    OtlpHttpSpanExporter,
    create_otlp_exporter,
)
from tests.conftest import CAPTURE_ONE, run_python
from tests.receivers.otlp import OtlpGrpcReceiver, OtlpHttpReceiver

HOST_SECRET = "Bearer host-secret"

#: Every generic OTLP variable of OpenTelemetry, set by a host application for its own
#: traces, with values that would show if anything of ours read them: a collector of the
#: host's, its auth header, and settings that would break or change our exporter.
HOST_OTLP_VARIABLES = {
    "OTEL_EXPORTER_OTLP_HEADERS": f"authorization={HOST_SECRET}",
    "OTEL_EXPORTER_OTLP_TRACES_HEADERS": f"authorization={HOST_SECRET}",
    "OTEL_EXPORTER_OTLP_TIMEOUT": "not-a-number",
    "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "not-a-number",
    "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
    "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION": "gzip",
    "OTEL_EXPORTER_OTLP_INSECURE": "false",
    "OTEL_EXPORTER_OTLP_TRACES_INSECURE": "false",
    "OTEL_EXPORTER_OTLP_CERTIFICATE": "/nonexistent/host-ca.pem",
    "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE": "/nonexistent/host-ca.pem",
    "OTEL_EXPORTER_OTLP_CLIENT_KEY": "/nonexistent/host-client.key",
    "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": "/nonexistent/host-client.pem",
}


def _host_otlp(collector: Union[OtlpHttpReceiver, OtlpGrpcReceiver], protocol: str) -> dict:
    """The host application's own OTLP settings, pointing at ``collector``."""
    traces = (
        f"{collector.endpoint}/v1/traces" if protocol == "http/protobuf" else collector.endpoint
    )
    return {
        **HOST_OTLP_VARIABLES,
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint,
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": traces,
        "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": protocol,
    }


def _env(
    host_env: dict[str, str],
    collector: Union[OtlpHttpReceiver, OtlpGrpcReceiver],
    protocol: str = "http/protobuf",
    **ours: str,
) -> dict[str, str]:
    """A consented host using the ``otlp`` exporter, whose own OTel points at ``collector``."""
    return {
        **host_env,
        **_host_otlp(collector, protocol),
        "ACME_TELEMETRY": "1",
        "ACME_TELEMETRY_EXPORTER": "otlp",
        **ours,
    }


def _lowered(headers: dict[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def _assert_not_the_hosts(headers: dict[str, str]) -> None:
    lowered = _lowered(headers)
    assert "authorization" not in lowered, lowered
    assert not any("host-secret" in value for value in lowered.values()), lowered


# -- two real receivers: the host's collector and the library's ---------------------------


@pytest.mark.integration
@pytest.mark.parametrize(
    ("ours", "expected"),
    [
        pytest.param({}, {}, id="no headers of ours"),
        pytest.param(
            {"ACME_OTLP_HEADERS": "x-team=acme"}, {"x-team": "acme"}, id="ACME_OTLP_HEADERS"
        ),
    ],
)
def test_the_hosts_collector_gets_nothing_ours_gets_the_report(
    host_env: dict[str, str], ours: dict[str, str], expected: dict[str, str]
) -> None:
    with OtlpHttpReceiver() as hosts, OtlpHttpReceiver() as library:
        env = _env(host_env, hosts, ACME_OTLP_ENDPOINT=library.endpoint, **ours)

        result = run_python(CAPTURE_ONE + "assert delivered\n", env, check=True)

        [received] = library.wait_for(1)
        assert received.span()["name"] == "exception"
        _assert_not_the_hosts(received.headers)
        for name, value in expected.items():
            assert _lowered(received.headers)[name] == value
        # The process has ended, after its flush: nothing more can arrive anywhere.
        assert hosts.requests == []
        assert library.requests == [received]
    assert result.stderr == ""


@pytest.mark.integration
def test_the_argument_route_and_the_hosts_own_opentelemetry_side_by_side(
    host_env: dict[str, str],
) -> None:
    """A host exports its own spans with the OTel SDK, configured by the generic variables;
    the library's route is baked in: each receiver gets exactly its own."""
    code = textwrap.dedent(
        """
        import sys
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from otel_telemetry import Telemetry

        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter()))
        with provider.get_tracer("host").start_as_current_span("host-work"):
            pass
        provider.shutdown()

        t = Telemetry(
            app="acme",
            package="__main__",
            otlp_endpoint=sys.argv[1],
            otlp_headers={"x-team": "acme"},
        )
        try:
            raise ValueError("a crash of the host")
        except ValueError as exc:
            t.capture_exception(exc)
        assert t.flush(30)
        """
    )
    with OtlpHttpReceiver() as hosts, OtlpHttpReceiver() as library:
        env = {
            **host_env,
            **_host_otlp(hosts, "http/protobuf"),
            # The host's SDK exporter needs a valid timeout and no certificate files.
            "OTEL_EXPORTER_OTLP_TIMEOUT": "10",
            "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "10",
            "OTEL_EXPORTER_OTLP_COMPRESSION": "none",
            "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION": "none",
            "ACME_TELEMETRY": "1",
            "ACME_TELEMETRY_EXPORTER": "otlp",
        }
        for name in list(env):
            if name.endswith(("_CERTIFICATE", "_CLIENT_KEY")):
                del env[name]

        run_python(code, env, library.endpoint, check=True)

        [host_span] = [span["name"] for r in hosts.wait_for(1) for span in r.spans()]
        assert host_span == "host-work"
        assert _lowered(hosts.requests[0].headers)["authorization"] == HOST_SECRET
        [received] = library.wait_for(1)
        assert received.span()["name"] == "exception"
        _assert_not_the_hosts(received.headers)
        assert _lowered(received.headers)["x-team"] == "acme"
        assert len(hosts.requests) == 1


@pytest.mark.integration
def test_the_argument_route(host_env: dict[str, str]) -> None:
    code = textwrap.dedent(
        """
        import sys
        from otel_telemetry import Telemetry
        t = Telemetry(
            app="acme", package="__main__", otlp_endpoint=sys.argv[1], otlp_headers=sys.argv[2]
        )
        try:
            raise ValueError("a crash of the host")
        except ValueError as exc:
            t.capture_exception(exc)
        assert t.flush(30)
        """
    )
    with OtlpHttpReceiver() as hosts, OtlpHttpReceiver() as library:
        env = _env(host_env, hosts)

        run_python(code, env, library.endpoint, "x-team=acme,x-key=a%2Cb", check=True)

        [received] = library.wait_for(1)
        _assert_not_the_hosts(received.headers)
        headers = _lowered(received.headers)
        assert (headers["x-team"], headers["x-key"]) == ("acme", "a,b")  # URL-decoded
        assert hosts.requests == []


@pytest.mark.integration
@pytest.mark.parametrize(
    "ours",
    [
        pytest.param({}, id="no endpoint"),
        pytest.param({"ACME_OTLP_ENDPOINT": "collector.example:4318"}, id="no scheme"),
        pytest.param({"ACME_OTLP_ENDPOINT": "http://127.0.0.1:99999"}, id="bad port"),
        pytest.param({"ACME_OTLP_TRACES_ENDPOINT": "http://[::1"}, id="unclosed IPv6"),
    ],
)
def test_without_a_usable_endpoint_nothing_is_sent_and_the_file_keeps_the_report(
    host_env: dict[str, str], ours: dict[str, str]
) -> None:
    """The host's own collector (here by its variables; at ``localhost:4318`` by default)
    never gets the report, nor does any other endpoint: the file keeps it, with one warning."""
    code = CAPTURE_ONE + "assert delivered\nprint(t.status())\n"
    with OtlpHttpReceiver() as hosts:
        env = _env(host_env, hosts, **ours)

        result = run_python(code, env, check=True)

        assert hosts.requests == []
    reports = Path(host_env["ACME_CONFIG_DIR"]) / "telemetry" / "reports"
    [report] = [
        line for path in sorted(reports.iterdir()) for line in path.read_text().splitlines()
    ]
    assert "a crash of the host" in report
    [warning] = result.stderr.splitlines()
    assert "'otlp' telemetry exporter sends nothing" in warning
    assert str(reports) in warning
    for value in ours.values():
        assert value not in result.stdout + result.stderr
    assert "otlp:      nothing sent" in result.stdout
    assert "localhost" not in result.stdout + result.stderr
    assert "host-secret" not in result.stdout + result.stderr


@pytest.mark.integration
@pytest.mark.parametrize("configured_by", ["variables", "argument"])
def test_grpc_the_hosts_collector_gets_nothing_ours_gets_the_report(
    host_env: dict[str, str], configured_by: str
) -> None:
    code = textwrap.dedent(
        """
        import sys
        from otel_telemetry import Telemetry
        arguments = {}
        if sys.argv[1:]:
            arguments = dict(otlp_endpoint=sys.argv[1], otlp_headers=sys.argv[2],
                             otlp_protocol="grpc")
        t = Telemetry(app="acme", package="__main__", **arguments)
        try:
            raise ValueError("a crash of the host")
        except ValueError as exc:
            t.capture_exception(exc)
        assert t.flush(30)
        """
    )
    with OtlpGrpcReceiver() as hosts, OtlpGrpcReceiver() as library:
        env = _env(host_env, hosts, "grpc")
        arguments: tuple[str, ...] = (library.endpoint, "x-team=acme")
        if configured_by == "variables":
            env.update(
                ACME_OTLP_ENDPOINT=library.endpoint,
                ACME_OTLP_PROTOCOL="grpc",
                ACME_OTLP_HEADERS="x-team=acme",
            )
            arguments = ()

        run_python(code, env, *arguments, check=True)

        # Arrived in plaintext, uncompressed and in time: the host's certificate, insecure,
        # compression and (unparsable) timeout settings were not read either.
        [received] = library.wait_for(1)
        assert received.transport == "grpc"
        assert received.span()["name"] == "exception"
        _assert_not_the_hosts(received.headers)
        assert received.headers["x-team"] == "acme"
        assert hosts.requests == []


# -- in process: the route resolved, the exporter built from it alone ---------------------


@pytest.fixture
def clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.startswith(("ACME_", "OTEL_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("ACME_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setattr(_log, "_warned", set())
    return monkeypatch


def _route(**arguments: Any) -> OtlpRoute:
    return Settings("acme", ("acme",), "1.0", **arguments).otlp_route()


#: The host's own collector, as the unit tests below set it.
_HOST_ENDPOINTS = {
    "OTEL_EXPORTER_OTLP_ENDPOINT": "http://hosts-collector:4318",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://hosts-collector:4318/v1/traces",
    "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
}


ARGUMENTS = {
    "otlp_endpoint": "https://gateway.acme.example",
    "otlp_headers": {"x-api-key": "baked-key"},
    "otlp_protocol": "grpc",
}


@pytest.mark.parametrize(
    ("arguments", "variables", "url", "headers", "protocol", "source"),
    [
        pytest.param(
            {**ARGUMENTS, "otlp_protocol": None},
            {},
            "https://gateway.acme.example/v1/traces",
            (("x-api-key", "baked-key"),),
            "http/protobuf",
            "argument otlp_endpoint",
            id="arguments",
        ),
        pytest.param(
            {"otlp_endpoint": "https://gateway.acme.example/otlp/v1/traces/"},
            {},
            "https://gateway.acme.example/otlp/v1/traces",
            (),
            "http/protobuf",
            "argument otlp_endpoint",
            id="a base that ends in /v1/traces is kept",
        ),
        pytest.param(
            ARGUMENTS,
            {"ACME_OTLP_ENDPOINT": "http://mine:4318/"},
            "http://mine:4318/v1/traces",
            (),
            "http/protobuf",
            "ACME_OTLP_ENDPOINT",
            id="a variable's endpoint: none of the baked-in headers or protocol",
        ),
        pytest.param(
            ARGUMENTS,
            {
                "ACME_OTLP_ENDPOINT": "http://mine:4318",
                "ACME_OTLP_TRACES_ENDPOINT": "http://mine:4318/custom/path",
                "ACME_OTLP_HEADERS": "authorization=Bearer%20mine,x-b=2",
                "ACME_OTLP_PROTOCOL": "http/protobuf",
            },
            "http://mine:4318/custom/path",
            (("authorization", "Bearer mine"), ("x-b", "2")),
            "http/protobuf",
            "ACME_OTLP_TRACES_ENDPOINT",
            id="the traces variable, as it is, with the variables' headers",
        ),
        pytest.param(
            ARGUMENTS,
            {"ACME_OTLP_HEADERS": "x-api-key=the-users-key", "ACME_OTLP_PROTOCOL": "HTTP/PROTOBUF"},
            "https://gateway.acme.example/v1/traces",
            (("x-api-key", "the-users-key"),),
            "http/protobuf",
            "argument otlp_endpoint",
            id="variables win over arguments",
        ),
        pytest.param(
            ARGUMENTS,
            {"ACME_OTLP_PROTOCOL": "carrier-pigeon"},
            "https://gateway.acme.example/v1/traces",
            (("x-api-key", "baked-key"),),
            "grpc",
            "argument otlp_endpoint",
            id="a malformed protocol variable: warned and ignored",
        ),
        pytest.param(
            {"otlp_endpoint": "http://h/base?token=X#frag"},
            {},
            "http://h/base/v1/traces?token=X",
            (),
            "http/protobuf",
            "argument otlp_endpoint",
            id="the path goes before the query; no fragment",
        ),
    ],
)
def test_the_route(
    clean: pytest.MonkeyPatch,
    arguments: dict[str, Any],
    variables: dict[str, str],
    url: str,
    headers: tuple,
    protocol: str,
    source: str,
) -> None:
    for name, value in {**HOST_OTLP_VARIABLES, **_HOST_ENDPOINTS, **variables}.items():
        clean.setenv(name, value)

    route = _route(**arguments)

    assert route.http_url() == url
    assert route.headers == headers
    assert route.protocol == protocol
    assert route.source == source


#: Malformed endpoints: each one fails closed (nothing sent anywhere, the file keeps reports).
MALFORMED = [
    "collector.example:4318",
    "http://collector example:4318",
    "http://[::1",
    "http://127.0.0.1:99999",
    "http://collector.example:0",
    "ftp://alice:pw-123@collector.example",
    "grpc://collector.example:4317",
    "http://:4318",
]


@pytest.mark.parametrize("value", MALFORMED)
@pytest.mark.parametrize("variable", ["ACME_OTLP_ENDPOINT", "ACME_OTLP_TRACES_ENDPOINT"])
def test_a_malformed_variable_fails_closed_named_never_shown(
    clean: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, variable: str, value: str
) -> None:
    """No fallback to the argument, to the other variable or to this machine."""
    clean.setenv(variable, value)
    if variable == "ACME_OTLP_TRACES_ENDPOINT":
        clean.setenv("ACME_OTLP_ENDPOINT", "http://other.example:4318")
    context = Settings(
        "acme", ("acme",), "1.0", otlp_endpoint="https://gateway.acme.example"
    ).exporter_context()

    with caplog.at_level(logging.WARNING, logger="otel_telemetry"):
        exporter = create_otlp_exporter(context)

    assert isinstance(exporter, FileSpanExporter)
    assert (context.otlp.endpoint, context.otlp.traces_endpoint) == (None, None)
    [message] = [r.getMessage() for r in caplog.records]
    assert variable in message
    assert str(context.reports_dir) in message
    assert value not in message
    for secret in ("pw-123", "alice", "collector", "127.0.0.1", "::1"):
        assert secret not in message


@pytest.mark.parametrize("value", MALFORMED)
def test_a_malformed_argument_fails_closed_with_one_warning(
    clean: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, value: str
) -> None:
    from otel_telemetry import Telemetry

    with caplog.at_level(logging.WARNING, logger="otel_telemetry"):
        telemetry = Telemetry(app="acme", otlp_endpoint=value)
        exporter = create_otlp_exporter(telemetry.settings.exporter_context())

    assert isinstance(exporter, FileSpanExporter)
    [message] = [r.getMessage() for r in caplog.records]
    assert "Telemetry(otlp_endpoint=...)" in message
    assert "'file' exporter keeps the reports" in message
    assert value not in message


def test_no_endpoint_sends_nothing_and_names_the_argument_and_variable(
    clean: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    for name, value in {**HOST_OTLP_VARIABLES, **_HOST_ENDPOINTS}.items():
        clean.setenv(name, value)
    context = Settings("acme", ("acme",), "1.0").exporter_context()

    with caplog.at_level(logging.WARNING, logger="otel_telemetry"):
        exporters = [create_otlp_exporter(context) for _ in range(2)]

    assert all(isinstance(exporter, FileSpanExporter) for exporter in exporters)
    [message] = [r.getMessage() for r in caplog.records]
    assert "otlp_endpoint" in message
    assert "ACME_OTLP_ENDPOINT" in message
    assert str(context.reports_dir) in message


def test_a_malformed_headers_variable_is_named_never_shown(
    clean: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    clean.setenv("ACME_OTLP_ENDPOINT", "http://collector.example:4318")
    clean.setenv("ACME_OTLP_HEADERS", "authorization=Bearer tok-456,broken")

    with caplog.at_level(logging.WARNING, logger="otel_telemetry"):
        route = _route()

    assert route.source == "ACME_OTLP_ENDPOINT"
    assert route.headers == (("authorization", "Bearer tok-456"),)
    [message] = [r.getMessage() for r in caplog.records]
    assert "ACME_OTLP_HEADERS" in message
    assert "tok-456" not in message


def test_the_http_exporter_is_built_from_the_route_alone(clean: pytest.MonkeyPatch) -> None:
    for name, value in {**HOST_OTLP_VARIABLES, **_HOST_ENDPOINTS}.items():
        clean.setenv(name, value)
    clean.setenv("ACME_OTLP_ENDPOINT", "http://ours:4318")
    clean.setenv("ACME_OTLP_PROTOCOL", "http/protobuf")
    context = Settings("acme", ("acme",), "1.0").exporter_context()

    exporter = create_otlp_exporter(context)

    assert isinstance(exporter, OtlpHttpSpanExporter)
    assert exporter.endpoint == "http://ours:4318/v1/traces"
    assert exporter.timeout == 10.0
    assert {k.lower() for k in exporter._headers} == {"content-type", "user-agent"}


def test_no_generic_otlp_value_reaches_the_grpc_exporter(clean: pytest.MonkeyPatch) -> None:
    """The SDK's gRPC exporter reads ``OTEL_EXPORTER_OTLP_*`` in its constructor: it is never
    built, and ours is built from the route alone."""
    from opentelemetry.exporter.otlp.proto.grpc import trace_exporter

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("the SDK's gRPC exporter was built")

    clean.setattr(trace_exporter.OTLPSpanExporter, "__init__", never)
    for name, value in {**HOST_OTLP_VARIABLES, **_HOST_ENDPOINTS}.items():
        clean.setenv(name, value)
    clean.setenv("ACME_OTLP_ENDPOINT", "http://ours:4317")
    clean.setenv("ACME_OTLP_PROTOCOL", "grpc")
    clean.setenv("ACME_OTLP_HEADERS", "x-team=acme")

    exporter = create_otlp_exporter(Settings("acme", ("acme",), "1.0").exporter_context())
    try:
        assert isinstance(exporter, OtlpGrpcSpanExporter)
        assert (exporter.target, exporter.secure) == ("ours:4317", False)
        assert exporter.metadata == (("x-team", "acme"),)
        assert exporter.timeout == 10.0
    finally:
        exporter.shutdown()


@pytest.mark.parametrize(
    ("route", "target", "secure"),
    [
        pytest.param(OtlpRoute(protocol="grpc"), "localhost:4317", False, id="default"),
        pytest.param(
            OtlpRoute(endpoint="https://collector.example:443", protocol="grpc"),
            "collector.example:443",
            True,
            id="https: TLS",
        ),
        pytest.param(
            OtlpRoute(traces_endpoint="http://a:1/ignored/path", endpoint="http://b:2"),
            "a:1",
            False,
            id="the traces endpoint wins; a path is ignored",
        ),
    ],
)
def test_grpc_targets(route: OtlpRoute, target: str, secure: bool) -> None:
    exporter = OtlpGrpcSpanExporter(route)
    try:
        assert (exporter.target, exporter.secure) == (target, secure)
    finally:
        exporter.shutdown()


@pytest.mark.parametrize(
    ("variables", "shown", "source"),
    [
        pytest.param(
            {"ACME_OTLP_ENDPOINT": "https://alice:pw-123@collector.example:4318/p?token=t-789"},
            "https://collector.example:4318",
            "ACME_OTLP_ENDPOINT",
            id="a variable: no user info, path or query",
        ),
        pytest.param(
            {"ACME_OTLP_ENDPOINT": "http://[::1]:4317", "ACME_OTLP_PROTOCOL": "grpc"},
            "http://::1:4317",
            "ACME_OTLP_ENDPOINT",
            id="grpc",
        ),
    ],
)
def test_status_names_the_endpoints_source_and_no_secret(
    clean: pytest.MonkeyPatch, variables: dict[str, str], shown: str, source: str
) -> None:
    from otel_telemetry import Telemetry

    for name, value in {**variables, "ACME_OTLP_HEADERS": "authorization=Bearer tok-456"}.items():
        clean.setenv(name, value)
    clean.setenv("ACME_TELEMETRY_EXPORTER", "otlp")
    telemetry = Telemetry(app="acme", otlp_headers={"x-api-key": "baked-key"})

    status = telemetry.status()

    assert (status.otlp_endpoint, status.otlp_endpoint_source) == (shown, source)
    text = str(status)
    assert f"otlp:      {shown} ({source})" in text
    for secret in ("tok-456", "baked-key", "pw-123", "t-789", "alice"):
        assert secret not in text


@pytest.mark.parametrize(
    ("variables", "problem"),
    [
        pytest.param({}, "no endpoint is set", id="none"),
        pytest.param(
            {"ACME_OTLP_ENDPOINT": "http://alice:pw-123@[::1"},
            "ACME_OTLP_ENDPOINT is not a valid URL",
            id="malformed",
        ),
    ],
)
def test_status_says_nothing_is_sent_without_a_usable_endpoint(
    clean: pytest.MonkeyPatch, variables: dict[str, str], problem: str
) -> None:
    from otel_telemetry import Telemetry

    for name, value in {**variables, "ACME_TELEMETRY_EXPORTER": "otlp"}.items():
        clean.setenv(name, value)

    status = Telemetry(app="acme").status()

    assert status.otlp_endpoint is None
    assert status.otlp_problem is not None
    assert problem in status.otlp_problem
    text = str(status)
    assert "otlp:      nothing sent" in text
    assert "localhost" not in text
    for secret in ("pw-123", "alice", "::1"):
        assert secret not in text


def test_status_without_the_otlp_exporter_says_nothing_of_it(clean: pytest.MonkeyPatch) -> None:
    from otel_telemetry import Telemetry

    status = Telemetry(app="acme", otlp_endpoint="https://gateway.acme.example").status()

    assert status.otlp_endpoint is None
    assert "otlp:" not in str(status)
