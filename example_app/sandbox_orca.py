"""A sandbox of the PortX ORCA API: the same routes, scopes and errors, with made-up data.

It lets the example app (and workshop attendees) call "ORCA" with no PortX account. Mount
``SandboxOrca(...).app`` at ``/sandbox/orca/v1``; it validates bearer JWTs the way a resource
server must:

- the signature, against the issuer's JWKS found through discovery, cached; a token whose
  ``kid`` is unknown makes it refetch the JWKS (the issuer rotated its keys) at most once a
  minute, so forged ``kid`` values cannot make it hammer the issuer;
- ``iss`` equal to the issuer, ``exp`` in the future, ``aud`` containing the audience;
- the route's scope in ``scope`` (space-separated) or ``scp`` (a list);
- DPoP (RFC 9449): a token bound to a key (claim ``cnf.jkt``) only as ``Authorization: DPoP``
  with a ``DPoP`` proof of that key for this request (``htm``, ``htu``, ``iat``, a ``jti``
  never seen before, ``ath`` the token's hash); with ``require_dpop`` (FAPI 2.0) only bound
  tokens; with ``dpop_nonce`` the proof must carry the server's nonce (``DPoP-Nonce``).

Errors are exactly ORCA's: 401 ``unauthorized`` for any missing, invalid or expired token, 403
``forbidden`` for a valid token without the scope, 404 ``not_found`` for an account that is not
the user's. The data comes from :mod:`example_app.seed`, keyed by the token's ``sub``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from oidc_kit.testing import (
    DPoPError,
    ResourceServerDPoP,
    bound_thumbprint,
    check_certificate_binding,
    without_certificate_binding,
)

from .orca_models import Account
from .seed import UserData, data_for

__all__ = ["ACCEPTED_ALGS", "SandboxOrca"]

#: Signature algorithms accepted on access tokens; never ``none`` or a shared-secret HS*.
ACCEPTED_ALGS = ["RS256", "PS256", "ES256", "EdDSA"]

_INVALID_TOKEN = {
    "error": "unauthorized",
    "error_description": "The access token is invalid or has expired",
}


_DPOP_ALGS = " ".join(ResourceServerDPoP.algorithms)


class OrcaApiError(Exception):
    """An error answer of the API: status, JSON body, ``WWW-Authenticate`` and other headers."""

    def __init__(
        self,
        status: int,
        body: dict[str, str],
        challenge: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(body["error"])
        self.status = status
        self.body = body
        self.challenge = challenge
        self.headers = headers or {}

    @classmethod
    def invalid_token(cls) -> OrcaApiError:
        return cls(401, _INVALID_TOKEN, 'Bearer error="invalid_token"')

    @classmethod
    def dpop(
        cls, error: str, description: str, headers: dict[str, str] | None = None
    ) -> OrcaApiError:
        """401 with a ``DPoP`` challenge (RFC 9449 7.1): ``invalid_token`` for a token that is
        not presented as its binding requires, ``invalid_dpop_proof`` for a bad proof,
        ``use_dpop_nonce`` when the server's nonce is missing. The body keeps ORCA's shape."""
        challenge = f'DPoP error="{error}", error_description="{description}", algs="{_DPOP_ALGS}"'
        body = {"error": "unauthorized", "error_description": description}
        return cls(401, body, challenge, headers)

    @classmethod
    def insufficient_scope(cls, scope: str) -> OrcaApiError:
        description = f"The access token does not grant the {scope} scope"
        challenge = f'Bearer error="insufficient_scope", scope="{scope}"'
        return cls(403, {"error": "forbidden", "error_description": description}, challenge)

    @classmethod
    def not_found(cls, what: str) -> OrcaApiError:
        return cls(404, {"error": "not_found", "error_description": f"No such {what}"})

    @classmethod
    def keys_unavailable(cls) -> OrcaApiError:
        # Not the caller's fault: its token may be fine, we just cannot check it right now.
        description = "The token issuer's signing keys could not be fetched"
        return cls(503, {"error": "temporarily_unavailable", "error_description": description})


class _IssuerKeys:
    """The issuer's JWKS, found through discovery, cached, refetched at most once a minute."""

    def __init__(
        self,
        issuer: str,
        http: httpx.AsyncClient,
        clock: Callable[[], float],
        refetch_interval: float,
    ) -> None:
        self._issuer = issuer
        self._http = http
        self._clock = clock
        self._refetch_interval = refetch_interval
        self._jwks_uri: str | None = None
        self._keys: KeySet | None = None
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()

    async def current(self) -> KeySet:
        """The cached keys, fetched on first use."""
        if self._keys is not None:
            return self._keys
        async with self._lock:
            if self._keys is None:  # another request may have fetched them meanwhile
                self._keys = await self._fetch()
            return self._keys

    async def after_unknown_kid(self, tried: KeySet) -> KeySet | None:
        """Newer keys than ``tried``, refetching if a minute has passed; ``None`` if none."""
        async with self._lock:
            if self._keys is not tried:  # a concurrent request refetched already
                return self._keys
            if self._clock() - self._fetched_at < self._refetch_interval:
                return None
            self._keys = await self._fetch()
            return self._keys

    async def _fetch(self) -> KeySet:
        # Counted as an attempt even if it fails, so an unreachable issuer is not hammered.
        self._fetched_at = self._clock()
        try:
            if self._jwks_uri is None:
                self._jwks_uri = await self._discover()
            response = await self._http.get(self._jwks_uri)
            response.raise_for_status()
            return KeySet.import_key_set(response.json())
        except (httpx.HTTPError, ValueError, JoseError) as exc:
            raise OrcaApiError.keys_unavailable() from exc

    async def _discover(self) -> str:
        response = await self._http.get(f"{self._issuer}/.well-known/openid-configuration")
        response.raise_for_status()
        metadata = response.json()
        if metadata.get("issuer") != self._issuer or not isinstance(metadata.get("jwks_uri"), str):
            raise ValueError("discovery document does not match the issuer")
        return str(metadata["jwks_uri"])


