"""``httpx.Auth`` for calling an API (ORCA) with a user's or a client's access token.

One protocol, :class:`TokenSource`, says where tokens come from: a user's session
(``OIDCAuth.httpx_auth(request)`` builds one), the app's own :class:`~oidc_kit.ClientCredentials`,
or a source of the app's own. One ``httpx.Auth``, :class:`BearerAuth`, sends them.

The flow is a generator, as httpx intends: attach the token, send, and on a 401 ask the
source for a refreshed token once and retry once. Tests drive the generator directly, with
no network. A token set that is DPoP-bound (RFC 9449) is presented as ``Authorization: DPoP``
with a fresh proof of its key on every request, and a server's demand for its
``DPoP-Nonce`` is met by one more try.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Callable
from typing import Protocol, runtime_checkable

import httpx

from ._dpop import PROOF_ERRORS, DPoPNonces, challenge_errors
from ._http import AsyncAuth
from ._tokens import TokenSet

__all__ = ["BearerAuth", "DPoPNonces", "TokenSource"]


@runtime_checkable
class TokenSource(Protocol):
    """Where :class:`BearerAuth` gets its tokens: a user's session, the app's client
    credentials, or an app's own source.

    Both methods return a :class:`~oidc_kit.TokenSet`: its ``token_type`` (``Bearer`` or
    ``DPoP``, with the set's ``dpop_key``) says how the access token is presented. A source
    of plain bearer tokens returns ``TokenSet(access_token=..., token_type="Bearer")``.
    """

    async def tokens(self) -> TokenSet:
        """Usable tokens: refreshed first if the access token is due."""
        ...

    async def refreshed(self, rejected: str) -> TokenSet:
        """Tokens whose access token is not ``rejected``, which the API just refused (a 401):
        the current ones if they already differ, else new ones."""
        ...


class BearerAuth(AsyncAuth):
    """An ``httpx.Auth`` over a :class:`TokenSource`: attach the access token (refreshed
    first when due), and on a 401 refresh once and retry once.

    ``Bearer`` tokens go in ``Authorization: Bearer``. DPoP-bound ones (RFC 9449) go in
    ``Authorization: DPoP`` with a fresh proof of the set's key on every request, and once
    more when the server asks for its nonce; ``nonces`` keeps the nonces servers gave, by
    origin (share one between the ``BearerAuth`` objects of a process that call the same
    APIs, or each new one pays a retry to learn them).

    Each try is the token set's own ``httpx.Auth`` (:meth:`TokenSet.auth
    <oidc_kit.TokenSet.auth>`: ``Bearer``, or DPoP, which meets a nonce challenge itself);
    this flow adds the refresh and its one retry. A 401 that refuses the DPoP proof
    (``invalid_dpop_proof``, ``use_dpop_nonce``) is not answered with a refresh: a new token
    would not cure it, and would spend a refresh token. A request's body is read into memory
    before it is sent (as httpx's own ``DigestAuth`` does), so that a retry can send it
    again: API calls carry small JSON bodies.
    """

    def __init__(
        self,
        source: TokenSource,
        *,
        nonces: DPoPNonces | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._source = source
        self._nonces = DPoPNonces() if nonces is None else nonces
        self._clock = clock

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """httpx's flow: yields each request to send, receives its response."""
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
