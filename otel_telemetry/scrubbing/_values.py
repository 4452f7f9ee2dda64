r"""The ``value`` rule: data quoted or repr'd in a message becomes ``[value]``.

An exception's message often quotes the value that failed (``'customer-ACME-4411' is
not a valid CacheMode``, ``No such file or directory: 'q3-results.xlsx'``, ``KeyError:
{'name': 'Alice'}``): that value comes from the user's data. What looks like code stays
(``KeyError: 'raw_markdown'``, ``'utf-8' codec can't decode``), the rest goes:

- a string literal, ``'…'``, ``"…"`` or ``b'…'`` (prefixes ``r``, ``u``, ``b``, ``f`` and
  their pairs), on one line, backslash escapes honoured, keeps its quotes and loses its
  text (``'[value]'``), unless that text looks like code (:func:`looks_like_code`). Its
  opening quote (or prefix) follows neither a word character nor a backslash, and its
  closing quote is not followed by a word character, so ``can't`` and ``users' files``
  are prose;
- a repr of a dict, list, set or tuple (JSON objects and arrays too), made only of
  literals, numbers, ``True``/``False``/``None`` (``true``/``false``/``null``), commas,
  colons and nested reprs, becomes ``[value]`` whole, unless every leaf is a number or
  one of those constants (``(3, 4)`` stays). A bracket that follows a word character,
  ``)`` or ``]`` opens a call or a subscript (``f(x, y)``, ``x[0]``), and a group that
  holds other text (``[Errno 2]``, ``(3 given)``) is not a repr: the literals inside
  such groups are judged one by one.

The scan is one pass from left to right, linear in the length of the text: a literal
that does not close on its line is never tried again from a later quote of the same
kind (from any later quote, it would fail the same way), nesting deeper than
:data:`MAX_DEPTH` is not a repr, and no pattern here can backtrack more than a bounded
amount. The rule runs after the other rules, on text they already scrubbed, so
``'alice@corp.example'`` is ``'[email]'`` by then, which a marker keeps.
"""

from __future__ import annotations

import codecs
import keyword
import re
from collections.abc import Collection
from functools import cache, lru_cache

VALUE = "[value]"
"""What a quoted or repr'd value of data becomes."""

NAME = "value"
"""The rule's name, in ``ScrubbingOptions.disabled_rules`` and in the audit."""

MAX_DEPTH = 64
"""Brackets nested deeper than this are not a repr (their literals are still judged)."""

MAX_CODE = 64
"""The longest text that can look like code."""

Span = tuple[int, int]
"""``(start, end)`` of text to replace with :data:`VALUE`: a literal's text between its
quotes, or a whole repr."""

# The quotes a literal may open with, and the one that closes each. Python's own quotes
# (``'``, ``"``) also take a string prefix and backslash escapes (see :func:`_literal`);
# the others are typographic quotes, backticks, a quote escaped by a backslash (JSON
# inside a string), and HTML- or URL-encoded quotes.
_QUOTES = {
    "'": "'",
    '"': '"',
    "\u2018": "\u2019",  # left and right single quotes
    "\u201c": "\u201d",  # left and right double quotes
    "\u201e": "\u201c",  # German low and high quotes
    "\u00ab": "\u00bb",  # guillemets
    "`": "`",
    "\\'": "\\'",
    '\\"': '\\"',
    "&#39;": "&#39;",
    "&#x27;": "&#x27;",
    "&quot;": "&quot;",
    "%27": "%27",
    "%22": "%22",
}
# Longest first: at a backslash, ``\'`` is one opener, not a backslash and a quote.
_QUOTE = re.compile("|".join(re.escape(q) for q in sorted(_QUOTES, key=len, reverse=True)))
# Where something may start when no repr is open: a quote or an opening bracket.
_START = re.compile(_QUOTE.pattern + r"|[\[({]")
# Inside a group that is already not a repr: quotes and brackets still matter.
_ANY = re.compile(_QUOTE.pattern + r"|[\[\](){}]")
# The closer of a literal that is not Python's own, or the end of its line.
_CLOSE = {
    quote: re.compile(re.escape(closer) + r"|\n")
    for quote, closer in _QUOTES.items()
    if quote not in ("'", '"')
}
# What ``capture`` writes where it cut a long message (``_snapshot._truncated``): a
# literal still open there ran into the cut, and its text is a value whatever it holds.
_CUT = re.compile(r"\.\.\. \[\d+ more characters cut\]")
# The end of a literal's text: its quote, an escape, or the end of the line.
_STOP = {"'": re.compile(r"['\\\n]"), '"': re.compile(r'["\\\n]')}
# The tokens of a repr other than literals and brackets. A number is taken loosely here
# (any word-and-dot run after a digit, with a signed exponent) and checked afterwards;
# nothing is followed by a requirement, so nothing backtracks.
_TOKEN = re.compile(
    r"(?P<space>[\s,:]+)"
    r"|(?P<number>[-+]?\.?\d[\w.]*(?:(?<=[eE])[-+][\w.]*)?)"
    r"|(?P<word>[^\W\d]\w*)"
    r"|(?P<ellipsis>\.\.\.)"
)
_NUMBER = re.compile(
    r"[-+]?(?:0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+"
    r"|(?:\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)(?:[eE][-+]?\d[\d_]*)?[jJ]?)"
)
_CONSTANTS = frozenset(
    {"True", "False", "None", "true", "false", "null", "inf", "nan", "Infinity", "NaN"}
)
_PREFIXES = frozenset("rRuUbBfFnNxXeE")  # Python's, and SQL's N'…', x'…', E'…'
_CLOSERS = {"(": ")", "[": "]", "{": "}"}

