"""Promise attacked: "exit waits at most flush_timeout", with several hosts in one process."""

from __future__ import annotations

import json
import socket
import sys

import pytest

from tests.processes import exit_delay
from tests.unit import record_of

pytestmark = pytest.mark.integration

BUDGET = 2.0
MARGIN = 1.5  # interpreter start-up is before the marker; this is its exit and our import

# Three host libraries embedding otel_telemetry, each crash reported, then the exit.
_THREE_HOSTS = """
import sys, time
from otel_telemetry import Telemetry
hosts = [Telemetry(app=app, package="__main__", flush_timeout=float(sys.argv[1]))
         for app in ("acme", "beta", "gamma")]
for t in hosts:
    t.install()
    try:
        raise ValueError("a crash of " + t.app)
    except ValueError as exc:
        t.capture_exception(exc)
print("@@", time.monotonic(), file=sys.stderr, flush=True)
"""


def test_three_hosts_share_one_exit_budget(host_env):
    with socket.socket() as blackhole:  # accepts, never answers
        blackhole.bind(("127.0.0.1", 0))
        blackhole.listen(16)
        endpoint = f"http://127.0.0.1:{blackhole.getsockname()[1]}"
        env = {k: v for k, v in host_env.items() if not k.endswith("_FLUSH_TIMEOUT")}
        for app in ("ACME", "BETA", "GAMMA"):
            env[f"{app}_TELEMETRY"] = "1"
            env[f"{app}_TELEMETRY_EXPORTER"] = "otlp"
            env[f"{app}_CONFIG_DIR"] = host_env["ACME_CONFIG_DIR"] + "-" + app.lower()
            env[f"{app}_OTLP_ENDPOINT"] = endpoint
        delay, result = exit_delay([sys.executable, "-c", _THREE_HOSTS, str(BUDGET)], env)
    assert result.returncode == 0, result.stderr
    assert delay < BUDGET + MARGIN, f"exit took {delay:.2f} s for a budget of {BUDGET} s"


# A healthy run of the host (nothing crashes) while an earlier run's report waits.
_HEALTHY = """
import sys, time
import acme
print("@@", time.monotonic(), file=sys.stderr, flush=True)
"""


def test_a_healthy_run_does_not_pay_the_budget_for_older_reports(host_env, config_dir):
    outbox = config_dir / "telemetry" / "outbox"
    outbox.mkdir(parents=True)
    document = {"format": 1, "pending": ["otlp"], "span": record_of("from an earlier run")}
    (outbox / "00000000000000000001-earlier.json").write_text(json.dumps(document))
    with socket.socket() as blackhole:  # accepts, never answers: the send never ends
        blackhole.bind(("127.0.0.1", 0))
        blackhole.listen(16)
        env = {
            **host_env,
            "ACME_TELEMETRY": "1",
            "ACME_TELEMETRY_EXPORTER": "otlp",
            "ACME_TELEMETRY_FLUSH_TIMEOUT": "10",
            "ACME_OTLP_ENDPOINT": f"http://127.0.0.1:{blackhole.getsockname()[1]}",
        }
        delay, result = exit_delay([sys.executable, "-c", _HEALTHY], env)
    assert result.returncode == 0, result.stderr
    # Far below the 10 s budget: a healthy exit lends older reports a moment only.
    assert delay < 10 / 2, f"a healthy exit took {delay:.2f} s"
    assert len(list(outbox.iterdir())) == 1  # still waiting, for a later run
