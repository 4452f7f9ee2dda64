r"""The gateway's scrubbing rules, in RE2: otel_telemetry's rule table ported, as data.

``generate.py`` (beside this file) writes gateway.yaml's ``transform/scrub`` and
``redaction`` sections from this module: change a rule here, then run it; never edit
those sections by hand.

What it promises:

* ``TEXT_RULES``: the rules of ``otel_telemetry/scrubbing/_rules.py``, in the library's
  order, each as ``(name, description, steps)``. Its ``jwt``, ``bearer`` and ``api_key``
  are one rule here (``token``), its ``unc_path`` and ``path`` one (``path``); its ``user``
  and ``host`` (the sending machine's login and host names) have no counterpart, the
  gateway knows neither; ``invisible`` comes first, as the library's scrubber removes
  invisible characters before its rules run. A step is ``(regex, replacement)``, applied
  to the whole text as OTTL's ``replace_pattern`` applies it (Go's
  ``Regexp.ReplaceAllString``), the steps of a rule one after the other.
* ``value_steps(stack)``: the library's value rule (data quoted or repr'd in exception
  messages, stack text and the status message) as steps ``(regex, replacement, trigger)``:
  a step runs only on a text ``trigger`` matches (``None``: on every text).
* ``SECRET_KEYS``: the regex of attribute keys that name a secret (removed whole).

A regex is RE2 as Go's ``regexp`` reads it: no lookaround, no backreferences. A
replacement is a Go template: ``${N}`` is group N, the rest is literal text, and
``\uE000``-style escapes (OTTL string escapes, kept as written) are the private-use
sentinels below. Where the library needs a lookaround or a check (both cases and a digit,
not a loopback address), the rule takes several steps: its candidates are wrapped in the
sentinels U+E000 and U+E001 (U+E002 to U+E005 for intermediate states), the ones that are
not the rule's are unwrapped, and the rest are replaced by the rule's marker. The
``invisible`` rule, first, removes any sentinel already in the text.

Python's standard library only: this runs with any ``python3`` (3.9 or later), before a
virtual environment exists.
"""

from __future__ import annotations

from typing import Optional, Sequence

Step = tuple[str, str]
"""A regex and its Go replacement template."""
ValueStep = tuple[str, str, Optional[str]]
"""A regex, its Go replacement template, and the regex a text must match for it to run."""
Rule = tuple[str, str, list[Step]]
"""A rule: its name in the library's table, what it removes, its steps."""

# The sentinels: S0 opens and S1 closes a candidate, as written in a regex; T0 and T1
# are the same in a replacement template (OTTL string escapes, which OTTL unquotes).
# S2 to S5 (below) mark the intermediate states of secret_pair and iban.
S0 = r"\x{E000}"
S1 = r"\x{E001}"
T0 = "\\uE000"
T1 = "\\uE001"
NOT_S = r"[^\x{E000}\x{E001}]"
CLOSING = r".,;:!?)\]}"


class Pattern:
    """A regex built left to right, its capturing groups numbered as they are added.

    Each group has a role: ``keep`` (written back as it was) or ``content`` (the part a
    rule marks or replaces).
    """

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.roles: list[str] = []

    def lit(self, text: str) -> Pattern:
        """Appends ``text`` (no group)."""
        self.parts.append(text)
        return self

    def keep(self, text: str) -> Pattern:
        """Appends ``text`` as a group written back unchanged."""
        self.parts.append(f"({text})")
        self.roles.append("keep")
        return self

    def content(self, text: str) -> Pattern:
        """Appends ``text`` as a group the rule marks or replaces."""
        self.parts.append(f"({text})")
        self.roles.append("content")
        return self

    @property
    def regex(self) -> str:
        """The regex so far."""
        return "".join(self.parts)

    def mark(self) -> Step:
        """A step writing every group back, each content group between the sentinels."""
        out = []
        for index, role in enumerate(self.roles, 1):
            out.append(f"{T0}${{{index}}}{T1}" if role == "content" else f"${{{index}}}")
        return self.regex, "".join(out)

    def restore(self) -> Step:
        """A step writing every group back (sentinels matched outside groups go)."""
        return self.regex, "".join(f"${{{i}}}" for i in range(1, len(self.roles) + 1))


def finalize(marker: str) -> Step:
    """The last step of a marking rule: what is still between sentinels becomes ``marker``."""
    return f"{S0}{NOT_S}*{S1}", marker


CLEANUP = (f"{S0}{S1}", "")
"""A step removing empty sentinel pairs (an optional group that matched nothing)."""


def unmark(*alternatives: Sequence[tuple[str, str]]) -> Step:
    """A step removing the sentinels around text that is not the rule's after all.

    Args:
        *alternatives: Each a sequence of ``(kind, text)``: kind ``"lit"`` is matched and
            not written back (the sentinels), ``"keep"`` is written back.
    """
    p = Pattern()
    for index, alternative in enumerate(alternatives):
        if index:
            p.lit("|")
        for kind, text in alternative:
            (p.keep if kind == "keep" else p.lit)(text)
    return p.restore()


def inside(content: str, before: str = "", after: str = "") -> list[Step]:
    """An ``unmark`` alternative: ``before``, a sentinel, ``content``, a sentinel, ``after``."""
    alt = []
    if before:
        alt.append(("keep", before))
    alt += [("lit", S0), ("keep", content), ("lit", S1)]
    if after:
        alt.append(("keep", after))
    return alt


# --- pieces ---------------------------------------------------------------------------

PATH_CH = r"""[^/\\\s'"<>|]"""
PATH_END = rf"""[^/\\\s'"<>|{CLOSING}]"""
# A space inside a Windows directory name belongs to the path when a backslash follows
# it before any quote, colon, slash or line end (taken up to that backslash).
SPACE_IN_DIR = r"""[ ][^\n'"<>|\\/:]*\\"""
PATH_NAME = rf"(?:{PATH_CH}|{SPACE_IN_DIR})*{PATH_END}"
PATH_TAIL = rf"""(?:[\\/](?:(?:[^\s'"<>|]|{SPACE_IN_DIR})*[^\s'"<>|{CLOSING}])?)?"""

