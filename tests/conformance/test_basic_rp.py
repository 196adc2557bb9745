"""OpenID Connect Basic RP certification (``oidcc-client-basic-certification-test-plan``).

One test per module of the plan, named after it, each played end to end through HTTP:
``GET /auth/login`` → the (misbehaving) provider → ``GET /auth/callback`` → the answer a
certified RP must give. Refusals also check that nothing happened after the bad ID token (no
userinfo call), as the OpenID Foundation suite's "expect nothing after" modules do.
"""

from __future__ import annotations

import base64
from urllib.parse import parse_qs

from tests.conformance.conftest import RP, RPFactory
from tests.conformance.misbehaving_op import MisbehavingOP, id_token_header


async def _refused_id_token(rp: RP, op: MisbehavingOP, mentions: str) -> None:
    response = await rp.login()
    await rp.assert_refused(response, "invalid_id_token", mentions=mentions)
    assert op.hits["token"] == 1
    assert op.hits["userinfo"] == 0  # nothing after a refused ID token


async def test_oidcc_client_test(rp: RP, op: MisbehavingOP) -> None:
    """oidcc-client-test: code flow with PKCE, state and nonce; userinfo with a Bearer header."""
    response = await rp.login("/accounts?tab=cards")

    body = await rp.assert_logged_in(response, "/accounts?tab=cards")
    request = rp.authorization_request()
    assert request["response_type"] == "code"
    assert request["redirect_uri"] == "https://app.test/auth/callback"
    assert request["code_challenge_method"] == "S256"
    assert request["state"] and request["nonce"]
    assert "response_mode" not in request
    (token_request,) = op.requests_to("token")
    assert parse_qs(token_request.content.decode())["grant_type"] == ["authorization_code"]
    (userinfo,) = op.requests_to("userinfo")
    (access_token,) = op.issued_access_tokens
    assert userinfo.method == "GET"
    assert userinfo.headers["authorization"] == f"Bearer {access_token}"
    assert "access_token" not in str(userinfo.url) and userinfo.content == b""
    assert body["claims"]["email"] == "user@example.com"  # the userinfo answer was used


async def test_oidcc_client_test_invalid_iss(rp: RP, op: MisbehavingOP) -> None:
    """oidcc-client-test-invalid-iss: an ID token from another issuer is refused."""
    op.misbehave("oidcc-client-test-invalid-iss")
    await _refused_id_token(rp, op, "iss")


async def test_oidcc_client_test_missing_sub(rp: RP, op: MisbehavingOP) -> None:
    """oidcc-client-test-missing-sub: an ID token without ``sub`` is refused."""
    op.misbehave("oidcc-client-test-missing-sub")
    await _refused_id_token(rp, op, "sub")


async def test_oidcc_client_test_invalid_aud(rp: RP, op: MisbehavingOP) -> None:
    """oidcc-client-test-invalid-aud: an ID token for another client is refused."""
    op.misbehave("oidcc-client-test-invalid-aud")
    await _refused_id_token(rp, op, "aud")


async def test_oidcc_client_test_missing_iat(rp: RP, op: MisbehavingOP) -> None:
    """oidcc-client-test-missing-iat: an ID token without ``iat`` is refused."""
    op.misbehave("oidcc-client-test-missing-iat")
    await _refused_id_token(rp, op, "iat")


async def test_oidcc_client_test_kid_absent_single_jwks(rp: RP, op: MisbehavingOP) -> None:
    """oidcc-client-test-kid-absent-single-jwks: no ``kid``, one key published: accepted."""
    op.misbehave("oidcc-client-test-kid-absent-single-jwks")

    await rp.assert_logged_in(await rp.login())

    assert "kid" not in id_token_header(op.issued_id_tokens[-1])
    assert op.hits["jwks"] == 1


