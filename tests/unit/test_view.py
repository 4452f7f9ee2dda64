"""The readable report (``_view.py``): what ``[v]``, ``telemetry show`` and the widget print."""

from __future__ import annotations

import ast
import copy
import io
import json
import re
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from inline_snapshot import snapshot

from otel_telemetry import _view
from otel_telemetry._chain import read_chain
from otel_telemetry._view import render_report, wants_color

# The acme demo crash (`acme markdown https://example.com/a`, answered through the `file`
# exporter), as that exporter wrote it: one line of OTLP/JSON.
ACME_MARKDOWN = json.loads(
    r"""{"resourceSpans": [{"resource": {"attributes": [
 {"key": "service.name", "value": {"stringValue": "acme"}},
 {"key": "service.version", "value": {"stringValue": "1.4.0"}},
 {"key": "telemetry.sdk.language", "value": {"stringValue": "python"}},
 {"key": "telemetry.sdk.name", "value": {"stringValue": "opentelemetry"}},
 {"key": "telemetry.sdk.version", "value": {"stringValue": "1.45.2"}},
 {"key": "telemetry.distro.name", "value": {"stringValue": "otel_telemetry"}},
 {"key": "telemetry.distro.version", "value": {"stringValue": "0.1.0"}},
 {"key": "process.runtime.name", "value": {"stringValue": "cpython"}},
 {"key": "process.runtime.version", "value": {"stringValue": "3.11.7"}},
 {"key": "os.type", "value": {"stringValue": "linux"}}]},
 "scopeSpans": [{"scope": {"name": "otel_telemetry", "version": "0.1.0"},
 "spans": [{"traceId": "26197f75a2836bc16b47cd14016c5eb6", "spanId": "3031c10c903ec68d",
 "name": "exception", "kind": 1,
 "startTimeUnixNano": "1795399494986185015", "endTimeUnixNano": "1795399494986185015",
 "attributes": [
  {"key": "otel_telemetry.kind", "value": {"stringValue": "exception"}},
  {"key": "otel_telemetry.mechanism", "value": {"stringValue": "exit"}},
  {"key": "otel_telemetry.handled", "value": {"boolValue": false}},
  {"key": "otel_telemetry.mode", "value": {"stringValue": "non-interactive"}}],
 "events": [{"timeUnixNano": "1795399494986185015", "name": "exception", "attributes": [
  {"key": "exception.type", "value": {"stringValue": "AttributeError"}},
  {"key": "exception.message", "value": {"stringValue": "'NoneType' object has no attribute 'raw'"}},
  {"key": "exception.stacktrace", "value": {"stringValue": "Traceback (most recent call last):\n  File \"acme/cli.py\", line 43, in markdown\nAttributeError: 'NoneType' object has no attribute 'raw'"}},
  {"key": "otel_telemetry.exception.chain", "value": {"stringValue": "[{\"type\":\"AttributeError\",\"module\":\"builtins\",\"message\":\"'NoneType' object has no attribute 'raw'\",\"frames\":[{\"filename\":\"acme/cli.py\",\"function\":\"markdown\",\"lineno\":43,\"module\":\"acme.cli\",\"in_app\":true}],\"omitted_frames\":0,\"relation\":\"\"}]"}}]}],
 "status": {"message": "AttributeError: 'NoneType' object has no attribute 'raw'", "code": 2},
 "flags": 256}]}]}]}"""
)

UNSAFE = {"Cc", "Cf", "Cs", "Zl", "Zp"}
SGR = re.compile(r"\x1b\[[0-9;]*m")


def unsafe_characters(text: str) -> list[str]:
    """Characters that could drive a terminal or reorder text (newlines excepted)."""
    return [c for c in text if c != "\n" and unicodedata.category(c) in UNSAFE]


def the_span(document: dict[str, Any]) -> dict[str, Any]:
    return document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]


def event_attribute(document: dict[str, Any], key: str) -> dict[str, Any]:
    [item] = [a for a in the_span(document)["events"][0]["attributes"] if a["key"] == key]
    return item["value"]


def crash(chain: list[dict[str, Any]], **attributes: Any) -> dict[str, Any]:
    """The acme document with another chain (and its type and message) in its event."""
    document = copy.deepcopy(ACME_MARKDOWN)
    event_attribute(document, "otel_telemetry.exception.chain")["stringValue"] = json.dumps(chain)
    event_attribute(document, "exception.type")["stringValue"] = chain[-1]["type"]
    event_attribute(document, "exception.message")["stringValue"] = chain[-1]["message"]
    event_attribute(document, "exception.stacktrace")["stringValue"] = _view.stack_text(
        read_chain(json.dumps(chain)) or []
    )
    message = f"{chain[-1]['type']}: {chain[-1]['message']}"
    the_span(document)["status"]["message"] = message
    for key, value in attributes.items():
        the_span(document)["attributes"].append({"key": key, "value": value})
    return document


def frame(filename: str, function: str, lineno: int, in_app: bool) -> dict[str, Any]:
    module = filename[:-3].replace("/", ".").removesuffix(".__init__")  # as Python names it
    return dict(filename=filename, function=function, lineno=lineno, module=module, in_app=in_app)


