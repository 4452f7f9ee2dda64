"""The ``value`` rule: data quoted or repr'd in exception messages becomes ``[value]``."""

from __future__ import annotations

import json
import string
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from otel_telemetry import ScrubbingOptions, ScrubMatch
from otel_telemetry import _attributes as attr
from otel_telemetry.pipeline._report import (
    MAX_CHAIN,
    bound_record,
    check_record,
    scrub_parts,
    scrub_record,
)
from otel_telemetry.scrubbing import RULES, Scrubber, ScrubPass
from otel_telemetry.scrubbing._values import (
    _QUOTES,
    MAX_DEPTH,
    find_values,
    find_values_in_stack,
    looks_like_code,
)
from tests.timing import growth

IDENTITY = {"home": "/var/lib/builder", "user": "builder", "host": "buildhost"}
SCRUBBER = Scrubber(**IDENTITY)


def _message(text: str, scrubber: Scrubber = SCRUBBER) -> str:
    """``text`` as a report's message arrives: the rules, then the value rule."""
    scrub = scrubber.new_pass()
    return scrub.message(scrub.text(text))


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        # The values of the issue.
        (
            "'customer-ACME-4411' is not a valid CacheMode",
            "'[value]' is not a valid CacheMode",
        ),
        (
            "[Errno 2] No such file or directory: 'q3-results.xlsx'",
            "[Errno 2] No such file or directory: '[value]'",
        ),
        ('"quarterly numbers 2024" not found', '"[value]" not found'),
        ("b'\\x89PNG\\r\\n' is not text", "b'[value]' is not text"),
        ("rb'raw bytes here' and u'ünïcode text'", "rb'[value]' and u'[value]'"),
        (r"'it\'s escaped' stays quoted", "'[value]' stays quoted"),
        # Reprs of containers go whole.
        ("bad row {'name': 'Alice', 'age': 41}", "bad row [value]"),
        ('bad body {"customer": {"id": "C-1", "tags": ["vip"]}}', "bad body [value]"),
        ("KeyError: ('tenant', 'Grace Hopper')", "KeyError: [value]"),
        ("choices [\"x y\", 1] and {'a', 'b c'}", "choices [value] and [value]"),
        # A string that is the value of a mapping is data, whatever it looks like.
        ("bad row {'name': 'Alice'}", "bad row [value]"),
        ("{\n  'name': 'Alice',\n  'age': 41\n}", "[value]"),
        ("OrderedDict([('a b', 1)])", "OrderedDict([value])"),
        # Calls, subscripts and groups of other text are not reprs: literals one by one.
        ("f('secret data', 3)", "f('[value]', 3)"),
        ("d['key with space']", "d['[value]']"),
        ("expected one of ('a', 'b c'), got 'c d'", "expected one of [value], got '[value]'"),
        (
            "[Errno 13] Permission denied: 'payroll 2024.csv'",
            "[Errno 13] Permission denied: '[value]'",
        ),
        # Other rules first: their markers are kept.
        ("No such file: '/home/alice/q3.xlsx'", "No such file: '[path]'"),
        ("x: 'password=hunter2 now'", "x: '[value]'"),
        ("AUTH_TOKEN: 'xyz123'", "AUTH_TOKEN: '[redacted]'"),
        ("'alice@corp.example' is not allowed", "'[email]' is not allowed"),
    ],
)
def test_quoted_and_repred_values_become_value(raw: str, clean: str) -> None:
    assert _message(raw) == clean


