"""Every crash path of a host process, in subprocesses, with a real OTLP receiver."""

from __future__ import annotations

import json
import re
import sys

import pytest

from tests.conftest import run
from tests.payloads import attributes

pytestmark = pytest.mark.integration

URL = "https://alice:s3cret@intranet.example.com/r?token=abc123"

# The host application installs its own hooks before it imports the library.
HOST_HOOKS = """
import sys, threading
def host_excepthook(*args):
    print("[host excepthook]", file=sys.stderr)
    sys.__excepthook__(*args)
def host_threading_hook(args):
    print("[host threading hook]", file=sys.stderr)
    threading.__excepthook__(args)
def host_unraisable_hook(unraisable):
    print("[host unraisable hook]", file=sys.stderr)
    sys.__unraisablehook__(unraisable)
sys.excepthook = host_excepthook
threading.excepthook = host_threading_hook
sys.unraisablehook = host_unraisable_hook
import acme
"""

SCENARIOS = {
    "main thread": (
        "from acme.crawler import run\nrun(URL)\n",
        # The decorated entry point sees it first, and its report waits to learn how it
        # ends: it ends in the excepthook, which reports it, once, as a crash.
        "excepthook",
        "[host excepthook]",
    ),
    "thread": (
        "from acme.crawler import parse_robots\n"
        "t = threading.Thread(target=parse_robots, args=('no colon here',))\n"
        "t.start(); t.join()\n",
        "threading.excepthook",
        "[host threading hook]",
    ),
    "asyncio task": (
        "import asyncio\n"
        "from acme.crawler import refresh_cache\n"
        "async def main():\n"
        "    asyncio.get_running_loop().create_task(refresh_cache(URL))\n"
        "    await asyncio.sleep(0.1)\n"
        "asyncio.run(main())\n",
        "asyncio",
        "Task exception was never retrieved",
    ),
    "unraisable __del__": (
        "from acme.crawler import PageCache\ncache = PageCache(dirty=True)\ndel cache\n",
        "unraisablehook",
        "[host unraisable hook]",
    ),
}


def _addresses_blanked(text):
    # "<function PageCache.__del__ at 0x7f...>" differs from run to run by itself.
    return re.sub(r" at 0x[0-9a-f]+", " at 0x...", text)


def run_user_app(tmp_path, code, env):
    """The user's own program, as a real file: its path must never be reported."""
    script = tmp_path / "my_secret_project" / "user_app.py"
    script.parent.mkdir(exist_ok=True)
    script.write_text(f"URL = {URL!r}\n{HOST_HOOKS}\n{code}")
    return run([sys.executable, str(script)], env), script


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_each_crash_path_gives_exactly_one_report(scenario, otlp_host_env, otlp_http, tmp_path):
    code, mechanism, host_marker = SCENARIOS[scenario]

    on, script = run_user_app(tmp_path, code, {**otlp_host_env, "ACME_TELEMETRY": "1"})
    off, _ = run_user_app(tmp_path, code, {**otlp_host_env, "ACME_TELEMETRY": "0"})

    # What the user sees does not change: exit status, traceback, their hook once.
    assert on.returncode == off.returncode
    assert _addresses_blanked(on.stderr) == _addresses_blanked(off.stderr)
    assert on.stderr.count(host_marker) == 1
    [span] = otlp_http.wait_for_spans(1)
    assert attributes(span["attributes"])["otel_telemetry.mechanism"] == mechanism
    assert len(otlp_http.requests) == 1
    raw = otlp_http.requests[0].body
    assert str(script).encode() not in raw
    assert b"my_secret_project" not in raw


def test_crash_in_the_applications_own_code_is_not_reported(otlp_host_env, otlp_http, tmp_path):
    result, _ = run_user_app(
        tmp_path,
        "raise RuntimeError('the app, never entering acme')\n",
        {**otlp_host_env, "ACME_TELEMETRY": "1"},
    )
    assert result.returncode == 1
    assert otlp_http.requests == []


def _callback_app(name, raise_statement):
    """The user passes their own callback to the library, and it raises."""
    return f"from acme.crawler import crawl_each\ndef {name}(url):\n    {raise_statement}\ncrawl_each([URL], {name})\n"


def test_keyboard_interrupt_is_not_a_crash(otlp_host_env, otlp_http, tmp_path):
    code = _callback_app("on_page", "raise KeyboardInterrupt")
    result, _ = run_user_app(tmp_path, code, {**otlp_host_env, "ACME_TELEMETRY": "1"})
    assert result.returncode != 0
    assert "KeyboardInterrupt" in result.stderr
    assert otlp_http.requests == []


def test_user_callback_crash_is_reported_without_user_paths(otlp_host_env, otlp_http, tmp_path):
    code = _callback_app("my_private_handler", "raise ValueError('handler failed')")
    result, script = run_user_app(tmp_path, code, {**otlp_host_env, "ACME_TELEMETRY": "1"})
    assert result.returncode == 1

    [received] = otlp_http.wait_for(1)
    span = received.span()
    event = attributes(span["events"][0]["attributes"])
    [error] = json.loads(event["otel_telemetry.exception.chain"])
    assert [(f["filename"], f["function"], f["in_app"]) for f in error["frames"]] == [
        ("<user code>", "<user code>", False),  # the script's module level
        ("acme/crawler.py", "crawl_each", True),
        ("<user code>", "<user code>", False),  # my_private_handler
    ]
    assert "<user code>" in event["exception.stacktrace"]
    for private in (str(script), "user_app", "my_secret_project", "my_private_handler"):
        assert private.encode() not in received.body, private


def test_ignored_exception_classes_are_not_reported(host_env, config_dir):
    code = """
from otel_telemetry import Telemetry
class UsageError(ValueError):
    pass
t = Telemetry(app="acme", package="__main__", ignore=[UsageError])
for exc in (UsageError("bad flag"), ValueError("a real crash")):
    try:
        raise exc
    except ValueError as caught:
        t.capture_exception(caught)
print(t.flush(30))
"""
    host_env["ACME_TELEMETRY"] = "1"
    assert run([sys.executable, "-c", code], host_env).stdout.strip() == "True"
    [day] = (config_dir / "telemetry" / "reports").iterdir()
    assert day.read_text().count('"exception.type"') == 1
    assert "a real crash" in day.read_text()
