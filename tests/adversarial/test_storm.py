"""Promise attacked: "crash storms are bounded" and "the app thread never waits"."""

from __future__ import annotations

import json
import socket

import pytest

from otel_telemetry.exporters._file import read_reports
from tests.conftest import run_python

pytestmark = pytest.mark.integration

# 300 crash sites, more than the guard remembers, crashing in rotation three times over.
_ROTATING = """
import sys
from otel_telemetry import Telemetry
t = Telemetry(app="acme", package="__main__")
namespace = {}
exec("".join(f"def site{i}():\\n    raise ValueError('site {i}')\\n" for i in range(300)), namespace)
flush_each = len(sys.argv) > 1
for _ in range(3):
    for i in range(300):
        try:
            namespace[f"site{i}"]()
        except ValueError as exc:
            t.capture_exception(exc)
        if flush_each:
            t.flush(0.01)
t.flush(60)
"""


def _reported(config_dir) -> list[dict]:
    """Every span the ``file`` exporter wrote."""
    return [
        span
        for document in read_reports(config_dir / "telemetry" / "reports")
        for span in document["resourceSpans"][0]["scopeSpans"][0]["spans"]
    ]


@pytest.mark.parametrize("flush", [False, True], ids=["", "flush after each"])
def test_many_rotating_crash_sites_are_still_a_bounded_storm(host_env, config_dir, flush):
    host_env["ACME_TELEMETRY"] = "1"
    result = run_python(_ROTATING, host_env, *(["flush"] if flush else []))
    assert result.returncode == 0, result.stderr
    spans = _reported(config_dir)
    # 900 crashes at 300 sites: 10 x storm_limit reports of all crashes per window, count
    # reports included (5 per site and minute would not limit them), and one at exit.
    assert 0 < len(spans) <= 51, len(spans)


# A serverless-style host: the same crash, then flush(), again and again.
_FLUSHING = """
from otel_telemetry import Telemetry
t = Telemetry(app="acme", package="__main__")
def crash():
    raise ValueError("the same crash")
for _ in range(300):
    try:
        crash()
    except ValueError as exc:
        t.capture_exception(exc)
    t.flush(0)
t.flush(60)
"""


def test_flushing_after_every_crash_lets_no_storm_through(host_env, config_dir):
    host_env["ACME_TELEMETRY"] = "1"
    result = run_python(_FLUSHING, host_env)
    assert result.returncode == 0, result.stderr
    spans = _reported(config_dir)
    # The storm limit (5 per minute), and the count of the rest goes at exit, once.
    assert len(spans) <= 6, len(spans)


# A host whose event loop hands its errors to sys.excepthook (a common pattern).
_LOOP = """
import asyncio, json, sys, time
from otel_telemetry import Telemetry
t = Telemetry(app="acme", package="__main__")
t.install()

def crash():
    raise ValueError("in a callback")

def handler(loop, context):
    exc = context["exception"]
    started = time.monotonic()
    sys.excepthook(type(exc), exc, exc.__traceback__)
    stalls.append(time.monotonic() - started)

stalls = []
async def main():
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(handler)
    loop.call_soon(crash)
    await asyncio.sleep(0.2)
asyncio.run(main())
print(json.dumps(stalls))
"""


def test_an_excepthook_called_by_an_event_loop_never_waits(host_env):
    host_env["ACME_TELEMETRY"] = "1"
    host_env["ACME_TELEMETRY_FLUSH_TIMEOUT"] = "3"
    with socket.socket() as blackhole:  # an endpoint that accepts and never answers
        blackhole.bind(("127.0.0.1", 0))
        blackhole.listen(16)
        host_env["ACME_TELEMETRY_EXPORTER"] = "otlp"
        host_env["ACME_OTLP_ENDPOINT"] = f"http://127.0.0.1:{blackhole.getsockname()[1]}"
        result = run_python(_LOOP, host_env)
    assert result.returncode == 0, result.stderr
    [stall] = json.loads(result.stdout)
    assert stall < 0.5, f"the loop stood still {stall:.2f} s"
