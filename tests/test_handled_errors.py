"""Errors the caller handles, and the host's ``should_report`` filter, in real processes.

An exception that leaves a ``capture_errors`` API may still be handled by its caller:
then nothing is asked, held or sent unless consent was already given (then it is sent,
``handled``). Left uncaught, the same exception is a crash: asked about. The example's
``should_report`` keeps a crawler's expected failures (the network) out of the reports,
runs on the thread that met the exception, and a filter that raises costs one warning
and that report, never the host's behaviour.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.cli_hosts import QUESTION, Report, answer_once, finish, spawn, stored
from tests.conftest import otlp_env, run

pytestmark = pytest.mark.integration

URL = "https://alice:s3cret@intranet.example.com/a"

CAUGHT_SYNC = f"""
from acme.crawler import run
try:
    run({URL!r})
except Exception:
    pass
print("done")
"""

CAUGHT_ASYNC = f"""
import asyncio
from acme.crawler import arun

async def main():
    try:
        await arun({URL!r})
    except Exception:
        pass

asyncio.run(main())
print("done")
"""

UNCAUGHT = f"""
from acme.crawler import run
run({URL!r})
print("done")
"""


@pytest.fixture
def terminal(tty_env, otlp_http):
    return otlp_env(tty_env, otlp_http)


def _user_script(tmp_path, code: str) -> list[str]:
    script = tmp_path / "user_script.py"
    script.write_text(code)
    return [sys.executable, str(script)]


@pytest.mark.parametrize("code", [CAUGHT_SYNC, CAUGHT_ASYNC], ids=["sync", "async"])
def test_an_error_the_caller_handles_asks_nothing_and_keeps_nothing(
    code, terminal, otlp_http, config_dir, tmp_path
):
    child = spawn(_user_script(tmp_path, code), {**terminal, "ACME_TELEMETRY_PROMPT_TIMEOUT": "1"})

    exit_status, output = finish(child)

    assert exit_status == 0
    assert output.strip() == "done"
    assert QUESTION not in output
    assert otlp_http.requests == []
    assert stored(config_dir) == []


@pytest.mark.parametrize("code", [CAUGHT_SYNC, CAUGHT_ASYNC], ids=["sync", "async"])
def test_with_consent_given_a_handled_error_is_sent_as_handled(code, terminal, otlp_http, tmp_path):
    result = run(_user_script(tmp_path, code), {**terminal, "ACME_TELEMETRY": "1"})

    assert (result.returncode, result.stdout) == (0, "done\n")
    [received] = otlp_http.wait_for(1)
    report = Report(received.span())
    assert (report.mechanism, report.handled) == ("capture_errors", True)
    assert report.type == "acme.crawler.CrawlError"


def test_a_handled_error_goes_while_the_process_runs_on(terminal, otlp_http, tmp_path):
    """Its report waits a moment to learn how the exception ends, then goes, no flush needed."""
    code = CAUGHT_SYNC + "import sys, time\nsys.stdout.flush()\ntime.sleep(120)\n"
    env = {**terminal, "ACME_TELEMETRY": "1"}
    with subprocess.Popen(
        _user_script(tmp_path, code), env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE
    ) as process:
        try:
            assert process.stdout is not None
            assert process.stdout.readline() == b"done\n"
            [received] = otlp_http.wait_for(1)
            assert process.poll() is None  # still running: sent by the timer, not at exit
        finally:
            process.kill()
    report = Report(received.span())
    assert (report.mechanism, report.handled) == ("capture_errors", True)


def test_with_consent_an_uncaught_error_through_an_api_is_one_crash(terminal, otlp_http, tmp_path):
    result = run(_user_script(tmp_path, UNCAUGHT), {**terminal, "ACME_TELEMETRY": "1"})

    assert result.returncode == 1
    [received] = otlp_http.wait_for(1)
    report = Report(received.span())
    # Seen first by capture_errors; it ended in the excepthook, which reports it as a crash.
    assert (report.mechanism, report.handled) == ("excepthook", False)
    assert len(otlp_http.requests) == 1


FLUSHED_IN_FINALLY = f"""
from acme.crawler import run
from acme.telemetry import telemetry
try:
    run({URL!r})
finally:
    telemetry.flush(5)  # the crash is on its way out: its report keeps waiting