USER = dict(
    filename="<user code>", function="<user code>", lineno=0, module="<user code>", in_app=False
)


def entry(
    type_: str, message: str, frames: list[dict[str, Any]], relation: str = "", omitted: int = 0
) -> dict[str, Any]:
    return dict(
        type=type_,
        module="",
        message=message,
        frames=frames,
        omitted_frames=omitted,
        relation=relation,
    )


def set_attribute(document: dict[str, Any], key: str, value: dict[str, Any]) -> None:
    [item] = [a for a in the_span(document)["attributes"] if a["key"] == key]
    item["value"] = value


def acme_crawl() -> dict[str, Any]:
    """The other acme demo crash (``acme crawl https://example.com/a``), as the ``file``
    exporter wrote it on CPython 3.11: a CrawlError caused by a ConnectionRefusedError."""
    crawler = "acme/crawler.py"
    document = crash(
        [
            entry(
                "ConnectionRefusedError",
                "connection to [url] refused",
                [
                    frame(crawler, "_fetch", 44, True),
                    frame(crawler, "_decode", 36, True),
                    frame("json/__init__.py", "loads", 359, False),
                    frame("json/decoder.py", "JSONDecoder.decode", 337, False),
                    frame("json/decoder.py", "JSONDecoder.raw_decode", 353, False),
                    frame(crawler, "_decode.<locals>.check", 33, True),
                ],
                "cause",
            ),
            entry(
                "acme.crawler.CrawlError",
                "could not fetch [url] on behalf of [email]; partial page kept in [path]",
                [
                    USER,
                    frame("click/core.py", "Command.__call__", 1653, False),
                    frame("click/core.py", "Command.main", 1560, False),
                    frame("click/core.py", "Group.invoke", 2054, False),
                    frame("click/core.py", "Command.invoke", 1414, False),
                    frame("click/core.py", "Context.invoke", 911, False),
                    frame("acme/cli.py", "crawl", 32, True),
                    frame(crawler, "run", 62, True),
                    frame("asyncio/runners.py", "run", 190, False),
                    frame("asyncio/runners.py", "Runner.run", 118, False),
                    frame("asyncio/base_events.py", "BaseEventLoop.run_until_complete", 653, False),
                    frame(crawler, "arun", 56, True),
                    frame(crawler, "_fetch", 48, True),
                ],
            ),
        ],
        **{
            "otel_telemetry.scrubbed": {
                "arrayValue": {
                    "values": [
                        {"stringValue": f"{rule}:{count}"}
                        for rule, count in (("email", 4), ("path", 4), ("url", 6))
                    ]
                }
            }
        },
    )
    set_attribute(document, "otel_telemetry.mechanism", {"stringValue": "excepthook"})
    return document


# -- the acme demo crashes, whole ---------------------------------------------------------


def test_the_acme_crawl_crash_reads_in_at_most_40_lines():
    text = render_report(acme_crawl(), destinations=("file",))

    assert len(text.splitlines()) <= 40
    assert text == snapshot("""\
acme 1.4.0 crashed: acme.crawler.CrawlError
  caught by        excepthook (an uncaught exception)

Traceback (most recent call last; > marks acme's own code):
  > acme/crawler.py, line 44, in _fetch
  > acme/crawler.py, line 36, in _decode
    json/__init__.py, line 359, in loads
    json/decoder.py, line 337, in JSONDecoder.decode
    json/decoder.py, line 353, in JSONDecoder.raw_decode
  > acme/crawler.py, line 33, in _decode.<locals>.check
ConnectionRefusedError: connection to [url] refused
The above was the direct cause of the following (most recent call last):
    <user code>
    click/core.py, line 1653, in Command.__call__
    click/core.py, line 1560, in Command.main
    click/core.py, line 2054, in Group.invoke
    click/core.py, line 1414, in Command.invoke
    click/core.py, line 911, in Context.invoke
  > acme/cli.py, line 32, in crawl
  > acme/crawler.py, line 62, in run
    asyncio/runners.py, line 190, in run
    asyncio/runners.py, line 118, in Runner.run
    asyncio/base_events.py, line 653, in BaseEventLoop.run_until_complete
  > acme/crawler.py, line 56, in arun
  > acme/crawler.py, line 48, in _fetch
acme.crawler.CrawlError: could not fetch [url] on behalf of [email]; partial page kept in [path]

Also attached:
  Python           CPython 3.11.7 on linux
  mode             non-interactive (a script or a job, no one to ask)
  time             2026-11-23 02:04:54 UTC
  report id        26197f75a2836bc16b47cd14016c5eb6 / 3031c10c903ec68d (random)
  sent by          otel_telemetry 0.1.0, on opentelemetry 1.45.2 (python)
  your email       not sent
  traceback text   the same as above, as Python prints it
Nothing else is in this report.

Removed by the scrubber: 4 email, 4 path, 6 url
Goes to:
  file\
""")


