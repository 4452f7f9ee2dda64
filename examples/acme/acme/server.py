"""Acme's API server (FastAPI), as it runs in Docker: telemetry on by default there.

Run it with ``uvicorn acme.server:app``; ``ACME_TELEMETRY=0`` turns telemetry off.
"""

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
