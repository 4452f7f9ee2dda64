"""The notebook question in a real browser: JupyterLab on loopback, Chromium driven by Playwright.

Chromium is Debian's (``.ci/run`` installs it with apt); Playwright never downloads a
browser here. Without Chromium the test says so and, under CI, fails.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import otlp_env
from tests.payloads import attributes
from tests.processes import wait_until

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        message = (
            "Chromium is not installed (apt-get install chromium): the browser test did not run"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def jupyterlab(tmp_path, host_env, otlp_http):
    root = tmp_path / "lab"
    root.mkdir()
    shutil.copy(ROOT / "examples" / "notebook.ipynb", root / "notebook.ipynb")
    port, token = _free_port(), "otel-telemetry-test-token"
    # No "Jupyter news?" toast over the screenshots: the answer "never", as a user setting.
    settings = tmp_path / "jupyter-config" / "lab" / "user-settings" / "@jupyterlab"
    notification = settings / "apputils-extension" / "notification.jupyterlab-settings"
    notification.parent.mkdir(parents=True)
    notification.write_text(json.dumps({"fetchNews": "false"}))
    log = tmp_path / "jupyterlab.log"
    env = otlp_env(
        host_env,
        otlp_http,
        JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
        JUPYTER_CONFIG_DIR=str(tmp_path / "jupyter-config"),
    )
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--allow-root",  # CI runs as root
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root}",
            "--LabApp.expose_app_in_browser=True",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.extension_manager=readonly",
        ],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=open(log, "w"),  # noqa: SIM115 - lives as long as the server
    )
    base = f"http://127.0.0.1:{port}"

    def answering():
        if server.poll() is not None:
            raise AssertionError("JupyterLab exited")
        try:
            urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2).read()
            return True
        except OSError:
            return False

    try:
        wait_until(answering, "JupyterLab answering /api/status", timeout=90)
    except AssertionError as error:
        server.kill()
        raise AssertionError(f"{error}\n{log.read_text()[-3000:]}") from None
    yield f"{base}/lab/tree/notebook.ipynb?token={token}"
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()


def test_yes_always_in_jupyterlab(jupyterlab, config_dir, otlp_http, tmp_path):
    executable = _chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable,
            args=CHROMIUM_ARGS,
            headless=True,
        )
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        try:
            page = context.new_page()
            page.goto(jupyterlab)
            page.wait_for_function(
                "() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
                " && window.jupyterapp.shell.currentWidget.sessionContext"
                " && window.jupyterapp.shell.currentWidget.sessionContext.session"
                " && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel",
                timeout=120_000,
            )
            page.evaluate(
                "() => window.jupyterapp.shell.currentWidget.sessionContext.ready"
                ".then(() => window.jupyterapp.commands.execute('notebook:run-all-cells'))"
            )
            always = page.get_by_role("button", name="Yes, always")
            always.wait_for(timeout=120_000)
            page.get_by_placeholder("you@example.com").fill("me@example.com")
            ARTIFACTS.mkdir(exist_ok=True)
            page.get_by_text("We noticed an error.").scroll_into_view_if_needed()
            page.screenshot(path=str(ARTIFACTS / "notebook-prompt.png"))

            page.get_by_role("button", name="View report").click()
            report = page.locator(".widget-html pre", has_text="CrawlError")  # not the traceback
            report.wait_for(timeout=60_000)
            shown = report.inner_text()
            page.get_by_role("button", name="Hide report").wait_for(timeout=10_000)
            # The question at the top: the report under it, the raw traceback above out of view.
            page.set_viewport_size({"width": 1280, "height": 1100})  # the whole report
            page.get_by_text("We noticed an error.").evaluate(
                "element => element.scrollIntoView({block: 'start'})"
            )
            page.screenshot(path=str(ARTIFACTS / "notebook-view-report.png"))
            assert otlp_http.requests == []  # nothing before the click, viewing included

            always.click()
            page.get_by_text("crash reports will be sent from now on").wait_for(timeout=60_000)
            assert page.get_by_role("button", name="Yes, always").is_disabled()
        finally:
            context.close()
            browser.close()

    [received] = otlp_http.wait_for(1, timeout=60)
    assert json.loads((config_dir / "config.json").read_text()) == {
        "telemetry": {"enabled": True, "email": "me@example.com"}
    }
    values = attributes(received.span()["attributes"])
    assert values["user.email"] == "me@example.com"
    assert b"intranet.example.com" not in received.body
    # What was shown is what arrived: the scrubbed type and message, not the raw ones.
    [event] = received.span()["events"]
    sent = attributes(event["attributes"])
    words = " ".join(shown.split())
    assert sent["exception.type"] in words
    assert " ".join(sent["exception.message"].split()) in words
    assert "intranet.example.com" not in shown