def test_the_acme_crash_reads_in_20_to_40_lines():
    text = render_report(ACME_MARKDOWN, destinations=("otlp",))

    assert 20 <= len(text.splitlines()) <= 40
    assert text == snapshot("""\
acme 1.4.0 crashed: AttributeError
  caught by        exit (the error behind a failing exit)

Traceback (most recent call last; > marks acme's own code):
  > acme/cli.py, line 43, in markdown
AttributeError: 'NoneType' object has no attribute 'raw'

Also attached:
  Python           CPython 3.11.7 on linux
  mode             non-interactive (a script or a job, no one to ask)
  time             2026-11-23 02:04:54 UTC
  report id        26197f75a2836bc16b47cd14016c5eb6 / 3031c10c903ec68d (random)
  sent by          otel_telemetry 0.1.0, on opentelemetry 1.45.2 (python)
  your email       not sent
  traceback text   the same as above, as Python prints it
Nothing else is in this report.

Removed by the scrubber: nothing
Goes to:
  otlp\
""")


def test_colour_is_bold_and_dim_only_and_the_text_is_the_same_without_it():
    plain = render_report(ACME_MARKDOWN, destinations=("otlp",))
    coloured = render_report(ACME_MARKDOWN, destinations=("otlp",), color=True)

    assert "\x1b" not in plain
    assert set(SGR.findall(coloured)) == {"\x1b[1m", "\x1b[2m", "\x1b[0m"}
    assert SGR.sub("", coloured) == plain
    assert "\x1b[1mAttributeError\x1b[0m: 'NoneType'" in coloured  # the type in bold
    assert "\x1b[2mcaught by\x1b[0m" in coloured  # labels dim


# -- chains, frames, placeholders --------------------------------------------------------


def test_a_chain_reads_root_cause_first_with_its_links():
    document = crash(
        [
            entry(
                "KeyError", "'raw_markdown'", [frame("acme/cache.py", "load", 12, True)], "context"
            ),
            entry(
                "OSError",
                "[Errno 28] No space left on device",
                [frame("shutil.py", "copyfileobj", 200, False)],
                "cause",
            ),
            entry(
                "acme.CacheError",
                "could not save [path]",
                [frame("acme/cache.py", "save", 40, True)],
            ),
        ]
    )

    text = render_report(document, destinations=("sentry",))

    assert text.split("\n\nAlso attached:")[0] == snapshot("""\
acme 1.4.0 crashed: acme.CacheError
  caught by        exit (the error behind a failing exit)

Traceback (most recent call last; > marks acme's own code):
  > acme/cache.py, line 12, in load
KeyError: 'raw_markdown'
The following was raised while handling the above (most recent call last):
    shutil.py, line 200, in copyfileobj
OSError: [Errno 28] No space left on device
The above was the direct cause of the following (most recent call last):
  > acme/cache.py, line 40, in save
acme.CacheError: could not save [path]\
""")
    assert "traceback text   the same as above, as Python prints it" in text
    assert "Could not be read" not in text


def test_runs_of_user_code_are_one_line_with_their_count_and_omitted_frames_are_counted():
    frames = [USER, USER, USER, frame("acme/api.py", "call", 7, True), USER]
    frames += [frame(f"lib/m{i}.py", "f", i, False) for i in range(5)]  # 10 frames: the head
    frames += [USER, USER, frame("acme/core.py", "boom", 99, True)]  # the tail, after the cut
    document = crash([entry("ValueError", "bad [value]", frames, omitted=250)])

    text = render_report(document)

    assert text.split("\n\nAlso attached:")[0] == snapshot("""\
acme 1.4.0 crashed: ValueError
  caught by        exit (the error behind a failing exit)

Traceback (most recent call last; > marks acme's own code):
    <user code> (3 frames)
  > acme/api.py, line 7, in call
    <user code>
    lib/m0.py, line 0, in f
    lib/m1.py, line 1, in f
    lib/m2.py, line 2, in f
    lib/m3.py, line 3, in f
    lib/m4.py, line 4, in f
    ... 250 frames omitted (not sent) ...
    <user code> (2 frames)
  > acme/core.py, line 99, in boom
ValueError: bad [value]\
""")


def test_a_user_exception_shows_its_base_and_placeholders_as_such():
    chain = [entry("<user exception>", "[user message]", [USER])]
    chain[0]["base"] = "KeyError"
    text = render_report(crash(chain))

    assert "<user exception> (a KeyError): [user message]" in text
    coloured = render_report(crash(chain), color=True)
    assert "\x1b[2m<user code>\x1b[0m" in coloured
    assert "\x1b[2m[user message]\x1b[0m" in coloured


def test_without_a_chain_the_stack_text_is_shown():
    document = copy.deepcopy(ACME_MARKDOWN)
    attributes = the_span(document)["events"][0]["attributes"]
    attributes[:] = [a for a in attributes if a["key"] != "otel_telemetry.exception.chain"]

    text = render_report(document)

    assert '  File "acme/cli.py", line 43, in markdown' in text
    assert text.count("AttributeError: 'NoneType' object has no attribute 'raw'") == 1


# -- what else is attached ----------------------------------------------------------------


