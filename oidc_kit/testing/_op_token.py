"""The back-channel endpoints: token, revocation (RFC 7009) and userinfo."""

from __future__ import annotations

import hmac
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ._op_client_auth import authenticate_client
from ._op_context import (
    JSON_TYPE,
    NO_STORE,
    OAuthError,
    OPContext,
    content_type,
    json_response,
    read_form,
    read_json_object,
)
from ._op_issue import TokenIssuer
from ._op_keys import s256
from ._op_models import SCOPE_CLAIMS, SandboxClient, claims_for_scopes
from ._op_store import Grant

__all__ = ["TokenEndpoint"]

_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")

#: Scopes about a user: meaningless when a client acts on its own behalf, so never granted.
_USER_SCOPES = frozenset({"openid", "offline_access", *SCOPE_CLAIMS})


async def _token_params(request: Request) -> dict[str, str]:
    """The token request's parameters: a form (RFC 6749 3.2), or JSON for client credentials.

    The JSON object is the ORCA documentation's own example of a token request; the sandbox
    accepts it for ``grant_type=client_credentials`` only, so that clients can be tested
    against a server that speaks it.
    """
    if content_type(request) != JSON_TYPE:
        return await read_form(request)
    params = await read_json_object(request)
    if params.get("grant_type") != "client_credentials":
        raise OAuthError(
            "invalid_request",
            "the request body must be application/x-www-form-urlencoded "
            "(JSON is accepted for grant_type=client_credentials only)",
        )
    return params


def _required(form: dict[str, str], name: str) -> str:
    value = form.get(name)
    if value is None:
        raise OAuthError("invalid_request", f"{name} is required")
    return value


def _check_verifier(verifier: str | None, challenge: str) -> None:
    """PKCE (RFC 7636 4.6): the verifier's S256 must equal the challenge."""
    if verifier is None:
        raise OAuthError("invalid_request", "code_verifier is required (PKCE)")
    if not _VERIFIER.fullmatch(verifier):
        raise OAuthError("invalid_request", "code_verifier must be 43-128 unreserved characters")
    if not hmac.compare_digest(s256(verifier), challenge):
        raise OAuthError("invalid_grant", "code_verifier does not match the code_challenge")


def _narrowed(scope: str | None, granted: tuple[str, ...]) -> tuple[str, ...] | None:
    """The scopes a refresh request asks for: a subset of the grant's, or None for all."""
    if scope is None:
        return None
    requested = tuple(dict.fromkeys(scope.split()))
    if not set(requested) <= set(granted):
        raise OAuthError("invalid_scope", "a refresh cannot add scopes beyond the original grant")
    return requested


def _bearer_error(error: str, description: str, status: int = 401) -> Response:
    challenge = f'Bearer error="{error}", error_description="{description}"'
    body = {"error": error, "error_description": description}
    return json_response(body, status=status, headers={"WWW-Authenticate": challenge})


