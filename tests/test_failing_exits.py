"""Crashes that a command line turns into ``Error: …`` and a failing exit, on a real terminal.

Each host runs on a pseudo-terminal with no consent given, as on a user's machine: the
crash behind a failing exit is asked about after the host's own ``Error:`` line, and
answering ``[1]`` sends the *original* exception (its type and frames), mechanism
``exit``, not handled. Exits that are no crash (a success, a usage error, nothing
behind them, Ctrl-C) ask nothing, and send nothing even with consent given.
"""

from __future__ import annotations

import sys

import pexpect
import pytest

from tests.cli_hosts import (
    QUESTION,
    Report,
    answer_once,
    finish,
    spawn,
    spawn_host,
    stored,
    with_hosts,
)
from tests.conftest import acme_command, otlp_env

pytestmark = pytest.mark.integration


@pytest.fixture
def terminal(tty_env, otlp_http, tmp_path):
    """A user's terminal: no consent yet; reports go to the OTLP receiver."""
    return with_hosts(otlp_env(tty_env, otlp_http), tmp_path / "hosts")


def _asked_after_the_error_line(child: pexpect.spawn, error_line: str) -> str:
    before = answer_once(child)
    assert error_line in before
    assert before.index(error_line) < before.index(QUESTION)  # the host's line comes first
    return before


def _nothing_asked_or_kept(output: str, otlp_http, config_dir) -> None:
    assert QUESTION not in output
    assert otlp_http.requests == []
    assert stored(config_dir) == []


def _one_report(otlp_http) -> Report:
    [received] = otlp_http.wait_for(1)
    return Report(received.span())


# (host, its arguments, the host's error line, its exit status)
CRASHING_EXITS = {
    "click: Error + sys.exit(1)": (
        "clihost",
        ["setting", "exit1", "missing"],
        "Error: 'missing'",
        1,
    ),
    "click: sys.exit(message)": (
        "clihost",
        ["setting", "exit-message", "missing"],
        "Error: 'missing'",
        1,
    ),
    "click: ClickException(str(e))": (
        "clihost",
        ["setting", "click-exception", "missing"],
        "Error: 'missing'",
        1,
    ),
    "click: Abort": ("clihost", ["setting", "abort", "missing"], "Aborted!", 1),
    "typer: Exit(code=1)": ("typerhost", ["--code", "1", "missing"], "Error: 'missing'", 1),
    "argparse: parser.error": (
        "argparsehost",
        ["missing"],
        "argparsehost: error: no setting 'missing'",
        2,
    ),
}


@pytest.mark.parametrize("shape", CRASHING_EXITS)
def test_the_crash_behind_a_failing_exit_is_asked_about_then_sent(shape, terminal, otlp_http):
    host, args, error_line, status = CRASHING_EXITS[shape]
    child = spawn_host(host, args, terminal)

    _asked_after_the_error_line(child, error_line)
    exit_status, after = finish(child)

    assert exit_status == status  # the host's own status, whatever was answered
    assert "this report will be sent" in after
    report = _one_report(otlp_http)
    assert (report.mechanism, report.handled) == ("exit", False)
    assert report.type == "KeyError"  # the original, not the exit
    assert report.functions()[-1] == "load"  # the original's frames: where it was raised
    assert len(otlp_http.requests) == 1


def test_an_uncaught_crash_in_a_typer_command_is_asked_about(terminal, otlp_http, config_dir):
    """typer replaces ``sys.excepthook`` without chaining to ours: seen at exit."""
    child = spawn_host("typerhost", ["--no-catch", "missing"], terminal)

    before = answer_once(child)
    exit_status, _ = finish(child)

    assert exit_status == 1
    assert "KeyError" in before  # typer's own traceback comes first
    if sys.version_info[:2] == (3, 12) and not otlp_http.requests:
        # Seen at exit, and 3.12 starts no thread once the main thread has ended: the
        # report the user agreed to waits on disk for the next run.
        [waiting] = stored(config_dir)
        assert '"KeyError"' in waiting.read_text("utf-8")
        return
    report = _one_report(otlp_http)
    assert (report.mechanism, report.handled, report.type) == ("excepthook", False, "KeyError")
    assert report.functions()[-1] == "load"


def test_the_example_cli_that_prints_error_and_exits_1(terminal, otlp_http):
    """``acme markdown``: crawl4ai's bug, caught by the command, printed, exit 1."""
    child = spawn([acme_command(), "markdown", "https://example.com/a"], terminal)

    _asked_after_the_error_line(child, "Error: 'NoneType' object has no attribute 'raw'")
    assert finish(child)[0] == 1

    report = _one_report(otlp_http)
    assert (report.mechanism, report.handled, report.type) == ("exit", False, "AttributeError")
    assert [(f["filename"], f["function"]) for f in report.chain[-1]["frames"]] == [
        ("acme/cli.py", "markdown")
    ]


