"""The sandbox OpenID Provider: the happy path, and each refusal a strict provider owes an RP."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import secrets
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, quote_plus, urlsplit

import httpx
import pytest
from joserfc import jwk, jws, jwt
from starlette.applications import Starlette
from starlette.routing import Mount

import oidc_kit.testing as testing
from oidc_kit.testing import SANDBOX_USERS, SandboxClient, SandboxProvider

ISSUER = "http://op.test"
REDIRECT = "http://app.test/auth/callback"
AFTER_LOGOUT = "http://app.test/"
SCOPE = "openid profile email offline_access accounts:read"


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def op(clock: Clock) -> SandboxProvider:
    clients = [
        SandboxClient("app", "app-secret", (REDIRECT,), post_logout_redirect_uris=(AFTER_LOGOUT,)),
        SandboxClient(
            "post-only", "post-secret", (REDIRECT,), token_endpoint_auth_method="client_secret_post"
        ),
        SandboxClient("odd", "s3cr/t+:x%", (REDIRECT,)),
    ]
    return SandboxProvider(ISSUER, clients, clock=clock)


@pytest.fixture
async def browser(op: SandboxProvider) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=op.app)
    async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as client:
        yield client


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def auth_params(challenge: str, **overrides: str | None) -> dict[str, str]:
    params: dict[str, str | None] = {
        "client_id": "app",
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "scope": SCOPE,
        "state": "st-123",
        "nonce": "n-456",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **overrides,
    }
    return {k: v for k, v in params.items() if v is not None}


def callback(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith(REDIRECT + "?") or location.startswith(AFTER_LOGOUT + "?")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def interaction_of(page: httpx.Response) -> str:
    found = re.search(r'name="interaction" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


async def login(
    browser: httpx.AsyncClient, params: dict[str, str], user: str = "alice", password: str = "alice"
) -> httpx.Response:
    """Log in through the form, or through the OP session (SSO) if the browser has one."""
    page = await browser.get("/authorize", params=params)
    if page.status_code == 303:
        return page
    assert page.status_code == 200, page.text
    form = {"interaction": interaction_of(page), "username": user, "password": password}
    return await browser.post("/login", data=form)


async def get_code(browser: httpx.AsyncClient, **overrides: str | None) -> tuple[str, str]:
    verifier, challenge = pkce()
    got = callback(await login(browser, auth_params(challenge, **overrides)))
    return got["code"], verifier


async def exchange(
    browser: httpx.AsyncClient,
    code: str,
    verifier: str,
    auth: tuple[str, str] | None = ("app", "app-secret"),
    **extra: str,
) -> httpx.Response:
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    form |= {"code_verifier": verifier, **extra}
    return await browser.post("/token", data=form, auth=auth or httpx.USE_CLIENT_DEFAULT)


async def tokens(browser: httpx.AsyncClient, **overrides: str | None) -> dict[str, Any]:
    code, verifier = await get_code(browser, **overrides)
    response = await exchange(browser, code, verifier)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def refresh(browser: httpx.AsyncClient, token: str, **extra: str) -> httpx.Response:
    form = {"grant_type": "refresh_token", "refresh_token": token, **extra}
    return await browser.post("/token", data=form, auth=("app", "app-secret"))


async def userinfo(browser: httpx.AsyncClient, access_token: str) -> httpx.Response:
    return await browser.get("/userinfo", headers={"Authorization": f"Bearer {access_token}"})


async def verify(browser: httpx.AsyncClient, token: str, clock: Clock) -> jwt.Token:
    keys = jwk.KeySet.import_key_set((await browser.get("/jwks")).json())
    decoded = jwt.decode(token, keys, algorithms=["RS256"])
    jwt.JWTClaimsRegistry(now=int(clock()), iss={"essential": True, "value": ISSUER}).validate(
        decoded.claims
    )
    return decoded


async def silent_login(op: SandboxProvider, session_cookie: str) -> dict[str, str]:
    """A prompt=none request from another browser replaying ``session_cookie``."""
    transport = httpx.ASGITransport(app=op.app)
    cookies = {"sandbox_op_session": session_cookie}
    async with httpx.AsyncClient(transport=transport, base_url=ISSUER, cookies=cookies) as b:
        return callback(await b.get("/authorize", params=auth_params(pkce()[1], prompt="none")))


def assert_error(response: httpx.Response, error: str, status: int = 400) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"] == error
    assert response.headers["cache-control"] == "no-store"


def test_public_api_is_exported_and_sorted() -> None:
    # Sorted as every public module's (tests/test_public_api.py): constants first.
    assert testing.__all__ == sorted(testing.__all__, key=lambda n: (not n.isupper(), n))
    assert all(hasattr(testing, name) for name in testing.__all__)
    alice, bob = SANDBOX_USERS
    assert (alice.username, alice.password, alice.sub) == ("alice", "alice", "sandbox-alice")
    assert (bob.claims["name"], bob.sub) == ("Bob Example", "sandbox-bob")


async def test_discovery(browser: httpx.AsyncClient) -> None:
    meta = (await browser.get("/.well-known/openid-configuration")).json()
    assert meta["issuer"] == ISSUER
    for name, path in [
        ("authorization_endpoint", "/authorize"),
        ("token_endpoint", "/token"),
        ("userinfo_endpoint", "/userinfo"),
        ("jwks_uri", "/jwks"),
        ("revocation_endpoint", "/revoke"),
        ("end_session_endpoint", "/logout"),
        ("pushed_authorization_request_endpoint", "/par"),
    ]:
        assert meta[name] == ISSUER + path
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["response_modes_supported"][:2] == ["query", "form_post"]  # + JARM's
    assert meta["id_token_signing_alg_values_supported"] == ["RS256"]
    assert meta["token_endpoint_auth_methods_supported"] == [
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
    ]
    assert meta["token_endpoint_auth_signing_alg_values_supported"] == ["PS256", "ES256"]
    assert meta["dpop_signing_alg_values_supported"] == ["ES256", "PS256", "EdDSA"]
    assert "require_pushed_authorization_requests" not in meta
    assert meta["authorization_response_iss_parameter_supported"] is True
    assert meta["backchannel_logout_supported"] is True
    assert meta["backchannel_logout_session_supported"] is True
    assert "cards:write" in meta["scopes_supported"]
    assert {"sid", "email", "name"} <= set(meta["claims_supported"])


@pytest.mark.parametrize("scheme", ["http", "https"])
async def test_mounted_under_a_path(clock: Clock, scheme: str) -> None:
    origin = f"{scheme}://127.0.0.1:8000"
    issuer = origin + "/sandbox/op"
    op = SandboxProvider(issuer, [SandboxClient("app", "app-secret", (REDIRECT,))], clock=clock)
    host = Starlette(routes=[Mount("/sandbox/op", app=op.app)])
    transport = httpx.ASGITransport(app=host)
    async with httpx.AsyncClient(transport=transport, base_url=origin) as b:
        meta = (await b.get("/sandbox/op/.well-known/openid-configuration")).json()
        assert meta["token_endpoint"] == issuer + "/token"
        page = await b.get("/sandbox/op/authorize", params=auth_params(pkce()[1]))
        assert f'action="{issuer}/login"' in page.text
        form = {"interaction": interaction_of(page), "username": "bob", "password": "bob"}
        done = await b.post("/sandbox/op/login", data=form)
    assert callback(done)["iss"] == issuer
    cookie = done.headers["set-cookie"]
    assert "Path=/sandbox/op" in cookie and ("Secure" in cookie) == (scheme == "https")


def test_configuration_is_checked() -> None:
    client = SandboxClient("app", "s", (REDIRECT,))
    for issuer in ("op.test", "http://op.test/", "http://op.test?x=1"):
        with pytest.raises(ValueError, match="issuer"):
            SandboxProvider(issuer, [client])
    with pytest.raises(ValueError, match="duplicate client_id"):
        SandboxProvider(ISSUER, [client, client])
    with pytest.raises(ValueError, match="fragment"):
        SandboxClient("app", "s", (REDIRECT + "#x",))
    with pytest.raises(ValueError, match="public client"):
        SandboxClient("app", None, (REDIRECT,), token_endpoint_auth_method="client_secret_post")


async def test_code_flow_with_pkce(browser: httpx.AsyncClient, clock: Clock) -> None:
    verifier, challenge = pkce()
    page = await browser.get("/authorize", params=auth_params(challenge))
    assert 'name="username"' in page.text and 'name="password"' in page.text
    assert "Sandbox provider — users alice/alice, bob/bob" in page.text
    form = {"interaction": interaction_of(page), "username": "alice", "password": "alice"}
    done = await browser.post("/login", data=form)
    got = callback(done)
    assert (got["state"], got["iss"]) == ("st-123", ISSUER)
    cookie = done.headers["set-cookie"].lower()
    assert "sandbox_op_session=" in cookie and "httponly" in cookie and "samesite=lax" in cookie

    response = await exchange(browser, got["code"], verifier)
    assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert body["scope"] == SCOPE and body["refresh_token"]

    id_token = await verify(browser, body["id_token"], clock)
    claims = id_token.claims
    assert id_token.header["kid"] == (await browser.get("/jwks")).json()["keys"][0]["kid"]
    assert (claims["sub"], claims["aud"], claims["azp"]) == ("sandbox-alice", "app", "app")
    assert (claims["nonce"], claims["auth_time"]) == ("n-456", int(clock()))
    assert claims["name"] == "Alice Example" and claims["email_verified"] is True
    assert claims["sid"] and claims["exp"] == int(clock()) + 600
    digest = hashlib.sha256(body["access_token"].encode()).digest()[:16]
    assert claims["at_hash"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    access = await verify(browser, body["access_token"], clock)
    assert access.header["typ"] == "at+jwt"
    assert (access.claims["aud"], access.claims["client_id"]) == ("orca", "app")
    assert access.claims["scope"] == SCOPE and access.claims["jti"]
    info = (await userinfo(browser, body["access_token"])).json()
    assert info["sub"] == "sandbox-alice" and info["email"] == "alice@example.com"


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"code_challenge": None, "code_challenge_method": None}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge_method": None}, "invalid_request"),
        ({"code_challenge": "too-short"}, "invalid_request"),
        ({"nonce": None}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": "profile email"}, "invalid_scope"),
        ({"scope": "openid admin"}, "invalid_scope"),
        ({"prompt": "none login"}, "invalid_request"),
        ({"max_age": "-1"}, "invalid_request"),
        ({"response_mode": "fragment"}, "invalid_request"),
    ],
)
async def test_refusals_go_back_to_the_redirect_uri(
    browser: httpx.AsyncClient, overrides: dict[str, str | None], error: str
) -> None:
    response = await browser.get("/authorize", params=auth_params(pkce()[1], **overrides))
    got = callback(response)
    assert got["error"] == error and got["error_description"]
    assert (got["state"], got["iss"]) == ("st-123", ISSUER)


@pytest.mark.parametrize(
    "overrides",
    [
        {"client_id": "nobody"},
        {"client_id": None},
        {"redirect_uri": "http://evil.test/cb"},
        {"redirect_uri": REDIRECT + "/"},
        {"redirect_uri": None},
    ],
)
async def test_untrusted_client_or_redirect_uri_gets_a_page(
    browser: httpx.AsyncClient, overrides: dict[str, str | None]
) -> None:
    response = await browser.get("/authorize", params=auth_params(pkce()[1], **overrides))
    assert response.status_code == 400 and "location" not in response.headers
    assert "text/html" in response.headers["content-type"]


async def test_repeated_parameter_is_refused(browser: httpx.AsyncClient) -> None:
    query = httpx.QueryParams(auth_params(pkce()[1])).add("nonce", "other")
    response = await browser.get("/authorize", params=query)
    assert response.status_code == 400 and "location" not in response.headers
    assert "&#39;nonce&#39; is repeated" in response.text


async def test_wrong_verifier_refused_and_code_burnt(browser: httpx.AsyncClient) -> None:
    code, verifier = await get_code(browser)
    assert_error(await exchange(browser, code, pkce()[0]), "invalid_grant")
    assert_error(await exchange(browser, code, verifier), "invalid_grant")


async def test_missing_or_malformed_verifier(browser: httpx.AsyncClient) -> None:
    code, _ = await get_code(browser)
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    response = await browser.post("/token", data=form, auth=("app", "app-secret"))
    assert_error(response, "invalid_request")
    code, _ = await get_code(browser)
    assert_error(await exchange(browser, code, "short"), "invalid_request")


async def test_code_replay_revokes_tokens(browser: httpx.AsyncClient) -> None:
    code, verifier = await get_code(browser)
    first = (await exchange(browser, code, verifier)).json()
    assert (await userinfo(browser, first["access_token"])).status_code == 200
    assert_error(await exchange(browser, code, verifier), "invalid_grant")
    assert (await userinfo(browser, first["access_token"])).status_code == 401
    assert_error(await refresh(browser, first["refresh_token"]), "invalid_grant")


async def test_code_bound_to_redirect_uri_client_and_time(
    browser: httpx.AsyncClient, clock: Clock
) -> None:
    code, verifier = await get_code(browser)
    response = await exchange(browser, code, verifier, redirect_uri="http://app.test/other")
    assert_error(response, "invalid_grant")
    code, verifier = await get_code(browser)
    odd = {"client_id": "odd", "client_secret": "s3cr/t+:x%"}
    assert_error(await exchange(browser, code, verifier, None, **odd), "invalid_grant")
    code, verifier = await get_code(browser)
    clock.advance(61)
    assert_error(await exchange(browser, code, verifier), "invalid_grant")


async def test_client_authentication(browser: httpx.AsyncClient) -> None:
    code, verifier = await get_code(browser)
    wrong = await exchange(browser, code, verifier, ("app", "wrong"))
    assert_error(wrong, "invalid_client", 401)
    assert wrong.headers["www-authenticate"].startswith("Basic")
    assert_error(await exchange(browser, code, verifier, ("nobody", "x")), "invalid_client", 401)
    assert_error(await exchange(browser, code, verifier, None), "invalid_client", 401)
    both = await exchange(browser, code, verifier, client_secret="app-secret")
    assert_error(both, "invalid_request")
    mismatch = await exchange(browser, code, verifier, client_id="odd")
    assert_error(mismatch, "invalid_client", 401)
    bearer = {"Authorization": "Bearer x"}
    form = {"grant_type": "authorization_code", "code": code}
    assert_error(await browser.post("/token", data=form, headers=bearer), "invalid_client", 401)


async def test_basic_and_post_both_work(browser: httpx.AsyncClient) -> None:
    code, verifier = await get_code(browser)
    assert (await exchange(browser, code, verifier)).status_code == 200
    code, verifier = await get_code(browser)
    posted = {"client_id": "app", "client_secret": "app-secret"}
    assert (await exchange(browser, code, verifier, None, **posted)).status_code == 200


async def test_basic_credentials_are_form_urlencoded(browser: httpx.AsyncClient) -> None:
    code, verifier = await get_code(browser, client_id="odd")
    unencoded = await exchange(browser, code, verifier, ("odd", "s3cr/t+:x%"))
    assert_error(unencoded, "invalid_client", 401)  # RFC 6749 2.3.1: encode, then base64
    code, verifier = await get_code(browser, client_id="odd")
    encoded = await exchange(browser, code, verifier, ("odd", quote_plus("s3cr/t+:x%")))
    assert encoded.status_code == 200


async def test_auth_method_restricted_by_client(browser: httpx.AsyncClient) -> None:
    code, verifier = await get_code(browser, client_id="post-only")
    basic = await exchange(browser, code, verifier, ("post-only", "post-secret"))
    assert_error(basic, "invalid_client", 401)
    posted = {"client_id": "post-only", "client_secret": "post-secret"}
    code, verifier = await get_code(browser, client_id="post-only")
    assert (await exchange(browser, code, verifier, None, **posted)).status_code == 200


async def test_token_endpoint_wants_a_form_body(browser: httpx.AsyncClient) -> None:
    body = {"grant_type": "refresh_token", "refresh_token": "x"}
    response = await browser.post("/token", json=body, auth=("app", "app-secret"))
    assert_error(response, "invalid_request")
    assert "x-www-form-urlencoded" in response.json()["error_description"]
    form = {"grant_type": "password", "username": "alice"}
    response = await browser.post("/token", data=form, auth=("app", "app-secret"))
    assert_error(response, "unsupported_grant_type")


async def test_refresh_rotation(
    browser: httpx.AsyncClient, op: SandboxProvider, clock: Clock
) -> None:
    first = await tokens(browser)
    first_sid = (await verify(browser, first["id_token"], clock)).claims["sid"]
    login_time = int(clock())
    clock.advance(100)
    response = await refresh(browser, first["refresh_token"])
    assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
    second = response.json()
    assert second["refresh_token"] != first["refresh_token"]
    claims = (await verify(browser, second["id_token"], clock)).claims
    assert (claims["sub"], claims["aud"], claims["sid"]) == ("sandbox-alice", "app", first_sid)
    assert (
        claims["auth_time"] == login_time
        and "nonce" not in claims
        and claims["iat"] == int(clock())
    )
    assert (await userinfo(browser, second["access_token"])).status_code == 200
    assert op.grant_counts == {"authorization_code": 1, "refresh_token": 1}
    assert op.token_requests == 2


async def test_refresh_reuse_revokes_the_family(browser: httpx.AsyncClient) -> None:
    first = await tokens(browser)
    other = await tokens(browser)
    second = (await refresh(browser, first["refresh_token"])).json()
    assert_error(await refresh(browser, first["refresh_token"]), "invalid_grant")
    assert_error(await refresh(browser, second["refresh_token"]), "invalid_grant")
    assert (await userinfo(browser, second["access_token"])).status_code == 401
    assert (await userinfo(browser, first["access_token"])).status_code == 401
    assert (await refresh(browser, other["refresh_token"])).status_code == 200


async def test_refresh_token_bound_to_its_client(browser: httpx.AsyncClient) -> None:
    body = await tokens(browser)
    form = {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]}
    stolen = await browser.post("/token", data=form, auth=("post-only", "post-secret"))
    assert_error(stolen, "invalid_client", 401)
    odd = {"client_id": "odd", "client_secret": "s3cr/t+:x%"}
    assert_error(await browser.post("/token", data={**form, **odd}), "invalid_grant")
    assert (await refresh(browser, body["refresh_token"])).status_code == 200


async def test_refresh_scope_may_narrow_only(browser: httpx.AsyncClient) -> None:
    first = await tokens(browser)
    wider = await refresh(browser, first["refresh_token"], scope="openid accounts:write")
    assert_error(wider, "invalid_scope")
    narrow = await refresh(browser, first["refresh_token"], scope="openid accounts:read")
    assert narrow.status_code == 200 and narrow.json()["scope"] == "openid accounts:read"
    info = (await userinfo(browser, narrow.json()["access_token"])).json()
    assert "email" not in info and info["sub"] == "sandbox-alice"
    again = await refresh(browser, narrow.json()["refresh_token"])
    assert again.json()["scope"] == SCOPE


async def test_refresh_token_only_with_offline_access_and_until_expiry(
    browser: httpx.AsyncClient, clock: Clock
) -> None:
    assert "refresh_token" not in await tokens(browser, scope="openid profile")
    body = await tokens(browser)
    clock.advance(86400)
    assert_error(await refresh(browser, body["refresh_token"]), "invalid_grant")


async def test_userinfo_refusals(
    browser: httpx.AsyncClient, op: SandboxProvider, clock: Clock
) -> None:
    body = await tokens(browser, scope="openid accounts:read")
    bare = await browser.get("/userinfo")
    assert bare.status_code == 401 and bare.headers["www-authenticate"].startswith("Bearer")
    forged = op.sign({"iss": ISSUER, "sub": "sandbox-bob", "aud": "orca", "jti": "x"}, typ="at+jwt")
    for token in (forged, body["id_token"], "not-a-jwt"):
        response = await userinfo(browser, token)
        assert response.status_code == 401
        assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert (await browser.post("/userinfo", headers=_bearer(body))).json()["sub"] == "sandbox-alice"
    clock.advance(3600)
    assert (await userinfo(browser, body["access_token"])).status_code == 401


def _bearer(body: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {body['access_token']}"}


async def test_revoke_endpoint(browser: httpx.AsyncClient, op: SandboxProvider) -> None:
    body = await tokens(browser)
    auth = ("app", "app-secret")
    revoked = await browser.post("/revoke", data={"token": body["access_token"]}, auth=auth)
    assert revoked.status_code == 200
    response = await userinfo(browser, body["access_token"])
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert (await refresh(browser, body["refresh_token"])).status_code == 200

    body = await tokens(browser)
    data = {"token": body["refresh_token"], "token_type_hint": "refresh_token"}
    assert (await browser.post("/revoke", data=data, auth=auth)).status_code == 200
    assert_error(await refresh(browser, body["refresh_token"]), "invalid_grant")
    assert (await userinfo(browser, body["access_token"])).status_code == 401

    body = await tokens(browser)
    odd = {"client_id": "odd", "client_secret": "s3cr/t+:x%"}
    for token in (body["refresh_token"], body["access_token"]):
        assert (await browser.post("/revoke", data={"token": token, **odd})).status_code == 200
    assert (await userinfo(browser, body["access_token"])).status_code == 200
    assert (await refresh(browser, body["refresh_token"])).status_code == 200

    unknown = await browser.post("/revoke", data={"token": "unknown"}, auth=auth)
    assert unknown.status_code == 200
    no_auth = await browser.post("/revoke", data={"token": "x", "client_id": "app"})
    assert_error(no_auth, "invalid_client", 401)
    body = await tokens(browser)
    assert op.revoke_all_for("sandbox-alice") >= 1
    assert (await userinfo(browser, body["access_token"])).status_code == 401


async def test_end_session_redirects_with_state(
    browser: httpx.AsyncClient, op: SandboxProvider, clock: Clock
) -> None:
    body = await tokens(browser)
    session_cookie = browser.cookies["sandbox_op_session"]
    assert "code" in await silent_login(op, session_cookie)
    clock.advance(3600)  # an expired id_token_hint is still a fine hint
    params = {
        "id_token_hint": body["id_token"],
        "post_logout_redirect_uri": AFTER_LOGOUT,
        "state": "bye",
    }
    response = await browser.get("/logout", params=params)
    assert callback(response) == {"state": "bye"}
    assert 'sandbox_op_session=""' in response.headers["set-cookie"]
    got = callback(await browser.get("/authorize", params=auth_params(pkce()[1], prompt="none")))
    assert got["error"] == "login_required"
    assert (await silent_login(op, session_cookie))["error"] == "login_required"


@pytest.mark.parametrize(
    "params",
    [
        {"client_id": "app", "post_logout_redirect_uri": "http://evil.test/"},
        {"client_id": "post-only", "post_logout_redirect_uri": AFTER_LOGOUT},
        {"post_logout_redirect_uri": AFTER_LOGOUT},
        {"id_token_hint": "forged.token.here", "post_logout_redirect_uri": AFTER_LOGOUT},
    ],
)
async def test_end_session_refuses_unregistered_redirect(
    browser: httpx.AsyncClient, params: dict[str, str]
) -> None:
    await tokens(browser)
    response = await browser.get("/logout", params=params)
    assert response.status_code == 400 and "location" not in response.headers
    sso = await browser.get("/authorize", params=auth_params(pkce()[1], prompt="none"))
    assert "code" in callback(sso)  # the refused request did not end the OP session


async def test_end_session_checks_the_hint(browser: httpx.AsyncClient) -> None:
    body = await tokens(browser)
    params = {"id_token_hint": body["id_token"], "client_id": "post-only"}
    mismatch = await browser.get("/logout", params=params)
    assert mismatch.status_code == 400 and "audience" in mismatch.text
    access = await browser.get("/logout", params={"id_token_hint": body["access_token"]})
    assert access.status_code == 400 and "not an ID token" in access.text


async def test_end_session_without_redirect_shows_a_page(browser: httpx.AsyncClient) -> None:
    await tokens(browser)
    response = await browser.get("/logout")
    assert response.status_code == 200 and "You are logged out" in response.text
    assert "location" not in response.headers


async def test_form_post_response_mode(browser: httpx.AsyncClient) -> None:
    verifier, challenge = pkce()
    response = await login(browser, auth_params(challenge, response_mode="form_post"))
    assert response.status_code == 200 and "location" not in response.headers
    html = response.text
    assert f'<form method="post" action="{REDIRECT}">' in html
    assert "<noscript>" in html and '<button class="primary" type="submit">' in html
    assert 'name="state" value="st-123"' in html and f'name="iss" value="{ISSUER}"' in html
    assert not re.search(r"\b(src|href)=", html) and "<link" not in html
    nonce = re.search(r'<script nonce="([^"]+)">', html)
    assert nonce and f"'nonce-{nonce.group(1)}'" in response.headers["content-security-policy"]
    code = re.search(r'name="code" value="([^"]+)"', html)
    assert code and (await exchange(browser, code.group(1), verifier)).status_code == 200


async def test_prompt_none_without_session(browser: httpx.AsyncClient) -> None:
    response = await browser.get("/authorize", params=auth_params(pkce()[1], prompt="none"))
    got = callback(response)
    assert (got["error"], got["state"], got["iss"]) == ("login_required", "st-123", ISSUER)


async def test_bad_credentials_get_the_form_again(browser: httpx.AsyncClient) -> None:
    page = await browser.get("/authorize", params=auth_params(pkce()[1]))
    interaction = interaction_of(page)
    form = {"interaction": interaction, "username": "alice", "password": "bob"}
    wrong = await browser.post("/login", data=form)
    assert wrong.status_code == 401 and "Wrong username or password" in wrong.text
    assert "set-cookie" not in wrong.headers and interaction_of(wrong) == interaction
    right = await browser.post("/login", data={**form, "password": "alice"})
    assert "code" in callback(right)
    expired = await browser.post("/login", data={**form, "password": "alice"})
    assert expired.status_code == 400


async def test_login_form_expires(browser: httpx.AsyncClient, clock: Clock) -> None:
    page = await browser.get("/authorize", params=auth_params(pkce()[1]))
    clock.advance(601)
    form = {"interaction": interaction_of(page), "username": "alice", "password": "alice"}
    expired = await browser.post("/login", data=form)
    assert expired.status_code == 400 and "expired" in expired.text


async def test_cancel_returns_access_denied(browser: httpx.AsyncClient) -> None:
    page = await browser.get("/authorize", params=auth_params(pkce()[1]))
    form = {"interaction": interaction_of(page), "action": "cancel"}
    got = callback(await browser.post("/login", data=form))
    assert (got["error"], got["state"], got["iss"]) == ("access_denied", "st-123", ISSUER)


async def test_sso_second_login_without_form(
    browser: httpx.AsyncClient, op: SandboxProvider, clock: Clock
) -> None:
    first = await tokens(browser)
    login_time = int(clock())
    zero = await browser.get("/authorize", params=auth_params(pkce()[1], max_age="0"))
    assert zero.status_code == 200 and 'name="password"' in zero.text
    clock.advance(500)
    verifier, challenge = pkce()
    response = await browser.get("/authorize", params=auth_params(challenge, nonce="n2"))
    second = (await exchange(browser, callback(response)["code"], verifier)).json()
    claims = (await verify(browser, second["id_token"], clock)).claims
    first_claims = (await verify(browser, first["id_token"], clock)).claims
    assert (claims["auth_time"], claims["nonce"]) == (login_time, "n2")
    assert claims["sid"] == first_claims["sid"]
    for overrides in ({"prompt": "login"}, {"max_age": "100"}):
        page = await browser.get("/authorize", params=auth_params(challenge, **overrides))
        assert page.status_code == 200 and 'name="password"' in page.text
    fresh = await browser.get("/authorize", params=auth_params(challenge, max_age="1000"))
    assert "code" in callback(fresh)

    old_cookie = browser.cookies["sandbox_op_session"]
    again = await tokens(browser, prompt="login")  # a new login replaces the OP session
    again_claims = (await verify(browser, again["id_token"], clock)).claims
    assert again_claims["sid"] != first_claims["sid"] and again_claims["auth_time"] == int(clock())
    assert (await silent_login(op, old_cookie))["error"] == "login_required"


async def test_key_rotation(browser: httpx.AsyncClient, op: SandboxProvider, clock: Clock) -> None:
    before = await tokens(browser)
    old_kid = (await browser.get("/jwks")).json()["keys"][0]["kid"]
    op.rotate_signing_key()
    keys = (await browser.get("/jwks")).json()["keys"]
    assert keys[0]["kid"] != old_kid and old_kid in [k["kid"] for k in keys]
    assert all("d" not in k for k in keys) and keys == op.jwks["keys"]
    after = await tokens(browser)
    assert (await verify(browser, after["id_token"], clock)).header["kid"] == keys[0]["kid"]
    assert (await verify(browser, before["id_token"], clock)).header["kid"] == old_kid
    assert (await userinfo(browser, before["access_token"])).status_code == 200


# -- client credentials (RFC 6749 4.4), as a form and as the ORCA documentation's JSON -------


async def client_credentials(
    browser: httpx.AsyncClient,
    scope: str = "accounts:read",
    auth: tuple[str, str] | None = ("app", "app-secret"),
    **extra: str,
) -> httpx.Response:
    form = {"grant_type": "client_credentials", "scope": scope, **extra}
    return await browser.post("/token", data=form, auth=auth or httpx.USE_CLIENT_DEFAULT)


async def test_client_credentials_grant(
    browser: httpx.AsyncClient, op: SandboxProvider, clock: Clock
) -> None:
    meta = (await browser.get("/.well-known/openid-configuration")).json()
    assert "client_credentials" in meta["grant_types_supported"]
    response = await client_credentials(browser, "accounts:read cards:read")
    assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}  # no user tokens
    assert (body["token_type"], body["expires_in"]) == ("Bearer", 3600)
    assert body["scope"] == "accounts:read cards:read"
    access = await verify(browser, body["access_token"], clock)
    assert access.header["typ"] == "at+jwt"
    claims = access.claims
    assert (claims["sub"], claims["client_id"], claims["aud"]) == ("app", "app", "orca")
    assert claims["scope"] == "accounts:read cards:read" and claims["jti"]
    assert (claims["iat"], claims["exp"]) == (int(clock()), int(clock()) + 3600)
    assert "auth_time" not in claims and "sid" not in claims
    posted = await client_credentials(
        browser, auth=None, client_id="app", client_secret="app-secret"
    )
    assert posted.status_code == 200
    assert op.grant_counts["client_credentials"] == 2
    # No user behind it: userinfo has nothing to say.
    assert (await userinfo(browser, body["access_token"])).status_code == 401


async def test_client_credentials_authentication(browser: httpx.AsyncClient) -> None:
    assert_error(await client_credentials(browser, auth=("app", "wrong")), "invalid_client", 401)
    assert_error(
        await client_credentials(browser, auth=None, client_id="app"), "invalid_client", 401
    )
    basic = await client_credentials(browser, auth=("post-only", "post-secret"))
    assert_error(basic, "invalid_client", 401)
    posted = {"client_id": "post-only", "client_secret": "post-secret"}
    assert (await client_credentials(browser, auth=None, **posted)).status_code == 200
    assert (await client_credentials(browser, auth=("odd", quote_plus("s3cr/t+:x%")))).is_success


async def test_client_credentials_as_json(browser: httpx.AsyncClient, clock: Clock) -> None:
    body = {
        "client_id": "app",
        "client_secret": "app-secret",
        "grant_type": "client_credentials",
        "scope": "accounts:read accounts:write",
    }
    response = await browser.post("/token", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "accounts:read accounts:write"
    claims = (await verify(browser, response.json()["access_token"], clock)).claims
    assert (claims["sub"], claims["aud"]) == ("app", "orca")
    wrong = await browser.post("/token", json={**body, "client_secret": "nope"})
    assert_error(wrong, "invalid_client", 401)
    without_secret = {k: v for k, v in body.items() if k != "client_secret"}
    with_basic = await browser.post("/token", json=without_secret, auth=("app", "app-secret"))
    assert with_basic.status_code == 200
    # JSON stays the exception: other grants still want a form.
    code = {"grant_type": "authorization_code", "code": "x", "client_id": "app"}
    assert_error(await browser.post("/token", json=code), "invalid_request")


@pytest.mark.parametrize(
    "content",
    [
        '{"grant_type": "client_credentials", "scope": "accounts:read"',
        '[["grant_type", "client_credentials"]]',
        '{"grant_type": "client_credentials", "scope": ["accounts:read"]}',
        '{"grant_type": "client_credentials", "grant_type": "client_credentials"}',
        '"client_credentials"',
    ],
)
async def test_client_credentials_json_must_be_an_object_of_text(
    browser: httpx.AsyncClient, content: str
) -> None:
    headers = {"Content-Type": "application/json"}
    response = await browser.post(
        "/token", content=content, headers=headers, auth=("app", "app-secret")
    )
    assert_error(response, "invalid_request")


@pytest.mark.parametrize(
    ("scope", "granted"),
    [
        ("accounts:read", "accounts:read"),
        ("openid offline_access profile accounts:read accounts:read", "accounts:read"),
        ("openid offline_access", None),
        ("accounts:read payments:write", None),
        ("", None),
    ],
)
async def test_client_credentials_scopes(
    browser: httpx.AsyncClient, scope: str, granted: str | None
) -> None:
    response = await client_credentials(browser, scope)
    if granted is None:
        assert_error(response, "invalid_scope")
    else:
        assert response.status_code == 200 and response.json()["scope"] == granted


async def test_client_credentials_need_a_confidential_client(clock: Clock) -> None:
    op = SandboxProvider(ISSUER, [SandboxClient("spa", None, (REDIRECT,))], clock=clock)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=op.app), base_url=ISSUER) as b:
        response = await client_credentials(b, auth=None, client_id="spa")
        assert_error(response, "unauthorized_client")
        as_json = {"client_id": "spa", "grant_type": "client_credentials", "scope": "cards:read"}
        assert_error(await b.post("/token", json=as_json), "unauthorized_client")


# -- back-channel logout (OpenID Connect Back-Channel Logout 1.0) -------------------------

LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
BACKCHANNEL = {
    "app": "http://app.test/auth/backchannel-logout",
    "other": "http://other.test/bc?tenant=1",
    "stranger": "http://stranger.test/bc",
}


class Receiver:
    """The clients' back-channel logout endpoints: records each POST, answers per host."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.answers: dict[str, int | Exception] = {}
        self.started: dict[str, asyncio.Event] = {}
        self.wait_for: dict[str, str] = {}  # host -> host whose request must start first

    async def handle(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        self.requests.append(request)
        self.started.setdefault(host, asyncio.Event()).set()
        if host in self.wait_for:
            await self.started.setdefault(self.wait_for[host], asyncio.Event()).wait()
        answer = self.answers.get(host, 200)
        if isinstance(answer, Exception):
            raise answer
        return httpx.Response(answer)

    def tokens(self) -> dict[str, str]:
        """The logout token each host received."""
        found: dict[str, str] = {}
        for request in self.requests:
            form = parse_qs(request.content.decode())
            assert list(form) == ["logout_token"] and len(form["logout_token"]) == 1
            found[request.url.host] = form["logout_token"][0]
        return found


@pytest.fixture
def receiver() -> Receiver:
    return Receiver()


@pytest.fixture
async def bc_op(clock: Clock, receiver: Receiver) -> AsyncIterator[SandboxProvider]:
    clients = [
        SandboxClient(
            client_id,
            f"{client_id}-secret",
            (REDIRECT,),
            post_logout_redirect_uris=(AFTER_LOGOUT,),
            backchannel_logout_uri=BACKCHANNEL.get(client_id),
        )
        for client_id in ("app", "other", "no-uri", "stranger")
    ]
    async with httpx.AsyncClient(transport=httpx.MockTransport(receiver.handle)) as http:
        yield SandboxProvider(ISSUER, clients, clock=clock, http_client=http)


@pytest.fixture
async def bc_browser(bc_op: SandboxProvider) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=bc_op.app)
    async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as client:
        yield client


