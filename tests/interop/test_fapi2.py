"""Interop, FAPI 2.0: the example_app process (``OIDC_PROFILE=fapi2``) against oidc-provider
in its FAPI 2.0 Security Profile mode (``provider.js`` with ``FAPI2=1``).

There the provider requires pushed authorization requests (RFC 9126), accepts only
``private_key_jwt`` client authentication (RFC 7523) whose assertion ``aud`` is exactly its
issuer, binds every access token to the client's DPoP key (RFC 9449), signs with PS256, and
requires PKCE. The app signs its assertions with its own key and publishes the public half at
``/auth/jwks``, where the provider fetches it.

In this mode the provider logs, per request, what it saw of the client assertion (header and
claims, never the signature) and of the DPoP proof (``jkt`` of its key, ``htm``, ``htu``, whether
it had ``ath`` and ``nonce``), and per access token its format and ``jkt``: the tests read PAR,
private_key_jwt and the binding from there.

Two stacks: ``fapi_stack`` (RSA key, PS256, in a PEM file; the provider fetches the app's JWKS;
JWT access tokens for ORCA) and ``fapi_nonce_stack`` (EC key, ES256, inline JWK registered
inline; DPoP nonces required everywhere; the provider's own opaque access tokens, which its
userinfo answers).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.interop.stack import (
    CLIENT_ID,
    Browser,
    FapiStack,
    OidcProvider,
    field_value,
    json_field,
    print_logs,
    stacks_used,
    wait_until,
)

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def _assert_private_key_jwt(line: str, stack: FapiStack) -> None:
    """The request line carries a client assertion as FAPI 2.0 and RFC 7523 want it."""
    assertion = json_field(line, "client_assertion")
    assert assertion == {
        "type": ASSERTION_TYPE,
        "alg": stack.client_alg,
        "kid": stack.client_key.thumbprint(),  # the kit's kid: the RFC 7638 thumbprint
        "typ": assertion.get("typ"),  # the kit may set JWT or omit it: not asserted
        "iss": CLIENT_ID,
        "sub": CLIENT_ID,
        "aud": stack.provider.issuer,  # a string, exactly the issuer (FAPI 2.0)
        "lifetime": assertion["lifetime"],
        "jti": True,
    }, line
    assert isinstance(assertion["lifetime"], int) and 0 < assertion["lifetime"] <= 60, line


def _dpop(line: str, provider: OidcProvider, htm: str, path: str) -> dict[str, object]:
    """The DPoP proof on the request line, checked for ``htm`` and ``htu``."""
    proof = json_field(line, "dpop")
    assert proof["typ"] == "dpop+jwt" and proof["alg"] == "ES256", line
    assert proof["htm"] == htm and proof["htu"] == provider.issuer + path, line
    return proof


@pytest.fixture
def fapi_browser(fapi_stack: FapiStack) -> Iterator[Browser]:
    with fapi_stack.browser() as b:
        yield b


@pytest.fixture
def nonce_browser(fapi_nonce_stack: FapiStack) -> Iterator[Browser]:
    with fapi_nonce_stack.browser() as b:
        yield b


@pytest.fixture(autouse=True)
def _logs(request: pytest.FixtureRequest) -> Iterator[None]:
    stacks = stacks_used(request, "fapi_stack", "fapi_nonce_stack")
    yield
    print_logs(*stacks)


# --- the provider is configured as FAPI 2.0 ---------------------------------------------------


def test_the_provider_requires_par_private_key_jwt_and_dpop(fapi_stack: FapiStack) -> None:
    """What the provider announces in FAPI 2.0 mode (the kit reads the same document)."""
    meta = httpx.get(f"{fapi_stack.provider.issuer}/.well-known/openid-configuration").json()

    assert meta["require_pushed_authorization_requests"] is True
    assert meta["pushed_authorization_request_endpoint"] == fapi_stack.provider.issuer + "/request"
    assert meta["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    assert meta["token_endpoint_auth_signing_alg_values_supported"] == ["PS256", "ES256", "EdDSA"]
    assert meta["dpop_signing_alg_values_supported"] == ["ES256", "EdDSA"]
    assert meta["id_token_signing_alg_values_supported"] == ["PS256"]
    assert meta["authorization_response_iss_parameter_supported"] is True
    assert meta["code_challenge_methods_supported"] == ["S256"]


def test_a_plain_authorization_request_is_refused(fapi_stack: FapiStack) -> None:
    """Without PAR, a complete, otherwise valid authorization request (PKCE, state, nonce, the
    registered redirect URI) is sent back to the app with an error: PAR is really required."""
    provider, app = fapi_stack.provider, fapi_stack.app
    verifier = secrets.token_urlsafe(32)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    params = {
        "client_id": CLIENT_ID,
        "response_type": "code",
        "scope": "openid",
        "redirect_uri": f"{app.base_url}/auth/callback",
        "state": "plain-state",
        "nonce": "plain-nonce",
        "code_challenge": challenge.rstrip(b"=").decode(),
        "code_challenge_method": "S256",
    }
    mark = provider.mark()

    answer = httpx.get(f"{provider.issuer}/auth", params=params)

    assert answer.status_code == 303, answer.text
    back = urlsplit(answer.headers["location"])
    assert f"{back.scheme}://{back.netloc}{back.path}" == f"{app.base_url}/auth/callback"
    query = {k: v[0] for k, v in parse_qs(back.query).items()}
    assert query == {
        "error": "invalid_request",
        "error_description": "Pushed Authorization Request must be used",
        "state": "plain-state",
        "iss": provider.issuer,
    }
    [refusal] = provider.lines(r"event=authorization\.error", since=mark)
    assert 'detail="Pushed Authorization Request must be used"' in refusal
    assert not provider.lines(r"event=interaction\.started", since=mark)


# --- the flow: PAR + private_key_jwt + DPoP ---------------------------------------------------


def test_login_through_par_with_private_key_jwt_and_dpop(
    fapi_stack: FapiStack, fapi_browser: Browser
) -> None:
    """The app pushes its request with a client assertion, redirects with only ``client_id``
    and ``request_uri``, and redeems the code with a client assertion and a DPoP proof: the
    provider issues a DPoP-bound (``cnf.jkt``) PS256 JWT access token and a PS256 ID token."""
    provider = fapi_stack.provider
    mark = provider.mark()

    answer = fapi_browser.login("alice", next_path="/accounts")

    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/accounts"
    assert fapi_browser.provider_pages == ["login", "consent"]
    session = fapi_browser.session_body()
    assert session["sub"] == "alice"
    claims = session["claims"]
    assert isinstance(claims, dict)
    assert claims["iss"] == provider.issuer and claims["aud"] == CLIENT_ID

    # PAR, authenticated with private_key_jwt; the app's public key came from its /auth/jwks.
    [pushed] = provider.lines(r"POST /request ", since=mark)
    assert pushed.split()[3] == "201", pushed
    _assert_private_key_jwt(pushed, fapi_stack)
    assert provider.lines(
        rf"event=pushed_authorization_request\.success client={CLIENT_ID} "
        r"auth_method=private_key_jwt",
        since=mark,
    )
    jwks = fapi_browser.get("/auth/jwks").json()
    assert [k["kid"] for k in jwks["keys"]] == [fapi_stack.client_key.thumbprint()]
    assert {k["alg"] for k in jwks["keys"]} == {"PS256"}
    assert "d" not in jwks["keys"][0] and "p" not in jwks["keys"][0]  # public only
    # The browser went to the authorization endpoint with only client_id and request_uri.
    [authorize] = provider.lines(r"GET /auth 303 ", since=mark)
    assert "params=client_id,request_uri request_uri=1" in authorize, authorize

    # The code redeemed with private_key_jwt and a DPoP proof for POST /token.
    [token] = provider.lines(r"POST /token ", since=mark)
    assert token.split()[3] == "200", token
    _assert_private_key_jwt(token, fapi_stack)
    proof = _dpop(token, provider, "POST", "/token")
    assert proof["ath"] is False  # no access token yet
    # The code was bound at PAR to the same key (RFC 9449 10.1): a stolen code needs it too.
    assert _dpop(pushed, provider, "POST", "/request")["jkt"] == proof["jkt"]
    [grant] = provider.lines(r"event=grant\.success", since=mark)
    assert f"grant_type=authorization_code client={CLIENT_ID} sub=alice" in grant
    assert "token_type=DPoP auth_method=private_key_jwt" in grant
    assert "id_token_alg=PS256 access_token_alg=PS256" in grant
    # The access token is bound to the key of that proof: cnf.jkt in the JWT.
    assert field_value(grant, "cnf_jkt") == proof["jkt"]
    [issued] = provider.lines(r"event=access_token\.issued", since=mark)
    assert f"format=jwt client={CLIENT_ID} aud=urn:portx:orca jkt={proof['jkt']}" in issued


def test_userinfo_is_called_with_dpop(fapi_stack: FapiStack, fapi_browser: Browser) -> None:
    """The kit presents the DPoP-bound token at userinfo with ``Authorization: DPoP`` and a
    proof carrying ``ath``; oidc-provider refuses JWT access tokens for ORCA there (it answers
    its own opaque tokens only: see the nonce stack), and the kit keeps the ID token's claims."""
    provider = fapi_stack.provider
    mark = provider.mark()

    fapi_browser.login("bob")

    [userinfo] = provider.lines(r"GET /me ", since=mark)
    assert "auth_scheme=DPoP" in userinfo, userinfo
    proof = _dpop(userinfo, provider, "GET", "/me")
    assert proof["ath"] is True
    [grant] = provider.lines(r"event=grant\.success", since=mark)
    assert proof["jkt"] == field_value(grant, "cnf_jkt")  # the same per-session key
    claims = fapi_browser.session_body()["claims"]
    assert isinstance(claims, dict)
    assert claims["email"] == "bob@example.com" and claims["name"] == "Bob Berg"