"""


def test_a_flush_in_finally_sends_the_crash_once(terminal, otlp_http, tmp_path):
    """A flush sends what waits, even the exception on its way out (then as handled)."""
    result = run(_user_script(tmp_path, FLUSHED_IN_FINALLY), {**terminal, "ACME_TELEMETRY": "1"})

    assert result.returncode == 1
    [received] = otlp_http.wait_for(1)
    report = Report(received.span())
    assert (report.mechanism, report.handled) == ("capture_errors", True)
    assert len(otlp_http.requests) == 1


FLUSHED_IN_EXCEPT = f"""
import os
from acme.crawler import run
from acme.telemetry import telemetry
try:
    run({URL!r})
except Exception:
    assert telemetry.flush(10)
    os._exit(0)  # nothing of ours runs after this: the flush had to send it
"""


SHUT_DOWN = f"""
from acme.crawler import run
from acme.telemetry import telemetry
try:
    run({URL!r})
except Exception:
    pass
telemetry.shutdown()
import os
os._exit(0)
"""


@pytest.mark.parametrize(
    "code", [FLUSHED_IN_EXCEPT, SHUT_DOWN], ids=["flush in except", "shutdown"]
)
def test_a_handled_report_still_waiting_goes_at_a_flush_or_shutdown(
    code, terminal, otlp_http, tmp_path
):
    result = run(_user_script(tmp_path, code), {**terminal, "ACME_TELEMETRY": "1"})

    assert result.returncode == 0, result.stderr
    [received] = otlp_http.wait_for(1)
    report = Report(received.span())
    assert (report.mechanism, report.handled) == ("capture_errors", True)


TASK_GROUP = f"""
import asyncio
from acme.crawler import arun

async def main():
    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(arun({URL!r}))

asyncio.run(main())
"""

TWO_TASKS_FAIL = f"""
import asyncio
from acme.crawler import arun, parse_robots

async def robots():
    await asyncio.sleep(0)
    parse_robots("no_colon")

async def main():
    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(arun({URL!r}))
        tasks.create_task(robots())

asyncio.run(main())
"""


@pytest.mark.skipif(sys.version_info < (3, 11), reason="asyncio.TaskGroup is 3.11+")
def test_each_crash_an_exception_group_holds_is_one_crash_report(terminal, otlp_http, tmp_path):
    result = run(_user_script(tmp_path, TWO_TASKS_FAIL), {**terminal, "ACME_TELEMETRY": "1"})

    assert result.returncode == 1
    # Two reports, in one export request or two (a batch when recorded together).
    spans = otlp_http.wait_for_spans(2)
    reports = sorted((Report(span) for span in spans), key=lambda report: report.type)
    assert [(r.type, r.mechanism, r.handled) for r in reports] == [
        ("ValueError", "excepthook", False),
        ("acme.crawler.CrawlError", "excepthook", False),
    ]


@pytest.mark.skipif(sys.version_info < (3, 11), reason="asyncio.TaskGroup is 3.11+")
@pytest.mark.parametrize("consent", ["not given", "given"])
def test_a_crash_that_ends_the_program_inside_an_exception_group(
    consent, terminal, otlp_http, tmp_path
):
    """The ExceptionGroup is raised by asyncio, outside the host: the crash inside is the host's."""
    argv = _user_script(tmp_path, TASK_GROUP)
    if consent == "given":
        result = run(argv, {**terminal, "ACME_TELEMETRY": "1"})
        assert result.returncode == 1
    else:
        child = spawn(argv, terminal)
        answer_once(child)
        assert finish(child)[0] == 1
    [received] = otlp_http.wait_for(1)
    report = Report(received.span())
    assert (report.mechanism, report.handled) == ("excepthook", False)
    assert report.type == "acme.crawler.CrawlError"
    assert len(otlp_http.requests) == 1


def test_the_same_error_left_uncaught_is_asked_about(terminal, otlp_http, tmp_path):
    child = spawn(_user_script(tmp_path, UNCAUGHT), terminal)

    before = answer_once(child)
    exit_status, _ = finish(child)

    assert before.index("CrawlError") < before.index(QUESTION)  # after its traceback
    assert exit_status == 1
    [received] = otlp_http.wait_for(1)
    report = Report(received.span())
    assert (report.mechanism, report.handled) == ("excepthook", False)
    assert report.type == "acme.crawler.CrawlError"


CALLBACK = """
import errno, socket
from acme.crawler import crawl_each

def on_page(url):
    raise {raise_}

crawl_each(["https://example.com/a"], on_page)
"""


