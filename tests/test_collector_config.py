"""collector-config/: every config parses, names real components, and scrubs with RE2.

These are the static checks, for what cannot run here (Compose, Kubernetes); the configs
run on the real collector in tests/collector. The component list is otelcol-contrib's
(release line 0.136), kept in tests/data and checked against the copy in ../shared when
one is beside the repository; ``RENAMED`` maps the names the configs use since 0.161 to
the names of that list. gateway.yaml's scrubbing is applied here with RE2 (google-re2)
the way the collector applies it: it must remove the samples of every rule of the
library's table, keep what the library keeps, and give on the privacy corpus what
tests/collector/test_scrubbing.py asks of the real collector.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import pytest
import re2
import yaml

from otel_telemetry.scrubbing._rules import RULE_TABLE
from tests.collector.otelcol import env_example, script
from tests.collector.test_scrubbing import ENTRIES, USER_EMAIL, check_arrived, library_scrubber
from tests.pii_samples import BENIGN_TRACEBACK, PII_SAMPLES, SENSITIVE_PART, embedded

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "collector-config"
COLLECTOR_CONFIGS = ("gateway.yaml", "agent.yaml")
KINDS = {
    "receivers": "receiver",
    "processors": "processor",
    "exporters": "exporter",
    "extensions": "extension",
    "connectors": "connector",
}
COMPONENTS = ROOT / "tests" / "data" / "otelcol-contrib-components.txt"
ENV_REFERENCE = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-[^}]*)?\}")
OTTL_CALL = re.compile(r"^(?P<function>[a-z_]+)\((?P<args>.*)\)(?: where (?P<where>.*))?$")


# The collector renamed these exporters (the old names still load, with a deprecation
# warning); the configs use the new names of the release they pin.
RENAMED = {("exporter", "otlp_grpc"): "otlp", ("exporter", "otlp_http"): "otlphttp"}


def _components() -> set[tuple[str, str]]:
    lines = COMPONENTS.read_text().splitlines()
    known = {tuple(line.split()) for line in lines if line.strip() and not line.startswith("#")}
    return known | {key for key, old in RENAMED.items() if (key[0], old) in known}


def _load(name: str) -> dict:
    return yaml.safe_load((CONFIG / name).read_text())


def test_component_list_matches_the_shared_one():
    shared = ROOT.parent / "shared" / "otelcol-contrib-components.txt"
    if not shared.exists():
        pytest.skip("no ../shared beside this clone; the copy in tests/data is used")
    assert shared.read_text() == COMPONENTS.read_text()


@pytest.mark.parametrize("path", sorted(p.relative_to(CONFIG) for p in CONFIG.rglob("*.yaml")))
def test_every_yaml_file_parses(path):
    documents = list(yaml.safe_load_all((CONFIG / path).read_text()))
    assert documents
    assert all(isinstance(d, dict) for d in documents)


@pytest.mark.parametrize("name", COLLECTOR_CONFIGS)
def test_components_exist_are_defined_and_pipelines_use_only_those(name):
    config = _load(name)
    known = _components()
    defined = {}
    for section, kind in KINDS.items():
        for component_id in config.get(section) or {}:
            component_type = component_id.split("/", 1)[0]
            assert (kind, component_type) in known, (
                f"{kind} {component_type} is not in otelcol-contrib"
            )
            defined.setdefault(section, set()).add(component_id)
    service = config["service"]
    for extension in service.get("extensions", []):
        assert extension in defined["extensions"], extension
    assert service["pipelines"]
    for pipeline_id, pipeline in service["pipelines"].items():
        assert pipeline_id.split("/", 1)[0] in {"traces", "metrics", "logs"}
        for section in ("receivers", "processors", "exporters"):
            for component_id in pipeline.get(section, []):
                assert component_id in defined.get(section, set()), (pipeline_id, component_id)
    for section, ids in defined.items():
        used = {c for p in service["pipelines"].values() for c in p.get(section, [])}
        used |= set(service.get("extensions", []))
        assert ids <= used, f"defined but unused {section}: {ids - used}"


def test_every_environment_variable_is_documented():
    documented = set(env_example())
    referenced = {
        match.group(1)
        for path in CONFIG.rglob("*.yaml")
        for match in ENV_REFERENCE.finditer(path.read_text())
    }
    assert referenced
    assert referenced <= documented, referenced - documented


# --- gateway.yaml's scrubbing, applied here with RE2 the way the collector applies it ---

OTTL_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')
OTTL_TARGET = re.compile(r'[a-z._]+(?:\["[^"]*"\])?')
GO_GROUP = re.compile(r"\$(\d+)|\$\$")
PRIVATE = re.compile("[\ue000-\ue0ff]")
VALUE_TARGETS = (
    'spanevent.attributes["exception.message"]',
    'spanevent.attributes["exception.stacktrace"]',
)
TEXT_PLACES = (
    ("resource", "resource.attributes"),
    ("span", "span.attributes"),
    ("span", "span.status.message"),
    ("span", "span.name"),
    ("spanevent", "spanevent.attributes"),
)


def _regex(pattern: str) -> re2._Regexp:
    options = re2.Options()
    options.max_mem = 64 << 20  # large patterns keep RE2's fast engine (no fallback)
    return re2.compile(pattern, options)


@dataclass
class Statement:
    """One OTTL statement of transform/scrub: its context, function, target and strings."""

    context: str
    text: str
    function: str
    target: str
    strings: list[str]  # the string literals after the target, unquoted
    where: str | None

    @property
    def on_keys(self) -> bool:
        """A ``replace_all_patterns`` in its ``"key"`` mode: it rewrites keys, not values."""
        return self.function == "replace_all_patterns" and self.strings[0] == "key"

    @property
    def pattern(self) -> str | None:
        if self.function == "replace_all_patterns":
            return self.strings[1]
        if self.function in ("replace_pattern", "delete_matching_keys"):
            return self.strings[0]
        return None

    @property
    def replacement(self) -> str | None:
        if self.function == "replace_all_patterns":
            return self.strings[2]
        return self.strings[1] if self.function == "replace_pattern" else None

    @cached_property
    def compiled(self) -> re2._Regexp:
        assert self.pattern is not None
        return _regex(self.pattern)

    @cached_property
    def _template(self) -> list[str | int]:
        """The replacement as Go's ``Regexp.Expand`` reads it: text and group numbers."""
        assert self.replacement is not None
        pieces: list[str | int] = []
        last = 0
        for group in GO_GROUP.finditer(self.replacement):
            pieces.append(self.replacement[last : group.start()])
            pieces.append("$" if group.group(0) == "$$" else int(group.group(1)))
            last = group.end()
        pieces.append(self.replacement[last:])
        return pieces

    def substitute(self, text: str) -> str:
        """``text`` after the statement, as Go's ``Regexp.ReplaceAllString`` makes it."""
        if not self.compiled.search(text):
            return text
        pieces = self._template

        def expand(match: Any) -> str:
            return "".join(p if isinstance(p, str) else match.group(p) or "" for p in pieces)

        return str(self.compiled.sub(expand, text))


