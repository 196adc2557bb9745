"""The back-channel endpoints: token, revocation (RFC 7009) and userinfo.

DPoP (RFC 9449): a token request with a valid ``DPoP`` proof gets an access token bound to
the proof's key; so does the grant, and every refresh must then prove the same key (RFC 9449
binds refresh tokens of public clients only; the sandbox binds them for every client, the
strictest reading). Userinfo takes a bound token only as ``Authorization: DPoP`` with a proof.
"""

from __future__ import annotations

import hmac
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ._op_assertion import AssertionVerifier
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
from ._op_dpop import DPOP_ALGS, DPoPError
from ._op_issue import TokenIssuer
from ._op_keys import s256
from ._op_models import SCOPE_CLAIMS, SandboxClient, claims_for_scopes
from ._op_mtls import (
    at_alias,
    check_certificate_binding,
    endpoint_certificate,
    thumbprint,
    without_certificate_binding,
)
from ._op_store import Grant
from ._resource import ResourceServerDPoP

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


def _bearer_error(
    error: str, description: str, status: int = 401, *, scheme: str = "Bearer"
) -> Response:
    challenge = f'{scheme} error="{error}", error_description="{description}"'
    if scheme == "DPoP":
        challenge += f', algs="{" ".join(DPOP_ALGS)}"'
    body = {"error": error, "error_description": description}
    return json_response(body, status=status, headers={"WWW-Authenticate": challenge})


