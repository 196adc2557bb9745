"""A session at rest stays under 4 KB with PortX-sized tokens (issue 3: hygiene and limits).

The tokens (bench/tokens.py, shared with the benchmarks) are real RS256 JWTs from a 2048-bit
key carrying what a bank's authorization server typically puts in them: every ORCA scope, a
list audience, tenant and ACR claims.
"""

from __future__ import annotations

import dataclasses
import time

import pytest

from bench.tokens import portx_tokens
from oidc_kit import MemoryStore
from oidc_kit._dpop import DPoPKey
from oidc_kit._session import Sessions
from tests.conftest import make_config


@pytest.mark.parametrize("dpop", [False, True], ids=["bearer", "dpop"])
async def test_a_session_at_rest_takes_at_most_4_kb(dpop: bool) -> None:
    """With DPoP (FAPI 2.0) the record also holds the session's sealed P-256 key."""
    tokens, claims = portx_tokens(int(time.time()))
    if dpop:
        key = DPoPKey.generate().to_json()
        tokens = dataclasses.replace(tokens, token_type="DPoP", dpop_key=key)
    assert len(tokens.access_token) > 1000 and len(tokens.id_token or "") > 1000
    store = MemoryStore()
    sessions = Sessions(make_config(), store)
    session = await sessions.create(tokens, claims, provider_sid=str(claims["sid"]))
    stored = await store.get(Sessions.key(session.sid))
    assert stored is not None
    assert len(stored) <= 4096, len(stored)
