"""What an endpoint answers cannot hurt the host: waits are capped, answers are not read,
and a report sent twice is the same report.

Attacks: a ``Retry-After`` of 31 years (D13); a 1 GiB answer body read into memory;
a collector answering after the exit budget, which then receives the report again
from the next run, with a new Sentry ``event_id`` each time (D01/D05).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.conftest import run_python
from tests.processes import PEAK_RSS, wait_until
from tests.receivers.recording import RecordingEndpoint

pytestmark = pytest.mark.integration

CAPTURE = (
    PEAK_RSS
    + """
import json, sys, time
from otel_telemetry import Telemetry
t = Telemetry(app="acme", package="__main__")
try:
    raise ValueError("a crash of the host")
except ValueError as exc:
    t.capture_exception(exc)
started = time.monotonic()
t.flush(float(sys.argv[1]))
print(json.dumps({
    "flush_seconds": time.monotonic() - started,
    "max_rss_kib": peak_rss_kib(),
}))
"""
)
DRAIN = """
from otel_telemetry import Telemetry
t = Telemetry(app="acme", package="__main__")
t.install()
t.flush(30)
"""
DAY = 86_400


def _send_to(env: dict[str, str], kind: str, endpoint: RecordingEndpoint) -> dict[str, str]:
    env.update(ACME_TELEMETRY="1")
    if kind == "otlp":
        env.update(ACME_TELEMETRY_EXPORTER="otlp", ACME_OTLP_ENDPOINT=endpoint.url)
    else:
        env.update(ACME_TELEMETRY_EXPORTER="sentry", ACME_SENTRY_DSN=endpoint.dsn())
    return env


@pytest.mark.parametrize("kind", ["otlp", "sentry"])
def test_a_retry_after_of_31_years_waits_one_day_at_most(host_env, config_dir: Path, kind):
    """Already capped before this attack (``MAX_WAIT``); this documents it end to end."""
    with RecordingEndpoint("status", 429) as endpoint:
        endpoint.answer_headers = {
            "Retry-After": str(31 * 365 * DAY),
            "X-Sentry-Rate-Limits": f"{31 * 365 * DAY}:error:organization",
        }
        run_python(CAPTURE, _send_to(host_env, kind, endpoint), "30", check=True)
        assert endpoint.of_kind(kind)

    waits = json.loads((config_dir / "telemetry" / "backoff.json").read_text())
    assert set(waits) == {kind}
    assert waits[kind] - time.time() <= DAY + 5


@pytest.mark.parametrize("kind", ["otlp", "sentry"])
def test_an_endless_answer_is_not_read(host_env, kind):
    with RecordingEndpoint("endless") as endpoint:
        env = _send_to(host_env, kind, endpoint)

        result = run_python(CAPTURE, env, "30", check=True)

        assert endpoint.of_kind(kind)
        measured = json.loads(result.stdout.splitlines()[-1])
        # The worker hung up at once: the flush did not wait for a gigabyte, the process
        # holds none of it, and the endpoint could push no more than the socket buffers.
        assert measured["flush_seconds"] < 10, measured
        assert measured["max_rss_kib"] < 200 * 1024, measured
        assert endpoint.streamed < 64 << 20, endpoint.streamed


@pytest.mark.parametrize("kind", ["otlp", "sentry"])
def test_a_report_sent_again_after_a_late_answer_is_the_same_report(host_env, kind):
    with RecordingEndpoint("late") as endpoint:
        env = _send_to(host_env, kind, endpoint)
        env["ACME_TELEMETRY_FLUSH_TIMEOUT"] = "1"

        # The first run gives up on the answer when its exit budget is spent.
        run_python(CAPTURE, env, "1", check=True)
        wait_until(lambda: endpoint.of_kind(kind), "the first attempt arrived")
        endpoint.release()

        # The next run finds the report in the outbox and sends it again.
        run_python(DRAIN, env, check=True)
        first, second = wait_until(
            lambda: endpoint.of_kind(kind)[:2] if len(endpoint.of_kind(kind)) >= 2 else None,
            "the report was sent again",
        )

    if kind == "otlp":
        assert first.span_ids() == second.span_ids()
    else:
        [first_event], [second_event] = first.events(), second.events()
        assert first_event["event_id"] == second_event["event_id"]
        assert (
            first_event["contexts"]["trace"]["span_id"]
            == second_event["contexts"]["trace"]["span_id"]
        )
        header = json.loads(second.body.split(b"\n")[0])
        assert header["event_id"] == second_event["event_id"]
