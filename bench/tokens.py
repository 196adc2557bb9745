"""PortX-sized tokens (also used by tests/core/test_session_size.py): real RS256 JWTs, 2048-bit key."""

from __future__ import annotations

import secrets
from typing import Any

from joserfc import jwt
from joserfc.jwk import RSAKey

from oidc_kit import OIDCConfig, TokenSet

ISSUER = "https://auth.portx.example/"
CLIENT_ID = "Xk3cQ9vZtR2mW8pL5nB7yH4jD6fG1sA0"
SECRET = "bench-session-secret-0123456789abcdef"
SCOPES = (
    "openid profile email offline_access accounts:read accounts:write transactions:read "
    "transactions:write parties:read parties:write cards:read cards:write"
)
KID = "portx-signing-key-2026-11"
_KEY: RSAKey | None = None


def discovery() -> dict[str, Any]:
    """The PortX-shaped provider's discovery document."""
    issuer = ISSUER.rstrip("/")
    return {
        "issuer": ISSUER,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "jwks_uri": f"{issuer}/jwks",
        "response_types_supported": ["code"],
        "id_token_signing_alg_values_supported": ["RS256"],
    }


def signing_key() -> RSAKey:
    global _KEY
    if _KEY is None:
        _KEY = RSAKey.generate_key(2048, parameters={"kid": KID, "use": "sig", "alg": "RS256"})
    return _KEY


def config(base_url: str = "http://127.0.0.1:8000", store: str | None = "memory://") -> OIDCConfig:
    """The bench's client; ``store=None`` when the kit is given a store object instead."""
    return OIDCConfig(
        issuer=ISSUER,
        client_id=CLIENT_ID,
        client_secret="bench-client-secret",
        base_url=base_url,
        scopes=tuple(SCOPES.split()),
        session_secrets=(SECRET,),
        session_store=store,
        allow_insecure_http=True,
    )


def id_claims(now: int, sub: str = "auth0|6543a1b2c3d4e5f6a7b8c9d0") -> dict[str, Any]:
    return {
        "iss": ISSUER,
        "sub": sub,
        "iat": now,
        "name": "Alexandra Example-Customer",
        "given_name": "Alexandra",
        "family_name": "Example-Customer",
        "email": "alexandra.example-customer@example.com",
        "email_verified": True,
        "locale": "en-GB",
        "updated_at": now - 86400,
        "aud": CLIENT_ID,
        "exp": now + 600,
        "auth_time": now,
        "nonce": secrets.token_urlsafe(32),
        "sid": secrets.token_urlsafe(24),
        "acr": "urn:portx:acr:mfa",
        "amr": ["pwd", "otp"],
    }


def access_token(now: int, key: RSAKey | None = None) -> str:
    claims = {
        "iss": ISSUER,
        "sub": "auth0|6543a1b2c3d4e5f6a7b8c9d0",
        "iat": now,
        "aud": ["https://api.portx.io/orca/v1", "https://auth.portx.io/userinfo"],
        "exp": now + 3600,
        "azp": CLIENT_ID,
        "scope": SCOPES,
        "client_id": CLIENT_ID,
        "jti": secrets.token_urlsafe(16),
        "auth_time": now,
        "acr": "urn:portx:acr:mfa",
        "amr": ["pwd", "otp"],
        "https://portx.io/tenant": "bank-of-example-prod",
        "https://portx.io/party_id": "pty_01HF3Z8Y2K9QW4X7V5T6R3N2M1",
    }
    header = {"alg": "RS256", "kid": KID, "typ": "at+jwt"}
    return jwt.encode(header, claims, key or signing_key())


def id_token(claims: dict[str, Any], key: RSAKey | None = None) -> str:
    return jwt.encode({"alg": "RS256", "kid": KID, "typ": "JWT"}, claims, key or signing_key())


def portx_tokens(now: int, expires_in: float = 3600.0) -> tuple[TokenSet, dict[str, Any]]:
    """A PortX-sized TokenSet and the session claims (ID token claims minus nonce/at_hash)."""
    claims = id_claims(now)
    tokens = TokenSet(
        access_token=access_token(now),
        token_type="Bearer",
        expires_at=now + expires_in,
        issued_at=float(now),
        refresh_token="v1." + secrets.token_urlsafe(96),
        id_token=id_token(claims),
        scope=SCOPES,
    )
    return tokens, {k: v for k, v in claims.items() if k != "nonce"}