PPK_VALUE = rf"""[^\s'"<>\\]*[^\s'"<>\\{CLOSING}]"""
PPK_NL = r"(?:\r?\n|(?:\\{1,2}r)?\\{1,2}n)"

H = "[0-9A-Fa-f]{1,4}"
OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
IPV4_STRICT = rf"{OCTET}(?:\.{OCTET}){{3}}"

LOCAL = r"[\pL\pM\pN_.#$%&*+^`|~-]"  # a character of an email's local part
WORD = r"[\pL\pM\pN_]"  # about Python's \w

# --- secret words ---------------------------------------------------------------------

# auth, but not author (authorize is one).
TAIL_AUTH = (
    r"(?:(?:[^oO\W]|[.-])[\w.-]*|[oO](?:(?:[^rR\W]|[.-])[\w.-]*"
    r"|[rR][iI][sSzZ][\w.-]*)?)?"
)
# token, but not tokens / tokenizer / tokenise.
TAIL_TOKEN = (
    r"(?:(?:[^sSiI\W]|[.-])[\w.-]*|[sS][a-zA-Z][\w.-]*"
    r"|[iI](?:(?:[^sSzZ\W]|[.-])[\w.-]*)?)?"
)
# pass as a whole word: no letter after it.
TAIL_PASS = r"(?:[0-9_.-][\w.-]*)?"

GLUED = "|".join(
    w.replace(" ", "[ _.-]?")
    for w in (
        "password",
        "passwd",
        "secret",
        "credential",
        "jwt",
        "csrf",
        "api key",
        "cookie",
        "private key",
        "credit card",
        "pass phrase",
        "access key",
        "account key",
        "signing key",
        "encryption key",
        "session id",
        "sess id",
    )
)
# An attribute key naming a secret (the whole key): the attribute is deleted, as the
# library deletes it. RE2 has no lookahead: "token but not tokens, tokenize" and "auth
# but not author" are spelled out.
SECRET_KEYS = (
    "(?i).*(password|passwd|pwd|secret|token([^si]|s[a-z]|i[^sz]|i?$)|auth([^o]|o[^r]|oris|oriz|o?$)"
    "|api[_.-]?key|apikey|cookie|session|credential|private[_.-]?key|jwt|csrf|ssn"
    "|credit[_.-]?card|passphrase|access[_.-]?key|account[_.-]?key|signing[_.-]?key"
    "|encryption[_.-]?key|sess[_.-]?id|(^|[^a-z])pass([^a-z]|$)).*"
)

# Words after a secret word that make a key a setting about a secret, not a secret.
SETTING_WORDS = (  # noqa: SIM905 (a table of words, written as words)
    "count timeout ttl length len enabled disabled required size limit min max expiry "
    "expires expiration age lifetime file path dir type mode method url uri endpoint policy "
    "version level interval retries attempts prefix format"
).split()
ERROR_ENDS = ("rror", "xception", "arning", "ailed", "ailure")

QUOTED = [
    (r'(?:[bBrRuU]{1,2}|\$)?"', r'(?:[^"\\\n]|\\.)+', '"'),
    (r"(?:[bBrRuU]{1,2}|\$)?'", r"(?:[^'\\\n]|\\.)+", "'"),
]
VALUES = [
    (r"\[", r"[^\]\n]+", r"\]"),
    (r"\(", r"[^)\n]+", r"\)"),
    *QUOTED,
    (r'\\"', r'(?:[^"\\\n]|\\[^"\n])+', r'\\"'),
    (r"\\'", r"(?:[^'\\\n]|\\[^'\n])+", r"\\'"),
]


def _values(p: Pattern, values: Sequence[tuple[str, str, str]], bare: Optional[str]) -> Pattern:
    """Appends the alternatives of a value: each (opening, content, closing), then bare."""
    p.lit("(?:")
    for index, (opening, text, closing) in enumerate(values):
        if index:
            p.lit("|")
        p.keep(opening).content(text).keep(closing)
    if bare is not None:
        p.lit("|").keep(r"""["']?""").content(bare)
    return p.lit(")")


S2, S3, S4, S5 = (r"\x{E002}", r"\x{E003}", r"\x{E004}", r"\x{E005}")
ANY_S = r"\x{E000}-\x{E005}"
# A token that may be a key: a run of [\w.-] (with the "--" of a flag or the ";" of a
# list of pairs in front), and what separates it from its value.
TOKEN = r"[\w.-]+"
SEP_CORE = r"""(?:\\?["'])?[ \t]{0,4}(?:=>|[:=]|%3[DdAa]|\\u003[DdAa])"""
PROSE_QUOTE = r"""[ \t]{1,4}(?:[bBrRuU]{1,2}|\$)?["']"""


def _secret_token() -> str:
    """A token (between the sentinels) that names a secret, as the library's key does."""
    glued = rf"(?i:{GLUED})[\w.-]*|(?i:token){TAIL_TOKEN}"
    boundary = rf"(?i:session|ssn|pwd)[\w.-]*|(?i:auth){TAIL_AUTH}|(?i:pass){TAIL_PASS}"
    camel = rf"(?:Se(?i:ssion)|Ss(?i:n)|Pw(?i:d))[\w.-]*|Au(?i:th){TAIL_AUTH}"
    return (
        rf";?[\w.-]*(?:{glued})"
        rf"|;?(?:[\w.-]*[0-9_.-])?(?:{boundary})"
        rf"|;?[\w.-]*(?:{camel})"
        rf"|;?[\w.-]*[a-z]Pa(?i:ss){TAIL_PASS}"
    )


# --- the rules of several steps: each function returns a rule's steps, in order --------