_OPTION = re.compile(r"--?[A-Za-z0-9][\w-]*")
_VERSION = re.compile(
    r"[vV]?\d+(?:\.\d+)+(?:[-._]?(?:a|b|c|rc|alpha|beta|pre|preview|dev|post)\.?\d*)*"
    r"(?:\+[A-Za-z0-9.]+)?"
)
# A format of % directives (strftime's '%Y-%m-%d', printf's '%5.2f', logging's
# '%(asctime)s'), with punctuation and spaces between them.
_FORMAT = re.compile(
    r"[-/:., T_\[\]|<>()]*(?:%(?:\([\w.]+\))?[-#0-9. +]*[A-Za-z%][-/:., T_\[\]|<>()]*)+"
)
_ESCAPE = re.compile(r"\\(?:x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-7]{1,3}|\D)")
_ESCAPES = re.compile(f"(?:{_ESCAPE.pattern})+")
# Shapes of code and of machine-made text, each one that names nobody.
_CODE_SHAPES = re.compile(
    "|".join(
        (
            # An ISO date, time or date and time.
            r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?",
            r"\d{2}:\d{2}:\d{2}(?:[.,]\d{1,9})?",
            # A hex hash (seven digits or more, one case) and a UUID.
            r"[0-9a-f]{7,}|[0-9A-F]{7,}",
            r"\{?[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}\}?",
            # A source file and a line (and column) in it.
            r"[\w./-]*\w\.(?:py|pyi|pyw|pyx|pxd|c|h|cc|cpp|hpp|js|ts|rs|go|java)(?::\d+){1,2}",
            # A MIME type, a file mode, a numpy dtype, a duration, a locale.
            r"(?:application|audio|font|image|message|model|multipart|text|video)/[\w.+-]+"
            r"(?:; ?charset=[\w-]+)?",
            r"[rwxaU][bt+]{0,2}",
            r"[<>|=][a-zA-Z?]\d*(?:\[\w+\])?",
            r"(?:\d+(?:\.\d+)?(?:ns|us|\u00b5s|ms|s|secs?|m|mins?|h|hrs?|d|w))+",
            r"[a-z]{2,3}_[A-Z]{2}(?:\.[\w-]+)?(?:@\w+)?|C\.[\w-]+",
            # A model or package name in lower-case kebab case (bert-base-uncased).
            r"[a-z][a-z0-9]*(?:-[a-z0-9]+)+",
        )
    )
)
# The words of HTTP header names (Content-Type, X-Request-ID), which are keys, not data.
_HEADER_WORDS = frozenset(
    [
        "accept",
        "access",
        "after",
        "age",
        "agent",
        "alive",
        "allow",
        "api",
        "auth",
        "authenticate",
        "authorization",
        "cache",
        "charset",
        "connection",
        "content",
        "control",
        "cookie",
        "correlation",
        "credentials",
        "cross",
        "csrf",
        "date",
        "dest",
        "disposition",
        "dnt",
        "embedder",
        "encoding",
        "etag",
        "expect",
        "expires",
        "expose",
        "fetch",
        "for",
        "forwarded",
        "frame",
        "from",
        "headers",
        "host",
        "id",
        "if",
        "ip",
        "keep",
        "key",
        "language",
        "last",
        "length",
        "limit",
        "link",
        "location",
        "match",
        "max",
        "method",
        "methods",
        "mode",
        "modified",
        "none",
        "opener",
        "options",
        "origin",
        "platform",
        "policy",
        "pragma",
        "proto",
        "protection",
        "proxy",
        "range",
        "ratelimit",
        "real",
        "referer",
        "referrer",
        "remaining",
        "request",
        "requested",
        "reset",
        "resource",
        "retry",
        "security",
        "sec",
        "server",
        "set",
        "site",
        "strict",
        "te",
        "timing",
        "token",
        "trace",
        "trailer",
        "transfer",
        "transport",
        "type",
        "ua",
        "unmodified",
        "upgrade",
        "user",
        "vary",
        "via",
        "warning",
        "with",
        "www",
        "xss",
    ]
)
_HEADER = re.compile(r"[A-Z][A-Za-z]*(?:-[A-Z][A-Za-z]*)+")
_CODEC_SHAPE = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_ ][A-Za-z0-9]+){1,3}")
_MARKER_GLUE = re.compile(r"[\s/\\:@.,;=-]*")


