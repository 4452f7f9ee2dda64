r"""The scrubbing rules: one table, one row per kind of personal data.

Every built-in rule is one :class:`Rule` of :data:`RULE_TABLE`, tried in the table's
order (the first rule that matches at a position wins). A row holds everything about
its rule:

- ``pattern``: the regular expression of what is replaced;
- ``marker``: what replaces it (``[email]``, ``[ip]``, ...);
- its *trigger*, a cheap necessary condition of ``pattern``: ``literals`` (plain
  substrings, one of which is in every match), ``trigger`` (an ``(anchor, rest)``
  pattern that finds every match, see :class:`Rule`) or ``words`` (lower-case words found
  in the lower-cased text). Text that meets no trigger is never run through the rule,
  which is what keeps scrubbing fast; a rule without a trigger is refused when this
  module is imported;
- ``confirm``: a check in code for what a pattern cannot tell (a Luhn checksum);
- ``replace``: a replacement computed from the match, instead of the bare marker;
- ``personal``: a part of the pattern built at compile time from the running user's
  identity (home directory, login name, host name);
- ``samples``, which the rule must replace with its marker, and ``non_samples``, which it
  must leave alone. ``tests/test_scrubbing_rules.py`` checks both for every row.

To add a rule, add one row where it should be tried, with its trigger and a few samples
and non-samples, and run ``tests/test_scrubbing_rules.py``: it proves that the samples
are replaced, so a trigger that misses them fails there. For instance::

    Rule(
        "uuid",
        r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b",
        "[uuid]",
        trigger=("[-]", r"(?<=[0-9a-f]{4}-)[0-9a-f]{4}-[0-9a-f]{4}-"),
        samples=("123e4567-e89b-12d3-a456-426614174000",),
        non_samples=("2024-01-02",),
    ),

Literals are the cheapest trigger; a trigger pattern serves matches that share no
literal (numbers, addresses). Patterns must stay linear in the length of the text:
start each at a literal, a word boundary or a lookbehind, and repeat only bounded or
anchor-free character classes. The name of a rule is also the name users give to
``ScrubbingOptions.disabled_rules``, so it does not change once released.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Optional

REDACTED = "[redacted]"
"""The marker of secrets and of matches of ``ScrubbingOptions.extra_patterns``."""

SECRET_PAIR = "secret_pair"
"""The rule of secrets named by a key; it also hides a whole value whose key names one."""


class RuleError(ValueError):
    """A row of a rules table that could never work as written."""


@dataclass(frozen=True)
class Identity:
    """Whose personal names the ``personal`` rules look for; None means the running one's.

    Attributes:
        home: the home directory.
        user: the login name.
        host: the machine's name.
    """

    home: Optional[str] = None
    user: Optional[str] = None
    host: Optional[str] = None


Personal = Callable[[Identity], tuple[str, tuple[str, ...]]]
"""Builds a pattern from an identity, and the literals one of which is in all its matches."""


@dataclass(frozen=True)
class Rule:
    r"""One built-in scrubbing rule.

    Attributes:
        name: the rule's name, as in ``ScrubbingOptions.disabled_rules`` and the counts;
            a valid Python identifier (it names a regular-expression group).
        pattern: what is replaced. Empty only for a rule whose whole pattern is
            ``personal``.
        marker: what a match is replaced with.
        literals: strings one of which every match contains (case-sensitive).
        trigger: ``(anchor, rest)``: ``anchor`` is a single-character class (``\d`` or
            ``[...]``) and ``anchor + rest`` a pattern that finds something in every text
            that ``pattern`` matches. Rules sharing an anchor are searched together.
        words: lower-case strings one of which the lower-cased text of every match holds.
        personal: builds, from the identity, a pattern tried before ``pattern`` and the
            literals one of which is in each of its matches (its trigger); ``("", ())``
            when there is nothing personal to look for.
        confirm: False for a match that is not what the rule looks for after all.
        replace: the replacement of a confirmed match, instead of ``marker``.
        samples: texts that the rule alone replaces with its marker (those of a
            ``personal`` rule, for :data:`SAMPLE_IDENTITY`); at least one.
        non_samples: texts that the rule leaves as they are.
    """

    name: str
    pattern: str
    marker: str
    literals: tuple[str, ...] = ()
    trigger: Optional[tuple[str, str]] = None
    words: tuple[str, ...] = ()
    personal: Optional[Personal] = None
    confirm: Optional[Callable[[re.Match[str]], bool]] = None
    replace: Optional[Callable[[re.Match[str]], str]] = None
    samples: tuple[str, ...] = ()
    non_samples: tuple[str, ...] = ()

    def resolve(self, identity: Identity) -> tuple[str, tuple[str, ...]]:
        """The pattern and literals of this rule for ``identity``.

        Returns:
            ``(pattern, literals)``; the pattern is empty when the rule has nothing to
            look for (a personal rule whose names are all generic).

        Raises:
            RuleError: ``personal`` built a pattern without a literal to trigger it.
        """
        if self.personal is None:
            return self.pattern, self.literals
        front, names = self.personal(identity)
        if not front:
            return self.pattern, self.literals
        if not names:
            raise RuleError(f"rule {self.name!r}: its personal pattern came without literals")
        return (f"{front}|{self.pattern}" if self.pattern else front), self.literals + names


# A class escape, or a bracketed class that is not negated (anchors are merged into one).
_ANCHOR = re.compile(r"\\[dws]|\[(?!\^)(?:[^\\\]]|\\.)+\]")


def validate_rules(rules: Iterable[Rule]) -> tuple[Rule, ...]:
    """Check a rules table for rows that could never work, and return it as a tuple.

    Args:
        rules: the rows, in the order they are tried.

    Returns:
        The rows.

    Raises:
        RuleError: a name is repeated or not an identifier, a rule has no pattern, no
            marker, no trigger, a malformed trigger, upper-case words or no samples.
    """
    table = tuple(rules)
    seen: set[str] = set()
    for rule in table:
        where = f"scrubbing rule {rule.name!r}"
        if not rule.name.isidentifier() or rule.name.startswith("extra"):
            raise RuleError(f"{where}: the name must be an identifier not starting with extra")
        if rule.name in seen:
            raise RuleError(f"{where}: the name is used twice")
        seen.add(rule.name)
        if not rule.marker:
            raise RuleError(f"{where}: no marker")
        if not rule.pattern and rule.personal is None:
            raise RuleError(f"{where}: no pattern")
        if not (rule.literals or rule.trigger or rule.words or rule.personal):
            # Such a rule would never run: the scrubber only runs a rule on text that
            # meets its trigger.
            raise RuleError(
                f"{where} has no trigger: give it literals, a trigger (anchor, rest) or words"
            )
        if rule.trigger is not None:
            anchor, rest = rule.trigger
            if not _ANCHOR.fullmatch(anchor) or not rest:
                raise RuleError(
                    f"{where}: the trigger's anchor must be one character class, and its rest"
                    " not empty"
                )
        if any(word != word.lower() or not word for word in rule.words):
            raise RuleError(f"{where}: words must be lower-case and not empty")
        if not all(rule.literals):
            raise RuleError(f"{where}: an empty literal")
        if not rule.samples:
            raise RuleError(f"{where}: no samples, so no test proves that it fires")
    return table


# Secrets.

SECRET_WORDS: tuple[str, ...] = (
    *("password", "passwd", "pwd", "secret", "token", "auth", "api key", "cookie"),
    *("session", "credential", "private key", "jwt", "csrf", "ssn", "credit card"),
)
"""Words that, in a key or name, make its value a secret (any case, anywhere in the key).