def test_every_known_key_is_named_in_plain_words():
    document = crash(
        [entry("ValueError", "bad", [frame("acme/api.py", "call", 7, True)])],
        **{
            "http.request.method": {"stringValue": "GET"},
            "http.route": {"stringValue": "/pages/{site}/markdown"},
            "otel_telemetry.occurrences": {"intValue": "12"},
            "user.email": {"stringValue": "me@example.com"},
            "otel_telemetry.scrubbed": {
                "arrayValue": {"values": [{"stringValue": "url:6"}, {"stringValue": "email:4"}]}
            },
        },
    )
    resource = document["resourceSpans"][0]["resource"]["attributes"]
    resource.append({"key": "deployment.environment.name", "value": {"stringValue": "staging"}})
    for item in resource:
        runtime = {"process.runtime.name": "pypy", "process.runtime.version": "3.10.14"}
        if item["key"] in runtime:
            item["value"] = {"stringValue": runtime[item["key"]]}

    text = render_report(document, destinations=("sentry (DSN baked in)", "file"))

    assert text.split("Also attached:\n")[1] == snapshot("""\
  environment      staging
  Python           PyPy 3.10.14 on linux
  mode             non-interactive (a script or a job, no one to ask)
  request          GET /pages/{site}/markdown
  occurrences      12 (the same error, sent once)
  time             2026-11-23 02:04:54 UTC
  report id        26197f75a2836bc16b47cd14016c5eb6 / 3031c10c903ec68d (random)
  sent by          otel_telemetry 0.1.0, on opentelemetry 1.45.2 (python)
  your email       me@example.com
  traceback text   the same as above, as Python prints it
Nothing else is in this report.

Removed by the scrubber: 6 url, 4 email
Goes to:
  sentry (DSN baked in), file\
""")


def test_unknown_and_repeated_keys_are_shown_too():
    document = crash(
        [entry("ValueError", "bad", [])],
        **{"custom.thing": {"kvlistValue": {"values": [{"key": "a", "value": {"intValue": "1"}}]}}},
    )
    the_span(document)["attributes"].append(
        {"key": "otel_telemetry.mode", "value": {"stringValue": "server"}}
    )
    the_span(document)["links"] = [{"traceId": "ab"}]
    the_span(document)["attributes"].append(
        {"key": "blob", "value": {"bytesValue": "aGVsbG8gd29ybGQ="}}
    )
    the_span(document)["events"].append(
        {"name": "retry", "timeUnixNano": "1795399494986185016", "attributes": [], "n": 2}
    )

    text = render_report(document)

    assert "custom.thing     a=1" in text
    assert "mode             non-interactive" in text
    assert "otel_telemetry.mode server" in text  # the second one, by its key
    assert 'span links       [{"traceId": "ab"}]' in text
    assert "blob             <11 bytes, base64 aGVsbG8gd29ybGQ=>" in text
    assert 'event retry timeUnixNano "1795399494986185016"' in text
    assert "event retry n    2" in text


def test_the_email_given_with_the_answer_is_shown():
    assert "your email       not sent" in render_report(ACME_MARKDOWN)
    assert "your email       me@example.com" in render_report(ACME_MARKDOWN, email="me@example.com")


NOTE = "none yet: you may add one after answering 1 or 2"


def test_an_email_note_stands_in_for_not_sent_where_an_address_may_still_come():
    lines = render_report(ACME_MARKDOWN, email_note=NOTE).splitlines()

    assert [line for line in lines if "your email" in line] == [f"  your email       {NOTE}"]
    assert "not sent" not in "\n".join(lines)


def test_an_address_the_report_carries_or_is_given_wins_over_the_note():
    given = render_report(ACME_MARKDOWN, email="me@example.com", email_note=NOTE)
    carried = render_report(
        crash(
            [entry("ValueError", "bad", [])], **{"user.email": {"stringValue": "you@example.org"}}
        ),
        email_note=NOTE,
    )

    assert "your email       me@example.com" in given
    assert "your email       you@example.org" in carried
    assert NOTE not in given + carried


# -- Python, the OS and the environment ------------------------------------------------------


def resource_of(document: dict[str, Any]) -> list[dict[str, Any]]:
    return document["resourceSpans"][0]["resource"]["attributes"]


def attached(text: str) -> list[str]:
    return text.split("Also attached:\n")[1].split("\nNothing else")[0].splitlines()


def test_python_and_the_os_are_one_line_and_each_alone_is_shown_too():
    only_os = copy.deepcopy(ACME_MARKDOWN)
    resource_of(only_os)[:] = [a for a in resource_of(only_os) if a["key"] == "os.type"]
    only_python = copy.deepcopy(ACME_MARKDOWN)
    resource_of(only_python)[:] = [a for a in resource_of(only_python) if a["key"] != "os.type"]
    other = copy.deepcopy(ACME_MARKDOWN)
    resource_of(other)[-3]["value"] = {"stringValue": "graalpy"}

    assert "  Python           CPython 3.11.7 on linux" in attached(render_report(ACME_MARKDOWN))
    assert "  OS               linux" in attached(render_report(only_os))
    assert "  Python           CPython 3.11.7" in attached(render_report(only_python))
    assert "  Python           graalpy 3.11.7 on linux" in attached(render_report(other))


