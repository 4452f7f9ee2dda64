"""The structured exception chain a crash report carries, as typed JSON.

Span building writes it (``pipeline/_spans.py``) into the exception event's
``otel_telemetry.exception.chain`` attribute, root cause first, as Python prints a
chain and as Sentry orders it; exporters read it (the Sentry event mapping) instead of
parsing stack text. Both sides use these types.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, List, Literal, Optional, TypedDict

Relation = Literal["cause", "context", ""]
"""How an exception leads to the next one of the chain: ``cause`` (``raise ... from``),
``context`` (raised while handling it), or empty for the exception raised last."""


class Frame(TypedDict):
    """One frame: a path relative to its ``sys.path`` root, or the user-code placeholder."""

    filename: str
    function: str
    lineno: int
    module: str
    in_app: bool


class ChainEntry(TypedDict):
    """One exception of the chain."""

    type: str
    """Fully qualified class name; bare for built-ins (``ValueError``)."""
    module: str
    message: str
    frames: List[Frame]
    omitted_frames: int
    relation: Relation


Chain = List[ChainEntry]


def read_chain(text: object) -> Optional[Chain]:
    """The chain held in ``text``, typed; None when ``text`` is not a chain.

    The text may come from another producer, so every field is checked: a missing or
    mistyped one takes its empty value, and an entry that is not an object is skipped.
    """
    if not isinstance(text, str):
        return None
    try:
        raw = json.loads(text)
    except ValueError:
        return None
    if not isinstance(raw, list):
        return None
    chain = [_entry(item) for item in raw if isinstance(item, dict)]
    return chain or None


def _entry(item: dict[str, Any]) -> ChainEntry:
    relation = item.get("relation")
    frames = item.get("frames")
    return ChainEntry(
        type=_text(item.get("type")) or "Exception",
        module=_text(item.get("module")),
        message=_text(item.get("message")),
        frames=[_frame(f) for f in frames if isinstance(f, dict)]
        if isinstance(frames, list)
        else [],
        omitted_frames=_number(item.get("omitted_frames")),
        relation=relation if relation in ("cause", "context") else "",
    )


def _frame(item: dict[str, Any]) -> Frame:
    return Frame(
        filename=_text(item.get("filename")),
        function=_text(item.get("function")),
        lineno=_number(item.get("lineno")),
        module=_text(item.get("module")),
        in_app=item.get("in_app") is True,
    )


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _number(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def chain_of(event_attributes: Mapping[str, Any]) -> Chain:
    """The chain of an exception event, read from its chain attribute.

    A span from elsewhere has only the semantic-convention attributes: one entry of them.
    """
    chain = read_chain(event_attributes.get("otel_telemetry.exception.chain"))
    if chain is not None:
        return chain
    return [
        ChainEntry(
            type=str(event_attributes.get("exception.type", "Exception")),
            module="",
            message=str(event_attributes.get("exception.message", "")),
            frames=[],
            omitted_frames=0,
            relation="",
        )
    ]


def exception_module(entry: ChainEntry) -> Optional[str]:
    """The module of the exception's class; None for built-ins, as Python prints them."""
    module = entry["module"]
    return None if not module or module in ("builtins", "__builtin__") else module


def short_type(entry: ChainEntry) -> str:
    """The class name without its module (``CrawlError`` of ``acme.crawler.CrawlError``)."""
    full = entry["type"]
    module = exception_module(entry)
    if module and full.startswith(f"{module}."):
        return full[len(module) + 1 :]
    return full