async def log_in_to_three_apps(browser: httpx.AsyncClient, clock: Clock) -> dict[str, Any]:
    """alice logs in to ``app`` (returns its ID token's claims), then SSO to two more."""
    body = await tokens(browser)
    await get_code(browser, client_id="other")
    await get_code(browser, client_id="no-uri")
    claims = dict((await verify(browser, body["id_token"], clock)).claims)
    return claims | {"_id_token": body["id_token"]}


def decode_logout_token(op: SandboxProvider, token: str) -> jwt.Token:
    """Verify ``token`` with the provider's published JWKS, as a relying party would."""
    published: Any = op.jwks
    return jwt.decode(token, jwk.KeySet.import_key_set(published), algorithms=["RS256"])


async def test_logout_token_header_and_claims(
    bc_op: SandboxProvider, bc_browser: httpx.AsyncClient, receiver: Receiver, clock: Clock
) -> None:
    id_claims = await log_in_to_three_apps(bc_browser, clock)
    clock.advance(30)
    await bc_browser.get("/logout", params={"id_token_hint": id_claims["_id_token"]})
    request = receiver.requests[0]
    assert request.method == "POST" and str(request.url) == BACKCHANNEL["app"]
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    tokens_sent = receiver.tokens()
    decoded = decode_logout_token(bc_op, tokens_sent["app.test"])
    assert decoded.header == {
        "alg": "RS256",
        "kid": bc_op.jwks["keys"][0]["kid"],
        "typ": "logout+jwt",
    }
    claims = decoded.claims
    assert set(claims) == {"iss", "aud", "iat", "exp", "jti", "events", "sid", "sub"}
    assert "nonce" not in claims
    assert (claims["iss"], claims["aud"], claims["sub"]) == (ISSUER, "app", "sandbox-alice")
    assert claims["sid"] == id_claims["sid"]
    assert claims["events"] == {LOGOUT_EVENT: {}}
    assert claims["iat"] == int(clock()) and claims["exp"] - claims["iat"] == 120
    other = decode_logout_token(bc_op, tokens_sent["other.test"]).claims
    assert other["aud"] == "other" and other["sid"] == claims["sid"]
    assert other["jti"] != claims["jti"] and len(claims["jti"]) >= 16


