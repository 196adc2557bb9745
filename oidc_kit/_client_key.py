"""The client's own signing key, for ``private_key_jwt`` client authentication, and the
client assertion both JWT methods send.

RFC 7523 and OpenID Connect Core 9: instead of a shared secret, the client proves who it is
with a short-lived JWT signed by its private key; the provider verifies it with the client's
public JWKS (registered, or fetched from the app's ``/auth/jwks``). The key's ``kid`` is its
RFC 7638 thumbprint, so a new key gets a new ``kid`` without anyone choosing one.
``client_secret_jwt`` sends the same assertion (:func:`client_assertion`: one claims set for
both), signed with HMAC keyed by the client secret instead. :func:`check_auth_method` holds the
rules of the ``token_endpoint_auth_method`` setting (which credential each method needs), here
because the configuration, which checks them, sits below the client authentication strategies.
"""

from __future__ import annotations

import json
import secrets
import time
import warnings
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from joserfc import jwt
from joserfc.errors import JoseError, SecurityWarning
from joserfc.jwk import ECKey, OctKey, RSAKey

from ._errors import ConfigurationError

__all__ = [
    "AUTH_METHODS",
    "AUTH_SETTING",
    "CLIENT_ASSERTION_TYPE",
    "HMAC_ALG",
    "MTLS_AUTH_METHODS",
    "ClientKey",
    "check_auth_method",
    "client_assertion",
]

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

#: Seconds a client assertion is valid: long enough for one request, short enough that a
#: leaked one is soon useless (providers also refuse a reused ``jti``).
ASSERTION_LIFETIME = 60


class ClientKey:
    """A private RSA (PS256) or P-256 (ES256) key, loaded once at start-up."""

    def __init__(self, key: RSAKey | ECKey) -> None:
        self.key = key
        self.alg = _alg_for(key)
        self.kid = key.thumbprint()

    def __repr__(self) -> str:
        return f"ClientKey(alg={self.alg!r}, kid={self.kid!r})"

    @classmethod
    def load(cls, source: str) -> ClientKey:
        """From a private JWK (JSON), a PEM text, or the path of a PEM or JWK file."""
        text = source.strip()
        if not text.startswith(("{", "-----BEGIN")):
            try:
                text = Path(text).expanduser().read_text().strip()
            except OSError as exc:
                raise ConfigurationError(
                    f"cannot read the client key file ({type(exc).__name__})"
                ) from None
        try:
            data: Any = json.loads(text) if text.startswith("{") else text
            with warnings.catch_warnings():
                # joserfc warns about short RSA keys; _alg_for refuses them with a clear error.
                warnings.simplefilter("ignore", SecurityWarning)
                key = RSAKey.import_key(data) if _is_rsa(data) else ECKey.import_key(data)
        except (JoseError, ValueError, TypeError):
            raise ConfigurationError(
                "the client key is not a private RSA or EC key (PEM or JWK)"
            ) from None
        if not key.is_private:
            raise ConfigurationError("the client key must be a private key")
        return cls(key)

    def public_jwks(self) -> dict[str, Any]:
        """The JWKS a provider fetches to verify this client's assertions."""
        public = self.key.as_dict(private=False)
        public.update(kid=self.kid, alg=self.alg, use="sig")
        return {"keys": [public]}

    def assertion(self, client_id: str, audience: str, now: float | None = None) -> str:
        """A signed ``client_assertion``: ``iss``/``sub`` the client, ``aud`` the issuer."""
        return client_assertion(self.key, self.alg, client_id, audience, now, kid=self.kid)


def client_assertion(
    key: RSAKey | ECKey | OctKey,
    alg: str,
    client_id: str,
    audience: str,
    now: float | None = None,
    *,
    kid: str | None = None,
) -> str:
    """A new ``client_assertion`` (RFC 7523 2.2, OpenID Connect Core 9) signed with ``key``
    (``private_key_jwt``: the client's private key; ``client_secret_jwt``: its secret as an
    HMAC key): ``iss`` and ``sub`` the client, ``aud`` the issuer, a random ``jti``, and
    ``exp`` :data:`ASSERTION_LIFETIME` seconds after ``iat``. Good for one request only."""
    issued = int(time.time() if now is None else now)
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "jti": secrets.token_urlsafe(24),
        "iat": issued,
        "exp": issued + ASSERTION_LIFETIME,
    }
    header = {"alg": alg, "typ": "JWT"} if kid is None else {"alg": alg, "kid": kid, "typ": "JWT"}
    return jwt.encode(header, claims, key, algorithms=[alg])


# --- which method: the rules of the token_endpoint_auth_method setting ---------------------

