"""The host's globals are untouched: tracer provider, excepthooks, imports (subprocess tests)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import run_python

pytestmark = pytest.mark.integration

HEAVY = ("opentelemetry", "sentry_sdk", "grpc", "google.protobuf", "click", "json", "logging")


def test_import_create_and_install_import_nothing_heavy(host_env):
    code = f"""
import sys, json as _json
before = set(sys.modules)
import otel_telemetry
telemetry = otel_telemetry.Telemetry(app="acme", package="acme", version="1.0")
telemetry.install()
added = sorted(m for m in set(sys.modules) - before if m.startswith({HEAVY!r}))
print(_json.dumps(added))
"""
    result = run_python(code, host_env, check=True)
    assert json.loads(result.stdout) == []


def test_no_global_changes_until_install_and_after_reporting(host_env):
    host_env["ACME_TELEMETRY"] = "1"
    code = """
import json, sys, threading
from opentelemetry import trace
from otel_telemetry import Telemetry

original = (sys.excepthook, threading.excepthook)
telemetry = Telemetry(app="acme", package="__main__", version="1.0")
try:
    raise ValueError("boom")
except ValueError as exc:
    telemetry.capture_exception(exc)
delivered = telemetry.flush(30)
state = {
    "delivered": delivered,
    "proxy_provider": type(trace.get_tracer_provider()).__name__,
    "global_provider_unset": trace._TRACER_PROVIDER is None,
    "hooks_unchanged_before_install": (sys.excepthook, threading.excepthook) == original,
}
telemetry.install()
state["hooks_replaced_by_install"] = sys.excepthook is not original[0] and threading.excepthook is not original[1]
telemetry.install()  # idempotent: still one layer of hooks
state["install_idempotent"] = sys.excepthook.__self__._slots[0].previous is original[0]
telemetry.shutdown()
state["hooks_restored"] = (sys.excepthook, threading.excepthook) == original
state["still_proxy"] = type(trace.get_tracer_provider()).__name__
print(json.dumps(state))
"""
    result = run_python(code, host_env, check=True)
    assert json.loads(result.stdout) == {
        "delivered": True,
        "proxy_provider": "ProxyTracerProvider",
        "global_provider_unset": True,
        "hooks_unchanged_before_install": True,
        "hooks_replaced_by_install": True,
        "install_idempotent": True,
        "hooks_restored": True,
        "still_proxy": "ProxyTracerProvider",
    }


def test_host_tracing_is_untouched_by_our_reports(host_env, config_dir):
    """A host with its own global TracerProvider keeps it, and sees none of our spans."""
    host_env["ACME_TELEMETRY"] = "1"
    code = """
import json
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from otel_telemetry import Telemetry

host_exporter = InMemorySpanExporter()
host_provider = TracerProvider()
host_provider.add_span_processor(SimpleSpanProcessor(host_exporter))
trace.set_tracer_provider(host_provider)

telemetry = Telemetry(app="acme", package="__main__", version="1.0")
telemetry.install()
with trace.get_tracer("host").start_as_current_span("host-request"):
    try:
        raise KeyError("inside the host's span")
    except KeyError as exc:
        telemetry.capture_exception(exc)
telemetry.flush(30)
print(json.dumps({
    "same_provider": trace.get_tracer_provider() is host_provider,
    "host_spans": [s.name for s in host_exporter.get_finished_spans()],
}))
"""
    result = run_python(code, host_env, check=True)
    assert json.loads(result.stdout) == {"same_provider": True, "host_spans": ["host-request"]}
    # Our report is a root span of its own trace, not a child of the host's span.
    from otel_telemetry.exporters._file import read_reports

    [document] = read_reports(config_dir / "telemetry" / "reports")
    [span] = document["resourceSpans"][0]["scopeSpans"][0]["spans"]
    assert "parentSpanId" not in span


def test_excepthook_chains_to_the_hook_it_replaced(host_env, config_dir):
    host_env["ACME_TELEMETRY"] = "1"
    code = """
import sys
def host_hook(exc_type, exc, tb):
    print("host hook saw", exc_type.__name__, file=sys.stderr)
sys.excepthook = host_hook

from otel_telemetry import Telemetry
Telemetry(app="acme", package="__main__", version="1.0").install()

def crash():
    raise RuntimeError("uncaught")
crash()
"""
    result = run_python(code, host_env)
    assert result.returncode == 1
    assert result.stderr.count("host hook saw RuntimeError") == 1
    from otel_telemetry.exporters._file import read_reports

    [document] = read_reports(config_dir / "telemetry" / "reports")
    [span] = document["resourceSpans"][0]["scopeSpans"][0]["spans"]
    mechanism = {a["key"]: a["value"] for a in span["attributes"]}["otel_telemetry.mechanism"]
    assert mechanism == {"stringValue": "excepthook"}


def test_crash_outside_the_host_package_is_not_reported(host_env, config_dir):
    host_env["ACME_TELEMETRY"] = "1"
    code = """
from otel_telemetry import Telemetry
Telemetry(app="acme", package="acme", version="1.0").install()
raise RuntimeError("the user's own script, not acme")
"""
    result = run_python(code, host_env)
    assert result.returncode == 1
    assert "the user's own script" in result.stderr
    assert not (config_dir / "telemetry").exists()
