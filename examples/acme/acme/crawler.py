"""The crawling core of Acme, with entry points wrapped by ``capture_errors``.

Two shapes of API, as real crawlers have them: ``run``/``arun`` raise (and are wrapped
by ``capture_errors``: reported only if the caller lets the error end the program, or
with consent already given), ``crawl_page`` never raises and returns failure results
(crawl4ai's ``success=False``), reporting by hand, with ``capture_exception``, only the
errors it did not expect.
"""

import asyncio
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from .telemetry import BROWSERS, CrawlFinished, CrawlStarted, duration_bucket, telemetry


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


@dataclass
class Markdown:
    """A page converted to Markdown."""

    raw: str


@dataclass
class CrawlResult:
    """What ``crawl_page`` returns: a failure is a result, not an exception."""

    url: str
    success: bool
    title: Optional[str] = None
    markdown: Optional[Markdown] = None
    error_message: Optional[str] = None


#: Failures a crawler expects (the network, the remote server): a failed result, no report.
EXPECTED_FAILURES = (CrawlError, ConnectionError, TimeoutError)


def fetch_offline(url: str) -> str:
    """The stand-in transport of ``crawl_page``, so the example needs no network: it fails."""
    raise ConnectionRefusedError(f"connection to {url} refused")


def crawl_page(url: str, fetch: Callable[[str], str] = fetch_offline) -> CrawlResult:
    """Fetch one page and convert it; never raises (the crawl4ai ``arun`` shape).

    Args:
        url: the page.
        fetch: the transport (``fetch_offline`` by default); returns the page's HTML.

    Returns:
        ``success=True`` with the title and Markdown, or ``success=False`` with the error.
    """
    try:
        html = fetch(url)
    except EXPECTED_FAILURES as exc:  # expected: the user sees it in the result, no report
        return CrawlResult(url, success=False, error_message=str(exc))
    try:
        return CrawlResult(url, success=True, title=_title(html), markdown=_markdown(html))
    except Exception as exc:
        # Unexpected: a bug of Acme's. The caller still gets a result; the maintainers
        # get the report (asked for in a terminal, sent when consent is given).
        telemetry.capture_exception(exc)
        return CrawlResult(url, success=False, error_message=f"unexpected error: {exc}")


def _title(html: str) -> str:
    # A page without a <title> is the bug: search() returns None.
    return re.search(r"<title>(.*?)</title>", html, re.S).group(1).strip()


def _markdown(html: str) -> Markdown:
    return Markdown(re.sub(r"<[^>]+>", "", html).strip())


def crawl_pages(
    urls: list[str], browser: str = "chromium", fetch: Callable[[str], str] = fetch_offline
) -> list[CrawlResult]:
    """Crawl every page with ``crawl_page``; never raises.

    Sends the usage events ``crawl_started`` and ``crawl_finished`` (counts and enums
    only), which leave the machine only when the user chose usage events too.

    Args:
        urls: the pages.
        browser: the browser kind, one of ``BROWSERS``.
        fetch: the transport (``fetch_offline`` by default).

    Raises:
        ValueError: ``browser`` is not one of ``BROWSERS``.
    """
    if browser not in BROWSERS:
        raise ValueError(f"unknown browser kind; expected one of {', '.join(BROWSERS)}")
    import time  # here, not at the top: the line numbers of the crashes above stay put

    telemetry.send_event(CrawlStarted(pages=len(urls), browser=browser))
    started = time.monotonic()
    results = [crawl_page(url, fetch) for url in urls]
    succeeded = sum(result.success for result in results)
    telemetry.send_event(
        CrawlFinished(
            pages=len(urls),
            succeeded=succeeded,
            browser=browser,
            success=succeeded == len(urls),
            duration=duration_bucket(time.monotonic() - started),
        )
    )
    return results
