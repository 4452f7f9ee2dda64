"""The ``posthog`` exporter with the real ``posthog`` package, against PostHog's capture API.

PostHog itself cannot run here; ``tests/receivers/posthog.py`` implements its capture
endpoints on loopback, and these tests assert on the exact JSON that arrives there: from
the exporter in this process, and from host processes configured as users do
(``ACME_TELEMETRY_EXPORTER=posthog``, ``ACME_POSTHOG_KEY``, ``ACME_POSTHOG_HOST``). Then
PostHog's answers (429, 500, 401, none, endless, refused), and a host that uses
``posthog`` itself.

``posthog`` is imported inside the tests: this module is collected where the extra is not
installed too (``make test-matrix`` runs the in-process tests only).
"""

from __future__ import annotations

import atexit
import json
import logging
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.trace import SpanContext

from otel_telemetry import _attributes as attr
from otel_telemetry._layout import Layout
from otel_telemetry._version import __version__
from otel_telemetry.exporters._posthog import (
    ANONYMOUS_ID,
    EXTRA_HINT,
    PosthogSpanExporter,
    event_uuid,
)
from tests.conftest import run_python, wait_for_senders
from tests.payloads import CRAWL_CHAIN
from tests.processes import exit_delay
from tests.receivers.posthog import PosthogReceiver

pytestmark = pytest.mark.integration

CONTEXT = SpanContext(0x0AF7651916CD43DD8448EB211C80319C, 0xB7AD6B7169203331, is_remote=False)
INSTALL_ID = "0b5f3e0c-4a51-4d6b-9a57-3d0c8f6b2a11"
POSTHOG_OWN = {
    "$lib": "otel_telemetry",
    "$lib_version": __version__,
    "$geoip_disable": True,
    "$process_person_profile": False,
}

# A budget of 1 s for the exit: an exit that ignored it would wait for the exporter's own
# timeout, 10 s. The bound lies between, with room for a loaded machine.
FLUSH_TIMEOUT = 1.0
EXIT_BOUND = 5.0
# Long enough that the run right after the crash is inside it on any machine.
RETRY_AFTER = 3600


@pytest.fixture
def receiver() -> Iterator[PosthogReceiver]:
    with PosthogReceiver(retry_after=RETRY_AFTER) as server:
        yield server


def usage_span() -> ReadableSpan:
    return ReadableSpan(
        name="crawl_finished",
        context=CONTEXT,
        resource=Resource({attr.SERVICE_NAME: "acme", attr.SERVICE_VERSION: "1.2.3"}),
        attributes={
            attr.KIND: attr.KIND_EVENT,
            "pages": 3,
            "browser": "chromium",
            "success": True,
            "browsers": ("chromium", "firefox"),
            attr.INSTALL_ID: INSTALL_ID,
            attr.MODE: "server",
        },
        start_time=1_700_000_000_000_000_000,
        end_time=1_700_000_000_250_000_000,
    )


# The chain of tests.payloads without its frame of user code.
CHAIN = [CRAWL_CHAIN[0], {**CRAWL_CHAIN[1], "frames": CRAWL_CHAIN[1]["frames"][1:]}]


def crash_span() -> ReadableSpan:
    return ReadableSpan(
        name=attr.SPAN_EXCEPTION,
        context=SpanContext(CONTEXT.trace_id, 0x1234, is_remote=False),
        resource=Resource({attr.SERVICE_NAME: "acme", attr.SERVICE_VERSION: "1.2.3"}),
        attributes={
            attr.KIND: attr.KIND_EXCEPTION,
            attr.MECHANISM: "excepthook",
            attr.HANDLED: False,
            attr.MODE: "interactive",
        },
        events=[
            Event(
                attr.EVENT_EXCEPTION,
                {
                    attr.EXCEPTION_TYPE: "acme.errors.CrawlError",
                    attr.EXCEPTION_MESSAGE: "no config for [url]",
                    attr.EXCEPTION_CHAIN: json.dumps(CHAIN),
                },
                timestamp=1_700_000_000_500_000_000,
            )
        ],
        start_time=1_700_000_000_000_000_000,
        end_time=1_700_000_000_600_000_000,
    )