def _unquote(raw: str) -> str:
    # OTTL unquotes its strings as Go does; those of gateway.yaml use only \\, \" and \uXXXX,
    # which JSON reads the same way (and any other escape fails here).
    return str(json.loads(f'"{raw}"'))


@cache
def _statements() -> tuple[Statement, ...]:
    processor = _load("gateway.yaml")["processors"]["transform/scrub"]
    parsed = []
    for group in processor["trace_statements"]:
        for text in group["statements"]:
            match = OTTL_CALL.match(text)
            assert match, text
            args = match.group("args")
            target = OTTL_TARGET.match(args)
            assert target, text
            strings = [_unquote(s) for s in OTTL_STRING.findall(args[target.end() :])]
            parsed.append(
                Statement(
                    group["context"],
                    text,
                    match.group("function"),
                    target.group(0),
                    strings,
                    match.group("where"),
                )
            )
    return tuple(parsed)


def _one_step(statement: Statement) -> bool:
    """A rule's whole work in one statement: no private-use marks in or out, not a removal."""
    return bool(
        statement.replacement
        and not PRIVATE.search(statement.replacement)
        and "x{E0" not in (statement.pattern or "")
    )


def _regexes() -> list[str]:
    from_statements = [s.pattern for s in _statements() if s.pattern is not None]
    blocked = _load("gateway.yaml")["processors"]["redaction"]["blocked_values"]
    return from_statements + blocked


