"""Writes gateway.yaml's scrubbing from rules.py (beside this file).

Usage::

    python3 collector-config/scrub/generate.py            # rewrite gateway.yaml
    python3 collector-config/scrub/generate.py --check    # exit 1 if it is not up to date
    python3 collector-config/scrub/generate.py --config PATH [--check]

Three parts of the config are generated, and only they are written; every other byte
of the file is kept as it is:

* the header's paragraph that starts with ``# Regexes:`` (up to the first line that is
  not a comment, or is a bare ``#``);
* the ``transform/scrub`` processor: its key line (``  transform/scrub:``), the comment
  lines right above it, and every line after it indented four spaces or more;
* the ``redaction`` processor, delimited the same way.

The file is read once and written once (only when it changes). With ``--check`` nothing
is written: the exit status is 0 when the file is exactly what this would write, and 1
otherwise, with the first differing line named on stdout. Exit status 2: a part is
missing or found twice (nothing written).

In ``transform/scrub`` each context (resource, scope, span, spanevent) runs every rule of
``rules.TEXT_RULES`` on each string it holds (attribute values, the scope's name and
version, the span's and event's names, the status message), in order, and the span and
span event contexts then run the value rule on exception messages, stack text and the
status message. Before the rules: a ``user.email`` attribute that is not a string (a
list, a map, a number) is deleted, in every context; fields the library never fills and
no rule reaches are cleared (links, the trace state, a schema URL other than
OpenTelemetry's), secret-named attributes are deleted, an email written as a key becomes
``[email]``, and the span's ``user.email`` when it is one address and nothing else
(``rules.USER_EMAIL``) is set aside and put back after them. A ``user.email`` of the
resource, scope or an event is no opt-in address: the rules scrub it like any value.
A resource's entity references are not reached: OTTL (0.161) has no path to them.
``redaction`` blocks the regexes of the one-step rules and ``rules.NET_ONLY``, on values
of every type (lists and maps read as JSON). The real collector must still accept the
result: ``tests/collector`` validates and runs it.

Python's standard library only: runs with any ``python3`` (3.9 or later), no venv.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Optional, Sequence

HERE = Path(__file__).resolve().parent
DEFAULT_CONFIG = HERE.parent / "gateway.yaml"


def _import_rules() -> ModuleType:
    # collector-config is no Python package: rules.py is loaded from this folder by its
    # path, under a name no other module has (registered first, as an import would).
    name = "otel_telemetry_collector_scrub_rules"
    spec = importlib.util.spec_from_file_location(name, HERE / "rules.py")
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {HERE / 'rules.py'}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


rules = _import_rules()

STATEMENT_INDENT = " " * 10
BLOCKED_INDENT = " " * 6

# The header's regex paragraph: how to read the generated sections.
HEADER = """\
# Regexes: RE2, as Go's regexp reads them: no lookaround, no backreferences. Where a rule
# of the library needs one (or a check: both cases and a digit, not a loopback address),
# it takes several statements: its candidates are wrapped in two private-use characters
# (U+E000, U+E001), the ones that are not the rule's are unwrapped, the rest replaced.
# Inside OTTL strings a backslash is written twice (OTTL unquotes its strings as Go does:
# "\\\\d" is the regex \\d); replacements name groups $1, never ${1}, which the collector
# would read as a variable. The redaction processor's blocked_values are the one-step
# rules' regexes, written once. collector-config/README.md lists what RE2 cannot express;
# tests/test_collector_config.py and tests/collector/test_scrubbing.py check all of it."""

