"""OpenID Connect Config RP certification (``oidcc-client-config-certification-test-plan``).

Discovery and keys: the kit must use what the provider publishes (not guessed paths), refuse
a provider that claims another issuer, and follow a signing-key rotation. ``idtoken-sig-none``,
also in this plan, is played in ``test_basic_rp.py``.
"""

from __future__ import annotations

import pytest

from tests.conformance.conftest import RP, RPFactory
from tests.conformance.misbehaving_op import UNTRUSTED, MisbehavingOP, id_token_header
from tests.conftest import Clock


async def test_oidcc_client_test_discovery_openid_config(
    op: MisbehavingOP, rp_factory: RPFactory
) -> None:
    """oidcc-client-test-discovery-openid-config: an issuer with a path (and a trailing
    slash, as the suite's issuers have) publishing endpoints at unusual places, on other hosts,
    one with a query of its own: every request goes where discovery said, and nowhere else."""
    issuer = "https://op.test/test/a/oidc_kit/"
    op.relocate(
        issuer,
        authorization="https://login.op.test/oauth2/v1/authz?tenant=bank",
        token="https://op.test/oauth2/v1/tok",
        userinfo="https://api.op.test/me",
        jwks="https://op.test/oauth2/v1/keys.json",
    )
    rp = await rp_factory(issuer=issuer)

    start = await rp.start_login()
    assert start.status_code == 303
    assert start.headers["location"].startswith(
        "https://login.op.test/oauth2/v1/authz?tenant=bank&"
    )
    await rp.assert_logged_in(await rp.return_from_provider(start.headers["location"]))

    assert rp.authorization_request()["tenant"] == "bank"
    (discovery,) = op.requests_to("discovery")
    assert str(discovery.url) == f"{issuer}.well-known/openid-configuration"
    assert [str(r.url) for r in op.requests_to("token")] == ["https://op.test/oauth2/v1/tok"]
    assert [str(r.url) for r in op.requests_to("userinfo")] == ["https://api.op.test/me"]
    assert [str(r.url) for r in op.requests_to("jwks")] == ["https://op.test/oauth2/v1/keys.json"]
    assert all(op.endpoint_of(r.url) is not None for r in op.requests)  # nothing guessed


async def test_oidcc_client_test_discovery_jwks_uri_keys(
    op: MisbehavingOP, rp_factory: RPFactory
) -> None:
    """oidcc-client-test-discovery-jwks-uri-keys: the verification keys come from the
    discovered ``jwks_uri`` (here on another host), the only place the signing key is."""
    op.relocate(op.issuer, jwks="https://keys.op-cdn.test/signing/v2/jwks.json")
    rp = await rp_factory()

    await rp.assert_logged_in(await rp.login())

    (jwks,) = op.requests_to("jwks")
    assert str(jwks.url) == "https://keys.op-cdn.test/signing/v2/jwks.json"
    assert op.calls["/jwks"] == 0


async def test_oidcc_client_test_discovery_issuer_mismatch(rp: RP, op: MisbehavingOP) -> None:
    """oidcc-client-test-discovery-issuer-mismatch: discovery names another issuer.

    The kit refuses before anything else happens: no redirect to the provider, no login
    transaction, no login cookie. The status is 502 (the provider is at fault, not the
    browser), the code ``invalid_issuer``.
    """
    op.discovery["issuer"] = UNTRUSTED

    response = await rp.start_login()

    await rp.assert_refused(response, "invalid_issuer", status=502, mentions="issuer")
    assert "location" not in response.headers
    assert response.headers.get_list("set-cookie") == []
    assert not any(key.startswith("login:") for key in rp.store.written)
    assert op.authorization_requests == []
    assert op.hits["jwks"] == op.hits["token"] == 0


async def test_oidcc_client_test_signing_key_rotation(
    rp: RP, op: MisbehavingOP, clock: Clock
) -> None:
    """oidcc-client-test-signing-key-rotation: after a first login the provider rotates its
    signing key (a new ``kid``, the old key gone from the JWKS); the next login finds the
    ``kid`` unknown, refetches the JWKS once, and is accepted."""
    await rp.assert_logged_in(await rp.login())
    assert op.hits["jwks"] == 1
    clock.advance(120)
    op.rotate("k2")

    await rp.assert_logged_in(await rp.login())

    assert id_token_header(op.issued_id_tokens[-1])["kid"] == "k2"
    assert op.hits["jwks"] == 2


@pytest.mark.parametrize(
    "refetch_interval", [0, 60], ids=["jwks_refetch_interval=0", "default-60s"]
)
async def test_oidcc_client_test_signing_key_rotation_just_before_signing(
    op: MisbehavingOP, rp_factory: RPFactory, clock: Clock, refetch_interval: int
) -> None:
    """oidcc-client-test-signing-key-rotation-just-before-signing: the RP fetched the JWKS
    moments before the provider rotated its key, then receives a token under the new ``kid``.

    An ID token comes straight from the token endpoint, so its unknown ``kid`` means the
    provider has just rotated: the kit refetches at once, whatever ``jwks_refetch_interval``
    says (that limit is for tokens anyone can post, such as logout tokens). Accepted after
    exactly one refetch.
    """
    rp = await rp_factory(jwks_refetch_interval=refetch_interval)
    await rp.assert_logged_in(await rp.login())  # someone logs in: the JWKS (k1) is cached
    assert op.hits["jwks"] == 1
    await rp.switch_browser()
    clock.advance(5)
    op.rotate("k2")

    await rp.assert_logged_in(await rp.login())

    assert op.hits["jwks"] == 2
