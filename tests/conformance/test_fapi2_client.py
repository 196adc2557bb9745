"""FAPI 2.0 Security Profile client tests (``fapi2-security-profile-final-client-test-*``),
plus the DPoP, PAR and ``private_key_jwt`` cases of issue 8.

The client is configured as FAPI 2.0 wants, with one setting: ``profile="fapi2"`` and a client
key (ES256 unless a test says otherwise). The provider plays a FAPI 2.0 authorization server
(:meth:`MisbehavingOP.fapi2`): PAR required, ``private_key_jwt`` only, DPoP-bound tokens, ID
tokens in PS256, ``authorization_response_iss_parameter_supported``. Like the suite's "expect
nothing after" modules, each refusal also checks what the client did not do next: no token
request after a bad authorization response, no userinfo call after a bad ID token. Test names
shorten the suite's ``fapi2-security-profile-final-client-test-`` prefix to
``fapi2_client_test_``; the cases the suite does not name are named after what they check.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from joserfc.jwk import ECKey, RSAKey

from oidc_kit._client_key import ASSERTION_LIFETIME
from oidc_kit._transaction import transaction_key
from tests.conformance.conftest import APP, RP, RPFactory, client_key, client_key_pem
from tests.conformance.misbehaving_op import (
    DROP,
    ClientAssertion,
    MisbehavingOP,
    access_token_hash,
    id_token_header,
)
from tests.conftest import Clock


@pytest.fixture
async def rp(op: MisbehavingOP, rp_factory: RPFactory) -> RP:
    op.fapi2()
    assert op.metadata()["authorization_response_iss_parameter_supported"] is True
    return await rp_factory(profile="fapi2", client_key=client_key_pem("ES256"), client_secret=None)


async def _refused_id_token(rp: RP, op: MisbehavingOP, mentions: str) -> None:
    await rp.assert_refused(await rp.login(), "invalid_id_token", mentions=mentions)
    assert op.hits["token"] == 1
    assert op.hits["userinfo"] == 0


async def _refused_authorization_response(
    rp: RP, op: MisbehavingOP, code: str, mentions: str
) -> None:
    await rp.assert_refused(await rp.login(), code, mentions=mentions)
    assert op.hits["token"] == 0


def _assertions(op: MisbehavingOP, endpoint: str) -> list[ClientAssertion]:
    return [a for a in op.client_assertions if a.endpoint == endpoint]


def _check_assertion(op: MisbehavingOP, assertion: ClientAssertion, key: RSAKey | ECKey) -> None:
    """RFC 7523 3 and FAPI 2.0 5.3.2.1, as the provider received it."""
    claims, header = assertion.claims, assertion.header
    assert assertion.accepted, assertion
    assert claims["aud"] == op.issuer
    assert claims["iss"] == claims["sub"] == op.client_id
    assert 0 < claims["exp"] - claims["iat"] <= ASSERTION_LIFETIME <= 60
    assert header["alg"] == ("PS256" if isinstance(key, RSAKey) else "ES256")
    assert header["kid"] == key.thumbprint()


async def _token_status(rp: RP) -> dict[str, Any]:
    response = await rp.browser.get("/api/token-status")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_fapi2_client_test_happy_path(rp: RP, op: MisbehavingOP) -> None:
    """fapi2-security-profile-final-client-test-happy-path: the baseline the refusals break."""
    await rp.assert_logged_in(await rp.login())
    assert id_token_header(op.issued_id_tokens[-1])["alg"] == "PS256"


async def test_fapi2_client_test_invalid_missing_aud(rp: RP, op: MisbehavingOP) -> None:
    """fapi2-security-profile-final-client-test-invalid-missing-aud."""
    op.misbehave("fapi2-security-profile-final-client-test-invalid-missing-aud")
    await _refused_id_token(rp, op, "aud")


async def test_fapi2_client_test_invalid_secondary_aud(rp: RP, op: MisbehavingOP) -> None:
    """fapi2-security-profile-final-client-test-invalid-secondary-aud: ``aud`` lists us and
    an untrusted client, with no ``azp``."""
    op.misbehave("fapi2-security-profile-final-client-test-invalid-secondary-aud")
    await _refused_id_token(rp, op, "azp")


async def test_fapi2_client_test_invalid_expired_exp(rp: RP, op: MisbehavingOP) -> None:
    """fapi2-security-profile-final-client-test-invalid-expired-exp: expired an hour ago."""
    op.misbehave("fapi2-security-profile-final-client-test-invalid-expired-exp")
    await _refused_id_token(rp, op, "exp")


async def test_fapi2_client_test_invalid_missing_exp(rp: RP, op: MisbehavingOP) -> None:
    """fapi2-security-profile-final-client-test-invalid-missing-exp."""
    op.misbehave("fapi2-security-profile-final-client-test-invalid-missing-exp")
    await _refused_id_token(rp, op, "exp")


async def test_fapi2_client_test_invalid_missing_nonce(rp: RP, op: MisbehavingOP) -> None:
    """fapi2-security-profile-final-client-test-invalid-missing-nonce: the client sent a
    nonce; an ID token without one is refused."""
    op.misbehave("fapi2-security-profile-final-client-test-invalid-missing-nonce")
    await _refused_id_token(rp, op, "nonce")


@pytest.mark.parametrize("alg", ["RS256", "RS384", "HS256"])
async def test_fapi2_client_test_invalid_alternate_alg(rp: RP, op: MisbehavingOP, alg: str) -> None:
    """fapi2-security-profile-final-client-test-invalid-alternate-alg: a validly signed ID
    token, with a key the provider publishes (or the client secret), under an alg outside
    the client's allowlist: the token does not choose how it is verified."""
    op.invalid_alternate_alg(alg)
    await _refused_id_token(rp, op, "algorithm")
    assert id_token_header(op.issued_id_tokens[-1])["alg"] == alg