@pytest.mark.parametrize("pattern", sorted(set(_regexes())))
def test_every_regex_compiles_under_re2(pattern):
    _regex(pattern)  # raises on lookarounds, backreferences and other non-RE2 syntax


def test_every_statement_is_in_its_own_context():
    # A statement of the span group that named spanevent paths would run once per event
    # (the collector infers the context of a group from its paths): none does.
    for statement in _statements():
        paths = re.findall(
            r"\b(resource|scope|span|spanevent)\."
            r"(?:attributes|cache|status|name|version|trace_state|links|schema_url)",
            statement.text,
        )
        assert set(paths) == {statement.context}, statement.text


def test_replacements_name_groups_the_collector_leaves_alone():
    for statement in _statements():
        if statement.replacement is None:
            continue
        # ${1} would be read by the collector as a variable; $1x by Go as the group "1x".
        assert "${" not in statement.replacement, statement.text
        assert not re.search(r"\$\d+[A-Za-z_]", statement.replacement), statement.text
        groups = [int(g) for g in re.findall(r"\$(\d+)", statement.replacement)]
        assert max(groups, default=0) <= statement.compiled.groups, statement.text


def test_every_text_rule_runs_in_every_place_in_the_same_order():
    steps = {
        place: [
            (s.pattern, s.replacement)
            for s in _statements()
            if (s.context, s.target) == place
            and s.function not in ("delete_matching_keys", "delete_key")
            and not s.on_keys
        ]
        for place in TEXT_PLACES
    }
    attributes = steps[("span", "span.attributes")]
    assert len(attributes) > 40
    for place, found in steps.items():
        # (the status message gets the value rule after them)
        assert found[: len(attributes)] == attributes, place


def test_the_value_rule_runs_on_messages_stack_text_and_the_status_message():
    def steps(target: str) -> list[tuple[str | None, str | None]]:
        return [(s.pattern, s.replacement) for s in _statements() if s.target == target]

    message, stack = (steps(target) for target in VALUE_TARGETS)
    assert message == steps("span.status.message")[-len(message) :]
    assert len(stack) == len(message) >= 4
    for (stack_pattern, _), (message_pattern, _) in zip(stack, message):
        # the same step, or the same with indented lines (frames, source) skipped
        assert stack_pattern == message_pattern or "(?m:^[ \\t]" in (stack_pattern or "")


def test_redaction_and_transform_use_the_same_value_patterns():
    one_step = {
        s.pattern for s in _statements() if s.function == "replace_all_patterns" and _one_step(s)
    }
    blocked = set(_load("gateway.yaml")["processors"]["redaction"]["blocked_values"])
    # and the net's own: secret pairs in what the transform cannot reach (lists, maps)
    assert blocked == one_step | set(_scrub_generator().rules.NET_ONLY)