@pytest.mark.parametrize(
    "benign",
    [
        "KeyError: 'raw_markdown'",
        "No module named 'crawl4ai.models'",
        "'utf-8' codec can't decode byte 0xff in position 0: invalid start byte",
        "'latin-1' codec can't encode character '\\u20ac'",
        "unsupported operand type(s) for +: 'int' and 'str'",
        "__init__() got an unexpected keyword argument 'timeout'",
        'can only concatenate str (not "int") to str',
        "'NoneType' object has no attribute 'group'",
        "invalid literal for int() with base 10: 'abc'",
        "could not convert string to float: '3.5e-2'",
        "time data does not match format '%Y-%m-%d %H:%M:%S.%f'",
        "unrecognized arguments: '--timeout' '-v'",
        "requires version '1.2.3', found '3.11'",
        "keyword 'class' is reserved; '' is empty; hex '0x1F'; complex '1+2j'",
        "f() takes 2 positional arguments but 3 were given (3 given)",
        "[Errno 111] Connection refused",
        "shape mismatch: (3, 4) vs (4, 3); {1, 2}; [1.5, -2, True, None]; {}",
        "x[0] is f(x, y)",
        "can't open the users' files, it's late",
        "  File \"[email]\" and '[path]' and '[value]' were scrubbed",
    ],
)
def test_what_looks_like_code_stays(benign: str) -> None:
    scrub = SCRUBBER.new_pass()
    assert scrub.message(benign) == benign
    assert "value" not in scrub.counts


def test_it_is_a_rule_of_its_own_that_can_be_switched_off() -> None:
    assert RULES[-1] == "value"
    raw = "'customer-ACME-4411' is not valid"
    for options in (ScrubbingOptions(keep_values=True), ScrubbingOptions(disabled_rules=["value"])):
        assert _message(raw, Scrubber(options, **IDENTITY)) == raw


def test_counts_callback_and_allow_patterns() -> None:
    seen: list[ScrubMatch] = []

    def callback(match: ScrubMatch) -> Any:
        seen.append(match)
        return "<kept shape>" if match.text.startswith("{") else None

    options = ScrubbingOptions(callback=callback, allow_patterns=[r"ACME-\d+"])
    scrub = Scrubber(options, **IDENTITY).new_pass()
    text = "'ACME-1' and 'customer 7' in {'a': 'b c'}"
    assert scrub.message(text) == "'ACME-1' and '[value]' in <kept shape>"
    assert seen == [ScrubMatch("value", "customer 7"), ScrubMatch("value", "{'a': 'b c'}")]
    assert scrub.counts == {"value": 2}
    scrub.message(text)  # a string met twice counts twice, as for every rule
    assert scrub.counts == {"value": 4}


STACK = (
    "Traceback (most recent call last):\n"
    '  File "acme/crawler.py", line 12, in crawl\n'
    "  [... 3 frames omitted ...]\n"
    '  File "<user code>", line 0, in <user code>\n'
    "KeyError: 'raw_markdown'\n"
    "\n"
    "During handling of the above exception, another exception occurred:\n"
    "\n"
    "Traceback (most recent call last):\n"
    '  File "acme/weird-name_2.py", line 3, in Row.check.<locals>.<lambda>\n'
    "ValueError: row {'name': 'Alice',\n"
    " 'age': 41} is not 'a valid row'"
)


def test_stack_text_keeps_its_file_lines() -> None:
    scrub = SCRUBBER.new_pass()
    assert scrub.stacktrace(STACK) == STACK.replace(
        "row {'name': 'Alice',\n 'age': 41} is not 'a valid row'", "row [value] is not '[value]'"
    )
    assert scrub.counts == {"value": 2}


