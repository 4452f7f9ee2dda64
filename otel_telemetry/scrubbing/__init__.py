"""Scrubbing: every string that leaves is stripped of personal data first.

The rules are one table (``_rules.py``, which tells how to add a rule); the scrubber
(``_scrubber.py``) applies it. Exception messages and stack text also get the ``value``
rule (``_values.py``): data quoted or repr'd in them becomes ``[value]``.
"""

from ._scrubber import REDACTED, RULES, VALUE, Scrubber, ScrubbingOptions, ScrubMatch, ScrubPass

__all__ = [
    "REDACTED",
    "RULES",
    "VALUE",
    "ScrubMatch",
    "ScrubPass",
    "Scrubber",
    "ScrubbingOptions",
]