def secret_pair() -> list[Step]:
    # 1. Candidates: every token followed by a separator (or a flag by spaces, or a word
    # by a quoted text) is wrapped in E002..E003. Only the key is taken, never the value,
    # so a value that is itself a key stays a candidate (AuthError: X-API-Key: ...).
    # Matches are tried from the left, so a token is always a whole run of [\w.-].
    p1 = Pattern()
    p1.content(TOKEN).keep(f"{SEP_CORE}|{PROSE_QUOTE}")
    p1.lit("|").content(f"--{TOKEN}").keep(r"[ \t]{1,4}")
    p1.lit("|").content(f";{TOKEN}").keep(SEP_CORE)
    mark_keys, template = p1.mark()
    template = template.replace(T0, "\\uE002").replace(T1, "\\uE003")
    setting = "|".join(SETTING_WORDS)
    camel_setting = "|".join(w.capitalize() for w in SETTING_WORDS)
    errors = "|".join(e for end in ERROR_ENDS for e in (end, end.upper()))
    # 3. The value of a confirmed key (E004..E005) is wrapped in E000..E001.
    key = rf"[^{ANY_S}]*"
    value_ch = rf"""[^\s,;"'{{}}\[\]{ANY_S}]"""
    value_end = rf"""[^\s,;&"'{{}}\[\]<>(){CLOSING}{ANY_S}]"""
    bare = rf"(?:(?i:bearer|basic|digest|token)[ \t]+)?{value_ch}*{value_end}"
    p3 = Pattern()
    # ;Password=Pass word1; (ADO.NET): a value runs to the next ";", spaces and all
    p3.lit(S4).keep(f";{key}").lit(S5).keep("=")
    _values(p3, VALUES, None)
    p3.lit("|").lit(S4).keep(f";{key}").lit(S5).keep("=")
    p3.content(rf"""[^;=\n"'{ANY_S}]+""").keep(r"""[;"']|$""")
    # --password value
    p3.lit("|").lit(S4).keep(f"--{key}").lit(S5).keep(r"[ \t]{1,4}")
    _values(p3, QUOTED, rf"[^-\s,;\"'{{}}\[\]{ANY_S}](?:{value_ch}*{value_end})?")
    # key=value, key: value, "key": "value"
    p3.lit("|").lit(S4).keep(key).lit(S5).keep(rf"{SEP_CORE}[ \t]{{0,4}}")
    _values(p3, VALUES, bare)
    # wrong password 'Summer2024'
    p3.lit("|").lit(S4).keep(key).lit(S5).keep(r"[ \t]{1,4}")
    _values(p3, QUOTED, None)
    return [
        (mark_keys, template),
        # 2. Candidates that name a setting about a secret (token_count, SESSION_TIMEOUT,
        # tokenCount) or an error (AuthenticationError), or "token" before a quoted text
        # (a parser's: unexpected token '<'), are let go; those holding a secret word at
        # a word's start, a camelCase hump or glued (PGPASSWORD) become keys (E004..E005);
        # the others are let go.
        unmark(
            # after / or \ (/etc/passwd: ...), a path's part
            [("keep", r"[/\\]"), ("lit", S2), ("keep", r"[^\x{E003}]*"), ("lit", S3)],
            [
                ("lit", S2),
                (
                    "keep",
                    rf"[^\x{{E003}}]*(?:[_.-](?i:{setting})|[a-z](?:{camel_setting})|{errors})",
                ),
                ("lit", S3),
            ],
            [("lit", S2), ("keep", r"[^\x{E003}]*(?i:token)"), ("lit", S3), ("keep", PROSE_QUOTE)],
        ),
        (rf"{S2}({_secret_token()}){S3}", "\\uE004${1}\\uE005"),
        (rf"{S2}([^\x{{E003}}]*){S3}", "${1}"),
        p3.mark(),
        CLEANUP,
        # A "&" ends a value before the next key= (a query string).
        (
            rf"{S0}([^\x{{E001}}&]*)&([\w.-]{{1,40}}=[^\x{{E001}}]*){S1}",
            f"{T0}${{1}}{T1}&${{2}}",
        ),
        # A sentence after a colon is no value: ExpiredToken: The provided token has expired
        unmark(inside("[A-Z][a-z]{1,20}", r":[ \t]?", " [a-z]")),
        finalize("[redacted]"),
        (r"[\x{E004}\x{E005}]", ""),
    ]


def user_pair() -> list[Step]:
    p = Pattern()
    p.lit("(?:").keep(r"^|[^A-Za-z0-9.]").keep(r"(?i:user(?:[ _-]?(?:name|id))?|uid|login)")
    p.lit("|").keep("[A-Z]").keep("USER(?:NAME)?").lit(")").keep("=")
    p.lit("(?:").keep('"').content(r'[^"\n\x{E000}\x{E001}]+').keep('"')
    p.lit("|").keep("'").content(r"[^'\n\x{E000}\x{E001}]+").keep("'")
    p.lit("|").content(
        rf"""[^\s,;&"'(){{}}\[\]<>=\x{{E000}}\x{{E001}}]*[^\s,;&"'(){{}}\[\]<>={CLOSING}\x{{E000}}\x{{E001}}]"""
    ).lit(")")
    return [
        p.mark(),
        CLEANUP,
        # a number (uid=1000) or a literal (user=None) names no one
        unmark(inside(r"[^\pL\x{E000}\x{E001}]*|(?i:none|null|nil|true|false|undefined)")),
        finalize("[user]"),
    ]


def aws_secret() -> list[Step]:
    return [
        # (the character before is taken and written back: a match starts only where a
        # run starts, which keeps the search linear in Go's regexp)
        (r"(^|[^A-Za-z0-9/+])([A-Za-z0-9/+]{40,})", f"${{1}}{T0}${{2}}{T1}"),
        # longer than 40, or without both cases and a digit: not a key (a hex digest)
        unmark(inside(r"[A-Za-z0-9/+]{41,}|[a-z0-9/+]*|[A-Z0-9/+]*|[A-Za-z/+]*")),
        finalize("[token]"),
    ]


