"""Scrub: strip personal data from every string that leaves (DESIGN §4).

Each rule replaces only what it matches with a typed marker (``[email]``, ``[ip]``,
``[url]``, ``[path]``, ``[card]``, ``[token]``, ...). All rules are alternatives of one
regular expression, so a string is scanned once. Every alternative starts at a literal,
a word boundary or a lookbehind that admits one start per run of similar characters,
and repeats only bounded or anchor-free classes, so scrubbing time is linear in the
length of the text. Candidates that only a computation can confirm are checked in code:
card numbers by Luhn, IBANs by their mod-97 check, IP addresses by ``ipaddress``.

Strings that hold JSON are parsed, scrubbed value by value and written back, so a
replacement can never break an escape sequence, and a value whose key names a secret is
replaced whole, as in attribute mappings.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable, Optional

REDACTED = "[redacted]"

MARKERS: Mapping[str, str] = {
    "private_key": "[private key]",
    "jwt": "[token]",
    "bearer": "[token]",
    "api_key": "[token]",
    "secret_pair": REDACTED,
    "url": "[url]",
    "email": "[email]",
    "path": "[path]",
    "user": "[user]",
    "host": "[host]",
    "mac": "[mac]",
    "ipv6": "[ip]",
    "ipv4": "[ip]",
    "iban": "[iban]",
    "card": "[card]",
    "ssn": "[ssn]",
}
"""Every built-in rule, in the order they are tried, and its marker."""

RULES: tuple[str, ...] = tuple(MARKERS)

# Key names that make a value secret: substring, any case; "auth" but not "author".
SECRET_KEY = re.compile(
    r"(?i)password|passwd|pwd|secret|token|auth(?!or(?!i[sz]))|api[\s_.-]?key|apikey|cookie|session"
    r"|credential|private[\s_.-]?key|jwt|csrf|ssn|credit[\s_.-]?card"
)

# Account and machine names too generic to be personal, and too common to scrub.
_GENERIC_NAMES = frozenset(
    {
        "root",
        "user",
        "users",
        "admin",
        "app",
        "test",
        "runner",
        "ubuntu",
        "debian",
        "node",
        "www-data",
        "nobody",
        "jovyan",
        "vscode",
        "localhost",
        "docker",
        "default",
        "home",
    }
)

_LOCAL_PART = r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]"
_FRAGMENTS: Mapping[str, str] = {
    "private_key": (
        r"-----BEGIN[A-Z ]{0,40}PRIVATE KEY-----[A-Za-z0-9+/=\s]{0,16384}"
        r"(?:-----END[A-Z ]{0,40}PRIVATE KEY-----)?"
    ),
    "jwt": r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}",
    "bearer": r"\b(?:[Bb]earer|[Bb]asic)[ \t]+[A-Za-z0-9._~+/=-]{8,}",
    "api_key": (
        r"\b(?:(?:AKIA|ASIA)[A-Z0-9]{16}|gh[pousr]_[A-Za-z0-9]{36,}|github_pat_\w{22,}"
        r"|xox[abprs]-[A-Za-z0-9-]{10,}|sk-(?:ant-|proj-)?[A-Za-z0-9_-]{20,}"
        r"|AIza[0-9A-Za-z_-]{35}|[rs]k_live_[0-9A-Za-z]{16,})"
    ),
    "secret_pair": (
        r"(?<![A-Za-z])(?P<sp_key>(?i:password|passwd|pwd|secret|token|auth(?!or(?!i[sz]))|api[_.-]?key"
        r"|apikey|cookie|session|credential|private[_.-]?key|jwt|csrf|ssn|credit[_.-]?card)"
        r"[\w.-]{0,40})(?P<sp_sep>[\"']?[ \t]{0,4}[:=][ \t]{0,4}[\"']?)"
        r"(?P<sp_value>(?:(?i:bearer|basic|digest|token)[ \t]+)?[^\s,;&\"'}\]]+)"
    ),
    "url": r"\b[A-Za-z][A-Za-z0-9+.-]{0,20}://[^\s'\"<>`]+",
    "email": (
        rf"(?<!{_LOCAL_PART}){_LOCAL_PART}{{1,64}}@"
        r"(?:[A-Za-z0-9-]{1,63}\.){1,8}[A-Za-z][A-Za-z0-9-]{1,62}\b"
    ),
    # The running user's home is put in front of this one (see Scrubber._compile).
    "path": (
        r"(?:(?<![\w.])/(?:home|Users)/[^/\s'\"<>|]{1,64}"
        r"|\b[A-Za-z]:[\\/]{1,2}(?:Users|Documents and Settings)[\\/]{1,2}[^\\/\s'\"<>|]{1,64})"
        r"(?:[\\/][^\s'\"<>|]*)?"
    ),
    "mac": r"\b(?:[0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}\b",
    # May run into a colon that follows the address ("fe80::1: refused"); see _ipv6_end.
    "ipv6": r"(?<![\w:.])[0-9A-Fa-f]{0,4}:[0-9A-Fa-f:]{1,38}(?:%[\w.]{1,16})?(?![\w.])",
    "ipv4": r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?!\w|\.\d)",
    "iban": r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,4})?\b",
    "card": r"(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])",
    "ssn": r"(?<![\d-])\d{3}-\d{2}-\d{4}(?![\d-])",
}
# A necessary condition of every rule, cheap to test: a string with none of these cannot
# match any rule, and is passed through without running the rules at all. Literals are
# one alternation of plain literals, the secret words in the lower-cased text (a
# case-insensitive pattern is many times slower), the rest by two anchored patterns.
_LITERAL_TRIGGERS: Mapping[str, tuple[str, ...]] = {
    "private_key": ("PRIVATE KEY",),
    "jwt": ("eyJ",),
    "bearer": ("earer", "asic"),
    "api_key": ("AKIA", "ASIA", "gh", "github_pat_", "xox", "sk-", "AIza", "k_live_"),
    "url": ("://",),
    "email": ("@",),
    "path": ("/home/", "Users", "Documents and Settings"),
}
# The rest share a leading character class, so that each group is one pattern that
# regex engine can skip through quickly: (anchor, {rule: what follows the anchor}).
# Words of which one appears, lower-cased, wherever SECRET_KEY or secret_pair can match
# ("api" stands for api_key, api-key, "api key"...).
_SECRET_WORDS = (
    *("passw", "pwd", "secret", "token", "auth", "api", "cookie", "session", "credential"),
    *("private", "jwt", "csrf", "ssn", "credit"),
)
_PATTERN_TRIGGERS: tuple[tuple[str, Mapping[str, str]], ...] = (
    (
        r"\d",
        {
            "ipv4": r"\.\d{1,3}\.\d{1,3}\.\d",
            "card": r"(?:[ -]?\d){12}",
            "ssn": r"\d{2}-\d{2}-\d{4}",
            "iban": r"(?<=[A-Z]{2}\d)\d",
        },
    ),
    (
        r"[:-]",
        {
            "mac": r"(?<=[0-9A-Fa-f]{2}[:-])[0-9A-Fa-f]{2}[:-]",
            "ipv6": r"(?<=[0-9A-Fa-f]:)[0-9A-Fa-f]{1,4}:|(?<=:):",
        },
    ),
)
_VERSION_CONTEXT = re.compile(r"(?i)(?:version|ver\.?|release|v)\s*[:=]?\s*$")


@dataclass(frozen=True)
class ScrubMatch:
    """One match, as shown to :attr:`ScrubbingOptions.callback`."""

    rule: str
    """The rule that matched: one of :data:`RULES`, or ``extra``."""
    text: str
    """The matched text."""


@dataclass
class ScrubbingOptions:
    """How reports are scrubbed; every built-in rule is on by default."""

    extra_patterns: Sequence[str] = ()
    """More regular expressions whose matches are replaced with ``[redacted]``."""

    allow_patterns: Sequence[str] = ()
    """Regular expressions for text kept as it is, even where a rule matches all of it."""

    disabled_rules: Collection[str] = ()
    """Names of built-in rules to switch off (see :data:`RULES`), such as ``"ipv4"``."""

    callback: Optional[Callable[[ScrubMatch], Optional[str]]] = None
    """Called for every match: return the replacement text, or None to use the marker."""


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

    def new_pass(self) -> ScrubPass:
        """Start scrubbing one report; the pass counts what each rule replaced."""
        return ScrubPass(self, self._compile())

    def _compile(self) -> _Compiled:
        # Deferred to the first report, so that creating a Telemetry compiles nothing.
        if self._compiled is None:
            disabled = set(self.options.disabled_rules)
            fragments = {
                f"extra_{i}": pattern for i, pattern in enumerate(self.options.extra_patterns)
            }
            literals: dict[str, tuple[str, ...]] = {}
            for rule in RULES:
                if rule in disabled:
                    continue
                names: tuple[str, ...] = ()
                if rule == "path":
                    home, names = self._home_fragment()
                    fragment = f"{home}|{_FRAGMENTS[rule]}" if home else _FRAGMENTS[rule]
                elif rule in ("user", "host"):
                    fragment, names = self._identity_fragment(rule)
                else:
                    fragment = _FRAGMENTS[rule]
                if fragment:
                    fragments[rule] = fragment
                    if rule in _LITERAL_TRIGGERS or names:
                        literals[rule] = _LITERAL_TRIGGERS.get(rule, ()) + names
            rule_triggers = {
                rule: re.compile(anchor + rest[rule])
                for anchor, rest in _PATTERN_TRIGGERS
                for rule in rest
                if rule in fragments
            }
            grouped = []
            anchors, branches = [], []
            for anchor, rest in _PATTERN_TRIGGERS:
                members = tuple(rule for rule in rest if rule in fragments)
                if members:
                    alternatives = "|".join(rest[rule] for rule in members)
                    grouped.append((re.compile(f"{anchor}(?:{alternatives})"), members))
                    anchors.append(anchor[1:-1] if anchor.startswith("[") else anchor)
                    branches.append(f"(?<={anchor})(?:{alternatives})")
            # All groups in one scan: one class of anchors, then the group of the anchor.
            combined = (
                re.compile(f"[{''.join(anchors)}](?:{'|'.join(branches)})") if anchors else None
            )
            literal_rules: dict[str, tuple[str, ...]] = {}
            for rule, rule_literals in literals.items():
                for literal in rule_literals:
                    literal_rules[literal] = (*literal_rules.get(literal, ()), rule)
            # Longest first, so that an alternation finds "github_pat_" before "gh".
            every_literal = sorted(literal_rules, key=len, reverse=True)
            self._compiled = _Compiled(
                fragments=fragments,
                allow=tuple(re.compile(p) for p in self.options.allow_patterns),
                literals=re.compile("|".join(re.escape(x) for x in every_literal))
                if every_literal
                else None,
                literal_rules=literal_rules,
                grouped=tuple(grouped),
                combined=combined,
                rule_triggers=rule_triggers,
                secret_words="secret_pair" in fragments,
                always=bool(self.options.extra_patterns),  # no cheap condition for those
            )
        return self._compiled

    def _identity_fragment(self, rule: str) -> tuple[str, tuple[str, ...]]:
        """This user's name and this machine's name, as literals (skipped when generic)."""
        if rule == "user":
            names = {self._user if self._user is not None else _login_name()}
        else:
            host = self._host if self._host is not None else _host_name()
            names = {host, host.split(".", 1)[0]}
        names = {n for n in names if n and len(n) >= 3 and n.lower() not in _GENERIC_NAMES}
        if not names:
            return "", ()
        ordered = tuple(sorted(names, key=len, reverse=True))
        alternatives = "|".join(re.escape(n) for n in ordered)
        return rf"(?<![\w.-])(?:{alternatives})(?![\w-])", ordered

    def _home_fragment(self) -> tuple[str, tuple[str, ...]]:
        home = self._home if self._home is not None else os.path.expanduser("~")
        home = home.rstrip("/\\")
        if len(home) <= 1 or home.lower().rstrip("/") in ("/home", "/users"):
            return "", ()
        return re.escape(home) + r"(?![\w.-])(?:[\\/][^\s'\"<>|]*)?", (home,)


_SHORT = 64
_SEEN_MAX = 8192


@dataclass(frozen=True)
class _Compiled:
    fragments: Mapping[str, str]
    """The pattern of every rule in force (extra ones first), in the order they are tried."""
    allow: tuple[re.Pattern[str], ...]
    literals: Optional[re.Pattern[str]]
    literal_rules: Mapping[str, tuple[str, ...]]
    grouped: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...]
    combined: Optional[re.Pattern[str]]
    rule_triggers: Mapping[str, re.Pattern[str]]
    """With the literals and the secret words: what a string must contain for a rule to
    match it, for all rules at once and for each."""
    secret_words: bool
    always: bool
    # Short strings repeat from report to report (keys, module and function names, file
    # names): their answer is remembered. So is the pattern of each set of rules.
    _seen: dict[str, bool] = field(default_factory=dict, compare=False)
    _patterns: dict[tuple[str, ...], re.Pattern[str]] = field(default_factory=dict, compare=False)

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
        if self.always or any(literal in text for literal in self.literal_rules):
            return True
        if self.combined is not None and self.combined.search(text):
            return True
        return self.secret_words and names_secret(text)

    def pattern_for(self, text: str) -> re.Pattern[str]:
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
        if self.secret_words and names_secret(text):
            found.add("secret_pair")
        rules = tuple(r for r in self.fragments if r in found or r.startswith("extra_"))
        pattern = self._patterns.get(rules)
        if pattern is None:
            body = "|".join(f"(?P<{rule}>{self.fragments[rule]})" for rule in rules)
            pattern = self._patterns[rules] = re.compile(body or r"(?!)")
        return pattern


def names_secret(text: str) -> bool:
    """True when ``text`` holds a word of a secret (a necessary condition of SECRET_KEY)."""
    lowered = text.lower()
    return any(word in lowered for word in _SECRET_WORDS)


@lru_cache(maxsize=4096)
def _is_secret_key(key: str) -> bool:
    # Keys repeat from report to report (they are the host's attribute names): cached.
    return names_secret(key) and SECRET_KEY.search(key) is not None


@dataclass
class ScrubPass:
    """Scrubs the strings of one report and counts the replacements per rule."""

    scrubber: Scrubber
    compiled: _Compiled
    counts: dict[str, int] = field(default_factory=dict)
    # A report repeats its text (the message in the event, the status, the stack text and
    # the chain): each distinct string is scrubbed once, its counts added at every use.
    _done: dict[str, tuple[str, dict[str, int]]] = field(default_factory=dict)

    def text(self, text: str) -> str:
        """Scrub one string; a string holding a JSON object or array is scrubbed inside."""
        # Most strings hold nothing a rule could match: leave them, JSON or not, unparsed.
        # A JSON escape could hide a trigger (\u0040 is "@"), so such text is parsed.
        if not self.compiled.may_match(text) and "\\u" not in text:
            return text
        stripped = text.lstrip()
        if stripped[:1] in ("{", "["):
            try:
                document = json.loads(text)
            except ValueError:
                pass
            else:
                return json.dumps(self.json(document), separators=(",", ":"), ensure_ascii=False)
        return self._plain(text)

    def json(self, value: Any) -> Any:
        """Scrub a parsed JSON value: strings and keys, at any depth."""
        if isinstance(value, str):
            return self._plain(value)
        if isinstance(value, list):
            return [self.json(item) for item in value]
        if isinstance(value, dict):
            scrubbed = {}
            for key, item in value.items():
                key = str(key)
                if self._secret(key, item):
                    item = REDACTED
                elif isinstance(item, str):  # the common case, without a call more
                    item = self._plain(item)
                elif isinstance(item, (list, dict)):
                    item = self.json(item)
                scrubbed[self._plain(key)] = item
            return scrubbed
        return value

    def value(self, value: Any) -> Any:
        """Scrub an OTel attribute value: a string, or a sequence of them."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, (list, tuple)):
            return tuple(self.text(v) if isinstance(v, str) else v for v in value)
        return value

    def attributes(self, attributes: Optional[Mapping[str, Any]]) -> dict[str, Any]:
        """Scrub the keys and values of an attribute mapping."""
        if not attributes:
            return {}
        return {
            self._plain(key): REDACTED if self._secret(key, value) else self.value(value)
            for key, value in attributes.items()
        }

    def _secret(self, key: str, value: Any) -> bool:
        """A value whose key names a secret goes whole, whatever it looks like."""
        if (
            self.compiled.secret_words
            and _is_secret_key(key)
            and isinstance(value, (str, int, float))
            and not isinstance(value, bool)
        ):
            self._count("secret_pair")
            return True
        return False

    def _plain(self, text: str) -> str:
        if not self.compiled.may_match(text):
            return text
        done = self._done.get(text)
        if done is None:
            outer, self.counts = self.counts, {}
            try:
                result = self.compiled.pattern_for(text).sub(self._replace, text)
            finally:
                found, self.counts = self.counts, outer
            done = self._done[text] = (result, found)
        for rule, n in done[1].items():
            self.counts[rule] = self.counts.get(rule, 0) + n
        return done[0]

    def _replace(self, match: re.Match[str]) -> str:
        rule = match.lastgroup or "extra"
        found = match.group(0)
        if rule.startswith("extra_"):
            rule = "extra"
        elif not _confirmed(rule, match):
            return found
        if any(allow.fullmatch(found) for allow in self.compiled.allow):
            return found
        self._count(rule)
        callback = self.scrubber.options.callback
        if callback is not None:
            replacement = callback(ScrubMatch(rule, found))
            if replacement is not None:
                return replacement
        if rule == "secret_pair":
            return match.group("sp_key") + match.group("sp_sep") + REDACTED
        if rule == "ipv6":
            return MARKERS[rule] + found[_ipv6_end(found) :]
        return MARKERS.get(rule, REDACTED)

    def _count(self, rule: str) -> None:
        self.counts[rule] = self.counts.get(rule, 0) + 1