async def test_fapi2_client_test_invalid_authorization_response_iss(
    rp: RP, op: MisbehavingOP
) -> None:
    """fapi2-security-profile-final-client-test-invalid-authorization-response-iss: the
    RFC 9207 ``iss`` of the authorization response names another issuer (a mix-up)."""
    op.misbehave("fapi2-security-profile-final-client-test-invalid-authorization-response-iss")
    await _refused_authorization_response(rp, op, "invalid_issuer", "issuer")


async def test_fapi2_client_test_remove_authorization_response_iss(
    rp: RP, op: MisbehavingOP
) -> None:
    """fapi2-security-profile-final-client-test-remove-authorization-response-iss: the
    provider advertises the ``iss`` parameter, and the response has none."""
    op.misbehave("fapi2-security-profile-final-client-test-remove-authorization-response-iss")
    await _refused_authorization_response(rp, op, "invalid_issuer", "iss")


async def test_fapi2_client_test_ensure_authorization_response_with_invalid_state_fails(
    rp: RP, op: MisbehavingOP
) -> None:
    """fapi2-security-profile-final-client-test-ensure-authorization-response-with-invalid-
    state-fails: a ``state`` this browser's login did not send."""
    op.misbehave(
        "fapi2-security-profile-final-client-test-"
        "ensure-authorization-response-with-invalid-state-fails"
    )
    await _refused_authorization_response(rp, op, "invalid_state", "state")


async def test_fapi2_client_test_ensure_authorization_response_with_invalid_missing_state_fails(
    rp: RP, op: MisbehavingOP
) -> None:
    """fapi2-security-profile-final-client-test-ensure-authorization-response-with-invalid-
    missing-state-fails: no ``state`` at all."""
    op.misbehave(
        "fapi2-security-profile-final-client-test-"
        "ensure-authorization-response-with-invalid-missing-state-fails"
    )
    await _refused_authorization_response(rp, op, "invalid_state", "state")


