"""Scrub: strip personal data from every string that leaves (DESIGN §4).

Each rule replaces only what it matches with a typed marker (``[email]``, ``[url]``,
``[path]``, ...). Every pattern has bounded repetition before its anchor, so scrubbing
is linear in the length of the text. Strings that hold JSON are parsed, scrubbed value
by value and written back, so a replacement can never break an escape sequence.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable, Optional

REDACTED = "[redacted]"


@dataclass(frozen=True)
class ScrubMatch:
    """One match, as shown to :attr:`ScrubbingOptions.callback`."""

    rule: str
    """The name of the rule that matched (``email``, ``url``, ``path``, or ``extra``)."""
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
    """Names of built-in rules to switch off, such as ``"path"``."""

    callback: Optional[Callable[[ScrubMatch], Optional[str]]] = None
    """Called for every match: return the replacement text, or None to use the marker."""


@dataclass(frozen=True)
class _Rule:
    name: str
    pattern: re.Pattern[str]
    marker: str


def _home_paths(home: Optional[str]) -> str:
    # A path inside any user's home on Linux, macOS or Windows, and inside this user's
    # home wherever it lives (/root, /var/lib/x). The tail runs to the next blank or quote.
    tail = r"""(?:[/\\][^\s'"<>|]*)?"""
    prefixes = [
        r"/home/[^/\s'\"]{1,64}",
        r"/Users/[^/\s'\"]{1,64}",
        r"[A-Za-z]:\\Users\\[^\\\s'\"]{1,64}",
    ]
    if home and len(home.rstrip("/\\")) > 1:
        prefixes.insert(0, re.escape(home.rstrip("/\\")) + r"(?![A-Za-z0-9_.\-])")
    return "(?:" + "|".join(prefixes) + ")" + tail


def _builtin_rules(home: Optional[str]) -> tuple[_Rule, ...]:
    return (
        # URLs first: they can hold user:password@host, which is not an email.
        _Rule("url", re.compile(r"""\b[A-Za-z][A-Za-z0-9+.\-]{0,20}://[^\s'"<>`]+"""), "[url]"),
        _Rule(
            "email",
            re.compile(
                r"[A-Za-z0-9._%+\-]{1,64}@[A-Za-z0-9\-]{1,63}(?:\.[A-Za-z0-9\-]{1,63}){0,8}\.[A-Za-z]{2,24}\b"
            ),
            "[email]",
        ),
        _Rule("path", re.compile(_home_paths(home)), "[path]"),
    )


class Scrubber:
    """Applies the rules of a :class:`ScrubbingOptions` to text and attribute values."""

    def __init__(
        self, options: Optional[ScrubbingOptions] = None, *, home: Optional[str] = None
    ) -> None:
        self.options = options or ScrubbingOptions()
        self._home = home
        self._compiled: Optional[tuple[tuple[_Rule, ...], tuple[re.Pattern[str], ...]]] = None

    @property
    def _rules(self) -> tuple[_Rule, ...]:
        return self._compile()[0]

    @property
    def _allow(self) -> tuple[re.Pattern[str], ...]:
        return self._compile()[1]

    def _compile(self) -> tuple[tuple[_Rule, ...], tuple[re.Pattern[str], ...]]:
        # Deferred to the first report, so that creating a Telemetry compiles nothing.
        if self._compiled is None:
            home = self._home if self._home is not None else os.path.expanduser("~")
            disabled = set(self.options.disabled_rules)
            rules = [rule for rule in _builtin_rules(home) if rule.name not in disabled]
            rules.extend(
                _Rule("extra", re.compile(p), REDACTED) for p in self.options.extra_patterns
            )
            allow = tuple(re.compile(p) for p in self.options.allow_patterns)
            self._compiled = (tuple(rules), allow)
        return self._compiled

    def new_pass(self) -> ScrubPass:
        """Start scrubbing one report; the pass counts what each rule replaced."""
        return ScrubPass(self)


@dataclass
class ScrubPass:
    """Scrubs the strings of one report and counts the replacements per rule."""

    scrubber: Scrubber
    counts: dict[str, int] = field(default_factory=dict)

    def text(self, text: str) -> str:
        """Scrub one string; a string holding a JSON object or array is scrubbed inside."""
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
            return {self._plain(str(k)): self.json(v) for k, v in value.items()}
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
        return {self.text(key): self.value(value) for key, value in attributes.items()}

    def _plain(self, text: str) -> str:
        for rule in self.scrubber._rules:
            text = rule.pattern.sub(partial(self._replace, rule), text)
        return text

    def _replace(self, rule: _Rule, match: re.Match[str]) -> str:
        found = match.group(0)
        if any(allow.fullmatch(found) for allow in self.scrubber._allow):
            return found
        self.counts[rule.name] = self.counts.get(rule.name, 0) + 1
        callback = self.scrubber.options.callback
        if callback is not None:
            replacement = callback(ScrubMatch(rule.name, found))
            if replacement is not None:
                return replacement
        return rule.marker
