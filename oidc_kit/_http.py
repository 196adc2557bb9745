"""The few HTTP exchanges with the provider, with failures mapped onto the error tree.

Network errors, timeouts and 5xx answers become :class:`ProviderUnavailable` (the caller keeps
the session and answers 503); anything else unusable becomes the caller's own error class.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx

from ._errors import OIDCError, ProviderUnavailable

__all__ = ["fetch", "json_object"]


async def fetch(
    http: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    what: str,
    headers: Mapping[str, str] | None = None,
    data: Mapping[str, str] | None = None,
    auth: httpx.Auth | None = None,
) -> httpx.Response:
    """One request; transport failures and 5xx answers raise :class:`ProviderUnavailable`."""
    try:
        response = await http.request(
            method, url, headers=headers, data=data, auth=auth or httpx.USE_CLIENT_DEFAULT
        )
    except httpx.HTTPError as exc:
        # The exception text may contain the URL, never a token: tokens travel in bodies
        # and headers only. Keep just its type.
        raise ProviderUnavailable(f"{what}: {type(exc).__name__}") from None
    if response.status_code >= 500:
        raise ProviderUnavailable(f"{what} answered {response.status_code}")
    return response


def json_object(response: httpx.Response, error: type[OIDCError], what: str) -> dict[str, Any]:
    """The response body as a JSON object, or ``error``."""
    try:
        body = json.loads(response.content)
    except ValueError:
        raise error(f"{what} did not answer JSON") from None
    if not isinstance(body, dict):
        raise error(f"{what} did not answer a JSON object")
    return body