async def test_fapi2_client_test_valid_aud_as_array(rp: RP, op: MisbehavingOP) -> None:
    """fapi2-security-profile-final-client-test-valid-aud-as-array: ``aud`` as an array
    holding only the client is fine (the secondary-aud refusal is about the extra value)."""
    op.id_claims["aud"] = [op.client_id]
    await rp.assert_logged_in(await rp.login())


@pytest.mark.parametrize("token_type", ["dpop", "DPOP", "dPoP"])
async def test_fapi2_client_test_token_type_case_insensitivity(
    rp: RP, op: MisbehavingOP, token_type: str
) -> None:
    """fapi2-security-profile-final-client-test-token-type-case-insensitivity: RFC 6749 7.1;
    ``dpop`` is the ``DPoP`` type, and the session's tokens stay DPoP-bound."""
    if token_type == "dpop":
        op.dpop_token_type_lower_case()
    else:
        op.token_body["token_type"] = token_type
    await rp.assert_logged_in(await rp.login())
    status = await _token_status(rp)
    assert status["token_type"] == "DPoP"
    assert (await rp.browser.get("/api/accounts")).status_code == 200
    assert rp.api.schemes == ["DPoP"]


async def test_fapi2_client_test_token_endpoint_response_without_expires_in(
    rp: RP, op: MisbehavingOP
) -> None:
    """fapi2-security-profile-final-client-test-token-endpoint-response-without-expires_in:
    ``expires_in`` is only RECOMMENDED; its absence is no reason to refuse the login."""
    op.token_body["expires_in"] = DROP
    body = await rp.assert_logged_in(await rp.login())
    assert body["expires_at"] is None


# -- PAR + private_key_jwt + DPoP, end to end ---------------------------------------------


@pytest.mark.parametrize("alg", ["ES256", "PS256"])
async def test_fapi2_client_test_happy_path_par_private_key_jwt_dpop(
    op: MisbehavingOP, rp_factory: RPFactory, alg: str
) -> None:
    """The whole FAPI 2.0 login, as the provider sees it: a pushed request authenticated with
    ``private_key_jwt``, a browser carrying only ``client_id`` and ``request_uri``, a token
    request with a fresh assertion and a DPoP proof, userinfo and the API called with the
    ``DPoP`` scheme and a proof holding ``ath``, a session holding DPoP tokens."""
    op.fapi2()
    rp = await rp_factory(profile="fapi2", client_key=client_key_pem(alg), client_secret=None)
    await rp.assert_logged_in(await rp.login())
    key = client_key(alg)

    # PAR: the browser's request carried nothing but the handle of the pushed one.
    assert set(op.browser_queries[-1]) == {"client_id", "request_uri"}
    assert op.browser_queries[-1]["client_id"] == op.client_id
    pushed = op.pushed_requests[-1]
    assert pushed["code_challenge_method"] == "S256"
    assert {"state", "nonce", "redirect_uri", "code_challenge", "scope"} <= set(pushed)
    assert "client_secret" not in pushed

    # private_key_jwt at PAR and at the token endpoint: no secret, no Basic header.
    for name in ("par", "token"):
        (request,) = op.requests_to(name)
        assert "authorization" not in request.headers
    assertions = op.client_assertions
    assert [a.endpoint for a in assertions] == ["par", "token"]
    for assertion in assertions:
        _check_assertion(op, assertion, key)
    assert len({a.claims["jti"] for a in assertions}) == len(assertions)

    # DPoP at the token endpoint: a proof of a public P-256 key, no ath there.
    (token_proof,) = [p for p in op.dpop_proofs if p.endpoint == "token"]
    assert token_proof.header["typ"] == "dpop+jwt"
    assert token_proof.header["alg"] == "ES256"
    assert "d" not in token_proof.header["jwk"]
    assert token_proof.claims["htm"] == "POST"
    assert token_proof.claims["htu"] == op.endpoints["token"]
    assert "ath" not in token_proof.claims
    access_token = op.issued_access_tokens[-1]
    assert op.token_jkt[access_token] == token_proof.jkt
    # The code was bound at PAR to the same key (RFC 9449 10.1).
    (par_proof,) = [p for p in op.dpop_proofs if p.endpoint == "par"]
    assert par_proof.claims["htm"] == "POST" and par_proof.claims["htu"] == op.endpoints["par"]
    assert par_proof.jkt == token_proof.jkt and "ath" not in par_proof.claims

    # userinfo with the DPoP scheme and a proof of the same key bound to the token.
    (userinfo,) = op.requests_to("userinfo")
    assert userinfo.headers["authorization"] == f"DPoP {access_token}"
    (userinfo_proof,) = [p for p in op.dpop_proofs if p.endpoint == "userinfo"]
    assert userinfo_proof.claims["htm"] == "GET"
    assert userinfo_proof.claims["htu"] == op.endpoints["userinfo"]
    assert userinfo_proof.claims["ath"] == access_token_hash(access_token)
    assert userinfo_proof.jkt == token_proof.jkt
    assert userinfo_proof.claims["jti"] != token_proof.claims["jti"]

    # The session holds DPoP tokens bound to that key, and the API gets them as such.
    status = await _token_status(rp)
    assert status["token_type"] == "DPoP"
    assert status["dpop_jkt"] == token_proof.jkt
    assert status["profile"] == "fapi2"
    assert (await rp.browser.get("/api/accounts")).status_code == 200
    assert rp.api.schemes == ["DPoP"]
    (api_proof,) = rp.api.proofs
    assert api_proof.claims["ath"] == access_token_hash(access_token)
    assert api_proof.claims["htm"] == "GET"
    assert api_proof.jkt == token_proof.jkt


