"""Consent that follows what is collected: a host release that raises ``policy_version``
asks a saved yes again, keeps a saved no, and shows the server notice again.

Real processes on a pseudo-terminal, reports at a real OTLP receiver.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pexpect
import pytest

from tests.cli_hosts import CHOICE, QUESTION, finish, spawn, stored
from tests.conftest import otlp_env

pytestmark = pytest.mark.integration

# A release of the host whose policy version comes from its "release" (a variable here).
HOST = """
import os

from otel_telemetry import Telemetry

telemetry = Telemetry(
    app="acme", package="policyhost", policy_version=int(os.environ["POLICYHOST_RELEASE"])
)
telemetry.install()


def crash():
    return {"pages": 1}["missing"]
"""


@pytest.fixture
def host(tmp_path, tty_env, otlp_http):
    package = tmp_path / "hosts" / "policyhost"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(HOST)
    return otlp_env(tty_env, otlp_http, PYTHONPATH=str(tmp_path / "hosts"))


def crash(env, release: int) -> pexpect.spawn:
    code = "import policyhost; policyhost.crash()"
    return spawn([sys.executable, "-c", code], {**env, "POLICYHOST_RELEASE": str(release)})


def answer(child: pexpect.spawn, choice: str) -> str:
    child.expect(CHOICE)
    before = child.before
    child.sendline(choice)
    if choice in ("1", "2"):
        child.expect("Email: ")
        child.sendline("")
    status, _ = finish(child)
    assert status == 1  # the host's own exit status, whatever was answered
    return before


def not_asked(child: pexpect.spawn) -> str:
    status, output = finish(child)
    assert status == 1
    assert QUESTION not in output
    return output


def saved(config_dir):
    return json.loads((config_dir / "config.json").read_text())["telemetry"]


def test_a_raised_version_asks_a_saved_yes_again(host, config_dir, otlp_http):
    assert QUESTION in answer(crash(host, 1), "2")  # yes, always, for release 1
    assert saved(config_dir) == {"enabled": True}
    otlp_http.wait_for(1)

    not_asked(crash(host, 1))  # the same release: the saved yes counts
    otlp_http.wait_for(2)

    # A release that collects more: asked again, and nothing is sent before the answer.
    child = crash(host, 2)
    child.expect(CHOICE)
    assert QUESTION in child.before
    assert len(otlp_http.requests) == 2
    child.sendline("2")
    child.expect("Email: ")
    child.sendline("")
    finish(child)
    otlp_http.wait_for(3)
    assert saved(config_dir) == {"enabled": True, "policy_version": 2}

    not_asked(crash(host, 2))
    otlp_http.wait_for(4)


def test_a_raised_version_keeps_a_saved_no(host, config_dir, otlp_http):
    answer(crash(host, 1), "3")
    assert saved(config_dir) == {"enabled": False}

    not_asked(crash(host, 2))
    not_asked(crash(host, 7))
    assert otlp_http.requests == []  # both processes ended: nothing can arrive later
    assert stored(config_dir) == []


def test_an_unanswered_question_after_a_bump_sends_nothing(host, config_dir, otlp_http):
    answer(crash(host, 1), "2")
    otlp_http.wait_for(1)
    child = crash(host, 2)
    child.expect(CHOICE)
    child.sendeof()  # end of input: no answer
    finish(child)
    assert len(otlp_http.requests) == 1
    assert stored(config_dir) == []
    assert saved(config_dir) == {"enabled": True}  # the old yes is kept, still outdated


def start_server(env, release: int) -> str:
    """A server process starting (install in server mode); its stderr."""
    result = subprocess.run(
        [sys.executable, "-c", "import policyhost"],
        env={**env, "POLICYHOST_RELEASE": str(release), "ACME_TELEMETRY_MODE": "server"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout == ""
    return result.stderr


def test_a_server_shows_its_notice_again_after_a_bump(host, config_dir):
    notice = "Acme sends crash reports (errors only, personal data removed)"
    assert notice in start_server(host, 1)  # the server default: the notice
    (config_dir / "config.json").write_text(json.dumps({"telemetry": {"enabled": True}}))
    assert notice not in start_server(host, 1)  # a saved yes for this release: no notice
    assert notice in start_server(host, 2)  # what is collected changed: told again
