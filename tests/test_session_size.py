"""A session at rest stays under 4 KB with PortX-sized tokens (issue 3: hygiene and limits).

The tokens are real RS256 JWTs (2048-bit key) carrying what a bank's authorization server
typically puts in them: every ORCA scope, a list audience, tenant and ACR claims.
"""

from __future__ import annotations

import secrets
import time

from joserfc import jwt

from oidc_kit import MemoryStore, TokenSet
from oidc_kit._session import Sessions
from tests.conftest import make_config
from tests.fake_op import rsa_key

SCOPES = (
    "openid profile email offline_access accounts:read accounts:write transactions:read "
    "transactions:write parties:read parties:write cards:read cards:write"
)


def portx_sized_tokens(now: int) -> tuple[TokenSet, dict[str, object]]:
    key = rsa_key("portx-like")
    common = {"iss": "https://auth.portx.io/", "sub": "auth0|6543a1b2c3d4e5f6a7b8c9d0", "iat": now}
    access_claims = {
        **common,
        "aud": ["https://api.portx.io/orca/v1", "https://auth.portx.io/userinfo"],
        "exp": now + 3600,
        "azp": "Xk3cQ9vZtR2mW8pL5nB7yH4jD6fG1sA0",
        "scope": SCOPES,
        "client_id": "Xk3cQ9vZtR2mW8pL5nB7yH4jD6fG1sA0",
        "jti": secrets.token_urlsafe(16),
        "auth_time": now,
        "acr": "urn:portx:acr:mfa",
        "amr": ["pwd", "otp"],
        "https://portx.io/tenant": "bank-of-example-prod",
        "https://portx.io/party_id": "pty_01HF3Z8Y2K9QW4X7V5T6R3N2M1",
    }
    profile = {
        "name": "Alexandra Example-Customer",
        "given_name": "Alexandra",
        "family_name": "Example-Customer",
        "email": "alexandra.example-customer@example.com",
        "email_verified": True,
        "locale": "en-GB",
        "updated_at": now - 86400,
    }
    id_claims = {
        **common,
        **profile,
        "aud": "Xk3cQ9vZtR2mW8pL5nB7yH4jD6fG1sA0",
        "exp": now + 600,
        "auth_time": now,
        "nonce": secrets.token_urlsafe(32),
        "at_hash": "y9LhTfM0xKqJb3c2Z1aR8w",
        "sid": secrets.token_urlsafe(24),
        "acr": "urn:portx:acr:mfa",
        "amr": ["pwd", "otp"],
    }
    header = {"alg": "RS256", "kid": "portx-signing-key-2026-11", "typ": "at+jwt"}
    tokens = TokenSet(
        access_token=jwt.encode(header, access_claims, key),
        token_type="Bearer",
        expires_at=now + 3600.0,
        issued_at=float(now),
        refresh_token="v1." + secrets.token_urlsafe(96),
        id_token=jwt.encode({**header, "typ": "JWT"}, id_claims, key),
        scope=SCOPES,
    )
    session_claims = {k: v for k, v in id_claims.items() if k not in ("nonce", "at_hash")}
    return tokens, session_claims


async def test_a_session_at_rest_takes_at_most_4_kb() -> None:
    now = int(time.time())
    tokens, claims = portx_sized_tokens(now)
    assert len(tokens.access_token) > 1000 and len(tokens.id_token or "") > 1000
    store = MemoryStore()
    sessions = Sessions(make_config(), store)
    session = await sessions.create(tokens, claims, provider_sid=str(claims["sid"]))
    stored = await store.get(Sessions.key(session.sid))
    assert stored is not None
    assert len(stored) <= 4096, len(stored)
