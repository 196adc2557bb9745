"""FAPI 2.0 Security Profile client tests (``fapi2-security-profile-final-client-test-*``):
the "must reject" cases that apply to the kit (an OpenID Connect client with PKCE, the code
flow and RFC 9207 ``iss``; no PAR, DPoP, mTLS or JARM here).

The client is configured as FAPI 2.0 wants: ID tokens only in PS256, ES256 or EdDSA; the
provider signs PS256 and advertises ``authorization_response_iss_parameter_supported``. Like
the suite's "expect nothing after" modules, each refusal also checks what the client did not
do next: no token request after a bad authorization response, no userinfo call after a bad ID
token. Test names shorten the suite's ``fapi2-security-profile-final-client-test-`` prefix
to ``fapi2_client_test_``.
"""

from __future__ import annotations

import pytest

from tests.conformance.conftest import RP, RPFactory
from tests.conformance.misbehaving_op import DROP, MisbehavingOP, id_token_header, signing_key

FAPI2_ID_TOKEN_ALGS = ("PS256", "ES256", "EdDSA")


@pytest.fixture
async def rp(op: MisbehavingOP, rp_factory: RPFactory) -> RP:
    op.use_key(signing_key("ps-1", "PS256"), "PS256")
    op.discovery["id_token_signing_alg_values_supported"] = ["PS256"]
    assert op.metadata()["authorization_response_iss_parameter_supported"] is True
    return await rp_factory(id_token_algs=FAPI2_ID_TOKEN_ALGS)


async def _refused_id_token(rp: RP, op: MisbehavingOP, mentions: str) -> None:
    await rp.assert_refused(await rp.login(), "invalid_id_token", mentions=mentions)
    assert op.hits["token"] == 1
    assert op.hits["userinfo"] == 0


async def _refused_authorization_response(
    rp: RP, op: MisbehavingOP, code: str, mentions: str
) -> None:
    await rp.assert_refused(await rp.login(), code, mentions=mentions)
    assert op.hits["token"] == 0


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


async def test_fapi2_client_test_token_type_case_insensitivity(rp: RP, op: MisbehavingOP) -> None:
    """fapi2-security-profile-final-client-test-token-type-case-insensitivity: RFC 6749 7.1."""
    op.token_body["token_type"] = "bEaReR"
    await rp.assert_logged_in(await rp.login())


async def test_fapi2_client_test_token_endpoint_response_without_expires_in(
    rp: RP, op: MisbehavingOP
) -> None:
    """fapi2-security-profile-final-client-test-token-endpoint-response-without-expires_in:
    ``expires_in`` is only RECOMMENDED; its absence is no reason to refuse the login."""
    op.token_body["expires_in"] = DROP
    body = await rp.assert_logged_in(await rp.login())
    assert body["expires_at"] is None
