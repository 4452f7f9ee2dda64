"""The privacy corpus, raised by a real host process and read back at the real receivers.

One host process per receiver raises every message of ``tests/privacy_corpus.py`` from
the host package's own code and reports each with ``capture_exception``; its user's
program (``__main__``) passes two callbacks of its own through the host. What arrived at
the OTLP receiver and at Spotlight (Sentry's protocol) is searched whole: every string of
every payload, JSON inside strings included, and the raw OTLP bodies.

* promised classes (README's and the ones issue 15 adds): no sensitive part arrives;
* out-of-scope classes: counted, in a table printed and written as JSON under ``tmp_path``;
* benign technical messages: at most two arrive changed;
* user code: neither its messages nor its exception class nor its module arrive.
"""

from __future__ import annotations

import json
import os
import re
import sys
import textwrap
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import pytest
from google.protobuf.json_format import MessageToDict

from tests.conftest import clean_host_env, otlp_env, run
from tests.privacy_corpus import (
    BENIGN,
    HOME,
    HOST_EXCEPTIONS,
    HOST_NAME,
    LOGIN_NAME,
    PII,
    RAISES,
    USER_CALLBACK_MESSAGE,
    USER_CLASS,
    USER_CLASS_MESSAGE,
    USER_MODULE,
    USER_SENSITIVE,
    Entry,
)
from tests.receivers.otlp import OtlpHttpReceiver
from tests.receivers.spotlight import SpotlightSidecar

HOST = "corpus_host"
BATCH = 40  # reports between two flushes: the outbox keeps at most 200 waiting reports
USER_CRAWLS = ("crawl_pages", "crawl_pages_strict")  # the host functions that call back
USER_REPORTS = 2 * len(USER_CRAWLS)  # each called with both callbacks of the user


def pii_function(index: int) -> str:
    return f"pii_{index:03d}"


def benign_function(index: int) -> str:
    return f"benign_{index:03d}"


# --- the host package, the user's module and the user's program ---------------------


def _host_package(root: Path) -> None:
    package = root / "src" / HOST
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(
        "from otel_telemetry import Telemetry\n"
        f"telemetry = Telemetry(app='acme', package={HOST!r}, version='2.3.1', "
        "storm_limit=100_000)\n"
    )
    (package / "errors.py").write_text(
        "".join(f"class {name}({base}):\n    pass\n\n\n" for name, base in HOST_EXCEPTIONS.items())
    )
    # One function, so one raise site, per message.
    cases = ["from corpus_host.errors import *  # noqa: F403\n"]
    for index, (kind, _listed, _message, _parts) in enumerate(PII):
        cases.append(f"def {pii_function(index)}(message):\n    raise {RAISES[kind]}(message)\n")
    for index, (exception, _argument) in enumerate(BENIGN):
        cases.append(f"def {benign_function(index)}(message):\n    raise {exception}(message)\n")
    (package / "cases.py").write_text("\n\n".join(cases))
    (package / "runner.py").write_text(
        textwrap.dedent(
            f"""\
            from corpus_host import cases, telemetry
            from corpus_host.errors import CrawlError


            def run_cases(calls):
                flushed = []
                for index, (function, message) in enumerate(calls):
                    try:
                        getattr(cases, function)(message)
                    except Exception as exc:
                        telemetry.capture_exception(exc)
                    if index % {BATCH} == {BATCH - 1}:
                        flushed.append(telemetry.flush(60))
                return flushed


            @telemetry.capture_errors
            def crawl_pages(pages, on_page):
                for page in pages:
                    on_page(page)


            @telemetry.capture_errors
            def crawl_pages_strict(pages, on_page):
                try:
                    for page in pages:
                        on_page(page)
                except Exception as exc:
                    raise CrawlError(f"callback failed for {{len(pages)}} page(s)") from exc
            """
        )
    )


