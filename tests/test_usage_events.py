"""Usage events end to end: a real host process, a real OTLP receiver.

A host sends typed events and name-and-payload events; at level ``all`` they arrive
with exactly their properties (and the install id, the mode, the scrubbing audit), an
event that breaks a limit never arrives (one warning on the host's stderr, without the
value), a host's own opt-out variable (``opt_out_env``) stops crash reports and events
alike, and at level ``crash`` no event leaves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import pytest

from otel_telemetry._layout import Layout
from tests.conftest import otlp_env, run_python
from tests.payloads import normalized_json
from tests.receivers.otlp import OtlpHttpReceiver

pytestmark = pytest.mark.integration

LONG_TEXT = "visited https://alice.example/private/page?q=secret-search-words, then"

HOST = f"""
from dataclasses import dataclass
from typing import ClassVar

from otel_telemetry import Telemetry, TelemetryEvent

t = Telemetry(app="acme", package="__main__")


@dataclass(frozen=True)
class CrawlFinished(TelemetryEvent):
    name: ClassVar[str] = "crawl_finished"
    pages: int
    browser: str
    success: bool
    ratio: float
    tags: tuple = ()


t.send_event(CrawlFinished(pages=3, browser="chromium", success=True, ratio=0.5, tags=("a", "b")))
# Refused at the call: a long free text, a dict. Never queued, never sent.
t.send_event("crawl_failed", {{"pages": 1, "note": {LONG_TEXT!r}}})
t.send_event(CrawlFinished(pages=1, browser="x", success=False, ratio=1.0, tags=({{"k": 1}},)))
# Within the limits; its short strings are still scrubbed on the worker.
t.send_event("search", {{"engine": "ddg", "owner": "bob@corp.io", "counts": [1, 2], "none": None}})
print(t.flush(30))
"""


def _spans(receiver: OtlpHttpReceiver, count: int) -> list[dict[str, Any]]:
    spans = receiver.wait_for_spans(count)
    return sorted((normalized_json(span) for span in spans), key=lambda span: span["name"])


def _value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, list):
        return {"arrayValue": {"values": [_value(item) for item in value]}}
    return {"stringValue": value}


def _event_span(name: str, properties: list[tuple[str, Any]]) -> dict[str, Any]:
    """A usage event's span as the receiver decodes it, ids and times normalized."""
    return {
        "traceId": "<traceId>",
        "spanId": "<spanId>",
        "name": name,
        "kind": "SPAN_KIND_INTERNAL",
        "startTimeUnixNano": "<time>",
        "endTimeUnixNano": "<time>",
        "attributes": [{"key": key, "value": _value(value)} for key, value in properties],
        "status": {},
        "flags": 256,
    }


def test_events_arrive_whole_and_refused_ones_never(
    host_env: dict[str, str], config_dir: Path, otlp_http: OtlpHttpReceiver
) -> None:
    env = otlp_env(host_env, otlp_http, ACME_TELEMETRY="all")

    result = run_python(HOST, env, check=True)

    assert result.stdout.split() == ["True"]
    install_id = Layout(config_dir).install_id_file.read_text().strip()
    mode = ("otel_telemetry.mode", "non-interactive")
    assert _spans(otlp_http, 2) == [
        _event_span(
            "crawl_finished",
            [
                ("otel_telemetry.kind", "event"),
                ("pages", 3),
                ("browser", "chromium"),
                ("success", True),
                ("ratio", 0.5),
                ("tags", ["a", "b"]),
                ("otel_telemetry.install_id", install_id),
                mode,
            ],
        ),
        _event_span(
            "search",
            [
                ("otel_telemetry.kind", "event"),
                ("engine", "ddg"),
                ("owner", "[email]"),
                ("counts", [1, 2]),
                ("otel_telemetry.install_id", install_id),
                mode,
                ("otel_telemetry.scrubbed", ["email:1"]),
            ],
        ),
    ]
    # The refused events: neither sent nor kept, one warning each, without their values.
    sent = b"".join(request.body for request in otlp_http.requests)
    for never in (b"crawl_failed", b"alice.example", b"secret-search", b"bob@corp.io"):
        assert never not in sent
    assert not list(Layout(config_dir).outbox_dir.glob("*"))
    warnings = [line for line in result.stderr.splitlines() if "was not sent" in line]
    assert warnings == [
        "otel_telemetry: acme's usage event 'crawl_failed' was not sent: property 'note'"
        " holds a str longer than 64 characters (usage events carry flags, numbers and short"
        " names only).",
        "otel_telemetry: acme's usage event __main__.CrawlFinished ('crawl_finished') was not"
        " sent: property 'tags' holds a list holding a value of type dict; items must be bool,"
        " int, float or str (usage events carry flags, numbers and short names only).",
    ]
    assert "alice" not in result.stderr
    assert len(otlp_http.wait_for_spans(2)) == 2  # nothing more arrived