def internal_host() -> list[Step]:
    label = "[A-Za-z0-9][A-Za-z0-9-]*"
    name = (
        rf"(?:{label}\.)+(?:(?i:corp|intranet|lan|localdomain)(?:\.{label})*"
        r"|(?i:internal|local|home\.arpa))"
    )
    clean = "[A-Za-z][A-Za-z0-9]*"
    modules = (
        "threading|_threading_local|asyncio|contextvars|werkzeug|asgiref|gevent|greenlet"
        "|eventlet|flask|django|celery|tornado|trio|anyio|os|sys|socket|typing|logging"
    )
    return [
        (rf"(^|[^\w.@/\\-])({name})\b", f"${{1}}{T0}${{2}}{T1}"),
        unmark(
            inside(r"(?i:localhost)\." + NOT_S + "*"),
            # a dotted name of code (google.protobuf.internal, threading.local)
            inside(rf"{clean}(?:\.{clean})+\.(?i:local|internal)"),
            inside(rf"(?:{modules})\.(?i:local|internal)"),
            inside(NOT_S + "*", after=r"-|\.[\w-]"),
        ),
        finalize("[host]"),
    ]


def mac() -> list[Step]:
    return [
        (r"\b(?:[0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}\b", "[mac]"),
        (
            r"(^|[^\w.])([0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4})\b",
            f"${{1}}{T0}${{2}}{T1}",
        ),
        unmark(inside(NOT_S + "*", after=r"\.\w")),
        finalize("[mac]"),
    ]


def ipv6() -> list[Step]:
    zone = r"(?:%[\w.]{0,15}\w)?"
    address = (
        rf"(?:{H}:){{6}}{IPV4_STRICT}"
        rf"|(?:{H}(?::{H}){{0,4}})?::(?:{H}:){{0,4}}{IPV4_STRICT}"
        rf"|(?:{H}:){{7}}{H}{zone}"
        rf"|(?:{H}(?::{H}){{0,6}})?::(?:{H}(?::{H}){{0,6}})?{zone}"
    )
    return [
        (rf"(^|[^\w:.])({address})", f"${{1}}{T0}${{2}}{T1}"),
        # what runs on into a word or a number was no address (std::vector<int>::at)
        unmark(inside(NOT_S + "*", after=r"\w|\.\d")),
        finalize("[ip]"),
    ]


# The end of a number: what follows is no word character and no digit of any script,
# taken and written back. (RE2's \b is ASCII's: after a fullwidth digit and before a
# space it finds no boundary, where Python's finds one.)
DIGITS_END = r"([^\w\d]|$)"


def ipv4() -> list[Step]:
    part = r"\d{1,3}"
    small = r"(?:\d{1,2}|0\d\d)"  # a part of less than three digits (zero-padded: 001)
    return [
        (rf"(^|[^\w.])((?:{part}\.){{3}}{part}){DIGITS_END}", f"${{1}}{T0}${{2}}{T1}${{3}}"),
        unmark(
            inside(NOT_S + "*", after=r"\.\d"),
            # a part over 255; four single digits (a version); the loopback; 0.0.0.0
            inside(rf"(?:{part}\.){{0,3}}(?:25[6-9]|2[6-9]\d|[3-9]\d\d)(?:\.{part}){{0,3}}"),
            inside(r"\d\.\d\.\d\.\d"),
            inside(rf"0{{0,2}}127(?:\.{part}){{3}}|0{{1,3}}(?:\.0{{1,3}}){{3}}"),
            # after a version word, a version, unless a part has three digits
            inside(
                rf"{small}(?:\.{small}){{3}}",
                r"(?i:\b(?:version|ver\.?|release)[ \t]*[:=]?|(?:^|[^\w-])v[ \t]*[:=])[ \t]*",
            ),
        ),
        finalize("[ip]"),
    ]


def phone() -> list[Step]:
    sep = r"[ \x{a0}\x{202f}.()-]{0,2}"
    return [
        (rf"(^|[^\w+])(\+[1-9](?:{sep}\d){{7,14}})", f"${{1}}{T0}${{2}}{T1}"),
        unmark(
            inside(NOT_S + "*", after=r"\d"),
            # +1 is the North American plan: ten digits after the 1
            inside(rf"\+1(?:{sep}\d){{7,9}}|\+1(?:{sep}\d){{11,14}}"),
        ),
        finalize("[phone]"),
    ]


IBAN_COUNTRIES = (  # noqa: SIM905 (a table of words, written as words)
    "AD AE AL AT AZ BA BE BG BH BI BR BY CH CR CY CZ DE DJ DK DO EE EG ES FI FK FO FR GB GE GI "
    "GL GR GT HN HR HU IE IL IQ IS IT JO KW KZ LB LC LI LT LU LV LY MC MD ME MK MN MR MT MU NI "
    "NL NO OM PK PL PS PT QA RO RS RU SA SC SD SE SI SK SM SO ST SV TL TN TR UA VA VG XK YE"
).split()


def iban() -> list[Step]:
    body_upper = (
        r"(?:(?:[ -]?[A-Z0-9]{4}){3,7}(?:[ -]?[A-Z0-9]{1,4})?"
        r"|(?:[ -]?[A-Z0-9]{4}){2}[ -]?[A-Z0-9]{3,4})"
    )
    body_lower = (
        r"(?:(?:[ -][a-z0-9]{4}){3,7}(?:[ -][a-z0-9]{1,4})?"
        r"|(?:[ -][a-z0-9]{4}){2}[ -][a-z0-9]{3,4})"
    )
    by_letter: dict[str, str] = {}
    for code in IBAN_COUNTRIES:
        by_letter[code[0]] = by_letter.get(code[0], "") + code[1]
    countries = "|".join(f"{first}[{rest}]" for first, rest in by_letter.items())
    return [
        (rf"\b([A-Z]{{2}}\d{{2}}{body_upper}|[a-z]{{2}}\d{{2}}{body_lower})\b", f"{T0}${{1}}{T1}"),
        # a country of the IBAN registry: confirmed (E002..E003); the others let go
        (rf"{S0}((?:{countries}|(?i:{countries}))\d{{2}}{NOT_S}*){S1}", "\\uE002${1}\\uE003"),
        (rf"{S0}({NOT_S}*){S1}", "${1}"),
        # inside a UUID (…-BF46-4C72-B4E1-…)
        (
            r"([0-9A-Fa-f]-)\x{E002}([^\x{E003}]*)\x{E003}|\x{E002}([^\x{E003}]*)\x{E003}(-[0-9A-Fa-f])",
            "${1}${2}${3}${4}",
        ),
        (r"\x{E002}[^\x{E003}]*\x{E003}", "[iban]"),
    ]