def _process(span: dict[str, Any]) -> dict[str, Any]:
    """Apply the gateway's transform statements, then its redaction, as the collector does.

    ``span`` has ``name``, ``status``, ``attributes``, ``events`` (each with
    ``attributes``) and ``resource`` (with ``attributes``).
    """
    cache: dict[str, Any] = {}
    for statement in _statements():
        holders = {
            "resource": [span["resource"]],
            "scope": [span["scope"]] if "scope" in span else [],
            "span": [span],
            "spanevent": span["events"],
        }[statement.context]
        for holder in holders:
            if statement.function == "set":  # the typed address, kept and written back
                if statement.target.startswith("span.cache"):
                    # kept only when it is one address and nothing else: the where
                    # clause's IsMatch, whose regex is the statement's last string
                    assert " where IsMatch(" in statement.text, statement.text
                    typed = _regex(statement.strings[-1])
                    address = span["attributes"].get("user.email")
                    if isinstance(address, str) and typed.search(address):
                        cache["user.email"] = address
                elif statement.target == 'span.attributes["user.email"]':
                    if cache.get("user.email") is not None:
                        span["attributes"]["user.email"] = cache["user.email"]
                else:  # a field the library never fills, cleared (where it is given here)
                    field = statement.target.split(".", 1)[1]
                    if field in holder and not (
                        field == "schema_url"
                        and _regex(statement.strings[-1]).search(holder[field])
                    ):
                        holder[field] = None if field == "links" else ""
            elif statement.function == "delete_key":
                # only a user.email that is not a string: the where clause's IsString
                assert statement.strings[0] == "user.email", statement.text
                assert " and not IsString(" in statement.text, statement.text
                value = holder["attributes"].get("user.email")
                if value is not None and not isinstance(value, str):
                    del holder["attributes"]["user.email"]
            elif statement.function == "delete_matching_keys":
                for key in [k for k in holder["attributes"] if statement.compiled.search(k)]:
                    del holder["attributes"][key]
            elif statement.on_keys:
                holder["attributes"] = {
                    statement.substitute(k): v for k, v in holder["attributes"].items()
                }
            elif statement.function == "replace_all_patterns":
                for key, value in holder["attributes"].items():
                    if isinstance(value, str):
                        holder["attributes"][key] = statement.substitute(value)
            elif statement.function == "replace_pattern":
                field = statement.target.rsplit(".", 1)[-1]
                if field in ("message", "name", "version"):
                    key = "status" if field == "message" else field
                    if isinstance(holder.get(key), str):
                        holder[key] = statement.substitute(holder[key])
                else:
                    key = statement.target.split('"')[1]
                    if isinstance(holder["attributes"].get(key), str):
                        holder["attributes"][key] = statement.substitute(holder["attributes"][key])
            else:
                raise AssertionError(f"not emulated here: {statement.text}")
    ignored, blocked = _redaction()
    scope = [span["scope"]] if "scope" in span else []
    for holder in (span["resource"], *scope, span, *span["events"]):
        for key, value in holder["attributes"].items():
            if key in ignored:
                continue
            # redact_all_types: every value is read as a string (arrays and maps as JSON);
            # one a pattern matches becomes the masked string, the others keep their type
            text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
            masked = text
            for pattern in blocked:
                masked = pattern.sub("****", masked)
            if masked != text:
                holder["attributes"][key] = masked
    return span


@cache
def _redaction() -> tuple[frozenset[str], tuple[re2._Regexp, ...]]:
    """The redaction processor's ignored keys and blocked values."""
    redaction = _load("gateway.yaml")["processors"]["redaction"]
    return frozenset(redaction["ignored_keys"]), tuple(map(_regex, redaction["blocked_values"]))


def _span(text: str, stacktrace: str | None = None) -> dict[str, Any]:
    return {
        "name": text,
        "status": text,
        "attributes": {
            "otel_telemetry.mechanism": "excepthook",
            "detail": text,
            "user.email": "me@example.com",
        },
        "events": [
            {
                "attributes": {
                    "exception.message": text,
                    "exception.stacktrace": text if stacktrace is None else stacktrace,
                }
            }
        ],
        "resource": {"attributes": {"service.name": "acme", "note": text}},
    }


def _strings(span: dict[str, Any]) -> list[str]:
    return [
        span["name"],
        span["status"],
        *span["attributes"].values(),
        *span["resource"]["attributes"].values(),
        *span["events"][0]["attributes"].values(),
    ]


@pytest.mark.parametrize(("rule", "sample"), PII_SAMPLES)
def test_the_gateway_removes_every_pii_sample(rule, sample):
    sensitive = SENSITIVE_PART.get(sample, sample)
    for text in embedded(sample):
        span = _process(_span(text))
        for value in _strings(span):
            assert sensitive not in str(value), (rule, text, value)
        assert span["attributes"]["user.email"] == "me@example.com"  # the typed address stays


def test_the_gateway_leaves_a_benign_traceback_intact():
    span = _process(_span(BENIGN_TRACEBACK))
    assert span["events"][0]["attributes"]["exception.stacktrace"] == BENIGN_TRACEBACK
    # Everywhere but where the value rule runs on it as a message (the library's does too:
    # 'File "acme/crawler.py"' in a message quotes a file name).
    assert span["name"] == span["attributes"]["detail"] == BENIGN_TRACEBACK
    assert span["resource"]["attributes"]["note"] == BENIGN_TRACEBACK


