"""The few HTTP exchanges with the provider, with failures mapped onto the error tree.

Network errors, timeouts and 5xx answers become :class:`ProviderUnavailable` (the caller keeps
the session and answers 503); anything else unusable becomes the caller's own error class.

Every call has one deadline for the whole exchange (connect, send, every read): httpx's own
timeouts restart on each read, so a server that trickles a byte a second would otherwise hold
a login for as long as it trickles. The body is read up to a size limit, so a hostile or broken
endpoint cannot make the kit buffer without bound. Answers are asked for uncompressed
(``Accept-Encoding: identity``) and a compressed one is refused: a few hundred kilobytes of gzip
can inflate to gigabytes before any limit on the decoded size is reached.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
from collections.abc import Mapping
from typing import Any

import httpx

from ._errors import OIDCError, ProviderUnavailable, ResponseTooLarge

__all__ = ["MAX_RESPONSE_BYTES", "fetch", "json_object"]

#: Far above any answer the kit reads from a provider (discovery, JWKS, tokens, userinfo).
MAX_RESPONSE_BYTES = 1024 * 1024

#: Headers that describe the body as it was on the wire, not as read (already decoded).
_WIRE_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})


async def fetch(
    http: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    what: str,
    deadline: float,
    headers: Mapping[str, str] | None = None,
    data: Mapping[str, str | list[str]] | None = None,
    json: Any = None,
    auth: httpx.Auth | None = None,
    max_bytes: int = MAX_RESPONSE_BYTES,
) -> httpx.Response:
    """One request, finished within ``deadline`` seconds overall, its body read whole (at most
    ``max_bytes``, uncompressed). Transport failures, the deadline and 5xx answers raise
    :class:`ProviderUnavailable`; a larger body :class:`ResponseTooLarge`."""
    try:
        async with asyncio.timeout(deadline):
            request = http.build_request(method, url, headers=headers, data=data, json=json)
            request.headers["Accept-Encoding"] = "identity"
            response = await http.send(request, auth=auth or httpx.USE_CLIENT_DEFAULT, stream=True)
            try:
                body = await _read_capped(response, max_bytes, what)
            finally:
                await response.aclose()
    except TimeoutError:
        raise ProviderUnavailable(f"{what}: no complete answer within {deadline:g} s") from None
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        # The exception text may contain the URL, never a token: tokens travel in bodies
        # and headers only. Keep just its type.
        raise ProviderUnavailable(f"{what}: {type(exc).__name__}") from None
    if response.status_code >= 500:
        raise ProviderUnavailable(f"{what} answered {response.status_code}")
    kept = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in _WIRE_HEADERS]
    return httpx.Response(response.status_code, headers=kept, content=body, request=request)


async def _read_capped(response: httpx.Response, max_bytes: int, what: str) -> bytes:
    if response.headers.get("content-encoding", "identity").lower() != "identity":
        raise ResponseTooLarge(f"{what} answered compressed, though asked not to")
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise ResponseTooLarge(f"{what} answered more than {max_bytes} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():  # identity: as sent
        size += len(chunk)
        if size > max_bytes:
            raise ResponseTooLarge(f"{what} answered more than {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def json_object(response: httpx.Response, error: type[OIDCError], what: str) -> dict[str, Any]:
    """The response body as a JSON object, or ``error``."""
    try:
        body = jsonlib.loads(response.content)
    except (ValueError, RecursionError):  # deep nesting raises RecursionError
        raise error(f"{what} did not answer JSON") from None
    if not isinstance(body, dict):
        raise error(f"{what} did not answer a JSON object")
    return body
