"""The basic scrubber (the privacy issue extends the rules)."""

from __future__ import annotations

import json

import pytest

from otel_telemetry import ScrubbingOptions
from otel_telemetry._scrubbing import Scrubber

HOME = "/var/lib/builder"


@pytest.fixture
def scrub():
    return Scrubber(home=HOME).new_pass()


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("mail bob.smith+x@corp.example.co.uk now", "mail [email] now"),
        ("get https://u:p@host.example/a?b=c#d failed", "get [url] failed"),
        ("db postgres://admin:pw@10.0.0.1:5432/app", "db [url]"),
        ("open /home/alice/projects/x.py", "open [path]"),
        ("open /Users/bob/Library/x", "open [path]"),
        (r"open C:\Users\carol\AppData\x.txt", "open [path]"),
        (f"cache {HOME}/.cache/acme", "cache [path]"),
        (f"cwd {HOME}", "cwd [path]"),
        ("/var/lib/builder2/other stays", "/var/lib/builder2/other stays"),
        ("version 1.2.3 and ValueError stay", "version 1.2.3 and ValueError stay"),
    ],
)
def test_rules(scrub, raw, clean):
    assert scrub.text(raw) == clean


def test_json_strings_are_scrubbed_inside_and_stay_valid(scrub):
    raw = json.dumps({"msg": 'see "https://x.example/a" by a@b.io', "a@b.io": [1, "/home/z/f"]})
    assert json.loads(scrub.text(raw)) == {
        "msg": 'see "[url]" by [email]',
        "[email]": [1, "[path]"],
    }


def test_counts_per_rule(scrub):
    scrub.text("a@b.io c@d.io https://e.example")
    assert scrub.counts == {"email": 2, "url": 1}


def test_attributes_keys_values_and_sequences(scrub):
    assert scrub.attributes({"user a@b.io": ("x@y.io", 3), "n": 1}) == {
        "user [email]": ("[email]", 3),
        "n": 1,
    }


def test_options_extra_allow_disabled_and_callback():
    options = ScrubbingOptions(
        extra_patterns=[r"ticket-\d+"],
        allow_patterns=[r"support@acme\.example"],
        disabled_rules=["path"],
        callback=lambda match: "<mail>" if match.rule == "email" else None,
    )
    scrub = Scrubber(options, home=HOME).new_pass()
    assert scrub.text("ticket-42 support@acme.example x@y.io /home/a/b") == (
        "[redacted] support@acme.example <mail> /home/a/b"
    )


@pytest.mark.timeout(60)  # a hang guard against catastrophic backtracking, not a speed test
@pytest.mark.parametrize(
    ("adversarial", "expected"),
    [
        ("a" * 100_000, "a" * 100_000),
        ("a@" * 50_000, "a@" * 50_000),
        ("a.a@" * 25_000 + "b", "a.a@" * 25_000 + "b"),
        ("/home/" * 20_000, "/home/" * 20_000),
        ("/home/u" * 20_000, "[path]"),
    ],
)
def test_long_adversarial_inputs(scrub, adversarial, expected):
    assert scrub.text(adversarial) == expected
