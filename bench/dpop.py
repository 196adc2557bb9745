"""What FAPI 2.0 costs per API call and per session: ``python -m bench.dpop``.

Side by side in one run, best of 5 rounds of 2,000 calls: a user's ORCA call through
``BearerAuth`` with a ``Bearer`` token and with a DPoP-bound one (a fresh ES256 proof per
call), over an ``httpx.MockTransport`` so that only the client side is timed; the signing of
one ``private_key_jwt`` assertion (PS256 and ES256); and a session record's size at rest
with and without the sealed DPoP key.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable

import httpx
from joserfc.jwk import ECKey, RSAKey

from oidc_kit import OIDCConfig
from oidc_kit._client_key import ClientKey
from oidc_kit._dpop import DPoPKey, DPoPNonces
from oidc_kit._session import Sessions
from oidc_kit._tokens import TokenSet
from oidc_kit.httpx_auth import BearerAuth
from oidc_kit.stores.memory import MemoryStore

CALLS, ROUNDS = 2_000, 5
URL = "https://orca.test/v1/accounts"


class _Fixed:
    def __init__(self, tokens: TokenSet) -> None:
        self._tokens = tokens

    async def tokens(self) -> TokenSet:
        return self._tokens

    async def refreshed(self, rejected: str) -> TokenSet:
        return self._tokens


def _tokens(dpop: DPoPKey | None) -> TokenSet:
    now = time.time()
    return TokenSet(
        access_token="a" * 900,  # about the size of a JWT access token
        token_type="DPoP" if dpop else "Bearer",
        expires_at=now + 3600,
        issued_at=now,
        refresh_token="r" * 64,
        id_token="i" * 1200,
        scope="openid accounts:read",
        dpop_key=dpop.to_json() if dpop else None,
    )


async def _calls(tokens: TokenSet) -> float:
    """Best µs per call over ``ROUNDS`` rounds of ``CALLS``."""
    auth = BearerAuth(_Fixed(tokens), nonces=DPoPNonces())
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={"data": []}))
    best = float("inf")
    async with httpx.AsyncClient(transport=transport) as client:
        for _ in range(ROUNDS):
            start = time.perf_counter()
            for _ in range(CALLS):
                await client.get(URL, auth=auth)
            best = min(best, (time.perf_counter() - start) / CALLS * 1e6)
    return best


def _best(fn: Callable[[], object], n: int = 500) -> float:
    best = float("inf")
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - start) / n * 1e6)
    return best


def _record_size(tokens: TokenSet) -> int:
    config = OIDCConfig(
        issuer="https://op.test",
        client_id="app",
        base_url="https://app.test",
        session_secrets=("a-bench-secret-of-32-characters!",),
        session_store="memory://",
    )
    sessions = Sessions(config, MemoryStore())
    claims = {"iss": "https://op.test", "sub": "sandbox-alice", "name": "Alice Example"}
    session = asyncio.run(sessions.create(tokens, claims, "op-sid"))
    return len(session.encode())


def main() -> None:
    key = DPoPKey.generate()
    bearer, dpop = asyncio.run(_calls(_tokens(None))), asyncio.run(_calls(_tokens(key)))
    print(f"ORCA call via BearerAuth, Bearer: {bearer:7.1f} µs")
    print(f"ORCA call via BearerAuth, DPoP:   {dpop:7.1f} µs ({dpop / bearer:.2f}x)")
    for name, private in (
        ("PS256", RSAKey.generate_key(2048, private=True)),
        ("ES256", ECKey.generate_key("P-256", private=True)),
    ):
        client = ClientKey.load(json.dumps(private.as_dict(private=True)))
        cost = _best(lambda c=client: c.assertion("app", "https://op.test"))  # type: ignore[misc]
        print(f"private_key_jwt assertion, {name}: {cost:7.1f} µs")
    plain, bound = _record_size(_tokens(None)), _record_size(_tokens(key))
    print(f"session at rest: {plain} B Bearer, {bound} B with the DPoP key (+{bound - plain} B)")


if __name__ == "__main__":
    main()