_KEYWORDS = frozenset(keyword.kwlist)
# Absolute paths under the system's own directories name no one.
_SYSTEM_PATH = re.compile(
    r"/(?:usr|var|etc|opt|lib|lib64|bin|sbin|proc|sys|dev|srv|app)(?:/[\w.+-]+)*/?"
)


def looks_like_code(text: str, markers: Collection[str] = ()) -> bool:
    r"""True when the text of a literal looks like code rather than data.

    Code: the empty string; one character, or one escape sequence (``\u20ac``); at
    most :data:`MAX_CODE` characters of a Python identifier or a dotted name
    (``raw_markdown``, ``crawl4ai.models``), hence a keyword; a number (int, float, hex,
    complex); an option name (``--timeout``, ``-v``); a version (``1.2.3``, ``3.11``); a
    codec name that ``codecs.lookup`` knows (``utf-8``); a format of ``%`` directives
    (``%Y-%m-%d``). Text made of the ``markers`` of other rules (``[email]``,
    ``[path]``) and of ``[value]``, with at most some punctuation between them, is
    already scrubbed and is kept too.
    """
    if len(text) <= 1 or _ESCAPE.fullmatch(text):
        return True  # one character (',' expected, '\u20ac' not encodable) names nobody
    if len(text) > MAX_CODE:
        return False
    if all(part.isidentifier() for part in text.split(".")):
        return True
    if " " in text and all(word in _KEYWORDS for word in text.split(" ")):
        return True  # a phrase of the language: 'async for', 'yield from', 'not in'
    if _SYSTEM_PATH.fullmatch(text):
        return True  # a path of the system (home paths are the path rule's, scrubbed first)
    if _is_number(text) or _OPTION.fullmatch(text):
        return True
    if _VERSION.fullmatch(text) or _FORMAT.fullmatch(text):
        return True
    if _CODEC_SHAPE.fullmatch(text) and is_codec(text):
        return True
    if _CODE_SHAPES.fullmatch(text) or _ESCAPES.fullmatch(text) or _is_header(text):
        return True
    if len(text) <= 3 and not any(char.isalnum() or char.isspace() for char in text):
        return True  # an operator: '<=', '**'
    return "[" in text and _only_markers(text, markers)


def _is_header(text: str) -> bool:
    if not _HEADER.fullmatch(text):
        return False
    words = text.lower().split("-")
    return all(word in _HEADER_WORDS for word in words[words[0] == "x" :])


def _is_number(text: str) -> bool:
    if _NUMBER.fullmatch(text):
        return True
    try:
        complex(text)  # 1+2j, (1-2j), 1_000.5: the parser of the language, in C
    except ValueError:
        return False
    return True


def _only_markers(text: str, markers: Collection[str]) -> bool:
    rest, found = text, False
    for marker in (VALUE, *markers):
        if marker in rest:
            rest, found = rest.replace(marker, " "), True
    return found and _MARKER_GLUE.fullmatch(rest) is not None


@cache
def _codec_names() -> frozenset[str]:
    """Normalised names of the codecs the standard library ships, and their aliases."""
    import encodings
    import pkgutil
    from encodings.aliases import aliases

    names = set(aliases) | set(aliases.values())
    names.update(module.name for module in pkgutil.iter_modules(encodings.__path__))
    return frozenset(names)


@lru_cache(maxsize=256)
def is_codec(name: str) -> bool:
    """True for a codec name that ``codecs.lookup`` knows (``utf-8``, ``latin-1``).

    Only names of the standard library's codecs are looked up: a lookup of any other
    name would import modules and be remembered by ``encodings`` for good, and the name
    is the user's data here.
    """
    from encodings import normalize_encoding

    if normalize_encoding(name.lower()) not in _codec_names():
        return False
    try:
        codecs.lookup(name)
    except LookupError:
        return False
    return True


