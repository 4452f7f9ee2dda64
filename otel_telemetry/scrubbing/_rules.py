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

A match takes nothing of its neighbours: it starts and ends inside what it replaces, so
the quote, bracket or full stop around it stays (``'alice@corp.example'.`` becomes
``'[email]'.``). Text that may hold punctuation (paths, URLs, secret values) may not end
with the punctuation that closes a sentence or a bracket (:data:`_CLOSING`);
``tests/test_scrubbing_neighbours.py`` checks every sample between such neighbours.
"""

from __future__ import annotations

import ipaddress
import os
import re
import sys
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
    *("pass", "pass phrase", "access key", "account key", "signing key", "encryption key"),
    *("sess id", "session id"),
)
"""Words that, in a key or name, make its value a secret (any case, anywhere in the key).

A space stands for an optional separator: ``api key`` is also ``apikey``, ``api_key``,
``api-key``, ``api.key`` and, in a key, ``api key``. The key test (:data:`SECRET_KEY`),
the ``secret_pair`` pattern and their cheap precheck (:func:`names_secret`) are all built
from this tuple.
"""

# What follows a secret word without naming a secret: "author", yet "authorize" does;
# "tokens" counts or lists tokens (max_tokens=4096), "tokenizer" splits text into them.
# "pass" is a secret word only as a whole word of the key (db_pass, dbPass, "pass"):
# glued to letters it is bypass, compass, passenger or passed.
_NOT_SECRET_AFTER = {"auth": "or(?!i[sz])", "token": "s(?![a-z])|i[sz]", "pass": "[a-z]"}
_NOT_SECRET_BEFORE = {"pass": "(?-i:(?<![A-Za-z])|(?<=[a-z])(?=P))"}
if not set(_NOT_SECRET_AFTER) | set(_NOT_SECRET_BEFORE) <= set(SECRET_WORDS):
    raise RuleError(f"exceptions to words that are not secret words: {_NOT_SECRET_AFTER}")

# A key that names a setting about a secret, not the secret itself: token_count=512,
# SESSION_TIMEOUT=30, password_min_length=8, auth_enabled=True, password_file=/run/x.
# The setting word ends the key, after a separator or a camelCase hump (tokenCount).
_SETTING_WORDS = (
    *("count", "timeout", "ttl", "length", "len", "enabled", "disabled", "required"),
    *("size", "limit", "min", "max", "expiry", "expires", "expiration", "age", "lifetime"),
    *("file", "path", "dir", "type", "mode", "method", "url", "uri", "endpoint", "policy"),
    *("version", "level", "interval", "retries", "attempts", "prefix", "format"),
)
_SETTING_KEY = re.compile(
    rf"(?:[_.-](?i:{'|'.join(_SETTING_WORDS)})"
    rf"|[a-z](?:{'|'.join(w.capitalize() for w in _SETTING_WORDS)}))$"
)
# The same as lookbehinds, for the end of a key inside text (fixed width each).
_NOT_A_SETTING = "".join(
    f"(?<!(?i:[_.-]{word}))(?<![a-z]{word.capitalize()})" for word in _SETTING_WORDS
)

# Secret words that also name a secret glued to a prefix without a visible boundary
# (PGPASSWORD, userpassword, accesstoken). The others are too common inside ordinary words
# (posSESSION, claSSName, oAUTH, cwd/oldPWD) to be read there; they still count after a
# separator or a camelCase hump (userSession, basicAuth).
_GLUED_WORDS = tuple(w for w in SECRET_WORDS if w not in ("session", "ssn", "auth", "pwd", "pass"))


def _secret_alternation(separator: str, words: tuple[str, ...] = SECRET_WORDS) -> str:
    """The secret ``words`` as an alternation, each space an optional ``separator``."""
    alternatives = []
    for word in words:
        alternative = f"{separator}?".join(re.escape(part) for part in word.split(" "))
        if word in _NOT_SECRET_BEFORE:
            alternative = _NOT_SECRET_BEFORE[word] + alternative
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
    return names_secret(key) and SECRET_KEY.search(key) is not None and not _SETTING_KEY.search(key)


_QUOTES = ('\\"', "\\'", '"', "'")  # escaped quotes first: they are the longer


def _quoted(value: str, marker: str) -> str:
    """``marker`` in the quotes that ``value`` has: the quotes stay, the text goes."""
    if value[:1] in "[(":
        return value[0] + marker + value[-1]  # a list or a tuple: its brackets stay
    prefix = value[: len(value) - len(value.lstrip("bBrRuU$"))][:2]
    if prefix and value[len(prefix) : len(prefix) + 1] in ("'", '"'):
        return prefix + _quoted(value[len(prefix) :], marker)
    for quote in _QUOTES:
        if value.startswith(quote):
            closed = len(value) >= 2 * len(quote) and value.endswith(quote)
            return quote + marker + (quote if closed else "")
    return marker


def _keep_key(match: re.Match[str]) -> str:
    # The key tells what was there, which helps to read the report; only the value goes.
    key = (match.group("sp_flag") or "") + match.group("sp_key") + match.group("sp_sep")
    return key + _quoted(match["sp_value"], REDACTED)


_LITERALS = frozenset({"none", "null", "nil", "true", "false", "undefined"})


def _user_value(match: re.Match[str]) -> bool:
    """A name, not a number (``uid=1000``) nor a literal (``user=None``)."""
    value = match.group("up_value").strip("\"'")
    return any(c.isalpha() for c in value) and value.lower() not in _LITERALS


def _keep_user_key(match: re.Match[str]) -> str:
    return match.group("up_key") + "=" + _quoted(match["up_value"], "[user]")


# Numbers and addresses.

_IP = "[ip]"
# A word, not the end of one: "server 10.0.0.1" and "dev 10.2.3.4" are addresses. A "v"
# is a version word only before = or : (v=1.2.0.1; v1.2.0.1 is never taken as an address):
# "peer v 10.20.30.40" and "curl -v 192.168.1.23" name addresses.
_VERSION_CONTEXT = re.compile(
    r"(?i)(?:\b(?:version|ver\.?|release)\s*[:=]?|(?<![\w-])v\s*[:=])\s*$"
)


def _ipv4(match: re.Match[str]) -> bool:
    """A real address, not a four-part version number, nor one that names no one.

    Parts may be zero-padded (``192.168.001.023``). Four single digits (``1.2.3.4``,
    ``4.0.0.0``) are a version: no private network numbers its hosts so, and the few
    public addresses written so are shared resolvers. After a version word, a number is
    a version unless a part has three digits: versions count their parts up from 0, and
    one past 99 in a four-part version is rare, while addresses have them in most parts
    (``release 203.0.113.45``). The loopback (``127.0.0.1:8000``) and the unspecified
    address (``0.0.0.0``) are the same on every machine: they stay.
    """
    found = match.group(0)
    parts = found.split(".")
    if any(int(part) > 255 for part in parts):
        return False
    if len(found) == 7:
        return False
    address = ipaddress.IPv4Address(".".join(str(int(part)) for part in parts))
    if address.is_loopback or address.is_unspecified:
        return False
    before = match.string[max(0, match.start() - 16) : match.start()]
    if not _VERSION_CONTEXT.search(before):
        return True
    return any(len(part.lstrip("0")) == 3 for part in parts)


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


_UUID = re.compile(r"[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")


def _in_uuid(match: re.Match[str]) -> bool:
    """The match lies inside a UUID (``a02abda7-4187-4819-8014-…`` holds 13 digits)."""
    start, end = match.span()
    for uuid in _UUID.finditer(match.string, max(0, start - 36), end + 36):
        if uuid.start() <= start and end <= uuid.end():
            return True
    return False


def _card(match: re.Match[str]) -> bool:
    """Card numbers carry a Luhn checksum; most other long numbers fail it; not in a UUID."""
    if _in_uuid(match):
        return False
    found = match.group(0)
    if found.endswith(".0") and found.count(".") == 1:  # written as a float
        found = found[:-2]
    digits = "".join(c for c in found if c.isdigit())
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for index, char in enumerate(reversed(digits)):
        digit = int(char)
        if index % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def _phone(match: re.Match[str]) -> bool:
    """Not a +1 number of other than eleven digits: the plan of +1 has no others."""
    found = match.group(0)
    return not found.startswith("+1") or sum(c.isdigit() for c in found) == 11


def _iban(match: re.Match[str]) -> bool:
    """IBANs carry a mod-97 checksum; not in a UUID (``…-BF46-4C72-B4E1-…`` can pass it)."""
    if _in_uuid(match):
        return False
    iban = match.group(0).replace(" ", "").replace("-", "").upper()
    if not 15 <= len(iban) <= 34:
        return False
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def _aws_secret(match: re.Match[str]) -> bool:
    """Random text has both cases and a digit; hex digests and words do not."""
    found = match.group(0)
    return (
        any(c.isupper() for c in found)
        and any(c.islower() for c in found)
        and any(c.isdigit() for c in found)
    )


def _internal_host(match: re.Match[str]) -> bool:
    """A machine's name, not a Python dotted name ending in ``local`` or ``internal``.

    ``threading.local`` or ``google.protobuf.internal`` are code. A name with a hyphen or
    a label that starts with a digit is never code; otherwise one ending in ``.local`` or
    ``.internal`` is taken as a host only as two labels whose first is no module of this
    process or of the standard library (``db.internal``, ``printer.local``).
    """
    labels = match.group(0).split(".")
    if labels[0].lower() == "localhost":
        return False  # the loopback's name (localhost.localdomain): nothing personal
    if labels[-1].lower() not in ("local", "internal"):
        return True  # corp, lan, intranet, localdomain, home.arpa: not Python names
    if any("-" in label or label[:1].isdigit() for label in labels):
        return True
    return len(labels) == 2 and not _is_module(labels[0])


_STDLIB = frozenset(getattr(sys, "stdlib_module_names", ())) | frozenset(sys.builtin_module_names)


def _is_module(name: str) -> bool:
    return name in sys.modules or name in _STDLIB


def _ssn(match: re.Match[str]) -> bool:
    """Area, group and serial numbers that are never issued rule a candidate out."""
    area, group, serial = re.split("[- ]", match.group(0))
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
    # Any case (GRACEHOPPER for the login gracehopper). The literals are searched as
    # they are written: the spellings people write, as is, lower, upper and capitalised.
    spellings = (
        *ordered,
        *(n.lower() for n in ordered),
        *(n.upper() for n in ordered),
        *(n.capitalize() for n in ordered),
    )
    return rf"(?<![\w.-])(?i:{alternatives})(?![\w-])", tuple(dict.fromkeys(spellings))


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
    # Not the start of another name (/var/lib/builder2, builder.bak); a full stop may follow.
    return re.escape(home) + r"(?![\w-]|\.[\w-])" + _PATH_TAIL, (home,)


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

# What an email's local part is made of, but for the characters that also delimit prose.
_LOCAL = r"[\w.#$%&*+^`|~-]"
# Punctuation that closes a sentence, a clause or a bracket. Paths, URLs and values may
# hold it inside, never as their last character: "(see /home/alice/x.txt)." keeps ").".
_CLOSING = r".,;:!?)\]}"
# A Windows directory's name may hold spaces (C:\Users\John Smith\OneDrive - Acme\): a
# space belongs to a path when a backslash follows it before any quote, colon, slash or
# line end, so that the prose after a path stays.
_SPACE_IN_DIR = r"[ ](?=[^\n'\"<>|\\/:]{0,255}\\)"
_PATH_NAME = rf"(?:[^/\\\s'\"<>|]|{_SPACE_IN_DIR}){{0,63}}[^/\\\s'\"<>|{_CLOSING}]"
_PATH_TAIL = rf"(?:[\\/](?:[^\s'\"<>|]|{_SPACE_IN_DIR})*(?<![{_CLOSING}]))?"
# A .ppk file's line ends (real or escaped newlines) and header values.
_PPK_NEWLINE = r"(?:\r?\n|(?:\\{1,2}r)?\\{1,2}n)"
_PPK_VALUE = rf"[^\s'\"<>\\]{{0,199}}[^\s'\"<>\\{_CLOSING}]"
# A secret's value: a run without spaces, separators or quotes (an "&" ends it only before
# the next key=, as in a query string), or a quoted text (below).
_VALUE = rf"(?:[^\s,;&\"'{{}}\[\]]|&(?![\w.-]{{1,40}}=))*[^\s,;&\"'{{}}\[\]<>(){_CLOSING}]"
# A key that ends so names an error, not a secret: "AuthenticationError: invalid key".
_NOT_A_KEY = "".join(
    f"(?<!{ending})(?<!{ending.upper()})"
    for ending in ("rror", "xception", "arning", "ailed", "ailure")
)
# A secret word at a boundary or a camelCase hump (userPassword), or one of the glued words
# after any letter (PGPASSWORD); then the rest of the key, taken whole: a lookahead and a
# backreference make an atomic group, so a key that is not followed by a separator fails
# at once instead of giving back its characters one by one.
_SECRET_PAIR_KEY = (
    rf"(?:(?:(?<![A-Za-z/\\])|(?=[A-Z][a-z]))(?i:{_secret_alternation('[ _.-]')})"
    rf"|(?<=[A-Za-z])(?i:{_secret_alternation('[ _.-]', _GLUED_WORDS)}))"
    rf"(?=(?P<sp_tail>[\w.-]{{0,40}}))(?P=sp_tail){_NOT_A_KEY}{_NOT_A_SETTING}"
)

_PEM = (
    "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBkg4LVWM9nuwNSk3yByxZpYRTBnVJk5oGx+/=\n"
    "-----END EC PRIVATE KEY-----"
)
_PEM_ESCAPED = (
    "-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\\nabcdEFGH1234+/==\\n"
    "-----END PRIVATE KEY-----"
)
_JWT = (
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
)
_PGP = (
    "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQOYBGX9hBl9BT7PdgNY2oB1omtr99PeONUym/iD2o8s6iCA8M+U"
    "\n=Xk1c\n-----END PGP PRIVATE KEY BLOCK-----"
)
_PPK = (
    "PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: alice@laptop\n"
    "Public-Lines: 2\nAAAAC3NzaC1lZDI1NTE5AAAAIJyGteds0YWPRhf3B11CE2\nAMoDFRbgrwmk0c==\n"
    "Private-Lines: 1\nAAAAIEFh9UoxaSGmLxzyEzNOnZ/9c6zGnO4eh0Hs2wJ+Q\n"
    "Private-MAC: 5b1ee2a8e8c4f4c2f07e5b6c0d9e1a7f3b2c4d5e6f708192a3b4c5d6e7f80912"
)
_SSH_RSA = "AAAAB3NzaC1yc2EAAAADAQABAAABAQC7vbqajDhA+17ZQ9Kx1x2q8B3KmPsEo4Lw"
_AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

RULE_TABLE: tuple[Rule, ...] = validate_rules(
    (
        Rule(
            "pgp_block",
            # Headers, cleartext and armor alike, up to the end line; without one, as far
            # as 64 KiB: a block cut short is still all secret.
            r"-----BEGIN PGP [A-Z ]{1,30}-----(?:[^-]|-(?!----END PGP )){0,65536}"
            r"(?:-----END PGP [A-Z ]{1,30}-----)?",
            "[pgp block]",
            literals=("-----BEGIN",),  # one search for this rule and the next
            samples=(
                _PGP,
                _PGP.replace("\n", "\\n"),
                "-----BEGIN PGP MESSAGE-----\nVersion: GnuPG v2\n\nhQEMA+x/y=\n"
                "-----END PGP MESSAGE-----",
                "-----BEGIN PGP SIGNATURE-----\niQEz-BAEBCAAd\n-----END PGP SIGNATURE-----",
            ),
            non_samples=("BEGIN PGP", "-----BEGIN PGP-----", "pgp block missing"),
        ),
        Rule(
            "private_key",
            # Newlines may be real or written as escapes (a key inside JSON text); a space
            # belongs to the body only before a stretch of base64 (a key pasted on one
            # line), so the prose after a key cut short stays.
            r"-----BEGIN[A-Z ]{0,40}PRIVATE KEY-----"
            r"(?:(?:Proc-Type|DEK-Info):[ \t]?[\w,-]{1,80}|[A-Za-z0-9+/=\r\n]"
            r"|\\{1,2}[rnt/]|[ \t]{1,4}(?=[A-Za-z0-9+/=]{16}|-----END)){0,16384}"
            r"(?:-----END[A-Z ]{0,40}PRIVATE KEY-----)?"
            # A PuTTY .ppk file: its header, then lines of "Name: value" or of base64, the
            # newlines real or escaped, up to its Private-MAC; the comment (often
            # user@host) goes with it.
            rf"|PuTTY-User-Key-File-\d{{1,2}}:[ \t]?{_PPK_VALUE}"
            # A base64 line of 16 characters or more is one whatever follows it; a shorter
            # one only up to the line's end (not the "exit" of "exit 2").
            rf"(?:{_PPK_NEWLINE}(?:[A-Za-z][\w-]{{0,40}}: {_PPK_VALUE}"
            rf"|[A-Za-z0-9+/=]{{16,200}}|[A-Za-z0-9+/=]{{1,15}}(?={_PPK_NEWLINE}|$))){{0,400}}",
            "[private key]",
            literals=("-----BEGIN", "PuTTY-User-Key-File-"),
            samples=(
                *(_PEM, _PEM_ESCAPED, "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0B"),
                _PEM.replace("\n", " "),
                "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmU=\n"
                "-----END OPENSSH PRIVATE KEY-----",
                "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n"
                "DEK-Info: AES-128-CBC,3F17F5316E2BAC89\n\nMIIEpAIBAAKCAQEA\n"
                "-----END RSA PRIVATE KEY-----",
                _PPK,
                _PPK.replace("\n", "\\n"),
                "PuTTY-User-Key-File-2: ssh-rsa\nPrivate-Lines: 14\nAAABAQCm8Ld1s3k9Qh2YtZ5vW8",
            ),
            non_samples=(
                *("-----BEGIN PUBLIC KEY-----", "private key missing"),
                "PuTTY-User-Key-File-2 is the format",
            ),
        ),
        Rule(
            "ssh_key",
            # The comment after the key is most often user@host: it goes with the key.
            r"\b(?:(?:ssh-(?:rsa|dss|ed25519|ed448)|ecdsa-sha2-nistp(?:256|384|521))"
            r"(?:-cert-v01@openssh\.com)?|sk-(?:ssh-ed25519|ecdsa-sha2-nistp256)"
            r"(?:-cert-v01)?@openssh\.com)[ \t]{1,4}AAAA[A-Za-z0-9+/]{8,16384}={0,3}"
            r"(?:[ \t]{1,4}[\w.+-]{1,64}@[\w.-]{0,252}[\w-])?",
            "[ssh key]",
            literals=("AAAA",),  # every key's base64 starts so: one search for all kinds
            samples=(
                f"ssh-rsa {_SSH_RSA} alice@laptop",
                "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJyGteds0YWPRhf3B11CE2AMoDFRbgrwmk0cPdnuDzo9",
                "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTY=",
                "sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29t",
            ),
            non_samples=("ssh-rsa", "ssh-rsa keys are refused", "ssh-ed25519 AAAA"),
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
            r"\b(?:[Bb]earer|[Bb]asic)[ \t]+[A-Za-z0-9._~+/=-]{7,}[A-Za-z0-9_~+/=-]",
            "[token]",
            literals=("earer", "asic"),
            samples=("Bearer abcdef0123456789abcdef", "basic dXNlcjpwYXNzd29yZA=="),
            non_samples=("bearer short", "basic idea", "BEARER abcdef0123456789"),
        ),
        Rule(
            "api_key",
            r"\b(?:(?:AKIA|ASIA)[A-Z0-9]{16}|gh[pousr]_[A-Za-z0-9]{36,}|github_pat_\w{22,}"
            r"|xox[abprs]-[A-Za-z0-9-]{10,}|sk-(?:ant-|proj-)?[A-Za-z0-9_-]{20,}"
            r"|AIza[0-9A-Za-z_-]{35}|[rs]k_(?:live|test)_[0-9A-Za-z]{16,}"
            r"|gl(?:pat|ptt|dt|rt|cbt|soat|oas|ft|imt|agent)-[0-9A-Za-z_-]{20,}"
            r"|hf_[A-Za-z0-9]{30,}|npm_[A-Za-z0-9]{36,}|pypi-AgE[A-Za-z0-9_-]{50,})",
            "[token]",
            # "gl" finds every GitLab prefix (glpat-, gldt-, glrt-, ...): one search.
            literals=(
                *("AKIA", "ASIA", "gh", "github_pat_", "xox", "sk-", "AIza", "k_live_", "k_test_"),
                *("gl", "hf_", "npm_", "pypi-AgE"),
            ),
            samples=(
                *("AKIAIOSFODNN7EXAMPLE", "ghp_" + "a1B2c3D4e5" * 4, "github_pat_" + "x" * 22),
                *("xoxb-1234567890-0987654321-AbCdEfGhIjKl", "sk-proj-" + "Q" * 24),
                *("sk-ant-api03-" + "x" * 24, "AIza" + "SyD-9tSrke72PouQMnMX" + "x" * 15),
                *("sk_live_4eC39HqLyjWDarjtT1zdp7dc", "rk_live_4eC39HqLyjWDarjt"),
                *("sk_test_4eC39HqLyjWDarjtT1zdp7dc", "rk_test_4eC39HqLyjWDarjt"),
                *("glpat-vUh6h-QvEZU4YUWisJEp", "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"),
                "npm_m7exW0cQt1Go5RZ5tbalWjV27ZidQMNW442u",
                "pypi-AgEIcHlwaS5vcmcCJDkzYjY0ZjE3LTUyMmQtNDcxNy1hN2I4LWQ0NWY3OTQ2NjM0NQ",
            ),
            non_samples=(
                *("ghp_short", "sk-learn", "ASIAN markets", "github_pat_x", "glpat-short"),
                # Stripe's publishable keys are public by design: they are in web pages.
                "pk_live_4eC39HqLyjWDarjtT1zdp7dc",
                *("hf_hub_download", "npm_config_cache", "pypi-simple"),
            ),
        ),
        Rule(
            "aws_secret_key",
            # 40 characters of base64 with no label; confirm asks for both cases and a
            # digit, so that a 40-character hex digest (a git commit) is not one.
            r"(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+])",
            "[token]",
            # A digit of the key has 20 of its characters after it, or 19 before it.
            trigger=(r"\d", r"(?:[A-Za-z0-9/+]{20}|(?<=[A-Za-z0-9/+]{20}))"),
            confirm=_aws_secret,
            samples=(_AWS_SECRET, "OnItbFG4sYKjWCg+SvwzonLVxEqL3r9FcreV2k9Q"),
            non_samples=(
                *("3f786850e387550fdab836ed7e6dc881de23001b", "A" * 40, _AWS_SECRET + "x"),
                "AbstractSingletonProxyFactoryBeanManager",
                "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                "0x7f3a2c1b4e10",
            ),
        ),
        Rule(
            SECRET_PAIR,
            # The key: a secret word at a boundary, a camelCase hump (userPassword) or, for
            # some words, glued to a prefix (PGPASSWORD). In a list of pairs separated by
            # semicolons (ADO.NET: ";Password=Pass word1;"), a value runs to the next
            # semicolon, spaces and all.
            # The separator: = or : (also written %3D, \u003d or =>); after a command-line
            # flag (--password X), spaces; after a key in prose (wrong password 'x'),
            # spaces before a quoted text, but for "token", which in "unexpected token
            # '<'" is a parser's.
            rf"(?P<sp_semi>(?<=;))?(?P<sp_flag>(?<![\w-])--)?(?P<sp_key>{_SECRET_PAIR_KEY})"
            r"(?P<sp_sep>(?:\\?[\"'])?[ \t]{0,4}(?:=>|[:=]|%3[DdAa]|\\u003[DdAa])[ \t]{0,4}"
            r"|(?(sp_flag)[ \t]{1,4}(?![-\s])|(?!))"
            r"|(?<!(?i:token))[ \t]{1,4}"
            r"(?=\"(?:[^\"\\\n]|\\.){1,1024}\"|'(?:[^'\\\n]|\\.){1,1024}'))"
            # Not an object or a list (its pairs are scrubbed each), nor a PEM block (its
            # own rule takes it all), nor a sentence after a colon: "ExpiredToken: The
            # provided token has expired" is an error code and its message.
            r"(?P<sp_value>(?!\{|\\?[\"']?-----"
            r"|(?:(?<=:)|(?<=: ))(?!(?:Bearer|Basic|Digest|Token) )[A-Z][a-z]{1,20} [a-z])"
            # A list or tuple of values goes whole; a string prefix (b'...', $'...') is
            # part of the value it opens.
            r"(?:\[[^\]\n]{1,256}\]|\([^)\n]{1,256}\)"
            r"|(?:[bBrRuU]{1,2}|\$)?(?:\"(?:[^\"\\\n]|\\.){1,1024}\"|'(?:[^'\\\n]|\\.){1,1024}')"
            r"|\\\"(?:[^\"\\\n]|\\[^\"\n]){1,1024}\\\"|\\'(?:[^'\\\n]|\\[^'\n]){1,1024}\\'"
            r"|(?(sp_semi)(?<==)[^;=\n\"']{1,256}(?=[;\"']|$)|(?!))"
            rf"|[\"']?(?:(?i:bearer|basic|digest|token)[ \t]+)?{_VALUE}))",
            REDACTED,
            words=SECRET_HINTS,
            replace=_keep_key,
            samples=(
                *("password=hunter2", "api_key: 9f8e7d6c5b4a", "AUTH_TOKEN: 'xyz123'"),
                *('"session_id": "abc"', "Authorization: Bearer abc.def.ghi-jkl"),
                *("credit-card=4111", "PrivateKey=abc", "csrf=1"),
                *("userPassword=hunter2", "accessToken=abc123", "PGPASSWORD=s3cr3t"),
                *("MYSQL_PWD=s3cr3t", "x-api-key: abcd1234", "clientSecret: zzz-secret-1"),
                *('password="two words here"', "secret: 'a b c'"),
                *('"password": "correct horse battery"', '\\"password\\": \\"a b\\"'),
                "Server=tcp:x;User Id=sa;Password=Pass word1;",
                "password=Tr0ub4dor&3",
            ),
            non_samples=(
                *("author=Jane Doe", "authority=local", "password", "token expired"),
                *("tokenizer=bert-base", "max_tokens=4096", "missing session_id"),
                *("/etc/passwd: permission denied", "className=Foo", "possession=3"),
                'credentials: {"type": "service_account"}',
                "InvalidClientTokenId: The security token included in the request is invalid",
                "authentication_error: invalid x-api-key",
                "AuthenticationError: invalid credentials",
            ),
        ),
        Rule(
            "user_pair",
            # A user name given by its key (a connection string's user=, User Id=, uid=).
            r"(?P<up_key>(?:(?<![A-Za-z0-9.])(?i:user(?:[ _-]?(?:name|id))?|uid|login)"
            r"|(?<=[A-Z])USER(?:NAME)?))="
            r"(?P<up_value>\"[^\"\n]{1,64}\"|'[^'\n]{1,64}'"
            rf"|[^\s,;&\"'(){{}}\[\]<>=]{{0,63}}[^\s,;&\"'(){{}}\[\]<>={_CLOSING}])",
            "[user]",
            trigger=(
                "[=]",
                r"(?:(?<=(?i:user)=)|(?<=(?i:name)=)|(?<=(?i:id)=)|(?<=(?i:login)=))",
            ),
            confirm=_user_value,
            replace=_keep_user_key,
            samples=(
                *("user=bob", "username='grace'", "User Id=sa", "uid=etl_writer"),
                *("login=dwright", "PGUSER=bob", "--user=alice"),
            ),
            non_samples=("user=None", "uid=1000", "user_id=42", "superuser=x", "username"),
        ),
        Rule(
            "url",
            rf"\b[A-Za-z][A-Za-z0-9+.-]{{0,20}}://[^\s'\"<>`]*[^\s'\"<>`{_CLOSING}]",
            "[url]",
            literals=("://",),
            samples=(
                "https://alice:s3cret@intranet.example.com/reports?token=abc123",
                "postgres://admin:hunter2@db.internal:5432/app",
                "ftp://files.example.org/private/report.pdf",
                "file:///Users/alice/file.txt",
            ),
            non_samples=("://nowhere", "http:/one-slash", "std::vector"),
        ),
        Rule(
            "email",
            # Any script in the local part and the domain (josé@bücher.example), and the
            # "@" written %40 as in a URL. The local part is a run of characters that
            # never delimit prose; an apostrophe belongs to it between letters (o'neil@),
            # and the other characters RFC 5322 allows (!'/=?{}) only right before the
            # "@", so that the quote or the key= before an address stays.
            # The "@" may also be fullwidth, or escaped: %40, %2540 (encoded twice), \u0040,
            # \x40, &#64; or &#x40;.
            rf"(?<!{_LOCAL})(?:(?:{_LOCAL}|(?<=\w)'(?=\w)){{1,64}}[!'/=?{{}}]{{0,8}}[@\uff20]"
            r"|[!'/=?{}]@|[\w+-][\w.+-]{0,63}"
            r"(?:%(?:25)?40|\\u0040|\\x40|&\#0{0,3}64;|&\#[xX]0{0,3}40;))"
            r"(?:[\w-]{1,63}\.){1,126}[^\W\d_](?:[^\W_]|-){1,62}(?<!-)\b",
            "[email]",
            literals=("@", "%40", "%2540", "\\u0040", "\\x40", "&#64;", "&#x40;", "\uff20"),
            samples=(
                *("alice.smith+crawl@example.co.uk", "bob@intranet.example"),
                *("josé.müller@example.de", "anna@bücher.example", "anna@xn--bcher-kva.example"),
                *("alice%40corp.example", "MARK.O'NEIL@EXAMPLE-BANK.COM", "L#@HnV0z.sHIA"),
                *("x{=@example.org", "'@example.org"),
                *("alice\\u0040corp.example", "alice\\x40corp.example", "alice&#64;corp.example"),
                *("alice&#x40;corp.example", "alice\uff20corp.example", "alice%2540corp.example"),
            ),
            non_samples=("@decorator", "a@b", "user@localhost", "a@1.2", "numpy@1.26.4"),
        ),
        Rule(
            "unc_path",
            # \\server\share\..., also with each backslash doubled as in a repr.
            # //server/share/...: the same with forward slashes, not after a scheme's colon.
            rf"(?:(?<![\w\\])\\\\(?:\\\\)?[A-Za-z0-9][\w.-]{{1,62}}\\{{1,2}}"
            r"|(?<![\w:/\\.])//[A-Za-z0-9][\w.-]{1,62}/)"
            rf"{_PATH_NAME}{_PATH_TAIL}",
            "[path]",
            literals=("\\\\", "//"),
            samples=(
                "\\\\fileserver01\\users\\grace\\taxes\\2023-return.pdf",
                "\\\\\\\\fileserver01\\\\share",
                "\\\\nas-02.corp.example\\finance$\\q3-close",
                "//fileserver01/users/grace/q3.xlsx",
            ),
            non_samples=(
                *("\\\\d+", "a\\\\nb\\\\nc", "\\\\server", "// see docs/x"),
                *("http://example.org/a/b", "//server", "a//b/c", "//TODO: fix/x"),
            ),
        ),
        Rule(
            "path",
            # Homes under a mount (/nfs/home, /gpfs/home, /volume1/homes), numbered
            # (/home2), and /users/ in lower case before a name that starts with a letter
            # (not a route's /users/42).
            r"(?:(?<![\w.])(?:(?:/(?:var|export|usr|nfs|gpfs|net|mnt|data|srv|shared|storage"
            r"|scratch|volume\d{1,2})){0,2}/homes?\d{0,2}/|(?:/[A-Za-z])?/Users/"
            r"|/users/(?=[A-Za-z])|/(?:mnt|cygdrive)/[A-Za-z]/(?i:users)/)"
            + _PATH_NAME
            + r"|\b[A-Za-z]:[\\/]{1,2}(?i:users|documents and settings)[\\/]{1,2}"
            + _PATH_NAME
            # C:%5CUsers%5Calice%5C... as in a URL: the rest of the run is the path.
            + rf"|\b[A-Za-z]:%5[Cc](?i:users)%5[Cc][^\s'\"<>|]{{0,1023}}[^\s'\"<>|{_CLOSING}]"
            # ~alice/...: a home named by its user. A bare ~/ names no one: it stays.
            + r"|(?<![\w~/\\.-])~[A-Za-z_][\w.-]{0,31}(?=[\\/]))"
            + _PATH_TAIL,
            "[path]",
            literals=("/home", "~"),
            words=("users", "documents and settings"),
            personal=_home,  # this user's home, wherever it is
            samples=(
                *("/home/alice/projects/secret-plan.txt", "/Users/bob/Library/x"),
                *("C:\\Users\\carol\\AppData\\Local\\acme.log", "/var/lib/builder/.cache/x"),
                *("/var/lib/builder", "D:/Documents and Settings/dave"),
                *("c:\\users\\rvasquez\\documents\\budget.xlsx", "C:/Users/sgupta/out.json"),
                *("C:\\\\Users\\\\mnakamura\\\\run.py", "/mnt/c/Users/eokonkwo/Downloads"),
                *("/var/home/lpetrova/.config", "/export/home/jmbeki/acme.log"),
                *("/usr/home/kim/x", "/c/Users/bob/x", "~alice/notes.txt"),
                *("/users/alice/notes.txt", "/home2/alice/notes.txt", "/nfs/home/alice/x"),
                *("/gpfs/home/alice/run.log", "/nfs/homes/alice.smith/thesis.pdf"),
                *("/volume1/homes/alice/photo.jpg", "C:%5CUsers%5Calice%5Cx.txt"),
                "C:\\Users\\alice\\OneDrive - Contoso Ltd\\Medical\\biopsy.pdf",
                "C:\\Users\\John Smith\\Documents\\cv.docx",
            ),
            non_samples=(
                *("/home/", "/var/lib/builder2/other", "/usr/lib/python3.11/json"),
                *("~/.acme/config.json", "/api/users/42", "~=1.2", "/srv/homesick/x"),
                *("GET /users/42/profile", "/homework/x", "/api/home/feed"),
            ),
        ),
        Rule(
            "user",
            "",
            "[user]",
            personal=_user_names,
            samples=("alicebuilder", "ALICEBUILDER", "Alicebuilder"),
            non_samples=("alicebuilder2", "xalicebuilder", "alicebuilder-x"),
        ),
        Rule(
            "host",
            "",
            "[host]",
            personal=_host_names,
            samples=("build-host-42.corp.example", "build-host-42", "BUILD-HOST-42"),
            non_samples=("build-host-421", "my-build-host-42"),
        ),
        Rule(
            "internal_host",
            # A name with a label of a private network: corp, lan, intranet, localdomain
            # anywhere; local, internal or home.arpa at the end.
            r"(?<![\w.@/\\-])(?:[A-Za-z0-9][A-Za-z0-9-]{0,62}\.){1,8}"
            r"(?:(?i:corp|intranet|lan|localdomain)(?:\.[A-Za-z0-9][A-Za-z0-9-]{0,62}){0,6}"
            r"|(?i:internal|local|home\.arpa))(?![\w-]|\.[\w-])",
            "[host]",
            # The anchor of mac and ipv6: rules that share an anchor are one search.
            trigger=("[:.-]", r"(?<=\.)(?i:corp|intranet|lan|local|internal|home\.arpa)"),
            confirm=_internal_host,
            samples=(
                *("build-07.corp.example.com", "ip-172-31-22-33.us-west-2.compute.internal"),
                *("printer.local", "db.internal", "Kims-MacBook-Pro.local", "wiki.hr.intranet"),
                *("dc01.ad.acme.corp", "hp-laserjet-3f.lan", "router.home.arpa"),
            ),
            non_samples=(
                *("localhost", "os.path", "acme.local_settings", "threading.local"),
                *("google.protobuf.internal", "localhost.localdomain", "java.lang.String"),
                *(".env.local", "_thread._local", "x.corporate"),
            ),
        ),
        Rule(
            "mac",
            r"\b(?:[0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}\b"
            # Cisco writes three groups of four: 0050.56a3.7f1e.
            r"|(?<![\w.])[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}(?!\w|\.\w)",
            "[mac]",
            trigger=(
                r"[:.-]",
                r"(?:(?<=[0-9A-Fa-f]{2}[:-])[0-9A-Fa-f]{2}[:-]"
                r"|(?<=[0-9A-Fa-f]{4}\.)[0-9A-Fa-f]{4}\.)",
            ),
            samples=("00:1A:2B:3C:4D:5E", "00-1a-2b-3c-4d-5e", "0050.56a3.7f1e"),
            non_samples=(
                *("00:1A:2B:3C:4D", "13:38:47", "1.2.3.4", "2024.0315.1200.1"),
                "2024-01-02T13:38:47.123456+00:00",
            ),
        ),
        Rule(
            "ipv6",
            # May run into a colon that follows the address ("fe80::1: refused"), which
            # confirm and replace leave out.
            r"(?<![\w:.])[0-9A-Fa-f]{0,4}:[0-9A-Fa-f:]{1,38}(?:%[\w.]{0,15}\w)?(?!\w|\.\d)",
            _IP,
            trigger=(r"[:.-]", r"(?:(?<=[0-9A-Fa-f]:)[0-9A-Fa-f]{1,4}:|(?<=::))"),
            confirm=_ipv6,
            replace=_ipv6_marker,
            samples=(
                *("2001:0db8:85a3:0000:0000:8a2e:0370:7334", "fe80::1ff:fe23:4567:890a"),
                *("::1", "fe80::1%eth0", "2606:4700:4700::1111"),
            ),
            non_samples=(
                *("13:38:47", "std::vector::at", "x::y", "dead:beef", "13:38:47.512"),
                *("acme/core.py:45:12", "file.py:123", "2024-01-02T13:38:47.123456+00:00"),
                "sha256:4f4fb700ef54461cfa02571ae0db9a0dc1e0cdb5577484a6d75e68dc38e8acc1",
            ),
        ),
        Rule(
            "ipv4",
            r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?!\w|\.\d)",
            _IP,
            trigger=(r"\d", r"\.\d{1,3}\.\d{1,3}\.\d"),
            confirm=_ipv4,
            samples=(*("192.168.1.23", "10.0.0.1", "203.0.113.45", "8.8.4.10", "192.168.001.023"),),
            non_samples=(
                *("999.1.1.1", "1.2.3", "version 1.2.3.4", "v2.0.0.1", "1.2.3.4.5"),
                *("1.2.3.4", "release 2.0.0.1", "driver version 10.2.0.1", "v1.2.3.4"),
                *("127.0.0.1:8000", "0.0.0.0", "127.0.1.1", "v=10.2.0.1"),
            ),
        ),
        Rule(
            "phone",
            # International format only: a "+", a country code and 8 to 15 digits in all,
            # grouped by spaces, dots, dashes or parentheses.
            # The spaces may be no-break ones, as typeset numbers have. A number of the
            # North American plan (+1) has ten digits after the 1.
            r"(?<![\w+])\+[1-9](?:[ \u00a0\u202f.()-]{0,2}\d){7,14}(?!\d)",
            "[phone]",
            trigger=("[+]", r"[1-9](?:[ \u00a0\u202f.()-]{0,2}\d){7}"),
            confirm=_phone,
            samples=(
                *("+1 415 555 0132", "+44 20 7946 0958", "+49-30-1234567"),
                *("+33 1 23 45 67 89", "+819012345678", "+1 (415) 555-0132"),
                "+44\u00a020\u00a07946\u00a00958",
            ),
            non_samples=(
                "+1 2345 6789 range",
                *("+05:30", "2024-01-02T13:38:47.123456+00:00", "1e+10", "+1234567"),
                "C++17",
            ),
        ),
        Rule(
            "iban",
            # In capitals with or without spaces or dashes; in lower case only grouped (a
            # run of lower-case letters and digits is more often a hash).
            r"\b(?:[A-Z]{2}\d{2}(?:[ -]?[A-Z0-9]{4}){2,7}(?:[ -]?[A-Z0-9]{1,4})?"
            r"|(?i:[a-z]{2}\d{2}(?:[ -][a-z0-9]{4}){2,7}(?:[ -][a-z0-9]{1,4})?))\b",
            "[iban]",
            trigger=(r"\d", r"(?<=[A-Za-z]{2}\d)\d"),
            confirm=_iban,
            samples=(
                *("GB82 WEST 1234 5698 7654 32", "DE89370400440532013000"),
                *("gb82 west 1234 5698 7654 32", "GB82-WEST-1234-5698-7654-32"),
            ),
            non_samples=(
                *("GB00 WEST 1234 5698 7654 32", "AB12 CDEF", "de89370400440532013000"),
                "94414CB5-BF46-4C72-B4E1-B8C0F798866C",  # a UUID: BF46-… passes mod 97
            ),
        ),
        Rule(
            "card",
            # Four groups of four with one separator throughout (space, no-break space,
            # dash or dot), and no more: what follows is an expiry (-12/27) or a CVC;
            # else digits with spaces or dashes between any of them. A float's ".0" goes
            # with it: 4111111111111111.0 is the same card number. A dash after a letter
            # is no minus (cc-4111...).
            r"(?<!\d)(?<!\d[-.])(?:\d{4}(?P<cd_sep>[ \u00a0.-])\d{4}(?P=cd_sep)\d{4}"
            r"(?P=cd_sep)\d{4}|(?:\d[ \u00a0-]?){12,18}\d(?:\.0\b)?)(?!\d|-\d{3})",
            "[card]",
            trigger=(r"\d", r"(?:[ \u00a0.-]?\d){12}"),
            confirm=_card,
            samples=(
                *("4111 1111 1111 1111", "4111-1111-1111-1111", "5500000000000004"),
                *(
                    "4111111111111111.0",
                    "4111.1111.1111.1111",
                    "4111\u00a01111\u00a01111\u00a01111",
                ),
            ),
            non_samples=(
                *("4111 1111 1111 1112", "1234567890123", "4111111111111112.0"),
                *("timestamp 1700000000", "6ba7b810-9dad-11d1-80b4-00c04fd430c8"),
                "a02abda7-4187-4819-8014-a0fcc439209b",  # 7-4187-4819-8014 passes Luhn
                "1.2.3.4.5.6.7.8.9.0.1.2.3",
            ),
        ),
        Rule(
            "ssn",
            # Dashes or spaces, the same both times.
            r"(?<![\d-])(?:(?<!\d )|(?=\d{3}-))\d{3}(?P<ssn_sep>[- ])\d{2}(?P=ssn_sep)\d{4}"
            r"(?![\d-]|(?<=[ ]\d{2}[ ]\d{4})[ ]\d)",
            "[ssn]",
            trigger=(r"\d", r"\d{2}[- ]\d{2}[- ]\d{4}"),
            confirm=_ssn,
            samples=("123-45-6789", "078-05-1120", "123 45 6789"),
            non_samples=(
                *("000-45-6789", "666-12-3456", "900-12-3456", "123-00-6789"),
                *("123-45 6789", "1 123 45 6789", "123 45 6789 0"),
            ),
        ),
    )
)
"""Every built-in rule, in the order they are tried."""