async def test_delivered_to_every_client_of_the_session_and_no_other(
    bc_op: SandboxProvider, bc_browser: httpx.AsyncClient, receiver: Receiver, clock: Clock
) -> None:
    await log_in_to_three_apps(bc_browser, clock)
    transport = httpx.ASGITransport(app=bc_op.app)
    async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as bob:
        await get_code(bob, client_id="stranger")  # bob's own OP session
        bob_cookie = bob.cookies["sandbox_op_session"]
    response = await bc_browser.get("/logout", params={"client_id": "app"})
    assert response.status_code == 200 and "You are logged out" in response.text
    assert sorted(r.url.host for r in receiver.requests) == ["app.test", "other.test"]
    assert bc_op.backchannel_deliveries == [("app", 200), ("other", 200)]
    assert "stranger.test" not in receiver.tokens()  # bob's session lives on
    assert "code" in await silent_login(bc_op, bob_cookie)
    again = await bc_browser.get("/logout")  # no OP session left: nothing to send
    assert again.status_code == 200 and len(receiver.requests) == 2


async def test_rp_initiated_logout_redirect_waits_for_deliveries(
    bc_op: SandboxProvider, bc_browser: httpx.AsyncClient, receiver: Receiver, clock: Clock
) -> None:
    id_claims = await log_in_to_three_apps(bc_browser, clock)
    receiver.wait_for = {"app.test": "other.test", "other.test": "app.test"}  # concurrent
    params = {
        "id_token_hint": id_claims["_id_token"],
        "post_logout_redirect_uri": AFTER_LOGOUT,
        "state": "bye",
    }
    response = await bc_browser.get("/logout", params=params)
    assert callback(response) == {"state": "bye"}
    assert bc_op.backchannel_deliveries == [("app", 200), ("other", 200)]
    sso = await bc_browser.get("/authorize", params=auth_params(pkce()[1], prompt="none"))
    assert callback(sso)["error"] == "login_required"


