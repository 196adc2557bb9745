"""Users and clients registered at the sandbox OpenID Provider."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal
from urllib.parse import urlsplit

__all__ = [
    "SANDBOX_USERS",
    "SCOPE_CLAIMS",
    "ClientAuthMethod",
    "SandboxClient",
    "SandboxUser",
    "claims_for_scopes",
]

ClientAuthMethod = Literal["any", "client_secret_basic", "client_secret_post", "none"]
"""How a client authenticates at the token and revocation endpoints.

``"any"`` accepts HTTP Basic and form-post credentials (never both at once); ``"none"`` is a
public client (no secret, PKCE only).
"""

SCOPE_CLAIMS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "profile": (
            "name",
            "family_name",
            "given_name",
            "middle_name",
            "nickname",
            "preferred_username",
            "profile",
            "picture",
            "website",
            "gender",
            "birthdate",
            "zoneinfo",
            "locale",
            "updated_at",
        ),
        "email": ("email", "email_verified"),
        "address": ("address",),
        "phone": ("phone_number", "phone_number_verified"),
    }
)
"""The standard claims each OpenID Connect scope releases (OpenID Connect Core 5.4)."""


def claims_for_scopes(claims: Mapping[str, Any], scopes: Iterable[str]) -> dict[str, Any]:
    """The subset of a user's ``claims`` that the granted ``scopes`` release."""
    released = {name for scope in scopes for name in SCOPE_CLAIMS.get(scope, ())}
    return {name: value for name, value in claims.items() if name in released}


@dataclass(frozen=True)
class SandboxUser:
    """A user who can log in at the sandbox provider with ``username``/``password``."""

    username: str
    password: str = field(repr=False)
    sub: str
    claims: Mapping[str, Any] = field(default_factory=dict)


SANDBOX_USERS: tuple[SandboxUser, ...] = (
    SandboxUser(
        username="alice",
        password="alice",
        sub="sandbox-alice",
        claims=MappingProxyType(
            {
                "name": "Alice Example",
                "given_name": "Alice",
                "family_name": "Example",
                "preferred_username": "alice",
                "email": "alice@example.com",
                "email_verified": True,
                "locale": "en-GB",
                "updated_at": 1_700_000_000,
            }
        ),
    ),
    SandboxUser(
        username="bob",
        password="bob",
        sub="sandbox-bob",
        claims=MappingProxyType(
            {
                "name": "Bob Example",
                "given_name": "Bob",
                "family_name": "Example",
                "preferred_username": "bob",
                "email": "bob@example.com",
                "email_verified": False,
                "locale": "en-US",
                "updated_at": 1_700_000_000,
            }
        ),
    ),
)
"""The default users: ``alice``/``alice`` and ``bob``/``bob``."""


@dataclass(frozen=True)
class SandboxClient:
    """A relying party registered at the sandbox provider.

    ``redirect_uris`` and ``post_logout_redirect_uris`` are compared exactly, character for
    character. A client without ``client_secret`` is public and must use
    ``token_endpoint_auth_method="none"`` (the default ``"any"`` becomes ``"none"`` for it).
    ``backchannel_logout_uri``, if set, receives a logout token whenever an OP session in
    which this client got a code ends (Back-Channel Logout 1.0).
    """

    client_id: str
    client_secret: str | None = field(repr=False)
    redirect_uris: tuple[str, ...]
    post_logout_redirect_uris: tuple[str, ...] = ()
    token_endpoint_auth_method: ClientAuthMethod = "any"
    backchannel_logout_uri: str | None = None

    def __post_init__(self) -> None:
        if not self.client_id:
            raise ValueError("client_id must not be empty")
        if not self.redirect_uris:
            raise ValueError(f"client {self.client_id!r} needs at least one redirect_uri")
        backchannel = (self.backchannel_logout_uri,) if self.backchannel_logout_uri else ()
        for uri in (*self.redirect_uris, *self.post_logout_redirect_uris, *backchannel):
            _check_redirect_uri(uri)
        public = self.client_secret is None
        if public and self.token_endpoint_auth_method not in ("any", "none"):
            raise ValueError(f"public client {self.client_id!r} cannot use a client secret")
        if not public and self.token_endpoint_auth_method == "none":
            raise ValueError(f"client {self.client_id!r} has a secret but auth method 'none'")

    @property
    def auth_methods(self) -> frozenset[str]:
        """The token-endpoint authentication methods this client may use."""
        if self.client_secret is None:
            return frozenset({"none"})
        if self.token_endpoint_auth_method == "any":
            return frozenset({"client_secret_basic", "client_secret_post"})
        return frozenset({self.token_endpoint_auth_method})


def _check_redirect_uri(uri: str) -> None:
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.fragment:
        raise ValueError(f"client URIs must be absolute http(s) without a fragment: {uri!r}")