@pytest.mark.parametrize(
    ("raise_", "reported"),
    [
        ("ConnectionRefusedError('refused')", False),
        ("TimeoutError('timed out')", False),
        ("OSError(errno.EHOSTUNREACH, 'no route to host')", False),
        ("socket.gaierror(socket.EAI_NONAME, 'unknown host')", False),
        ("ValueError('a bug')", True),
        ("OSError(errno.ENOSPC, 'disk full')", True),
    ],
)
def test_should_report_keeps_connection_errors_out(raise_, reported, host_env, otlp_http, tmp_path):
    env = otlp_env(host_env, otlp_http, ACME_TELEMETRY="1")
    code = CALLBACK.format(raise_=raise_)

    result = run(_user_script(tmp_path, code), env)

    assert result.returncode == 1  # the host's crash, unchanged
    assert raise_.split("(")[0].split(".")[-1] in result.stderr
    if reported:
        otlp_http.wait_for(1)
    assert len(otlp_http.requests) == int(reported)


def test_crawl_page_reports_only_what_it_did_not_expect(host_env, otlp_http, tmp_path):
    """The failure-result API: a refused connection is a result; a bug is also reported."""
    code = """
from acme.crawler import crawl_page
offline = crawl_page("https://example.com/a")
untitled = crawl_page("https://example.com/b", fetch=lambda url: "<html><p>no title</p></html>")
titled = crawl_page("https://example.com/c", fetch=lambda url: "<title>Hello</title>")
print(offline.success, untitled.success, titled.success, titled.title)
"""
    env = otlp_env(host_env, otlp_http, ACME_TELEMETRY="1")

    result = run(_user_script(tmp_path, code), env)

    assert (result.returncode, result.stdout) == (0, "False False True Hello\n")
    [received] = otlp_http.wait_for(1)
    report = Report(received.span())
    assert (report.mechanism, report.handled, report.type) == (
        "capture_exception",
        True,
        "AttributeError",
    )
    assert report.functions()[-2:] == ["crawl_page", "_title"]
    assert len(otlp_http.requests) == 1


FILTERED_HOST = """
import sys, threading
from otel_telemetry import Telemetry

def should_report(exc):
    print("filter on", threading.current_thread().name, flush=True)
    {body}

telemetry = Telemetry(app="acme", package="__main__", should_report=should_report)
telemetry.install()

def crash(message):
    raise ValueError(message)

for message in ("first token=abc123", "second token=abc123"):
    try:
        crash(message)
    except ValueError as exc:
        telemetry.capture_exception(exc)
thread = threading.Thread(target=crash, args=("in a thread",), name="worker-7")
thread.start()
thread.join()
crash("the last one")
"""


@pytest.mark.parametrize("telemetry", ["1", "0"])
def test_a_filter_that_raises_warns_once_and_drops_the_reports(
    telemetry, host_env, otlp_http, tmp_path
):
    code = FILTERED_HOST.format(body="raise RuntimeError('filter bug: ' + str(exc))")
    env = otlp_env(host_env, otlp_http, ACME_TELEMETRY=telemetry)

    result = run(_user_script(tmp_path, code), env)

    assert result.returncode == 1  # the host's last crash, unchanged
    assert "ValueError: the last one" in result.stderr
    assert otlp_http.requests == []
    if telemetry == "1":
        [warning] = [line for line in result.stderr.splitlines() if "should_report" in line]
        assert "RuntimeError" in warning
        assert "filter bug" not in warning  # its message is never repeated
        assert "token" not in warning
        # Every report still asked it: the three handled ones and the thread's.
        assert result.stdout.count("filter on") == 4
    else:
        assert "should_report" not in result.stderr  # off: the filter is never asked
        assert "filter on" not in result.stdout


def test_the_filter_runs_on_the_thread_that_met_the_exception(host_env, otlp_http, tmp_path):
    code = FILTERED_HOST.format(body="return 'thread' in str(exc)")
    env = otlp_env(host_env, otlp_http, ACME_TELEMETRY="1")

    result = run(_user_script(tmp_path, code), env)

    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "filter on MainThread",
        "filter on MainThread",
        "filter on worker-7",
        "filter on MainThread",
    ]
    [received] = otlp_http.wait_for(1)
    report = Report(received.span())
    assert report.mechanism == "threading.excepthook"  # the one it kept
    assert len(otlp_http.requests) == 1