# A card's issuer digit: 2 to 6, or any digit of another script (fullwidth U+FF14,
# Arabic-Indic U+0664: the library reads them as digits, and RE2's classes cannot say
# "4 in any script").
ISSUER = r"(?:[2-6]|[^\P{Nd}0-9])"


def card() -> list[Step]:
    grouped = "|".join(
        rf"{ISSUER}\d{{3}}{s}\d{{4}}{s}\d{{4}}{s}\d{{4}}" for s in (" ", r"\x{a0}", r"\.", "-")
    )
    return [
        # not after a digit, nor after a digit and a dash or a dot, nor inside a UUID
        # (after a hex digit and a dash)
        (
            rf"(^|[^\d.-]|(?:^|[^\dA-Fa-f])-|(?:^|\D)\.)((?:{grouped})|{ISSUER}(?:[ \x{{a0}}-]?\d){{12,18}}(?:\.0\b)?)",
            f"${{1}}{T0}${{2}}{T1}",
        ),
        # a longer number, an expiry (-12/27 stays, -123 does not), a UUID's next group
        unmark(inside(NOT_S + "*", after=r"\d|-\d{3}|-[0-9A-Fa-f]")),
        finalize("[card]"),
    ]


def ssn() -> list[Step]:
    return [
        # dashes or spaces, the same both times; not after a digit or a dash, and the
        # spaced form not after a digit and a space
        (
            rf"(^|[^\d-])(\d{{3}}-\d{{2}}-\d{{4}}){DIGITS_END}"
            rf"|(^|[^\d -]|(?:^|\D) )(\d{{3}} \d{{2}} \d{{4}}){DIGITS_END}",
            f"${{1}}{T0}${{2}}{T1}${{3}}${{4}}{T0}${{5}}{T1}${{6}}",
        ),
        CLEANUP,
        unmark(
            # never issued: area 000, 666 or 9xx, group 00, serial 0000
            inside(
                r"(?:000|666|9\d\d)[- ]\d{2}[- ]\d{4}|\d{3}[- ]00[- ]\d{4}|\d{3}[- ]\d{2}[- ]0000"
            ),
            inside(NOT_S + "*", after="-"),
            inside(r"\d{3} \d{2} \d{4}", after=r" \d"),
        ),
        finalize("[ssn]"),
    ]


INVISIBLE = (
    r"[\x{ad}\x{34f}\x{180e}\x{200b}-\x{200f}\x{202a}-\x{202e}\x{2060}-\x{2069}"
    r"\x{fe00}-\x{fe0f}\x{feff}\x{e0000}-\x{e007f}\x{e0100}-\x{e01ef}\x{E000}-\x{E005}]"
)