def _is_word(char: str) -> bool:
    return char.isalnum() or char == "_"


class _Group:
    """One open bracket, while the scan is inside it."""

    __slots__ = ("closer", "data", "edits", "pure", "start", "strict", "value_next")

    def __init__(self, closer: str, start: int, pure: bool, edits: int, strict: bool) -> None:
        self.closer = closer
        self.start = start
        self.pure = pure
        """Still a repr: only literals, numbers, constants, separators and reprs so far."""
        self.data = False
        """A leaf so far is data: the repr, if it is one, goes whole."""
        self.strict = strict
        """Inside the value of a mapping: every string leaf is data."""
        self.value_next = False
        """The last separator was a colon: the next leaf is the value of a mapping."""
        self.edits = edits
        """How many edits the scan had when the group opened: those after are inside."""


def find_values(
    text: str, markers: Collection[str] = (), start: int = 0, end: int = -1
) -> list[Span]:
    """The spans of ``text[start:end]`` that hold values of data, in order, disjoint.

    Args:
        text: the text, already scrubbed by the other rules.
        markers: the markers of the other rules: a literal made of them is kept.
        start: where to start.
        end: where to stop; -1 for the end of the text.
    """
    end = len(text) if end < 0 else end
    edits: list[Span] = []
    stack: list[_Group] = []
    overflow = 0  # brackets opened beyond MAX_DEPTH and not closed yet
    failed = dict.fromkeys(_QUOTES, start)  # a quote of that kind before this opens nothing
    pos = start
    while pos < end:
        top = stack[-1] if stack else None
        if top is not None and top.pure:
            token = _TOKEN.match(text, pos, end)
            if token is not None:
                kind, word = token.lastgroup, token.group()
                if kind == "space":
                    if ":" in word or "," in word:
                        top.value_next = word.rfind(":") > word.rfind(",")
                elif kind == "number":
                    top.pure = len(word) <= MAX_CODE and _NUMBER.fullmatch(word) is not None
                elif kind == "word" and word not in _CONSTANTS:
                    # A string prefix (b'...') belongs to the literal that follows.
                    following = text[token.end() : token.end() + 1]
                    top.pure = following in ("'", '"') and len(word) <= 2 and set(word) <= _PREFIXES
                pos = token.end()
                continue
        else:
            found = (_ANY if stack or overflow else _START).search(text, pos, end)
            if found is None:
                break
            pos = found.start()
        char = text[pos]
        quote = _QUOTE.match(text, pos, end)
        if quote is not None:
            opener = quote.group()
            close, resume = _literal(text, pos, opener, start, end, failed)
            if close < 0:
                if top is not None:
                    top.pure = False
                pos += 1
                continue
            inner = text[pos + len(opener) : close]
            if resume == close:  # it ran into a cut: a value, whatever it holds
                if inner:
                    edits.append((pos + len(opener), close))
                if top is not None:
                    top.pure = False
                pos = resume
                continue
            code = len(inner) <= MAX_CODE and looks_like_code(inner, markers)
            if not code:
                edits.append((pos + len(opener), close))
            if top is not None and (not code or top.strict or top.value_next):
                top.data = True
            pos = resume
        elif char in _CLOSERS:
            call = pos > start and (_is_word(text[pos - 1]) or text[pos - 1] in ")]")
            if call and top is not None:
                top.pure = False  # a call or a subscript is not part of a repr
            if len(stack) >= MAX_DEPTH or overflow:
                # Too deep to be a repr. The groups around it learn so as each closes.
                overflow += 1
                if top is not None:
                    top.pure = False
            else:
                strict = top is not None and (top.strict or top.value_next)
                stack.append(_Group(_CLOSERS[char], pos, not call, len(edits), strict))
            pos += 1
        elif char in ")]}":
            pos += 1
            if overflow:
                overflow -= 1
                continue
            if top is None:
                continue
            if char != top.closer:
                top.pure = False
                continue
            stack.pop()
            parent = stack[-1] if stack else None
            if not top.pure:
                if parent is not None:
                    parent.pure = False
            elif top.data:
                # A repr with data in it goes whole, with the literals inside; one whose
                # every leaf looks like code (``('json', 'yaml')``) stays.
                del edits[top.edits :]
                edits.append((top.start, pos))
                if parent is not None:
                    parent.data = True
        else:
            # Other text inside a group that was still a repr.
            if top is not None:
                top.pure = False
            pos += 1
    return edits


