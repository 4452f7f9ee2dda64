"""The rules table: every row fires on its samples, spares its non-samples, has a trigger."""

from __future__ import annotations

import pytest

from otel_telemetry.scrubbing import RULES, Scrubber, ScrubbingOptions, ScrubPass, _scrubber
from otel_telemetry.scrubbing._rules import (
    RULE_TABLE,
    SAMPLE_IDENTITY,
    SECRET_PAIR,
    SECRET_WORDS,
    Identity,
    Rule,
    RuleError,
    is_secret_key,
    names_secret,
    validate_rules,
)
from tests.timing import growth

IDENTITY = {
    "home": SAMPLE_IDENTITY.home,
    "user": SAMPLE_IDENTITY.user,
    "host": SAMPLE_IDENTITY.host,
}
BY_NAME = {rule.name: rule for rule in RULE_TABLE}


def scrubber(disabled):
    return Scrubber(ScrubbingOptions(disabled_rules=disabled), **IDENTITY)


def only(name):
    """A pass of a scrubber with no rule on but ``name``."""
    return scrubber([other for other in RULES if other != name]).new_pass()


def cases(attribute):
    return [
        pytest.param(rule.name, text, id=f"{rule.name}-{index}")
        for rule in RULE_TABLE
        for index, text in enumerate(getattr(rule, attribute))
    ]


def test_the_public_rule_names_are_the_table_rows_in_order():
    # The table's rows come first, in order; rules applied outside the table (the value
    # rule of exception messages) follow them.
    names = tuple(rule.name for rule in RULE_TABLE)
    assert RULES[: len(names)] == names
    assert len(set(RULES)) == len(RULES)
    assert all(isinstance(name, str) for name in RULES)


@pytest.mark.parametrize(("name", "sample"), cases("samples"))
def test_each_sample_is_replaced_by_its_rule_alone(name, sample):
    rule = BY_NAME[name]
    scrub = only(name)
    scrubbed = scrub.text(sample)
    if rule.replace is None:
        assert scrubbed == rule.marker
    else:  # the replacement keeps some of the sample (a secret's key), never all of it
        assert rule.marker in scrubbed
        assert scrubbed != sample
    assert set(scrub.counts) == {name}


@pytest.mark.parametrize(("name", "sample"), cases("samples"))
def test_each_sample_is_replaced_inside_a_message(name, sample):
    scrub = only(name)
    text = f"could not fetch {sample} after 3 retries"
    scrubbed = scrub.text(text)
    assert BY_NAME[name].marker in scrubbed
    assert scrubbed != text
    assert set(scrub.counts) == {name}


@pytest.mark.parametrize(("name", "sample"), cases("samples"))
def test_each_sample_survives_when_its_rule_is_off(name, sample):
    scrub = scrubber(RULES).new_pass()
    assert scrub.text(sample) == sample
    assert scrub.counts == {}
    scrub = scrubber([name]).new_pass()
    scrub.text(sample)  # other rules may take it: "https://u:p@host" holds an email
    assert name not in scrub.counts


@pytest.mark.parametrize(("name", "text"), cases("non_samples"))
def test_each_non_sample_is_left_alone(name, text):
    scrub = only(name)
    assert scrub.text(text) == text
    assert scrub.counts == {}


UUID = Rule(
    "uuid",
    r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b",
    "[uuid]",
    samples=("123e4567-e89b-12d3-a456-426614174000",),
)


def test_a_rule_without_a_trigger_is_refused():
    with pytest.raises(RuleError, match="'uuid' has no trigger"):
        validate_rules((*RULE_TABLE, UUID))


def test_a_rule_with_a_trigger_fires(monkeypatch):
    uuid = Rule(
        UUID.name,
        UUID.pattern,
        UUID.marker,
        trigger=("[-]", r"(?<=[0-9a-f]{4}-)[0-9a-f]{4}-[0-9a-f]{4}-"),
        samples=UUID.samples,
    )
    monkeypatch.setattr(_scrubber, "RULE_TABLE", validate_rules((*RULE_TABLE, uuid)))
    scrub = Scrubber(**IDENTITY).new_pass()
    assert scrub.text(f"job {UUID.samples[0]} failed") == "job [uuid] failed"
    assert scrub.counts == {"uuid": 1}


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (Rule("ipv4", "x", "[x]", literals=("x",), samples=("x",)), "used twice"),
        (Rule("extra_1", "x", "[x]", literals=("x",), samples=("x",)), "identifier"),
        (Rule("a-b", "x", "[x]", literals=("x",), samples=("x",)), "identifier"),
        (Rule("nomarker", "x", "", literals=("x",), samples=("x",)), "no marker"),
        (Rule("nopattern", "", "[x]", literals=("x",), samples=("x",)), "no pattern"),
        (Rule("nosamples", "x", "[x]", literals=("x",)), "no samples"),
        (Rule("emptyliteral", "x", "[x]", literals=("",), samples=("x",)), "empty literal"),
        (Rule("upper", "x", "[x]", words=("X",), samples=("x",)), "lower-case"),
        (Rule("anchor", "x", "[x]", trigger=("ab", "c"), samples=("x",)), "anchor"),
        (Rule("rest", "x", "[x]", trigger=(r"\d", ""), samples=("x",)), "anchor"),
    ],
    ids=lambda value: value.name if isinstance(value, Rule) else value,
)
def test_malformed_rows_are_refused(rule, message):
    with pytest.raises(RuleError, match=message):
        validate_rules((*RULE_TABLE, rule))