def _confirmed(rule: str, match: re.Match[str]) -> bool:
    """Checks that a pattern alone cannot make; when unsure, scrub."""
    found = match.group(0)
    if rule == "card":
        return _luhn(re.sub(r"[ -]", "", found))
    if rule == "iban":
        return _iban(found.replace(" ", ""))
    if rule == "ssn":
        area, group, serial = found.split("-")
        return (
            area not in ("000", "666")
            and not area.startswith("9")
            and group != "00"
            and serial != "0000"
        )
    if rule == "ipv6":
        return _ipv6_end(found) > 0
    if rule == "ipv4":
        try:
            ipaddress.IPv4Address(found)
        except ValueError:
            return False
        before = match.string[max(0, match.start() - 16) : match.start()]
        return not _VERSION_CONTEXT.search(before)
    return True


def _ipv6_end(candidate: str) -> int:
    """The length of the IPv6 address at the start of ``candidate``; 0 when there is none.

    Colons that only follow the address ("fe80::1: refused") are not part of it.
    """
    end = len(candidate)
    while end > 2 and candidate.count(":", 0, end) >= 2:
        address = candidate[:end]
        try:
            ipaddress.IPv6Address(address.split("%", 1)[0])
        except ValueError:
            if not address.endswith(":"):
                return 0
            end -= 1
        else:
            return end
    return 0


def _luhn(digits: str) -> bool:
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for index, char in enumerate(reversed(digits)):
        digit = int(char)
        if index % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def _iban(iban: str) -> bool:
    if not 15 <= len(iban) <= 34:
        return False
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def _login_name() -> str:
    try:
        import getpass

        return getpass.getuser()
    except Exception:  # no name (a container with an unknown uid): nothing to scrub
        return ""


def _host_name() -> str:
    import socket

    try:
        return socket.gethostname()
    except OSError:
        return ""