@pytest.mark.parametrize(
    ("answer", "outcome"),
    [
        (500, 500),
        (httpx.ConnectError("refused"), "ConnectError"),
        (RuntimeError("a broken transport"), "RuntimeError"),
    ],
)
async def test_delivery_failure_is_recorded_and_logout_completes(
    bc_op: SandboxProvider,
    bc_browser: httpx.AsyncClient,
    receiver: Receiver,
    clock: Clock,
    answer: int | Exception,
    outcome: int | str,
) -> None:
    await log_in_to_three_apps(bc_browser, clock)
    receiver.answers["app.test"] = answer
    params = {"client_id": "app", "post_logout_redirect_uri": AFTER_LOGOUT}
    response = await bc_browser.post("/logout", data=params)
    assert response.status_code == 303 and 'sandbox_op_session=""' in response.headers["set-cookie"]
    assert bc_op.backchannel_deliveries == [("app", outcome), ("other", 200)]
    sso = await bc_browser.get("/authorize", params=auth_params(pkce()[1], prompt="none"))
    assert callback(sso)["error"] == "login_required"


async def test_a_client_that_never_answers_is_given_up(clock: Clock, receiver: Receiver) -> None:
    receiver.wait_for = {"app.test": "never.test"}
    client = SandboxClient(
        "app", "app-secret", (REDIRECT,), backchannel_logout_uri=BACKCHANNEL["app"]
    )
    async with httpx.AsyncClient(transport=httpx.MockTransport(receiver.handle)) as http:
        op = SandboxProvider(
            ISSUER, [client], clock=clock, http_client=http, backchannel_timeout=0.05
        )
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=op.app), base_url=ISSUER
        ) as b:
            await get_code(b)
            assert await op.backchannel_logout(sub="sandbox-alice") == [("app", "timeout")]
    assert op.backchannel_deliveries == [("app", "timeout")]