# Where each text rule runs, per context: every string a resource, span or event holds.
TEXT_TARGETS = {
    "resource": ['replace_all_patterns(resource.attributes, "value", {re}, {s})'],
    "span": [
        'replace_all_patterns(span.attributes, "value", {re}, {s})',
        "replace_pattern(span.status.message, {re}, {s})",
        "replace_pattern(span.name, {re}, {s})",
    ],
    "scope": [
        'replace_all_patterns(scope.attributes, "value", {re}, {s})',
        "replace_pattern(scope.name, {re}, {s})",
        "replace_pattern(scope.version, {re}, {s})",
    ],
    "spanevent": [
        'replace_all_patterns(spanevent.attributes, "value", {re}, {s})',
        "replace_pattern(spanevent.name, {re}, {s})",
    ],
}
# Where the value rule runs, and whether the text is stack text (its indented lines, the
# frames and source, are skipped).
VALUE_TARGETS = {
    "span": [("replace_pattern(span.status.message, {re}, {s})", False)],
    "spanevent": [
        ('replace_pattern(spanevent.attributes["exception.message"], {re}, {s})', False),
        ('replace_pattern(spanevent.attributes["exception.stacktrace"], {re}, {s})', True),
    ],
}
CONTEXTS = ("resource", "scope", "span", "spanevent")
# The library's schema URL, if it ever sends one; any other is dropped.
SCHEMA_URL = r"^https://opentelemetry\.io/schemas/[0-9]+\.[0-9]+\.[0-9]+$"
# Fields no text rule can reach, cleared: the library sends none of them (no links, no
# trace state, no schema URL but OpenTelemetry's), and no OTTL context reaches a link's
# attributes or trace state to scrub them.
CLEARED = {
    "resource": [
        'set(resource.schema_url, "") where not IsMatch(resource.schema_url, {url})',
    ],
    "scope": [
        'set(scope.schema_url, "") where not IsMatch(scope.schema_url, {url})',
    ],
    "span": ['set(span.trace_state, "")', "set(span.links, nil)"],
    "spanevent": [],
}

TRANSFORM_COMMENT = [
    "  # Typed markers first, on every string a span carries: the resource, scope, span and",
    "  # event attributes (an email in a key too), the scope's name and version, the status",
    "  # message, the span and event names; the value rule on exception messages, stack",
    "  # text and the status message. One group per context, so each statement runs once",
    "  # per resource, scope, span or event.",
]
REDACTION_COMMENT = [
    "  # A second net over every attribute (resource, scope, span, event): a match of a",
    "  # one-step rule still there is masked with ****. The transform leaves none in",
    "  # strings, so there this changes nothing; it also reads arrays and maps (as JSON)",
    "  # and numbers (redact_all_types), which OTTL's replace functions skip: such a value",
    "  # holding a match becomes the masked string.",
]


class MissingPart(Exception):
    """The config lacks a part this generator writes, or holds it twice."""


def ottl(text: str) -> str:
    r"""``text`` as an OTTL string literal that OTTL reads back as ``text``.

    Backslashes and double quotes are escaped (OTTL unquotes as Go's ``strconv.Unquote``).
    """
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def replacement(template: str) -> str:
    r"""A replacement template of ``rules`` as an OTTL string literal.

    Its ``\uE000``-style escapes stay escapes (OTTL reads them as the sentinels). Groups
    are written ``$1``, never ``${1}``: the collector would read ``${1}`` in its config as
    a variable.

    Raises:
        ValueError: A group is followed by a letter or ``_`` (Go would read ``$1x``
            as the group named ``1x``), or a ``${`` is left.
    """
    text = re.sub(r"\$\{(\d+)\}", r"$\1", template)
    if re.search(r"\$\d+(?=[A-Za-z_])", text) or "${" in text:
        raise ValueError(f"replacement the collector would misread: {template!r}")
    return '"' + text.replace('"', '\\"') + '"'


def yaml_item(statement: str, indent: str = STATEMENT_INDENT) -> str:
    """``statement`` as a YAML list item, single-quoted (no escapes but ``''``)."""
    if "\n" in statement:
        raise ValueError(f"a statement is one line: {statement!r}")
    return f"{indent}- '" + statement.replace("'", "''") + "'"


