"""A host's own Sentry is neither fed nor changed by our reports.

Attack (G02, and finding 7): a host runs ``sentry_sdk.init`` with its default
integrations (logging included) and our telemetry sends to an endpoint that answers
400. Our failed exports must not become error events in the host's project, and
sending our Sentry event must change nothing global in sentry_sdk: the host's client,
options, SDK name, scope, integrations, nor the process's ``warnings`` filters and
``atexit`` callbacks.
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import run_python
from tests.processes import wait_until
from tests.receivers.recording import RecordingEndpoint

pytestmark = pytest.mark.integration

HOST = """
import atexit, json, sys, warnings
import sentry_sdk
import sentry_sdk.client

sentry_sdk.init(dsn=sys.argv[1], release="host@9.9", traces_sample_rate=1.0)
sentry_sdk.set_tag("host_tag", "host value")

from otel_telemetry import Telemetry

t = Telemetry(app="acme", package="__main__", sentry_dsn=sys.argv[2])
t.install()  # its one atexit callback is registered here, before the snapshot


def snapshot():
    client = sentry_sdk.get_client()
    return {
        "client": id(client),
        "dsn": client.options["dsn"],
        "release": client.options["release"],
        "sdk_info": dict(sentry_sdk.client.SDK_INFO),
        "integrations": sorted(client.integrations),
        "tags": dict(sentry_sdk.get_isolation_scope()._tags),
        "scope_client": id(sentry_sdk.get_current_scope().get_client()),
        "warnings_filters": [repr(f) for f in warnings.filters],
        "atexit_callbacks": atexit._ncallbacks(),
    }


before = snapshot()
try:
    raise ValueError("a crash of the host")
except ValueError as exc:
    t.capture_exception(exc)
delivered = t.flush(30)
after = snapshot()
sentry_sdk.capture_message("the host's own message")
sentry_sdk.flush(10)
print(json.dumps({"before": before, "after": after, "delivered": delivered}))
"""


@pytest.fixture
def endpoints():
    host_sentry, our_sentry = RecordingEndpoint(), RecordingEndpoint()
    collector = RecordingEndpoint("status", 400)
    yield host_sentry, our_sentry, collector
    for endpoint in (host_sentry, our_sentry, collector):
        endpoint.close()


def _host_events(host_sentry: RecordingEndpoint) -> list[dict]:
    return [event for request in host_sentry.of_kind("sentry") for event in request.events()]


def test_our_reports_feed_and_change_nothing_of_the_hosts_sentry(host_env, endpoints):
    host_sentry, our_sentry, collector = endpoints
    host_env.update(
        ACME_TELEMETRY="1",
        ACME_TELEMETRY_EXPORTER="sentry,otlp",
        ACME_OTLP_ENDPOINT=collector.url,
    )

    result = run_python(HOST, host_env, host_sentry.dsn(project=1), our_sentry.dsn(project=7))

    assert result.returncode == 0, result.stderr
    [request] = wait_until(lambda: our_sentry.of_kind("sentry"), "our event reached our Sentry")
    assert request.events()[0]["exception"]["values"][-1]["type"] == "ValueError"
    assert collector.of_kind("otlp"), "the collector was asked (and answered 400)"

    # The host's project received the host's own message, and nothing of ours.
    events = wait_until(lambda: _host_events(host_sentry), "the host's own event arrived")
    assert [e.get("message") or e.get("logentry", {}).get("message") for e in events] == [
        "the host's own message"
    ], events
    assert "exception" not in json.dumps(events)

    # sentry_sdk's globals, warnings filters and atexit callbacks are as before our report.
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["after"] == report["before"]
    [host_event] = events
    assert host_event["sdk"]["name"] == report["before"]["sdk_info"]["name"]
    assert host_event["release"] == "host@9.9"
    assert host_event["tags"]["host_tag"] == "host value"


def test_our_sentry_events_do_not_claim_the_hosts_sdk(host_env, endpoints):
    """Our events are sent by us: their ``sdk`` is ours, and they carry no host scope."""
    host_sentry, our_sentry, _ = endpoints
    host_env.update(ACME_TELEMETRY="1", ACME_TELEMETRY_EXPORTER="sentry")

    result = run_python(HOST, host_env, host_sentry.dsn(project=1), our_sentry.dsn(project=7))

    assert result.returncode == 0, result.stderr
    [request] = wait_until(lambda: our_sentry.of_kind("sentry"), "our event reached our Sentry")
    [event] = request.events()
    assert event["sdk"]["name"] == "otel_telemetry"
    assert "host_tag" not in event["tags"]
    assert event["release"] == "acme@unknown" or event["release"].startswith("acme@")