async def test_dpop_without_par_binds_the_code_with_dpop_jkt(
    op: MisbehavingOP, rp_factory: RPFactory
) -> None:
    """RFC 9449 10: without PAR, the authorization request names the session's key in
    ``dpop_jkt``; the token request then proves that very key."""
    op.fapi2()
    op.require_par = False
    rp = await rp_factory(dpop=True, client_key=client_key_pem("ES256"), client_secret=None)
    assert rp.config.uses_par is False
    await rp.assert_logged_in(await rp.login())
    query = op.browser_queries[-1]
    assert "request_uri" not in query
    (token_proof,) = [p for p in op.dpop_proofs if p.endpoint == "token"]
    assert query["dpop_jkt"] == token_proof.jkt


async def test_fapi2_client_test_dpop_nonce_at_par(rp: RP, op: MisbehavingOP) -> None:
    """The PAR endpoint wants its nonce: one retry with it and a fresh assertion; the token
    endpoint, on the same server, then gets the nonce at once."""
    nonce = op.use_dpop_nonce("par")
    await rp.assert_logged_in(await rp.login())
    first, second = [p for p in op.dpop_proofs if p.endpoint == "par"]
    assert "nonce" not in first.claims and second.claims["nonce"] == nonce
    assert first.jkt == second.jkt
    assertions = _assertions(op, "par")
    assert len(assertions) == 2 and assertions[0].claims["jti"] != assertions[1].claims["jti"]
    (token_proof,) = [p for p in op.dpop_proofs if p.endpoint == "token"]
    assert token_proof.jkt == first.jkt


async def test_par_required_by_the_provider_is_used_without_the_profile(
    op: MisbehavingOP, rp_factory: RPFactory
) -> None:
    """RFC 9126 5: ``require_pushed_authorization_requests`` alone makes the client push,
    even with neither ``par`` nor ``profile`` set (here with a client secret)."""
    op.require_par = True
    rp = await rp_factory()
    assert rp.config.uses_par is False
    await rp.assert_logged_in(await rp.login())
    assert set(op.browser_queries[-1]) == {"client_id", "request_uri"}
    (par,) = op.requests_to("par")
    assert par.headers["authorization"].startswith("Basic ")