def _user_code(root: Path) -> Path:
    (root / "src" / f"{USER_MODULE}.py").write_text(
        f"class {USER_CLASS}(LookupError):\n    pass\n\n\n"
        f"def fetch_chart(page):\n    raise {USER_CLASS}({USER_CLASS_MESSAGE!r})\n"
    )
    program = root / "app" / "my_app.py"
    program.parent.mkdir()
    program.write_text(
        textwrap.dedent(
            f"""\
            import json
            import socket
            import sys

            # The machine's name, as the host sees it: a personal one, whatever the test
            # machine is called.
            socket.gethostname = lambda: {HOST_NAME!r}

            from {USER_MODULE} import fetch_chart
            from corpus_host import telemetry
            from corpus_host.runner import {", ".join(USER_CRAWLS)}, run_cases


            def on_page(page):
                raise RuntimeError({USER_CALLBACK_MESSAGE!r})


            with open(sys.argv[1], encoding="utf-8") as calls:
                flushed = run_cases(json.load(calls))
            for crawl in ({", ".join(USER_CRAWLS)}):
                for callback in (on_page, fetch_chart):
                    try:
                        crawl(["page-1"], callback)
                    except Exception:
                        pass
            flushed.append(telemetry.flush(60))
            print(json.dumps(flushed))
            """
        )
    )
    return program


def _host_env(root: Path) -> dict[str, str]:
    """As ``host_env`` in conftest (a module's fixture cannot use that one), consented."""
    config = root / "config"
    config.mkdir()
    env = clean_host_env(root / "home", config)
    env.update(
        ACME_TELEMETRY="1",
        PYTHONPATH=os.pathsep.join(filter(None, [str(root / "src"), env.get("PYTHONPATH")])),
        # getpass.getuser() reads these first: this user's login name.
        LOGNAME=LOGIN_NAME,
        USER=LOGIN_NAME,
        USERNAME=LOGIN_NAME,
    )
    return env


def concrete(entry: Entry, home: str) -> Entry:
    """``entry`` with this run's home directory in place of ``HOME``."""
    kind, listed, message, parts = entry
    return kind, listed, message.replace(HOME, home), tuple(p.replace(HOME, home) for p in parts)


# --- what arrived ----------------------------------------------------------------------

_KEY = re.compile(r"\b(pii_\d{3}|benign_\d{3}|crawl_pages_strict|crawl_pages)\b")


@dataclass
class Report:
    """One report as a receiver got it."""

    key: str
    """The host function it was raised in (``pii_012``, ``crawl_pages``...), or ``?``."""
    messages: list[Optional[str]] = field(default_factory=list)
    """The message of the exception raised last, in every field that carries it."""
    strings: list[tuple[str, str]] = field(default_factory=list)
    """``(where, text)`` for every string of the payload."""


@dataclass
class Arrival:
    receiver: str
    corpus: list[Entry]
    reports: list[Report]
    raw: list[bytes]
    """Every OTLP request body as received (empty for Sentry)."""

    def by_key(self) -> dict[str, list[Report]]:
        found: dict[str, list[Report]] = defaultdict(list)
        for report in self.reports:
            found[report.key].append(report)
        return found

    def find(self, part: str) -> list[str]:
        """Where ``part`` arrived: ``<report> <field path>`` for each place."""
        forms = {part, json.dumps(part)[1:-1]}
        places = [
            f"{report.key} {where}"
            for report in self.reports
            for where, text in report.strings
            if any(form in text for form in forms)
        ]
        if not places and any(form.encode() in body for form in forms for body in self.raw):
            places.append("raw OTLP request body")
        return places


def _strings(value: Any, where: str) -> Iterator[tuple[str, str]]:
    """Every string in a decoded payload, with its path; JSON held in strings is opened."""
    if isinstance(value, dict):
        if isinstance(value.get("key"), str) and "value" in value:  # an OTLP attribute
            yield where, value["key"]
            yield from _strings(value["value"], f"{where}[{value['key']}]")
            return
        for key, item in value.items():
            yield f"{where}.<key>", str(key)
            yield from _strings(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, f"{where}[{index}]")
    elif isinstance(value, str):
        yield where, value
        if value.lstrip()[:1] in ("{", "["):
            try:
                inner = json.loads(value)
            except ValueError:
                return
            yield from _strings(inner, f"{where}(json)")