def statements(context: str) -> list[str]:
    """The statements of one context group, with ``#`` comment lines among them."""
    text_rules: list[tuple[str, str, list[tuple[str, str]]]] = rules.TEXT_RULES
    [(email_regex, email_template)] = next(
        steps for name, _, steps in text_rules if name == "email"
    )
    out: list[str] = []
    # First, before anything reads it and before the redaction net, which exempts the
    # key: the opt-in address is one string, and OTTL's replace functions skip lists,
    # maps and numbers, so a user.email of any other type would pass whole.
    out.append(
        "# A user.email that is not a string (a list, a map, a number) is deleted:"
        " the opt-in address is one string, and no rule reaches inside the others."
    )
    out.append(
        f'delete_key({context}.attributes, "user.email")'
        f' where {context}.attributes["user.email"] != nil'
        f' and not IsString({context}.attributes["user.email"])'
    )
    if context == "span":
        out.append(
            "# The one email that may leave is the address the user typed when opting in:"
            " kept only when it is one address and nothing else."
        )
        out.append(
            'set(span.cache["user.email"], span.attributes["user.email"])'
            f' where IsMatch(span.attributes["user.email"], {ottl(rules.USER_EMAIL)})'
        )
    if CLEARED[context]:
        out.append(
            "# Cleared: fields the library never fills and no rule reaches (links, trace"
            " state, a schema URL other than OpenTelemetry's)."
        )
        out += [statement.format(url=ottl(SCHEMA_URL)) for statement in CLEARED[context]]
    out.append("# Attributes whose key names a secret are removed whole.")
    out.append(f"delete_matching_keys({context}.attributes, {ottl(rules.SECRET_KEYS)})")
    out.append("# An email written as an attribute's key becomes [email] there too.")
    out.append(
        f'replace_all_patterns({context}.attributes, "key", {ottl(email_regex)},'
        f" {replacement(email_template)})"
    )
    for name, doc, steps in text_rules:
        out.append(f"# {name}: {doc}")
        for regex, template in steps:
            for target in TEXT_TARGETS[context]:
                out.append(target.format(re=ottl(regex), s=replacement(template)))
    if context in VALUE_TARGETS:
        out.append(
            "# value: data quoted or repr'd in exception messages, stack text and the status"
            " message (what looks like code stays)."
        )
        stack_steps: list[tuple[str, str, Optional[str]]] = rules.value_steps(True)
        message_steps: list[tuple[str, str, Optional[str]]] = rules.value_steps(False)
        for in_stack, in_message in zip(stack_steps, message_steps):
            for target, stack in VALUE_TARGETS[context]:
                regex, template, trigger = in_stack if stack else in_message
                statement = target.format(re=ottl(regex), s=replacement(template))
                if trigger is not None:
                    # a cheap test first: most texts hold nothing the step looks for
                    path = target.split("(", 1)[1].split(", {re}")[0]
                    statement += f" where IsMatch({path}, {ottl(trigger)})"
                out.append(statement)
    if context == "span":
        out.append(
            'set(span.attributes["user.email"], span.cache["user.email"])'
            ' where span.cache["user.email"] != nil'
        )
    return out


def transform_section() -> list[str]:
    """The lines of the ``transform/scrub`` processor, its comment first."""
    lines = [*TRANSFORM_COMMENT, "  transform/scrub:", "    error_mode: ignore"]
    lines.append("    trace_statements:")
    for context in CONTEXTS:
        lines.append(f"      - context: {context}")
        lines.append("        statements:")
        for statement in statements(context):
            if statement.startswith("#"):
                lines.append(STATEMENT_INDENT + statement)
            else:
                lines.append(yaml_item(statement))
    return lines


def one_step_patterns() -> list[str]:
    """The regexes of the rules' single steps that replace a match by a marker.

    Steps that mark, unmark or remove (private-use sentinels in the regex or the
    replacement, or an empty replacement) are not whole rules and are left out.
    """
    text_rules: list[tuple[str, str, list[tuple[str, str]]]] = rules.TEXT_RULES
    return [
        regex
        for _, _, steps in text_rules
        for regex, template in steps
        if not ("\\uE00" in template or "x{E00" in regex or template == "")
    ]


def redaction_section() -> list[str]:
    """The lines of the ``redaction`` processor, its comment first."""
    lines = [
        *REDACTION_COMMENT,
        "  redaction:",
        "    allow_all_keys: true",
        "    redact_all_types: true",
        "    ignored_keys: [user.email]",
        "    summary: silent",
        "    blocked_values:",
    ]
    lines += [yaml_item(regex, BLOCKED_INDENT) for regex in one_step_patterns() + rules.NET_ONLY]
    return lines