def test_key_named_secrets_are_removed_whole():
    span = _span("fine")
    span["attributes"].update(
        {"db.password": "x", "API_KEY": "y", "author": "kept", "max_tokens": 5, "tokens": 3}
    )
    processed = _process(span)["attributes"]
    assert "db.password" not in processed
    assert "API_KEY" not in processed
    assert processed["author"] == "kept"
    assert processed["tokens"] == 3  # counts tokens: no secret


def test_user_email_is_kept_only_when_it_is_one_address():
    for typed in ("me@example.com", "grace.o'hara@example.co.uk", "jürgen@例え.jp"):
        span = _span("fine")
        span["attributes"]["user.email"] = typed
        assert _process(span)["attributes"]["user.email"] == typed
    for spoofed in (
        "a@b.org password=Hunter2x /home/alice/y",
        "a@b.org, c@d.org",
        " a@b.org",
        "a@b.org\n",
        "mail a@b.org",
    ):
        span = _span("fine")
        span["attributes"]["user.email"] = spoofed
        processed = _process(span)["attributes"]["user.email"]
        assert processed != spoofed
        for part in ("a@b.org", "Hunter2x", "/home/alice", "c@d.org"):
            assert part not in processed, (spoofed, processed)


def test_a_user_email_that_is_not_a_string_is_deleted_and_elsewhere_scrubbed():
    span = _span("fine")
    span["attributes"]["user.email"] = ["bob@corp.example", "password=hunter2"]
    span["events"][0]["attributes"]["user.email"] = {"a": "dave@corp.example"}
    span["resource"]["attributes"]["user.email"] = "erin@corp.example"
    span["scope"] = {"name": "s", "version": "1", "attributes": {"user.email": 7}}
    processed = _process(span)
    assert "user.email" not in processed["attributes"]
    assert "user.email" not in processed["events"][0]["attributes"]
    assert processed["scope"]["attributes"] == {}
    # a string outside the span is no opt-in address: scrubbed like any value
    assert processed["resource"]["attributes"]["user.email"] == "[email]"


@pytest.mark.parametrize(
    ("text", "marker"),
    [
        ("card 4111 1111 1111 1111 declined", "[card]"),
        ("card 4111111111111111 declined", "[card]"),
        ("ssn 078-05-1120 on file", "[ssn]"),
        ("peer 10.20.30.40 refused", "[ip]"),
    ],
)
@pytest.mark.parametrize("zero", [0xFF10, 0x0660, 0x0966])  # fullwidth, Arabic-Indic, Devanagari
def test_digits_of_any_script_are_digits(text, marker, zero):
    # Python's \d (the library's) reads every script's digits; RE2's only 0-9.
    spelled = text.translate(str.maketrans("0123456789", "".join(chr(zero + i) for i in range(10))))
    scrub = library_scrubber().new_pass()
    assert marker in scrub.text(spelled)
    span = _process(_span(spelled))
    event = span["events"][0]["attributes"]
    places = [span["name"], span["status"], span["attributes"]["detail"]]
    places += [span["resource"]["attributes"]["note"], *event.values()]
    for value in places:
        assert marker in value, value


def test_scope_fields_event_names_and_email_keys_are_scrubbed():
    span = _span("fine")
    span["scope"] = {
        "name": "scope of grace@example.org",
        "version": "1.0 password=Hunter2x",
        "attributes": {"acme.owner": "grace@example.org", "db.password": "x"},
    }
    span["events"][0]["name"] = "exception at grace@example.org"
    span["attributes"]["grace@example.org"] = "a value under an email key"
    processed = _process(span)
    assert processed["scope"] == {
        "name": "scope of [email]",
        "version": "1.0 password=[redacted]",
        "attributes": {"acme.owner": "[email]"},
    }
    assert processed["events"][0]["name"] == "exception at [email]"
    assert "grace@example.org" not in processed["attributes"]
    assert processed["attributes"]["[email]"] == "a value under an email key"


