"""The embedded default: the ``file`` exporter, what it writes, and ``telemetry show``."""

from __future__ import annotations

import json
import re
import stat

import pytest

from otel_telemetry.exporters._file import read_reports
from tests.conftest import run_acme
from tests.payloads import CONTACT, CRASH_REPORT, CRAWL_URL, SECRETS, normalized_json

pytestmark = pytest.mark.integration


def test_default_exporter_writes_one_scrubbed_otlp_json_line(host_env, config_dir):
    host_env["ACME_TELEMETRY"] = "1"  # no exporter configured: the file exporter is the default

    result = run_acme(["crawl", CRAWL_URL, "--contact", CONTACT], host_env)

    assert result.returncode == 1
    reports_dir = config_dir / "telemetry" / "reports"
    [day_file] = reports_dir.iterdir()
    assert stat.S_IMODE(day_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(reports_dir.stat().st_mode) == 0o700
    raw = day_file.read_text()
    assert raw.count("\n") == 1
    for secret in (*SECRETS, CRAWL_URL, CONTACT, host_env["HOME"]):
        assert secret not in raw, secret
    [document] = read_reports(reports_dir)
    span = document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    # OTLP/JSON writes ids in hex, not in base64 as the protobuf JSON mapping does
    assert re.fullmatch("[0-9a-f]{32}", span["traceId"])
    assert re.fullmatch("[0-9a-f]{16}", span["spanId"])
    assert normalized_json(document) == CRASH_REPORT

    shown = run_acme(["telemetry", "show", "--json"], host_env)
    assert json.loads(shown.stdout) == document


def test_debug_prints_the_scrubbed_report_instead_of_sending(host_env, config_dir):
    host_env.update(ACME_TELEMETRY="1", ACME_TELEMETRY_DEBUG="1", ACME_TELEMETRY_EXPORTER="file")

    result = run_acme(["crawl", CRAWL_URL, "--contact", CONTACT], host_env)

    printed = result.stderr[result.stderr.index("{\n") :]
    document = json.loads(printed)
    assert document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["name"] == "exception"
    assert CONTACT not in printed
    assert "s3cret-pass" not in printed
    assert result.stdout == "acme: crawling 1 page\n"  # the host's own output, nothing of ours
    # Nothing stored, waiting or recorded as sent: it was printed, and nothing left.
    assert not (config_dir / "telemetry").exists()
