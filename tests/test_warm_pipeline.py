"""A long-running process with consent already on builds its pipeline at install.

Server mode (granted by default), a saved yes or ``<APP>_TELEMETRY=1``: the recording
worker imports the OpenTelemetry SDK and the exporters right after ``install()``, so
that the first crash waits for no import. Never on the host's thread, never in a
command line (it may never crash, and its exit must stay cheap), never with consent off.
"""

from __future__ import annotations

import json
import signal

import pytest

from tests.conftest import otlp_env, run_python
from tests.payloads import attributes
from tests.processes import http_request, serve, wait_until

pytestmark = pytest.mark.integration

# Records which thread first looked for each module (a finder that finds nothing).
_TRACER = """
import sys, threading
IMPORTED_BY = {}
class _Tracer:
    @staticmethod
    def find_spec(name, path=None, target=None):
        IMPORTED_BY.setdefault(name, threading.current_thread().name)
        return None
sys.meta_path.insert(0, _Tracer)
"""

# A raw ASGI app under uvicorn, in server mode, with the library's middleware.
_SERVER = (
    _TRACER
    + """
import json, os, uvicorn
from otel_telemetry import Telemetry
from otel_telemetry.asgi import TelemetryMiddleware

telemetry = Telemetry(app="acme", package="__main__")
telemetry.install(mode="server")

def crash():
    raise ValueError("the first crash of the server")

async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["path"] == "/crash":
        crash()
    body = b"ok"
    if scope["path"] == "/modules":
        body = json.dumps({
            "sdk": IMPORTED_BY.get("opentelemetry.sdk.trace"),
            "exporter": IMPORTED_BY.get("otel_telemetry.exporters._otlp"),
            "loaded": "opentelemetry.sdk.trace" in sys.modules,
        }).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})

server = uvicorn.Server(uvicorn.Config(
    TelemetryMiddleware(app, telemetry=telemetry), host="127.0.0.1",
    port=int(sys.argv[1]), log_level="critical",
))
server.run()
"""
)


def test_a_server_imports_the_sdk_on_the_worker_before_any_crash(host_env, otlp_http):
    process, port = serve(["-c", _SERVER], otlp_env(host_env, otlp_http))
    try:

        def warmed() -> dict[str, object]:
            found: dict[str, object] = json.loads(http_request(port, "GET", "/modules")[1])
            return found if found["loaded"] and found["exporter"] else {}

        # No crash yet: the SDK and the exporter were imported, by the recording worker.
        imported = wait_until(warmed, "the SDK imported without a crash")
        assert imported["sdk"] == "otel_telemetry"
        assert imported["exporter"] == "otel_telemetry"
        assert otlp_http.requests == []  # built, nothing sent

        # The first crash still arrives, whole.
        assert http_request(port, "GET", "/crash")[0] == 500
        [span] = otlp_http.wait_for_spans(1)
        [event] = span["events"]
        values = attributes(event["attributes"])
        assert values["exception.type"] == "ValueError"
        assert values["exception.message"] == "the first crash of the server"
        assert attributes(span["attributes"])["otel_telemetry.mechanism"] == "asgi"

        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=30)
    # uvicorn raises the SIGINT it stopped on again, once its lifespan flushed.
    assert process.returncode in (0, -signal.SIGINT), stderr
    assert len(otlp_http.requests) == 1  # the crash, once


# A host that installs, runs without crashing, and reports what was imported at its end.
_QUIET_HOST = (
    _TRACER
    + """
import atexit, threading, time
from otel_telemetry import Telemetry
telemetry = Telemetry(app="acme", package="__main__")
telemetry.install(**({"mode": sys.argv[1]} if sys.argv[1] != "default" else {}))
time.sleep(float(sys.argv[2]))  # time enough for a worker to import the SDK
print(json.dumps({
    "sdk": "opentelemetry.sdk.trace" in sys.modules,
    "threads": sorted(t.name for t in threading.enumerate() if t.name.startswith("otel")),
}))
"""
).replace("import sys, threading", "import json, sys, threading")


@pytest.mark.parametrize(
    ("mode", "env", "warm"),
    [
        pytest.param("server", {}, True, id="server, granted by default"),
        pytest.param("server", {"ACME_TELEMETRY": "0"}, False, id="server, turned off"),
        pytest.param("notebook", {"ACME_TELEMETRY": "1"}, True, id="notebook, variable yes"),
        pytest.param("default", {"ACME_TELEMETRY": "1"}, False, id="command line, variable yes"),
        pytest.param("interactive", {}, False, id="terminal, saved yes"),
        pytest.param("non-interactive", {}, False, id="pipes, saved yes"),
    ],
)
def test_only_a_long_running_process_with_consent_warms(host_env, config_dir, mode, env, warm):
    (config_dir / "config.json").write_text('{"telemetry": {"enabled": true}}')

    result = run_python(_QUIET_HOST, {**host_env, **env}, mode, "3" if warm else "1", check=True)

    found = json.loads(result.stdout)
    if warm:
        assert found == {"sdk": True, "threads": ["otel_telemetry"]}
    else:
        # A command line that has not crashed: no worker, no SDK; its exit stays cheap.
        assert found == {"sdk": False, "threads": []}


_CLI_CRASH = """
import sys
from otel_telemetry import Telemetry
telemetry = Telemetry(app="acme", package="__main__")
telemetry.install()
def main():
    raise ValueError("a command line's crash")
main()
"""


def test_a_command_line_with_a_saved_yes_still_reports_its_crash(host_env, config_dir, otlp_http):
    (config_dir / "config.json").write_text('{"telemetry": {"enabled": true}}')

    result = run_python(_CLI_CRASH, otlp_env(host_env, otlp_http))

    assert result.returncode == 1
    [span] = otlp_http.wait_for_spans(1)
    [event] = span["events"]
    assert attributes(event["attributes"])["exception.message"] == "a command line's crash"


# A host import hook that refuses `logging` the first time it is asked, then lets it be.
_REFUSES_LOGGING_ONCE = """
import sys
class _Refuse:
    refused = False
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name == "logging" and not cls.refused:
            cls.refused = True
            raise ImportError("refused once by the host's hook")
        return None
sys.meta_path.insert(0, _Refuse)
from otel_telemetry import Telemetry
# Without the logging integration, whose own finder would be asked first.
telemetry = Telemetry(app="acme", package="__main__", capture_logging=False)
telemetry.install(mode="server")
try:
    raise ValueError("reported after a refused import")
except ValueError as exc:
    telemetry.capture_exception(exc)
print(telemetry.flush(30), _Refuse.refused)
"""


def test_a_host_hook_that_refuses_the_worker_s_import_of_logging_stops_nothing(host_env, otlp_http):
    result = run_python(_REFUSES_LOGGING_ONCE, otlp_env(host_env, otlp_http))

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "True"]
    assert "Exception in thread" not in result.stderr
    [span] = otlp_http.wait_for_spans(1)
    [event] = span["events"]
    assert attributes(event["attributes"])["exception.message"] == "reported after a refused import"
