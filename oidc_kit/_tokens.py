"""Token sets and the token endpoint: code exchange, refresh, revocation.

A :class:`TokenSet` never shows its tokens in ``repr``: only its shape and expiry.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import httpx

from ._client_auth import ClientAuth, client_authentication
from ._dpop import DPoPAuth, DPoPKey, DPoPNonces, load_key
from ._errors import OIDCError, ProviderError, TokenRequestFailed, UnboundToken
from ._http import fetch, json_object
from ._provider import ProviderMetadata
from ._provider_config import ProviderConfig

__all__ = [
    "TokenSet",
    "parse_token_response",
    "post_authenticated",
    "revoke_token",
    "revoke_tokens",
    "token_request",
]

log = logging.getLogger("oidc_kit")

#: Token endpoint error codes passed through unchanged (RFC 6749 5.2); others are
#: reported as ``token_request_failed``.
_TOKEN_ERRORS = frozenset(
    {
        "invalid_request",
        "invalid_client",
        "invalid_grant",
        "unauthorized_client",
        "unsupported_grant_type",
        "invalid_scope",
    }
)
#: The grants that carry the configured ``resource`` indicators.
_RESOURCE_GRANTS = frozenset({"authorization_code", "refresh_token"})


@dataclass(frozen=True)
class TokenSet:
    """An access token and what came with it: a session's tokens as the token endpoint
    issued them, a client's own, or a :class:`~oidc_kit.TokenSource`'s. ``repr`` never shows
    a token."""

    access_token: str
    #: ``"Bearer"``, or ``"DPoP"`` for a token bound to ``dpop_key``.
    token_type: str
    #: When the access token expires (epoch seconds), ``None`` if the provider did not say.
    expires_at: float | None = None
    #: When the access token was issued (epoch seconds): with ``expires_at``, its lifetime.
    issued_at: float = 0.0
    refresh_token: str | None = None
    id_token: str | None = None
    scope: str | None = None
    #: The session's private DPoP key (a JWK) when the access token is DPoP-bound.
    dpop_key: str | None = None

    def __repr__(self) -> str:
        return (
            f"TokenSet(token_type={self.token_type!r}, expires_at={self.expires_at!r}, "
            f"refresh_token={'…' if self.refresh_token else None}, scope={self.scope!r})"
        )

    @property
    def scheme(self) -> str:
        """The ``Authorization`` scheme the access token is presented with."""
        return "DPoP" if self.dpop_key is not None else "Bearer"

    def auth(self, nonces: DPoPNonces, clock: Callable[[], float]) -> httpx.Auth:
        """An ``httpx.Auth`` presenting the access token: ``Bearer``, or ``DPoP`` with a fresh
        proof per request and one more try when the server asks for its nonce (``nonces``:
        the provider's or the APIs', never mixed)."""
        if self.dpop_key is None:
            return _Bearer(self.access_token)
        return DPoPAuth(load_key(self.dpop_key), nonces, clock, self.access_token)

    def updated(self, newer: TokenSet) -> TokenSet:
        """The result of a refresh: absent refresh and ID tokens carry over (RFC 6749 6)."""
        return replace(
            newer,
            refresh_token=newer.refresh_token or self.refresh_token,
            id_token=newer.id_token or self.id_token,
            scope=newer.scope or self.scope,
            dpop_key=newer.dpop_key or self.dpop_key,
        )

    def due(self, now: float, leeway: float) -> bool:
        """True when the access token should be refreshed now.

        The leeway is capped at half the token's lifetime, so short-lived tokens are not
        refreshed on every request.
        """
        if self.expires_at is None:
            return False
        lifetime = max(self.expires_at - self.issued_at, 0.0)
        return now >= self.expires_at - min(leeway, lifetime / 2)

    def to_bytes(self) -> bytes:
        """JSON, for sealing."""
        return json.dumps(asdict(self), separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> TokenSet:
        """Inverse of :meth:`to_bytes`; ``ValueError`` on anything else."""
        raw = json.loads(data)
        if not isinstance(raw, dict):
            raise ValueError("not a token set")
        try:
            return cls(**raw)
        except TypeError as exc:
            raise ValueError("not a token set") from exc


def parse_token_response(body: dict[str, Any], now: float, dpop: DPoPKey | None = None) -> TokenSet:
    """Parse a successful token response (RFC 6749 5.1); ``ProviderError`` if unusable.

    With ``dpop``, the token must be a ``DPoP`` token (bound to that key, which the set
    then keeps); a ``Bearer`` token is refused with :class:`UnboundToken`.
    """
    access_token = body.get("access_token")
    token_type = body.get("token_type")
    if not isinstance(access_token, str) or not access_token:
        raise ProviderError("the token response has no access_token")
    if not (access_token.isascii() and access_token.isprintable()):
        # RFC 6749 A.12: an access token is 1*VSCHAR.
        raise ProviderError("the token response's access_token is not printable ASCII")
    # RFC 6749 7.1: the token type is case-insensitive.
    kind = token_type.lower() if isinstance(token_type, str) else None
    if dpop is not None and kind == "bearer":
        raise UnboundToken("DPoP was asked for but the provider issued a Bearer token")
    expected = "dpop" if dpop is not None else "bearer"
    if kind != expected:
        raise ProviderError(f"the token response's token_type is not {expected}", actual=token_type)
    expires_in = body.get("expires_in")
    if expires_in is not None and (
        isinstance(expires_in, bool) or not isinstance(expires_in, int | float)
    ):
        raise ProviderError("the token response's expires_in is not a number")
    return TokenSet(
        access_token=access_token,
        token_type="DPoP" if dpop is not None else "Bearer",
        expires_at=None if expires_in is None else now + float(expires_in),
        issued_at=now,
        refresh_token=_optional_str(body, "refresh_token"),
        id_token=_optional_str(body, "id_token"),
        scope=_optional_str(body, "scope"),
        dpop_key=dpop.to_json() if dpop is not None else None,
    )


class _Bearer(httpx.Auth):
    """``Authorization: Bearer <token>`` (RFC 6750 2.1)."""

    def __init__(self, access_token: str) -> None:
        self._access_token = access_token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._access_token}"
        yield request


def _optional_str(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    return value if isinstance(value, str) and value else None


async def post_authenticated(
    http: httpx.AsyncClient,
    config: ProviderConfig,
    meta: ProviderMetadata | None,
    url: str,
    form: Mapping[str, str],
    now: float,
    *,
    what: str,
    kind: str = "other",
    dpop: DPoPKey | None = None,
    nonces: DPoPNonces | None = None,
    resource: Sequence[str] = (),
) -> httpx.Response:
    """POST ``form`` to a provider endpoint (token, PAR) with the client's authentication,
    fresh for every request sent; with ``dpop``, a proof of that key, and one more try with
    the server's nonce when it asks for one. ``resource``: RFC 8707 indicators, one
    ``resource`` field each; ``kind``: the call's name for telemetry (``token``, ``par``)."""
    data: dict[str, str | list[str]] = {**form}
    if resource:
        data["resource"] = list(resource)
    client = ClientAuth(client_authentication(config, meta), lambda: now)
    auth: httpx.Auth = client
    if dpop is not None:
        auth = DPoPAuth(dpop, nonces or DPoPNonces(), lambda: now, prepare=client.authenticate)
    return await fetch(
        http,
        "POST",
        url,
        what=what,
        kind=kind,
        deadline=config.http_timeout,
        data=data,
        auth=auth,
        headers={"Accept": "application/json"},
    )