# -- DPoP nonces ---------------------------------------------------------------------------


async def test_fapi2_client_test_dpop_nonce_at_the_token_endpoint(
    rp: RP, op: MisbehavingOP
) -> None:
    """RFC 9449 8: the token endpoint answers ``use_dpop_nonce`` with a ``DPoP-Nonce``; the
    client retries exactly once, its new proof carrying the nonce, and with a new client
    assertion (a provider refuses a reused ``jti``)."""
    nonce = op.use_dpop_nonce("token")
    await rp.assert_logged_in(await rp.login())
    assert op.hits["token"] == 2
    first, second = [p for p in op.dpop_proofs if p.endpoint == "token"]
    assert "nonce" not in first.claims
    assert second.claims["nonce"] == nonce
    assert first.claims["jti"] != second.claims["jti"]
    assert first.jkt == second.jkt
    assertions = _assertions(op, "token")
    assert len(assertions) == 2
    assert assertions[0].claims["jti"] != assertions[1].claims["jti"]
    assert all(a.accepted for a in assertions)


async def test_dpop_nonce_retry_is_only_one(rp: RP, op: MisbehavingOP) -> None:
    """A token endpoint asking for a new nonce every time gets one retry, then a clean
    refusal: the client does not loop."""
    op.use_dpop_nonce("token")
    real_proof = op._proof

    def rotating(*args: Any, **kwargs: Any) -> Any:
        try:
            return real_proof(*args, **kwargs)
        finally:
            op.use_dpop_nonce("token")  # the next answer names yet another nonce

    op._proof = rotating  # type: ignore[method-assign]
    await rp.assert_refused(await rp.login(), "token_request_failed", status=400)
    assert op.hits["token"] == 2
    assert op.hits["userinfo"] == 0


async def test_fapi2_client_test_dpop_nonce_at_the_resource_server(
    rp: RP, op: MisbehavingOP
) -> None:
    """RFC 9449 9: the API answers 401 ``use_dpop_nonce`` with a ``DPoP-Nonce``; the user's
    :class:`~oidc_kit.BearerAuth` retries once with a proof carrying it (and a
    fresh ``jti``, the same ``ath``), and does not refresh the token for it."""
    await rp.assert_logged_in(await rp.login())
    rp.api.dpop_nonce = "rs-nonce-1"
    response = await rp.browser.get("/api/accounts")
    assert response.status_code == 200, response.text
    assert len(rp.api.seen) == 2
    first, second = rp.api.proofs
    assert "nonce" not in first.claims
    assert second.claims["nonce"] == "rs-nonce-1"
    assert first.claims["jti"] != second.claims["jti"]
    access_token = op.issued_access_tokens[-1]
    assert rp.api.seen == [access_token, access_token]
    assert first.claims["ath"] == second.claims["ath"] == access_token_hash(access_token)
    assert op.hits["token"] == 1  # no refresh for a nonce
    # The nonce is remembered: the next call carries it at once.
    assert (await rp.browser.get("/api/accounts")).status_code == 200
    assert len(rp.api.seen) == 3
    assert rp.api.proofs[-1].claims["nonce"] == "rs-nonce-1"


async def test_dpop_nonce_at_userinfo(rp: RP, op: MisbehavingOP) -> None:
    """The userinfo endpoint asking for its nonce (401 and ``WWW-Authenticate: DPoP
    error="use_dpop_nonce"``): one retry, and the login completes."""
    nonce = op.use_dpop_nonce("userinfo")
    await rp.assert_logged_in(await rp.login())
    assert op.hits["userinfo"] == 2
    proofs = [p for p in op.dpop_proofs if p.endpoint == "userinfo"]
    assert [p.claims.get("nonce") for p in proofs] == [None, nonce]


# -- what a FAPI 2.0 client refuses ----------------------------------------------------------


