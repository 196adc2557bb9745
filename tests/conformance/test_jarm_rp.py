"""JARM (JWT Secured Authorization Response Mode): the authorization response as one signed JWT.

The kit configured for ``response_mode`` ``query.jwt``, ``form_post.jwt`` or ``jwt`` logs in
with the provider's signed ``response`` and refuses, with a stable code and no session, every
response JWT a certified client must refuse: bad signature, wrong ``iss`` or ``aud``, expired or
without ``exp``, ``alg`` ``none``, an HMAC alg it does not allow, a ``kid`` the JWKS lacks,
``state`` outside the JWT, an encrypted (JWE) response, and a plain answer instead of a JWT.
"""

from __future__ import annotations

from urllib.parse import parse_qs

import httpx
import pytest

from tests.conformance.conftest import RP, RPFactory, client_key_pem
from tests.conformance.misbehaving_op import DROP, MisbehavingOP, id_token_header
from tests.fake_op import rsa_key


async def _login(rp: RP) -> httpx.Response:
    """A whole login, the provider answering in the JARM mode the RP asked for."""
    start = await rp.start_login("/accounts")
    assert start.status_code == 303, (start.status_code, start.text)
    location = start.headers["location"]
    if rp.op.requested(location).get("response_mode") == "form_post.jwt":
        return await rp.submit_form_post(rp.op.form_post_page(location))
    return await rp.return_from_provider(location)


@pytest.fixture
async def rp(op: MisbehavingOP, rp_factory: RPFactory) -> RP:
    op.jarm()
    return await rp_factory(response_mode="query.jwt")


@pytest.mark.parametrize("mode", ["query.jwt", "jwt", "form_post.jwt"])
async def test_jarm_login(op: MisbehavingOP, rp_factory: RPFactory, mode: str) -> None:
    """The mode is asked for, the provider's answer is ``response`` alone (a query for
    ``query.jwt`` and ``jwt``, a cross-site POST for ``form_post.jwt``), and it logs in."""
    op.jarm()
    rp = await rp_factory(response_mode=mode)

    response = await _login(rp)

    assert rp.authorization_request()["response_mode"] == mode
    (token,) = op.jarm_responses
    if mode == "form_post.jwt":
        assert response.request.method == "POST"
        assert parse_qs(response.request.content.decode()) == {"response": [token]}
    else:
        assert response.request.method == "GET"
        assert parse_qs(response.request.url.query.decode()) == {"response": [token]}
    await rp.assert_logged_in(response, "/accounts")
    assert op.hits["token"] == 1


#: The misbehaviour, the code, and a word of the description naming the check that refused.
REFUSED = [
    ("jarm_invalid_signature", "invalid_response_jwt", "signature"),
    ("jarm_invalid_iss", "invalid_response_jwt", "iss"),
    ("jarm_invalid_aud", "invalid_response_jwt", "aud"),
    ("jarm_secondary_aud", "invalid_response_jwt", "azp"),
    ("jarm_expired", "invalid_response_jwt", "expired"),
    ("jarm_missing_exp", "invalid_response_jwt", "exp is missing"),
    ("jarm_alg_none", "invalid_response_jwt", "algorithm"),
    ("jarm_hs256", "invalid_response_jwt", "algorithm"),
    ("jarm_unknown_kid", "invalid_response_jwt", "no provider key"),
    ("jarm_state_outside", "invalid_state", "no state"),
    ("jarm_encrypted", "encrypted_response_unsupported", "encrypted"),
]


@pytest.mark.parametrize(("case", "code", "mentions"), REFUSED, ids=[c[0] for c in REFUSED])
async def test_jarm_refused(rp: RP, op: MisbehavingOP, case: str, code: str, mentions: str) -> None:
    """Each bad response JWT: 400, its code, no session, the code never exchanged."""
    getattr(op, case)()

    await rp.assert_refused(await _login(rp), code, mentions=mentions)

    assert op.hits["token"] == 0


async def test_jarm_replayed_response_is_refused(rp: RP, op: MisbehavingOP) -> None:
    """The same valid response JWT sent to the callback again (by the browser's history, or
    an attacker who saw it): its login transaction is gone, 400 ``invalid_state``, and its
    code is never exchanged a second time."""
    await rp.assert_logged_in(await _login(rp), "/accounts")
    (token,) = op.jarm_responses
    await rp.switch_browser()

    replayed = await rp.browser.get("/auth/callback", params={"response": token})

    await rp.assert_refused(replayed, "invalid_state")
    assert op.hits["token"] == 1


