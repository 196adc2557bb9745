"""``SandboxProvider``: a strict, in-memory OpenID Provider served as an ASGI app."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette

from ._op_app import build_app, discovery_document
from ._op_context import OPConfig, OPContext
from ._op_keys import SigningKeys
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
    userinfo and RP-initiated logout. All state is in memory; ``clock`` drives every expiry.
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
        )
        self._ctx = OPContext(
            config=config,
            keys=SigningKeys(),
            store=OPStore(clock),
            clients=_unique(clients, lambda c: c.client_id, "client_id"),
            users=_unique(users, lambda u: u.username, "username"),
        )
        self.app: Starlette = build_app(self._ctx)
        """The ASGI app serving the provider's endpoints."""

    @property
    def issuer(self) -> str:
        """The issuer identifier; every endpoint URL starts with it."""
        return self._ctx.config.issuer

    @property
    def metadata(self) -> dict[str, Any]:
        """The discovery document served at ``/.well-known/openid-configuration``."""
        return discovery_document(self._ctx.config)

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

    def end_sessions_for(self, sub: str) -> list[str]:
        """End every OP session of ``sub`` (as if they logged out); returns their ``sid``s."""
        sessions = self._ctx.store.sessions_for(sub)
        for session in sessions:
            self._ctx.store.end_session(session.key)
        return [session.sid for session in sessions]

    def sign(self, claims: Mapping[str, Any], *, typ: str = "JWT") -> str:
        """Sign arbitrary ``claims`` with the current key (to forge tokens in RP tests)."""
        return self._ctx.keys.sign(claims, typ=typ)
