"""C05/C06: ``[1]`` sends exactly the report the user saw, and ``[v]`` shows exactly that.

A report held before the crash that asks (a crash of another thread, a usage event) is
not the one whose traceback is above the question: answering "send this error only"
must send the main crash alone, and leave the other one unsent. Driven through a real
pseudo-terminal, with a real OTLP receiver.
"""

from __future__ import annotations

import base64
import json
import os

import pexpect
import pytest

from tests.conftest import acme_command, otlp_env, run_python
from tests.payloads import attributes

pytestmark = pytest.mark.integration

CHOICE = r"Your choice \[1/2/3/v\]: "
QUESTION = "We noticed an error. Help improve Acme by sending crash reports?"

MAIN_CRASH = 'parse_robots("no colon here")  # the main thread crashes: ValueError\n'

THREAD_THEN_MAIN = (
    """
import threading
from acme.crawler import parse_robots, run

thread = threading.Thread(target=run, args=("https://example.com/a",))  # CrawlError
thread.start()
thread.join()
"""
    + MAIN_CRASH
)

EVENT_THEN_MAIN = (
    """
from acme.crawler import parse_robots
from acme.telemetry import telemetry

telemetry.send_event("crawl_started", {"pages": 1})
"""
    + MAIN_CRASH
)


@pytest.fixture
def terminal(tty_env, otlp_http):
    return otlp_env(tty_env, otlp_http, ACME_TELEMETRY_PROMPT_TIMEOUT="60", NO_COLOR="1")


def host(code: str, env: dict[str, str]) -> pexpect.spawn:
    return pexpect.spawn(
        os.path.join(os.path.dirname(acme_command()), "python"),
        ["-c", code],
        env=env,
        encoding="utf-8",
        timeout=60,
    )


def answer_once(child: pexpect.spawn) -> str:
    """Answer ``1`` and skip the email; return what the terminal showed up to the end."""
    child.sendline("1")
    child.expect("Email: ")
    child.sendline("")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 1  # the host's own exit code
    return child.before


def received_spans(otlp_http) -> list[dict]:
    """Every span the receiver got; the host has exited, so every send is over."""
    otlp_http.wait_for_spans(1)
    return [span for request in otlp_http.requests for span in request.spans()]


def exception_type(span: dict) -> str:
    [event] = span["events"]
    return attributes(event["attributes"])["exception.type"]


@pytest.mark.parametrize(
    ("code", "held"),
    [
        pytest.param(THREAD_THEN_MAIN, "acme.crawler.CrawlError", id="a thread's crash held"),
        pytest.param(EVENT_THEN_MAIN, "crawl_started", id="a usage event: never held"),
    ],
)
def test_once_sends_the_crash_above_the_question_only(code, held, terminal, otlp_http) -> None:
    child = host(code, terminal)
    child.expect(CHOICE)
    shown = child.before
    # The main crash's traceback is the last thing above the question.
    assert shown.rindex("ValueError: malformed robots.txt line") < shown.rindex(QUESTION)

    answer_once(child)

    spans = received_spans(otlp_http)
    assert [span["name"] for span in spans] == ["exception"], f"sent: {spans}"
    assert exception_type(spans[0]) == "ValueError"
    assert held not in json.dumps(spans)  # the other report stayed held: never sent


def _preview(shown: str) -> str:
    """The readable report ``[v]`` printed (no colour: NO_COLOR), out of what the terminal showed."""
    return shown[: shown.rindex(QUESTION)]


def _otlp_attributes(items: list[dict]) -> dict:
    # OTLP/JSON and protobuf's JSON mapping agree on everything but how ints are spelt.
    return {key: str(value) for key, value in attributes(items).items()}


def test_view_shows_the_one_report_that_once_then_sends(terminal, otlp_http) -> None:
    child = host(THREAD_THEN_MAIN, terminal)
    child.expect(CHOICE)
    child.sendline("v")
    child.expect(CHOICE)
    preview = _preview(child.before)

    answer_once(child)

    # One report shown, the one asked about: the main thread's, not the thread's.
    assert preview.count(" crashed: ") == 1
    assert "crashed: ValueError" in preview
    assert "CrawlError" not in preview
    [sent] = received_spans(otlp_http)
    assert exception_type(sent) == "ValueError"
    # The very span shown: protobuf's JSON mapping spells ids in base64, the view in hex.
    trace_id = base64.b64decode(sent["traceId"]).hex()
    span_id = base64.b64decode(sent["spanId"]).hex()
    assert f"{trace_id} / {span_id}" in preview


def test_always_sends_crash_reports_never_a_usage_event_made_while_asked(
    terminal, otlp_http, config_dir
):
    child = host(EVENT_THEN_MAIN, terminal)
    child.expect(CHOICE)
    child.sendline("2")  # send crash reports (level crash), and remember the answer
    child.expect("Email: ")
    child.sendline("")
    child.expect(pexpect.EOF)
    child.close()

    # The question is about crashes: a usage event is never held for it, so the answer
    # sends the crash alone, and no install id is made.
    spans = received_spans(otlp_http)
    assert [span["name"] for span in spans] == ["exception"], f"sent: {spans}"
    assert not (config_dir / "telemetry" / "install_id").exists()


# A notebook's click can come before the worker recorded the report it is about (the
# first report imports the SDK and builds the pipeline: seconds on a loaded machine).
# "Yes" must still send it; it once arrived nowhere: recorded after the answer, its
# gate said "answered, no".
CLICK_BEFORE_RECORDING = """
import threading
from acme.crawler import parse_robots
from acme.telemetry import telemetry

worker_may_go = threading.Event()
telemetry.pipeline.after_queued(worker_may_go.wait)  # the worker is slow to record
try:
    parse_robots("no_colon")
except ValueError as exc:
    telemetry.capture_exception(exc)  # noted: the widget (here the passive line) is shown
telemetry.question.answer("once")  # the click, before the report is recorded
worker_may_go.set()
print(telemetry.flush(30))
"""


def test_yes_clicked_before_the_report_is_recorded_still_sends_it(host_env, otlp_http):
    env = otlp_env(host_env, otlp_http, ACME_TELEMETRY_MODE="notebook", ACME_TELEMETRY_WIDGETS="0")
    result = run_python(CLICK_BEFORE_RECORDING, env, check=True)

    assert result.stdout.strip().splitlines()[-1] == "True"
    [received] = otlp_http.wait_for(1)
    [span] = received.spans()
    assert attributes(span["events"][0]["attributes"])["exception.type"] == "ValueError"
