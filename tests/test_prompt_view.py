"""``[v]`` in the terminal question, through a real pseudo-terminal: the readable report.

The acme demo crash (``acme markdown``: crawl4ai's bug, printed, exit 1) is asked about;
``[v]`` prints the report as a person reads it, in colour on a terminal and without
with ``NO_COLOR``; ``[1]`` then sends exactly the report that was shown.
"""

from __future__ import annotations

import base64
import re

import pexpect
import pytest

from tests.cli_hosts import CHOICE, QUESTION, spawn
from tests.conftest import acme_command, otlp_env
from tests.payloads import attributes

pytestmark = pytest.mark.integration

SGR = re.compile(r"\x1b\[[0-9;]*m")
ERROR_LINE = "AttributeError: 'NoneType' object has no attribute 'raw'"


@pytest.fixture
def terminal(tty_env, otlp_http):
    env = otlp_env(tty_env, otlp_http, TERM="xterm-256color")
    env.pop("NO_COLOR", None)
    return env


def view(env) -> tuple[pexpect.spawn, str]:
    """Crash the demo, answer ``v``; the child and what ``[v]`` printed (pty newlines)."""
    child = spawn([acme_command(), "markdown", "https://example.com/a"], env)
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
    assert "Removed by the scrubber:" in lines
    assert plain.endswith("Goes to:\n  otlp")
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