def test_the_example_cli_that_raises_click_exception_from_except(terminal, otlp_http, tmp_path):
    robots = tmp_path / "robots.txt"
    robots.write_text("User-agent: *\nno colon here\n")
    child = spawn([acme_command(), "robots", str(robots)], terminal)

    _asked_after_the_error_line(child, "Error: malformed robots.txt line")
    assert finish(child)[0] == 1

    report = _one_report(otlp_http)
    assert (report.mechanism, report.handled, report.type) == ("exit", False, "ValueError")
    assert report.functions() == ["robots", "parse_robots"]


# (host, its arguments, its exit status)
NOT_CRASHES = {
    "typer: Exit(0)": ("typerhost", ["--code", "0", "missing"], 0),
    "click: sys.exit(0)": ("clihost", ["setting", "exit0", "missing"], 0),
    "click: UsageError from except": ("clihost", ["setting", "usage", "missing"], 2),
    "click: BadParameter from except": ("clihost", ["setting", "bad-parameter", "missing"], 2),
    "click: SystemExit(2), nothing behind": ("clihost", ["bare"], 2),
    "argparse: a bad type=": ("argparsehost", ["--pages", "many", "missing"], 2),
}


@pytest.mark.parametrize("consent", ["not given", "ACME_TELEMETRY=1"])
@pytest.mark.parametrize("shape", NOT_CRASHES)
def test_exits_that_are_no_crash_ask_and_send_nothing(
    shape, consent, terminal, otlp_http, config_dir
):
    host, args, status = NOT_CRASHES[shape]
    env = {**terminal, "ACME_TELEMETRY_PROMPT_TIMEOUT": "1"}
    if consent != "not given":
        env["ACME_TELEMETRY"] = "1"

    exit_status, output = finish(spawn_host(host, args, env))

    assert exit_status == status
    _nothing_asked_or_kept(output, otlp_http, config_dir)


@pytest.mark.parametrize("consent", ["not given", "ACME_TELEMETRY=1"])
def test_ctrl_c_at_a_click_prompt_is_not_a_crash(consent, terminal, otlp_http, config_dir):
    env = {**terminal, "ACME_TELEMETRY_PROMPT_TIMEOUT": "1"}
    if consent != "not given":
        env["ACME_TELEMETRY"] = "1"
    child = spawn_host("clihost", ["greet"], env)
    child.expect("Name: ")
    child.sendintr()

    exit_status, output = finish(child)

    assert exit_status == 1
    assert "Aborted!" in output
    _nothing_asked_or_kept(output, otlp_http, config_dir)


THREAD_EXIT = """
import sys, threading
from otel_telemetry import Telemetry

telemetry = Telemetry(app="acme", package="__main__")
telemetry.install()


@telemetry.capture_errors
def job():
    try:
        {}["missing"]
    except KeyError:
        sys.exit(1)  # ends this thread only


thread = threading.Thread(target=job)
thread.start()
thread.join()
print("all jobs done")
"""


def test_sys_exit_in_a_thread_is_no_failing_exit(terminal, otlp_http, config_dir):
    child = spawn(
        [sys.executable, "-c", THREAD_EXIT], {**terminal, "ACME_TELEMETRY_PROMPT_TIMEOUT": "1"}
    )

    exit_status, output = finish(child)

    assert exit_status == 0
    assert "all jobs done" in output
    _nothing_asked_or_kept(output, otlp_http, config_dir)


@pytest.mark.parametrize("consent", ["not given", "given"])
def test_no_to_a_click_confirm_in_an_except_block_is_not_a_crash(
    consent, terminal, otlp_http, config_dir
):
    """click's own Abort (the user said no) has the caught KeyError as its context."""
    env = {**terminal, "ACME_TELEMETRY_PROMPT_TIMEOUT": "1"}
    if consent == "given":
        env["ACME_TELEMETRY"] = "1"
    child = spawn_host("clihost", ["rebuild"], env)
    child.expect(r"\[y/N\]: ")
    child.sendline("n")

    exit_status, output = finish(child)

    assert exit_status == 1
    assert "Aborted!" in output
    _nothing_asked_or_kept(output, otlp_http, config_dir)


def test_a_crash_through_a_decorated_api_then_a_failing_exit_is_asked_once(terminal, otlp_http):
    child = spawn_host("clihost", ["setting", "library", "missing"], terminal)

    _asked_after_the_error_line(child, "Error: 'missing'")
    exit_status, after = finish(child)

    assert exit_status == 1
    assert QUESTION not in after  # asked once
    report = _one_report(otlp_http)
    assert (report.mechanism, report.type) == ("exit", "KeyError")
    assert report.functions()[-2:] == ["api_load", "load"]
    assert len(otlp_http.requests) == 1


def test_with_consent_a_crash_through_a_decorated_api_then_an_exit_is_sent_once(
    terminal, otlp_http
):
    child = spawn_host(
        "clihost", ["setting", "library", "missing"], {**terminal, "ACME_TELEMETRY": "1"}
    )

    exit_status, output = finish(child)

    assert exit_status == 1
    assert QUESTION not in output
    [span] = otlp_http.wait_for_spans(1)
    report = Report(span)
    # Seen first by the library's capture_errors, whose report waits a moment to learn
    # how the exception ends: the exit claims it, and it goes once, as a crash.
    assert (report.mechanism, report.handled, report.type) == ("exit", False, "KeyError")
    assert len(otlp_http.requests) == 1
