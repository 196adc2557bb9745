"""The few HTTP exchanges with the provider, with failures mapped onto the error tree.

Network errors, timeouts and 5xx answers become :class:`ProviderUnavailable` (the caller keeps
the session and answers 503); anything else unusable becomes the caller's own error class.

Every call has one deadline for the whole exchange (connect, send, every read): httpx's own
timeouts restart on each read, so a server that trickles a byte a second would otherwise hold
a login for as long as it trickles. The body is read up to a size limit, so a hostile or broken
endpoint cannot make the kit buffer without bound. Answers are asked for uncompressed
(``Accept-Encoding: identity``) and a compressed one is refused: a few hundred kilobytes of gzip
can inflate to gigabytes before any limit on the decoded size is reached. Both rules hold for
every answer of the exchange, also those an ``auth`` reads before a retry (a DPoP nonce
challenge).
"""

from __future__ import annotations

import asyncio
import json as jsonlib
from collections.abc import AsyncGenerator, AsyncIterator, Generator, Mapping
from typing import Any

import httpx

from ._errors import OIDCError, ProviderUnavailable, ResponseTooLarge
from ._telemetry_calls import provider_call

__all__ = ["MAX_RESPONSE_BYTES", "AsyncAuth", "fetch", "json_object"]

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
    kind: str = "other",
    headers: Mapping[str, str] | None = None,
    data: Mapping[str, str | list[str]] | None = None,
    json: Any = None,
    auth: httpx.Auth | None = None,
    max_bytes: int = MAX_RESPONSE_BYTES,
) -> httpx.Response:
    """One request, finished within ``deadline`` seconds overall, its body read whole (at most
    ``max_bytes``, uncompressed). Transport failures, the deadline and 5xx answers raise
    :class:`ProviderUnavailable`; a larger body :class:`ResponseTooLarge`. ``kind`` names the
    call for telemetry (one of :data:`oidc_kit._telemetry.PROVIDER_CALLS`: its span is
    ``oidc_kit.provider.{kind}``)."""
    with provider_call(kind, method, url) as call:
        try:
            async with asyncio.timeout(deadline):
                # httpx's per-phase timeouts are the call's too, not the client's: a client
                # shared by several providers (or the app's own) must not cut one short.
                request = http.build_request(
                    method, url, headers=headers, data=data, json=json, timeout=deadline
                )
                request.headers["Accept-Encoding"] = "identity"
                limited = (
                    httpx.USE_CLIENT_DEFAULT if auth is None else _Limited(auth, max_bytes, what)
                )
                response = await http.send(request, auth=limited, stream=True)
                try:
                    _limit(response, max_bytes, what)
                    body = await response.aread()
                finally:
                    await response.aclose()
        except TimeoutError:
            raise ProviderUnavailable(f"{what}: no complete answer within {deadline:g} s") from None
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            # The exception text may contain the URL, never a token: tokens travel in bodies
            # and headers only. Keep just its type.
            raise ProviderUnavailable(f"{what}: {type(exc).__name__}") from None
        call.answered(response.status_code)
        if response.status_code >= 500:
            raise ProviderUnavailable(f"{what} answered {response.status_code}")
    kept = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in _WIRE_HEADERS]
    return httpx.Response(response.status_code, headers=kept, content=body, request=request)


class AsyncAuth(httpx.Auth):
    """An ``httpx.Auth`` whose flow awaits (a token source, a response body): an
    ``httpx.Client`` is told so, rather than sending the request without it."""

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        raise RuntimeError("oidc_kit is async only: use httpx.AsyncClient")
        yield request  # pragma: no cover  (makes this a generator, as httpx expects)


def _limit(response: httpx.Response, max_bytes: int, what: str) -> None:
    """Make every read of ``response``'s body, whoever reads it, stop past ``max_bytes``;
    refuse a compressed one, or one declared too large, at once."""
    if isinstance(response.stream, _CappedStream):
        return
    if response.headers.get("content-encoding", "identity").lower() != "identity":
        raise ResponseTooLarge(f"{what} answered compressed, though asked not to")
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise ResponseTooLarge(f"{what} answered more than {max_bytes} bytes")
    assert isinstance(response.stream, httpx.AsyncByteStream)
    response.stream = _CappedStream(response.stream, max_bytes, what)


class _CappedStream(httpx.AsyncByteStream):
    """A response body that raises :class:`ResponseTooLarge` past ``max_bytes`` (identity
    encoding: as sent), counted as it streams."""

    def __init__(self, stream: httpx.AsyncByteStream, max_bytes: int, what: str) -> None:
        self._stream = stream
        self._max_bytes = max_bytes
        self._what = what

    async def __aiter__(self) -> AsyncIterator[bytes]:
        size = 0
        async for chunk in self._stream:
            size += len(chunk)
            if size > self._max_bytes:
                raise ResponseTooLarge(f"{self._what} answered more than {self._max_bytes} bytes")
            yield chunk

    async def aclose(self) -> None:
        await self._stream.aclose()


class _Limited(AsyncAuth):
    """``auth``'s flow, each answer it is given limited first: an answer it reads to decide
    on a retry, and the one httpx then reads before sending the retry, are capped too."""

    def __init__(self, auth: httpx.Auth, max_bytes: int, what: str) -> None:
        self._auth = auth
        self._max_bytes = max_bytes
        self._what = what

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        flow = self._auth.async_auth_flow(request)
        try:
            sent = await flow.__anext__()
            while True:
                response = yield sent
                _limit(response, self._max_bytes, self._what)
                try:
                    sent = await flow.asend(response)
                except StopAsyncIteration:
                    return
        finally:
            await flow.aclose()


def json_object(response: httpx.Response, error: type[OIDCError], what: str) -> dict[str, Any]:
    """The response body as a JSON object, or ``error``."""
    try:
        body = jsonlib.loads(response.content)
    except (ValueError, RecursionError):  # deep nesting raises RecursionError
        raise error(f"{what} did not answer JSON") from None
    if not isinstance(body, dict):
        raise error(f"{what} did not answer a JSON object")
    return body