_TEXT_RULES: list[Rule] = [
    (
        "invisible",
        "Invisible characters that would split a word a rule looks for (pass\\u200bword),"
        " and the private-use marks of the rules below.",
        [(INVISIBLE, "")],
    ),
    (
        "pgp_block",
        "PGP private key, message and signature blocks, to their end line (or the end).",
        [
            (
                r"(?s)-----BEGIN PGP [A-Z ]{1,30}-----.*?(?:-----END PGP [A-Z ]{1,30}-----|$)",
                "[pgp block]",
            )
        ],
    ),
    (
        "private_key",
        "PEM and OpenSSH private keys (newlines real or written \\n), PuTTY .ppk files.",
        [
            (
                r"-----BEGIN[A-Z ]{0,40}PRIVATE KEY-----"
                r"(?:(?:Proc-Type|DEK-Info):[ \t]?[\w,-]{1,80}|[A-Za-z0-9+/=\r\n]"
                r"|\\{1,2}[rnt/]|[ \t]{1,4}[A-Za-z0-9+/=]{16})*"
                r"(?:[ \t]{0,4}-----END[A-Z ]{0,40}PRIVATE KEY-----)?"
                rf"|PuTTY-User-Key-File-\d{{1,2}}:[ \t]?{PPK_VALUE}"
                rf"(?:{PPK_NL}(?:[A-Za-z][\w-]{{0,40}}: {PPK_VALUE}|[A-Za-z0-9+/=]{{16,}}"
                r"|(?m:[A-Za-z0-9+/=]{1,15}$)))*",
                "[private key]",
            )
        ],
    ),
    (
        "ssh_key",
        "SSH public keys, with the user@host comment after them.",
        [
            (
                r"\b(?:(?:ssh-(?:rsa|dss|ed25519|ed448)|ecdsa-sha2-nistp(?:256|384|521))"
                r"(?:-cert-v01@openssh\.com)?|sk-(?:ssh-ed25519|ecdsa-sha2-nistp256)"
                r"(?:-cert-v01)?@openssh\.com)[ \t]{1,4}AAAA[A-Za-z0-9+/]{8,}={0,3}"
                r"(?:[ \t]{1,4}[\w.+-]+@[\w.-]*[\w-])?",
                "[ssh key]",
            )
        ],
    ),
    (
        "token",
        "JWTs, Bearer and Basic credentials, well-known key prefixes.",
        [
            (
                r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}"
                r"|\b(?:[Bb]earer|[Bb]asic)[ \t]+[A-Za-z0-9._~+/=-]{7,}[A-Za-z0-9_~+/=-]"
                r"|\b(?:(?:AKIA|ASIA)[A-Z0-9]{16}|gh[pousr]_[A-Za-z0-9]{36,}|github_pat_\w{22,}"
                r"|xox[abprs]-[A-Za-z0-9-]{10,}|sk-(?:ant-|proj-)?[A-Za-z0-9_-]{20,}"
                r"|AIza[0-9A-Za-z_-]{35}|[rs]k_(?:live|test)_[0-9A-Za-z]{16,}"
                r"|gl(?:pat|ptt|dt|rt|cbt|soat|oas|ft|imt|agent)-[0-9A-Za-z_-]{20,}"
                r"|hf_[A-Za-z0-9]{30,}|npm_[A-Za-z0-9]{36,}|pypi-AgE[A-Za-z0-9_-]{50,})",
                "[token]",
            )
        ],
    ),
    (
        "aws_secret_key",
        "Unlabelled AWS secret keys: a run of exactly 40 base64 characters with both cases and a digit.",
        aws_secret(),
    ),
    (
        "secret_pair",
        "key=value, key: value, --key value, JSON pairs whose key names a secret: the value goes.",
        secret_pair(),
    ),
    ("user_pair", "User names in connection strings: user=bob, User Id=sa.", user_pair()),
    (
        "url",
        "URLs of any scheme, credentials and query strings included.",
        [(rf"""\b[A-Za-z][A-Za-z0-9+.-]{{0,20}}://[^\s'"<>`]*[^\s'"<>`{CLOSING}]""", "[url]")],
    ),
    (
        "email",
        "Emails, non-ASCII too, the @ also written %40, \\u0040, \\x40, &#64; or fullwidth.",
        [
            (
                rf"(^|[^\pL\pM\pN_.#$%&*+^`|~-])"
                rf"(?:{LOCAL}+(?:'{WORD}{LOCAL}*)*[!'/=?{{}}]{{0,8}}[@\x{{ff20}}]"
                r"|[!'/=?{}]@"
                r"|[\pL\pN_+-][\pL\pN_.+-]*(?:%(?:25)?40|\\u0040|\\x40|&#0{0,3}64;|&#[xX]0{0,3}40;))"
                r"(?:[\pL\pM\pN_-]+\.)+\pL[\pL\pM\pN-]*[\pL\pM\pN]",
                "${1}[email]",
            )
        ],
    ),
    (
        "path",
        "Network (UNC) paths and home directories of Linux, macOS and Windows, in any spelling.",
        [
            (
                rf"(^|[^\w\\])\\\\(?:\\\\)?[A-Za-z0-9][\w.-]+\\{{1,2}}{PATH_NAME}{PATH_TAIL}"
                rf"|(^|[^\w:/\\.])//[A-Za-z0-9][\w.-]+/{PATH_NAME}{PATH_TAIL}"
                r"|(^|[^\w.])(?:(?:(?:/(?:var|export|usr|nfs|gpfs|net|mnt|data|srv|shared|storage"
                r"|scratch|volume\d{1,2})){0,2}/homes?\d{0,2}/|(?:/[A-Za-z])?/Users/"
                r"|/(?:mnt|cygdrive)/[A-Za-z]/(?i:users)/)"
                + PATH_NAME
                + r"|/users/[A-Za-z](?:"
                + PATH_NAME
                + r")?)"
                + PATH_TAIL
                + r"|\b[A-Za-z]:[\\/]{1,2}(?i:users|documents and settings)[\\/]{1,2}"
                + PATH_NAME
                + PATH_TAIL
                + rf"""|\b[A-Za-z]:%5[Cc](?i:users)%5[Cc][^\s'"<>|]*[^\s'"<>|{CLOSING}]"""
                + r"|(^|[^\w~/\\.-])~[A-Za-z_][\w.-]*[\\/]"
                + rf"""(?:(?:[^\s'"<>|]|{SPACE_IN_DIR})*[^\s'"<>|{CLOSING}])?""",
                "${1}${2}${3}${4}[path]",
            )
        ],
    ),
    (
        "internal_host",
        "Internal host names: .corp, .lan, .intranet, .localdomain, .internal, .local, .home.arpa.",
        internal_host(),
    ),
    ("mac", "MAC addresses, Cisco's 0050.56a3.7f1e too.", mac()),
    ("ipv6", "IPv6 addresses, compressed, with an IPv4 tail or a zone.", ipv6()),
    ("ipv4", "IPv4 addresses, not versions, the loopback or 0.0.0.0.", ipv4()),
    ("phone", "Phone numbers in international format (+, 8 to 15 digits).", phone()),
    ("iban", "IBANs by country code and shape (the mod-97 check is not expressible).", iban()),
    ("card", "Card numbers by issuer digit and length (no Luhn check).", card()),
    ("ssn", "US social security numbers (never-issued numbers excluded).", ssn()),
]


def unicode_digits(regex: str) -> str:
    r"""``regex`` with ``\d`` read as Python reads it in a str pattern: a digit of any script.

    RE2's ``\d`` is ``[0-9]``; the library's is Unicode's ``Nd`` (fullwidth U+FF14,
    Arabic-Indic U+0664), so ``\d`` becomes ``\p{Nd}`` and ``\D`` ``\P{Nd}``, in classes
    too. Every other escape is kept as written (``\\d`` is a backslash and a ``d``).
    """
    out = []
    index = 0
    while index < len(regex):
        char = regex[index]
        if char == "\\" and index + 1 < len(regex):
            pair = regex[index : index + 2]
            out.append({"\\d": r"\p{Nd}", "\\D": r"\P{Nd}"}.get(pair, pair))
            index += 2
            continue
        out.append(char)
        index += 1
    return "".join(out)


