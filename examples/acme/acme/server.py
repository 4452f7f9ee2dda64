"""Acme's API server (FastAPI), as it runs in Docker: telemetry on by default there.

Run it with ``uvicorn acme.server:app``; ``ACME_TELEMETRY=0`` turns telemetry off.
Stopped by SIGTERM (``docker stop``, Kubernetes, systemd), it flushes what it has not
sent yet (the storm counts too) within ``flush_timeout``, then ends as uvicorn does.
"""

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

from otel_telemetry.asgi import TelemetryMiddleware

from .crawler import arun
from .telemetry import telemetry

# Server mode: on by default, never asks; ACME_TELEMETRY=0 turns it off.
telemetry.install(mode="server")

app = FastAPI(title="Acme crawler API")
app.add_middleware(TelemetryMiddleware, telemetry=telemetry)


class CrawlRequest(BaseModel):
    url: str
    contact: str = "crawler@example.com"


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/crawl/{site}")
async def crawl_site(site: str, url: str) -> dict[str, str]:
    return {"site": site, "page": await arun(url)}


@app.post("/crawl")
async def crawl(request: CrawlRequest) -> dict[str, str]:
    return {"page": await arun(request.url, request.contact)}


# Pages crawled earlier, by site; a fresh server has none.
_PAGES: dict[str, Any] = {}


@app.get("/pages/{site}/markdown")
async def page_markdown(site: str) -> dict[str, str]:
    """The Markdown of a site crawled before; one never crawled is a bug (a 500)."""
    page = _PAGES.get(site)
    # The bug, as servers have them: AttributeError: 'NoneType' object has no attribute ...
    return {"markdown": page.markdown}
