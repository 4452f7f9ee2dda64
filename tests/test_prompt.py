"""The terminal prompt, through a real pseudo-terminal, the way a user meets it."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import time

import pexpect
import pytest

from tests.conftest import acme_command, otlp_env, run_acme
from tests.payloads import CONTACT, CRAWL_URL, attributes

pytestmark = pytest.mark.integration

CHOICE = r"Your choice \[1/2/3/v\]: "
QUESTION = "We noticed an error. Help improve Acme by sending crash reports?"


@pytest.fixture
def terminal(tty_env, otlp_http):
    return otlp_env(tty_env, otlp_http)


def crash(env) -> pexpect.spawn:
    return pexpect.spawn(
        acme_command(),
        ["crawl", CRAWL_URL, "--contact", CONTACT],
        env=env,
        encoding="utf-8",
        timeout=60,
        dimensions=(50, 200),
    )


def finish(child: pexpect.spawn) -> str:
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 1  # the host's own exit code, whatever was answered
    return child.before


def saved(config_dir):
    path = config_dir / "config.json"
    return json.loads(path.read_text()) if path.exists() else None


def report_attributes(received):
    return attributes(received.span()["attributes"])


@pytest.mark.parametrize("email", ["me@example.com", ""])
def test_once_sends_this_report_and_saves_nothing(email, terminal, config_dir, otlp_http):
    child = crash(terminal)
    child.expect(CHOICE)
    assert QUESTION in child.before
    assert "CrawlError" in child.before  # the user's traceback comes first
    child.sendline("1")
    child.expect("press Enter to skip")
    child.expect("Email: ")
    child.sendline(email)
    assert "this report will be sent" in finish(child)

    [received] = otlp_http.wait_for(1)
    assert report_attributes(received).get("user.email") == (email or None)
    assert saved(config_dir) is None


def test_always_saves_and_a_second_crash_asks_nothing(terminal, config_dir, otlp_http):
    child = crash(terminal)
    child.expect(CHOICE)
    child.sendline("2")
    child.expect("Email: ")
    child.sendline("not-an-address")
    child.expect("not an email address")
    child.expect("Email: ")
    child.sendline("me@example.com")
    assert "will be sent from now on" in finish(child)
    assert saved(config_dir) == {"telemetry": {"enabled": True, "email": "me@example.com"}}
    otlp_http.wait_for(1)

    second = crash(terminal)
    assert QUESTION not in finish(second)
    assert len(otlp_http.wait_for(2)) == 2


def test_never_saves_and_a_second_crash_asks_nothing(terminal, config_dir, otlp_http):
    child = crash(terminal)
    child.expect(CHOICE)
    child.sendline("3")
    finish(child)
    assert saved(config_dir) == {"telemetry": {"enabled": False}}

    second = crash(terminal)
    assert QUESTION not in finish(second)
    assert otlp_http.requests == []


def test_view_shows_the_exact_scrubbed_report_then_asks_again(terminal, config_dir, otlp_http):
    child = crash(terminal)
    child.expect(CHOICE)
    child.sendline("v")
    child.expect(CHOICE)
    shown = child.before
    # Only what came after the first question: the user's own traceback is above it.
    assert "acme 1.4.0 crashed: acme.crawler.CrawlError" in shown
    assert "could not fetch [url] on behalf of [email]" in shown
    assert "intranet.example.com" not in shown
    assert QUESTION in shown  # asked again
    child.sendline("9")
    child.expect("Please answer 1, 2, 3 or v.")
    child.expect(CHOICE)
    child.sendline("3")
    finish(child)
    assert otlp_http.requests == []


@pytest.mark.parametrize("how", ["eof", "ctrl-c", "timeout", "eof-at-email"])
def test_no_answer_sends_and_saves_nothing(how, terminal, config_dir, otlp_http):
    terminal["ACME_TELEMETRY_PROMPT_TIMEOUT"] = "1"
    child = crash(terminal)
    child.expect(CHOICE)
    if how == "eof":
        child.sendeof()
    elif how == "ctrl-c":
        child.sendintr()
    elif how == "eof-at-email":
        child.sendline("2")
        child.expect("Email: ")
        child.sendeof()
    assert "Nothing was sent." in finish(child)
    assert saved(config_dir) is None
    assert otlp_http.requests == []


# An explicit report (crawl_page's capture_exception) made while the loop runs: asked at
# exit, never at once, so the loop never waits for an answer. (An error the host caught
# from a capture_errors API is never asked about: tests/test_handled_errors.py.)
ASYNC_HOST = """
import asyncio
from acme.crawler import crawl_page