def test_links_trace_state_and_foreign_schema_urls_are_cleared():
    span = _span("fine")
    span["trace_state"] = "vendor=grace@example.org"
    span["links"] = [{"attributes": {"acme.link": "grace@example.org"}}]
    span["resource"]["schema_url"] = "https://x/grace@example.org"
    span["scope"] = {"name": "s", "version": "1", "attributes": {}}
    span["scope"]["schema_url"] = "https://opentelemetry.io/schemas/1.26.0"
    processed = _process(span)
    assert processed["trace_state"] == ""
    assert processed["links"] is None
    assert processed["resource"]["schema_url"] == ""
    assert processed["scope"]["schema_url"] == "https://opentelemetry.io/schemas/1.26.0"


def test_lists_and_maps_holding_a_match_are_masked_by_the_second_net():
    span = _span("fine")
    span["attributes"].update(
        {
            "acme.list": ["mail grace@example.org", "fine"],
            "acme.numbers": [1, 2],
            "acme.n": 7,
            "acme.pairs": ["connect password=Hunter2x failed"],
            "acme.map": {"db": {"password": "Hunter2x"}},
        }
    )
    processed = _process(span)["attributes"]
    assert "grace@example.org" not in processed["acme.list"]
    assert "****" in processed["acme.list"]
    assert processed["acme.numbers"] == [1, 2]  # no match: the value keeps its type
    assert "Hunter2x" not in processed["acme.pairs"]
    assert "Hunter2x" not in processed["acme.map"]
    assert processed["acme.n"] == 7


# What the library's own rules catch that the gateway cannot: values of the sending
# machine, which no gateway knows. Each rule's samples are in its row of the rule table.
MACHINE_SAMPLES = {
    ("path", "/var/lib/builder/.cache/x"),  # this user's home (SAMPLE_IDENTITY's)
    ("path", "/var/lib/builder"),
    *(("user", sample) for sample in ("alicebuilder", "ALICEBUILDER", "Alicebuilder")),
    *(("host", sample) for sample in ("build-host-42", "BUILD-HOST-42")),
}
# What the library's checksums keep and the gateway's patterns, without them, remove.
UNCHECKED_NON_SAMPLES = {
    ("iban", "GB00 WEST 1234 5698 7654 32"),  # mod 97 fails
    ("card", "4111 1111 1111 1112"),  # Luhn fails
    ("card", "4111111111111112.0"),
}


@pytest.mark.parametrize(
    ("rule", "sample"),
    [(rule.name, sample) for rule in RULE_TABLE for sample in rule.samples],
)
def test_the_gateway_removes_the_samples_of_every_library_rule(rule, sample):
    span = _process(_span(f"failed for {sample} after 3 retries"))
    left = [value for value in _strings(span) if sample in value]
    if (rule, sample) in MACHINE_SAMPLES:
        assert left, "the gateway removes it now: take it off MACHINE_SAMPLES"
    else:
        assert left == []


def _kept_by_the_library(text: str) -> bool:
    scrub = library_scrubber().new_pass()
    return scrub.message(scrub.text(text)) == text


@pytest.mark.parametrize(
    ("rule", "text"),
    [
        (rule.name, text)
        for rule in RULE_TABLE
        for text in rule.non_samples
        if _kept_by_the_library(text)  # (a rule's non-sample may be another's sample)
    ],
)
def test_the_gateway_keeps_what_the_library_keeps(rule, text):
    span = _process(_span(text))
    changed = [value for value in _strings(span) if value not in (text, "excepthook", "acme")]
    changed = [v for v in changed if v != "me@example.com"]
    if (rule, text) in UNCHECKED_NON_SAMPLES:
        assert changed, "the gateway keeps it now: take it off UNCHECKED_NON_SAMPLES"
    else:
        assert changed == []


def test_the_gateway_removes_the_privacy_corpus_as_on_the_real_collector():
    # The check of tests/collector/test_scrubbing.py, on this emulation: with the same
    # CANNOT list, so the emulation and the collector agree.
    arrived = {}
    for entry in ENTRIES:
        span = _span(entry.text, entry.stacktrace)
        span["attributes"]["user.email"] = USER_EMAIL
        span = _process(span)
        event = span["events"][0]["attributes"]
        arrived[entry.index] = {
            "message": event["exception.message"],
            "stacktrace": event["exception.stacktrace"],
            "status": span["status"],
            "span attribute": span["attributes"]["detail"],
            "resource attribute": span["resource"]["attributes"]["note"],
            "name": span["name"],
            "user.email": span["attributes"]["user.email"],
        }
    tally, problems, leaking = check_arrived(arrived, library_scrubber())
    assert problems == []
    assert [key for key, places in leaking.items() if not places] == []
    assert tally.gateway + tally.cannot == tally.library > 800