class TokenEndpoint:
    """``/token``, ``/revoke`` and ``/userinfo``."""

    def __init__(self, ctx: OPContext) -> None:
        self._ctx = ctx
        self._issuer = TokenIssuer(ctx)

    async def token(self, request: Request) -> Response:
        """Exchange a code, a refresh token or client credentials; each call counted by type."""
        try:
            form = await _token_params(request)
            self._ctx.grant_counts[form.get("grant_type", "")] += 1
            client = authenticate_client(request, form, self._ctx.clients)
            grant_type = _required(form, "grant_type")
            if grant_type == "authorization_code":
                body = self._code_grant(form, client)
            elif grant_type == "refresh_token":
                body = self._refresh_grant(form, client)
            elif grant_type == "client_credentials":
                body = self._client_credentials_grant(form, client)
            else:
                raise OAuthError("unsupported_grant_type", f"unsupported grant_type {grant_type}")
        except OAuthError as exc:
            return exc.response()
        return json_response(body)

    def _code_grant(self, form: dict[str, str], client: SandboxClient) -> dict[str, Any]:
        record = self._ctx.store.redeem_code(_required(form, "code"))
        if record is None:
            raise OAuthError("invalid_grant", "the code is invalid, expired or already used")
        auth = record.request
        if auth.client_id != client.client_id:
            raise OAuthError("invalid_grant", "the code was issued to another client")
        if form.get("redirect_uri") != auth.redirect_uri:
            raise OAuthError("invalid_grant", "redirect_uri differs from the authorization request")
        _check_verifier(form.get("code_verifier"), auth.code_challenge)
        grant = self._ctx.store.new_grant(record, auth.scopes)
        return self._issuer.issue(grant, auth.scopes, nonce=auth.nonce)

    def _refresh_grant(self, form: dict[str, str], client: SandboxClient) -> dict[str, Any]:
        store = self._ctx.store
        token = _required(form, "refresh_token")
        usable = store.refresh_token_grant(token)
        scopes = _narrowed(form.get("scope"), usable.scopes) if usable else None
        grant = store.rotate_refresh_token(token, client.client_id)
        if grant is None:
            description = "the refresh token is invalid, expired, revoked or already used"
            raise OAuthError("invalid_grant", description)
        return self._issuer.issue(grant, scopes or grant.scopes, nonce=None)

    def _client_credentials_grant(
        self, form: dict[str, str], client: SandboxClient
    ) -> dict[str, Any]:
        """RFC 6749 4.4: a confidential client's own token, for the API scopes it asks for."""
        if client.client_secret is None:
            raise OAuthError(
                "unauthorized_client", "a public client cannot use the client credentials grant"
            )
        # No default scope (RFC 6749 3.3 allows failing instead): ask for what you need.
        requested = tuple(dict.fromkeys(form.get("scope", "").split()))
        if not requested:
            raise OAuthError("invalid_scope", "scope is required for client credentials")
        unknown = [s for s in requested if s not in self._ctx.config.scopes_supported]
        if unknown:
            raise OAuthError("invalid_scope", f"unknown scope {unknown[0]}")
        granted = tuple(s for s in requested if s not in _USER_SCOPES)
        if not granted:
            description = "none of the requested scopes can be granted to a client on its own"
            raise OAuthError("invalid_scope", description)
        return self._issuer.issue_for_client(client.client_id, granted)

    async def revoke(self, request: Request) -> Response:
        """RFC 7009: revoke a refresh token's family or one access token; 200 if unknown."""
        try:
            form = await read_form(request)
            client = authenticate_client(request, form, self._ctx.clients)
            token = _required(form, "token")
        except OAuthError as exc:
            return exc.response()
        store = self._ctx.store
        if not store.revoke_refresh_token(token, client.client_id):
            claims = self._verify_access_token(token, check_expiry=False)
            if claims is not None:
                store.revoke_access_token(claims["jti"], client.client_id)
        return Response(status_code=200, headers=NO_STORE)

    async def userinfo(self, request: Request) -> Response:
        """The user's claims per the access token's scopes (``Authorization: Bearer`` only)."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            headers = {"WWW-Authenticate": 'Bearer realm="sandbox"'}
            return Response(status_code=401, headers={**NO_STORE, **headers})
        claims = self._verify_access_token(token.strip(), check_expiry=True)
        grant = self._ctx.store.access_token_grant(claims["jti"]) if claims else None
        if claims is None or grant is None:
            return _bearer_error("invalid_token", "The access token is invalid, expired or revoked")
        scopes = str(claims.get("scope", "")).split()
        if "openid" not in scopes:
            return _bearer_error("insufficient_scope", "The openid scope is required", 403)
        return json_response(self._userinfo_claims(grant, scopes))

    def _userinfo_claims(self, grant: Grant, scopes: list[str]) -> dict[str, Any]:
        user = self._ctx.user_by_sub(grant.sub)
        return {**claims_for_scopes(user.claims if user else {}, scopes), "sub": grant.sub}

    def _verify_access_token(self, token: str, *, check_expiry: bool) -> dict[str, Any] | None:
        config = self._ctx.config
        now = config.now if check_expiry else None
        claims = self._ctx.keys.verify(token, issuer=config.issuer, typ="at+jwt", now=now)
        return claims if claims is not None and isinstance(claims.get("jti"), str) else None