async def test_oidcc_client_test_kid_absent_multiple_jwks(rp: RP, op: MisbehavingOP) -> None:
    """oidcc-client-test-kid-absent-multiple-jwks: no ``kid`` and several RSA keys.

    The suite accepts an RP that tries the candidate keys or one that refuses; the kit tries
    every published key whose type and ``alg`` fit (the signing key is published last), and
    accepts the token when one verifies it — without refetching the JWKS for it.
    """
    op.misbehave("oidcc-client-test-kid-absent-multiple-jwks")

    await rp.assert_logged_in(await rp.login())

    assert "kid" not in id_token_header(op.issued_id_tokens[-1])
    assert len(op.jwks_keys) == 3 and op.jwks_keys[-1] is op.key
    assert op.hits["jwks"] == 1


async def test_oidcc_client_test_idtoken_sig_rs256(rp: RP, op: MisbehavingOP) -> None:
    """oidcc-client-test-idtoken-sig-rs256: an RS256 ID token with the published key: accepted."""
    op.misbehave("oidcc-client-test-idtoken-sig-rs256")

    await rp.assert_logged_in(await rp.login())

    header = id_token_header(op.issued_id_tokens[-1])
    assert (header["alg"], header["kid"]) == ("RS256", op.key.kid)


async def test_oidcc_client_test_idtoken_sig_none(rp: RP, op: MisbehavingOP) -> None:
    """oidcc-client-test-idtoken-sig-none: an unsigned ID token is refused (the suite allows
    accepting it in the code flow; the kit never does), even when discovery lists ``none``."""
    op.misbehave("oidcc-client-test-idtoken-sig-none")
    await _refused_id_token(rp, op, "algorithm")
    assert id_token_header(op.issued_id_tokens[-1])["alg"] == "none"


async def test_oidcc_client_test_invalid_sig_rs256(rp: RP, op: MisbehavingOP) -> None:
    """oidcc-client-test-invalid-sig-rs256: a signature the published key does not verify."""
    op.misbehave("oidcc-client-test-invalid-sig-rs256")
    await _refused_id_token(rp, op, "signature")


async def test_oidcc_client_test_userinfo_invalid_sub(rp: RP, op: MisbehavingOP) -> None:
    """oidcc-client-test-userinfo-invalid-sub: userinfo about another user fails the login."""
    op.misbehave("oidcc-client-test-userinfo-invalid-sub")

    response = await rp.login()

    await rp.assert_refused(response, "invalid_userinfo", mentions="sub")
    assert op.hits["userinfo"] == 1


async def test_oidcc_client_test_nonce_invalid(rp: RP, op: MisbehavingOP) -> None:
    """oidcc-client-test-nonce-invalid: an ID token with another login's nonce is refused."""
    op.misbehave("oidcc-client-test-nonce-invalid")
    await _refused_id_token(rp, op, "nonce")


async def test_oidcc_client_test_scope_userinfo_claims(rp: RP, op: MisbehavingOP) -> None:
    """oidcc-client-test-scope-userinfo-claims: profile and email scopes are asked for, and
    the claims only userinfo released are in the session."""
    op.misbehave("oidcc-client-test-scope-userinfo-claims")

    body = await rp.assert_logged_in(await rp.login())

    assert {"openid", "profile", "email"} <= set(rp.authorization_request()["scope"].split())
    for claim in ("email", "email_verified", "name", "given_name", "family_name"):
        assert body["claims"][claim] == op.userinfo_claims[claim], claim


async def test_oidcc_client_test_client_secret_basic(
    op: MisbehavingOP, rp_factory: RPFactory
) -> None:
    """oidcc-client-test-client-secret-basic: HTTP Basic with the form-urlencoded id and
    secret (RFC 6749 2.3.1), and no secret in the body. Characters that need encoding in both."""
    op.client_id = "client:1 \u00fc"
    op.client_secret = "s3cr:t/+ =&%\u00fc"
    op.misbehave("oidcc-client-test-client-secret-basic")
    rp = await rp_factory()

    await rp.assert_logged_in(await rp.login())

    (token_request,) = op.requests_to("token")
    encoded = "client%3A1+%C3%BC:s3cr%3At%2F%2B+%3D%26%25%C3%BC"
    basic = base64.b64encode(encoded.encode()).decode()
    assert token_request.headers["authorization"] == f"Basic {basic}"
    form = parse_qs(token_request.content.decode())
    assert "client_secret" not in form
    assert "s3cr" not in token_request.content.decode()
