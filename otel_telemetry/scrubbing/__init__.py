"""Scrubbing: every string that leaves is stripped of personal data first.

The rules are one table (``_rules.py``, which tells how to add a rule); the scrubber
(``_scrubber.py``) applies it.
"""

from ._scrubber import REDACTED, RULES, Scrubber, ScrubbingOptions, ScrubMatch, ScrubPass

__all__ = ["REDACTED", "RULES", "ScrubMatch", "ScrubPass", "Scrubber", "ScrubbingOptions"]
