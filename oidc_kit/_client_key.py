"""The client's own signing key, for ``private_key_jwt`` client authentication.

RFC 7523 and OpenID Connect Core 9: instead of a shared secret, the client proves who it is
with a short-lived JWT signed by its private key; the provider verifies it with the client's
public JWKS (registered, or fetched from the app's ``/auth/jwks``). The key's ``kid`` is its
RFC 7638 thumbprint, so a new key gets a new ``kid`` without anyone choosing one.
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
from joserfc.jwk import ECKey, RSAKey

from ._errors import ConfigurationError

__all__ = ["CLIENT_ASSERTION_TYPE", "ClientKey"]

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
        issued = int(time.time() if now is None else now)
        claims = {
            "iss": client_id,
            "sub": client_id,
            "aud": audience,
            "jti": secrets.token_urlsafe(24),
            "iat": issued,
            "exp": issued + ASSERTION_LIFETIME,
        }
        header = {"alg": self.alg, "kid": self.kid, "typ": "JWT"}
        return jwt.encode(header, claims, self.key, algorithms=[self.alg])


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