def _credentials(request: Request) -> tuple[str, str]:
    """``(scheme, token)`` of ``Authorization: Bearer|DPoP <token>``, scheme lower-cased (it
    is case-insensitive)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token, scheme = token.strip(), scheme.lower()
    if scheme not in ("bearer", "dpop") or not token or " " in token:
        raise OrcaApiError.invalid_token()
    return scheme, token


def _granted_scopes(claims: dict[str, Any]) -> set[str]:
    """Scopes from ``scope`` (RFC 9068: a space-separated string) or ``scp`` (a list)."""
    scope, scp = claims.get("scope"), claims.get("scp")
    if isinstance(scope, str):
        return set(scope.split())
    if isinstance(scp, list):
        return {s for s in scp if isinstance(s, str)}
    if isinstance(scp, str):
        return set(scp.split())
    return set()


class SandboxOrca:
    """The sandbox ORCA API as an ASGI app, ``.app``, to mount at ``/sandbox/orca/v1``.

    ``http_client`` is used to fetch the issuer's discovery document and JWKS; the caller owns
    it (and closes it). ``clock`` returns epoch seconds; tests pass a fake one.

    DPoP: ``require_dpop`` refuses tokens that are not DPoP-bound (FAPI 2.0 mode);
    ``dpop_nonce`` demands the server's nonce in every proof. A proof's ``htu`` is compared
    with the request's URL, or, behind a proxy, with ``public_url`` (the URL clients call this
    API at, e.g. ``https://app.example.com/sandbox/orca/v1``) plus the path under the mount.
    """

    def __init__(
        self,
        issuer: str,
        http_client: httpx.AsyncClient,
        *,
        audience: str = "orca",
        clock: Callable[[], float] = time.time,
        leeway: int = 5,
        jwks_refetch_interval: float = 60.0,
        require_dpop: bool = False,
        dpop_nonce: bool = False,
        public_url: str | None = None,
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self.audience = audience
        self._clock = clock
        self._leeway = leeway
        self._public_url = public_url.rstrip("/") if public_url else None
        self._dpop = ResourceServerDPoP(clock, require_dpop=require_dpop, nonce=dpop_nonce)
        self._keys = _IssuerKeys(self.issuer, http_client, clock, jwks_refetch_interval)
        self.app = Starlette(
            routes=[
                Route("/accounts", self.list_accounts),
                Route("/accounts/{account_id}", self.get_account),
                Route("/accounts/{account_id}/transactions", self.list_transactions),
                Route("/parties/me", self.get_party),
                Route("/cards", self.list_cards),
            ],
            exception_handlers={OrcaApiError: _error_response},
        )

    @property
    def require_dpop(self) -> bool:
        """Whether only DPoP-bound tokens are accepted (FAPI 2.0 mode)."""
        return self._dpop.require_dpop

    # --- routes ---------------------------------------------------------------------------

    async def list_accounts(self, request: Request) -> Response:
        user = await self._authorize(request, "accounts:read")
        return _json({"data": user.accounts})

    async def get_account(self, request: Request) -> Response:
        user = await self._authorize(request, "accounts:read")
        return _json({"data": _own_account(user, request)})

    async def list_transactions(self, request: Request) -> Response:
        user = await self._authorize(request, "transactions:read")
        account = _own_account(user, request)
        return _json({"data": user.transactions.get(account["id"], [])})

    async def get_party(self, request: Request) -> Response:
        user = await self._authorize(request, "parties:read")
        return _json({"data": user.party})

    async def list_cards(self, request: Request) -> Response:
        user = await self._authorize(request, "cards:read")
        return _json({"data": user.cards})

    # --- token checks ---------------------------------------------------------------------

    async def _authorize(self, request: Request, scope: str) -> UserData:
        """The data of the token's user, if the token is valid, presented as its binding
        requires, and grants ``scope``."""
        try:
            scheme, token = _credentials(request)
        except OrcaApiError:
            if self.require_dpop:
                description = "A DPoP-bound access token is required"
                raise OrcaApiError.dpop("invalid_token", description) from None
            raise
        claims = await self.validate_token(token)
        try:  # RFC 8705 3: a certificate-bound token only over a connection presenting it
            check_certificate_binding(claims, request.scope)
        except DPoPError:
            raise OrcaApiError.invalid_token() from None
        try:
            jkt = self._dpop.bound_jkt(without_certificate_binding(claims))
        except ValueError:
            raise OrcaApiError.invalid_token() from None  # a confirmation we do not understand
        if jkt is not None or not self.require_dpop or bound_thumbprint(claims) is None:
            # A certificate is FAPI 2.0's other sender constraint: no DPoP needed with one.
            self._check_sender(request, scheme, token, jkt)
        elif scheme.lower() != "bearer":  # RFC 8705 3: sent as a Bearer token
            raise OrcaApiError.invalid_token()
        if scope not in _granted_scopes(claims):
            raise OrcaApiError.insufficient_scope(scope)
        return data_for(claims["sub"])

    async def validate_token(self, token: str) -> dict[str, Any]:
        """The token's claims once signature, issuer, expiry and audience are checked."""
        keys = await self._keys.current()
        try:
            try:
                claims = jwt.decode(token, keys, algorithms=ACCEPTED_ALGS).claims
            except InvalidKeyIdError:
                newer = await self._keys.after_unknown_kid(keys)
                if newer is None:
                    raise
                claims = jwt.decode(token, newer, algorithms=ACCEPTED_ALGS).claims
            self._claims_registry().validate(claims)
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise OrcaApiError.invalid_token() from exc
        return claims

    def _check_sender(self, request: Request, scheme: str, token: str, jkt: str | None) -> None:
        """A bound token needs the DPoP scheme and a proof of its key; an unbound one the
        Bearer scheme (and is refused with ``require_dpop``)."""
        try:
            self._dpop.check(
                request.headers.items(),
                request.method,
                self._htu(request),
                scheme=scheme,
                token=token,
                jkt=jkt,
            )
        except DPoPError as exc:
            # A proof problem carries the current nonce (in its headers); a token presented
            # wrongly does not.
            raise OrcaApiError.dpop(exc.error, exc.description, exc.headers) from None

    def _htu(self, request: Request) -> str:
        """The URL the proof's ``htu`` must name: this request's, without the query."""
        if self._public_url is None:
            return str(request.url.replace(query="", fragment=""))
        path: str = request.scope["path"]
        root_path: str = request.scope.get("root_path", "")
        return self._public_url + path.removeprefix(root_path)

    def _claims_registry(self) -> jwt.JWTClaimsRegistry:
        return jwt.JWTClaimsRegistry(
            now=lambda: int(self._clock()),
            leeway=self._leeway,
            iss={"essential": True, "value": self.issuer},
            exp={"essential": True},
            aud={"essential": True, "value": self.audience},
            sub={"essential": True},
        )


def _own_account(user: UserData, request: Request) -> Account:
    """The account of the path, if it is the user's: someone else's is as unknown as a typo."""
    account = user.account(request.path_params["account_id"])
    if account is None:
        raise OrcaApiError.not_found("account")
    return account


def _json(body: dict[str, Any]) -> JSONResponse:
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


async def _error_response(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, OrcaApiError)
    headers = {"Cache-Control": "no-store", **exc.headers}
    if exc.challenge:
        headers["WWW-Authenticate"] = exc.challenge
    return JSONResponse(exc.body, status_code=exc.status, headers=headers)