#: Every ``token_endpoint_auth_method`` (RFC 7591 2, OpenID Connect Registration 2, RFC 8705
#: 2.1.1 and 2.2.1) the setting names.
AUTH_METHODS = (
    "client_secret_basic",
    "client_secret_post",
    "client_secret_jwt",
    "private_key_jwt",
    "none",
    "tls_client_auth",
    "self_signed_tls_client_auth",
)
_SECRET_METHODS = frozenset({"client_secret_basic", "client_secret_post", "client_secret_jwt"})
#: RFC 8705 mutual TLS: the client's certificate authenticates it (issue 19, item 1).
_MTLS_METHODS = frozenset({"tls_client_auth", "self_signed_tls_client_auth"})
#: What the FAPI 2.0 Security Profile (5.3.2.1) allows: private_key_jwt or mutual TLS.
_FAPI2_METHODS = frozenset({"private_key_jwt", *_MTLS_METHODS})
MTLS_AUTH_METHODS = _MTLS_METHODS
#: ``client_secret_jwt``'s algorithm, and the shortest secret it may be keyed by: RFC 7518 3.2,
#: "a key of the same size as the hash output (... 256 bits for HS256) or larger MUST be used".
HMAC_ALG = "HS256"
MIN_HMAC_SECRET_BYTES = 32
AUTH_SETTING = "token_endpoint_auth_method (OIDC_TOKEN_AUTH_METHOD)"


def check_auth_method(
    method: str | None,
    secret: str | None,
    *,
    has_key: bool,
    fapi2: bool,
    has_cert: bool = False,
) -> None:
    """``ConfigurationError`` unless the client can use ``method`` (``None``: the automatic
    choice, always usable): a known name, allowed by the profile, and the client has what it
    needs (a secret for ``client_secret_*``, a ``client_key`` for ``private_key_jwt``, a
    ``client_cert`` for the mutual TLS methods, neither for ``none``)."""
    if method is None:
        return
    if method not in AUTH_METHODS:
        raise ConfigurationError(
            f"{AUTH_SETTING} is not a client authentication method",
            expected=list(AUTH_METHODS),
            actual=method,
        )
    if method in _MTLS_METHODS and not has_cert:
        raise ConfigurationError(
            f"{AUTH_SETTING}={method} authenticates with the client's certificate: set "
            "client_cert (OIDC_CLIENT_CERT) and client_cert_key (OIDC_CLIENT_CERT_KEY)"
        )
    if fapi2 and method not in _FAPI2_METHODS:
        raise ConfigurationError(
            f"{AUTH_SETTING}={method} contradicts profile=fapi2 (OIDC_PROFILE), which "
            "authenticates the client with private_key_jwt or mutual TLS",
            expected=sorted(_FAPI2_METHODS),
            actual=method,
        )
    _check_credentials(method, secret, has_key=has_key)


def _check_credentials(method: str, secret: str | None, *, has_key: bool) -> None:
    """The client holds the credential ``method`` uses, and none for ``none``."""
    if method in _SECRET_METHODS and not secret:
        raise ConfigurationError(
            f"{AUTH_SETTING}={method} needs client_secret (OIDC_CLIENT_SECRET)"
        )
    if method == "client_secret_jwt" and len(str(secret).encode()) < MIN_HMAC_SECRET_BYTES:
        raise ConfigurationError(
            f"{AUTH_SETTING}=client_secret_jwt signs with {HMAC_ALG}, whose key (the client "
            f"secret) must be at least {MIN_HMAC_SECRET_BYTES} bytes (RFC 7518 3.2)"
        )
    if method == "private_key_jwt" and not has_key:
        raise ConfigurationError(
            f"{AUTH_SETTING}=private_key_jwt needs client_key (OIDC_CLIENT_KEY)"
        )
    if method == "none" and (secret or has_key):
        raise ConfigurationError(
            f"{AUTH_SETTING}=none is a public client: it has no client_secret and no client_key"
        )


def _is_rsa(data: Any) -> bool:
    """Whether a JWK or PEM holds an RSA key (a PKCS#8 PEM does not say: ask ``cryptography``)."""
    if isinstance(data, dict):
        return data.get("kty") == "RSA"
    try:
        private = load_pem_private_key(str(data).encode(), password=None)
    except (ValueError, TypeError):
        return False
    return isinstance(private, rsa.RSAPrivateKey)


def _alg_for(key: RSAKey | ECKey) -> str:
    """PS256 for RSA of 2048 bits or more, ES256 for P-256: what FAPI 2.0 allows."""
    if isinstance(key, RSAKey):
        size = key.raw_value.key_size
        if size < 2048:
            raise ConfigurationError("the client's RSA key must have at least 2048 bits")
        return "PS256"
    if key.curve_name != "P-256":
        raise ConfigurationError("the client's EC key must be on P-256 (ES256)")
    return "ES256"
