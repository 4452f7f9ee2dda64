"""Promise: a crash is reported in every process of the host, ``multiprocessing`` children too.

A child's target that raises ends in ``multiprocessing``'s bootstrap, which prints the
traceback and leaves by ``os._exit``: no excepthook, no atexit. Real children (fork and
spawn), a real OTLP/HTTP receiver; what the host sees (exit codes, its stderr) is
unchanged.
"""

from __future__ import annotations

import sys

import pytest

from tests.conftest import otlp_env, run_python
from tests.payloads import attributes
from tests.receivers.otlp import OtlpHttpReceiver

pytestmark = pytest.mark.integration

# The target raises inside acme, so the crash is the host's (not a network error, which
# the example's should_report keeps out); a partial of a module function pickles for
# every start method.
HOST = """
import functools, multiprocessing, sys
import acme.crawler

if __name__ == "__main__":
    context = multiprocessing.get_context(sys.argv[1])
    target = functools.partial(acme.crawler.parse_robots, "child_of_%s" % sys.argv[1])
    child = context.Process(target=target)
    child.start()
    child.join()
    print("child exit code", child.exitcode)
"""

METHODS = ["fork", "spawn", "forkserver"] if sys.platform != "win32" else ["spawn"]


@pytest.mark.parametrize("method", METHODS)
def test_a_crash_of_a_multiprocessing_child_is_reported(
    host_env: dict[str, str], method: str
) -> None:
    with OtlpHttpReceiver() as receiver:
        env = otlp_env(host_env, receiver, ACME_TELEMETRY="1", ACME_TELEMETRY_FLUSH_TIMEOUT="5")

        result = run_python(HOST, env, method)

        assert result.returncode == 0, result.stderr
        assert result.stdout == "child exit code 1\n"  # as without telemetry
        assert "Process-1:\nTraceback" in result.stderr  # multiprocessing's own report
        assert f"ValueError: malformed robots.txt line: 'child_of_{method}'" in result.stderr
        [span] = receiver.wait_for_spans(1)
    values = attributes(span["attributes"])
    assert values["otel_telemetry.mechanism"] == "multiprocessing"
    [event] = span["events"]
    message = attributes(event["attributes"])["exception.message"]
    assert message == f"malformed robots.txt line: 'child_of_{method}'"
