"""The scrubber: applies the rules table to every string of a report.

The rules are the rows of :data:`~otel_telemetry.scrubbing._rules.RULE_TABLE` (see
there how to add one). Each replaces only what it matches with its marker (``[email]``,
``[ip]``, ``[url]``, ...). The rules in force are alternatives of one regular
expression, so a string is scanned once, and only the rules whose trigger the string
meets are in that expression: most strings of a crash report meet none and are not
scanned at all. Every pattern starts at a literal, a word boundary or a lookbehind, and
repeats only bounded or anchor-free classes, so scrubbing time is linear in the length
of the text. Candidates that only a computation can confirm (Luhn checksums, IP
addresses) are checked by the rule's ``confirm``.

Strings that hold JSON are parsed, scrubbed value by value and written back, so a
replacement can never break an escape sequence, and a value whose key names a secret is
replaced whole, as in attribute mappings.

Numbers are scrubbed too, as their decimal text (a card number passed as an ``int`` or a
``float`` is still a card number): a number that no rule changes is kept as the number,
one that a rule changes becomes the scrubbed text (``"[card]"``). Booleans are kept.
Any other value (bytes, an object) is scrubbed as its ``str``: nothing leaves unscrubbed.

Exception messages and stack text get one rule more, after the table's: ``value``
(``_values.py``), which replaces data quoted or repr'd in them with ``[value]``
(:meth:`ScrubPass.message`, :meth:`ScrubPass.stacktrace`). Other strings (attribute
values, usage-event properties, span names) are short typed values, not prose, and do
not get it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from ._rules import REDACTED, RULE_TABLE, SECRET_PAIR, Identity, Rule
from ._rules import is_secret_key as _is_secret_key
from ._values import HAS_VALUE, VALUE, Span, find_values, find_values_in_stack
from ._values import NAME as VALUE_RULE

__all__ = [
    "REDACTED",
    "RULES",
    "VALUE",
    "ScrubMatch",
    "ScrubPass",
    "Scrubber",
    "ScrubbingOptions",
]

RULES: tuple[str, ...] = (*(rule.name for rule in RULE_TABLE), VALUE_RULE)
"""The names of the built-in rules, in the order they are tried; ``value``, which only
exception messages and stack text get, comes last."""


@dataclass(frozen=True)
class ScrubMatch:
    """One match, as shown to :attr:`ScrubbingOptions.callback`."""

    rule: str
    """The rule that matched: one of :data:`RULES`, or ``extra``."""
    text: str
    """The matched text."""


@dataclass
class ScrubbingOptions:
    """How reports are scrubbed; every built-in rule is on by default.

    ``Telemetry(scrubbing=...)`` checks and copies the options: an unknown rule name, a
    pattern that does not compile or a field of the wrong type is dropped with one
    warning naming the field, so no option can make reports fail to scrub later.
    """

    extra_patterns: Sequence[str] = ()
    """More regular expressions whose matches are replaced with ``[redacted]``."""

    allow_patterns: Sequence[str] = ()
    """Regular expressions for text kept as it is, even where a rule matches all of it."""

    disabled_rules: Collection[str] = ()
    """Names of built-in rules to switch off (see :data:`RULES`), such as ``"ipv4"``."""

    callback: Optional[Callable[[ScrubMatch], Optional[str]]] = None
    """Called for every match: return the replacement text, or None to use the marker.

    A match of the ``value`` rule is the text between a literal's quotes (which stay)
    or a whole repr."""

    keep_values: bool = False
    """Keep the values quoted or repr'd in exception messages and stack text (switches
    the ``value`` rule off, as ``disabled_rules=["value"]`` does)."""


class Scrubber:
    """Applies the rules of a :class:`ScrubbingOptions` to text and attribute values.

    Args:
        options: the options; all rules on by default.
        home: this user's home directory (``~`` by default).
        user: this user's login name (the current one by default).
        host: this machine's name (the current one by default).
    """

    def __init__(
        self,
        options: Optional[ScrubbingOptions] = None,
        *,
        home: Optional[str] = None,
        user: Optional[str] = None,
        host: Optional[str] = None,
    ) -> None:
        self.options = options or ScrubbingOptions()
        unknown = set(self.options.disabled_rules) - set(RULES)
        if unknown:
            raise ValueError(f"unknown scrubbing rules: {', '.join(sorted(unknown))}")
        self._home, self._user, self._host = home, user, host
        self._compiled: Optional[_Compiled] = None
        self.scrubs_values = not (
            self.options.keep_values or VALUE_RULE in self.options.disabled_rules
        )
        """Whether the ``value`` rule is on."""
        # Text made of these was scrubbed already: the value rule keeps it.
        self.markers = frozenset({REDACTED, *(rule.marker for rule in RULE_TABLE)})

    def new_pass(self) -> ScrubPass:
        """Start scrubbing one report; the pass counts what each rule replaced."""
        return ScrubPass(self, self._compile())

    def _compile(self) -> _Compiled:
        # Deferred to the first report, so that creating a Telemetry compiles nothing.
        if self._compiled is None:
            self._compiled = _compile(
                RULE_TABLE,
                self.options,
                Identity(home=self._home, user=self._user, host=self._host),
            )
        return self._compiled


def _compile(table: Sequence[Rule], options: ScrubbingOptions, identity: Identity) -> _Compiled:
    """The rules of ``table`` that ``options`` leave on, ready to scrub with."""
    disabled = set(options.disabled_rules)
    fragments = {f"extra_{i}": pattern for i, pattern in enumerate(options.extra_patterns)}
    in_force: dict[str, Rule] = {}
    literal_rules: dict[str, tuple[str, ...]] = {}
    groups: dict[str, dict[str, str]] = {}  # anchor: {rule: what follows the anchor}
    word_rules: list[tuple[str, tuple[str, ...]]] = []
    for rule in table:
        if rule.name in disabled:
            continue
        pattern, literals = rule.resolve(identity)
        if not pattern:
            continue
        fragments[rule.name] = pattern
        in_force[rule.name] = rule
        for literal in literals:
            literal_rules[literal] = (*literal_rules.get(literal, ()), rule.name)
        if rule.trigger is not None:
            anchor, rest = rule.trigger
            groups.setdefault(anchor, {})[rule.name] = rest
        if rule.words:
            word_rules.append((rule.name, rule.words))
    # Rules that share an anchor are one pattern, which the regex engine skips through
    # quickly to the anchor's characters; each rule's own pattern then tells which of them
    # the text may hold.
    rule_triggers = {
        name: re.compile(anchor + rest)
        for anchor, rests in groups.items()
        for name, rest in rests.items()
    }
    grouped = []
    classes, branches = [], []
    for anchor, rests in groups.items():
        alternatives = "|".join(rests.values())
        grouped.append((re.compile(f"{anchor}(?:{alternatives})"), tuple(rests)))
        classes.append(anchor[1:-1] if anchor.startswith("[") else anchor)
        branches.append(f"(?<={anchor})(?:{alternatives})")
    # All groups in one scan: one class of every anchor, then the group of the anchor.
    combined = re.compile(f"[{_union(classes)}](?:{'|'.join(branches)})") if classes else None
    # Longest first, so that an alternation finds "github_pat_" before "gh".
    every_literal = sorted(literal_rules, key=len, reverse=True)
    return _Compiled(
        fragments=fragments,
        rules=in_force,
        allow=tuple(re.compile(p) for p in options.allow_patterns),
        literals=re.compile("|".join(re.escape(x) for x in every_literal))
        if every_literal
        else None,
        literal_rules=literal_rules,
        grouped=tuple(grouped),
        combined=combined,
        rule_triggers=rule_triggers,
        word_rules=tuple(word_rules),
        words=tuple(dict.fromkeys(word for _, words in word_rules for word in words)),
        secret_keys=SECRET_PAIR in in_force,
        always=bool(options.extra_patterns),  # no cheap condition for those
        small_numbers_plain=not options.extra_patterns
        and not any(literal.isdigit() for literal in literal_rules),
    )


def _union(classes: Sequence[str]) -> str:
    """The contents of one character class that holds every one of ``classes``."""
    union, dash = [], ""
    for members in classes:
        # A bare "-" means itself only at the end of a class ("[:-]"): the union puts it
        # there, once.
        if members.endswith("-") and not members.endswith("\\-"):
            members, dash = members[:-1], "-"
        union.append(members)
    return "".join(union) + dash


_SHORT = 64
# Characters that show nothing and would split a word a rule looks for (pass\u200bword,
# gh\u200bp_...): zero-width spaces and joiners, bidirectional marks and isolates, the
# word joiner, variation selectors, tag characters, the byte-order mark, the combining
# grapheme joiner and the soft hyphen. They are removed before scrubbing: nothing of what a reader sees changes.
_INVISIBLE = re.compile(
    "[\u00ad\u034f\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufe00-\ufe0f\ufeff"
    "\U000e0000-\U000e007f\U000e0100-\U000e01ef]"
)


def _visible(text: str) -> str:
    """``text`` without invisible characters (ASCII text, the common case, has none)."""
    if text.isascii() or _INVISIBLE.search(text) is None:
        return text
    return _INVISIBLE.sub("", text)


def flat_items(mapping: Mapping[Any, Any]) -> Optional[tuple[tuple[Any, ...], int]]:
    """``(key, characters)`` of a flat mapping, as a key of the scrubber's memory; else None.

    Flat: text keys, and values that are text, integers, flags or None. Each value is
    in the key with its type (``True == 1``, and each must stay what it is); floats are
    never flat (``-0.0 == 0.0`` and their scrubbed forms differ; ``nan`` is no key).
    """
    chars = 0
    key = []
    for name, value in mapping.items():
        kind = type(value)
        if type(name) is not str or not (
            kind is str or kind is int or kind is bool or value is None
        ):
            return None
        chars += len(name) + (len(value) if kind is str else 0)
        key.append((name, kind, value))
    return tuple(key), chars


_SEEN_MAX = 8192
_FLAT_KEYS = 8  # objects of at most this many keys are remembered whole
_PLAIN_BELOW = 10**7  # the shortest number a built-in rule matches has 8 digits or more


Done = tuple[Any, dict[str, int]]
"""A scrubbed result and the counts of the rules that made it."""

_MEMO_CHARS = 1 << 20  # the most characters the memo holds before it starts again
_MEMO_LONGEST = 16 * 1024  # longer texts are rare and not worth keeping


class _Memo:
    """The results of scrubbing, kept from report to report, bounded in characters.

    A process reports the same frames, file names and messages again and again (a storm,
    a retried job), so a string is scrubbed once and its result reused, counts included.
    Scrubbing is a function of the text and the options alone, so a result never goes
    stale; it is not used when a ``callback`` is set, which must see every match.
    """

    __slots__ = ("_chars", "_results")

    def __init__(self) -> None:
        self._results: dict[Hashable, Done] = {}
        self._chars = 0

    def get(self, key: Hashable) -> Optional[Done]:
        return self._results.get(key)

    def clear(self) -> None:
        """Forget every result (benchmarks measure a cold start with it)."""
        self._results = {}
        self._chars = 0

    def put(self, key: Hashable, done: Done, chars: int) -> None:
        if chars > _MEMO_LONGEST:
            return
        if self._chars + chars > _MEMO_CHARS:
            # Starting again is simpler and cheaper than an LRU, and a working set of
            # a megabyte of distinct strings is rare.
            self._results = {}
            self._chars = 0
        self._results[key] = done
        self._chars += chars


@dataclass(frozen=True)
class _Compiled:
    fragments: Mapping[str, str]
    """The pattern of every rule in force (extra ones first), in the order they are tried."""
    rules: Mapping[str, Rule]
    """The built-in rules in force, by name."""
    allow: tuple[re.Pattern[str], ...]
    literals: Optional[re.Pattern[str]]
    literal_rules: Mapping[str, tuple[str, ...]]
    grouped: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...]
    combined: Optional[re.Pattern[str]]
    rule_triggers: Mapping[str, re.Pattern[str]]
    word_rules: tuple[tuple[str, tuple[str, ...]], ...]
    words: tuple[str, ...]
    """With the literals: what a string must contain for a rule to match it, for all rules
    at once and for each."""
    secret_keys: bool
    """Whether a value whose key names a secret goes whole (the secret_pair rule is on)."""
    always: bool
    small_numbers_plain: bool
    """No rule in force can match a number of fewer than 8 digits (no pattern of the
    host's, no name of this machine that is all digits): such numbers skip the rules."""
    # Short strings repeat from report to report (keys, module and function names, file
    # names): their answer is remembered. So is the pattern of each set of rules.
    _seen: dict[str, bool] = field(default_factory=dict, compare=False)
    _patterns: dict[tuple[str, ...], re.Pattern[str]] = field(default_factory=dict, compare=False)
    memo: _Memo = field(default_factory=lambda: _Memo(), compare=False)
    """What earlier reports' strings became: crashes repeat their frames and messages."""

    def may_match(self, text: str) -> bool:
        """False only when no rule can match ``text``."""
        if len(text) <= _SHORT:
            known = self._seen.get(text)
            if known is None:
                if len(self._seen) >= _SEEN_MAX:
                    self._seen.clear()
                known = self._seen[text] = self._may_match(text)
            return known
        return self._may_match(text)

    def _may_match(self, text: str) -> bool:
        # Long text: a loop of ``in`` (a vectorised substring search) beats one alternation.
        # ``map`` of the bound ``__contains__``: the same test, without a Python frame per
        # literal (the generator's), which cost more than the searches themselves.
        if self.always or any(map(text.__contains__, self.literal_rules)):
            return True
        if self.combined is not None and self.combined.search(text):
            return True
        if self.words:
            # Words are looked for in the lower-cased text: a case-insensitive pattern is
            # many times slower.
            lowered = text.lower()
            return any(map(lowered.__contains__, self.words))
        return False

    def pattern_for(self, text: str, excluded: Collection[str] = ()) -> re.Pattern[str]:
        """One pattern of just the rules whose condition ``text`` meets.

        Scanning with two or three alternatives is many times faster than with all.
        """
        found: set[str] = set()
        if self.literals is not None:
            for hit in self.literals.finditer(text):
                found.update(self.literal_rules[hit.group()])
        for group, members in self.grouped:
            if group.search(text):
                found.update(rule for rule in members if self.rule_triggers[rule].search(text))
        if self.word_rules:
            lowered = text.lower()
            for rule, words in self.word_rules:
                if any(map(lowered.__contains__, words)):
                    found.add(rule)
        rules = tuple(
            r
            for r in self.fragments
            if (r in found or r.startswith("extra_")) and r not in excluded
        )
        pattern = self._patterns.get(rules)
        if pattern is None:
            body = "|".join(f"(?P<{rule}>{self.fragments[rule]})" for rule in rules)
            pattern = self._patterns[rules] = re.compile(body or r"(?!)")
        return pattern


@dataclass
class ScrubPass:
    """Scrubs the strings of one report and counts the replacements per rule."""

    scrubber: Scrubber
    compiled: _Compiled
    counts: dict[str, int] = field(default_factory=dict)
    # A report repeats its text (the message in the event, the status, the stack text and
    # the chain), and reports repeat each other's: each distinct string is scrubbed once,
    # its counts added at every use. With a callback, which must see every match of
    # every report, only within this report.
    _memo: _Memo = field(init=False)
    # Rules whose confirm rejected the text being scrubbed again (see _replace).
    _excluded: frozenset[str] = field(default=frozenset(), init=False)

    def __post_init__(self) -> None:
        callback = self.scrubber.options.callback
        self._memo = _Memo() if callback is not None else self.compiled.memo

    def _remembered(self, key: Hashable, chars: int, compute: Callable[[], Any]) -> Any:
        """``compute()``, or what it gave for ``key`` before; its counts added either way."""
        done = self._memo.get(key)
        if done is None:
            outer, self.counts = self.counts, {}
            try:
                result = compute()
            finally:
                found, self.counts = self.counts, outer
            done = (result, found)
            self._memo.put(key, done, chars)
        for rule, n in done[1].items():
            self.counts[rule] = self.counts.get(rule, 0) + n
        return done[0]

    def message(self, text: str) -> str:
        """Apply the ``value`` rule to an exception message the rules already scrubbed.

        Quoted and repr'd values of data become ``[value]`` (see ``_values.py``); the
        text of a literal that looks like code, or that other rules made a marker, stays.
        Unchanged when the rule is off.
        """
        return self._values(text, stack=False)

    def stacktrace(self, text: str) -> str:
        """:meth:`message` of stack text: its ``File "…", line N, in f`` lines stay as they are."""
        return self._values(text, stack=True)

    def _values(self, text: str, *, stack: bool) -> str:
        if not self.scrubber.scrubs_values or not HAS_VALUE.search(text):
            return text

        def compute() -> str:
            markers = self.scrubber.markers
            spans = find_values_in_stack(text, markers) if stack else find_values(text, markers)
            return self._replace_values(text, spans)

        result: str = self._remembered(("stack" if stack else "message", text), len(text), compute)
        return result

    def _replace_values(self, text: str, spans: Sequence[Span]) -> str:
        if not spans:
            return text
        pieces: list[str] = []
        last = 0
        callback = self.scrubber.options.callback
        for start, end in spans:
            found = text[start:end]
            if any(allow.fullmatch(found) for allow in self.compiled.allow):
                continue
            self._count(VALUE_RULE)
            replacement = callback(ScrubMatch(VALUE_RULE, found)) if callback else None
            pieces += (text[last:start], VALUE if replacement is None else replacement)
            last = end
        pieces.append(text[last:])
        return "".join(pieces)

    def text(self, text: str) -> str:
        """Scrub one string; a string holding a JSON object or array is scrubbed inside."""
        # Most strings hold nothing a rule could match: leave them, JSON or not, unparsed.
        # A JSON escape could hide a trigger (\u0040 is "@"), so such text is parsed.
        text = _visible(text)
        if len(text) > _SHORT:
            # Long text (stack text, a chain) repeats from report to report: one lookup
            # instead of searching it for every rule's trigger again.
            result: str = self._remembered(("text", text), len(text), lambda: self._text(text))
            return result
        return self._text(text)

    def _text(self, text: str) -> str:
        matchable = self.compiled.may_match(text)
        if not matchable and "\\u" not in text:
            return text
        if text.lstrip()[:1] in ("{", "["):
            return self._json_text(text)
        if len(text) <= _SHORT:
            return self._plain(text)
        # Long text is remembered whole by text(): not searched or remembered twice.
        return self._substitute(text) if matchable else text

    def _json_text(self, text: str) -> str:
        try:
            document = json.loads(text)
        except ValueError:
            return self._scan(text)
        return self._dumps(self.json(document))

    @staticmethod
    def _dumps(document: Any) -> str:
        return json.dumps(document, separators=(",", ":"), ensure_ascii=False)

    def chain(self, text: str) -> str:
        """Scrub the JSON text of an exception chain (a list of entries), parsed once.

        Every string goes through the rules, as :meth:`text` does, and each entry's
        ``message`` through the ``value`` rule too, as :meth:`message` does. Text that is
        not such a list is scrubbed whole, as a message. Unchanged text is returned as
        it is, not rewritten.
        """
        text = _visible(text)
        if not self.scrubber.scrubs_values:
            return self.text(text)
        result: str = self._remembered(("chain", text), len(text), lambda: self._chain(text))
        return result

    def _chain(self, text: str) -> str:
        try:
            chain = json.loads(text)
        except ValueError:
            chain = None
        if not isinstance(chain, list):
            return self.message(self.text(text))
        changed = self.compiled.may_match(text) or "\\u" in text
        if changed:  # as text() would: only text a rule may match is rewritten
            chain = self.json(chain)
        for entry in chain:
            if isinstance(entry, dict) and isinstance(entry.get("message"), str):
                message = self.message(entry["message"])
                changed = changed or message != entry["message"]
                entry["message"] = message
        return self._dumps(chain) if changed else text

    def json(self, value: Any) -> Any:
        """Scrub a parsed JSON value: strings, numbers and keys, at any depth."""
        if isinstance(value, str):
            return self._plain(value)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return self.number(value)
        if isinstance(value, list):
            return [self.json(item) for item in value]
        if isinstance(value, dict):
            if len(value) <= _FLAT_KEYS:
                # A flat object (a frame of the chain) repeats from report to report.
                return self.mapping("object", value, lambda: self._object(value))
            return self._object(value)
        return value

    def _object(self, value: dict[Any, Any]) -> dict[str, Any]:
        scrubbed = {}
        plain_numbers = self.compiled.small_numbers_plain
        for key, item in value.items():
            key = str(key)
            kind = type(item)
            if self._secret(key, item):
                item = REDACTED
            elif kind is str:  # the common cases, without a call more
                item = self._plain(item)
            elif kind is int or kind is float:
                if not (plain_numbers and -_PLAIN_BELOW < item < _PLAIN_BELOW):
                    item = self.number(item)
            elif kind is not bool and item is not None:
                item = self.json(item)
            scrubbed[self._plain(key)] = item
        return scrubbed

    def value(self, value: Any) -> Any:
        """Scrub an OTel attribute value: a string, a number, or a sequence of them.

        A number a rule changes becomes its scrubbed text; in a sequence, every item then
        becomes text, since OTel sequences hold one type. Booleans and None are kept;
        any other value is scrubbed as its ``str``.
        """
        if isinstance(value, str):
            return self.text(value)
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, (int, float)):
            if self.compiled.small_numbers_plain and -_PLAIN_BELOW < value < _PLAIN_BELOW:
                return value  # without a call more: most numbers are line numbers and counts
            return self.number(value)
        if isinstance(value, (list, tuple)):
            items = [self.value(v) for v in value]
            if any(type(new) is not type(old) for new, old in zip(items, value)):
                items = [v if isinstance(v, str) else str(v) for v in items]
            return tuple(items)
        return self.text(str(value))  # fail closed: an unexpected type is scrubbed as text

    def number(self, value: float) -> Any:
        """Scrub a number as its decimal text: the number itself, or the scrubbed text.

        A float is also read as the integer it holds (``4111111111111111.0`` is the card
        number ``4111111111111111``).
        """
        if self.compiled.small_numbers_plain and -_PLAIN_BELOW < value < _PLAIN_BELOW:
            return value  # line numbers, counts, ratios: no built-in rule matches so few digits
        candidates = [str(value)]
        if isinstance(value, float) and value.is_integer():
            candidates.append(str(int(value)))
        if value < 0:  # a minus sign is not part of a card or phone number: read it without
            candidates += [c[1:] for c in candidates]
        for text in reversed(candidates):  # the integer reading first: it matches whole
            scrubbed = self._plain(text)
            if scrubbed != text:
                return scrubbed
        return value

    def attributes(self, attributes: Optional[Mapping[str, Any]]) -> dict[str, Any]:
        """Scrub the keys and values of an attribute mapping."""
        if not attributes:
            return {}
        return self.mapping("attributes", attributes, lambda: self._attributes(attributes))

    def _attributes(self, attributes: Mapping[str, Any]) -> dict[str, Any]:
        return {
            self._plain(key): REDACTED if self._secret(key, value) else self.value(value)
            for key, value in attributes.items()
        }

    def mapping(
        self, kind: str, mapping: Mapping[str, Any], scrub: Callable[[], dict[str, Any]]
    ) -> dict[str, Any]:
        """``scrub()``, the scrubbed ``mapping``; remembered when it is flat (:func:`flat_items`).

        Report after report holds the same attributes (kind, mechanism, a message the
        user's code raised, which is a placeholder by then) and chain frames: one lookup
        instead of a scrubbing call per key and value.

        Args:
            kind: what ``scrub`` does with the mapping (the same mapping may be scrubbed
                in more than one way).
            mapping: what is scrubbed.
            scrub: scrubs it; called when the answer is not known yet.

        Returns:
            A new dict each time: it is the caller's to change.
        """
        flat = flat_items(mapping)
        if flat is None:
            return scrub()
        key, chars = flat
        done: tuple[tuple[str, Any], ...] = self._remembered(
            (kind, key), chars, lambda: tuple(scrub().items())
        )
        return dict(done)

    flat = staticmethod(flat_items)
    """:func:`flat_items`: for a caller's key of the memory, without importing this module."""

    def remember(self, key: Hashable, chars: int, compute: Callable[[], Any]) -> Any:
        """``compute()``, or what it gave for ``key`` before (in any pass of this scrubber).

        For what a caller scrubs as a whole (a report's strings): ``key`` must hold all
        that ``compute`` reads, and the result must be immutable. The rules' counts of
        the first time are counted again each time. Nothing is kept with a ``callback``
        (it must see every match) or for more than 16 KiB of text (``chars``).
        """
        return self._remembered(key, chars, compute)

    def _secret(self, key: str, value: Any) -> bool:
        """A value whose key names a secret goes whole, whatever it looks like."""
        if (
            self.compiled.secret_keys
            and value is not None
            and not isinstance(value, bool)  # a flag (auth_enabled: true) reveals nothing
            and _is_secret_key(key)
        ):
            self._count(SECRET_PAIR)
            return True
        return False

    def _plain(self, text: str) -> str:
        text = _visible(text)
        if len(text) <= _SHORT and not self.compiled.may_match(text):
            return text  # the common case: a short name, its answer known already
        result: str = self._remembered(text, len(text), lambda: self._scan(text))
        return result

    def _scan(self, text: str) -> str:
        return self._substitute(text) if self.compiled.may_match(text) else text

    def _substitute(self, text: str) -> str:
        return self.compiled.pattern_for(text).sub(self._replace, text)

    def _replace(self, match: re.Match[str]) -> str:
        name = match.lastgroup or "extra"
        found = match.group(0)
        rule = self.compiled.rules.get(name)
        if name.startswith("extra_"):
            name = "extra"
        elif rule is not None and rule.confirm is not None and not rule.confirm(match):
            # Not this rule's after all (a 40-character run that is a path, a number
            # that fails Luhn): the text is still scrubbed by the others, which the
            # alternation did not try at this position since this rule matched first.
            return self._by_the_others(found, name)
        if any(allow.fullmatch(found) for allow in self.compiled.allow):
            return found
        self._count(name)
        callback = self.scrubber.options.callback
        if callback is not None:
            replacement = callback(ScrubMatch(name, found))
            if replacement is not None:
                return replacement
        if rule is None:
            return REDACTED
        return rule.marker if rule.replace is None else rule.replace(match)

    def _by_the_others(self, text: str, rejected: str) -> str:
        excluded = self._excluded | {rejected}
        pattern = self.compiled.pattern_for(text, excluded)
        outer, self._excluded = self._excluded, excluded
        try:
            return pattern.sub(self._replace, text)
        finally:
            self._excluded = outer

    def _count(self, rule: str) -> None:
        self.counts[rule] = self.counts.get(rule, 0) + 1
