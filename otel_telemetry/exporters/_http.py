"""A small private HTTP client for the exporters that send over HTTP (OTLP and Sentry).

Built on the standard library's ``http.client`` so that sending a report borrows
nothing from the host's process:

* no credentials of the user: ``~/.netrc``, keyrings and ``*_proxy`` variables (with
  the user's proxy password in them) are never read; a report goes straight to the
  endpoint it names;
* no logging: ``http.client`` logs nothing, unlike ``urllib3``/``requests``, whose
  records a host's logging (or its Sentry) would capture;
* no global state: no ``warnings`` filter, no ``atexit`` callback, no pool kept
  between sends;
* bounded: one connection per send, a timeout on every socket operation, and the
  answer's body is never read (only its status line and headers, which ``http.client``
  bounds), so an endpoint answering a gigabyte costs nothing.
"""

from __future__ import annotations

import http.client
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Optional
from urllib.parse import urlsplit

from ._delivery import Delivery, delivery_from_status


@dataclass(frozen=True)
class Answer:
    """An endpoint's answer: its status and headers (names in lower case), never its body."""

    status: int
    headers: dict[str, str]


class BadUrl(ValueError):
    """The URL is not ``http://`` or ``https://`` with a host."""


def post(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    timeout: float,
) -> Answer:
    """POST ``body`` to ``url`` directly (no proxy) and return the answer's status and headers.

    Args:
        url: ``http://`` or ``https://``.
        body: what to send.
        headers: request headers; ``Content-Length`` and ``Host`` are set here.
        timeout: seconds each socket operation (connect, send, each read) may take.

    Raises:
        OSError: refused, unreachable, timed out, TLS failures.
        http.client.HTTPException: an answer that is not HTTP, or too many headers.
        BadUrl: a URL this client cannot send to.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadUrl(f"cannot send to a {parts.scheme or 'relative'} URL")
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        connection = http.client.HTTPSConnection(
            parts.hostname, parts.port, timeout=timeout, context=_shared_tls()
        )
    else:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    try:
        connection.request("POST", path, body=body, headers=dict(headers))
        response = connection.getresponse()
        # The body is never read: nothing in it changes what we do, and an endpoint
        # (or something posing as one) could answer without end.
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()})
    finally:
        connection.close()


def delivery_of_post(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    timeout: float,
) -> tuple[Delivery, Optional[Answer]]:
    """:func:`post`, with how it went as a :class:`Delivery`; never raises for network faults."""
    try:
        answer = post(url, body, headers, timeout=timeout)
    except (OSError, http.client.HTTPException, ValueError) as error:
        return Delivery(ok=False, detail=type(error).__name__), None
    return delivery_from_status(answer.status, answer.headers, f"HTTP {answer.status}"), answer


def default_tls() -> ssl.SSLContext:
    """The TLS context for ``https`` endpoints: certifi's roots when installed, else the system's."""
    try:
        import certifi

        return ssl.create_default_context(cafile=certifi.where())
    except ImportError:  # pragma: no cover - certifi is almost always there
        return ssl.create_default_context()


@lru_cache(maxsize=1)
def _shared_tls() -> ssl.SSLContext:
    # Loading the roots costs milliseconds of file I/O: once, for every send without
    # files of its own (never handed out, so never changed by load_cert_chain).
    return default_tls()
