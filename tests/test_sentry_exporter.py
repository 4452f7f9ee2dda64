"""The ``sentry`` exporter against a real Sentry receiver: the Spotlight sidecar."""

from __future__ import annotations

import json
import platform
import socket

import pytest
from inline_snapshot import snapshot

from tests.conftest import CAPTURE_ONE, run_acme, run_python
from tests.payloads import CONTACT, CRAWL_URL, SECRETS
from tests.receivers.spotlight import SpotlightSidecar

pytestmark = pytest.mark.integration


def _normalized(event):
    """Blank what changes per run or per machine; assert its shape first."""
    event = json.loads(json.dumps(event))
    assert len(event.pop("event_id")) == 32
    assert isinstance(event.pop("timestamp"), (int, float, str))
    trace = event["contexts"]["trace"]
    assert len(trace.pop("trace_id")) == 32
    assert len(trace.pop("span_id")) == 16
    assert event["tags"].pop("python") == platform.python_version()
    # As the report's resource says it (os.type), which is what [v] and show showed.
    assert event["tags"].pop("os") == platform.system().lower()
    event["sdk"] = {"name": event["sdk"]["name"]}
    for value in event["exception"]["values"]:
        for frame in value["stacktrace"]["frames"]:
            if not frame["in_app"]:  # the standard library's line numbers change with Python
                frame["lineno"] = "<lineno>"
    return event


def test_crash_arrives_as_a_sentry_error_event(spotlight, host_env):
    host_env.update(ACME_TELEMETRY="1", ACME_SENTRY_DSN=spotlight.dsn())

    result = run_acme(["crawl", CRAWL_URL, "--contact", CONTACT], host_env)

    assert result.returncode == 1
    [event] = spotlight.errors(1)
    text = json.dumps(event)
    for secret in (*SECRETS, CRAWL_URL, CONTACT, host_env["HOME"], socket.gethostname()):
        assert secret not in text, secret
    for never in ("server_name", "modules", "extra", "breadcrumbs", "request", "user"):
        assert never not in event, never
    for key in ("vars", "pre_context", "context_line", "abs_path", "argv"):
        assert f'"{key}"' not in text, key
    assert _normalized(event) == snapshot(
        {
            "platform": "python",
            "level": "error",
            "exception": {
                "values": [
                    {
                        "type": "ConnectionRefusedError",
                        "value": "connection to [url] refused",
                        "module": None,
                        "mechanism": {
                            "type": "chained",
                            "handled": False,
                            "exception_id": 1,
                            "source": "__cause__",
                            "parent_id": 0,
                        },
                        "stacktrace": {
                            "frames": [
                                {
                                    "filename": "acme/crawler.py",
                                    "function": "_fetch",
                                    "lineno": 44,
                                    "module": "acme.crawler",
                                    "in_app": True,
                                },
                                {
                                    "filename": "acme/crawler.py",
                                    "function": "_decode",
                                    "lineno": 36,
                                    "module": "acme.crawler",
                                    "in_app": True,
                                },
                                {
                                    "filename": "json/__init__.py",
                                    "function": "loads",
                                    "lineno": "<lineno>",
                                    "module": "json",
                                    "in_app": False,
                                },
                                {
                                    "filename": "json/decoder.py",
                                    "function": "JSONDecoder.decode",
                                    "lineno": "<lineno>",
                                    "module": "json.decoder",
                                    "in_app": False,
                                },
                                {
                                    "filename": "json/decoder.py",
                                    "function": "JSONDecoder.raw_decode",
                                    "lineno": "<lineno>",
                                    "module": "json.decoder",
                                    "in_app": False,
                                },
                                {
                                    "filename": "acme/crawler.py",
                                    "function": "_decode.<locals>.check",
                                    "lineno": 33,
                                    "module": "acme.crawler",
                                    "in_app": True,
                                },
                            ]
                        },
                    },
                    {
                        "type": "CrawlError",
                        "value": "could not fetch [url] on behalf of [email]; partial page kept in [path]",
                        "module": "acme.crawler",
                        "mechanism": {
                            "type": "excepthook",
                            "handled": False,
                            "exception_id": 0,
                        },
                        "stacktrace": {
                            "frames": [
                                {
                                    "filename": "<user code>",
                                    "function": "<user code>",
                                    "lineno": "<lineno>",
                                    "module": "<user code>",
                                    "in_app": False,
                                },
                                {
                                    "filename": "click/core.py",
                                    "function": "Command.__call__",
                                    "lineno": "<lineno>",
                                    "module": "click.core",
                                    "in_app": False,
                                },
                                {
                                    "filename": "click/core.py",
                                    "function": "Command.main",
                                    "lineno": "<lineno>",
                                    "module": "click.core",
                                    "in_app": False,
                                },
                                {
                                    "filename": "click/core.py",
                                    "function": "Group.invoke",
                                    "lineno": "<lineno>",
                                    "module": "click.core",
                                    "in_app": False,
                                },
                                {
                                    "filename": "click/core.py",
                                    "function": "Command.invoke",
                                    "lineno": "<lineno>",
                                    "module": "click.core",
                                    "in_app": False,
                                },
                                {
                                    "filename": "click/core.py",
                                    "function": "Context.invoke",
                                    "lineno": "<lineno>",
                                    "module": "click.core",
                                    "in_app": False,
                                },
                                {
                                    "filename": "acme/cli.py",
                                    "function": "crawl",
                                    "lineno": 32,
                                    "module": "acme.cli",
                                    "in_app": True,
                                },
                                {
                                    "filename": "acme/crawler.py",
                                    "function": "run",
                                    "lineno": 62,
                                    "module": "acme.crawler",
                                    "in_app": True,
                                },
                                {
                                    "filename": "asyncio/runners.py",
                                    "function": "run",
                                    "lineno": "<lineno>",
                                    "module": "asyncio.runners",
                                    "in_app": False,
                                },
                                {
                                    "filename": "asyncio/runners.py",
                                    "function": "Runner.run",
                                    "lineno": "<lineno>",
                                    "module": "asyncio.runners",
                                    "in_app": False,
                                },
                                {
                                    "filename": "asyncio/base_events.py",
                                    "function": "BaseEventLoop.run_until_complete",
                                    "lineno": "<lineno>",
                                    "module": "asyncio.base_events",
                                    "in_app": False,
                                },
                                {
                                    "filename": "acme/crawler.py",
                                    "function": "arun",
                                    "lineno": 56,
                                    "module": "acme.crawler",
                                    "in_app": True,
                                },
                                {
                                    "filename": "acme/crawler.py",
                                    "function": "_fetch",
                                    "lineno": 48,
                                    "module": "acme.crawler",
                                    "in_app": True,
                                },
                            ]
                        },
                    },
                ]
            },
            "release": "acme@1.4.0",
            "environment": "production",
            "tags": {"mode": "non-interactive"},
            "contexts": {"trace": {}},
            "sdk": {"name": "otel_telemetry"},
            "type": "event",
        }
    )