def _report(message: str) -> dict[str, Any]:
    chain = [
        {"type": "KeyError", "module": "builtins", "message": "'raw_markdown'", "frames": []},
        {"type": "ValueError", "module": "builtins", "message": message, "frames": []},
    ]
    return {
        "name": "exception",
        "trace_id": "1" * 32,
        "span_id": "2" * 16,
        "kind": 0,
        "start": 1,
        "end": 1,
        "attributes": {
            attr.KIND: attr.KIND_EXCEPTION,
            "otel_telemetry.route": "'not prose'",
            "tags": ["'x y'"],
        },
        "events": [
            {
                "name": attr.EVENT_EXCEPTION,
                "timestamp": 1,
                "attributes": {
                    attr.EXCEPTION_TYPE: "ValueError",
                    attr.EXCEPTION_MESSAGE: message,
                    attr.EXCEPTION_STACKTRACE: (
                        f'Traceback (most recent call last):\n  File "a/b_c.py", line 1, in f\n'
                        f"ValueError: {message}"
                    ),
                    attr.EXCEPTION_CHAIN: json.dumps(chain),
                    "other": message,
                },
            },
            {"name": "'some event'", "timestamp": 1, "attributes": {"note": message}},
        ],
        "status": {"code": 2, "description": f"ValueError: {message}"},
        "resource": {"service.name": "acme", "service.version": "'1.0 beta'"},
        "scope": {"name": "otel_telemetry", "version": "1"},
    }


def test_a_report_gets_the_rule_in_its_messages_only() -> None:
    message = "row {'name': 'Alice'} of 'q3 results.xlsx'"
    clean = "row [value] of '[value]'"
    record = scrub_record(_report(message), SCRUBBER)

    check_record(record)
    event = record["events"][0]["attributes"]
    assert event[attr.EXCEPTION_MESSAGE] == clean
    assert event[attr.EXCEPTION_STACKTRACE].endswith(f"ValueError: {clean}")
    assert 'File "a/b_c.py", line 1, in f' in event[attr.EXCEPTION_STACKTRACE]
    root, raised = json.loads(event[attr.EXCEPTION_CHAIN])
    assert (root["message"], raised["message"]) == ("'raw_markdown'", clean)
    assert record["status"]["description"] == f"ValueError: {clean}"
    # Not prose: attribute values, other events, names, the resource.
    assert event["other"] == message
    assert record["events"][1] == {
        "name": "'some event'",
        "timestamp": 1,
        "attributes": {"note": message},
    }
    assert record["attributes"]["otel_telemetry.route"] == "'not prose'"
    assert record["attributes"]["tags"] == ["'x y'"]
    assert record["resource"]["service.version"] == "'1.0 beta'"
    # Two values, each in the message, the stack, the chain and the status.
    assert record["attributes"][attr.SCRUBBED] == ["value:8"]

    again = scrub_record(record, SCRUBBER)
    assert again == record  # read back from disk and scrubbed again: nothing more found


def test_usage_event_properties_do_not_get_the_rule() -> None:
    properties = {attr.KIND: attr.KIND_EVENT, "query": "'x y'", "rows": "{'a': 'b'}"}
    parts = scrub_parts(SCRUBBER, name="search", attributes=properties, events=(), description=None)
    assert parts.attributes == properties


def test_a_bounded_chain_stays_valid_json() -> None:
    message = "bad " + "'customer data' {'a': 'b'} " * 20_000
    record = bound_record(scrub_record(_report(message), SCRUBBER))
    chain = record["events"][0]["attributes"][attr.EXCEPTION_CHAIN]
    assert len(chain) <= MAX_CHAIN
    entries = json.loads(chain)
    assert entries[1]["message"].startswith("bad '[value]' [value] '[value]' [value]")
    event = record["events"][0]["attributes"]
    for text in (event[attr.EXCEPTION_MESSAGE], event[attr.EXCEPTION_STACKTRACE], chain):
        assert "customer data" not in text
    assert "customer data" not in record["status"]["description"]


# Texts made of what the rule looks at: quotes, escapes, brackets, separators, words,
# numbers and line breaks, in any order.
PIECES = st.sampled_from(
    [
        "'",
        '"',
        "\\",
        "(",
        ")",
        "[",
        "]",
        "{",
        "}",
        ",",
        ": ",
        " ",
        "\n",
        "b",
        "x",
        "a b",
        "1",
        "2.5",
        "True",
        "None",
        "-",
        "...",
        "'[value]'",
        "[value]",
        "`",
        "\u2018",
        "\u2019",
        "&#39;",
        "utf-8",
        "é",
        '  File "f.py", line 1, in g\n',
    ]
)
TEXTS = st.lists(PIECES, max_size=40).map("".join)