def test_the_example_server_points_at_the_gateway_receiver():
    compose = _load("docker-compose.yaml")
    gateway = _load("gateway.yaml")["receivers"]["otlp"]["protocols"]
    environment = compose["services"]["acme-api"]["environment"]
    assert environment["ACME_TELEMETRY_EXPORTER"] == "otlp"
    endpoint = environment["ACME_OTLP_ENDPOINT"]
    protocol = environment["ACME_OTLP_PROTOCOL"]
    host, port = endpoint.removeprefix("http://").split(":")
    assert host in compose["services"]
    assert compose["services"][host]["image"].startswith("otel/opentelemetry-collector-contrib:")
    expected = gateway["http" if protocol == "http/protobuf" else "grpc"]["endpoint"].rsplit(
        ":", 1
    )[1]
    assert port == expected
    assert f"{port}:{port}" in compose["services"][host]["ports"]


def test_kubernetes_manifests_match_the_gateway_config():
    kustomization = _load("kustomization.yaml")
    assert kustomization["configMapGenerator"][0]["files"] == ["gateway.yaml"]
    gateway = _load("gateway.yaml")
    deployment = yaml.safe_load((CONFIG / "kubernetes" / "deployment.yaml").read_text())
    service = yaml.safe_load((CONFIG / "kubernetes" / "service.yaml").read_text())
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["health"] == int(
        gateway["extensions"]["health_check"]["endpoint"].rsplit(":", 1)[1]
    )
    receivers = gateway["receivers"]["otlp"]["protocols"]
    assert ports["otlp-grpc"] == int(receivers["grpc"]["endpoint"].rsplit(":", 1)[1])
    assert ports["otlp-http"] == int(receivers["http"]["endpoint"].rsplit(":", 1)[1])
    assert {p["port"] for p in service["spec"]["ports"]} == {ports["otlp-grpc"], ports["otlp-http"]}
    assert container["resources"]["limits"]["memory"]
    assert container["readinessProbe"]["httpGet"]["port"] == "health"
    assert deployment["spec"]["replicas"] >= 2
    assert container["image"] == _load("docker-compose.yaml")["services"]["otel-gateway"]["image"]


def _scrub_generator() -> Any:
    """collector-config/scrub/generate.py, imported by its path (no subprocess)."""
    return script(CONFIG / "scrub" / "generate.py")


def test_gateway_yaml_is_what_the_generator_writes(capsys):
    # transform/scrub, redaction and the header's regex paragraph are generated from
    # collector-config/scrub/rules.py: a hand edit, or a rule changed without running the
    # generator, fails here.
    status = _scrub_generator().main(["--check"])
    out = capsys.readouterr().out
    assert status == 0, out
    assert out.endswith("gateway.yaml: up to date\n")


def test_the_generator_check_names_a_one_character_edit_and_writing_undoes_it(tmp_path, capsys):
    shipped = (CONFIG / "gateway.yaml").read_bytes()
    lines = shipped.decode("utf-8").split("\n")
    [index] = [i for i, line in enumerate(lines) if "span.name" in line and '"[ssn]"' in line]
    lines[index] = lines[index].replace('"[ssn]"', '"[ssm]"')
    edited = "\n".join(lines).encode("utf-8")
    copy = tmp_path / "gateway.yaml"
    copy.write_bytes(edited)
    generator = _scrub_generator()

    assert generator.main(["--check", "--config", str(copy)]) == 1
    out = capsys.readouterr().out
    assert f"line {index + 1}, column" in out
    assert "[ssm]" in out
    assert copy.read_bytes() == edited  # --check writes nothing

    assert generator.main(["--config", str(copy)]) == 0
    assert copy.read_bytes() == shipped
