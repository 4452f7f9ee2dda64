"""The crawling core of Acme, with entry points wrapped by ``capture_errors``."""

import asyncio
import json
from pathlib import Path
from typing import Any, Callable

from .telemetry import telemetry


class CrawlError(RuntimeError):
    """A page could not be fetched."""


def _cache_dir() -> Path:
    return Path.home() / ".cache" / "acme" / "pages"


def _decode(response: str) -> dict[str, Any]:
    """Decode a transport response; the standard library calls back into Acme."""

    def check(obj: dict[str, Any]) -> dict[str, Any]:
        if "error" in obj:
            raise ConnectionRefusedError(obj["error"])
        return obj

    return json.loads(response, object_hook=check)


async def _fetch(url: str, contact: str) -> str:
    await asyncio.sleep(0)
    # A stand-in transport that always fails, so the example needs no network.
    response = json.dumps({"error": f"connection to {url} refused"})
    try:
        return str(_decode(response))
    except ConnectionRefusedError as exc:
        # The message holds a URL with credentials, an email and a home-directory path:
        # exactly what must never leave the user's machine.
        raise CrawlError(
            f"could not fetch {url} on behalf of {contact}; partial page kept in {_cache_dir()}"
        ) from exc


@telemetry.capture_errors
async def arun(url: str, contact: str = "crawler@example.com") -> str:
    """Fetch one page (async entry point)."""
    return await _fetch(url, contact)


@telemetry.capture_errors
def run(url: str, contact: str = "crawler@example.com") -> str:
    """Fetch one page (sync entry point)."""
    return asyncio.run(arun(url, contact))


def parse_robots(text: str) -> dict[str, list[str]]:
    """Parse a robots.txt; a library function without a decorator of its own."""
    rules: dict[str, list[str]] = {}
    for line in text.splitlines():
        field, _, value = line.partition(":")
        if not value:
            raise ValueError(f"malformed robots.txt line: {line!r}")
        rules.setdefault(field.strip().lower(), []).append(value.strip())
    return rules


async def refresh_cache(url: str) -> None:
    """A background job, usually started with ``asyncio.create_task``."""
    await asyncio.sleep(0)
    raise CrawlError(f"cache refresh for {url} failed; cache kept in {_cache_dir()}")


class PageCache:
    """Writes pages back when collected; a failure there is an unraisable exception."""

    def __init__(self, dirty: bool = False) -> None:
        self.dirty = dirty

    def __del__(self) -> None:
        if self.dirty:
            raise OSError(f"could not write the page cache to {_cache_dir()}")


def crawl_each(urls: list[str], on_page: Callable[[str], None]) -> int:
    """Call ``on_page`` (the user's code) for every page."""
    for url in urls:
        on_page(url)
    return len(urls)
