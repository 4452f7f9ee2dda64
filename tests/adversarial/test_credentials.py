"""The user's credentials never leave with a report: no netrc, no proxy variables.

Attack (S06): a user keeps a ``default`` entry in ``~/.netrc`` and a proxy URL with
their password in ``https_proxy``. A client that trusts the environment sends
``Authorization: Basic <their login>`` to our collector, or hands their proxy password to
whatever listens on the proxy's port. Every client we create (OTLP/HTTP, Sentry,
OTLP/gRPC) must go straight to the endpoint and send none of it.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from tests.conftest import CAPTURE_ONE, run_python
from tests.processes import wait_until
from tests.receivers.otlp import OtlpGrpcReceiver
from tests.receivers.recording import RecordingEndpoint

pytestmark = pytest.mark.integration

LOGIN, PASSWORD = "alice.smith", "Hunter2-personal"
SECRETS = (LOGIN, PASSWORD, base64.b64encode(f"{LOGIN}:{PASSWORD}".encode()).decode())
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "grpc_proxy")


@pytest.fixture
def proxy() -> RecordingEndpoint:
    """Where the user's proxy variables point: it must see nothing of ours."""
    with RecordingEndpoint() as endpoint:
        yield endpoint


@pytest.fixture
def user_env(host_env: dict[str, str], proxy: RecordingEndpoint) -> dict[str, str]:
    """A user with netrc entries (the receivers' host, and ``default``) and proxy variables
    holding their password."""
    netrc = Path(host_env["HOME"]) / ".netrc"
    # An entry for the receivers' own host, and a default one: neither may be used.
    netrc.write_text(
        f"machine 127.0.0.1 login {LOGIN} password {PASSWORD}\n"
        f"default login {LOGIN} password {PASSWORD}\n"
    )
    os.chmod(netrc, 0o600)
    env = {k: v for k, v in host_env.items() if k.lower() != "no_proxy"}
    proxy_url = f"http://{LOGIN}:{PASSWORD}@127.0.0.1:{proxy.port}"
    for name in PROXY_VARIABLES:
        env[name] = env[name.upper()] = proxy_url
    env["ACME_TELEMETRY"] = "1"
    return env


def _assert_no_credentials(headers: dict[str, str]) -> None:
    lowered = {k.lower(): v for k, v in headers.items()}
    assert "authorization" not in lowered, lowered
    assert "proxy-authorization" not in lowered, lowered
    for secret in SECRETS:
        assert not any(secret in value for value in lowered.values()), (secret, lowered)


def test_otlp_http_sends_no_netrc_or_proxy_credentials(
    user_env: dict[str, str], proxy: RecordingEndpoint
) -> None:
    with RecordingEndpoint() as collector:
        user_env.update(ACME_TELEMETRY_EXPORTER="otlp", ACME_OTLP_ENDPOINT=collector.url)

        result = run_python(CAPTURE_ONE, user_env)

        assert result.returncode == 0, result.stderr
        [request] = wait_until(
            lambda: collector.of_kind("otlp"), "the report reached the collector"
        )
        _assert_no_credentials(request.headers)
        assert len(request.span_ids()) == 1
    assert proxy.requests == []


def test_sentry_sends_no_netrc_or_proxy_credentials(
    user_env: dict[str, str], proxy: RecordingEndpoint
) -> None:
    with RecordingEndpoint() as sentry:
        user_env.update(ACME_TELEMETRY_EXPORTER="sentry", ACME_SENTRY_DSN=sentry.dsn())

        result = run_python(CAPTURE_ONE, user_env)

        assert result.returncode == 0, result.stderr
        [request] = wait_until(lambda: sentry.of_kind("sentry"), "the event reached Sentry")
        _assert_no_credentials(request.headers)
        assert "sentry_key=0123456789abcdef0123456789abcdef" in request.headers["x-sentry-auth"]
        [event] = request.events()
        assert event["exception"]["values"][-1]["type"] == "ValueError"
    assert proxy.requests == []


def test_otlp_grpc_ignores_the_proxy_variables(
    user_env: dict[str, str], proxy: RecordingEndpoint
) -> None:
    with OtlpGrpcReceiver() as collector:
        user_env.update(
            ACME_TELEMETRY_EXPORTER="otlp",
            ACME_OTLP_PROTOCOL="grpc",
            ACME_OTLP_ENDPOINT=collector.endpoint,
            ACME_TELEMETRY_FLUSH_TIMEOUT="5",
        )

        result = run_python(CAPTURE_ONE, user_env)

        assert result.returncode == 0, result.stderr
        [received] = collector.wait_for(1, timeout=30)
        _assert_no_credentials(received.headers)
    assert proxy.requests == []
