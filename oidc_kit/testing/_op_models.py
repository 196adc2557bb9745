"""Users and clients registered at the sandbox OpenID Provider."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal
from urllib.parse import urlsplit

from joserfc import jwk
from joserfc.errors import JoseError

__all__ = [
    "SANDBOX_USERS",
    "SCOPE_CLAIMS",
    "ClientAuthMethod",
    "SandboxClient",
    "SandboxUser",
    "claims_for_scopes",
]

ClientAuthMethod = Literal[
    "any",
    "client_secret_basic",
    "client_secret_jwt",
    "client_secret_post",
    "none",
    "private_key_jwt",
    "tls_client_auth",
    "self_signed_tls_client_auth",
]
"""How a client authenticates at the token, PAR and revocation endpoints.

``"any"`` accepts HTTP Basic and form-post credentials (never both at once); ``"none"`` is a
public client (no secret, PKCE only); ``"private_key_jwt"`` is a JWT signed with the client's
own key (RFC 7523), checked against its registered ``jwks`` or ``jwks_uri``;
``"client_secret_jwt"`` the same JWT signed HS256 with the client secret (32 bytes or more).
``"tls_client_auth"`` (RFC 8705 2.1) is the certificate presented at the ``/mtls`` endpoints,
CA-issued with the registered ``tls_client_auth_subject_dn``;
``"self_signed_tls_client_auth"`` (2.2) a certificate in the registered ``jwks``.
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

    FAPI 2.0: ``token_endpoint_auth_method="private_key_jwt"`` with no secret and the client's
    public keys, as a JWK Set (``jwks``) or the URL serving one (``jwks_uri``, fetched when
    needed); a client without a secret but with keys and method ``"any"`` uses it too.
    ``dpop_bound_access_tokens`` refuses token requests without a DPoP proof;
    ``require_par`` refuses authorization requests that were not pushed (RFC 9126).

    ``client_name`` is the name the login page shows ("to continue to My Bank"), as a
    provider shows a registered client's ``client_name`` (RFC 7591); without it, the
    ``client_id``.
    """

    client_id: str
    client_secret: str | None = field(repr=False)
    redirect_uris: tuple[str, ...]
    post_logout_redirect_uris: tuple[str, ...] = ()
    token_endpoint_auth_method: ClientAuthMethod = "any"
    backchannel_logout_uri: str | None = None
    jwks: Mapping[str, Any] | None = None
    jwks_uri: str | None = None
    dpop_bound_access_tokens: bool = False
    require_par: bool = False
    client_name: str | None = None
    #: JAR (RFC 9101): every authorization request (pushed or not) must be a request object
    #: signed with one of the client's registered keys (``jwks`` or ``jwks_uri``).
    require_signed_request_object: bool = False
    #: ``tls_client_auth``: the subject DN (RFC 4514 text) of the client's certificate.
    tls_client_auth_subject_dn: str | None = None
    #: RFC 8705 3: access tokens issued at an ``/mtls`` endpoint are bound to the certificate
    #: presented there (``cnf: {"x5t#S256": ...}``); one is required there.
    tls_client_certificate_bound_access_tokens: bool = False

    def __post_init__(self) -> None:
        if not self.client_id:
            raise ValueError("client_id must not be empty")
        if not self.redirect_uris:
            raise ValueError(f"client {self.client_id!r} needs at least one redirect_uri")
        backchannel = (self.backchannel_logout_uri,) if self.backchannel_logout_uri else ()
        for uri in (*self.redirect_uris, *self.post_logout_redirect_uris, *backchannel):
            _check_redirect_uri(uri)
        method = self.token_endpoint_auth_method
        keys = self.jwks is not None or self.jwks_uri is not None
        if method in ("tls_client_auth", "self_signed_tls_client_auth"):
            self._check_mtls(method)
            return
        if self.client_secret is not None and (keys or method == "private_key_jwt"):
            raise ValueError(
                f"client {self.client_id!r}: private_key_jwt (jwks, jwks_uri) and a client "
                "secret do not mix"
            )
        if keys or method == "private_key_jwt":
            _check_client_keys(self.client_id, self.jwks, self.jwks_uri)
            if method not in ("any", "private_key_jwt"):
                raise ValueError(f"client {self.client_id!r} has keys but auth method {method!r}")
        public = self.client_secret is None
        if public and method not in ("any", "none", "private_key_jwt"):
            raise ValueError(f"public client {self.client_id!r} cannot use a client secret")
        if not public and method == "none":
            raise ValueError(f"client {self.client_id!r} has a secret but auth method 'none'")
        if self.require_signed_request_object and not keys:
            raise ValueError(
                f"client {self.client_id!r}: signed request objects need jwks or jwks_uri"
            )
        if method == "client_secret_jwt" and len((self.client_secret or "").encode()) < 32:
            # RFC 7518 3.2: an HS256 key (here the secret) has at least 256 bits.
            raise ValueError(f"client {self.client_id!r}: client_secret_jwt needs a 32-byte secret")

    def _check_mtls(self, method: str) -> None:
        """A mutual TLS client: no secret; its DN, or its certificates in ``jwks``."""
        if self.client_secret is not None:
            raise ValueError(f"client {self.client_id!r}: {method} and a client secret do not mix")
        if method == "tls_client_auth" and not self.tls_client_auth_subject_dn:
            raise ValueError(f"client {self.client_id!r}: tls_client_auth needs a subject DN")
        if method == "self_signed_tls_client_auth":
            _check_client_keys(self.client_id, self.jwks, None)

    @property
    def auth_methods(self) -> frozenset[str]:
        """The token-endpoint authentication methods this client may use."""
        if self.token_endpoint_auth_method in ("tls_client_auth", "self_signed_tls_client_auth"):
            return frozenset({self.token_endpoint_auth_method})
        if self.jwks is not None or self.jwks_uri is not None:
            return frozenset({"private_key_jwt"})
        if self.client_secret is None:
            return frozenset({"none"})
        if self.token_endpoint_auth_method == "any":
            return frozenset({"client_secret_basic", "client_secret_post"})
        return frozenset({self.token_endpoint_auth_method})

    @property
    def public(self) -> bool:
        """Whether the client cannot authenticate (no secret, no keys): PKCE only."""
        return self.auth_methods == {"none"}


_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


def _check_client_keys(
    client_id: str, jwks: Mapping[str, Any] | None, jwks_uri: str | None
) -> None:
    """Exactly one of ``jwks`` (public asymmetric keys only) and ``jwks_uri`` (http(s))."""
    if (jwks is None) == (jwks_uri is None):
        raise ValueError(f"client {client_id!r}: private_key_jwt needs jwks or jwks_uri (one)")
    if jwks_uri is not None:
        parts = urlsplit(jwks_uri)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"client {client_id!r}: jwks_uri must be an http(s) URL")
        return
    keys = jwks.get("keys") if jwks is not None else None
    if not isinstance(keys, list) or not keys:
        raise ValueError(f"client {client_id!r}: jwks must be a JWK Set with keys")
    for key in keys:
        if not isinstance(key, Mapping) or key.get("kty") not in ("RSA", "EC", "OKP"):
            raise ValueError(f"client {client_id!r}: jwks holds asymmetric keys only")
        if _PRIVATE_MEMBERS & set(key):
            raise ValueError(f"client {client_id!r}: jwks must hold public keys only")
    try:
        jwk.KeySet.import_key_set(dict(jwks))  # type: ignore[arg-type]
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"client {client_id!r}: jwks is not a valid JWK Set: {exc}") from exc


def _check_redirect_uri(uri: str) -> None:
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.fragment:
        raise ValueError(f"client URIs must be absolute http(s) without a fragment: {uri!r}")
