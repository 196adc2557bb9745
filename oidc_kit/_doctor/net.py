"""Fetching the provider's documents for the doctor, and reading their members.

Unlike the kit's own fetches, a failure here is described, never raised, and a TLS failure
says what the certificate lacks (self-signed, expired, wrong host): a report, not an error.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, urlsplit

import httpx

from .._errors import ProviderError
from .._http import json_object

__all__ = ["Fetched", "describe_http_error", "fetch_json", "split_url", "strings"]


@dataclass(frozen=True)
class Fetched:
    """One GET of a JSON document: the object, or why there is none."""

    body: dict[str, Any] | None
    error: str | None = None
    #: The failure was TLS (certificate verification, handshake).
    tls_error: bool = False
    #: The response's ``Date`` header, and the local time it arrived (None: no response).
    date: str | None = None
    received_at: float | None = None
    #: The body's length in bytes.
    size: int = 0


async def fetch_json(http: httpx.AsyncClient, url: str, clock: Callable[[], float]) -> Fetched:
    """GET ``url`` expecting a JSON object; any failure is described, never raised."""
    try:
        response = await http.get(url, headers={"Accept": "application/json"})
    except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:  # ValueError: a bad URL
        return Fetched(None, describe_http_error(exc), tls_error=_ssl_cause(exc) is not None)
    date, received_at = response.headers.get("date"), clock()
    if response.status_code != 200:
        moved = response.headers.get("location")
        error = f"HTTP {response.status_code}" + (f" (to {moved})" if moved else "")
        return Fetched(None, error, date=date, received_at=received_at)
    try:
        body = json_object(response, ProviderError, url)
    except ProviderError as exc:
        return Fetched(None, exc.description, date=date, received_at=received_at)
    return Fetched(body, date=date, received_at=received_at, size=len(response.content))


def describe_http_error(exc: Exception) -> str:
    """A readable line for a failed request: TLS failures say what the certificate lacks."""
    cause = _ssl_cause(exc)
    if isinstance(cause, ssl.SSLCertVerificationError):
        return f"TLS certificate verification failed: {cause.verify_message or cause.reason}"
    if cause is not None:
        return f"TLS handshake failed: {cause.reason or cause}"
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out ({type(exc).__name__})"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _ssl_cause(exc: BaseException) -> ssl.SSLError | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def split_url(url: Any) -> SplitResult | None:
    """``urlsplit(url)``, or None for a non-string or a malformed URL."""
    try:
        return urlsplit(url) if isinstance(url, str) else None
    except ValueError:  # an unbalanced IPv6 bracket, for one
        return None


def strings(doc: Mapping[str, Any], name: str) -> list[str] | None:
    """A metadata list's strings; ``None`` when absent, ``[]`` when not a list."""
    value = doc.get(name)
    if value is None:
        return None
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []
