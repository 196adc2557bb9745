"""``httpx.Auth`` for calling an API (ORCA) with a user's access token.

The flow is a generator, as httpx intends: attach ``Authorization: Bearer``, send, and on a
401 ask the token source for a refreshed token once and retry once. Tests drive the generator
directly, with no network.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator
from typing import Protocol

import httpx

__all__ = ["BearerAuth", "TokenSource"]


class TokenSource(Protocol):
    """Where :class:`BearerAuth` gets tokens from (a user's session, a client's credentials)."""

    async def token(self) -> str:
        """A usable access token, refreshed first if it is due."""
        ...

    async def refresh(self, rejected: str) -> str:
        """A token other than ``rejected``, which the API just refused."""
        ...


class BearerAuth(httpx.Auth):
    """Bearer token auth with refresh-before-expiry and one refresh + retry on a 401."""

    def __init__(self, source: TokenSource) -> None:
        self._source = source

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        raise RuntimeError("oidc_kit is async only: use httpx.AsyncClient")
        yield request  # pragma: no cover  (makes this a generator, as httpx expects)

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = await self._source.token()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code != 401:
            return
        # The API refused a token we thought valid (revoked, clock skew, key rotation):
        # refresh once and retry once. A second 401 is the API's answer.
        await response.aread()
        token = await self._source.refresh(token)
        request.headers["Authorization"] = f"Bearer {token}"
        yield request
