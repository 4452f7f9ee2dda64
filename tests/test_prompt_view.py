"""``[v]`` in the terminal question, through a real pseudo-terminal: the readable report.

The acme demo crash (``acme markdown``: crawl4ai's bug, printed, exit 1) is asked about;
``[v]`` prints the report as a person reads it, in colour on a terminal and without
with ``NO_COLOR``; ``[1]`` then sends exactly the report that was shown. Both demo
crashes (``acme crawl`` too: a chain of two), as the ``file`` exporter records them,
read in 20 to 40 lines that hold every value of the report.
"""

from __future__ import annotations

import base64
import json
import re

import pexpect
import pytest

from otel_telemetry._view import render_report
from otel_telemetry.exporters._file import read_reports
from tests.cli_hosts import CHOICE, QUESTION, spawn
from tests.conftest import acme_command, otlp_env, run_acme
from tests.payloads import attributes

pytestmark = pytest.mark.integration

SGR = re.compile(r"\x1b\[[0-9;]*m")
ERROR_LINE = "AttributeError: 'NoneType' object has no attribute 'raw'"


@pytest.fixture
def terminal(tty_env, otlp_http):
    env = otlp_env(tty_env, otlp_http, TERM="xterm-256color")
    env.pop("NO_COLOR", None)
    return env


def view(env, command: str = "markdown") -> tuple[pexpect.spawn, str]:
    """Crash the demo, answer ``v``; the child and what ``[v]`` printed (pty newlines)."""
    child = spawn([acme_command(), command, "https://example.com/a"], env)
    child.expect(CHOICE)
    child.sendline("v")
    child.expect(CHOICE)
    shown = child.before
    assert QUESTION in shown  # asked again, after the report
    report = shown.split(QUESTION)[0]
    return child, report.replace("\r\n", "\n").removeprefix("v\n").strip("\n")


def finish(child: pexpect.spawn) -> str:
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 1  # the host's own exit code, whatever was answered
    return child.before


def test_view_shows_the_readable_report_in_colour_and_1_sends_exactly_it(terminal, otlp_http):
    child, report = view(terminal)

    plain = SGR.sub("", report)
    assert "\x1b[1m" in report  # bold on a terminal
    assert "\x1b" not in plain  # and no other escape than bold and dim
    lines = plain.splitlines()
    assert 20 <= len(lines) <= 40
    assert lines[0] == "acme 1.4.0 crashed: AttributeError"
    assert "  > acme/cli.py, line 43, in markdown" in lines
    assert ERROR_LINE in lines
    assert "Removed by the scrubber: nothing" in lines
    assert lines[-2] == "Goes to:"
    assert lines[-1].startswith("  otlp")  # and its endpoint
    assert otlp_http.requests == []  # viewing sends nothing

    child.sendline("1")
    child.expect("Email: ")
    child.sendline("")
    assert "this report will be sent" in finish(child)

    [received] = otlp_http.wait_for(1)
    span = received.span()
    event = attributes(span["events"][0]["attributes"])
    assert f"{event['exception.type']}: {event['exception.message']}" == ERROR_LINE
    trace_id = base64.b64decode(span["traceId"]).hex()
    span_id = base64.b64decode(span["spanId"]).hex()
    assert f"  report id        {trace_id} / {span_id} (random)" in lines  # the very report
    assert attributes(span["attributes"])["otel_telemetry.mechanism"] == "exit"


def test_no_color_gives_the_same_report_without_any_escape(terminal, otlp_http):
    child, report = view({**terminal, "NO_COLOR": "1"})

    assert "\x1b" not in report
    lines = report.splitlines()
    assert 20 <= len(lines) <= 40
    assert ERROR_LINE in lines
    assert "  > acme/cli.py, line 43, in markdown" in lines

    child.sendline("3")
    finish(child)
    assert otlp_http.requests == []


def test_the_crawl_crash_with_its_cause_reads_in_at_most_40_lines(terminal, otlp_http):
    child, report = view({**terminal, "NO_COLOR": "1"}, "crawl")

    lines = report.splitlines()
    assert 20 <= len(lines) <= 40, report
    assert lines[0] == "acme 1.4.0 crashed: acme.crawler.CrawlError"
    assert "ConnectionRefusedError: connection to [url] refused" in lines

    child.sendline("3")
    finish(child)
    assert otlp_http.requests == []


@pytest.mark.parametrize("command", ["crawl", "markdown"])
def test_a_recorded_demo_crash_reads_in_20_to_40_lines_with_every_value(
    command, host_env, config_dir
):
    host_env["ACME_TELEMETRY"] = "1"  # no exporter configured: the file exporter records it

    assert run_acme([command, "https://example.com/a"], host_env).returncode == 1

    [document] = read_reports(config_dir / "telemetry" / "reports")
    text = render_report(document, destinations=("file",))
    assert 20 <= len(text.splitlines()) <= 40, text
    span = document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    event = attributes(span["events"][0]["attributes"])
    for entry in json.loads(event["otel_telemetry.exception.chain"]):
        assert f"{entry['type']}: {entry['message']}" in text
        for frame in entry["frames"]:
            if frame["filename"] != "<user code>":
                line = f"{frame['filename']}, line {frame['lineno']}, in {frame['function']}"
                assert line in text
    assert f"{span['traceId']} / {span['spanId']} (random)" in text
    resource = attributes(document["resourceSpans"][0]["resource"]["attributes"])
    runtime = resource["process.runtime.version"]
    assert f"Python           CPython {runtime} on {resource['os.type']}" in text
    assert f"acme {resource['service.version']} crashed" in text
    scrubbed = attributes(span["attributes"]).get("otel_telemetry.scrubbed", [])
    for count in scrubbed:
        rule, number = count.split(":")
        assert f"{number} {rule}" in text
    assert "traceback text   the same as above, as Python prints it" in text
    assert "in the chain" not in text  # nothing of the chain left unshown