async def test_fapi2_client_test_bearer_token_refused(rp: RP, op: MisbehavingOP) -> None:
    """Issue 8, "a token without ``cnf`` refused in FAPI mode": DPoP was asked for, the
    provider issued a ``Bearer`` token, which anyone who sees it can use: no session."""
    op.dpop_bearer_token()
    await rp.assert_refused(await rp.login(), "unbound_token", status=502, mentions="Bearer")
    assert op.hits["token"] == 1
    assert op.hits["userinfo"] == 0


async def test_fapi2_client_test_remove_authorization_response_iss_not_advertised(
    rp: RP, op: MisbehavingOP
) -> None:
    """FAPI 2.0 requires RFC 9207 ``iss`` of every provider: a response without it is
    refused even when the provider does not advertise the parameter."""
    op.discovery["authorization_response_iss_parameter_supported"] = DROP
    op.response_params["iss"] = DROP
    await _refused_authorization_response(rp, op, "invalid_issuer", "iss")


async def test_iss_not_advertised_and_absent_is_fine_without_fapi2(
    op: MisbehavingOP, rp_factory: RPFactory
) -> None:
    """The control for the test above: without the profile, RFC 9207 only binds providers
    that advertise the parameter."""
    op.discovery["authorization_response_iss_parameter_supported"] = DROP
    op.response_params["iss"] = DROP
    rp = await rp_factory()
    await rp.assert_logged_in(await rp.login())


async def test_fapi2_client_test_invalid_secondary_aud_with_azp(rp: RP, op: MisbehavingOP) -> None:
    """``aud`` lists us and another client, ``azp`` names us: Core allows it, FAPI 2.0
    wants ``aud`` exactly the client."""
    op.id_claims["aud"] = [op.client_id, "https://other-client.test"]
    op.id_claims["azp"] = op.client_id
    await _refused_id_token(rp, op, "aud")


async def test_secondary_aud_with_azp_is_fine_without_fapi2(
    op: MisbehavingOP, rp_factory: RPFactory
) -> None:
    """The control: the same ID token passes a client without the profile (Core 3.1.3.7)."""
    op.id_claims["aud"] = [op.client_id, "https://other-client.test"]
    op.id_claims["azp"] = op.client_id
    rp = await rp_factory()
    await rp.assert_logged_in(await rp.login())


async def test_fapi2_client_test_invalid_iat_too_old(
    rp: RP, op: MisbehavingOP, clock: Clock
) -> None:
    """An ID token issued an hour ago (still unexpired) is not the one just asked for."""
    op.id_claims["iat"] = int(clock()) - 3600
    op.id_claims["exp"] = int(clock()) + 300
    await _refused_id_token(rp, op, "iat")


async def test_fapi2_iat_within_the_limit_is_fine(rp: RP, op: MisbehavingOP, clock: Clock) -> None:
    """The bound is 10 minutes: an ID token 5 minutes old passes."""
    op.id_claims["iat"] = int(clock()) - 300
    await rp.assert_logged_in(await rp.login())


async def test_fapi2_client_test_invalid_exp_too_far(
    rp: RP, op: MisbehavingOP, clock: Clock
) -> None:
    """An ID token valid for 25 hours is refused (the bound is 24)."""
    op.id_claims["exp"] = int(clock()) + 25 * 3600
    await _refused_id_token(rp, op, "exp")


async def test_fapi2_exp_within_the_limit_is_fine(rp: RP, op: MisbehavingOP, clock: Clock) -> None:
    op.id_claims["exp"] = int(clock()) + 23 * 3600
    await rp.assert_logged_in(await rp.login())