def _section(lines: list[str], key: str) -> tuple[int, int]:
    """Where the processor ``key`` is: from its comment lines to its last indented line."""
    found = [index for index, line in enumerate(lines) if line == f"  {key}:"]
    if len(found) != 1:
        raise MissingPart(f"expected one line '  {key}:' under processors, found {len(found)}")
    start = end = found[0]
    while start > 0 and lines[start - 1].startswith("  #"):
        start -= 1
    end += 1
    while end < len(lines) and lines[end].startswith("    "):
        end += 1
    return start, end


def _header(lines: list[str]) -> tuple[int, int]:
    """Where the header's ``# Regexes:`` paragraph is."""
    found = [index for index, line in enumerate(lines) if line.startswith("# Regexes:")]
    if len(found) != 1:
        raise MissingPart(f"expected one header line '# Regexes: ...', found {len(found)}")
    end = found[0] + 1
    while end < len(lines) and lines[end].startswith("# "):
        end += 1
    return found[0], end


def render(config: str) -> str:
    """``config`` with the header paragraph and both sections as this generator writes them.

    Raises:
        MissingPart: A part is missing, found twice, or two parts overlap.
    """
    lines = config.split("\n")
    parts = sorted(
        [
            (*_header(lines), HEADER.split("\n")),
            (*_section(lines, "transform/scrub"), transform_section()),
            (*_section(lines, "redaction"), redaction_section()),
        ]
    )
    out: list[str] = []
    done = 0
    for start, end, new in parts:
        if start < done:
            raise MissingPart("the header and the two sections overlap")
        out += lines[done:start] + new
        done = end
    return "\n".join(out + lines[done:])


def _excerpt(line: str, column: int) -> str:
    """Up to 60 characters of ``line`` either side of ``column``."""
    start = max(0, column - 60)
    prefix = "..." if start else ""
    suffix = "..." if column + 60 < len(line) else ""
    return prefix + line[start : column + 60] + suffix


def first_difference(found: str, expected: str) -> Optional[str]:
    """The first line where ``found`` differs from ``expected``, described; None if none."""
    old, new = found.split("\n"), expected.split("\n")
    for index in range(max(len(old), len(new))):
        have = old[index] if index < len(old) else None
        want = new[index] if index < len(new) else None
        if have == want:
            continue
        if have is None or want is None:
            side = "ends" if have is None else "goes on"
            return f"line {index + 1}: the file {side} where the generator's output does not"
        column = next(
            (i for i, (a, b) in enumerate(zip(have, want)) if a != b), min(len(have), len(want))
        )
        return (
            f"line {index + 1}, column {column + 1}:\n"
            f"  found:    {_excerpt(have, column)}\n"
            f"  expected: {_excerpt(want, column)}"
        )
    return None


def _shown(path: Path) -> str:
    """``path`` relative to the working directory when it is under it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Rewrites (or with ``--check`` checks) the config; returns the exit status."""
    parser = argparse.ArgumentParser(
        description="Writes gateway.yaml's transform/scrub and redaction sections from rules.py."
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1, naming the first difference, if the file is not up to date",
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=DEFAULT_CONFIG,
        metavar="PATH",
        help="the gateway config (default: collector-config/gateway.yaml)",
    )
    args = parser.parse_args(argv)
    path: Path = args.config
    shown = _shown(path)
    # newline="": the file's line ends are kept as they are, and compared as they are
    with path.open(encoding="utf-8", newline="") as stream:
        current = stream.read()
    try:
        expected = render(current)
    except MissingPart as error:
        print(f"{shown}: {error}", file=sys.stderr)
        return 2
    difference = first_difference(current, expected)
    if args.check:
        if difference is None:
            print(f"{shown}: up to date")
            return 0
        print(f"{shown}: not what collector-config/scrub/generate.py writes; first difference at")
        print(difference)
        print("Change rules.py (not the YAML), then run collector-config/scrub/generate.py.")
        return 1
    if difference is None:
        print(f"{shown}: up to date")
        return 0
    with path.open("w", encoding="utf-8", newline="") as stream:
        stream.write(expected)
    print(f"{shown}: rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())
