"""Exporters by name, and a third-party exporter through a real entry point."""

from __future__ import annotations

import json

import pytest

from tests.conftest import CAPTURE_ONE, run_python

pytestmark = pytest.mark.integration

THIRD_PARTY = """
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

class ListExporter(SpanExporter):
    def __init__(self, path):
        self.path = path
    def export(self, spans):
        with open(self.path, "a") as f:
            for span in spans:
                f.write(span.name + "\\n")
        return SpanExportResult.SUCCESS

def create(context):
    return ListExporter(context.config_dir / "third-party.txt")
"""


def test_entry_point_exporter_is_found_and_used(tmp_path, host_env, config_dir):
    site = tmp_path / "site"
    (site / "thirdparty_exporter-1.0.dist-info").mkdir(parents=True)
    (site / "thirdparty_exporter.py").write_text(THIRD_PARTY)
    info = site / "thirdparty_exporter-1.0.dist-info"
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: thirdparty-exporter\nVersion: 1.0\n"
    )
    (info / "entry_points.txt").write_text(
        "[otel_telemetry.exporters]\nlisting = thirdparty_exporter:create\n"
    )
    host_env.update(
        PYTHONPATH=str(site),
        ACME_TELEMETRY="1",
        ACME_TELEMETRY_EXPORTER="listing, file, nosuchexporter",
    )
    result = run_python(CAPTURE_ONE + "print(delivered)", host_env, check=True)

    assert result.stdout.strip() == "True"
    assert (config_dir / "third-party.txt").read_text() == "exception\n"
    assert len(list((config_dir / "telemetry" / "reports").iterdir())) == 1
    assert result.stderr.count("Unknown telemetry exporter 'nosuchexporter'") == 1


def test_none_sends_nothing(host_env, config_dir):
    host_env.update(ACME_TELEMETRY="1", ACME_TELEMETRY_EXPORTER="none")
    code = CAPTURE_ONE + 't.capture_exception(ValueError("never raised"))\nprint(t.flush(30))'
    assert run_python(code, host_env, check=True).stdout.strip() == "True"
    assert not (config_dir / "telemetry").exists()


def test_usage_events_carry_an_install_id_kept_apart_and_forgotten(host_env, config_dir):
    host_env.update(ACME_TELEMETRY="all", ACME_TELEMETRY_EXPORTER="file")  # usage events too
    code = """
from otel_telemetry import Telemetry
t = Telemetry(app="acme", package="__main__")
t.send_event("crawl_finished", {"pages": 3, "seed": "https://secret.example/x", "tags": ["by a@b.io"]})
print(t.flush(30))
"""
    assert run_python(code, host_env, check=True).stdout.strip() == "True"
    install_id = (config_dir / "telemetry" / "install_id").read_text().strip()
    report = (config_dir / "telemetry" / "reports").iterdir().__next__().read_text()
    [span] = json.loads(report)["resourceSpans"][0]["scopeSpans"][0]["spans"]
    assert span["name"] == "crawl_finished"
    assert {a["key"]: a["value"] for a in span["attributes"]} == {
        "otel_telemetry.kind": {"stringValue": "event"},
        "pages": {"intValue": "3"},
        "seed": {"stringValue": "[url]"},
        "tags": {"arrayValue": {"values": [{"stringValue": "by [email]"}]}},
        "otel_telemetry.install_id": {"stringValue": install_id},
        "otel_telemetry.mode": {"stringValue": "non-interactive"},
        "otel_telemetry.scrubbed": {
            "arrayValue": {"values": [{"stringValue": "email:1"}, {"stringValue": "url:1"}]}
        },
    }
    assert not (config_dir / "config.json").exists()  # the id never goes to config.json

    run_python(
        "from otel_telemetry import Telemetry; Telemetry(app='acme').disable()",
        host_env,
        check=True,
    )
    assert not (config_dir / "telemetry" / "install_id").exists()


def test_pending_report_is_sent_only_after_enable(host_env, config_dir):
    # In a notebook a report waits for the user's answer; enable() from a cell is one.
    host_env.update(ACME_TELEMETRY_MODE="notebook", ACME_TELEMETRY_EXPORTER="file")
    code = (
        CAPTURE_ONE
        + """
print(t.status().enabled, (t.config_dir / "telemetry").exists())
if sys.argv[-1] == "enable":
    t.enable(always=False)
    t.flush(30)
"""
    )
    held = run_python(code, host_env, check=True)
    assert held.stdout.split() == ["None", "False"]
    assert not (config_dir / "telemetry").exists()

    sent = run_python(code, host_env, "enable", check=True)
    assert sent.stdout.split() == ["None", "False"]
    assert len(list((config_dir / "telemetry" / "reports").iterdir())) == 1
    assert not (config_dir / "config.json").exists()  # always=False saves nothing


def test_a_stand_in_file_exporter_is_not_built_twice(tmp_path):
    from otel_telemetry.exporters import ExporterContext, FileSpanExporter, create_exporters

    context = ExporterContext(app="acme", version="1", config_dir=tmp_path)
    exporters = create_exporters(("sentry", "file"), context)  # no DSN

    # Each report stored once: the stand-ins write where `file` does, so they are one.
    assert [type(e) for e in exporters.values()] == [FileSpanExporter]