def _key(strings: list[tuple[str, str]]) -> str:
    keys = {match.group(1) for _, text in strings for match in _KEY.finditer(text)}
    # A report of the user's crawl names both crawl functions only if something is wrong.
    return keys.pop() if len(keys) == 1 else "?" if not keys else "+".join(sorted(keys))


def _otlp_reports(receiver: OtlpHttpReceiver) -> list[Report]:
    reports = []
    for received in receiver.requests:
        document = MessageToDict(received.request)
        for r, resource_spans in enumerate(document.get("resourceSpans", [])):
            shared = list(_strings(resource_spans.get("resource", {}), f"resourceSpans[{r}]"))
            for s, scope_spans in enumerate(resource_spans.get("scopeSpans", [])):
                scope = list(_strings(scope_spans.get("scope", {}), f"scopeSpans[{s}].scope"))
                for span in scope_spans.get("spans", []):
                    own = list(_strings(span, "span"))
                    report = Report(_key(own), strings=shared + scope + own)
                    for event in span.get("events", []):
                        attributes = {
                            a["key"]: a["value"].get("stringValue")
                            for a in event.get("attributes", [])
                        }
                        report.messages.append(attributes.get("exception.message"))
                        chain = attributes.get("otel_telemetry.exception.chain")
                        if chain:
                            report.messages.append(json.loads(chain)[-1]["message"])
                    reports.append(report)
    return reports


def _sentry_reports(events: list[dict[str, Any]]) -> list[Report]:
    reports = []
    for event in events:
        strings = list(_strings(event, "event"))
        report = Report(_key(strings), strings=strings)
        values = event.get("exception", {}).get("values", [])
        if values:
            report.messages.append(values[-1].get("value"))
        reports.append(report)
    return reports


def _run_host(root: Path, env: dict[str, str], corpus: list[Entry]) -> None:
    _host_package(root)
    program = _user_code(root)
    calls = [(pii_function(i), message) for i, (_, _, message, _) in enumerate(corpus)]
    calls += [(benign_function(i), argument) for i, (_, argument) in enumerate(BENIGN)]
    calls_file = root / "calls.json"
    calls_file.write_text(json.dumps(calls), encoding="utf-8")
    result = run([sys.executable, str(program), str(calls_file)], env)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    flushed = json.loads(result.stdout)
    assert flushed, result.stderr
    assert all(flushed), f"a flush ran out of time: {flushed}\n{result.stderr}"


EXPECTED_REPORTS = len(PII) + len(BENIGN) + USER_REPORTS