def test_accounts_at_the_sandbox_orca_with_dpop(
    fapi_stack: FapiStack, fapi_browser: Browser
) -> None:
    """/api/accounts: the app calls its sandbox ORCA with the DPoP-bound JWT and a proof;
    ORCA checks the provider's PS256 signature, ``aud`` and the proof against ``cnf.jkt``."""
    fapi_browser.login("alice")
    mark, app_mark = fapi_stack.provider.mark(), len(fapi_stack.app.log())

    response = fapi_browser.get("/api/accounts")

    assert response.status_code == 200, response.text
    accounts = response.json()["data"]
    assert accounts and all(a["id"].startswith("acc-") for a in accounts)
    # ORCA accepted the first proof: one call, no 401 and no refresh to recover from one.
    calls = [
        line
        for line in fapi_stack.app.log()[app_mark:].splitlines()
        if "/sandbox/orca/v1/accounts" in line and "HTTP Request" in line
    ]
    assert len(calls) == 1 and '"HTTP/1.1 200 OK"' in calls[0], calls
    assert fapi_stack.provider.refresh_grants(since=mark) == 0


def test_refresh_after_expiry_with_dpop(fapi_stack: FapiStack, fapi_browser: Browser) -> None:
    """After real expiry the refresh grant goes with a client assertion and a proof from the
    session's same DPoP key; the new access token is bound to it; ORCA accepts it."""
    provider = fapi_stack.provider
    mark = provider.mark()
    fapi_browser.login("alice")
    [login_grant] = provider.lines(r"event=grant\.success", since=mark)
    jkt = field_value(login_grant, "cnf_jkt")

    for _ in range(2):
        expires_at = fapi_browser.expires_at()
        mark = provider.mark()
        wait_until(expires_at + 0.01)

        response = fapi_browser.get("/api/accounts")

        assert response.status_code == 200, response.text
        [grant] = provider.lines(r"event=grant\.(success|error)", since=mark)
        assert f"grant.success grant_type=refresh_token client={CLIENT_ID}" in grant
        assert "token_type=DPoP auth_method=private_key_jwt" in grant
        assert field_value(grant, "cnf_jkt") == jkt
        [token] = provider.lines(r"POST /token ", since=mark)
        _assert_private_key_jwt(token, fapi_stack)
        assert _dpop(token, provider, "POST", "/token")["jkt"] == jkt
        assert len(provider.lines(r"event=refresh_token\.consumed", since=mark)) == 1
        assert fapi_browser.expires_at() > expires_at


