"""Promise: the anonymous install id exists only once a usage event may leave.

README: usage events "go through the same consent gate" and carry an install id kept in
``telemetry/install_id``. Attacked with real host processes calling ``send_event``
without consent: off by the environment, in CI, and with the question still pending
in a terminal-like mode. The config dir must stay exactly as it was: no id, no folder.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from otel_telemetry._layout import Layout
from otel_telemetry.exporters._file import read_reports
from tests.conftest import run_python

pytestmark = pytest.mark.integration

HOST = """
from otel_telemetry import Telemetry
t = Telemetry(app="acme", package="__main__")
t.send_event("used", {"feature": "crawl"})
print(t.flush(30))
print(t.status().enabled)
"""


@pytest.mark.parametrize(
    ("variables", "enabled"),
    [
        pytest.param({"ACME_TELEMETRY": "0"}, "False", id="switched off"),
        pytest.param({"DO_NOT_TRACK": "1", "ACME_TELEMETRY": "1"}, "False", id="do not track"),
        pytest.param({"CI": "true"}, "False", id="CI"),
        pytest.param({"ACME_TELEMETRY_MODE": "interactive"}, "None", id="question pending"),
        pytest.param({"ACME_TELEMETRY_MODE": "notebook"}, "None", id="notebook question"),
    ],
)
def test_send_event_without_consent_writes_nothing(variables, enabled, host_env, config_dir):
    result = run_python(HOST, {**host_env, **variables}, check=True)

    assert result.stdout.split()[-1] == enabled
    assert sorted(p.name for p in config_dir.rglob("*")) == []


def test_the_id_is_created_with_the_first_consented_event_and_kept(host_env, config_dir):
    env = {**host_env, "ACME_TELEMETRY": "all", "ACME_TELEMETRY_EXPORTER": "file"}

    run_python(HOST, env, check=True)
    path = Layout(config_dir).install_id_file
    first = path.read_text().strip()
    run_python(HOST, env, check=True)

    assert path.read_text().strip() == first
    sent = json.dumps(read_reports(Layout(config_dir).reports_dir))
    assert sent.count(first) == 2  # both events carry the same id


def test_disable_forgets_the_id(host_env, config_dir):
    env = {**host_env, "ACME_TELEMETRY_EXPORTER": "file"}
    run_python(HOST, {**env, "ACME_TELEMETRY": "all"}, check=True)
    assert Layout(config_dir).install_id_file.exists()

    subprocess.run(
        [sys.executable, "-c", "from otel_telemetry import Telemetry\nTelemetry('acme').disable()"],
        env=env,
        stdin=subprocess.DEVNULL,
        check=True,
        timeout=60,
    )
    assert not Layout(config_dir).install_id_file.exists()
    run_python(HOST, env, check=True)  # saved no: nothing is created again
    assert not Layout(config_dir).install_id_file.exists()
