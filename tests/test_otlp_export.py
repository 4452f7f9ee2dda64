"""A crash of the example host, sent by the ``otlp`` exporter to a real OTLP receiver."""

from __future__ import annotations

import pytest

from tests.conftest import otlp_env, run_acme
from tests.payloads import CONTACT, CRASH_REPORT, CRAWL_URL, SECRETS, attributes, normalized

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("transport", ["http", "grpc"])
def test_crash_arrives_scrubbed_over_otlp(transport, request, host_env):
    receiver = request.getfixturevalue(f"otlp_{transport}")
    env = otlp_env(
        host_env,
        receiver,
        ACME_TELEMETRY="1",
        ACME_OTLP_PROTOCOL="grpc" if transport == "grpc" else "http/protobuf",
    )

    result = run_acme(["crawl", CRAWL_URL, "--contact", CONTACT], env)

    # The host behaves as without us: the same exit code and traceback on stderr.
    assert result.returncode == 1, result.stderr
    assert "acme.crawler.CrawlError: could not fetch" in result.stderr
    [received] = receiver.wait_for(1)
    assert received.transport == transport
    for secret in (*SECRETS, CRAWL_URL, CONTACT, host_env["HOME"]):
        assert secret.encode() not in received.body, secret

    [resource_spans] = received.request.resource_spans
    resource = {kv.key for kv in resource_spans.resource.attributes}
    assert "service.name" in resource
    # The runtime and the kind of system, nothing else of the machine: no host name, pid,
    # command line, executable path, OS release or user.
    machine = {key for key in resource if key.startswith(("host.", "process.", "os.", "user."))}
    assert machine == {"process.runtime.name", "process.runtime.version", "os.type"}

    # The same payload, whole, whatever the transport.
    assert normalized(received.request) == CRASH_REPORT


def test_exception_event_follows_semantic_conventions(otlp_http, host_env):
    host_env.update(
        ACME_TELEMETRY="1",
        ACME_TELEMETRY_EXPORTER="otlp",
        ACME_OTLP_TRACES_ENDPOINT=f"{otlp_http.endpoint}/v1/traces",
    )
    run_acme(["crawl", CRAWL_URL, "--contact", CONTACT], host_env)

    [received] = otlp_http.wait_for(1)
    span = normalized(received.request)["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    [event] = span["events"]
    assert event["name"] == "exception"
    event_attributes = attributes(event["attributes"])
    assert event_attributes["exception.type"] == "acme.crawler.CrawlError"
    assert event_attributes["exception.message"] == (
        "could not fetch [url] on behalf of [email]; partial page kept in [path]"
    )
    assert event_attributes["exception.stacktrace"].startswith("Traceback (most recent call last):")
    assert span["status"] == {
        "code": 2,
        "message": f"acme.crawler.CrawlError: {event_attributes['exception.message']}",
    }