async def token_request(
    http: httpx.AsyncClient,
    config: ProviderConfig,
    meta: ProviderMetadata,
    form: dict[str, str],
    now: float,
    *,
    dpop: DPoPKey | None = None,
    nonces: DPoPNonces | None = None,
) -> tuple[TokenSet, dict[str, Any]]:
    """POST a grant to the token endpoint; the parsed tokens and the raw body.

    With ``dpop``, the request carries a proof of that key (and the server's nonce, retried
    once when the server asks for one), and the token must come back bound to it.
    """
    # RFC 8707 2.2: the resource indicators go with the code and refresh grants too.
    resource = config.resource if form.get("grant_type") in _RESOURCE_GRANTS else ()
    response = await post_authenticated(
        http,
        config,
        meta,
        meta.token_endpoint,
        form,
        now,
        what="token endpoint",
        kind="token",
        dpop=dpop,
        nonces=nonces,
        resource=resource,
    )
    if response.status_code != 200:
        raise _token_error(response)
    body = json_object(response, ProviderError, "token endpoint")
    return parse_token_response(body, now, dpop), body


def _token_error(response: httpx.Response) -> OIDCError:
    try:
        body = json_object(response, ProviderError, "token endpoint")
    except ProviderError:
        body = {}
    code = body.get("error")
    code = code if code in _TOKEN_ERRORS else "token_request_failed"
    return TokenRequestFailed(
        f"the token endpoint refused the grant ({response.status_code})", code=code
    )


async def revoke_token(
    http: httpx.AsyncClient,
    config: ProviderConfig,
    meta: ProviderMetadata,
    token: str,
    hint: str,
    now: float,
) -> bool:
    """RFC 7009 revocation, best effort: ``False`` (logged) on any failure, never raises."""
    if meta.revocation_endpoint is None:
        return False
    form = {"token": token, "token_type_hint": hint}
    auth = ClientAuth(client_authentication(config, meta), lambda: now)
    try:
        response = await fetch(
            http,
            "POST",
            meta.revocation_endpoint,
            what="revocation",
            kind="revocation",
            deadline=config.http_timeout,
            data=form,
            auth=auth,
        )
    except OIDCError as exc:
        log.warning("token revocation failed: %s", exc.code)
        return False
    if response.status_code != 200:
        # RFC 7009 2.2.1: a provider may not revoke some token types (oidc-provider cannot
        # revoke JWT access tokens); that is expected, not worth a warning.
        expected = _error_code(response) == "unsupported_token_type"
        log.log(
            logging.INFO if expected else logging.WARNING,
            "token revocation (%s) answered %s",
            hint,
            response.status_code,
        )
        return False
    return True


def _error_code(response: httpx.Response) -> str | None:
    try:
        code = json_object(response, ProviderError, "revocation").get("error")
    except ProviderError:
        return None
    return code if isinstance(code, str) else None


async def revoke_tokens(
    http: httpx.AsyncClient,
    config: ProviderConfig,
    meta: ProviderMetadata,
    tokens: TokenSet,
    now: float,
) -> None:
    """At logout: revoke the refresh token (the whole grant, at most providers), then the
    access token; best effort, as :func:`revoke_token`."""
    if tokens.refresh_token:
        await revoke_token(http, config, meta, tokens.refresh_token, "refresh_token", now)
    await revoke_token(http, config, meta, tokens.access_token, "access_token", now)
