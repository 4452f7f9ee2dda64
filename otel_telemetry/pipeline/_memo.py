"""A memory of results kept from report to report, bounded, forgotten all at once when full.

Crashes repeat (a storm, a retried job, a burst from a few raise sites): their frames
and events are worked out once and looked up after (``_spans``). Each such memory is
one of these: bounded in characters (what its keys and results keep alive, as the
caller counts it) and in entries, and emptied whole when an entry would pass a bound.
Starting again is simpler and cheaper than an LRU, and a working set of a megabyte of
distinct strings is rare. (The scrubber keeps one of its own, ``_scrubber._Memo``: the
scrubbing package imports nothing of the rest.)
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Generic, Optional, TypeVar

V = TypeVar("V")


class Memo(Generic[V]):
    """Results by key, at most ``max_chars`` characters and ``max_entries`` entries.

    Args:
        max_chars: the most characters all entries may count together.
        max_entries: the most entries, however few characters they count.
        longest: an entry counting more is not kept (rare, not worth the room).
    """

    __slots__ = ("_chars", "_results", "longest", "max_chars", "max_entries")

    def __init__(
        self, max_chars: int = 1 << 20, max_entries: int = 1 << 20, longest: int = 1 << 20
    ) -> None:
        self.max_chars = max_chars
        self.max_entries = max_entries
        self.longest = longest
        self._results: dict[Hashable, V] = {}
        self._chars = 0

    def get(self, key: Hashable, default: Optional[V] = None) -> Optional[V]:
        """What was kept for ``key``, else ``default`` (a result may itself be None)."""
        return self._results.get(key, default)

    def put(self, key: Hashable, value: V, chars: int) -> None:
        """Keep ``value`` for ``key``, counting ``chars``; forget everything first if full."""
        if chars > self.longest or chars > self.max_chars:
            return
        if self._chars + chars > self.max_chars or len(self._results) >= self.max_entries:
            self._results = {}  # a new dict: a thread reading the old one is not disturbed
            self._chars = 0
        self._results[key] = value
        self._chars += chars

    def clear(self) -> None:
        """Forget every result."""
        self._results = {}
        self._chars = 0

    @property
    def chars(self) -> int:
        """The characters the entries count together."""
        return self._chars

    def __len__(self) -> int:
        return len(self._results)