async def test_backchannel_logout_api(
    bc_op: SandboxProvider, bc_browser: httpx.AsyncClient, receiver: Receiver, clock: Clock
) -> None:
    id_claims = await log_in_to_three_apps(bc_browser, clock)
    with pytest.raises(ValueError, match="sub or sid"):
        await bc_op.backchannel_logout()
    assert await bc_op.backchannel_logout(sid="unknown") == []
    assert await bc_op.backchannel_logout(sub="sandbox-bob") == []
    sent = await bc_op.backchannel_logout(sid=id_claims["sid"])
    assert sent == [("app", 200), ("other", 200)] == bc_op.backchannel_deliveries
    assert (
        decode_logout_token(bc_op, receiver.tokens()["app.test"]).claims["sid"] == id_claims["sid"]
    )


async def test_end_sessions_for_stays_silent(
    bc_op: SandboxProvider, bc_browser: httpx.AsyncClient, receiver: Receiver, clock: Clock
) -> None:
    id_claims = await log_in_to_three_apps(bc_browser, clock)
    assert bc_op.end_sessions_for("sandbox-alice") == [id_claims["sid"]]
    assert receiver.requests == [] and bc_op.backchannel_deliveries == []


async def test_default_http_client_is_the_providers_own(clock: Clock) -> None:
    refused = "http://127.0.0.1:1/backchannel-logout"  # nothing listens on port 1
    client = SandboxClient("app", "app-secret", (REDIRECT,), backchannel_logout_uri=refused)
    op = SandboxProvider(ISSUER, [client], clock=clock)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=op.app), base_url=ISSUER) as b:
        await get_code(b)
        assert await op.backchannel_logout(sub="sandbox-alice") == [("app", "ConnectError")]
    await op.aclose()
    await op.aclose()  # idempotent


