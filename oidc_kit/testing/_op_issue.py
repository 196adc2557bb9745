"""Minting the token response: RFC 9068 access token, ID token, rotated refresh token.

A client credentials response (RFC 6749 4.4.3) carries the access token alone: its ``sub`` is
the client itself, and there is no user, hence no ID token and no refresh token.

An access token issued with a DPoP key thumbprint (``jkt``) is bound to it (RFC 9449 6.1):
``token_type`` ``DPoP`` and the claim ``cnf: {"jkt": ...}``. One issued with a certificate
thumbprint (``x5t``) is bound to that certificate (RFC 8705 3): ``cnf: {"x5t#S256": ...}``,
still a ``Bearer`` token (sent over the mTLS connection).
"""

from __future__ import annotations

import secrets
from typing import Any

from ._op_context import OPContext
from ._op_keys import half_hash
from ._op_models import claims_for_scopes
from ._op_store import Grant

__all__ = ["TokenIssuer"]


class TokenIssuer:
    """Signs tokens for a grant and records them in the store."""

    def __init__(self, ctx: OPContext) -> None:
        self._ctx = ctx

    def issue(
        self,
        grant: Grant,
        scopes: tuple[str, ...],
        *,
        nonce: str | None,
        jkt: str | None = None,
        x5t: str | None = None,
    ) -> dict[str, Any]:
        """The token response body for ``grant``, limited to ``scopes``, DPoP-bound to ``jkt``
        if given.

        A refresh token comes with it when the grant includes ``offline_access``.
        """
        config = self._ctx.config
        access_token = self._access_token(grant, scopes, jkt, x5t)
        body: dict[str, Any] = {
            "access_token": access_token,
            "token_type": _token_type(jkt),
            "expires_in": config.access_token_ttl,
            "scope": " ".join(scopes),
            "id_token": self._id_token(grant, scopes, access_token, nonce),
        }
        if grant.authorization_details:
            # RFC 9396 7: the details granted, with the token (refreshes too: the same grant).
            body["authorization_details"] = list(grant.authorization_details)
        if "offline_access" in grant.scopes:
            ttl = config.refresh_token_ttl
            body["refresh_token"] = self._ctx.store.new_refresh_token(grant, ttl)
        return body

    def issue_for_client(
        self,
        client_id: str,
        scopes: tuple[str, ...],
        jkt: str | None = None,
        x5t: str | None = None,
    ) -> dict[str, Any]:
        """The client credentials response: an access token whose subject is the client.

        It is not recorded in the store: no grant, so nothing to revoke it with; it lives
        until it expires, as a resource server checking JWTs sees it anyway.
        """
        config = self._ctx.config
        claims = self._access_claims(client_id, client_id, scopes, jkt, x5t)
        return {
            "access_token": self._ctx.keys.sign(claims, typ="at+jwt"),
            "token_type": _token_type(jkt),
            "expires_in": config.access_token_ttl,
            "scope": " ".join(scopes),
        }

    def _access_token(
        self, grant: Grant, scopes: tuple[str, ...], jkt: str | None, x5t: str | None = None
    ) -> str:
        claims = self._access_claims(grant.sub, grant.client_id, scopes, jkt, x5t)
        claims["auth_time"] = grant.auth_time
        if grant.authorization_details:  # RFC 9396 9.1: for the resource server
            claims["authorization_details"] = list(grant.authorization_details)
        self._ctx.store.add_access_token(grant, claims["jti"], self._ctx.config.access_token_ttl)
        return self._ctx.keys.sign(claims, typ="at+jwt")

    def _access_claims(
        self,
        sub: str,
        client_id: str,
        scopes: tuple[str, ...],
        jkt: str | None,
        x5t: str | None = None,
    ) -> dict[str, Any]:
        """The RFC 9068 claims every access token carries, and ``cnf`` if DPoP- or
        certificate-bound."""
        config = self._ctx.config
        now = config.now()
        claims: dict[str, Any] = {
            "iss": config.issuer,
            "sub": sub,
            "aud": config.access_token_audience,
            "client_id": client_id,
            "scope": " ".join(scopes),
            "iat": now,
            "exp": now + config.access_token_ttl,
            "jti": secrets.token_urlsafe(16),
        }
        cnf = {"jkt": jkt} if jkt is not None else {}
        if x5t is not None:
            cnf["x5t#S256"] = x5t
        if cnf:
            claims["cnf"] = cnf
        return claims

    def _id_token(
        self, grant: Grant, scopes: tuple[str, ...], access_token: str, nonce: str | None
    ) -> str:
        config = self._ctx.config
        user = self._ctx.user_by_sub(grant.sub)
        now = config.now()
        claims: dict[str, Any] = claims_for_scopes(user.claims if user else {}, scopes)
        claims.update(
            iss=config.issuer,
            sub=grant.sub,
            aud=grant.client_id,
            azp=grant.client_id,
            iat=now,
            exp=now + config.id_token_ttl,
            auth_time=grant.auth_time,
            sid=grant.sid,
            at_hash=half_hash(access_token),
        )
        if nonce is not None:
            claims["nonce"] = nonce
        return self._ctx.keys.sign(claims, typ="JWT")


def _token_type(jkt: str | None) -> str:
    return "Bearer" if jkt is None else "DPoP"