async def test_jarm_refuses_a_plain_response(rp: RP, op: MisbehavingOP) -> None:
    """A provider (or an attacker) answering with plain ``code``/``state``/``iss`` when a JWT
    was asked for: refused, else JARM could be bypassed by leaving it out."""
    op._jarm_response = lambda params: params  # type: ignore[method-assign]

    await rp.assert_refused(await _login(rp), "invalid_response_jwt", mentions="response")
    assert op.hits["token"] == 0


async def test_jarm_reads_parameters_from_the_jwt_only(rp: RP, op: MisbehavingOP) -> None:
    """A ``code`` beside the JWT (which has none) is ignored: the callback has no code."""
    op.jarm_claims["code"] = DROP
    op.jarm_outside["code"] = "outside-code"

    await rp.assert_refused(await _login(rp), "invalid_request", mentions="no code")
    assert op.hits["token"] == 0


async def test_jarm_error_response(rp: RP, op: MisbehavingOP) -> None:
    """An error inside the JWT: the provider's code and description, no token request."""
    op.response_params = {"code": DROP, "error": "access_denied", "error_description": "No."}

    body = await rp.assert_refused(await _login(rp), "access_denied", status=401)

    assert body["error_description"] == "No."
    assert op.hits["token"] == 0


async def test_jarm_hs256_keyed_by_the_client_secret(
    op: MisbehavingOP, rp_factory: RPFactory
) -> None:
    """HS256 allowlisted (with a client secret) and advertised: verified with the secret."""
    op.jarm()
    op.jarm_hs256()
    rp = await rp_factory(response_mode="query.jwt", id_token_algs=("RS256", "HS256"))

    await rp.assert_logged_in(await _login(rp), "/accounts")
    assert id_token_header(op.jarm_responses[-1])["alg"] == "HS256"


async def test_jarm_algorithms_are_the_response_ones(rp: RP, op: MisbehavingOP) -> None:
    """The provider signs ID tokens in RS256 but advertises only PS256 for responses: an
    RS256 response is refused (its algorithm is checked against what is advertised for it)."""
    op.jarm(("PS256",))

    await rp.assert_refused(await _login(rp), "invalid_response_jwt", mentions="algorithm")


async def test_jarm_azp_allows_a_second_audience(rp: RP, op: MisbehavingOP) -> None:
    """Several audiences with ``azp`` this client: accepted, as in an ID token."""
    op.jarm_secondary_aud()
    op.jarm_claims["azp"] = op.client_id

    await rp.assert_logged_in(await _login(rp), "/accounts")


@pytest.mark.parametrize(
    ("discovery", "mentions"),
    [
        ({"response_modes_supported": ["query", "form_post"]}, "response_modes_supported"),
        ({"authorization_signing_alg_values_supported": DROP}, "authorization_signing_alg"),
        ({"authorization_signing_alg_values_supported": ["HS256"]}, "authorization_signing_alg"),
    ],
)
async def test_jarm_needs_the_provider_to_advertise_it(
    rp: RP, op: MisbehavingOP, discovery: dict[str, object], mentions: str
) -> None:
    """A provider that does not advertise the mode or an algorithm the client accepts: the
    login's start fails (502 ``invalid_discovery``) before the user is sent there."""
    op.discovery.update(discovery)

    start = await rp.start_login()

    assert start.status_code == 502, start.text
    assert start.json()["error"] == "invalid_discovery"
    assert mentions in start.json()["error_description"]
    assert op.authorization_requests == []


async def test_jarm_under_fapi2(op: MisbehavingOP, rp_factory: RPFactory) -> None:
    """FAPI 2.0 with JARM: PS256 responses log in; a second audience is refused even with
    ``azp``, and an RS256 response even when the provider advertises RS256 (the profile
    allows PS256, ES256 and EdDSA only)."""
    op.fapi2()
    op.jarm(("PS256",))
    rp = await rp_factory(
        profile="fapi2",
        client_key=client_key_pem("ES256"),
        client_secret=None,
        response_mode="query.jwt",
    )
    await rp.assert_logged_in(await _login(rp), "/accounts")
    assert id_token_header(op.jarm_responses[-1])["alg"] == "PS256"

    await rp.switch_browser()
    op.jarm_secondary_aud()
    op.jarm_claims["azp"] = op.client_id  # enough outside the profile, not under it
    await rp.assert_refused(await _login(rp), "invalid_response_jwt", mentions="aud")

    await rp.switch_browser()
    op.jarm_claims = {}
    op.discovery["authorization_signing_alg_values_supported"] = ["PS256", "RS256"]
    op.jarm_header = {"alg": "RS256", "kid": "k1"}
    op.jarm_sign_key = rsa_key("k1")
    op.jwks_keys = [*op.jwks_keys, rsa_key("k1")]
    await rp.assert_refused(await _login(rp), "invalid_response_jwt", mentions="algorithm")