@settings(max_examples=400, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(text=TEXTS, stack=st.booleans())
def test_spans_keep_every_neighbour_and_a_second_pass_finds_nothing(text: str, stack: bool) -> None:
    spans = find_values_in_stack(text) if stack else find_values(text)
    last = 0
    for start, end in spans:
        assert last <= start <= end <= len(text)
        # A literal's text between its quotes (which stay), or a repr from its bracket to
        # the matching one.
        literal = any(
            text.startswith(quote, start - len(quote)) and text.startswith(closer, end)
            for quote, closer in _QUOTES.items()
        )
        assert literal or text[start] + text[end - 1] in ("()", "[]", "{}")
        last = end
    scrub = SCRUBBER.new_pass()
    once = scrub.stacktrace(text) if stack else scrub.message(text)
    pieces, last = [], 0
    for start, end in spans:
        pieces += (text[last:start], "[value]")
        last = end
    assert once == "".join(pieces) + text[last:]  # everything else, character for character
    again = SCRUBBER.new_pass()
    assert (again.stacktrace(once) if stack else again.message(once)) == once
    assert again.counts == {}


ADVERSARIAL = {
    "quotes": "'",
    "double quotes": '"',
    "escaped quotes": "'\\'",
    "openers": "'a ",
    "apostrophes": "'a'b",
    "prefixes": "b'",
    "parentheses": "(",
    "brackets": "[",
    "braces": "{",
    "closers": ")]}",
    "calls": "x[",
    "tuples": "('a', ",
    "lists": "[1, ",
    "nested": "{'a': [",
    "deep": "[" * (MAX_DEPTH + 2) + "1",
    "literals": "'a b' ",
    "lines": "'x\n",
    "file lines": '  File "a", line 1, in b\n\'',
}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", ADVERSARIAL)
def test_adversarial_inputs_cost_linear_time(name: str) -> None:
    """5x the input takes about 5x the time (CPU time, best of 5), never 25x."""

    def both(scrub: ScrubPass, text: str) -> None:
        scrub.message(text)
        scrub.stacktrace(text)

    assert not growth(SCRUBBER, ADVERSARIAL[name], both)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("unit", ["'", "(", "[", "{'a': "])
def test_megabytes_of_quotes_or_brackets(unit: str) -> None:
    text = unit * (2_000_000 // len(unit))
    assert _message(text).count("[value]") <= 1


def test_the_alphabet_of_the_property_test_reaches_every_kind_of_span() -> None:
    # The generated texts hold literals kept and replaced, reprs kept and replaced.
    text = "'a b' 'x' (1, 2) ('a b', 1) [\"x\"] `a b` \\'a b\\' " + string.ascii_lowercase
    found = [text[s:e] for s, e in find_values(text)]
    assert found == ["a b", "('a b', 1)", "a b", "a b"]


MESSAGES = st.lists(
    st.one_of(
        PIECES,
        # What other rules replace, apart: the value rule is under test here, not how
        # those rules meet each other.
        st.sampled_from(
            [
                " alice@corp.example ",
                " /home/bob/q3.xlsx ",
                " 10.0.0.1 ",
                " https://x.example/a?b=c ",
                "'%Y-%m'",
                "rb",
                "é",
            ]
        ),
    ),
    max_size=30,
).map("".join)


@settings(max_examples=200, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(message=MESSAGES)
def test_a_record_read_back_and_scrubbed_again_is_the_same(message: str) -> None:
    once = scrub_record(_report(message), SCRUBBER)
    assert scrub_record(once, SCRUBBER) == once


@pytest.mark.parametrize(
    "raw",
    [
        "invalid name \u2018Grace Hopper\u2019",
        "\u201cGrace Hopper\u201d value must be an integer.",
        "invalid name \u00abGrace Hopper\u00bb and \u201eGrace Hopper\u201c",
        "invalid name `Grace Hopper`",
        "duplicate key value N'Grace Hopper' and x'Grace Hopper'",
        "invalid value \\'Grace Hopper\\'",
        'payload {\\"name\\": \\"Grace Hopper\\", \\"dob\\": \\"1985-03-12\\"}',
        "invalid value &#39;Grace Hopper&#39; or &quot;Grace Hopper&quot;",
        "invalid value %27Grace%20Hopper%27",
    ],
)
def test_every_spelling_of_a_quote_makes_a_literal(raw: str) -> None:
    # A quote or bracket of Python's in the text too: the scrubber's quick check for
    # ``'``/``"``/brackets is not what is under test here.
    clean = find_values(raw + " (")
    assert clean, raw
    text = raw
    for start, end in reversed(clean):
        text = text[:start] + "[value]" + text[end:]
    assert "Grace" not in text


@pytest.mark.parametrize(
    "code",
    [
        "2024-01-02",
        "2024-01-02T13:38:47Z",
        "2024-01-02 13:38:47.123+02:00",
        "3f786850e387550fdab836ed7e6dc881de23001b",
        "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
        "crawler.py:123",
        "<=",
        "+",
        "**",
        "application/json",
        "Content-Type",
        "X-Request-ID",
        "rb+",
        "<U12",
        "%(asctime)s %(message)s",
        "30s",
        "100ms",
        "\\r\\n",
        "en_US.UTF-8",
        "bert-base-uncased",
        "gpt-4o-mini",
    ],
)
def test_shapes_of_code_are_kept(code: str) -> None:
    assert looks_like_code(code)
    assert _message(f"bad '{code}' here") == f"bad '{code}' here"


@pytest.mark.parametrize(
    "benign",
    [
        "mode must be one of ['r', 'w', 'a']",
        "expected one of ('json', 'yaml', 'toml')",
        "dict_keys(['raw_markdown', 'html'])",
        "'<=' not supported between instances of 'str' and 'int'",
    ],
)
def test_containers_of_code_are_kept(benign: str) -> None:
    assert _message(benign) == benign


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("'customer-ACME-4411'", "'[value]'"),
        ("'q3-results.xlsx'", "'[value]'"),
        ("'Grace-Hopper'", "'[value]'"),
        ("{'name': 'Grace Hopper'}", "[value]"),
        ("one of ['r', 'Grace Hopper']", "one of [value]"),
    ],
)
def test_data_still_goes(raw: str, clean: str) -> None:
    assert _message(raw) == clean


@pytest.mark.parametrize(
    "line",
    [
        '  File "Grace Hopper 1985-03-12 diagnosis.pdf", line 1, in x',
        "  File \"acme/ok.py\", line 1, in x('Grace Hopper')",
        "  File \"acme/ok.py\", line 1, in <'Grace Hopper'>",
    ],
)
def test_a_message_line_that_imitates_a_file_line_is_scanned(line: str) -> None:
    stack = f"Traceback (most recent call last):\nValueError: bad\n{line}"
    assert "Grace Hopper" not in SCRUBBER.new_pass().stacktrace(stack)


@pytest.mark.parametrize(
    "message",
    ["expected 'async for' here", "cache dir '/var/lib/acme/cache' is missing"],
)
def test_phrases_of_the_language_and_system_paths_are_code(message: str) -> None:
    scrub = Scrubber().new_pass()
    assert scrub.message(scrub.text(message)) == message


def test_a_quoted_path_of_a_users_media_is_not_code() -> None:
    scrub = Scrubber().new_pass()
    assert scrub.message("mount '/run/media/grace/usb' failed") == "mount '[value]' failed"