@pytest.mark.parametrize("alg", ["RS256", "HS256"])
async def test_invalid_alternate_alg_without_the_profile(
    op: MisbehavingOP, rp_factory: RPFactory, alg: str
) -> None:
    """The alternate-alg refusal also holds for a client configured by hand with FAPI's
    algorithms and no profile (the form the earlier issues used)."""
    op.use_key(op.key, "RS256")
    op.discovery["id_token_signing_alg_values_supported"] = ["PS256"]
    rp = await rp_factory(id_token_algs=("PS256", "ES256", "EdDSA"))
    op.invalid_alternate_alg(alg)
    await _refused_id_token(rp, op, "algorithm")


# -- refresh and logout --------------------------------------------------------------------


async def test_refresh_keeps_the_dpop_key(rp: RP, op: MisbehavingOP, clock: Clock) -> None:
    """The refresh request proves the session's key (the same ``jkt`` as at login) with a
    fresh assertion; the new access token is DPoP-bound to that key, and the API gets it."""
    op.token_body["expires_in"] = 300
    await rp.assert_logged_in(await rp.login())
    before = await _token_status(rp)
    clock.advance(290)
    assert (await rp.browser.get("/api/accounts")).status_code == 200
    assert op.hits["token"] == 2
    login_proof, refresh_proof = [p for p in op.dpop_proofs if p.endpoint == "token"]
    assert refresh_proof.jkt == login_proof.jkt == before["dpop_jkt"]
    assert refresh_proof.claims["htu"] == op.endpoints["token"]
    refreshed = op.issued_access_tokens[-1]
    assert op.token_jkt[refreshed] == login_proof.jkt
    assert rp.api.seen == [refreshed]
    assert rp.api.schemes == ["DPoP"]
    assert rp.api.proofs[-1].claims["ath"] == access_token_hash(refreshed)
    after = await _token_status(rp)
    assert after["token_type"] == "DPoP"
    assert after["dpop_jkt"] == before["dpop_jkt"]
    login_assertion, refresh_assertion = _assertions(op, "token")
    assert refresh_assertion.accepted
    assert refresh_assertion.claims["jti"] != login_assertion.claims["jti"]


async def test_refresh_answering_bearer_is_refused(rp: RP, op: MisbehavingOP, clock: Clock) -> None:
    """A refresh response downgrading to a ``Bearer`` token is refused like a login's: the
    API is not called with it."""
    op.token_body["expires_in"] = 300
    await rp.assert_logged_in(await rp.login())
    op.refresh_body["token_type"] = "Bearer"
    clock.advance(290)
    response = await rp.browser.get("/api/accounts")
    assert response.status_code == 502, response.text
    assert response.json()["error"] == "unbound_token"
    assert rp.api.seen == []


async def test_logout_revokes_with_private_key_jwt(rp: RP, op: MisbehavingOP) -> None:
    """RFC 7009 revocation at logout authenticates with a client assertion, never a secret."""
    await rp.assert_logged_in(await rp.login())
    response = await rp.browser.post("/auth/logout", headers={"Origin": APP})
    assert response.status_code == 303
    assert op.revocations, "logout revoked nothing"
    for request in op.requests_to("revocation"):
        assert "authorization" not in request.headers
    revocations = _assertions(op, "revocation")
    assert len(revocations) == len(op.revocations)
    for assertion in revocations:
        _check_assertion(op, assertion, client_key("ES256"))
    jtis = [a.claims["jti"] for a in op.client_assertions]
    assert len(set(jtis)) == len(jtis)


# -- PAR failures ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (400, {"error": "invalid_request"}),
        (401, {"error": "invalid_client"}),
        (201, {"expires_in": 60}),
        (201, {"request_uri": ""}),
        (200, ["not", "an", "object"]),
    ],
    ids=["400", "401", "no-request_uri", "empty-request_uri", "not-an-object"],
)
async def test_par_failure_is_a_clean_error(
    rp: RP, op: MisbehavingOP, status: int, body: Any
) -> None:
    """A refused or mangled pushed request: a clean ``par_failed`` answer, no redirect to
    the provider, no session, no traceback."""
    op.par_status = status
    op.par_body = body
    response = await rp.start_login()
    assert response.status_code == 502, response.text
    assert response.json()["error"] == "par_failed"
    assert "location" not in response.headers
    assert op.browser_queries == []
    page = await rp.browser.get("/auth/login", headers={"Accept": "text/html"})
    assert page.status_code == 502
    assert page.headers["content-type"].startswith("text/html")
    assert "Traceback" not in page.text
    assert "par_failed" in page.text or "pushed" in page.text.lower()