@pytest.mark.parametrize(
    ("destinations", "expected"),
    [
        (("sentry",), ["  environment      none sent; Sentry shows it as production"]),
        (
            ("sentry (DSN baked in)", "file"),
            ["  environment      none sent; Sentry shows it as production"],
        ),
        (("otlp", "file"), []),
        (("file (sentry has no valid DSN)",), []),  # Sentry never sees it
        ((), []),
    ],
)
def test_sentry_without_an_environment_is_said_to_show_production(destinations, expected):
    lines = attached(render_report(ACME_MARKDOWN, destinations=destinations))

    assert [line for line in lines if "environment" in line] == expected


def test_an_environment_the_report_carries_is_shown_as_it_is():
    document = copy.deepcopy(ACME_MARKDOWN)
    resource_of(document).append(
        {"key": "deployment.environment.name", "value": {"stringValue": "staging"}}
    )
    lines = attached(render_report(document, destinations=("sentry",)))

    assert [line for line in lines if "environment" in line] == ["  environment      staging"]


# -- every field of the chain's JSON ------------------------------------------------------


def chain_lines(text: str) -> list[str]:
    return [line for line in attached(text) if line.startswith("  in the chain")]


def test_fields_of_the_chain_the_frames_do_not_show_are_shown():
    """An older version or another producer wrote more into the chain: it is sent, so shown."""
    chain = [
        entry(
            "KeyError",
            "'raw'",
            [
                frame("acme/a.py", "f", 1, True),
                "a frame that is text",
                frame("json/x.py", "g", 2, False),
            ],
            "cause",
        ),
        7,
        entry("acme.CrawlError", "could not", [frame("acme/b.py", "h", 3, True), dict(USER)]),
    ]
    chain[0]["locals"] = {"retries": "3", "customer_tier": "gold-plan-7731"}
    chain[0]["frames"][0]["lineno"] = "1"  # text: read_chain reads 0
    chain[0]["frames"][2]["module"] = "jsonish.x"  # not what its file says
    chain[0]["frames"][2]["in_app"] = "yes"
    chain[2]["module"] = "other"  # not what its type says
    chain[2]["frames"][0]["vars"] = {"loop_index": "41"}
    chain[2]["frames"][1]["function"] = "handle_patient_record"  # a named placeholder
    chain[2]["relation"] = "context"  # and no exception after it
    document = crash([c for c in chain if isinstance(c, dict)])
    event_attribute(document, "otel_telemetry.exception.chain")["stringValue"] = json.dumps(chain)

    text = render_report(document)

    assert chain_lines(text) == snapshot(
        [
            '  in the chain     exception 1 of 2 (KeyError): locals = {"retries": "3", "customer_tier": "gold-plan-7731"}',
            "  in the chain     exception 1 of 2 (KeyError), frame 1 (acme/a.py, line 0): lineno = 1",
            '  in the chain     exception 1 of 2 (KeyError), frame 2: "a frame that is text"',
            "  in the chain     exception 1 of 2 (KeyError), frame 3 (json/x.py, line 2): in_app = yes",
            "  in the chain     exception 1 of 2 (KeyError), frame 3 (json/x.py, line 2): module = jsonish.x",
            "  in the chain     item 2 of the chain: 7",
            "  in the chain     exception 2 of 2 (acme.CrawlError): module = other",
            "  in the chain     exception 2 of 2 (acme.CrawlError): relation = context (no exception follows)",
            '  in the chain     exception 2 of 2 (acme.CrawlError), frame 1 (acme/b.py, line 3): vars = {"loop_index": "41"}',
        ]
    )
    assert "    <user code>, line 0, in handle_patient_record" in text
    assert "could not be read" not in text.lower()


def test_the_real_acme_chains_need_no_such_line():
    assert chain_lines(render_report(acme_crawl())) == []
    assert chain_lines(render_report(ACME_MARKDOWN)) == []


_KNOWN = {"type", "module", "message", "frames", "omitted_frames", "relation", "base"}
_KNOWN_FRAME = {"filename", "function", "lineno", "module", "in_app"}


@given(
    st.data(),
    st.text(min_size=1, max_size=12),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda children: (
            st.lists(children, max_size=3)
            | st.dictionaries(st.text(max_size=5), children, max_size=3)
        ),
        max_leaves=6,
    ),
)
def test_any_field_added_to_an_entry_or_a_frame_is_shown(data, key, value):
    chain = copy.deepcopy(
        json.loads(event_attribute(acme_crawl(), "otel_telemetry.exception.chain")["stringValue"])
    )
    target = data.draw(
        st.sampled_from(
            [("entry", i, None) for i in range(2)] + [("frame", 1, j) for j in range(13)]
        )
    )
    kind, index, frame_index = target
    holder = chain[index] if kind == "entry" else chain[index]["frames"][frame_index]
    known = _KNOWN if kind == "entry" else _KNOWN_FRAME
    if key in known:
        key += "_"
    holder[key] = value
    document = acme_crawl()
    event_attribute(document, "otel_telemetry.exception.chain")["stringValue"] = json.dumps(chain)

    lines = chain_lines(render_report(document))

    shown = _view.safe(value) if isinstance(value, str) else _view._compact(value)
    assert len(lines) == 1
    assert lines[0].endswith(f"{_view.safe(key)} = {shown}")


# -- nothing that is sent is hidden or cut ---------------------------------------------------


def test_the_bound_of_a_value_is_the_records():
    from otel_telemetry.pipeline import _report

    assert _view.MAX_STRING == _report.MAX_STRING
    assert _view.MAX_VALUE > _report.MAX_STRING