def sent_at(payload: dict[str, Any]) -> None:
    """Check the batch's ``sent_at`` (the SDK's clock, now) and take it out.

    ``sentAt`` before posthog 7.something: the SDK's field, in its own spelling.
    """
    [key] = {"sent_at", "sentAt"} & set(payload)
    stamp = datetime.fromisoformat(payload.pop(key))
    assert abs(stamp.timestamp() - time.time()) < 600


# The receiver: PostHog's documented capture forms (what makes an accepted event mean
# something), before the exporter is tried against it.

DOCS_EVENT = {  # the manual error-tracking example of PostHog's docs, for /i/v0/e/
    "token": "phc_docs",
    "event": "$exception",
    "properties": {
        "distinct_id": "distinct_id_of_your_user",
        "$exception_list": [{"type": "RangeError", "value": "Maximum call stack size exceeded"}],
    },
}


def _post(host: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    import http.client

    connection = http.client.HTTPConnection(host.split("//")[1], timeout=10)
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@pytest.mark.parametrize(
    ("path", "document", "compress", "headers", "status", "events"),
    [
        ("/i/v0/e/", DOCS_EVENT, False, {}, 200, 1),
        ("/i/v0/e/?compression=gzip-js", DOCS_EVENT, True, {}, 200, 1),
        ("/i/v0/e/", [DOCS_EVENT, DOCS_EVENT], True, {"Content-Encoding": "gzip"}, 200, 2),
        ("/e/", {**DOCS_EVENT, "token": None, "api_key": "phc_docs"}, False, {}, 200, 1),
        (
            "/batch/",
            {"api_key": "phc", "batch": [DOCS_EVENT]},
            True,
            {"Content-Encoding": "gzip"},
            200,
            1,
        ),
        ("/i/v0/e/", {**DOCS_EVENT, "token": None}, False, {}, 401, 0),
        ("/i/v0/e/", {**DOCS_EVENT, "properties": {}}, False, {}, 400, 0),
        ("/i/v0/e/", {**DOCS_EVENT, "event": ""}, False, {}, 400, 0),
        ("/batch/", {"api_key": "phc", "batch": []}, False, {}, 400, 0),
        ("/v1/traces", DOCS_EVENT, False, {}, 404, 0),
    ],
)
def test_the_receiver_takes_the_documented_capture_forms(
    receiver: PosthogReceiver,
    path: str,
    document: Any,
    compress: bool,
    headers: dict[str, str],
    status: int,
    events: int,
) -> None:
    import gzip

    body = json.dumps(document).encode()
    answer = _post(receiver.host, path, gzip.compress(body) if compress else body, headers)

    assert answer[0] == status
    if status == 200:
        assert json.loads(answer[1]) == {"status": 1}
    sent = document if isinstance(document, list) else document.get("batch", [document])
    assert receiver.events() == (sent if status == 200 else [])  # exactly as posted
    assert len(receiver.events()) == events
    assert receiver.attempts == 1


def test_the_receiver_refuses_a_body_that_is_not_json(receiver: PosthogReceiver) -> None:
    assert _post(receiver.host, "/batch/", b"{not json", {})[0] == 400
    assert _post(receiver.host, "/batch/", b"plain", {"Content-Encoding": "gzip"})[0] == 400
    assert receiver.captures == []


# The exporter in this process, the real SDK on the wire.


@pytest.mark.parametrize("gzip", [False, True], ids=["plain", "gzip"])
def test_a_usage_event_arrives_whole(receiver: PosthogReceiver, gzip: bool) -> None:
    exporter = PosthogSpanExporter("phc_test", host=receiver.host, gzip=gzip)
    span = usage_span()

    assert exporter.export([span]) is SpanExportResult.SUCCESS

    [capture] = receiver.captures
    assert capture.path == "/batch/"
    assert capture.encoding == ("gzip" if gzip else "plain")
    assert capture.headers["content-type"] == "application/json"
    assert capture.headers["user-agent"].startswith("posthog-python/")
    assert "authorization" not in capture.headers
    payload = capture.payload
    sent_at(payload)
    assert payload == {
        "api_key": "phc_test",
        "historical_migration": False,
        "batch": [
            {
                "event": "crawl_finished",
                "distinct_id": INSTALL_ID,
                "uuid": event_uuid(span),
                "timestamp": "2023-11-14T22:13:20.250000+00:00",
                "properties": {
                    "pages": 3,
                    "browser": "chromium",
                    "success": True,
                    "browsers": ["chromium", "firefox"],
                    "otel_telemetry.mode": "server",
                    "service.name": "acme",
                    "service.version": "1.2.3",
                    **POSTHOG_OWN,
                },
            }
        ],
    }
    assert exporter.last_delivery is not None
    assert exporter.last_delivery.ok
    assert exporter.last_delivery.id == event_uuid(span)


def test_an_exception_event_arrives_whole(receiver: PosthogReceiver) -> None:
    exporter = PosthogSpanExporter("phc_test", host=receiver.host)
    span = crash_span()

    assert exporter.export([span]) is SpanExportResult.SUCCESS

    [event] = receiver.events()
    assert event == {
        "event": "$exception",
        "distinct_id": ANONYMOUS_ID,
        "uuid": event_uuid(span),
        "timestamp": "2023-11-14T22:13:20.500000+00:00",
        "properties": {
            "otel_telemetry.mechanism": "excepthook",
            "otel_telemetry.handled": False,
            "otel_telemetry.mode": "interactive",
            "service.name": "acme",
            "service.version": "1.2.3",
            "$exception_list": [
                {
                    "type": "CrawlError",
                    "value": "no config for [url]",
                    "module": "acme.errors",
                    "mechanism": {
                        "type": "excepthook",
                        "handled": False,
                        "synthetic": False,
                        "exception_id": 0,
                    },
                    "stacktrace": {
                        "type": "raw",
                        "frames": [
                            {
                                "platform": "python",
                                "filename": "acme/crawler.py",
                                "function": "Crawler.run",
                                "lineno": 40,
                                "module": "acme.crawler",
                                "in_app": True,
                            }
                        ],
                    },
                },
                {
                    "type": "KeyError",
                    "value": "'site'",
                    "mechanism": {
                        "type": "chained",
                        "parent_id": 0,
                        "source": "cause",
                        "synthetic": False,
                        "exception_id": 1,
                    },
                    "stacktrace": {
                        "type": "raw",
                        "frames": [
                            {
                                "platform": "python",
                                "filename": "acme/config.py",
                                "function": "lookup",
                                "lineno": 12,
                                "module": "acme.config",
                                "in_app": True,
                            }
                        ],
                    },
                },
            ],
            "$exception_level": "error",
            **POSTHOG_OWN,
        },
    }


def test_what_the_sdk_adds_from_the_process_is_cut(
    receiver: PosthogReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    import posthog

    monkeypatch.setenv("POSTHOG_RELEASE_ID", "release-of-the-host")
    exporter = PosthogSpanExporter("phc_test", host=receiver.host)

    # A host's context tags, on the exporting thread.
    with posthog.new_context(fresh=True):
        posthog.tag("customer", "ACME Corp")
        assert exporter.export([usage_span()]) is SpanExportResult.SUCCESS

    [event] = receiver.events()
    added = set(event["properties"]) - {
        "pages",
        "browser",
        "success",
        "browsers",
        "otel_telemetry.mode",
        "service.name",
        "service.version",
        *POSTHOG_OWN,
    }
    assert added == set()  # no $python_version, $os, $release_id, customer...
    assert set(event) == {"event", "distinct_id", "uuid", "timestamp", "properties"}


def test_the_exporter_starts_no_thread_registers_no_exit_and_keeps_the_loggers_level(
    receiver: PosthogReceiver,
) -> None:
    logger = logging.getLogger("posthog")
    callbacks = atexit._ncallbacks()
    logger.setLevel(logging.DEBUG)  # a host that debugs its own PostHog client
    try:
        exporter = PosthogSpanExporter("phc_test", host=receiver.host)
        assert exporter.export([usage_span(), crash_span()]) is SpanExportResult.SUCCESS

        assert logger.level == logging.DEBUG
    finally:
        logger.setLevel(logging.NOTSET)
    assert atexit._ncallbacks() == callbacks
    assert not [t for t in threading.enumerate() if type(t).__module__.startswith("posthog")]
    assert len(receiver.events()) == 2


@pytest.mark.parametrize(
    ("mode", "retry_after", "fatal", "detail"),
    [
        ("429", float(RETRY_AFTER), False, "HTTP 429"),
        ("500", None, False, "HTTP 500"),
        ("401", None, True, "HTTP 401"),
        ("refused", None, False, "ConnectionRefusedError"),
    ],
)
def test_an_answer_that_is_not_2xx_leaves_the_report_unconfirmed(
    receiver: PosthogReceiver,
    mode: str,
    retry_after: float | None,
    fatal: bool,
    detail: str,
) -> None:
    receiver.mode = mode
    exporter = PosthogSpanExporter("phc_test", host=receiver.host_for(mode))
    span = usage_span()

    assert exporter.export([span]) is SpanExportResult.FAILURE

    delivery = exporter.last_delivery
    assert delivery is not None
    assert (delivery.ok, delivery.retry_after, delivery.fatal, delivery.detail) == (
        False,
        retry_after,
        fatal,
        detail,
    )
    assert delivery.id == event_uuid(span)
    assert receiver.captures == []
    assert receiver.attempts == (0 if mode == "refused" else 1)  # one try: no retries


def test_an_answer_that_never_comes_ends_with_the_timeout(receiver: PosthogReceiver) -> None:
    receiver.mode = "hang"
    exporter = PosthogSpanExporter("phc_test", host=receiver.host, timeout=0.5)

    result = exporter.export([usage_span()])  # the receiver would hold it for 120 s

    assert result is SpanExportResult.FAILURE
    assert exporter.last_delivery is not None
    assert exporter.last_delivery.detail == "TimeoutError"  # ended by our timeout
    assert receiver.attempts == 1


def test_an_endless_answer_is_not_read(receiver: PosthogReceiver) -> None:
    receiver.mode = "endless"
    exporter = PosthogSpanExporter("phc_test", host=receiver.host, timeout=5)

    assert exporter.export([usage_span()]) is SpanExportResult.SUCCESS  # the status: 200

    assert exporter.last_delivery is not None
    assert exporter.last_delivery.ok
    # What the socket's buffers took before we hung up; never the 1 GiB announced.
    assert receiver.streamed < 64 << 20


# Host processes, configured as users do.

HOST = """
import sys, time
from otel_telemetry import Telemetry
t = Telemetry(app="acme", package="__main__", version="1.2.3")
t.install()
t.send_event("crawl_started", {"pages": 3, "browser": "chromium", "headless": True})
sys.stderr.write(f"@@ {time.monotonic()!r}\\n")
raise ValueError("a crash of the host")
"""

CRASH = """
import sys, time
from otel_telemetry import Telemetry
t = Telemetry(app="acme", package="__main__", version="1.2.3")
t.install()
sys.stderr.write(f"@@ {time.monotonic()!r}\\n")
raise ValueError("a crash of the host")
"""

THREE_REPORTS = """
from otel_telemetry import Telemetry
t = Telemetry(app="acme", package="__main__")
for message in ("one", "two", "three"):
    try:
        raise ValueError(message)
    except ValueError as exc:
        t.capture_exception(exc)
print(t.flush(30))
"""


def posthog_env(host_env: dict[str, str], host: str, level: str = "1") -> dict[str, str]:
    env = {k: v for k, v in host_env.items() if not k.startswith("POSTHOG_")}
    env.update(
        ACME_TELEMETRY=level,
        ACME_TELEMETRY_EXPORTER="posthog",
        ACME_POSTHOG_KEY="phc_test",
        ACME_POSTHOG_HOST=host,
    )
    return env


def crash(env: dict[str, str], code: str = CRASH) -> float:
    """Run a crashing host; the seconds from its crash to its exit.

    Returns once the detached sender it handed its report to has ended too.
    """
    delay, result = exit_delay([sys.executable, "-c", code], env)
    assert result.returncode == 1, result.stderr
    wait_for_senders(env)
    return delay


def next_run(env: dict[str, str]) -> None:
    """A later, healthy run of the host: one that starts its pipeline sends what waits."""
    code = (
        "from otel_telemetry import Telemetry\n"
        "t = Telemetry(app='acme', package='__main__')\n"
        "t.install()\n"
        "print(t.flush(30))\n"
    )
    result = run_python(code, {**env, "ACME_TELEMETRY_FLUSH_TIMEOUT": "10"}, check=True)
    assert result.stdout.strip() == "True", result.stderr


def waiting(config_dir: Path) -> list[str]:
    """The outbox's files, one item per report (a batch file holds several)."""
    from otel_telemetry.pipeline._outbox import report_count

    outbox = Layout(config_dir).outbox_dir
    names = sorted(p.name for p in outbox.iterdir()) if outbox.exists() else []
    return [name for name in names for _ in range(report_count(name))]


def normalised(event: dict[str, Any]) -> dict[str, Any]:
    """An event with its uuid and time checked and replaced (a run's own)."""
    assert uuid.UUID(event["uuid"]).version == 5
    assert abs(datetime.fromisoformat(event["timestamp"]).timestamp() - time.time()) < 600
    return {**event, "uuid": "<uuid>", "timestamp": "<time>"}


def test_a_host_sends_its_usage_events_and_its_crash_to_posthog(
    receiver: PosthogReceiver, host_env: dict[str, str], config_dir: Path
) -> None:
    env = posthog_env(host_env, receiver.host, level="all")

    crash(env, HOST)

    events = sorted(receiver.wait_for_events(2), key=lambda e: e["event"])
    install_id = Layout(config_dir).install_id_file.read_text().strip()
    assert uuid.UUID(install_id)
    resource = {
        "service.name": "acme",
        "service.version": "1.2.3",
        "process.runtime.name": sys.implementation.name,
        "process.runtime.version": "{}.{}.{}".format(*sys.version_info[:3]),
        "os.type": sys.platform.replace("win32", "windows"),
    }
    assert [normalised(e) for e in events] == [
        {
            "event": "$exception",
            "distinct_id": ANONYMOUS_ID,  # a crash is never linked to the install
            "uuid": "<uuid>",
            "timestamp": "<time>",
            "properties": {
                "otel_telemetry.mechanism": "excepthook",
                "otel_telemetry.handled": False,
                "otel_telemetry.mode": "non-interactive",
                **resource,
                "$exception_list": [
                    {
                        "type": "ValueError",
                        "value": "a crash of the host",
                        "mechanism": {
                            "type": "excepthook",
                            "handled": False,
                            "synthetic": False,
                            "exception_id": 0,
                        },
                        "stacktrace": {
                            "type": "raw",
                            "frames": [
                                {
                                    "platform": "python",
                                    "filename": "<string>",
                                    "function": "<module>",
                                    "lineno": 8,
                                    "module": "__main__",
                                    "in_app": True,
                                }
                            ],
                        },
                    }
                ],
                "$exception_level": "error",
                **POSTHOG_OWN,
            },
        },
        {
            "event": "crawl_started",
            "distinct_id": install_id,
            "uuid": "<uuid>",
            "timestamp": "<time>",
            "properties": {
                "pages": 3,
                "browser": "chromium",
                "headless": True,
                "otel_telemetry.mode": "non-interactive",
                **resource,
                **POSTHOG_OWN,
            },
        },
    ]
    assert {c.api_key for c in receiver.captures} == {"phc_test"}
    assert waiting(config_dir) == []


def test_429_keeps_the_report_waiting_until_retry_after_has_passed(
    receiver: PosthogReceiver, host_env: dict[str, str], config_dir: Path
) -> None:
    receiver.mode = "429"
    env = posthog_env(host_env, receiver.host)

    crash(env)

    assert receiver.captures == []
    assert len(waiting(config_dir)) == 1
    backoff = Layout(config_dir).backoff_file
    until = json.loads(backoff.read_text())
    assert time.time() + RETRY_AFTER - 600 < until["posthog"] <= time.time() + RETRY_AFTER

    receiver.mode = "ok"
    attempts = receiver.attempts
    next_run(env)  # within Retry-After: not even tried
    assert receiver.attempts == attempts
    assert len(waiting(config_dir)) == 1

    until["posthog"] = time.time() - 1  # as it stands once the hour has passed
    backoff.write_text(json.dumps(until))
    next_run(env)

    [event] = receiver.events()
    assert event["event"] == "$exception"
    assert waiting(config_dir) == []


def test_500_keeps_the_report_and_a_later_run_sends_it_once(
    receiver: PosthogReceiver, host_env: dict[str, str], config_dir: Path
) -> None:
    receiver.mode = "500"
    env = posthog_env(host_env, receiver.host)

    crash(env)

    # The crashed process, if its worker got there before the exit, then its sender.
    assert 1 <= receiver.attempts <= 2
    assert receiver.captures == []
    assert len(waiting(config_dir)) == 1

    receiver.mode = "ok"
    next_run(env)
    next_run(env)

    [event] = receiver.events()  # nothing lost, nothing sent twice
    assert event["event"] == "$exception"
    assert event["properties"]["$exception_list"][0]["value"] == "a crash of the host"
    assert waiting(config_dir) == []


def test_401_stops_sending_for_the_run_with_one_warning(
    receiver: PosthogReceiver, host_env: dict[str, str], config_dir: Path
) -> None:
    receiver.mode = "401"
    env = posthog_env(host_env, receiver.host)

    result = run_python(THREE_REPORTS, env)

    assert result.returncode == 0, result.stderr
    assert receiver.attempts == 1  # the first refusal stops this run's sending
    assert result.stderr.count("was refused") == 1
    assert "phc_test" not in result.stderr
    assert "Traceback" not in result.stderr
    assert len(waiting(config_dir)) == 3  # nothing lost


def test_an_endpoint_that_never_answers_keeps_the_exit_within_its_budget(
    receiver: PosthogReceiver, host_env: dict[str, str], config_dir: Path
) -> None:
    receiver.mode = "hang"
    env = {**posthog_env(host_env, receiver.host), "ACME_TELEMETRY_FLUSH_TIMEOUT": "1"}

    delay = crash(env)

    assert delay < EXIT_BOUND, f"exit took {delay:.2f} s after the crash"
    assert receiver.captures == []
    assert len(waiting(config_dir)) == 1  # the report waits on disk

    receiver.mode = "ok"
    next_run(env)
    [event] = receiver.events()
    assert event["event"] == "$exception"


def test_without_the_extra_a_host_keeps_its_reports_in_the_file(
    receiver: PosthogReceiver, host_env: dict[str, str], config_dir: Path
) -> None:
    env = posthog_env(host_env, receiver.host)
    # A report flushed in process (a crash hands its report to a detached sender, whose
    # warnings nobody reads, and which has the extra here: the hiding is this process's).
    without_posthog = (
        'import sys\nsys.modules["posthog"] = None\n'
        "from otel_telemetry import Telemetry\n"
        't = Telemetry(app="acme", package="__main__", version="1.2.3")\n'
        "try:\n"
        '    raise ValueError("a crash of the host")\n'
        "except ValueError as exc:\n"
        "    t.capture_exception(exc)\n"
        "t.flush(30)\n"
    )

    result = run_python(without_posthog, env)

    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "'posthog'" in line]
    assert len(warnings) == 1, result.stderr
    assert "the posthog package is not installed" in warnings[0]
    assert EXTRA_HINT in warnings[0]
    reports = Layout(config_dir).reports_dir
    lines = [line for path in reports.glob("*.jsonl") for line in path.read_text().splitlines()]
    assert len(lines) == 1
    assert "a crash of the host" in lines[0]
    assert receiver.attempts == 0
    assert waiting(config_dir) == []


# A host that uses PostHog itself: its module-level client and one of its own.

ISOLATION_HOST = """
import json, logging, sys
import posthog

posthog.api_key = "phc_host"
posthog.host = sys.argv[1]
posthog.sync_mode = True
posthog.disable_geoip = False
own = posthog.Posthog("phc_own", host=sys.argv[1], sync_mode=True, disable_geoip=False)
posthog.capture("host_before", distinct_id="user-1", properties={"plan": "pro"})
# After the host's clients were made (each sets it): the level is the host's from here.
logging.getLogger("posthog").setLevel(logging.ERROR)

from otel_telemetry import Telemetry
t = Telemetry(app="acme", package="__main__", version="1.2.3")
t.send_event("crawl_started", {"pages": 3})
try:
    raise ValueError("a crash of the host")
except ValueError as exc:
    t.capture_exception(exc)
assert t.flush(30)

posthog.capture("host_after", distinct_id="user-1")
own.capture("own_after", distinct_id="user-2")
print(json.dumps({
    "api_key": posthog.api_key,
    "host": posthog.host,
    "sync_mode": posthog.sync_mode,
    "disable_geoip": posthog.disable_geoip,
    "before_send": getattr(posthog, "before_send", None),  # a global since posthog 7.x
    "default_client": [posthog.default_client.api_key, posthog.default_client.host],
    "own": [own.api_key, own.host, own.before_send],
    "level": logging.getLogger("posthog").level,
}))
"""


def test_a_host_using_posthog_itself_is_unaffected(
    receiver: PosthogReceiver, host_env: dict[str, str]
) -> None:
    with PosthogReceiver() as hosts:
        env = posthog_env(host_env, receiver.host, level="all")

        result = run_python(ISOLATION_HOST, env, hosts.host, check=True)

        assert json.loads(result.stdout) == {
            "api_key": "phc_host",
            "host": hosts.host,
            "sync_mode": True,
            "disable_geoip": False,
            "before_send": None,
            "default_client": ["phc_host", hosts.host],
            "own": ["phc_own", hosts.host, None],
            "level": logging.ERROR,
        }
        # The host's events went to its host, with its keys and its SDK's properties.
        theirs = hosts.events()
        assert [e["event"] for e in theirs] == ["host_before", "host_after", "own_after"]
        assert [c.api_key for c in hosts.captures] == ["phc_host", "phc_host", "phc_own"]
        assert all(e["properties"]["$lib"] == "posthog-python" for e in theirs)
        assert all("$geoip_disable" not in e["properties"] for e in theirs)
        assert theirs[0]["properties"]["plan"] == "pro"
    # Ours went to ours, with our key, and nothing of the host's.
    ours = receiver.wait_for_events(2)
    assert sorted(e["event"] for e in ours) == ["$exception", "crawl_started"]
    assert {c.api_key for c in receiver.captures} == {"phc_test"}
    assert all(e["properties"]["$lib"] == "otel_telemetry" for e in ours)
    assert all("plan" not in e["properties"] for e in ours)