def test_host_sentry_tracing_and_hooks_are_isolated(host_env, tmp_path):
    host_sidecar, our_sidecar = SpotlightSidecar(), SpotlightSidecar()
    try:
        host_env.update(
            ACME_TELEMETRY="1",
            ACME_SENTRY_DSN=our_sidecar.dsn(project=7),
            # The host's own DSN is also in the environment: we must never fall back to it.
            SENTRY_DSN=host_sidecar.dsn(project=1),
        )
        code = f"""
import http.client, json, logging, sys, threading
import sentry_sdk
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

sentry_sdk.init(dsn={host_sidecar.dsn(project=1)!r})  # default integrations patch the stdlib
sentry_sdk.set_user({{"email": "host-user@host.example"}})
sentry_sdk.set_tag("host_tag", "host value")
host_provider = TracerProvider()
trace.set_tracer_provider(host_provider)
def host_hook(exc_type, exc, tb):
    print("host hook", exc_type.__name__, file=sys.stderr)
sys.excepthook = host_hook
client = sentry_sdk.get_client()
watched = {{
    "logging.Logger.callHandlers": logging.Logger.callHandlers,
    "logging.Logger.handle": logging.Logger.handle,
    "threading.Thread.start": threading.Thread.start,
    "threading.Thread.run": threading.Thread.run,
    "http.client.HTTPConnection.putrequest": http.client.HTTPConnection.putrequest,
    "http.client.HTTPConnection.send": http.client.HTTPConnection.send,
}}
root_handlers = list(logging.root.handlers)

import acme
from acme.crawler import run
try:
    run({CRAWL_URL!r}, {CONTACT!r})
except Exception as exc:
    crash = exc
delivered = acme.telemetry.telemetry.flush(30)
sentry_sdk.capture_message("the host's own message")
sentry_sdk.flush(10)

hook = sys.excepthook
print(json.dumps({{
    "delivered": delivered,
    "same_sentry_client": sentry_sdk.get_client() is client,
    "same_tracer_provider": trace.get_tracer_provider() is host_provider,
    "host_hook_chained": hook is host_hook or getattr(hook, "__self__", None)._slots[0].previous is host_hook,
    "unpatched": [name for name, obj in watched.items() if eval(name) is not obj],
    "logging_handlers_same": logging.root.handlers == root_handlers,
}}))
"""
        result = run_python(code, host_env)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == {
            "delivered": True,
            "same_sentry_client": True,
            "same_tracer_provider": True,
            "host_hook_chained": True,
            "unpatched": [],
            "logging_handlers_same": True,
        }

        [ours] = our_sidecar.errors(1)
        assert ours["exception"]["values"][-1]["type"] == "CrawlError"
        assert "user" not in ours  # the host's user is not merged: no scope is applied
        assert set(ours["tags"]) == {"mode", "python", "os"}
        host_events = host_sidecar.events(1)
        assert [e.get("message") for e in host_events] == ["the host's own message"]
        assert our_sidecar.events(1) == [ours]  # nothing of the host's reached us
    finally:
        host_sidecar.close()
        our_sidecar.close()