def test_a_personal_pattern_without_literals_is_refused():
    rule = Rule("me", "", "[me]", personal=lambda identity: ("me", ()), samples=("me",))
    validate_rules((rule,))
    with pytest.raises(RuleError, match="without literals"):
        rule.resolve(Identity())


def test_personal_rules_are_left_out_when_there_is_nothing_personal():
    assert BY_NAME["user"].resolve(Identity(user="root")) == ("", ())
    assert BY_NAME["path"].resolve(Identity(home="/home")) == (
        BY_NAME["path"].pattern,
        BY_NAME["path"].literals,
    )


def spellings(word):
    return {word.replace(" ", separator) for separator in ("", "_", "-", ".")}


@pytest.mark.parametrize("word", SECRET_WORDS)
def test_every_secret_word_is_a_secret_key_pair_and_hint(word):
    """The key test, the pair pattern and the precheck all come from SECRET_WORDS."""
    for spelling in spellings(word) | {word}:
        for key in (spelling, spelling.upper(), f"db_{spelling}_id"):
            assert names_secret(key), key
            assert is_secret_key(key), key
    for spelling in spellings(word):
        scrub = only(SECRET_PAIR)
        assert scrub.text(f"{spelling}=hunter2 rest") == f"{spelling}=[redacted] rest"
        assert scrub.counts == {SECRET_PAIR: 1}
        assert scrub.attributes({spelling: "hunter2"}) == {spelling: "[redacted]"}


def test_pass_is_a_secret_word_only_as_a_whole_word():
    for key in ("pass", "db_pass", "dbPass", "DB_PASS", "pass.word", "passphrase", "JSESSIONID"):
        assert is_secret_key(key), key
    for key in ("bypass", "compass", "passenger", "passed", "BYPASS"):
        assert not is_secret_key(key), key


def test_a_setting_about_a_secret_is_not_a_secret():
    for key in ("token_count", "SESSION_TIMEOUT", "password_min_length", "auth_enabled"):
        assert not is_secret_key(key), key
        assert only(SECRET_PAIR).text(f"{key}=8") == f"{key}=8"
    assert not is_secret_key("tokenCount")
    assert is_secret_key("session_id")
    assert is_secret_key("countersign_token")


def test_words_outside_the_secret_words_are_not_secret():
    for key in ("author", "authored_by", "pin", "name", "keyboard"):
        assert not is_secret_key(key), key
    assert is_secret_key("authorization")
    assert only(SECRET_PAIR).text("author=Jane pin=1234") == "author=Jane pin=1234"


# Inputs that make each rule of the table start, and fail, as often as possible.
ADVERSARIAL = {
    "phone": "+1 ",
    "phone digits": "+1234567 ",
    "phone groups": "(+1) 2-",
    "unc": "\\\\a\\",
    "unc doubled": "\\\\\\\\ab\\\\",
    "internal labels": "a.a ",
    "internal labels glued": "a.b.lan_",
    "quoted secret": 'password="',
    "quoted secret, open": "password='a ",
    "semicolon secret": "x;password=",
    "camelCase secret": "userPassword:",
    "glued secret": "PGPASSWORD",
    "prose after a key": "Token: The a",
    "pgp": "-----BEGIN PGP MESSAGE-----",
    "pem with spaces": "-----BEGIN PRIVATE KEY----- ",
    "ssh": "ssh-rsa AAAA",
    "base64 run": "Ab1/",
    "base64 words": "Ab1+x ",
    "encoded at": "a%40",
    "non-ascii at": "é@",
    "email labels": "a@" + "a." * 200,
    "email delimiters": "a{=@",
    "user keys": "user=",
    "user values": "user=a",
    "tilde": "~a",
    "wsl": "/mnt/c/Users/",
    "windows": "c:\\users\\",
    "cisco mac": "0000.0000.",
    "versions": "1.2.3.4 ",
    "flag secret": "--password ",
    "secret before a quote": "password '",
    "secret before an open quote": "password 'a ",
    "setting keys": "token_count_",
    "putty lines": "PuTTY-User-Key-File-2: a\nB: c\nAAAA",
    "putty short lines": "PuTTY-User-Key-File-2: a\nab",
    "escaped at": "a\\u0040",
    "entity at": "a&#64;",
    "spaces in a windows path": "c:\\users\\a ",
    "mounted homes": "/nfs/home",
    "slash unc": "//a/",
    "dotted card": "4111.1111.",
    "spaced ssn": "123 45 ",
    "dashed iban": "GB82-",
}


@pytest.mark.timeout(240)  # a hang guard against catastrophic backtracking, not a speed test
@pytest.mark.parametrize("name", ADVERSARIAL)
def test_adversarial_inputs_scrub_in_linear_time(name):
    """5x the input takes about 5x the time (CPU time, best of 5), never 25x."""
    assert not growth(Scrubber(**IDENTITY), ADVERSARIAL[name], ScrubPass.text)


def test_readme_names_every_rule_with_an_example():
    """README's table of rules is the users' list: a rule missing there is a rule unknown."""
    from pathlib import Path

    from otel_telemetry.scrubbing import RULES

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("| rule | what it finds") :]
    table = table[: table.index("\n\n")]
    named = {name for row in table.splitlines()[2:] for name in row.split("|")[1].split("`")[1::2]}
    assert named == set(RULES)