def test_backchannel_uri_is_checked_and_settable_from_the_command_line() -> None:
    from oidc_kit.testing.__main__ import parse_backchannel, parse_client, with_registered

    with pytest.raises(ValueError, match="fragment"):
        SandboxClient("app", "s", (REDIRECT,), backchannel_logout_uri="http://app.test/bc#x")
    client = parse_client(f"app:s:{REDIRECT}:{AFTER_LOGOUT}")
    uri = "http://127.0.0.1:8000/auth/backchannel-logout"
    [updated] = with_registered(
        [client], [parse_backchannel(f"app={uri}")], "backchannel_logout_uri", "--backchannel"
    )
    assert updated.backchannel_logout_uri == uri
    assert updated.post_logout_redirect_uris == (AFTER_LOGOUT,)
    with pytest.raises(SystemExit, match="unknown client"):
        with_registered([client], [("nope", uri)], "backchannel_logout_uri", "--backchannel")


async def test_the_client_name_is_settable_from_the_command_line() -> None:
    from oidc_kit.testing.__main__ import build_provider

    client = f"app:s:{REDIRECT}"
    op, _ = build_provider(["--client", client, "--client-name", "app=My <Bank>"])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=op.app)) as http:
        page = await http.get(
            "http://127.0.0.1:9000/authorize",
            params={
                "client_id": "app",
                "redirect_uri": REDIRECT,
                "response_type": "code",
                "scope": "openid",
                "state": "s",
                "nonce": "n",
                "code_challenge": "x" * 43,
                "code_challenge_method": "S256",
            },
        )
    assert "to continue to <strong>My &lt;Bank&gt;</strong>" in page.text
    with pytest.raises(SystemExit, match="unknown client"):
        build_provider(["--client", client, "--client-name", "nope=Other"])