TEXT_RULES: list[Rule] = [
    (name, doc, [(unicode_digits(regex), template) for regex, template in steps])
    for name, doc, steps in _TEXT_RULES
]
r"""The text rules, in the library's order, digits of any script where they say ``\d``."""

# The redaction processor's one-step stand-in for secret_pair, for what the transform
# cannot reach (lists and maps, read as JSON): a key ending in a secret word, a separator,
# and a whole value that is not a marker ("password=[redacted]" stays; not after a "/" or
# "\\": /etc/passwd: is a path). The whole pair is masked. Coarser than the rule (setting
# words only by the key's end, no quoted prose, no glued keys such as PGPASSWORD).
NET_SECRET_PAIR = (
    r"(?i)(?:^|[^a-z0-9/\\])(?:[a-z0-9]*[_.-])?"
    r"(?:password|passwd|pwd|secret|token|api[_.-]?key|apikey|access[_.-]?key"
    r"|private[_.-]?key|credentials?|cookie|session[_.-]?id|auth)"
    r"""\\?["']?[ \t]{0,4}[:=][ \t]{0,4}\\?["']?[^\s"'\\\[\]{},;=:]{2,}(?:$|[\s"'\\,;}\]])"""
)
NET_ONLY = [NET_SECRET_PAIR]
"""Regexes the redaction processor blocks besides the one-step rules'."""

# One email address and nothing else: the only value of ``user.email`` kept whole (the
# address the user typed when opting in). Anything more (a second address, a password, a
# path) is scrubbed like any other value.
USER_EMAIL = rf"^{LOCAL}+(?:'{WORD}{LOCAL}*)*@(?:[\pL\pM\pN_-]+\.)+\pL[\pL\pM\pN-]*[\pL\pM\pN]$"


# --- the value rule (exception messages, stack text, status message) -------------------

# Python's keywords (keyword.kwlist of 3.10 and later), written out: the output must not
# depend on the Python that runs this (3.9's list adds __peg_parser__).
PYTHON_KEYWORDS = (  # noqa: SIM905 (a table of words, written as words)
    "False None True and as assert async await break class continue def del elif else "
    "except finally for from global if import in is lambda nonlocal not or pass raise "
    "return try while with yield"
).split()
HEADER_WORDS = (  # noqa: SIM905 (a table of words, written as words)
    "accept access after age agent alive allow api auth authenticate authorization cache "
    "charset connection content control cookie correlation credentials cross csrf date dest "
    "disposition dnt embedder encoding etag expect expires expose fetch for forwarded frame "
    "from headers host id if ip keep key language last length limit link location match max "
    "method methods mode modified none opener options origin platform policy pragma proto "
    "protection proxy range ratelimit real referer referrer remaining request requested reset "
    "resource retry security sec server set site strict te timing token trace trailer "
    "transfer transport type ua unmodified upgrade user vary via warning with www xss"
).split()
MARKER_RE = (
    r"\[(?:value|email|url|path|ip|mac|host|user|token|redacted|phone|iban|card|ssn"
    r"|ssh key|private key|pgp block|user message)\]"
)
CODECS = (
    r"(?i:utf[-_ ]?(?:8|16|32)(?:[-_ ]?(?:le|be|sig))?|utf[-_ ]?7|latin[-_ ]?1|l1"
    r"|iso[-_ ]?8859[-_ ]?\d{1,2}|us[-_ ]ascii|cp[-_ ]?\d{3,5}|windows[-_ ]\d{3,4}"
    r"|mac[-_ ]roman|shift[-_ ]jis|euc[-_ ](?:jp|kr)|koi8[-_ ][ru]"
    r"|(?:raw[-_ ])?unicode[-_ ]escape|rot[-_ ]13)"
)


def _code() -> str:
    esc = r"\\(?:x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-7]{1,3}|\D)"
    real = r"(?:\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)(?:[eE][-+]?\d[\d_]*)?"
    kw = "|".join(PYTHON_KEYWORDS)
    fmt_glue = r"[-/:., T_\[\]|<>()]"
    header = "|".join(w[0].upper() + (f"(?i:{w[1:]})" if len(w) > 1 else "") for w in HEADER_WORDS)
    glue = r"[\s/\\:@.,;=-]"
    shapes = [
        r"[^\x{E000}\x{E001}]?",  # empty, or one character
        f"(?:{esc})+",
        r"[\pL_][\pL\pN_]*(?:\.[\pL_][\pL\pN_]*)*",  # an identifier, a dotted name
        rf"(?:{kw})(?: (?:{kw}))+",  # a phrase of the language: 'not in'
        r"/(?:usr|var|etc|opt|lib|lib64|bin|sbin|proc|sys|dev|srv|app)(?:/[\w.+-]+)*/?",
        rf"[-+]?(?:0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|{real}[jJ]?)",
        rf"\(?[-+]?{real}[-+]{real}[jJ]\)?",  # a complex number
        r"--?[A-Za-z0-9][\w-]*",  # an option
        r"[vV]?\d+(?:\.\d+)+(?:[-._]?(?:a|b|c|rc|alpha|beta|pre|preview|dev|post)\.?\d*)*"
        r"(?:\+[A-Za-z0-9.]+)?",  # a version
        rf"{fmt_glue}*(?:%(?:\([\w.]+\))?[-#0-9. +]*[A-Za-z%]{fmt_glue}*)+",  # a % format
        CODECS,
        # ISO dates and times, hashes, UUIDs, file:line, MIME types, modes, dtypes,
        # durations, locales, kebab-case names
        r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?",
        r"\d{2}:\d{2}:\d{2}(?:[.,]\d{1,9})?",
        r"[0-9a-f]{7,}|[0-9A-F]{7,}",
        r"\{?[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}\}?",
        r"[\w./-]*\w\.(?:py|pyi|pyw|pyx|pxd|c|h|cc|cpp|hpp|js|ts|rs|go|java)(?::\d+){1,2}",
        r"(?:application|audio|font|image|message|model|multipart|text|video)/[\w.+-]+"
        r"(?:; ?charset=[\w-]+)?",
        r"[rwxaU][bt+]{0,2}",
        r"[<>|=][a-zA-Z?]\d*(?:\[\w+\])?",
        r"(?:\d+(?:\.\d+)?(?:ns|us|\x{b5}s|ms|s|secs?|m|mins?|h|hrs?|d|w))+",
        r"[a-z]{2,3}_[A-Z]{2}(?:\.[\w-]+)?(?:@\w+)?|C\.[\w-]+",
        r"[a-z][a-z0-9]*(?:-[a-z0-9]+)+",
        rf"(?:X-)?(?:{header})(?:-(?:{header}))+|X-(?:{header})",  # an HTTP header name
        r"[^\pL\pN\s\x{E000}\x{E001}]{1,3}",  # an operator: '<=', '**'
        rf"{glue}*{MARKER_RE}(?:{glue}|{MARKER_RE})*",  # already scrubbed
    ]
    return "|".join(f"(?:{s})" for s in shapes)


