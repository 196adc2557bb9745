"""``SandboxProvider``: a strict, in-memory OpenID Provider served as an ASGI app."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx
from starlette.applications import Starlette

from ._op_app import build_app, discovery_document
from ._op_assertion import AssertionVerifier
from ._op_backchannel import Delivery, LogoutNotifier
from ._op_context import OPConfig, OPContext
from ._op_dpop import DPoPNonces
from ._op_keys import ALG, SigningKeys
from ._op_models import SANDBOX_USERS, SandboxClient, SandboxUser
from ._op_store import OPStore

__all__ = ["DEFAULT_SCOPES", "SandboxProvider"]

DEFAULT_SCOPES: tuple[str, ...] = (
    "openid",
    "profile",
    "email",
    "offline_access",
    "accounts:read",
    "accounts:write",
    "transactions:read",
    "transactions:write",
    "parties:read",
    "parties:write",
    "cards:read",
    "cards:write",
)
"""The scopes the sandbox provider supports by default: OIDC's and ORCA's."""

_INTERACTION_TTL = 600


def _check_issuer(issuer: str) -> None:
    parts = urlsplit(issuer)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"issuer must be an absolute http(s) URL: {issuer!r}")
    if parts.query or parts.fragment or issuer.endswith("/"):
        raise ValueError(f"issuer must have no query, fragment or trailing slash: {issuer!r}")


def _unique(items: Sequence[Any], key: Callable[[Any], str], what: str) -> dict[str, Any]:
    by_key = {key(item): item for item in items}
    if len(by_key) != len(items):
        raise ValueError(f"duplicate {what}")
    return by_key


class SandboxProvider:
    """An OpenID Provider for development and tests, strict enough to catch RP mistakes.

    ``app`` serves the endpoints relative to ``issuer``: mount it at the issuer's path
    (``Mount("/sandbox/op", app=op.app)`` for ``http://127.0.0.1:8000/sandbox/op``) or call it
    directly through ``httpx.ASGITransport`` with ``base_url=issuer``. It supports the
    authorization-code flow with PKCE S256 (required), ``nonce`` (required), ``response_mode``
    ``query`` and ``form_post``, refresh-token rotation with reuse detection, revocation,
    userinfo, RP-initiated logout and back-channel logout. All state is in memory; ``clock``
    drives every expiry.

    When an OP session ends (at ``/logout``, by the button of the ``/session`` page, or through
    :meth:`backchannel_logout`) every client that received a code in it and registered a
    ``backchannel_logout_uri`` is sent a logout token through ``http_client`` (default: the
    provider's own, closed by :meth:`aclose`), concurrently, waiting at most
    ``backchannel_timeout`` seconds. Outcomes are kept in :attr:`backchannel_deliveries`.

    FAPI 2.0 Security Profile, opt-in:

    - ``/par`` takes pushed authorization requests (RFC 9126) from any client; with
      ``require_par`` (or a client's own ``require_par``) ``/authorize`` takes nothing else.
      A ``request_uri`` can be used once, within ``par_ttl`` seconds.
    - Clients registered with ``jwks`` or ``jwks_uri`` authenticate with ``private_key_jwt``
      (RFC 7523; PS256 or ES256) at ``/token``, ``/par`` and ``/revoke``; a ``jwks_uri`` is
      fetched through ``http_client``, refetched for an unknown ``kid`` at most every
      ``client_jwks_refetch_interval`` seconds.
    - A token request with a ``DPoP`` proof (RFC 9449) gets a DPoP-bound access token
      (``token_type`` ``DPoP``, claim ``cnf.jkt``) and a grant whose refreshes must prove the
      same key; clients with ``dpop_bound_access_tokens`` must send a proof. With
      ``dpop_nonce`` the token endpoint demands the server's nonce (``use_dpop_nonce``).
    - ``id_token_alg`` signs ID tokens, access tokens and logout tokens: ``RS256`` (the
      default), ``PS256`` or ``ES256`` (FAPI 2.0 allows only the last two).

    With ``introspection`` it serves token introspection (RFC 7662) at ``/introspect``, named
    in discovery: authenticated clients learn whether an access token of its own is active
    (unexpired, unrevoked); :attr:`introspections` counts the answers.

    With ``mtls`` it serves RFC 8705's ``mtls_endpoint_aliases`` under ``/mtls`` (token, PAR,
    revocation, userinfo, introspection), where clients registered for ``tls_client_auth`` or
    ``self_signed_tls_client_auth`` authenticate with their certificate and clients with
    ``tls_client_certificate_bound_access_tokens`` get tokens bound to it. The certificate
    comes from the ASGI TLS extension: serve the app with :class:`MTLSServer`
    (``oidc_kit.testing``), which fills it from the TLS handshake.
    """

    def __init__(
        self,
        issuer: str,
        clients: Sequence[SandboxClient],
        *,
        users: Sequence[SandboxUser] = SANDBOX_USERS,
        access_token_ttl: int = 3600,
        id_token_ttl: int = 600,
        refresh_token_ttl: int = 86400,
        code_ttl: int = 60,
        access_token_audience: str = "orca",  # noqa: S107 - an audience, not a secret
        scopes_supported: Sequence[str] = DEFAULT_SCOPES,
        clock: Callable[[], float] = time.time,
        http_client: httpx.AsyncClient | None = None,
        backchannel_timeout: float = 5.0,
        id_token_alg: str = ALG,
        require_par: bool = False,
        par_ttl: int = 60,
        dpop_nonce: bool = False,
        client_jwks_refetch_interval: float = 5.0,
        introspection: bool = False,
        mtls: bool = False,
    ) -> None:
        _check_issuer(issuer)
        if "openid" not in scopes_supported:
            raise ValueError("scopes_supported must include openid")
        config = OPConfig(
            issuer=issuer,
            access_token_ttl=access_token_ttl,
            id_token_ttl=id_token_ttl,
            refresh_token_ttl=refresh_token_ttl,
            code_ttl=code_ttl,
            interaction_ttl=_INTERACTION_TTL,
            access_token_audience=access_token_audience,
            scopes_supported=tuple(scopes_supported),
            clock=clock,
            signing_alg=id_token_alg,
            require_par=require_par,
            par_ttl=par_ttl,
            introspection=introspection,
            mtls=mtls,
        )
        self._ctx = OPContext(
            config=config,
            keys=SigningKeys(id_token_alg),
            store=OPStore(clock),
            clients=_unique(clients, lambda c: c.client_id, "client_id"),
            users=_unique(users, lambda u: u.username, "username"),
            dpop_nonces=DPoPNonces(clock) if dpop_nonce else None,
        )
        self._notifier = LogoutNotifier(self._ctx, http_client, backchannel_timeout)
        assertions = AssertionVerifier(
            issuer, clock, self._notifier.http_client, client_jwks_refetch_interval
        )
        self.app: Starlette = build_app(self._ctx, self._notifier, assertions)
        """The ASGI app serving the provider's endpoints."""

    @property
    def issuer(self) -> str:
        """The issuer identifier; every endpoint URL starts with it."""
        return self._ctx.config.issuer

    @property
    def metadata(self) -> dict[str, Any]:
        """The discovery document served at ``/.well-known/openid-configuration``."""
        return discovery_document(self._ctx.config, self._ctx.clients.values())

    @property
    def dpop_nonce(self) -> str | None:
        """The DPoP nonce the token endpoint currently demands (None unless ``dpop_nonce``)."""
        nonces = self._ctx.dpop_nonces
        return nonces.current() if nonces is not None else None

    @property
    def jwks(self) -> dict[str, Any]:
        """The public JWK Set served at ``/jwks``, newest key first."""
        return self._ctx.keys.jwks()

    @property
    def clients(self) -> Mapping[str, SandboxClient]:
        """The registered clients by ``client_id``."""
        return self._ctx.clients

    @property
    def grant_counts(self) -> Counter[str]:
        """Token-endpoint calls so far by ``grant_type`` (failed ones included)."""
        return self._ctx.grant_counts

    @property
    def introspections(self) -> int:
        """Introspection requests answered so far (from authenticated clients)."""
        return self._ctx.introspections

    @property
    def refresh_reuses(self) -> int:
        """Already-rotated refresh tokens presented again (each revoked its whole family)."""
        return self._ctx.store.refresh_reuses

    @property
    def token_requests(self) -> int:
        """Token-endpoint calls so far, all grant types together."""
        return self._ctx.grant_counts.total()

    def rotate_signing_key(self) -> None:
        """Sign with a new key from now on; the previous ones stay in the JWKS."""
        self._ctx.keys.rotate()

    def revoke_all_for(self, sub: str) -> int:
        """Revoke every refresh and access token of ``sub``; returns how many grants."""
        return self._ctx.store.revoke_all_for(sub)

    @property
    def backchannel_deliveries(self) -> list[Delivery]:
        """Every logout token sent so far: ``(client_id, HTTP status or error name)``.

        The error is the exception's class name (``"ConnectError"``) or ``"timeout"``.
        """
        return self._notifier.deliveries

    def end_sessions_for(self, sub: str) -> list[str]:
        """End every OP session of ``sub``, silently; returns their ``sid``s.

        No logout token is sent: ``await backchannel_logout(sub=sub)`` does the same and
        notifies the clients.
        """
        sessions = self._ctx.store.sessions_for(sub)
        for session in sessions:
            self._ctx.store.end_session(session.key)
        return [session.sid for session in sessions]

    async def backchannel_logout(
        self, sub: str | None = None, sid: str | None = None
    ) -> list[Delivery]:
        """End the OP sessions of ``sub`` and/or with ``sid`` (as if the user logged out
        there) and send logout tokens to their clients; returns this round's deliveries."""
        if sub is None and sid is None:
            raise ValueError("backchannel_logout needs sub or sid")
        sessions = self._ctx.store.sessions_matching(sub=sub, sid=sid)
        for session in sessions:
            self._ctx.store.end_session(session.key)
        return await self._notifier.notify(sessions)

    def logout_token_claims(
        self, client_id: str, *, sub: str | None = None, sid: str | None = None
    ) -> dict[str, Any]:
        """The claims of a fresh, valid logout token for ``client_id`` (to alter in tests)."""
        return self._notifier.claims(client_id, sub=sub, sid=sid)

    def sign(self, claims: Mapping[str, Any], *, typ: str = "JWT") -> str:
        """Sign arbitrary ``claims`` with the current key (to forge tokens in RP tests)."""
        return self._ctx.keys.sign(claims, typ=typ)

    def sign_logout_token(
        self, claims: Mapping[str, Any], *, header_overrides: Mapping[str, Any] | None = None
    ) -> str:
        """Sign ``claims`` as a logout token, header ``alg`` (``id_token_alg``), ``kid``,
        ``typ`` ``logout+jwt``, for RP tests; ``header_overrides`` changes the header (a None
        value drops that parameter).

        ``alg`` ``none`` gets an empty signature, ``RS*``/``PS*`` the current RSA key, ``HS*``
        the client secret of the ``aud`` client (as OIDC Core 10.1 would).
        """
        header: dict[str, Any] = {"alg": self._ctx.keys.alg, "kid": self._ctx.keys.current_kid}
        header |= {"typ": "logout+jwt", **(header_overrides or {})}
        header = {name: value for name, value in header.items() if value is not None}
        client = self._ctx.clients.get(str(claims.get("aud")))
        secret = client.client_secret if client is not None else None
        return self._ctx.keys.forge(header, claims, secret=secret)

    async def aclose(self) -> None:
        """Close the HTTP client the provider made for back-channel logout, if any."""
        await self._notifier.aclose()