def test_a_message_of_3000_characters_is_shown_whole():
    message = " ".join(f"row{i:04d}=ok" for i in range(300))[:3000]
    text = render_report(
        crash([entry("acme.HostError", message, [frame("acme/a.py", "f", 1, True)])])
    )

    assert len(message) == 3000
    assert f"acme.HostError: {message}\n" in text
    assert "more characters" not in text


def test_a_value_the_record_cut_is_shown_whole_with_the_records_marker():
    from otel_telemetry.pipeline._report import MAX_STRING, bound_record

    long = "".join(f"{i:07d} " for i in range(MAX_STRING // 4))  # 2.5 times the bound
    record = {"name": "exception", "attributes": {"note": long}, "events": [], "status": {}}
    cut = bound_record(record)["attributes"]["note"]
    assert cut != long  # cut by the record
    assert cut.startswith(long[: MAX_STRING - 48])  # the marker within the bound
    assert len(cut) <= MAX_STRING
    document = crash([entry("ValueError", "bad", [])], **{"note": {"stringValue": cut}})

    text = render_report(document)

    assert f"  note             {cut}\n" in text  # whole, the record's marker included
    assert "more characters]" not in text  # and no cut of ours


def test_a_long_stack_text_without_a_chain_is_shown_whole():
    document = copy.deepcopy(ACME_MARKDOWN)
    attributes = the_span(document)["events"][0]["attributes"]
    attributes[:] = [a for a in attributes if a["key"] != "otel_telemetry.exception.chain"]
    stack = "Traceback (most recent call last):\n" + "\n".join(
        f'  File "lib/m{i}.py", line {i}, in f' for i in range(600)
    )
    event_attribute(document, "exception.stacktrace")["stringValue"] = stack

    text = render_report(document)

    assert stack in text
    assert "not shown" not in text


def test_a_long_list_within_what_a_record_holds_is_shown_whole():
    values = [{"stringValue": f"item{i}"} for i in range(1000)]
    long = [{"stringValue": "y" * 20_000}] * 3  # every item within the bound, not their sum
    document = crash(
        [entry("ValueError", "bad", [])],
        many={"arrayValue": {"values": values}},
        long={"arrayValue": {"values": long}},
    )

    text = render_report(document)

    assert ", ".join(f"item{i}" for i in range(1000)) in text
    assert ", ".join(["y" * 20_000] * 3) in text
    assert "[... " not in text  # no marker of a cut of ours


def test_no_destination_is_said():
    assert render_report(ACME_MARKDOWN).endswith("Goes to:\n  nowhere: no exporter")


def test_a_usage_event_lists_its_properties_one_per_line():
    document = copy.deepcopy(ACME_MARKDOWN)
    span = the_span(document)
    span.update(name="crawl.finished", events=[], status={})
    span["attributes"] = [
        {"key": "otel_telemetry.kind", "value": {"stringValue": "event"}},
        {"key": "pages", "value": {"intValue": "3"}},
        {"key": "ok", "value": {"boolValue": True}},
        {
            "key": "formats",
            "value": {"arrayValue": {"values": [{"stringValue": "md"}, {"stringValue": "html"}]}},
        },
        {
            "key": "otel_telemetry.install_id",
            "value": {"stringValue": "5b0c8a2e-1f7d-4c1e-9a51-3f0e3c7d2b11"},
        },
        {"key": "otel_telemetry.mode", "value": {"stringValue": "interactive"}},
    ]

    text = render_report(document, destinations=("otlp",))

    assert text == snapshot("""\
acme 1.4.0 usage event: crawl.finished
Properties:
  pages            3
  ok               true
  formats          md, html

Also attached:
  Python           CPython 3.11.7 on linux
  mode             interactive (a terminal)
  install id       5b0c8a2e-1f7d-4c1e-9a51-3f0e3c7d2b11 (random, made on this machine)
  time             2026-11-23 02:04:54 UTC
  report id        26197f75a2836bc16b47cd14016c5eb6 / 3031c10c903ec68d (random)
  sent by          otel_telemetry 0.1.0, on opentelemetry 1.45.2 (python)
Nothing else is in this report.

Removed by the scrubber: nothing
Goes to:
  otlp\
""")


def test_several_reports_are_numbered():
    document = copy.deepcopy(ACME_MARKDOWN)
    spans = document["resourceSpans"][0]["scopeSpans"][0]["spans"]
    spans.append(copy.deepcopy(spans[0]))

    text = render_report(document)

    assert [line for line in text.splitlines() if line.startswith("Report ")] == [
        "Report 1 of 2",
        "Report 2 of 2",
    ]
    assert text.count("acme 1.4.0 crashed: AttributeError") == 2


# -- hostile documents ---------------------------------------------------------------------

HOSTILE = "clear\x1b[2Jscreen\rback\x00nul\ud800surrogate\u202eevil\x9bcsi\u2028line\x07bell"


def hostile_everywhere() -> dict[str, Any]:
    document = crash(
        [entry("Value\x1b[31mError", HOSTILE, [frame("acme/a\x1b]0;x\x07.py", "f\rg", 1, True)])],
        **{"k\x1b[2J": {"stringValue": HOSTILE}, "big": {"stringValue": "x" * 20_000_000}},
    )
    document["resourceSpans"][0]["resource"]["attributes"][0]["value"]["stringValue"] = "ac\x1bme"
    the_span(document)["traceId"] = HOSTILE
    return document


@pytest.mark.parametrize("color", [False, True])
def test_control_characters_and_escape_sequences_never_reach_the_terminal(color):
    text = render_report(hostile_everywhere(), destinations=("otlp\x1b[2J",), color=color)

    assert unsafe_characters(SGR.sub("", text)) == []
    assert color or "\x1b" not in text
    shown = ("\\x1b[2J", "\\r", "\\x00", "\\ud800", "\\u202e", "\\x9b", "\\u2028", "\\x07")
    assert [escape for escape in shown if escape not in text] == []  # shown, as escapes


def test_a_huge_value_beyond_what_a_record_holds_is_cut_with_a_marker():
    text = render_report(hostile_everywhere())

    left_out = 20_000_000 - _view.MAX_VALUE
    assert "x" * _view.MAX_VALUE + f" [... {left_out} more characters]" in text
    assert len(text) < 2 * _view.MAX_VALUE + 10_000


NOT_DOCUMENTS = [None, [], "text", 5, {}, {"resourceSpans": 5}, {"resourceSpans": [5, None]}]
BROKEN_PIECES = {
    "resource not an object": lambda d: d["resourceSpans"][0].update(resource=3),
    "attributes not a list": lambda d: the_span(d).update(attributes={"a": 1}),
    "attribute without a key": lambda d: the_span(d)["attributes"].append({"value": 1}),
    "attribute not an object": lambda d: the_span(d)["attributes"].append(7),
    "value of the wrong shape": lambda d: the_span(d)["attributes"].append(
        {"key": "x", "value": [1]}
    ),
    "int values not numbers": lambda d: the_span(d)["attributes"].extend(
        {"key": f"n{i}", "value": {"intValue": text}} for i, text in enumerate(["--5", "²", 5.5])
    ),
    "handled as text": lambda d: the_span(d)["attributes"][2].update(value={"stringValue": "no"}),
    "events not a list": lambda d: the_span(d).update(events="x"),
    "event attributes wrong": lambda d: the_span(d)["events"][0].update(attributes=None),
    "chain not JSON": lambda d: event_attribute(d, "otel_telemetry.exception.chain").update(
        stringValue="[{"
    ),
    "chain of wrong types": lambda d: event_attribute(d, "otel_telemetry.exception.chain").update(
        stringValue='[{"type": 5, "frames": [{"lineno": "x", "in_app": "yes"}, 3], "relation": "cause"}, 7]'
    ),
    "status not an object": lambda d: the_span(d).update(status=[1]),
    "status message a list": lambda d: the_span(d)["status"].update(message=[1]),
    "time not a number": lambda d: the_span(d).update(startTimeUnixNano="soon"),
    "time out of range": lambda d: the_span(d).update(startTimeUnixNano=str(10**40)),
    "spans not objects": lambda d: d["resourceSpans"][0]["scopeSpans"][0]["spans"].append("x"),
    "scope not an object": lambda d: d["resourceSpans"][0]["scopeSpans"][0].update(scope=[]),
}


@pytest.mark.parametrize("document", NOT_DOCUMENTS, ids=repr)
def test_what_is_not_a_document_is_said(document):
    text = render_report(document)

    assert "could not be read" in text.lower() or "holds no report" in text
    assert "could not be shown" not in text  # read as far as it goes, not caught whole


@pytest.mark.parametrize("name", sorted(BROKEN_PIECES))
def test_a_broken_piece_leaves_the_rest_readable(name):
    document = copy.deepcopy(ACME_MARKDOWN)
    BROKEN_PIECES[name](document)

    text = render_report(document, destinations=("otlp",))

    assert "could not be shown" not in text
    assert "Goes to:\n  otlp" in text
    assert "acme" in text


def test_absurdly_long_lists_in_a_value_say_how_much_is_not_shown():
    many = {"arrayValue": {"values": [{"intValue": "7"}] * (_view.MAX_LIST + 50)}}
    text = render_report(crash([entry("ValueError", "bad", [])], **{"many": many}))

    assert "many             7, 7, 7" in text
    assert "7, [... 50 more]" in text


def test_what_could_not_be_read_is_named():
    document = copy.deepcopy(ACME_MARKDOWN)
    BROKEN_PIECES["attribute without a key"](document)
    BROKEN_PIECES["events not a list"](document)

    text = render_report(document)

    assert text.split("Could not be read:\n")[1] == snapshot("""\
  an attribute of the report without a key: {"value": 1}
  events is text, not a list
  a crash report without its exception event\
""")


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(st.characters(exclude_categories=())),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
# OTLP AnyValues, well-formed or not: every kind, holding anything.
_ANY_VALUE = st.recursive(
    st.dictionaries(
        st.sampled_from(["stringValue", "boolValue", "intValue", "doubleValue", "bytesValue"]),
        _JSON | st.text(alphabet="-0123456789²", max_size=5),
        min_size=1,
        max_size=1,
    ),
    lambda children: (
        st.builds(lambda values: {"arrayValue": {"values": values}}, st.lists(children | _JSON))
        | st.builds(
            lambda values: {"kvlistValue": {"values": values}},
            st.lists(st.fixed_dictionaries({"key": _JSON, "value": children}) | _JSON),
        )
    ),
    max_leaves=8,
)


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*path, index))
    return found