@pytest.fixture(scope="module", params=["otlp", "sentry"])
def arrival(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Arrival:
    """Every report of one host run, as the receiver named by the parameter got it."""
    receiver: str = request.param
    root = tmp_path_factory.mktemp(f"corpus-{receiver}")
    env = _host_env(root)
    corpus = [concrete(entry, env["HOME"]) for entry in PII]
    if receiver == "otlp":
        with OtlpHttpReceiver() as otlp:
            _run_host(root, otlp_env(env, otlp), corpus)
            otlp.wait_for_spans(EXPECTED_REPORTS, timeout=60)
            return Arrival(receiver, corpus, _otlp_reports(otlp), [r.body for r in otlp.requests])
    sidecar = SpotlightSidecar()
    try:
        env.update(ACME_TELEMETRY_EXPORTER="sentry", ACME_SENTRY_DSN=sidecar.dsn())
        _run_host(root, env, corpus)
        events = sidecar.errors(EXPECTED_REPORTS, timeout=60)
    finally:
        sidecar.close()
    return Arrival(receiver, corpus, _sentry_reports(events), [])


# --- the tests -----------------------------------------------------------------------


def _scope(listed: Optional[bool]) -> str:
    return {True: "README", False: "issue 15", None: "out of scope"}[listed]


def _short(text: str, width: int = 70) -> str:
    text = text.replace("\n", "\\n")
    return text if len(text) <= width else text[: width - 3] + "..."


@dataclass
class Leak:
    kind: str
    listed: Optional[bool]
    message: str
    part: str
    places: list[str]


def _leaks(arrival: Arrival) -> list[Leak]:
    return [
        Leak(kind, listed, message, part, places)
        for kind, listed, message, parts in arrival.corpus
        for part in parts
        for places in [arrival.find(part)]
        if places
    ]


def _missing(arrival: Arrival) -> list[str]:
    found = arrival.by_key()
    expected = [pii_function(i) for i in range(len(PII))]
    expected += [benign_function(i) for i in range(len(BENIGN))]
    missing = [
        f"{key} x{len(found.get(key, []))}" for key in expected if len(found.get(key, [])) != 1
    ]
    missing += [
        f"{crawl} x{len(found.get(crawl, []))}"
        for crawl in USER_CRAWLS
        if len(found.get(crawl, [])) != USER_REPORTS // 2
    ]
    known = {*expected, *USER_CRAWLS}
    return missing + [f"unidentified report {r.key}" for r in arrival.reports if r.key not in known]


@pytest.mark.integration
def test_every_message_gives_exactly_one_report(arrival: Arrival) -> None:
    # A report that did not arrive cannot leak: the other tests mean something only if all did.
    assert _missing(arrival) == []
    assert len(arrival.reports) == EXPECTED_REPORTS


@pytest.mark.integration
def test_promised_classes_never_arrive(arrival: Arrival) -> None:
    leaks = [leak for leak in _leaks(arrival) if leak.listed is not None]
    lines = [
        f"  {leak.kind} ({_scope(leak.listed)}): {leak.part!r} of {_short(leak.message)!r}\n"
        f"      found in {'; '.join(leak.places[:3])}"
        for leak in leaks
    ]
    leaked_cases = {(leak.kind, leak.message) for leak in leaks}
    promised = [e for e in arrival.corpus if e[1] is not None]
    assert not leaks, (
        f"{arrival.receiver}: {len(leaked_cases)} of {len(promised)} messages of promised "
        f"classes leaked {len(leaks)} sensitive parts:\n" + "\n".join(lines)
    )
    assert _missing(arrival) == []


@pytest.mark.integration
def test_leaks_are_tabled_by_class(arrival: Arrival, tmp_path: Path) -> None:
    leaks = _leaks(arrival)
    table: dict[str, dict[str, Any]] = {}
    for kind, listed, message, _parts in arrival.corpus:
        row = table.setdefault(
            kind, {"scope": _scope(listed), "messages": 0, "leaked": 0, "samples": []}
        )
        row["messages"] += 1
        leaked = [leak for leak in leaks if leak.message == message]
        if leaked:
            row["leaked"] += 1
            row["samples"].append(
                {"message": message, "parts": [leak.part for leak in leaked],
                 "where": sorted({p for leak in leaked for p in leak.places})}
            )  # fmt: skip
    out = tmp_path / f"privacy-corpus-{arrival.receiver}.json"
    out.write_text(json.dumps(table, indent=2, ensure_ascii=False), encoding="utf-8")
    print(f"\nprivacy corpus at {arrival.receiver}: leaks by class (also in {out.name})")
    print(f"  {'class':<20} {'scope':<13} {'leaked':>9}")
    for kind, row in table.items():
        print(f"  {kind:<20} {row['scope']:<13} {row['leaked']:>4} of {row['messages']:<2}")
        if row["scope"] == "out of scope":
            for sample in row["samples"]:
                print(f"      {_short(sample['message'])}")

    assert sum(row["messages"] for row in table.values()) == len(PII)
    assert _missing(arrival) == []  # a class with no report would read as "no leak"


@pytest.mark.integration
def test_benign_messages_arrive_unchanged(arrival: Arrival) -> None:
    import builtins

    found = arrival.by_key()
    changed = []
    for index, (exception, argument) in enumerate(BENIGN):
        expected = str(getattr(builtins, exception)(argument))
        for report in found.get(benign_function(index), []):
            arrived = [m for m in report.messages if m != expected]
            if arrived or not report.messages:
                changed.append(f"  {expected!r}\n    arrived as {arrived or 'nothing'!r}")
    print(f"\nbenign messages changed at {arrival.receiver}: {len(changed)} of {len(BENIGN)}")
    print("\n".join(changed))
    assert len(changed) <= 2, f"{len(changed)} of {len(BENIGN)} changed:\n" + "\n".join(changed)
    assert _missing(arrival) == []


@pytest.mark.integration
def test_user_code_keeps_only_its_shape(arrival: Arrival) -> None:
    found = arrival.by_key()
    user_reports = [r for crawl in USER_CRAWLS for r in found.get(crawl, [])]
    assert len(user_reports) == USER_REPORTS
    leaks = {part: arrival.find(part) for part in USER_SENSITIVE}
    leaks = {part: places for part, places in leaks.items() if places}
    assert not leaks, f"{arrival.receiver}: the user's code arrived:\n" + "\n".join(
        f"  {part!r} in {'; '.join(places[:4])}" for part, places in leaks.items()
    )


# --- the corpus itself (in-process) ---------------------------------------------------


def _luhn(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        digit = int(char) * (2 if index % 2 else 1)
        total += digit - 9 if digit > 9 else digit
    return total % 10 == 0


def _iban(text: str) -> bool:
    compact = text.replace(" ", "")
    moved = compact[4:] + compact[:4]
    return int("".join(str(int(char, 36)) for char in moved)) % 97 == 1


ISSUE_SPELLINGS = (
    "server 10.",
    "dev 172.",
    "env=10.",
    "userPassword=",
    "accessToken=",
    "PGPASSWORD=",
    'password = "correct horse',
    "\\n-----END PRIVATE KEY-----",
    '"type": "service_account"',
    '"pan": 4012888888881881',
    "jürgen.müller@",
    "@bücher-café.example",
    "%40example.org",
    "c:\\users\\",
    "/mnt/c/Users/",
    "/var/home/",
    "/export/home/",
    "+44 20 7946 0958",
    "\\\\fileserver01\\users\\grace\\",
    "build-07.corp.example.com",
    "ip-172-31-22-33.us-west-2.compute.internal",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "glpat-",
    "hf_",
    "npm_",
    "ssh-rsa AAAA",
    "-----BEGIN PGP PRIVATE KEY BLOCK-----",
    "host=db.internal user=bob",
    "'customer-ACME-4411' is not a valid CacheMode",
    "No such file or directory: 'q3-results.xlsx'",
    "{'name': 'Grace Hopper', 'plan': 'pro'}",
)


def test_corpus_covers_what_issue_15_asks() -> None:
    messages = [message for _, _, message, _ in PII]
    kinds = {kind for kind, _, _, _ in PII}
    assert len(PII) >= 110
    assert len(kinds) >= 32
    assert len(BENIGN) >= 55
    assert {listed for _, listed, _, _ in PII} == {True, False, None}
    assert kinds == set(RAISES)
    missing = [s for s in ISSUE_SPELLINGS if not any(s in m for m in messages)]
    assert missing == []
    assert any(str(KeyError(a)) == "'raw_markdown'" for e, a in BENIGN if e == "KeyError")


def test_every_sensitive_part_is_in_its_message_and_nowhere_else() -> None:
    """A part found at a receiver must come from its own message: each is unique to it."""
    benign = [argument for _, argument in BENIGN]
    harness = [HOST, *USER_CRAWLS, "acme", "2.3.1", "page-1", "callback failed for"]
    for kind, _listed, message, parts in PII:
        assert parts, message
        for part in parts:
            assert part in message, (kind, part)
            assert len(part) >= 5, (kind, part)
            others = [m for _, _, m, p in PII if part in m and m != message and part not in p]
            assert others == [], (part, others)
            assert not [b for b in benign if part in b], part
            assert not [h for h in harness if part in h], part
    for part in USER_SENSITIVE:
        assert not [m for _, _, m, _ in PII if part in m], part
        assert not [b for b in benign if part in b], part


def test_cards_and_ibans_of_the_corpus_are_valid() -> None:
    # An invalid number would be left alone rightly, and read as a leak.
    for kind, _listed, _message, parts in PII:
        if kind == "card":
            assert _luhn(re.sub(r"\D", "", parts[0])), parts[0]
        if kind == "iban":
            assert _iban(parts[0]), parts[0]