async def main():
    result = crawl_page("https://example.com/a", fetch=lambda url: "<p>no title</p>")
    print("host got", result.success, "; loop still running", flush=True)
    await asyncio.sleep(0.2)
    print("loop done", flush=True)

asyncio.run(main())
"""

THREAD_HOST = """
import threading
from acme.crawler import run

thread = threading.Thread(target=run, args=("https://example.com/a",))
thread.start()
thread.join()
print("main thread goes on", flush=True)
"""


@pytest.mark.parametrize(
    ("code", "marker"), [(ASYNC_HOST, "loop done"), (THREAD_HOST, "main thread goes on")]
)
def test_crash_in_a_loop_or_thread_is_asked_about_at_exit(code, marker, terminal, otlp_http):
    child = pexpect.spawn(
        os.path.join(os.path.dirname(acme_command()), "python"),
        ["-c", code],
        env=terminal,
        encoding="utf-8",
        timeout=60,
    )
    child.expect(CHOICE)
    assert marker in child.before  # the host ran on; the question came at exit
    child.sendline("1")
    child.expect("Email: ")
    child.sendline("")
    child.expect(pexpect.EOF)
    child.close()
    assert len(otlp_http.wait_for(1)) == 1


def _run_with_terminal(env, answer: bytes | None) -> tuple[bytes, bytes]:
    """stdin and stderr on a pseudo-terminal, stdout piped: what a user piping output has."""
    master, slave = pty.openpty()
    process = subprocess.Popen(
        [acme_command(), "crawl", CRAWL_URL, "--contact", CONTACT],
        stdin=slave,
        stderr=slave,
        stdout=subprocess.PIPE,
        env=env,
    )
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + 60
    answered = False
    while process.poll() is None and time.monotonic() < deadline:
        if select.select([master], [], [], 0.1)[0]:
            try:
                seen += os.read(master, 65536)
            except OSError:
                break
        if answer is not None and not answered and b"Your choice" in seen:
            os.write(master, answer)
            answered = True
    stdout = process.stdout.read()
    process.wait(timeout=30)
    os.close(master)
    return stdout, seen


def test_stdout_is_byte_identical_on_off_and_prompting(terminal, config_dir, otlp_http):
    on = run_acme(["crawl", CRAWL_URL, "--contact", CONTACT], {**terminal, "ACME_TELEMETRY": "1"})
    off = run_acme(["crawl", CRAWL_URL, "--contact", CONTACT], {**terminal, "ACME_TELEMETRY": "0"})
    prompting, terminal_text = _run_with_terminal(terminal, b"3\n")

    assert QUESTION.encode() in terminal_text
    assert on.stdout.encode() == off.stdout.encode() == prompting == b"acme: crawling 1 page\n"


def test_ci_asks_nothing_and_sends_nothing(terminal, config_dir, otlp_http):
    stdout, terminal_text = _run_with_terminal({**terminal, "CI": "true"}, answer=None)

    assert b"We noticed an error" not in terminal_text
    assert b"CrawlError" in terminal_text
    assert stdout == b"acme: crawling 1 page\n"
    assert otlp_http.requests == []
    assert saved(config_dir) is None