class TokenEndpoint:
    """``/token``, ``/revoke`` and ``/userinfo``."""

    def __init__(self, ctx: OPContext, assertions: AssertionVerifier) -> None:
        self._ctx = ctx
        self._assertions = assertions
        self._issuer = TokenIssuer(ctx)
        # Userinfo is a resource server: it checks DPoP as any sandbox API does. (Its replay
        # cache is its own: a proof made for the token endpoint names another htu anyway.)
        self._userinfo_dpop = ResourceServerDPoP(ctx.config.clock)

    async def token(self, request: Request) -> Response:
        """Exchange a code, a refresh token or client credentials; each call counted by type."""
        try:
            form = await _token_params(request)
            self._ctx.grant_counts[form.get("grant_type", "")] += 1
            # The proof first: a use_dpop_nonce answer must not spend the client assertion.
            jkt = self._ctx.proof_jkt(request, "/token")
            client = await authenticate_client(request, form, self._ctx.clients, self._assertions)
            if jkt is None and client.dpop_bound_access_tokens:
                raise OAuthError("invalid_request", "DPoP proof required")
            x5t = _certificate_binding(request, client)
            grant_type = _required(form, "grant_type")
            if grant_type == "authorization_code":
                body = self._code_grant(form, client, jkt, x5t)
            elif grant_type == "refresh_token":
                body = self._refresh_grant(form, client, jkt, x5t)
            elif grant_type == "client_credentials":
                body = self._client_credentials_grant(form, client, jkt, x5t)
            else:
                raise OAuthError("unsupported_grant_type", f"unsupported grant_type {grant_type}")
        except OAuthError as exc:
            return exc.response()
        return json_response(body, headers=self._ctx.nonce_header())

    def _code_grant(
        self, form: dict[str, str], client: SandboxClient, jkt: str | None, x5t: str | None
    ) -> dict[str, Any]:
        record = self._ctx.store.redeem_code(_required(form, "code"))
        if record is None:
            raise OAuthError("invalid_grant", "the code is invalid, expired or already used")
        auth = record.request
        if auth.client_id != client.client_id:
            raise OAuthError("invalid_grant", "the code was issued to another client")
        if form.get("redirect_uri") != auth.redirect_uri:
            raise OAuthError("invalid_grant", "redirect_uri differs from the authorization request")
        _check_verifier(form.get("code_verifier"), auth.code_challenge)
        if auth.dpop_jkt is not None and auth.dpop_jkt != jkt:
            # RFC 9449 10: a code bound to a key is redeemed only with a proof of that key.
            raise OAuthError("invalid_grant", "the code is bound to another DPoP key")
        grant = self._ctx.store.new_grant(record, auth.scopes, jkt)
        return self._issuer.issue(grant, auth.scopes, nonce=auth.nonce, jkt=jkt, x5t=x5t)

    def _refresh_grant(
        self, form: dict[str, str], client: SandboxClient, jkt: str | None, x5t: str | None
    ) -> dict[str, Any]:
        store = self._ctx.store
        token = _required(form, "refresh_token")
        usable = store.refresh_token_grant(token)
        scopes = _narrowed(form.get("scope"), usable.scopes) if usable else None
        if usable is not None and usable.client_id == client.client_id:
            _check_binding(usable.jkt, jkt)
        grant = store.rotate_refresh_token(token, client.client_id)
        if grant is None:
            description = "the refresh token is invalid, expired, revoked or already used"
            raise OAuthError("invalid_grant", description)
        if grant.jkt is None:
            grant.jkt = jkt  # a proof on the first refresh binds the grant from then on
        return self._issuer.issue(grant, scopes or grant.scopes, nonce=None, jkt=jkt, x5t=x5t)

    def _client_credentials_grant(
        self, form: dict[str, str], client: SandboxClient, jkt: str | None, x5t: str | None
    ) -> dict[str, Any]:
        """RFC 6749 4.4: a confidential client's own token, for the API scopes it asks for."""
        if client.public:
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
        return self._issuer.issue_for_client(client.client_id, granted, jkt, x5t)

    async def revoke(self, request: Request) -> Response:
        """RFC 7009: revoke a refresh token's family or one access token; 200 if unknown."""
        try:
            form = await read_form(request)
            client = await authenticate_client(request, form, self._ctx.clients, self._assertions)
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
        """The user's claims per the access token's scopes.

        ``Authorization: Bearer <token>``, or ``DPoP <token>`` with a ``DPoP`` proof for a
        DPoP-bound token (which is refused as Bearer).
        """
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        scheme, token = scheme.lower(), token.strip()
        if scheme not in ("bearer", "dpop") or not token:
            headers = {"WWW-Authenticate": 'Bearer realm="sandbox"'}
            return Response(status_code=401, headers={**NO_STORE, **headers})
        claims = self._verify_access_token(token, check_expiry=True)
        grant = self._ctx.store.access_token_grant(claims["jti"]) if claims else None
        if claims is None or grant is None:
            return _bearer_error("invalid_token", "The access token is invalid, expired or revoked")
        try:  # RFC 8705 3: a certificate-bound token only with its certificate, at the alias
            check_certificate_binding(claims, request.scope if at_alias(request) else {})
        except DPoPError as exc:
            return _bearer_error(exc.error, exc.description)
        try:
            jkt = self._userinfo_dpop.bound_jkt(without_certificate_binding(claims))
        except ValueError:
            return _bearer_error("invalid_token", "The access token's cnf is not understood")
        refused = self._check_sender(request, scheme, token, jkt)
        if refused is not None:
            return refused
        scopes = str(claims.get("scope", "")).split()
        if "openid" not in scopes:
            return _bearer_error("insufficient_scope", "The openid scope is required", 403)
        return json_response(self._userinfo_claims(grant, scopes))

    def _check_sender(
        self, request: Request, scheme: str, token: str, jkt: str | None
    ) -> Response | None:
        """None if the token is presented as it must be (RFC 9449 7); else the 401 answer."""
        try:
            self._userinfo_dpop.check(
                request.headers.items(),
                request.method,
                self._ctx.config.url("/userinfo"),
                scheme=scheme,
                token=token,
                jkt=jkt,
            )
        except DPoPError as exc:
            # An unbound token is challenged as Bearer, a bound one as DPoP.
            challenge = "Bearer" if jkt is None else "DPoP"
            return _bearer_error(exc.error, exc.description, scheme=challenge)
        return None

    def _userinfo_claims(self, grant: Grant, scopes: list[str]) -> dict[str, Any]:
        user = self._ctx.user_by_sub(grant.sub)
        return {**claims_for_scopes(user.claims if user else {}, scopes), "sub": grant.sub}

    def _verify_access_token(self, token: str, *, check_expiry: bool) -> dict[str, Any] | None:
        config = self._ctx.config
        now = config.now if check_expiry else None
        claims = self._ctx.keys.verify(token, issuer=config.issuer, typ="at+jwt", now=now)
        return claims if claims is not None and isinstance(claims.get("jti"), str) else None


def _certificate_binding(request: Request, client: SandboxClient) -> str | None:
    """The thumbprint a token request's access token is bound to (RFC 8705 3): that of the
    certificate presented at the ``/mtls`` alias, for a client registered for bound tokens
    (which must present one); ``None`` otherwise."""
    if not client.tls_client_certificate_bound_access_tokens:
        return None
    cert = endpoint_certificate(request)
    if cert is None:
        raise OAuthError(
            "invalid_request",
            "certificate-bound access tokens need a client certificate at the mTLS endpoint",
        )
    return thumbprint(cert)


def _check_binding(bound: str | None, proven: str | None) -> None:
    """A refresh of a DPoP-bound grant must prove the same key (RFC 9449 5)."""
    if bound is None:
        return
    if proven is None:
        raise OAuthError(
            "invalid_grant", "the refresh token is DPoP-bound: a DPoP proof is required"
        )
    if proven != bound:
        raise OAuthError(
            "invalid_grant", "the DPoP proof's key is not the one the refresh token is bound to"
        )