def test_the_example_crawler_sends_its_two_events(
    host_env: dict[str, str], config_dir: Path, otlp_http: OtlpHttpReceiver
) -> None:
    env = otlp_env(host_env, otlp_http, ACME_TELEMETRY="all")
    code = """
from acme.crawler import crawl_pages
from acme.telemetry import telemetry
pages = ["https://alice.example/a", "https://alice.example/b", "https://alice.example/c"]
results = crawl_pages(pages, browser="firefox", fetch=lambda url: "<title>T</title>")
results += crawl_pages(pages[:1], browser="webkit")  # offline: a failed page
print(telemetry.flush(30), [r.success for r in results])
"""

    result = run_python(code, env, check=True)

    assert result.stdout.split("\n")[0] == "True [True, True, True, False]"
    install_id = Layout(config_dir).install_id_file.read_text().strip()
    spans = otlp_http.wait_for_spans(4)
    received = [(span["name"], normalized_json(span)["attributes"]) for span in spans]
    common = [("otel_telemetry.install_id", install_id), ("otel_telemetry.mode", "non-interactive")]

    def attributes(properties: list[tuple[str, Any]]) -> list[dict[str, Any]]:
        kind = [("otel_telemetry.kind", "event")]
        return [{"key": k, "value": _value(v)} for k, v in kind + properties + common]

    assert received == [
        ("crawl_started", attributes([("pages", 3), ("browser", "firefox")])),
        (
            "crawl_finished",
            attributes(
                [
                    ("pages", 3),
                    ("succeeded", 3),
                    ("browser", "firefox"),
                    ("success", True),
                    ("duration", "under_1s"),
                ]
            ),
        ),
        ("crawl_started", attributes([("pages", 1), ("browser", "webkit")])),
        (
            "crawl_finished",
            attributes(
                [
                    ("pages", 1),
                    ("succeeded", 0),
                    ("browser", "webkit"),
                    ("success", False),
                    ("duration", "under_1s"),
                ]
            ),
        ),
    ]
    assert b"alice" not in b"".join(request.body for request in otlp_http.requests)


OPT_OUT_HOST = """
from otel_telemetry import Telemetry
t = Telemetry(app="acme", package="__main__", opt_out_env=["ANONYMIZED_TELEMETRY"])
t.install()
t.send_event("page_view", {"pages": 1})
t.flush(30)
raise RuntimeError("the host crashes")  # unhandled: reported at exit, if anything is
"""


@pytest.mark.parametrize(
    ("value", "sent"),
    [
        pytest.param(None, True, id="unset"),
        pytest.param("true", True, id="true"),
        pytest.param("false", False, id="false"),
        pytest.param(" OFF ", False, id="OFF"),
        pytest.param("0", False, id="0"),
    ],
)
def test_the_host_s_opt_out_variable_stops_crashes_and_events(
    value: Optional[str],
    sent: bool,
    host_env: dict[str, str],
    config_dir: Path,
    otlp_http: OtlpHttpReceiver,
) -> None:
    env = otlp_env(host_env, otlp_http, ACME_TELEMETRY="all")
    if value is not None:
        env["ANONYMIZED_TELEMETRY"] = value

    result = run_python(OPT_OUT_HOST, env)

    assert result.returncode == 1
    assert "RuntimeError: the host crashes" in result.stderr  # the host's own traceback
    if sent:
        names = sorted(span["name"] for span in otlp_http.wait_for_spans(2))
        assert names == ["exception", "page_view"]
    else:
        # The process ended: what it would have sent, it sent before ending.
        assert otlp_http.requests == []
        assert sorted(p.name for p in config_dir.rglob("*")) == []  # no id, no outbox
        status = run_python(
            "from otel_telemetry import Telemetry\n"
            "t = Telemetry(app='acme', opt_out_env=['ANONYMIZED_TELEMETRY'])\n"
            "print(t.status().decided_by)",
            env,
            check=True,
        )
        assert status.stdout.strip() == "ANONYMIZED_TELEMETRY"


def test_at_level_crash_no_event_leaves(
    host_env: dict[str, str], config_dir: Path, otlp_http: OtlpHttpReceiver
) -> None:
    env = otlp_env(host_env, otlp_http, ACME_TELEMETRY="1")
    code = """
from otel_telemetry import Telemetry
t = Telemetry(app="acme", package="__main__")
t.send_event("page_view", {"pages": 1})
try:
    raise ValueError("a crash of the host")
except ValueError as exc:
    t.capture_exception(exc)
t.send_event("page_view", {"pages": 2})
print(t.flush(30), t.status().drops.get("usage events off"))
"""

    result = run_python(code, env, check=True)

    assert result.stdout.split() == ["True", "2"]
    [span] = otlp_http.wait_for_spans(1)
    assert span["name"] == "exception"
    assert b"page_view" not in b"".join(request.body for request in otlp_http.requests)
    assert not Layout(config_dir).install_id_file.exists()  # no event may leave: no id