def _literal(
    text: str, quote_at: int, opener: str, start: int, end: int, failed: dict[str, int]
) -> tuple[int, int]:
    """``(where its text ends, where the scan resumes)`` for the literal opened at ``quote_at``.

    ``(-1, -1)`` when it does not close on its line. A literal still open where capture
    cut the message ends there, and the scan resumes at the cut: both are the cut's
    position.
    """
    if quote_at < failed[opener]:
        # A literal opened before, by the same quote, ran to the end of this line without
        # closing: this quote was a character of it (no backslash precedes an opening
        # quote), so its scan from here on would be that one's, and fail the same way.
        return -1, -1
    opening = quote_at
    if opener in _STOP:
        while opening > start and quote_at - opening < 2 and text[opening - 1] in _PREFIXES:
            opening -= 1
    if opening > start and (_is_word(text[opening - 1]) or text[opening - 1] == "\\"):
        return -1, -1
    if opener not in _STOP:
        return _other_literal(text, quote_at, opener, end, failed)
    stop = _STOP[opener]
    pos = quote_at + 1
    while True:
        found = stop.search(text, pos, end)
        if found is None:
            failed[opener] = end
            return _ran_into_cut(text, quote_at, end)
        at = found.start()
        char = text[at]
        if char == "\n":
            failed[opener] = at
            return _ran_into_cut(text, quote_at, at)
        if char == "\\":
            if at + 1 < end and text[at + 1] == "\n":
                failed[opener] = at + 1
                return -1, -1
            pos = at + 2
            continue
        if at + 1 < end and _is_word(text[at + 1]):
            pos = at + 1  # a quote inside a word (an apostrophe): the literal goes on
            continue
        return at, at + 1


def _other_literal(
    text: str, quote_at: int, opener: str, end: int, failed: dict[str, int]
) -> tuple[int, int]:
    """:func:`_literal` for a quote that is not Python's own: no prefix, no escapes."""
    close = _CLOSE[opener]
    width = len(_QUOTES[opener])
    pos = quote_at + len(opener)
    while True:
        found = close.search(text, pos, end)
        at = end if found is None else found.start()
        if found is None or text[at] == "\n":
            failed[opener] = at
            return _ran_into_cut(text, quote_at, at)
        if at + width < end and _is_word(text[at + width]):
            pos = at + 1  # a closer inside a word (an apostrophe): the literal goes on
            continue
        return at, at + width


def _ran_into_cut(text: str, quote_at: int, at: int) -> tuple[int, int]:
    """Where the cut is, if the line of an open literal ends with capture's cut at ``at``."""
    mark = text.rfind("... [", quote_at + 1, at)
    if mark >= 0 and _CUT.fullmatch(text, mark, at):
        return mark, mark
    return -1, -1


# A frame line as capture writes it: the file a relative path of Python source made of
# plain characters, or a placeholder (<user code>, <frozen importlib._bootstrap>,
# <string>); the function a plain, maybe dotted, name (Class.method.<locals>.<lambda>).
# Any other line that only looks like one is text of a message, and scanned as such.
_NAME = r"(?:[^\W\d]\w*|<[^\W\d]\w*>)"
_FILE_LINE = re.compile(
    r'  File "(?:[\w./-]+\.(?:py|pyw|pyx)|<user code>|<frozen [\w.]+>|<[^\W\d]\w*>)"'
    rf", line \d+, in (?:<user code>|{_NAME}(?:\.{_NAME})*)"
)


def find_values_in_stack(text: str, markers: Collection[str] = ()) -> list[Span]:
    """:func:`find_values` of stack text, whose ``File "…", line N, in f`` lines are left.

    Those lines are code locations (capture made their paths relative or replaced
    them); the text between them (messages, chain headers) is scanned as one text, so a
    repr may span its lines. Only a line of the shape capture writes is left (see
    ``_FILE_LINE``): a message line that imitates one with any other file or function
    (``File "Grace Hopper.pdf", line 1, in x``) is scanned like the rest of the message.
    """
    spans: list[Span] = []
    segment = 0
    pos = 0
    length = len(text)
    while pos <= length:
        newline = text.find("\n", pos)
        line_end = length if newline < 0 else newline
        if text.startswith('  File "', pos) and _FILE_LINE.fullmatch(text, pos, line_end):
            spans.extend(find_values(text, markers, segment, pos))
            segment = line_end + 1
        pos = line_end + 1
    if segment < length:
        spans.extend(find_values(text, markers, segment, length))
    return spans


HAS_VALUE = _START
"""A text in which this finds nothing holds no value (no quote, no bracket): the
scrubber skips the rule for it."""