async def test_par_provider_down_is_a_clean_503(rp: RP, op: MisbehavingOP) -> None:
    """A 5xx from the PAR endpoint is the provider being unavailable: 503, no traceback."""
    op.par_status = 503
    op.par_body = {"error": "temporarily_unavailable"}
    response = await rp.start_login()
    assert response.status_code == 503, response.text
    assert response.json()["error"] == "provider_unavailable"


async def test_par_endpoint_missing_under_fapi2(rp: RP, op: MisbehavingOP) -> None:
    """The profile needs PAR: a provider without the endpoint is refused cleanly."""
    op.discovery["pushed_authorization_request_endpoint"] = DROP
    op.discovery["require_pushed_authorization_requests"] = DROP
    response = await rp.start_login()
    assert response.status_code == 502, response.text
    assert response.json()["error"] == "par_failed"


async def test_the_dpop_key_waits_sealed_in_the_login_transaction(
    rp: RP, op: MisbehavingOP
) -> None:
    """Made at login start (to bind the code), the key waits in the store until the callback:
    sealed like the session's tokens, never in clear; a transaction whose sealed key was
    changed fails the login before any token request."""
    start = await rp.start_login()
    (par_proof,) = [p for p in op.dpop_proofs if p.endpoint == "par"]
    state = op.pushed_requests[-1]["state"]
    key = transaction_key(state)
    raw = await rp.store.get(key)
    assert raw is not None
    stored = json.loads(raw)
    assert stored["dpop_key"] and '"d"' not in stored["dpop_key"]
    assert par_proof.header["jwk"]["x"] not in raw.decode()  # not even the public half

    stored["dpop_key"] = stored["dpop_key"][:-8] + "AAAAAAAA"
    await rp.store.set(key, json.dumps(stored).encode(), 600)
    await rp.assert_refused(
        await rp.return_from_provider(start.headers["location"]), "invalid_state"
    )
    assert op.hits["token"] == 0


async def test_another_logins_sealed_key_does_not_open(rp: RP, op: MisbehavingOP) -> None:
    """The sealed key is bound to its login (state and provider): moved into another
    login's transaction it does not open, and that login fails before any token request."""
    await rp.start_login()
    first = await rp.store.get(transaction_key(op.pushed_requests[-1]["state"]))
    second_start = await rp.start_login()
    key = transaction_key(op.pushed_requests[-1]["state"])
    second = await rp.store.get(key)
    assert first is not None and second is not None
    swapped = json.loads(second) | {"dpop_key": json.loads(first)["dpop_key"]}
    await rp.store.set(key, json.dumps(swapped).encode(), 600)
    await rp.assert_refused(
        await rp.return_from_provider(second_start.headers["location"]), "invalid_state"
    )
    assert op.hits["token"] == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [("dpop_key", 5), ("provider", ["x"]), ("state", None), ("max_age", "60"), ("created_at", "x")],
)
async def test_a_mistyped_login_transaction_is_a_400(
    rp: RP, op: MisbehavingOP, field: str, value: object
) -> None:
    """A store's contents are input like any other: a wrong type is invalid_state, not a 500."""
    start = await rp.start_login()
    key = transaction_key(op.pushed_requests[-1]["state"])
    raw = await rp.store.get(key)
    assert raw is not None
    await rp.store.set(key, json.dumps(json.loads(raw) | {field: value}).encode(), 600)
    await rp.assert_refused(
        await rp.return_from_provider(start.headers["location"]), "invalid_state"
    )
    assert op.hits["token"] == 0