A space stands for an optional separator: ``api key`` is also ``apikey``, ``api_key``,
``api-key``, ``api.key`` and, in a key, ``api key``. The key test (:data:`SECRET_KEY`),
the ``secret_pair`` pattern and their cheap precheck (:func:`names_secret`) are all built
from this tuple.
"""

# What follows a secret word without naming a secret: "author", yet "authorize" does.
_NOT_SECRET_AFTER = {"auth": "or(?!i[sz])"}
if not set(_NOT_SECRET_AFTER) <= set(SECRET_WORDS):
    raise RuleError(f"exceptions to words that are not secret words: {_NOT_SECRET_AFTER}")


def _secret_alternation(separator: str) -> str:
    """The secret words as an alternation, each space an optional ``separator``."""
    alternatives = []
    for word in SECRET_WORDS:
        alternative = f"{separator}?".join(re.escape(part) for part in word.split(" "))
        if word in _NOT_SECRET_AFTER:
            alternative += f"(?!{_NOT_SECRET_AFTER[word]})"
        alternatives.append(alternative)
    return "|".join(alternatives)


def _secret_hints() -> tuple[str, ...]:
    # Every spelling of a word holds its head, the part before its first separator. Heads
    # that begin alike for five letters or more share one hint, that beginning: one
    # substring search less, and five letters are still rare in ordinary text. A hint
    # that holds another hint is redundant.
    hints: list[str] = []
    for word in SECRET_WORDS:
        head = word.split(" ", 1)[0]
        for index, hint in enumerate(hints):
            common = 0
            while common < min(len(hint), len(head)) and hint[common] == head[common]:
                common += 1
            if common >= 5:
                hints[index] = hint[:common]
                break
        else:
            hints.append(head)
    return tuple(h for h in hints if not any(o != h and o in h for o in hints))


SECRET_HINTS: tuple[str, ...] = _secret_hints()
"""Lower-case strings, one of which every spelling of a secret word holds."""

SECRET_KEY = re.compile("(?i)" + _secret_alternation(r"[\s_.-]"))
"""Finds a secret word in a key name (a key of an attribute or of a JSON object)."""


def names_secret(text: str) -> bool:
    """Tell whether ``text`` may name a secret.

    Returns:
        False only when ``text`` holds no secret word: a necessary condition of
        :data:`SECRET_KEY` and of the ``secret_pair`` pattern, cheap to test.
    """
    lowered = text.lower()
    return any(hint in lowered for hint in SECRET_HINTS)


@lru_cache(maxsize=4096)
def is_secret_key(key: str) -> bool:
    """Tell whether a value under the key ``key`` is a secret, whatever it looks like."""
    # Keys repeat from report to report (they are the host's attribute names): cached.
    return names_secret(key) and SECRET_KEY.search(key) is not None


def _keep_key(match: re.Match[str]) -> str:
    # The key tells what was there, which helps to read the report; only the value goes.
    return match.group("sp_key") + match.group("sp_sep") + REDACTED


# Numbers and addresses.

_IP = "[ip]"
_VERSION_CONTEXT = re.compile(r"(?i)(?:version|ver\.?|release|v)\s*[:=]?\s*$")


def _ipv4(match: re.Match[str]) -> bool:
    """A real address, not a four-part version number."""
    try:
        ipaddress.IPv4Address(match.group(0))
    except ValueError:
        return False
    before = match.string[max(0, match.start() - 16) : match.start()]
    return not _VERSION_CONTEXT.search(before)


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


def _ipv6(match: re.Match[str]) -> bool:
    return _ipv6_end(match.group(0)) > 0


def _ipv6_marker(match: re.Match[str]) -> str:
    # The pattern may run into colons that follow the address; they stay.
    found = match.group(0)
    return _IP + found[_ipv6_end(found) :]


def _card(match: re.Match[str]) -> bool:
    """Card numbers carry a Luhn checksum; most other long numbers fail it."""
    digits = match.group(0).replace(" ", "").replace("-", "")
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for index, char in enumerate(reversed(digits)):
        digit = int(char)
        if index % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def _iban(match: re.Match[str]) -> bool:
    """IBANs carry a mod-97 checksum."""
    iban = match.group(0).replace(" ", "")
    if not 15 <= len(iban) <= 34:
        return False
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def _ssn(match: re.Match[str]) -> bool:
    """Area, group and serial numbers that are never issued rule a candidate out."""
    area, group, serial = match.group(0).split("-")
    return (
        area not in ("000", "666")
        and not area.startswith("9")
        and group != "00"
        and serial != "0000"
    )


# The running user's identity.

# Account and machine names too generic to be personal, and too common to scrub.
_GENERIC_NAMES = frozenset(
    {
        *("root", "user", "users", "admin", "app", "test", "runner", "ubuntu", "debian"),
        *("node", "www-data", "nobody", "jovyan", "vscode", "localhost", "docker"),
        *("default", "home"),
    }
)


def _names(names: set[str]) -> tuple[str, tuple[str, ...]]:
    names = {n for n in names if n and len(n) >= 3 and n.lower() not in _GENERIC_NAMES}
    if not names:
        return "", ()
    ordered = tuple(sorted(names, key=len, reverse=True))  # longest first wins
    alternatives = "|".join(re.escape(n) for n in ordered)
    return rf"(?<![\w.-])(?:{alternatives})(?![\w-])", ordered


def _user_names(identity: Identity) -> tuple[str, tuple[str, ...]]:
    return _names({identity.user if identity.user is not None else _login_name()})


def _host_names(identity: Identity) -> tuple[str, tuple[str, ...]]:
    host = identity.host if identity.host is not None else _host_name()
    return _names({host, host.split(".", 1)[0]})


def _home(identity: Identity) -> tuple[str, tuple[str, ...]]:
    home = identity.home if identity.home is not None else os.path.expanduser("~")
    home = home.rstrip("/\\")
    # A home that is /home or /Users itself would take every path under it, of any user;
    # the generic pattern of the path rule finds those paths anyway.
    if len(home) <= 1 or home.lower().rstrip("/") in ("/home", "/users"):
        return "", ()
    return re.escape(home) + r"(?![\w.-])(?:[\\/][^\s'\"<>|]*)?", (home,)


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


SAMPLE_IDENTITY = Identity(
    home="/var/lib/builder", user="alicebuilder", host="build-host-42.corp.example"
)
"""The identity that the samples of the ``personal`` rules are written for."""

_LOCAL_PART = r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]"
_PEM = (
    "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBkg4LVWM9nuwNSk3yByxZpYRTBnVJk5oGx+/=\n"
    "-----END EC PRIVATE KEY-----"
)
_JWT = (
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
)

RULE_TABLE: tuple[Rule, ...] = validate_rules(
    (
        Rule(
            "private_key",
            r"-----BEGIN[A-Z ]{0,40}PRIVATE KEY-----[A-Za-z0-9+/=\s]{0,16384}"
            r"(?:-----END[A-Z ]{0,40}PRIVATE KEY-----)?",
            "[private key]",
            literals=("PRIVATE KEY",),
            samples=(_PEM, "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0B"),
            non_samples=("-----BEGIN PUBLIC KEY-----", "private key missing"),
        ),
        Rule(
            "jwt",
            r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}",
            "[token]",
            literals=("eyJ",),
            samples=(_JWT,),
            non_samples=("eyJhbGci", "xeyJhbGciOiJ.eyJzdWIiOiIx.dozjgNry"),
        ),
        Rule(
            "bearer",
            r"\b(?:[Bb]earer|[Bb]asic)[ \t]+[A-Za-z0-9._~+/=-]{8,}",
            "[token]",
            literals=("earer", "asic"),
            samples=("Bearer abcdef0123456789abcdef", "basic dXNlcjpwYXNzd29yZA=="),
            non_samples=("bearer short", "basic idea", "BEARER abcdef0123456789"),
        ),
        Rule(
            "api_key",
            r"\b(?:(?:AKIA|ASIA)[A-Z0-9]{16}|gh[pousr]_[A-Za-z0-9]{36,}|github_pat_\w{22,}"
            r"|xox[abprs]-[A-Za-z0-9-]{10,}|sk-(?:ant-|proj-)?[A-Za-z0-9_-]{20,}"
            r"|AIza[0-9A-Za-z_-]{35}|[rs]k_live_[0-9A-Za-z]{16,})",
            "[token]",
            literals=("AKIA", "ASIA", "gh", "github_pat_", "xox", "sk-", "AIza", "k_live_"),
            samples=(
                *("AKIAIOSFODNN7EXAMPLE", "ghp_" + "a1B2c3D4e5" * 4, "github_pat_" + "x" * 22),
                *("xoxb-1234567890-0987654321-AbCdEfGhIjKl", "sk-proj-" + "Q" * 24),
                *("sk-ant-api03-" + "x" * 24, "AIza" + "SyD-9tSrke72PouQMnMX" + "x" * 15),
                *("sk_live_4eC39HqLyjWDarjtT1zdp7dc", "rk_live_4eC39HqLyjWDarjt"),
            ),
            non_samples=("ghp_short", "sk-learn", "ASIAN markets", "github_pat_x"),
        ),
        Rule(
            SECRET_PAIR,
            rf"(?<![A-Za-z])(?P<sp_key>(?i:{_secret_alternation('[_.-]')})"
            r"[\w.-]{0,40})(?P<sp_sep>[\"']?[ \t]{0,4}[:=][ \t]{0,4}[\"']?)"
            r"(?P<sp_value>(?:(?i:bearer|basic|digest|token)[ \t]+)?[^\s,;&\"'}\]]+)",
            REDACTED,
            words=SECRET_HINTS,
            replace=_keep_key,
            samples=(
                *("password=hunter2", "api_key: 9f8e7d6c5b4a", "AUTH_TOKEN: 'xyz123'"),
                *('"session_id": "abc"', "Authorization: Bearer abc.def.ghi-jkl"),
                *("credit-card=4111", "PrivateKey=abc", "csrf=1"),
            ),
            non_samples=("author=Jane Doe", "authority=local", "password", "token expired"),
        ),
        Rule(
            "url",
            r"\b[A-Za-z][A-Za-z0-9+.-]{0,20}://[^\s'\"<>`]+",
            "[url]",
            literals=("://",),
            samples=(
                "https://alice:s3cret@intranet.example.com/reports?token=abc123",
                "postgres://admin:hunter2@db.internal:5432/app",
                "ftp://files.example.org/private/report.pdf",
            ),
            non_samples=("://nowhere", "http:/one-slash", "std::vector"),
        ),
        Rule(
            "email",
            rf"(?<!{_LOCAL_PART}){_LOCAL_PART}{{1,64}}@"
            r"(?:[A-Za-z0-9-]{1,63}\.){1,8}[A-Za-z][A-Za-z0-9-]{1,62}\b",
            "[email]",
            literals=("@",),
            samples=("alice.smith+crawl@example.co.uk", "bob@intranet.example"),
            non_samples=("@decorator", "a@b", "user@localhost", "a@1.2"),
        ),
        Rule(
            "path",
            r"(?:(?<![\w.])/(?:home|Users)/[^/\s'\"<>|]{1,64}"
            r"|\b[A-Za-z]:[\\/]{1,2}(?:Users|Documents and Settings)[\\/]{1,2}[^\\/\s'\"<>|]{1,64})"
            r"(?:[\\/][^\s'\"<>|]*)?",
            "[path]",
            literals=("/home/", "Users", "Documents and Settings"),
            personal=_home,  # this user's home, wherever it is
            samples=(
                *("/home/alice/projects/secret-plan.txt", "/Users/bob/Library/x"),
                *("C:\\Users\\carol\\AppData\\Local\\acme.log", "/var/lib/builder/.cache/x"),
                *("/var/lib/builder", "D:/Documents and Settings/dave"),
            ),
            non_samples=("/home/", "/var/lib/builder2/other", "/usr/lib/python3.11/json"),
        ),
        Rule(
            "user",
            "",
            "[user]",
            personal=_user_names,
            samples=("alicebuilder",),
            non_samples=("alicebuilder2", "xalicebuilder", "alicebuilder-x"),
        ),
        Rule(
            "host",
            "",
            "[host]",
            personal=_host_names,
            samples=("build-host-42.corp.example", "build-host-42"),
            non_samples=("build-host-421", "my-build-host-42"),
        ),
        Rule(
            "mac",
            r"\b(?:[0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}\b",
            "[mac]",
            trigger=(r"[:-]", r"(?<=[0-9A-Fa-f]{2}[:-])[0-9A-Fa-f]{2}[:-]"),
            samples=("00:1A:2B:3C:4D:5E", "00-1a-2b-3c-4d-5e"),
            non_samples=("00:1A:2B:3C:4D", "13:38:47"),
        ),
        Rule(
            "ipv6",
            # May run into a colon that follows the address ("fe80::1: refused"), which
            # confirm and replace leave out.
            r"(?<![\w:.])[0-9A-Fa-f]{0,4}:[0-9A-Fa-f:]{1,38}(?:%[\w.]{1,16})?(?![\w.])",
            _IP,
            trigger=(r"[:-]", r"(?<=[0-9A-Fa-f]:)[0-9A-Fa-f]{1,4}:|(?<=:):"),
            confirm=_ipv6,
            replace=_ipv6_marker,
            samples=(
                *("2001:0db8:85a3:0000:0000:8a2e:0370:7334", "fe80::1ff:fe23:4567:890a"),
                *("::1", "fe80::1%eth0"),
            ),
            non_samples=("13:38:47", "std::vector::at", "x::y", "dead:beef"),
        ),
        Rule(
            "ipv4",
            r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?!\w|\.\d)",
            _IP,
            trigger=(r"\d", r"\.\d{1,3}\.\d{1,3}\.\d"),
            confirm=_ipv4,
            samples=("192.168.1.23", "10.0.0.1", "8.8.8.8"),
            non_samples=("999.1.1.1", "1.2.3", "version 1.2.3.4", "v2.0.0.1", "1.2.3.4.5"),
        ),
        Rule(
            "iban",
            r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,4})?\b",
            "[iban]",
            trigger=(r"\d", r"(?<=[A-Z]{2}\d)\d"),
            confirm=_iban,
            samples=("GB82 WEST 1234 5698 7654 32", "DE89370400440532013000"),
            non_samples=("GB00 WEST 1234 5698 7654 32", "AB12 CDEF"),
        ),
        Rule(
            "card",
            r"(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])",
            "[card]",
            trigger=(r"\d", r"(?:[ -]?\d){12}"),
            confirm=_card,
            samples=("4111 1111 1111 1111", "4111-1111-1111-1111", "5500000000000004"),
            non_samples=("4111 1111 1111 1112", "1234567890123"),
        ),
        Rule(
            "ssn",
            r"(?<![\d-])\d{3}-\d{2}-\d{4}(?![\d-])",
            "[ssn]",
            trigger=(r"\d", r"\d{2}-\d{2}-\d{4}"),
            confirm=_ssn,
            samples=("123-45-6789", "078-05-1120"),
            non_samples=("000-45-6789", "666-12-3456", "900-12-3456", "123-00-6789"),
        ),
    )
)
"""Every built-in rule, in the order they are tried."""
