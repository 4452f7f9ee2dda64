"""Promise: crashes at interpreter shutdown are reported too (``atexit`` callbacks).

An exception in an ``atexit`` callback never reaches ``sys.excepthook``; since Python
3.10 the interpreter hands it to ``sys.unraisablehook``, which we chain. The callback may
run before our own exit flush (registered after ``import acme``) or after it (registered
before): either way the report arrives. On 3.9 the interpreter prints it and tells no
hook: nothing can be sent, and nothing is.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from otel_telemetry._layout import Layout
from tests.conftest import otlp_env, run_python
from tests.payloads import attributes
from tests.receivers.otlp import OtlpHttpReceiver

pytestmark = pytest.mark.integration

# The callback raises inside acme (a ValueError: the example keeps network errors out).
HOST = """
import atexit, functools, sys
if sys.argv[1] == "before":
    import json
    atexit.register(lambda: __import__("acme.crawler").crawler.parse_robots("at_exit"))
import acme.crawler
if sys.argv[1] == "after":
    atexit.register(functools.partial(acme.crawler.parse_robots, "at_exit"))
print("host done")
"""


@pytest.mark.parametrize("registered", ["before", "after"], ids=lambda r: f"{r} import acme")
def test_a_crash_in_an_atexit_callback_is_reported(
    host_env: dict[str, str], registered: str
) -> None:
    with OtlpHttpReceiver() as receiver:
        env = otlp_env(host_env, receiver, ACME_TELEMETRY="1", ACME_TELEMETRY_FLUSH_TIMEOUT="10")

        result = run_python(HOST, env, registered)

        assert result.returncode == 0, result.stderr
        assert result.stdout == "host done\n"
        assert "ValueError: malformed robots.txt line: 'at_exit'" in result.stderr  # as without us
        if sys.version_info < (3, 10):
            assert receiver.requests == []
            return
        if sys.version_info[:2] == (3, 12) and not receiver.requests:
            # 3.12 starts no thread once the main thread has ended, and exit does not
            # wait on the network beyond the budget: the report waits for the next run.
            [waiting] = _waiting(Path(env["ACME_CONFIG_DIR"]))
            assert "'at_exit'" in waiting.read_text("utf-8")
            return
        [span] = receiver.wait_for_spans(1)
    [event] = span["events"]
    assert (
        attributes(event["attributes"])["exception.message"]
        == "malformed robots.txt line: 'at_exit'"
    )


def _waiting(config_dir: Path) -> list[Path]:
    outbox = Layout(config_dir).outbox_dir
    return [p for p in outbox.iterdir() if not p.name.startswith(".")] if outbox.exists() else []
