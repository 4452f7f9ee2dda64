"""Whole-payload helpers: decode what a receiver got and blank out what changes per run."""

from __future__ import annotations

import json
import re
from typing import Any

from google.protobuf.json_format import MessageToDict
from inline_snapshot import snapshot

from otel_telemetry._chain import Chain

_HEX = re.compile(r"^[0-9a-f]+$")

# What a real crash of the example host may contain, and must never be sent.
CRAWL_URL = "https://alice:s3cret-pass@intranet.example.com/reports?token=abc123"
CONTACT = "alice.smith@example.com"
SECRETS = (
    "intranet.example.com",
    "s3cret-pass",
    "abc123",
    "alice",
    "example.com",
    "/home/",
    ".cache/acme",
)


# A report's exception chain (``otel_telemetry.exception.chain``), root cause first:
# a KeyError, the cause of an acme CrawlError raised below a frame of user code.
CRAWL_CHAIN: Chain = [
    {
        "type": "KeyError",
        "module": "builtins",
        "message": "'site'",
        "frames": [
            {
                "filename": "acme/config.py",
                "function": "lookup",
                "lineno": 12,
                "module": "acme.config",
                "in_app": True,
            }
        ],
        "omitted_frames": 0,
        "relation": "cause",
    },
    {
        "type": "acme.errors.CrawlError",
        "module": "acme.errors",
        "message": "no config for [url]",
        "frames": [
            {
                "filename": "<user code>",
                "function": "<user code>",
                "lineno": 0,
                "module": "<user code>",
                "in_app": False,
            },
            {
                "filename": "acme/crawler.py",
                "function": "Crawler.run",
                "lineno": 40,
                "module": "acme.crawler",
                "in_app": True,
            },
        ],
        "omitted_frames": 0,
        "relation": "",
    },
]


def normalized(message: Any) -> dict[str, Any]:
    """An OTLP protobuf message as a dict, ids and times replaced by stable markers."""
    document = MessageToDict(message, use_integers_for_enums=True)
    return _normalize(document)


def normalized_json(document: dict[str, Any]) -> dict[str, Any]:
    """The same for an OTLP/JSON document (ids already hex)."""
    return _normalize(document)


_STDLIB_LINE = re.compile(r'(File "(?!acme/)[^"]+", line )\d+')


def _stdlib_lines(text: str) -> str:
    """Blank the line numbers of frames outside the host: they change with Python."""
    if text.startswith("[{"):
        chain = json.loads(text)
        for entry in chain:
            for frame in entry["frames"]:
                if not frame["in_app"]:
                    frame["lineno"] = "<lineno>"
        return json.dumps(chain, separators=(",", ":"))
    return _STDLIB_LINE.sub(r"\1<lineno>", text)