def test_logout_revokes_with_private_key_jwt(fapi_stack: FapiStack, fapi_browser: Browser) -> None:
    """POST /auth/logout: the refresh token is revoked at the revocation endpoint, the client
    authenticated with a client assertion; then the provider's end-session page."""
    provider = fapi_stack.provider
    fapi_browser.login("alice")
    mark = provider.mark()

    answer = fapi_browser.post("/auth/logout", headers={"Origin": fapi_stack.app.base_url})

    assert answer.status_code == 303, answer.text
    assert answer.headers["location"].startswith(provider.issuer + "/session/end?")
    revocations = provider.lines(r"POST /token/revocation ", since=mark)
    assert revocations, "no revocation request"
    for line in revocations:
        _assert_private_key_jwt(line, fapi_stack)
    # The refresh token: revoked, and with it oidc-provider revokes the whole grant.
    assert revocations[0].split()[3] == "200", revocations
    assert provider.lines(r"event=grant\.revoked .*route=revocation", since=mark)
    # The kit may also offer the access token: oidc-provider refuses to revoke JWTs (400
    # unsupported_token_type), which is no client authentication failure.
    for refusal in provider.lines(r"event=revocation\.error", since=mark):
        assert "error=unsupported_token_type" in refusal, refusal
    assert fapi_browser.session().status_code == 401

    back = fapi_browser.follow(fapi_browser.get(answer.headers["location"]))
    assert back.status_code == 200
    assert back.url.path == "/"
    assert provider.lines(r"event=end_session\.success", since=mark)


