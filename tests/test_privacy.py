"""Privacy, end to end: generated personal data never arrives; real tracebacks stay intact."""

from __future__ import annotations

import base64
import itertools
import json
import string
import sys
import textwrap

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from otel_telemetry import Telemetry
from otel_telemetry.capture._snapshot import CapturedEvent, capture_exception
from otel_telemetry.pipeline._spans import exception_attributes
from otel_telemetry.scrubbing import Scrubber

pytestmark = pytest.mark.integration

ALNUM = string.ascii_letters + string.digits
HEX = frozenset(string.hexdigits)


def _not_hex(text: str) -> bool:
    # Ids and times vary from report to report and are written in hex or digits: a bare
    # value spelt only with those could be met in a report by chance.
    return not set(text) <= HEX


# Bare values (a token after "Bearer", a secret pair's value) reach a report alone, so
# they have the shape of a credential: long and not a hex number.
token = st.text(alphabet=ALNUM, min_size=12, max_size=24).filter(_not_hex)
word = st.text(alphabet=string.ascii_lowercase, min_size=6, max_size=10)


def _luhn_complete(digits: list[int]) -> str:
    total = 0
    for index, digit in enumerate(reversed(digits)):
        if index % 2 == 0:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    number = "".join(map(str, digits)) + str((10 - total % 10) % 10)
    return " ".join(number[i : i + 4] for i in range(0, 16, 4))


def _iban(bban: str) -> str:
    check = 98 - int("".join(str(int(c, 36)) for c in bban + "DE00")) % 97
    iban = f"DE{check:02d}{bban}"
    return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


# One strategy per kind of personal data: (text to embed, the part that must never arrive).
KINDS = (
    st.emails().filter(lambda e: len(e) >= 10).map(lambda e: (e, e)),
    # Loopback and unspecified addresses name no one and are kept (README).
    st.ip_addresses(v=4)
    .filter(lambda a: not (a.is_loopback or a.is_unspecified))
    .map(str)
    .filter(lambda s: len(s) >= 9)
    .map(lambda s: (s, s)),
    st.ip_addresses(v=6)
    .map(str)
    .filter(lambda s: s.count(":") >= 3 and len(s) >= 10 and "." not in s)
    .map(lambda s: (s, s)),
    st.builds(
        # Up to the query: the whole URL would hide a URL left in place once its token is gone.
        lambda scheme, host, path, secret: (
            f"{scheme}://{host}/{path}?token={secret}",
            f"{scheme}://{host}/{path}",
        ),
        st.sampled_from(["https", "http", "ftp", "s3", "postgres", "redis", "file"]),
        st.from_regex(r"[a-z]{4,10}\.(com|net|internal|example)", fullmatch=True),
        word,
        token,
    ),
    st.builds(
        lambda root, user, rest: (f"{root}{user}/{rest}",) * 2,
        st.sampled_from(["/home/", "/Users/", "C:\\Users\\"]),
        word,
        word,
    ),
    st.lists(st.integers(0, 9), min_size=14, max_size=14)
    .map(lambda ds: _luhn_complete([4, *ds]))
    .map(lambda c: (c, c)),
    st.text(alphabet=string.digits, min_size=18, max_size=18).map(_iban).map(lambda i: (i, i)),
    st.tuples(st.integers(100, 665), st.integers(10, 99), st.integers(1000, 9999)).map(
        lambda t: ("{}-{}-{}".format(*t),) * 2
    ),
    st.binary(min_size=6, max_size=6).map(lambda b: (":".join(f"{x:02x}" for x in b),) * 2),
    token.map(lambda t: (f"Bearer {t}", t)),
    st.tuples(st.binary(min_size=12, max_size=24), st.binary(min_size=12, max_size=24)).map(
        lambda parts: (f"eyJhbGciOiJIUzI1NiJ9.{_b64url(parts[0])}.{_b64url(parts[1])}",) * 2
    ),
    st.binary(min_size=48, max_size=96).map(
        lambda b: (
            (
                f"-----BEGIN RSA PRIVATE KEY-----\n{base64.b64encode(b).decode()}\n-----END RSA PRIVATE KEY-----",
            )
            * 2
        )
    ),
    st.sampled_from(["AKIA", "ASIA"]).map(lambda p: (p + "Q7EXAMPLEKEY1234",) * 2),
    st.builds(lambda t: (f"ghp_{t}{t}{t}",) * 2, st.text(alphabet=ALNUM, min_size=12, max_size=12)),
    st.builds(lambda t: (f"sk-ant-api03-{t}",) * 2, token),
    st.builds(lambda t: (f"xoxb-1234567890-{t}",) * 2, token),
    st.builds(lambda t: (f"sk_live_{t}",) * 2, st.text(alphabet=ALNUM, min_size=24, max_size=24)),
    st.builds(
        lambda key, sep, value: (f"{key}{sep}{value}", value),
        st.sampled_from(
            [
                "password",
                "DB_PASSWORD",
                "api_key",
                "apiKey",
                "secret",
                "auth_token",
                "session_id",
                "csrf",
            ]
        ),
        st.sampled_from(["=", ": ", " = "]),
        token,
    ),
)
# Every kind in every example, each in a place of the report that Hypothesis chooses: a
# scrubbing rule that stopped working cannot hide behind the examples a run happened to
# draw (the CI profile draws the same ones every time).
EVERY_KIND = st.tuples(*KINDS).flatmap(st.permutations)
PLACES = 6  # the six places of one crash and one usage event, see _report


