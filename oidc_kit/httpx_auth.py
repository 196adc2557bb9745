"""``httpx.Auth`` for calling an API (ORCA) with a user's or a client's access token.

The flow is a generator, as httpx intends: attach the token, send, and on a 401 ask the
token source for a refreshed token once and retry once. Tests drive the generator directly,
with no network.

:class:`SessionAuth` serves a user's session, whose tokens may be DPoP-bound (RFC 9449):
then each request carries ``Authorization: DPoP`` and a fresh proof of the session's key,
and a server's demand for its ``DPoP-Nonce`` is met by one more try. :class:`BearerAuth` is
the same flow over a plain :class:`TokenSource` of ``Bearer`` tokens (a client's own
credentials).
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Callable
from typing import Protocol

import httpx

from ._dpop import PROOF_ERRORS, DPoPNonces, challenge_errors
from ._http import AsyncAuth
from ._tokens import TokenSet

__all__ = ["BearerAuth", "SessionAuth", "TokenSetSource", "TokenSource"]


class TokenSource(Protocol):
    """Where :class:`BearerAuth` gets tokens from (a user's session, a client's credentials)."""

    async def token(self) -> str:
        """A usable access token, refreshed first if it is due."""
        ...

    async def refresh(self, rejected: str) -> str:
        """A token other than ``rejected``, which the API just refused."""
        ...


class TokenSetSource(Protocol):
    """Where :class:`SessionAuth` gets a session's tokens from."""

    async def tokens(self) -> TokenSet:
        """The session's tokens, refreshed first if the access token is due."""
        ...

    async def refreshed(self, rejected: str) -> TokenSet:
        """Tokens whose access token is not ``rejected``, which the API just refused."""
        ...


class SessionAuth(AsyncAuth):
    """A user's tokens, ``Bearer`` or DPoP-bound: refresh on a 401 and retry once; with DPoP,
    a proof on every request and one more try when the server asks for its nonce.

    Each try is the token set's own ``httpx.Auth`` (:meth:`TokenSet.auth
    <oidc_kit._tokens.TokenSet.auth>`: ``Bearer``, or :class:`~oidc_kit._dpop.DPoPAuth`, which
    meets a nonce challenge itself); this flow adds the refresh and its one retry.
    A 401 that refuses the DPoP proof (``invalid_dpop_proof``, ``use_dpop_nonce``) is not
    answered with a refresh: a new token would not cure it, and would spend a refresh token.
    A request's body is read into memory before it is sent (as httpx's own ``DigestAuth``
    does), so that a retry can send it again: API calls carry small JSON bodies.
    """

    def __init__(
        self,
        source: TokenSetSource,
        nonces: DPoPNonces,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._source = source
        self._nonces = nonces
        self._clock = clock

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        await request.aread()  # a retry resends the body: a streamed one must be kept
        tokens = await self._source.tokens()
        for retried in (False, True):
            # The token's own flow: Bearer, or DPoP with its proofs and nonce retry.
            flow = tokens.auth(self._nonces, self._clock).async_auth_flow(request)
            try:
                sent = await flow.__anext__()
                while True:
                    response = yield sent
                    try:
                        sent = await flow.asend(response)
                    except StopAsyncIteration:
                        break
            finally:
                await flow.aclose()
            if retried or response.status_code != 401 or challenge_errors(response) & PROOF_ERRORS:
                return
            # The API refused a token we thought valid (revoked, clock skew, key rotation):
            # refresh once and retry once. A second 401 is the API's answer.
            await response.aread()
            tokens = await self._source.refreshed(tokens.access_token)


class BearerAuth(SessionAuth):
    """Bearer token auth with refresh-before-expiry and one refresh + retry on a 401."""

    def __init__(self, source: TokenSource) -> None:
        super().__init__(_BearerTokens(source), DPoPNonces())


class _BearerTokens:
    """A :class:`TokenSource` seen as a :class:`TokenSetSource` of ``Bearer`` tokens."""

    def __init__(self, source: TokenSource) -> None:
        self._source = source

    async def tokens(self) -> TokenSet:
        return _bearer(await self._source.token())

    async def refreshed(self, rejected: str) -> TokenSet:
        return _bearer(await self._source.refresh(rejected))


def _bearer(access_token: str) -> TokenSet:
    return TokenSet(access_token=access_token, token_type="Bearer", expires_at=None, issued_at=0)