# --- DPoP nonces (the provider requires them) and userinfo --------------------------------------


def test_dpop_nonce_retry_and_userinfo(fapi_nonce_stack: FapiStack, nonce_browser: Browser) -> None:
    """The PAR endpoint answers the first proof, without a nonce, with 400 ``use_dpop_nonce``
    and a ``DPoP-Nonce``; the kit retries once with it, and the code is bound to the session's
    key (RFC 9449 10.1). The token request then carries the remembered nonce and the same key.
    Userinfo (which would answer 401 ``WWW-Authenticate: DPoP error="use_dpop_nonce"`` without
    one) gets a proof with the nonce and answers the DPoP-bound opaque token. The client key is
    EC (ES256 assertions), given inline and registered inline."""
    s = fapi_nonce_stack
    provider = s.provider
    mark = provider.mark()

    answer = nonce_browser.login("alice")

    assert answer.status_code == 303, answer.text
    # PAR: a proof of the session's key; refused for the missing nonce, retried once with it.
    pushed = provider.lines(r"POST /request ", since=mark)
    assert [p.split()[3] for p in pushed] == ["400", "201"], pushed
    assert [_dpop(p, provider, "POST", "/request")["nonce"] for p in pushed] == [False, True]
    assert "dpop_nonce_sent=1" in pushed[0]
    for line in pushed:
        _assert_private_key_jwt(line, s)
    jkt = _dpop(pushed[1], provider, "POST", "/request")["jkt"]
    # The token request: the nonce is known now; the key is the one the code is bound to.
    [token] = provider.lines(r"POST /token ", since=mark)
    assert token.split()[3] == "200", token
    proof = _dpop(token, provider, "POST", "/token")
    assert proof["nonce"] is True and proof["jkt"] == jkt
    _assert_private_key_jwt(token, s)
    [grant] = provider.lines(r"event=grant\.success", since=mark)
    assert "token_type=DPoP auth_method=private_key_jwt" in grant
    [issued] = provider.lines(r"event=access_token\.issued", since=mark)
    assert f"format=opaque client={CLIENT_ID} aud=- jkt={jkt}" in issued
    # Userinfo: the nonce the token endpoint handed out is reused (same origin): 200 at once.
    [userinfo] = provider.lines(r"GET /me ", since=mark)
    assert userinfo.split()[3] == "200", userinfo
    proof = _dpop(userinfo, provider, "GET", "/me")
    assert proof["ath"] is True and proof["nonce"] is True and proof["jkt"] == jkt
    assert "auth_scheme=DPoP" in userinfo
    assert not provider.lines(r"event=userinfo\.error", since=mark)
    # The claims came from userinfo (and the ID token): the session has them.
    claims = nonce_browser.session_body()["claims"]
    assert isinstance(claims, dict)
    assert claims["sub"] == "alice" and claims["email"] == "alice@example.com"
    assert claims["name"] == "Alice Anders"


def test_refresh_with_dpop_nonces(fapi_nonce_stack: FapiStack, nonce_browser: Browser) -> None:
    """After expiry the refresh grant succeeds with a nonce in the proof (retrying once if the
    remembered nonce went stale). The ORCA call that triggered it is not asserted: these are
    the provider's opaque tokens, which ORCA does not accept."""
    provider = fapi_nonce_stack.provider
    nonce_browser.login("alice")
    expires_at = nonce_browser.expires_at()
    mark = provider.mark()
    wait_until(expires_at + 0.01)

    nonce_browser.get("/api/accounts")

    grants = provider.lines(r"event=grant\.(success|error)", since=mark)
    successes = [g for g in grants if "grant.success grant_type=refresh_token" in g]
    assert successes, grants
    assert all("token_type=DPoP auth_method=private_key_jwt" in g for g in successes)
    errors = [g for g in grants if "grant.error" in g]
    assert all("error=use_dpop_nonce" in e for e in errors), errors
    tokens = [t for t in provider.lines(r"POST /token 200", since=mark)]
    assert tokens and all(_dpop(t, provider, "POST", "/token")["nonce"] for t in tokens)
    assert nonce_browser.expires_at() > expires_at