_SAMPLE_PATHS = _paths(ACME_MARKDOWN)[1:]


@given(st.data())
def test_any_piece_of_the_document_replaced_by_anything_never_raises(data):
    document = copy.deepcopy(ACME_MARKDOWN)
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(_SAMPLE_PATHS))
        parent = document
        try:
            for step in path[:-1]:
                parent = parent[step]
            parent[path[-1]] = data.draw(_ANY_VALUE if path[-1] == "value" else _JSON | _ANY_VALUE)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier replacement took the path away
    color = data.draw(st.booleans())

    text = render_report(document, destinations=("otlp",), color=color)

    assert "could not be shown" not in text
    assert unsafe_characters(SGR.sub("", text)) == []
    assert color or "\x1b" not in text


@given(_JSON)
def test_any_json_value_as_a_document_never_raises(value):
    text = render_report(value)

    assert "could not be shown" not in text
    assert unsafe_characters(text) == []


# -- colour only where it is wanted ------------------------------------------------------------


class Stream(io.StringIO):
    def __init__(self, tty: object) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> Any:
        return self.tty


@pytest.mark.parametrize(
    ("tty", "env", "expected"),
    [
        (True, {}, True),
        (True, {"NO_COLOR": "1"}, False),
        (True, {"NO_COLOR": "0"}, False),  # any value: no-color.org
        (True, {"NO_COLOR": ""}, True),  # set but empty does not count
        (True, {"TERM": "dumb"}, False),
        (True, {"TERM": "xterm-256color"}, True),
        (False, {}, False),
        ("yes", {}, False),  # only a real True
    ],
)
def test_wants_color(tty, env, expected, monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("TERM", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    assert wants_color(Stream(tty)) is expected


def test_wants_color_never_raises(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    closed = Stream(True)
    closed.close()
    real_closed = open(__file__, encoding="utf-8")  # noqa: SIM115 - closed at once
    real_closed.close()

    class Raising:
        def isatty(self) -> bool:
            raise RuntimeError("replaced by the host")

    assert wants_color(real_closed) is False
    assert wants_color(Raising()) is False
    assert wants_color(object()) is False
    assert wants_color(None) is False


# -- the module's own promises -------------------------------------------------------------


def test_the_cut_of_long_tracebacks_is_where_capture_makes_it():
    from otel_telemetry.capture._snapshot import HEAD_FRAMES

    assert _view.HEAD_FRAMES == HEAD_FRAMES


def test_the_placeholders_are_the_ones_span_building_writes():
    from otel_telemetry.pipeline import _spans

    assert (_view.USER_CODE, _view.USER_EXCEPTION, _view.USER_MESSAGE) == (
        _spans.USER_CODE,
        _spans.USER_EXCEPTION,
        _spans.USER_MESSAGE,
    )


def test_it_imports_only_the_standard_library_and_base_modules():
    tree = ast.parse(Path(_view.__file__).read_text(encoding="utf-8"))
    imported = {
        alias.name if isinstance(node, ast.Import) else node.module or ""
        for node in ast.walk(tree)
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in node.names
    }
    ours = {name for name in imported if name.startswith("otel_telemetry")}
    others = {name.split(".")[0] for name in imported - ours}

    assert ours <= {"otel_telemetry", "otel_telemetry._chain"}
    stdlib = {"__future__", "collections", "datetime", "json", "os", "typing", "unicodedata"}
    assert others <= stdlib  # no SDK, no protobuf: callable on the host's thread, cheaply


def _raise_in(depth: int) -> None:
    if depth:
        _raise_in(depth - 1)
    raise ValueError("deep")


def test_the_stack_text_of_a_real_report_is_recognised_as_the_frames_shown():
    """A report built as the worker builds it: its stack text is not shown twice."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope

    from otel_telemetry.capture._snapshot import capture_exception
    from otel_telemetry.exporters import encode_otlp_json
    from otel_telemetry.pipeline._provider import SpanRecorder
    from otel_telemetry.pipeline._spans import record_span

    try:
        try:
            _raise_in(150)  # more frames than capture keeps: some are omitted
        except ValueError as exc:
            raise RuntimeError("while handling") from exc
    except RuntimeError as exc:
        captured = capture_exception(exc, "excepthook", False, packages=("tests",))
    memory = InMemorySpanExporter()
    recorder = SpanRecorder(
        SimpleSpanProcessor(memory), Resource.create(), InstrumentationScope("test")
    )
    record_span(
        recorder,
        captured,
        packages=("tests",),
        mode="interactive",
        install_id=None,
    )

    text = render_report(encode_otlp_json(memory.get_finished_spans()))

    assert "traceback text   the same as above, as Python prints it" in text
    assert "frames omitted (not sent)" in text
    assert "The above was the direct cause of the following (most recent call last):" in text
    assert "Could not be read" not in text