# -- the provider's own session page --------------------------------------------------------


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


async def test_session_page_shows_who_is_logged_in(
    bc_browser: httpx.AsyncClient, clock: Clock
) -> None:
    nobody = await bc_browser.get("/session")
    assert nobody.status_code == 200 and "Not logged in" in nobody.text
    assert "<form" not in nobody.text and nobody.headers["cache-control"] == "no-store"
    id_claims = await log_in_to_three_apps(bc_browser, clock)
    page = await bc_browser.get("/session")
    expected = (
        "Logged in at the sandbox provider as <strong>alice</strong>\n"
        f"(OP session <code>{id_claims['sid']}</code>, apps: app, no-uri, other)"
    )
    assert expected in page.text
    assert f'<form method="post" action="{ISSUER}/session/logout">' in page.text
    assert "Log out of the provider everywhere" in page.text and csrf_of(page)


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.test"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site", "Origin": ISSUER},
    ],
)
async def test_session_logout_refuses_cross_site(
    bc_op: SandboxProvider,
    bc_browser: httpx.AsyncClient,
    clock: Clock,
    headers: dict[str, str],
) -> None:
    await log_in_to_three_apps(bc_browser, clock)
    csrf = csrf_of(await bc_browser.get("/session"))
    refused = await bc_browser.post("/session/logout", data={"csrf": csrf}, headers=headers)
    assert refused.status_code == 403 and "access_denied" in refused.text
    assert "set-cookie" not in refused.headers and bc_op.backchannel_deliveries == []
    assert "Logged in at the sandbox provider" in (await bc_browser.get("/session")).text


