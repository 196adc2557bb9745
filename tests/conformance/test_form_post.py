"""Form Post Basic RP certification (``oidcc-client-formpost-basic-certification-test-plan``).

The Basic plan's modules again, with the kit configured for ``response_mode=form_post``: the
provider answers with a self-submitting form and the browser POSTs the authorization response
to ``/auth/callback`` from the provider's site. Like a browser, the driver sends on that
cross-site POST only the cookies marked ``SameSite=None; Secure``: the login must survive it.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conformance.conftest import LOGIN_COOKIE, RP, RPFactory
from tests.conformance.misbehaving_op import DROP, MisbehavingOP

#: The Basic plan's modules a certified RP passes by logging the user in.
ACCEPTED = [
    "oidcc-client-test-kid-absent-single-jwks",
    "oidcc-client-test-kid-absent-multiple-jwks",
    "oidcc-client-test-idtoken-sig-rs256",
    "oidcc-client-test-scope-userinfo-claims",
    "oidcc-client-test-client-secret-basic",
]

#: The Basic plan's modules a certified RP passes by refusing: the code, and a word of the
#: description naming the check that refused.
REFUSED = [
    ("oidcc-client-test-invalid-iss", "invalid_id_token", "iss"),
    ("oidcc-client-test-missing-sub", "invalid_id_token", "sub"),
    ("oidcc-client-test-invalid-aud", "invalid_id_token", "aud"),
    ("oidcc-client-test-missing-iat", "invalid_id_token", "iat"),
    ("oidcc-client-test-idtoken-sig-none", "invalid_id_token", "algorithm"),
    ("oidcc-client-test-invalid-sig-rs256", "invalid_id_token", "signature"),
    ("oidcc-client-test-userinfo-invalid-sub", "invalid_userinfo", "sub"),
    ("oidcc-client-test-nonce-invalid", "invalid_id_token", "nonce"),
]


@pytest.fixture
async def rp(rp_factory: RPFactory) -> RP:
    return await rp_factory(response_mode="form_post")


async def test_oidcc_client_test_form_post(rp: RP, op: MisbehavingOP) -> None:
    """oidcc-client-test with form_post: ``response_mode=form_post`` is asked for, the login
    cookie can travel on the provider's cross-site POST, and the POSTed response logs in."""
    start = await rp.start_login("/accounts")
    assert start.status_code == 303
    query = parse_qs(urlsplit(start.headers["location"]).query)
    assert query["response_mode"] == ["form_post"]
    (login_cookie,) = start.headers.get_list("set-cookie")
    assert login_cookie.startswith(f"{LOGIN_COOKIE}=")
    for attribute in ("SameSite=none", "Secure", "HttpOnly", "Path=/"):
        assert attribute in login_cookie

    response = await rp.return_from_provider(start.headers["location"])

    assert response.request.method == "POST"
    assert response.request.url.query == b""  # the response came in the body only
    sent = response.request.headers["cookie"].split("; ")
    assert [c.partition("=")[0] for c in sent] == [LOGIN_COOKIE]  # SameSite=None, alone
    assert "code=" in response.request.content.decode()
    await rp.assert_logged_in(response, "/accounts")
    (userinfo,) = op.requests_to("userinfo")
    assert userinfo.headers["authorization"] == f"Bearer {op.issued_access_tokens[-1]}"


@pytest.mark.parametrize("case", ACCEPTED)
async def test_oidcc_client_formpost_basic_plan_accepted(
    rp: RP, op: MisbehavingOP, case: str
) -> None:
    """The accepting modules through form_post: a session with the userinfo claims."""
    op.misbehave(case)

    body = await rp.assert_logged_in(await rp.login())

    assert rp.authorization_request()["response_mode"] == "form_post"
    for claim, value in op.userinfo_claims.items():
        assert body["claims"][claim] == value, claim


@pytest.mark.parametrize(("case", "code", "mentions"), REFUSED, ids=[c[0] for c in REFUSED])
async def test_oidcc_client_formpost_basic_plan_refused(
    rp: RP, op: MisbehavingOP, case: str, code: str, mentions: str
) -> None:
    """The refusing modules through form_post: 400, the code, no session."""
    op.misbehave(case)

    response = await rp.login()

    assert response.request.method == "POST"
    await rp.assert_refused(response, code, mentions=mentions)


@pytest.mark.parametrize("error", ["access_denied", "consent_required"])
async def test_oidcc_client_test_form_post_error(rp: RP, op: MisbehavingOP, error: str) -> None:
    """form-post-error: the provider POSTs back an ``error`` (with ``state`` and ``iss``)
    instead of a code. The provider's code is the answer's, its description is kept, the
    token endpoint is never called, no session is made."""
    op.response_params = {"code": DROP, "error": error, "error_description": "The user said no"}

    response = await rp.login()

    assert response.request.method == "POST"
    body = await rp.assert_refused(response, error, status=401)
    assert body["error_description"] == "The user said no"
    assert op.hits["token"] == 0