CODE = _code()

PY_PREFIX = "[rRuUbBfFnNxXeE]{0,2}"
# (opening, content, closing) of each kind of quoted literal; typographic quotes are
# written as regex escapes, so the YAML shows no character that looks like another.
LITERAL_KINDS = [
    (PY_PREFIX + "'", r"(?:[^'\\\n\x{E000}\x{E001}]|\\.)*", "'"),
    (PY_PREFIX + '"', r'(?:[^"\\\n\x{E000}\x{E001}]|\\.)*', '"'),
    (r"\x{2018}", r"[^\x{2019}\n\x{E000}\x{E001}]*", r"\x{2019}"),
    (r"\x{201c}", r"[^\x{201d}\n\x{E000}\x{E001}]*", r"\x{201d}"),
    (r"\x{201e}", r"[^\x{201c}\n\x{E000}\x{E001}]*", r"\x{201c}"),
    (r"\x{ab}", r"[^\x{bb}\n\x{E000}\x{E001}]*", r"\x{bb}"),
    ("`", r"[^`\n\x{E000}\x{E001}]*", "`"),
    (r"\\'", r"(?:[^'\\\n\x{E000}\x{E001}]|\\[^'\n])*", r"\\'"),
    (r'\\"', r'(?:[^"\\\n\x{E000}\x{E001}]|\\[^"\n])*', r'\\"'),
    ("&#39;", r"[^\n\x{E000}\x{E001}]*?", "&#39;"),
    ("&#x27;", r"[^\n\x{E000}\x{E001}]*?", "&#x27;"),
    ("&quot;", r"[^\n\x{E000}\x{E001}]*?", "&quot;"),
    ("%27", r"[^\n\x{E000}\x{E001}]*?", "%27"),
    ("%22", r"[^\n\x{E000}\x{E001}]*?", "%22"),
]

REPR_LIT = r"""[rRuUbBfF]{0,2}'(?:[^'\\\n]|\\.)*'|[rRuUbBfF]{0,2}"(?:[^"\\\n]|\\.)*\""""
REPR_LEAF = r"[-+]?\.?\d(?:[\w.]|[eE][-+])*|True|False|None|true|false|null|inf|nan|Infinity|NaN|\.\.\.|[ \t,:]"
VALUE_LIT = r"""[rRuUbBfF]{0,2}'\[value\]'|[rRuUbBfF]{0,2}"\[value\]\""""


def _containers_with_value() -> str:
    """A repr (two levels deep) of which a literal is [value]: it goes whole."""
    leaf = f"{REPR_LIT}|{REPR_LEAF}"
    inner = rf"\[(?:{leaf})*\]|\((?:{leaf})*\)|\{{(?:{leaf})*\}}"
    inner_value = "|".join(
        rf"{o}(?:{leaf})*(?:{VALUE_LIT})(?:{leaf})*{c}"
        for o, c in ((r"\[", r"\]"), (r"\(", r"\)"), (r"\{", r"\}"))
    )
    item = f"{leaf}|{inner}"
    has = f"{VALUE_LIT}|{inner_value}"
    return "|".join(
        rf"{o}(?:{item})*(?:{has})(?:{item})*{c}"
        for o, c in ((r"\[", r"\]"), (r"\(", r"\)"), (r"\{", r"\}"))
    )


SKIP_INDENTED = r"(?m:^[ \t][^\n]*)"


RARE_QUOTES = r"""[\x{2018}\x{201c}\x{201e}\x{ab}`]|&#|&quot;|%2[27]|\\['"]"""


def _literal_mark(kinds: Sequence[tuple[str, str, str]], stack: bool) -> Step:
    p = Pattern()
    if stack:
        p.keep(SKIP_INDENTED).lit("|")
    p.keep(r"^|[^\w\\]").lit("(?:")
    for index, (opening, text, closing) in enumerate(kinds):
        if index:
            p.lit("|")
        p.keep(opening).content(text).keep(closing)
    p.lit(")")
    return p.mark()


def value_steps(stack: bool) -> list[ValueStep]:
    """The value rule's steps, each with the regex a text must match for it to run.

    Args:
        stack: The steps for stack text: its indented lines (frames, source) are skipped.

    Returns:
        ``(regex, replacement, trigger)`` steps; ``trigger`` None: the step always runs.
    """
    return [
        # quoted literals: the text between the quotes, unless it looks like code; Python's
        # quotes, then the others (typographic, backticks, escaped, HTML, URL-encoded)
        (*_literal_mark(LITERAL_KINDS[:2], stack), None),
        (*_literal_mark(LITERAL_KINDS[2:], stack), RARE_QUOTES),
        (*unmark(inside(CODE)), None),
        (*finalize("[value]"), None),
        # reprs of dicts, lists, sets and tuples (JSON too) holding a literal of data: whole
        (rf"(^|[^\w)\]])(?:{_containers_with_value()})", "${1}[value]", r"\[value\]"),
    ]
