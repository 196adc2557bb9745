"""A session made before the FAPI 2.0 profile was switched on, refreshed after.

The profile's DPoP is computed (``OIDCConfig.uses_dpop``), not written into ``dpop``: the
refresh of a ``Bearer`` session must still see it, bind the new tokens to a fresh key of the
session's, and prove it to a provider that now requires DPoP.
"""

from __future__ import annotations

from tests.conformance.conftest import RPFactory, client_key_pem
from tests.conformance.misbehaving_op import MisbehavingOP
from tests.conftest import Clock


async def test_a_bearer_session_refreshed_under_the_profile_gets_dpop_bound(
    op: MisbehavingOP, rp_factory: RPFactory, clock: Clock
) -> None:
    key = client_key_pem("ES256")
    op.token_body["expires_in"] = 300
    plain = await rp_factory(client_key=key, client_secret=None)
    await plain.assert_logged_in(await plain.login())
    assert not [p for p in op.dpop_proofs if p.endpoint == "token"]  # a Bearer session

    # The same app restarted with the profile, on the same store; the provider now FAPI 2.0.
    op.fapi2()
    fapi = await rp_factory(store=plain.store, client_key=key, client_secret=None, profile="fapi2")
    assert fapi.config.dpop is None and fapi.config.uses_dpop
    fapi.browser.cookies = plain.browser.cookies
    clock.advance(290)
    response = await fapi.browser.get("/api/accounts")
    assert response.status_code == 200, response.text
    (refresh_proof,) = [p for p in op.dpop_proofs if p.endpoint == "token"]
    assert op.token_jkt[op.issued_access_tokens[-1]] == refresh_proof.jkt
    assert fapi.api.schemes == ["DPoP"]