def test_environment_dsn_overrides_the_baked_in_one_and_is_never_stored(host_env, config_dir):
    baked, override = SpotlightSidecar(), SpotlightSidecar()
    try:
        host_env.update(ACME_SENTRY_DSN=override.dsn())
        host = f"from otel_telemetry import Telemetry\nt = Telemetry(app='acme', package='__main__', sentry_dsn={baked.dsn()!r})\n"
        status = run_python(host + "print(t.status())", host_env, check=True).stdout
        assert "sentry:    DSN ACME_SENTRY_DSN" in status
        run_python(host + "t.enable(email='me@example.com')", host_env, check=True)
        code = CAPTURE_ONE.replace(
            'Telemetry(app="acme", package="__main__")',
            f"Telemetry(app='acme', package='__main__', sentry_dsn={baked.dsn()!r})",
        )
        assert run_python(code + "print(delivered)", host_env, check=True).stdout.strip() == "True"

        [event] = override.errors(1)
        assert event["user"] == {"email": "me@example.com"}  # the one address the user typed
        assert baked.events(0, timeout=1) == []
        run_python(host + "t.disable()", host_env, check=True)

        baked_status = run_python(
            host + "print(t.status())", {**host_env, "ACME_SENTRY_DSN": ""}, check=True
        )
        assert "sentry:    DSN baked in" in baked_status.stdout
        for secret in ("0123456789abcdef", str(baked.port), str(override.port)):
            for path in config_dir.rglob("*"):
                if path.is_file():
                    assert secret not in path.read_text(errors="replace"), (secret, path.name)
    finally:
        baked.close()
        override.close()


def test_invalid_dsn_warns_once_and_keeps_the_report_locally(host_env, config_dir):
    host_env.update(ACME_TELEMETRY="1", ACME_SENTRY_DSN="not-a-dsn-secretkey")
    code = CAPTURE_ONE + "t.capture_exception(ValueError('second'))\nprint(t.flush(30))"

    result = run_python(code, host_env, check=True)

    assert result.stderr.count("is not a valid DSN") == 1
    assert "secretkey" not in result.stderr
    assert "ACME_SENTRY_DSN" in result.stderr
    assert len(list((config_dir / "telemetry" / "reports").iterdir())) == 1


def test_without_our_dsn_the_hosts_sentry_dsn_is_not_used(host_env, config_dir, spotlight):
    host_env.update(
        ACME_TELEMETRY="1", ACME_TELEMETRY_EXPORTER="sentry", SENTRY_DSN=spotlight.dsn()
    )

    result = run_python(CAPTURE_ONE + "print(delivered)", host_env, check=True)

    assert result.stdout.strip() == "True"
    assert "has no DSN" in result.stderr
    assert spotlight.events(0, timeout=1) == []
    assert len(list((config_dir / "telemetry" / "reports").iterdir())) == 1


def test_a_request_crash_carries_its_method_route_and_transaction(spotlight, host_env, tmp_path):
    from tests.test_server_notice import failing_requests, run_example_server, stop_server

    host_env.update(ACME_SENTRY_DSN=spotlight.dsn())  # server mode's default: on
    port, process = run_example_server(host_env, tmp_path / "server-stderr.txt")
    try:
        assert failing_requests(port) == (500, 500)
        events = spotlight.errors(2)
    finally:
        stop_server(process)

    requests = sorted(
        (
            event["transaction"],
            event["transaction_info"],
            {key: value for key, value in event["tags"].items() if key.startswith("http.")},
        )
        for event in events
    )
    assert requests == [
        (
            "GET /crawl/{site}",
            {"source": "route"},
            {"http.request.method": "GET", "http.route": "/crawl/{site}"},
        ),
        (
            "POST /crawl",
            {"source": "route"},
            {"http.request.method": "POST", "http.route": "/crawl"},
        ),
    ]
    text = json.dumps(events)
    for never in ("intranet.example.com", "abc123", "private-site", "someone@example.com"):
        assert never not in text, never  # the template, never the URL or the body


@pytest.mark.parametrize(
    ("argument", "variable", "environment"),
    [
        pytest.param("staging", None, "staging", id="Telemetry(environment=...)"),
        pytest.param("staging", "canary", "canary", id="ACME_ENVIRONMENT wins"),
        pytest.param(None, "canary", "canary", id="ACME_ENVIRONMENT alone"),
        pytest.param(None, None, "production", id="neither: Sentry's default"),
    ],
)
def test_the_environment_comes_from_the_argument_or_the_variable(
    spotlight, host_env, argument, variable, environment
):
    host_env.update(ACME_TELEMETRY="1", ACME_SENTRY_DSN=spotlight.dsn())
    if variable is not None:
        host_env["ACME_ENVIRONMENT"] = variable
    code = CAPTURE_ONE.replace(
        'package="__main__")', f'package="__main__", environment={argument!r})'
    )

    assert run_python(code + "print(delivered)", host_env, check=True).stdout == "True\n"

    [event] = spotlight.errors(1)
    assert event["environment"] == environment
