"""The host's generic ``OTEL_*`` variables never shape the library's reports.

A host application configures *its* OpenTelemetry with ``OTEL_*`` variables: span and
attribute limits, a sampler, a resource, batch settings, SDK metrics. The library's
private ``TracerProvider`` is built with every one of those given explicitly, so a host's
``OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT=1`` cannot drop a report's type, message or audit, a
length limit cannot cut a secret before it is scrubbed, and the SDK never warns about
our spans on the host's root logger.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from otel_telemetry import _attributes as attr
from tests.conftest import run_python

#: Every variable the SDK reads for a provider, its limits, sampler, resource, id
#: generator, batch processor and its own metrics, each set to a hostile value: too
#: small, malformed, or one that would drop or change our spans.
HOSTILE_OTEL = {
    "OTEL_ATTRIBUTE_COUNT_LIMIT": "1",
    "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT": "4",
    "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT": "1",
    "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT": "4",
    "OTEL_SPAN_EVENT_COUNT_LIMIT": "0",
    "OTEL_SPAN_LINK_COUNT_LIMIT": "not-a-number",
    "OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT": "1",
    "OTEL_LINK_ATTRIBUTE_COUNT_LIMIT": "-3",
    "OTEL_TRACES_SAMPLER": "always_off",
    "OTEL_TRACES_SAMPLER_ARG": "0",
    "OTEL_PYTHON_ID_GENERATOR": "nonexistent_generator",
    "OTEL_RESOURCE_ATTRIBUTES": "host.name=grace-laptop,team=HOSTATTR",
    "OTEL_SERVICE_NAME": "HOSTATTR-svc",
    "OTEL_BSP_SCHEDULE_DELAY": "not-a-number",
    "OTEL_BSP_MAX_QUEUE_SIZE": "0",
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "0",
    "OTEL_BSP_EXPORT_TIMEOUT": "-1",
    "OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED": "true",
    "OTEL_PYTHON_TRACER_PROVIDER": "nonexistent_provider",
    "OTEL_TRACES_EXPORTER": "console",
    "OTEL_LOG_LEVEL": "debug",
}

_HOST = textwrap.dedent(
    """
    import logging, sys
    # A host that shows everything its loggers get, the SDK's included.
    logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
    from otel_telemetry import ScrubbingOptions, Telemetry
    arguments = {}
    if sys.argv[1:]:
        arguments["scrubbing"] = ScrubbingOptions(disabled_rules=sys.argv[1].split(","))
    t = Telemetry(app="acme", package="__main__", **arguments)
    def crash():
        raise ValueError("a crash of the host, mail grace@clinic.example")
    try:
        crash()
    except ValueError as exc:
        t.capture_exception(exc)
    assert t.flush(30)
    """
)


def _reports(env: dict[str, str]) -> list[dict[str, Any]]:
    reports = Path(env["ACME_CONFIG_DIR"]) / "telemetry" / "reports"
    return [
        json.loads(line)
        for path in sorted(reports.iterdir())
        for line in path.read_text().splitlines()
    ]


def _values(attributes: list[dict[str, Any]]) -> dict[str, Any]:
    return {kv["key"]: next(iter(kv["value"].values())) for kv in attributes}


def _libraries_own_lines(stderr: str) -> list[str]:
    """The lines of stderr that are not the host's own DEBUG chatter of other libraries."""
    return [line for line in stderr.splitlines() if not line.startswith("DEBUG:asyncio")]


@pytest.mark.integration
def test_hostile_otel_variables_change_nothing_and_print_nothing(
    host_env: dict[str, str],
) -> None:
    env = {**host_env, **HOSTILE_OTEL, "ACME_TELEMETRY": "1", "ACME_TELEMETRY_EXPORTER": "file"}

    result = run_python(_HOST, env, check=True)

    assert _libraries_own_lines(result.stderr) == []
    [document] = _reports(env)
    [resource_spans] = document["resourceSpans"]
    resource = _values(resource_spans["resource"]["attributes"])
    assert resource["service.name"] == "acme"
    assert "HOSTATTR" not in json.dumps(document)
    assert "grace-laptop" not in json.dumps(document)
    [scope] = resource_spans["scopeSpans"]
    [span] = scope["spans"]
    span_attributes = _values(span["attributes"])
    for key in (attr.KIND, attr.MECHANISM, attr.HANDLED, attr.SCRUBBED):  # the audit
        assert key in span_attributes, sorted(span_attributes)
    [event] = span["events"]
    values = _values(event["attributes"])
    # The whole report: type, message (scrubbed, not cut at 4 characters), stack, audit.
    assert values[attr.EXCEPTION_TYPE] == "ValueError"
    assert values[attr.EXCEPTION_MESSAGE] == "a crash of the host, mail [email]"
    assert "in crash" in values[attr.EXCEPTION_STACKTRACE]
    assert attr.EXCEPTION_CHAIN in values
    assert "grace@clinic.example" not in json.dumps(document)


@pytest.mark.integration
def test_a_bad_disabled_rule_still_reports_with_one_warning(host_env: dict[str, str]) -> None:
    env = {**host_env, "ACME_TELEMETRY": "1", "ACME_TELEMETRY_EXPORTER": "file"}

    result = run_python(_HOST, env, "nope,ipv4", check=True)

    [warning] = [line for line in result.stderr.splitlines() if "otel_telemetry" in line]
    assert "Telemetry(scrubbing.disabled_rules=...)" in warning
    assert "nope" not in warning
    [document] = _reports(env)
    [event] = document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["events"]
    values = _values(event["attributes"])
    assert values[attr.EXCEPTION_MESSAGE] == "a crash of the host, mail [email]"


_CRASH = textwrap.dedent(
    """
    from otel_telemetry import Telemetry
    t = Telemetry(app="acme", package="__main__")
    try:
        raise ValueError("a crash of the host")
    except ValueError as exc:
        t.capture_exception(exc)
    assert t.flush(30)
    """
)


@pytest.mark.integration
def test_a_report_waits_on_disk_when_the_sdk_cannot_load(
    host_env: dict[str, str], otlp_http: Any, config_dir: Path
) -> None:
    # The SDK raises at import when a limit variable is not a number: the report is
    # written without it, and the next run, in a sane environment, sends it.
    from tests.conftest import otlp_env

    env = otlp_env(host_env, otlp_http, ACME_TELEMETRY="1")
    broken = run_python(_CRASH, {**env, "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT": "abc"})

    assert broken.returncode == 0, broken.stderr
    assert broken.stderr.count("could not be loaded") == 1, broken.stderr
    assert "abc" not in broken.stderr
    assert len(list((config_dir / "telemetry" / "outbox").glob("*.json"))) == 1
    assert otlp_http.requests == []

    run_python(
        "import time; from otel_telemetry import Telemetry; "
        "t = Telemetry(app='acme', package='__main__'); t.install(); "
        "assert t.flush(30)",
        env,
        check=True,
    )

    messages = [
        event["attributes"]
        for request in otlp_http.wait_for(1)
        for span in request.spans()
        for event in span["events"]
    ]
    assert any("a crash of the host" in json.dumps(m) for m in messages)