@pytest.fixture
def pipeline(monkeypatch, tmp_path, otlp_http, spotlight):
    monkeypatch.setenv("ACME_TELEMETRY", "all")  # crash reports and usage events
    monkeypatch.setenv("ACME_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("ACME_TELEMETRY_EXPORTER", "otlp,sentry")
    monkeypatch.setenv("ACME_SENTRY_DSN", spotlight.dsn())
    monkeypatch.setenv("ACME_OTLP_ENDPOINT", otlp_http.endpoint)
    # Every generated report must go out: no storm limit for this crash site.
    telemetry = Telemetry(app="acme", package="tests", version="1.0", storm_limit=1000)
    yield telemetry
    telemetry.shutdown()


def _user_module(tmp_path, directory: str, index: int):
    """A frame from the user's own file, in a folder named like personal data."""
    folder = tmp_path / "home" / directory / "project"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"user_module_{index}.py"
    path.write_text("def call(function, *args):\n    return function(*args)\n")
    namespace: dict = {}
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    return namespace["call"]


def _report(telemetry, call, values) -> None:
    """One crash (a chain through the user's code) and one usage event, carrying ``values``."""
    a, b, c, d, e, f = values

    def cause():
        raise LookupError(f"lookup of {a} failed")

    def crash():
        try:
            try:
                call(cause)
            except LookupError as inner:
                raise OSError(f"while reading {b}: gave up") from inner
        except OSError:
            raise ValueError(  # noqa: B904 - an implicit __context__ is what is tested
                f"crawl of {c} failed; see {json.dumps({'detail': {'items': [d]}})}"
            )

    try:
        crash()
    except ValueError as exc:
        telemetry.capture_exception(exc)
    # Queued as send_event would queue it, past its limits (which refuse long text and
    # dicts at the call): whatever an event holds, the worker scrubs it.
    telemetry.pipeline.submit(
        CapturedEvent("crawl_failed", {"note": e, "nested": {"deep": [f]}, "count": 3})
    )


def _requests(receiver, spans: int) -> list:
    """Every request the OTLP receiver got, once ``spans`` reports arrived (batched or not)."""
    receiver.wait_for_spans(spans, timeout=60)
    return list(receiver.requests)


class _Arrived:
    """What the receivers got, searchable as text in every form a value may take there."""

    def __init__(self, otlp_requests, sentry_events) -> None:
        self._bodies = [request.body for request in otlp_requests]
        self._sentry = json.dumps(sentry_events)

    def __contains__(self, value: str) -> bool:
        for form in {value, json.dumps(value)[1:-1]}:
            if form in self._sentry or any(form.encode() in body for body in self._bodies):
                return True
        return False


@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")
def test_generated_personal_data_never_arrives(pipeline, tmp_path, otlp_http, spotlight):
    # The text every report carries whatever the user's data (resource, names, keys, the
    # scrubber's markers): a report made of harmless values. A generated value found in
    # it would "arrive" without any leak, so it is not a test of the scrubber.
    folders = itertools.count()
    _report(pipeline, _user_module(tmp_path, "harmless", next(folders)), ["harmless"] * 6)
    assert pipeline.flush(60)
    background = _Arrived(_requests(otlp_http, 2), spotlight.errors(1, timeout=60))

    sent: list[str] = []
    captured = 0

    @settings(
        max_examples=30, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(values=EVERY_KIND, folder=word)
    def scenario(values, folder):
        nonlocal captured
        secrets = [secret for _, secret in values] + [f"home/{folder}"]
        assume(not any(secret in background for secret in secrets))
        sent.extend(secrets)
        call = _user_module(tmp_path, folder, next(folders))
        places = [", ".join(text for text, _ in values[i::PLACES]) for i in range(PLACES)]
        _report(pipeline, call, places)
        captured += 1

    scenario()
    assert pipeline.flush(120)

    arrived = _Arrived(
        _requests(otlp_http, 2 + captured * 2),
        spotlight.errors(1 + captured, timeout=60),
    )
    leaks = [value for value in sent if value in arrived]
    assert leaks == [], f"{len(leaks)} of {len(sent)} generated values arrived"
    assert len(sent) >= 30 * (len(KINDS) + 1)


def _corpus():
    """Exceptions of the standard library and of installed packages, raised for real."""
    import asyncio
    import base64 as b64
    import datetime
    import decimal
    import importlib
    import ipaddress
    import sqlite3
    import struct
    import subprocess
    import uuid
    import zipfile

    import click
    import pydantic
    import yaml
    from packaging.version import Version

    class Model(pydantic.BaseModel):
        age: int

    async def too_slow():
        await asyncio.wait_for(asyncio.sleep(1), 0.001)

    return [
        lambda: json.loads('{"a": }'),
        lambda: {}["missing"],
        lambda: 1 / 0,
        lambda: int("abc"),
        lambda: [].pop(),
        lambda: "x" + 1,
        lambda: datetime.datetime.strptime("2024-13-01", "%Y-%m-%d"),
        lambda: open("definitely-missing-file.txt"),
        lambda: uuid.UUID("not-a-uuid"),
        lambda: ipaddress.ip_address("not an address"),
        lambda: decimal.Decimal("abc"),
        lambda: struct.unpack("<I", b"ab"),
        lambda: b64.b64decode("abc"),
        lambda: importlib.import_module("no_such_module_anywhere"),
        lambda: object().nope,
        lambda: sorted([1, "a"]),
        lambda: asyncio.run(too_slow()),
        lambda: subprocess.run([sys.executable, "-c", "raise SystemExit(3)"], check=True),
        lambda: zipfile.ZipFile(__import__("io").BytesIO(b"not a zip")),
        lambda: sqlite3.connect(":memory:").execute("SELEC 1"),
        lambda: b"\xff".decode("utf-8"),
        lambda: Model(age="abc"),
        lambda: yaml.safe_load("a: [b"),
        lambda: Version("not a version"),
        lambda: click.Choice(["a", "b"]).convert("c", None, None),
        lambda: textwrap.dedent(None),
    ]


def test_benign_tracebacks_keep_every_detail():
    scrubber = Scrubber()
    false_positives = []
    for make in _corpus():
        try:
            make()
        except Exception as exc:
            captured = capture_exception(exc, "capture_exception", handled=True)
        _, event, status = exception_attributes(captured, packages=("tests",))
        scrub = scrubber.new_pass()
        clean_event = scrub.attributes(event)
        clean_status = scrub.text(status)
        # URLs are never sent, whoever wrote them (pydantic links its docs): not a false positive.
        wrong = {rule: n for rule, n in scrub.counts.items() if rule != "url"}
        if wrong:
            false_positives.append((captured.exceptions[-1].qualname, wrong, status))
        if "url" not in scrub.counts:
            assert clean_event == event
            assert clean_status == status
        before = json.loads(event["otel_telemetry.exception.chain"])
        after = json.loads(clean_event["otel_telemetry.exception.chain"])
        for old, new in zip(before, after):
            assert new["type"] == old["type"]
            assert new["module"] == old["module"]
            assert new["frames"] == old["frames"]  # files, functions, lines, modules, in_app
    print(f"\nbenign corpus: {len(_corpus())} tracebacks, {len(false_positives)} false positives")
    assert false_positives == []