def _normalize(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        if value.get("key") == "telemetry.sdk.version":
            return {"key": "telemetry.sdk.version", "value": {"stringValue": "<sdk version>"}}
        if value.get("key") == "telemetry.distro.version":
            return {"key": "telemetry.distro.version", "value": {"stringValue": "<version>"}}
        if value.get("key") == "process.runtime.version":  # the matrix runs 3.9 to 3.13
            return {"key": "process.runtime.version", "value": {"stringValue": "<python>"}}
        return {k: _normalize(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalize(item) for item in value]
    if key in ("traceId", "spanId", "parentSpanId"):
        return f"<{key}>" if value else value
    if key.endswith("UnixNano"):
        assert int(value) > 0
        return "<time>"
    if key == "version" and isinstance(value, str):
        return "<version>"
    if key == "stringValue":
        return _stdlib_lines(value)
    return value


def attributes(items: list[dict[str, Any]]) -> dict[str, Any]:
    """OTLP key/value list to a plain dict of Python values."""
    result: dict[str, Any] = {}
    for item in items:
        ((kind, value),) = item["value"].items()
        if kind == "arrayValue":
            value = [next(iter(v.values())) for v in value.get("values", [])]
        result[item["key"]] = value
    return result


# The example host's crash, whole, as every exporter must deliver it (ids and times blanked).
CRASH_REPORT = snapshot(
    {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [
                        {"key": "service.name", "value": {"stringValue": "acme"}},
                        {"key": "service.version", "value": {"stringValue": "1.4.0"}},
                        {"key": "telemetry.sdk.language", "value": {"stringValue": "python"}},
                        {"key": "telemetry.sdk.name", "value": {"stringValue": "opentelemetry"}},
                        {"key": "telemetry.sdk.version", "value": {"stringValue": "<sdk version>"}},
                        {
                            "key": "telemetry.distro.name",
                            "value": {"stringValue": "otel_telemetry"},
                        },
                        {"key": "telemetry.distro.version", "value": {"stringValue": "<version>"}},
                        {"key": "process.runtime.name", "value": {"stringValue": "cpython"}},
                        {"key": "process.runtime.version", "value": {"stringValue": "<python>"}},
                        {"key": "os.type", "value": {"stringValue": "linux"}},
                    ]
                },
                "scopeSpans": [
                    {
                        "scope": {"name": "otel_telemetry", "version": "<version>"},
                        "spans": [
                            {
                                "traceId": "<traceId>",
                                "spanId": "<spanId>",
                                "name": "exception",
                                "kind": 1,
                                "startTimeUnixNano": "<time>",
                                "endTimeUnixNano": "<time>",
                                "attributes": [
                                    {
                                        "key": "otel_telemetry.kind",
                                        "value": {"stringValue": "exception"},
                                    },
                                    {
                                        "key": "otel_telemetry.mechanism",
                                        "value": {"stringValue": "excepthook"},
                                    },
                                    {
                                        "key": "otel_telemetry.handled",
                                        "value": {"boolValue": False},
                                    },
                                    {
                                        "key": "otel_telemetry.mode",
                                        "value": {"stringValue": "non-interactive"},
                                    },
                                    {
                                        "key": "otel_telemetry.scrubbed",
                                        "value": {
                                            "arrayValue": {
                                                "values": [
                                                    {"stringValue": "email:4"},
                                                    {"stringValue": "path:4"},
                                                    {"stringValue": "url:6"},
                                                ]
                                            }
                                        },
                                    },
                                ],
                                "events": [
                                    {
                                        "timeUnixNano": "<time>",
                                        "name": "exception",
                                        "attributes": [
                                            {
                                                "key": "exception.type",
                                                "value": {"stringValue": "acme.crawler.CrawlError"},
                                            },
                                            {
                                                "key": "exception.message",
                                                "value": {
                                                    "stringValue": "could not fetch [url] on behalf of [email]; partial page kept in [path]"
                                                },
                                            },
                                            {
                                                "key": "exception.stacktrace",
                                                "value": {
                                                    "stringValue": """\
Traceback (most recent call last):
  File "acme/crawler.py", line 44, in _fetch
  File "acme/crawler.py", line 36, in _decode
  File "json/__init__.py", line <lineno>, in loads
  File "json/decoder.py", line <lineno>, in JSONDecoder.decode
  File "json/decoder.py", line <lineno>, in JSONDecoder.raw_decode
  File "acme/crawler.py", line 33, in _decode.<locals>.check
ConnectionRefusedError: connection to [url] refused

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
  File "<user code>", line <lineno>, in <user code>
  File "click/core.py", line <lineno>, in Command.__call__
  File "click/core.py", line <lineno>, in Command.main
  File "click/core.py", line <lineno>, in Group.invoke
  File "click/core.py", line <lineno>, in Command.invoke
  File "click/core.py", line <lineno>, in Context.invoke
  File "acme/cli.py", line 32, in crawl
  File "acme/crawler.py", line 62, in run
  File "asyncio/runners.py", line <lineno>, in run
  File "asyncio/runners.py", line <lineno>, in Runner.run
  File "asyncio/base_events.py", line <lineno>, in BaseEventLoop.run_until_complete
  File "acme/crawler.py", line 56, in arun
  File "acme/crawler.py", line 48, in _fetch
acme.crawler.CrawlError: could not fetch [url] on behalf of [email]; partial page kept in [path]\
"""
                                                },
                                            },
                                            {
                                                "key": "otel_telemetry.exception.chain",
                                                "value": {
                                                    "stringValue": '[{"type":"ConnectionRefusedError","module":"builtins","message":"connection to [url] refused","frames":[{"filename":"acme/crawler.py","function":"_fetch","lineno":44,"module":"acme.crawler","in_app":true},{"filename":"acme/crawler.py","function":"_decode","lineno":36,"module":"acme.crawler","in_app":true},{"filename":"json/__init__.py","function":"loads","lineno":"<lineno>","module":"json","in_app":false},{"filename":"json/decoder.py","function":"JSONDecoder.decode","lineno":"<lineno>","module":"json.decoder","in_app":false},{"filename":"json/decoder.py","function":"JSONDecoder.raw_decode","lineno":"<lineno>","module":"json.decoder","in_app":false},{"filename":"acme/crawler.py","function":"_decode.<locals>.check","lineno":33,"module":"acme.crawler","in_app":true}],"omitted_frames":0,"relation":"cause"},{"type":"acme.crawler.CrawlError","module":"acme.crawler","message":"could not fetch [url] on behalf of [email]; partial page kept in [path]","frames":[{"filename":"<user code>","function":"<user code>","lineno":"<lineno>","module":"<user code>","in_app":false},{"filename":"click/core.py","function":"Command.__call__","lineno":"<lineno>","module":"click.core","in_app":false},{"filename":"click/core.py","function":"Command.main","lineno":"<lineno>","module":"click.core","in_app":false},{"filename":"click/core.py","function":"Group.invoke","lineno":"<lineno>","module":"click.core","in_app":false},{"filename":"click/core.py","function":"Command.invoke","lineno":"<lineno>","module":"click.core","in_app":false},{"filename":"click/core.py","function":"Context.invoke","lineno":"<lineno>","module":"click.core","in_app":false},{"filename":"acme/cli.py","function":"crawl","lineno":32,"module":"acme.cli","in_app":true},{"filename":"acme/crawler.py","function":"run","lineno":62,"module":"acme.crawler","in_app":true},{"filename":"asyncio/runners.py","function":"run","lineno":"<lineno>","module":"asyncio.runners","in_app":false},{"filename":"asyncio/runners.py","function":"Runner.run","lineno":"<lineno>","module":"asyncio.runners","in_app":false},{"filename":"asyncio/base_events.py","function":"BaseEventLoop.run_until_complete","lineno":"<lineno>","module":"asyncio.base_events","in_app":false},{"filename":"acme/crawler.py","function":"arun","lineno":56,"module":"acme.crawler","in_app":true},{"filename":"acme/crawler.py","function":"_fetch","lineno":48,"module":"acme.crawler","in_app":true}],"omitted_frames":0,"relation":""}]'
                                                },
                                            },
                                        ],
                                    }
                                ],
                                "status": {
                                    "message": "acme.crawler.CrawlError: could not fetch [url] on behalf of [email]; partial page kept in [path]",
                                    "code": 2,
                                },
                                "flags": 256,
                            }
                        ],
                    }
                ],
            }
        ]
    }
)
