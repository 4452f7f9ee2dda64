"""Replacements keep their neighbours: the text around a match arrives as it was.

Every sample of every rule is put between neighbours of the kinds that stand next to
personal data in an exception message (spaces, quotes, brackets, punctuation, words),
and only that rule is on: what comes out is the left neighbour, the replacement, then
the right neighbour, character for character.
"""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from otel_telemetry.scrubbing import RULES, Scrubber, ScrubbingOptions
from otel_telemetry.scrubbing._rules import RULE_TABLE, SAMPLE_IDENTITY

# Words that change what follows them (a version number is no address): not neighbours.
CONTEXT_WORDS = {"v", "ver", "version", "release"}

word = st.from_regex(r"[a-z]{1,8}", fullmatch=True).filter(lambda w: w not in CONTEXT_WORDS)
# What may stand before a sample: an opening bracket or quote, a separator, or a word and
# a space ("to alice@x.example"). After it: a closing bracket or quote, punctuation that
# ends a clause or a sentence, or a space and a word. A semicolon stands before with a
# space: one glued to a key opens a list of pairs (";Password=Pass word1;"), whose value
# runs to the next semicolon, spaces and all.
LEFT = st.lists(
    st.sampled_from([" ", "(", "[", "{", "<", "'", '"', ",", "; ", "!", "?", "="])
    | word.map(lambda w: w + " "),
    max_size=4,
).map("".join)
RIGHT = st.lists(
    st.sampled_from([" ", ")", "]", "}", ">", "'", '"', ",", ";", ":", ".", "!", "?"])
    | word.map(lambda w: " " + w),
    max_size=4,
).map("".join)

SCRUBBERS = {
    rule.name: Scrubber(
        ScrubbingOptions(disabled_rules=[other for other in RULES if other != rule.name]),
        home=SAMPLE_IDENTITY.home,
        user=SAMPLE_IDENTITY.user,
        host=SAMPLE_IDENTITY.host,
    )
    for rule in RULE_TABLE
}
SAMPLES = [
    pytest.param(rule.name, sample, id=f"{rule.name}-{index}")
    for rule in RULE_TABLE
    for index, sample in enumerate(rule.samples)
]


@pytest.mark.parametrize(("name", "sample"), SAMPLES)
@settings(max_examples=60)
@given(left=LEFT, right=RIGHT)
def test_the_text_around_a_match_is_kept(name, sample, left, right):
    # A neighbour that is itself personal data (" a::" is an IPv6 address) is not a
    # neighbour to keep.
    assume(SCRUBBERS[name].new_pass().text(left) == left)
    assume(SCRUBBERS[name].new_pass().text(right) == right)
    scrub = SCRUBBERS[name].new_pass()
    scrubbed = scrub.text(left + sample + right)
    assert scrubbed.startswith(left), (left, sample, right, scrubbed)
    assert scrubbed.endswith(right), (left, sample, right, scrubbed)
    middle = scrubbed[len(left) : len(scrubbed) - len(right)]
    assert middle != sample, (left, sample, right, scrubbed)
    assert scrub.counts == {name: 1}


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        # The examples of the issue, with every rule on.
        ("'alice@corp.example' is not allowed", "'[email]' is not allowed"),
        ("open (/home/alice/x.txt).", "open ([path])."),
        ("see https://example.org/a?b=c, then retry", "see [url], then retry"),
        ('password="two words", retry', 'password="[redacted]", retry'),
        ("[fe80::1%eth0].", "[[ip]]."),
        ("<+44 20 7946 0958>", "<[phone]>"),
    ],
)
def test_examples_keep_their_neighbours(raw, clean):
    scrubber = Scrubber(
        home=SAMPLE_IDENTITY.home, user=SAMPLE_IDENTITY.user, host=SAMPLE_IDENTITY.host
    )
    assert scrubber.new_pass().text(raw) == clean
