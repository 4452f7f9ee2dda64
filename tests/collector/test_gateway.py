"""gateway.yaml and agent.yaml on the real collector: they load, start, report healthy, and
a host's crash report crosses the gateway intact (issue 19, tests 1 and 2)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from google.protobuf.json_format import MessageToDict

from tests.collector.otelcol import CONFIG, Collector, binary, env_example, validate
from tests.conftest import run_acme
from tests.payloads import CONTACT, CRAWL_URL, SECRETS
from tests.receivers.otlp import OtlpHttpReceiver
from tests.test_cli_transparency import CRASH, hex_ids, ok

pytestmark = [pytest.mark.collector, pytest.mark.integration]

KINDS = ("receivers", "processors", "exporters", "extensions", "connectors")


def _agent_env(tmp_path: Path) -> dict[str, str]:
    return {**env_example(), "OTEL_AGENT_QUEUE_DIR": str(tmp_path / "queue")}


def test_the_binary_is_the_manifest_release_with_exactly_the_components_the_configs_use():
    manifest = yaml.safe_load((CONFIG / "builder-config.yaml").read_text())
    described = yaml.safe_load(
        subprocess.run(
            [str(binary()), "components"], capture_output=True, text=True, timeout=60, check=True
        ).stdout
    )
    assert described["buildinfo"]["version"] == manifest["dist"]["version"]
    built = {(kind, component["name"]) for kind in KINDS for component in described.get(kind) or ()}
    modules = {component["module"] for kind in KINDS for component in described.get(kind) or ()}
    assert modules == {entry["gomod"] for kind in KINDS for entry in manifest.get(kind) or ()}
    used = set()
    for name in ("gateway.yaml", "agent.yaml"):
        config = yaml.safe_load((CONFIG / name).read_text())
        for kind in KINDS:
            used |= {(kind, component.split("/")[0]) for component in config.get(kind) or {}}
    assert used == built


@pytest.mark.parametrize("name", ["gateway.yaml", "agent.yaml"])
def test_validate_accepts_the_config_with_the_variables_of_env_example(name, tmp_path):
    result = validate(name, _agent_env(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    # Deprecated settings and component names still validate: they are warnings to fix.
    assert not re.search(r"(?i)deprecat", result.stdout + result.stderr), result.stderr


def test_validate_rejects_a_config_it_cannot_load(tmp_path):
    # The check above can fail: an OTTL statement the parser refuses stops validate.
    broken = tmp_path / "broken.yaml"
    config = yaml.safe_load((CONFIG / "gateway.yaml").read_text())
    config["processors"]["transform/scrub"]["trace_statements"].append('set(span.nope, "x")')
    broken.write_text(json.dumps(config))
    result = subprocess.run(
        [str(binary()), "validate", f"--config={broken}"],
        env={**_agent_env(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "transform/scrub" in result.stderr


def test_the_gateway_starts_healthy_and_stops_on_sigterm(gateway):
    assert gateway.healthy()
    assert gateway.stop() == 0
    assert "Everything is ready" in gateway.log.read_text()
    # A deprecated name or setting, or an OTTL statement that fails, is logged, not fatal.
    assert gateway.problems() == []


def test_the_agent_starts_healthy_and_stops_on_sigterm(tmp_path):
    with Collector("agent.yaml", tmp_path, _agent_env(tmp_path)) as agent:
        assert agent.healthy()
        assert agent.stop() == 0
        assert agent.problems() == []
    assert (tmp_path / "queue").is_dir()  # file_storage made its folder


def _crash_through(gateway: Collector, host_env: dict[str, str], protocol: str) -> dict:
    endpoint = gateway.http_endpoint if protocol == "http/protobuf" else gateway.grpc_endpoint
    env = {
        **host_env,
        "ACME_TELEMETRY": "1",
        "ACME_TELEMETRY_EXPORTER": "otlp",
        "ACME_OTLP_PROTOCOL": protocol,
        "ACME_OTLP_ENDPOINT": endpoint if "://" in endpoint else f"http://{endpoint}",
    }
    result = run_acme(CRASH, env)
    assert result.returncode == 1, result.stderr
    # What the library sent, as it recorded it (the OTLP/JSON of the request).
    return dict(json.loads(ok(run_acme(["telemetry", "show", "--json"], env))))


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_a_host_report_crosses_the_gateway_intact(
    protocol, host_env, gateway, backend: OtlpHttpReceiver, sentry_otlp: OtlpHttpReceiver
):
    sent = _crash_through(gateway, host_env, protocol)

    for receiver in (backend, sentry_otlp):
        [received] = receiver.wait_for(1, timeout=30)  # the gateway batches for up to 2 s
        arrived = hex_ids(MessageToDict(received.request, use_integers_for_enums=True))
        # Everything the host sent arrives as it was: resource, scope, the span, its
        # attributes and the exception event with its stack trace.
        assert arrived == sent
    [span] = received.spans()
    [event] = span["events"]
    assert event["name"] == "exception"
    keys = {attribute["key"] for attribute in event["attributes"]}
    assert {"exception.type", "exception.message", "exception.stacktrace"} <= keys
    # The gateway keeps what the user typed when opting in, and nothing the host scrubbed.
    text = json.dumps(arrived)
    for secret in (*SECRETS, CRAWL_URL):
        assert secret not in text, secret
    assert CONTACT not in text  # given on the command line, not as the opt-in address


def test_the_sentry_exporter_sends_the_dsn_key_header(
    host_env, gateway, backend: OtlpHttpReceiver, sentry_otlp: OtlpHttpReceiver
):
    _crash_through(gateway, host_env, "http/protobuf")
    [received] = sentry_otlp.wait_for(1, timeout=30)
    headers = {key.lower(): value for key, value in received.headers.items()}
    assert headers["x-sentry-auth"] == f"sentry sentry_key={env_example()['SENTRY_PUBLIC_KEY']}"
    [to_backend] = backend.wait_for(1, timeout=30)
    assert {k.lower(): v for k, v in to_backend.headers.items()}["authorization"] == (
        env_example()["BACKEND_AUTHORIZATION"]
    )
