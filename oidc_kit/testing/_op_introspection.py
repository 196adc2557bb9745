"""Token introspection (RFC 7662) at ``/introspect``, when the provider is built with
``introspection=True``.

Only an authenticated client may ask (RFC 7662 2.1: the endpoint must not be an oracle for
anyone holding a token), with the methods it uses at the token endpoint. The answer is about
the provider's own access tokens: ``active`` while one is unexpired and unrevoked (its grant
alive), with RFC 7662 2.2's members (``scope``, ``client_id``, ``sub``, ``exp``, ``iat``,
``iss``, ``aud``, ``token_type``, ``jti``, and ``cnf`` for a DPoP-bound one, RFC 9449 6.2);
anything else, refresh tokens included, is ``{"active": false}`` and nothing more.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ._op_assertion import AssertionVerifier, invalid_client
from ._op_client_auth import authenticate_client
from ._op_context import OAuthError, OPContext, json_response, read_form

__all__ = ["IntrospectionEndpoint"]

_INACTIVE = {"active": False}
#: The access token's claims an answer repeats (RFC 7662 2.2 names them after JWT's).
_CLAIMS = ("scope", "client_id", "sub", "exp", "iat", "iss", "aud", "jti", "cnf")


class IntrospectionEndpoint:
    """``/introspect``: whether one of the provider's access tokens is active."""

    def __init__(self, ctx: OPContext, assertions: AssertionVerifier) -> None:
        self._ctx = ctx
        self._assertions = assertions

    async def introspect(self, request: Request) -> Response:
        """RFC 7662 2: an authenticated client's question about ``token``."""
        try:
            form = await read_form(request)
            client = await authenticate_client(request, form, self._ctx.clients, self._assertions)
            if client.public:
                raise invalid_client("introspection needs an authenticated client")
            token = form.get("token")
            if not token:
                raise OAuthError("invalid_request", "token is required")
        except OAuthError as exc:
            return exc.response()
        self._ctx.introspections += 1
        return json_response(self._answer(token))

    def _answer(self, token: str) -> dict[str, Any]:
        config = self._ctx.config
        claims = self._ctx.keys.verify(token, issuer=config.issuer, typ="at+jwt", now=config.now)
        jti = claims.get("jti") if claims else None
        if claims is None or not isinstance(jti, str):
            return _INACTIVE  # not ours, or expired
        store = self._ctx.store
        # A user's token lives while it is unrevoked and its grant is; a client credentials
        # token is in no grant (nothing revokes it): its signature and exp decide.
        if store.access_token_known(jti) and store.access_token_grant(jti) is None:
            return _INACTIVE
        answer = {name: claims[name] for name in _CLAIMS if name in claims}
        token_type = "DPoP" if "cnf" in claims else "Bearer"
        return {"active": True, **answer, "token_type": token_type}