async def test_session_logout_needs_the_form_token(
    bc_op: SandboxProvider, bc_browser: httpx.AsyncClient, clock: Clock
) -> None:
    await log_in_to_three_apps(bc_browser, clock)
    same_origin = {"Origin": ISSUER, "Sec-Fetch-Site": "same-origin"}
    for form in ({"username": "alice"}, {"csrf": "forged"}):
        refused = await bc_browser.post("/session/logout", data=form, headers=same_origin)
        assert refused.status_code == 403 and "stale or forged" in refused.text
    not_a_form = await bc_browser.post("/session/logout", json={"csrf": "x"})
    assert not_a_form.status_code == 400
    assert bc_op.backchannel_deliveries == []


async def test_session_logout_ends_the_session_and_notifies(
    bc_op: SandboxProvider, bc_browser: httpx.AsyncClient, receiver: Receiver, clock: Clock
) -> None:
    id_claims = await log_in_to_three_apps(bc_browser, clock)
    receiver.answers["other.test"] = 503
    csrf = csrf_of(await bc_browser.get("/session"))
    headers = {"Origin": ISSUER, "Sec-Fetch-Site": "same-origin"}
    done = await bc_browser.post("/session/logout", data={"csrf": csrf}, headers=headers)
    assert done.status_code == 200, done.text
    assert "Logged out of the sandbox provider; 1 app was notified." in done.text
    assert "<code>other</code>: not notified (503)" in done.text
    assert "<code>no-uri</code>: no back-channel logout URI registered" in done.text
    assert f'<a href="{AFTER_LOGOUT}">Back to app</a>' in done.text
    assert f'<a href="{ISSUER}/session">' in done.text
    assert 'sandbox_op_session=""' in done.headers["set-cookie"]
    assert bc_op.backchannel_deliveries == [("app", 200), ("other", 503)]
    token = receiver.tokens()["app.test"]
    assert decode_logout_token(bc_op, token).claims["sid"] == id_claims["sid"]
    assert "Not logged in" in (await bc_browser.get("/session")).text
    # Pressing the button again (no OP session any more) says so and sends nothing.
    again = await bc_browser.post("/session/logout", data={"csrf": csrf}, headers=headers)
    assert again.status_code == 200 and "nothing\nto log out of" in again.text
    assert len(bc_op.backchannel_deliveries) == 2


# -- forged logout tokens, for relying-party tests ------------------------------------------


def header_of(token: str) -> dict[str, Any]:
    return dict(jws.extract_compact(token.encode()).protected)


async def test_sign_logout_token_and_forged_variants(bc_op: SandboxProvider, clock: Clock) -> None:
    claims = bc_op.logout_token_claims("app", sub="sandbox-alice", sid="sid-1")
    assert claims["events"] == {LOGOUT_EVENT: {}} and claims["exp"] - claims["iat"] == 120
    assert "nonce" not in claims and claims["aud"] == "app"
    good = decode_logout_token(bc_op, bc_op.sign_logout_token(claims))
    assert good.header["typ"] == "logout+jwt" and good.claims == claims

    none = bc_op.sign_logout_token(claims, header_overrides={"alg": "none"})
    assert none.endswith(".") and header_of(none)["alg"] == "none"
    payload = none.split(".")[1]
    assert json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))) == claims

    bare = bc_op.sign_logout_token(claims, header_overrides={"typ": None, "kid": None})
    assert header_of(bare) == {"alg": "RS256"}
    assert decode_logout_token(bc_op, bare).claims == claims
    wrong_typ = bc_op.sign_logout_token(claims, header_overrides={"typ": "JWT"})
    assert header_of(wrong_typ)["typ"] == "JWT"

    ps256 = bc_op.sign_logout_token(claims, header_overrides={"alg": "PS256"})
    public = {k: v for k, v in bc_op.jwks["keys"][0].items() if k != "alg"}
    assert jwt.decode(ps256, jwk.RSAKey.import_key(public), algorithms=["PS256"]).claims == claims

    hs256 = bc_op.sign_logout_token(claims, header_overrides={"alg": "HS256"})
    with pytest.warns(Warning, match="Key size"):  # a client secret is a short HMAC key
        secret = jwk.OctKey.import_key("app-secret")
    assert jwt.decode(hs256, secret, algorithms=["HS256"]).claims == claims
    with pytest.raises(ValueError, match="secret"):
        bc_op.sign_logout_token({**claims, "aud": "nobody"}, header_overrides={"alg": "HS256"})
    with pytest.raises(ValueError, match="ES256"):
        bc_op.sign_logout_token(claims, header_overrides={"alg": "ES256"})
