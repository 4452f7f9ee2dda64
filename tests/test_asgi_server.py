"""The example FastAPI server under a real uvicorn on loopback: failing routes, no request data."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.parse

import pytest

from tests.conftest import free_port, otlp_env
from tests.payloads import attributes
from tests.processes import http_request, serve, wait_until_healthy

pytestmark = pytest.mark.integration

# Everything a request carries that must never be reported.
SECRET_URL = "https://alice:s3cret@intranet.example.com/private?token=abc123"
SECRETS = (
    "intranet.example.com",
    "s3cret",
    "abc123",
    "private",
    "Bearer",
    "eyJhbGciOiJIUzI1NiJ9",
    "session-cookie-value",
    "x-api-key-value",
    "body-only-secret",
    "alice",
    "127.0.0.1",
    "python-test-client",
)


@pytest.fixture
def server(host_env, otlp_http):
    def start(**env):
        port = free_port()
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "acme.server:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            env=otlp_env(host_env, otlp_http, **env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        started.append(process)

        def stop():
            # uvicorn re-raises the signal it stopped on; SIGINT ends Python through the
            # exit flush, so afterwards all that would come has come. (SIGTERM, as
            # `docker stop` sends it: tests/test_server_signals.py.)
            process.send_signal(signal.SIGINT)
            process.wait(timeout=30)

        wait_until_healthy(port, process)
        return port, stop

    started: list[subprocess.Popen] = []
    yield start
    for process in started:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=30)


def _failing_requests(port):
    headers = {
        "Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.payload.signature",
        "Cookie": "session=session-cookie-value",
        "X-Api-Key": "x-api-key-value",
        "User-Agent": "python-test-client",
        "Content-Type": "application/json",
    }
    query = urllib.parse.urlencode({"url": SECRET_URL})
    status_get, _ = http_request(port, "GET", f"/crawl/private-site?{query}", headers=headers)
    body = json.dumps({"url": SECRET_URL, "contact": "body-only-secret@example.com"})
    status_post, _ = http_request(port, "POST", "/crawl", body=body, headers=headers)
    return status_get, status_post


def test_each_failing_request_is_one_report_without_request_data(server, otlp_http):
    port, stop = server()

    assert _failing_requests(port) == (500, 500)

    stop()
    received = otlp_http.requests
    assert len(received) == 2  # one report per failing request
    routes = []
    for request in received:
        for secret in SECRETS:
            assert secret.encode() not in request.body, secret
        values = attributes(request.span()["attributes"])
        routes.append((values["http.request.method"], values["http.route"]))
        assert values["otel_telemetry.mode"] == "server"
        assert not [
            key for key in values if key.startswith(("url.", "client.", "server.", "user_agent"))
        ]
    assert sorted(routes) == [("GET", "/crawl/{site}"), ("POST", "/crawl")]


def test_telemetry_off_sends_nothing(server, otlp_http):
    port, stop = server(ACME_TELEMETRY="0")

    assert _failing_requests(port) == (500, 500)

    stop()
    assert otlp_http.requests == []


# A host that runs uvicorn itself and ends hard once it has stopped (no exit flush, as
# under a process manager that kills what is left): only the lifespan's flush sends.
_SERVE_THEN_EXIT_HARD = """
import os, sys, uvicorn
from acme.server import app
server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=int(sys.argv[1])))
try:
    server.run()
finally:
    os._exit(0)
"""


def test_lifespan_shutdown_flushes_the_reports_and_the_storm_count(host_env, otlp_http):
    process, port = serve(["-c", _SERVE_THEN_EXIT_HARD], otlp_env(host_env, otlp_http))
    try:
        # 8 identical crashes: 5 reports, and 3 counted (sent only by a flush at the end).
        for _ in range(8):
            assert http_request(port, "GET", "/pages/never-crawled/markdown")[0] == 500

        # SIGINT: uvicorn's own handler stops it (ours is for SIGTERM); lifespan shutdown.
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=30)

    assert process.returncode == 0, stderr
    spans = [span for received in otlp_http.requests for span in received.spans()]
    counts = sorted(
        int(attributes(span["attributes"]).get("otel_telemetry.occurrences", 1)) for span in spans
    )
    assert counts == [1, 1, 1, 1, 1, 3], stderr
