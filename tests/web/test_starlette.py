"""The Starlette integration through HTTP: routes, cookies, middleware, errors, no token leaks."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from starlette.applications import Starlette
from starlette.authentication import requires
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route

from oidc_kit._web import safe_next_path
from oidc_kit.starlette import OIDCAuth, login_required
from tests.conftest import Clock
from tests.fake_op import ISSUER, FakeOP

APP = "https://app.test"


def build_app(auth: OIDCAuth, api: httpx.MockTransport | None = None) -> Starlette:
    @login_required
    async def accounts(request: Request) -> Response:
        async with httpx.AsyncClient(transport=api, auth=auth.httpx_auth(request)) as client:
            upstream = await client.get("https://orca.test/accounts")
        return JSONResponse(upstream.json(), status_code=upstream.status_code)

    @login_required
    async def page(request: Request) -> Response:
        return PlainTextResponse(f"hello {request.user.display_name}")

    @requires("authenticated", status_code=401)
    async def starlette_protected(request: Request) -> Response:
        return PlainTextResponse(request.user.identity)

    return Starlette(
        routes=[
            Mount("/auth", routes=auth.routes),
            Route("/api/accounts", accounts),
            Route("/page", page),
            Route("/plain", starlette_protected),
        ],
        middleware=[auth.middleware],
        exception_handlers=auth.exception_handlers,
    )


def orca(valid: set[str]) -> httpx.MockTransport:
    """An API accepting only the bearer tokens in ``valid``."""

    def handle(request: httpx.Request) -> httpx.Response:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if token not in valid:
            return httpx.Response(401, json={"error": "unauthorized"})
        return httpx.Response(200, json={"data": [{"id": "acc-1"}]})

    return httpx.MockTransport(handle)


@pytest.fixture
async def browser(kit: OIDCAuth) -> AsyncIterator[httpx.AsyncClient]:
    app = build_app(kit, orca(set()))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=APP) as client:
        yield client


async def do_login(browser: httpx.AsyncClient, op: FakeOP, next_path: str = "/") -> httpx.Response:
    start = await browser.get("/auth/login", params={"next": next_path})
    assert start.status_code == 303
    params = op.authorize(start.headers["location"])
    return await browser.get("/auth/callback", params=params)


def set_cookies(response: httpx.Response) -> list[str]:
    return response.headers.get_list("set-cookie")


# -- login -----------------------------------------------------------------------------------


async def test_login_redirects_with_a_bound_login_cookie(browser: httpx.AsyncClient) -> None:
    response = await browser.get("/auth/login")
    assert response.status_code == 303
    assert response.headers["location"].startswith(f"{ISSUER}/authorize?")
    assert response.headers["cache-control"] == "no-store"
    (cookie,) = set_cookies(response)
    assert cookie.startswith("__Host-oidc_login=")
    for attribute in ("HttpOnly", "Secure", "Path=/", "SameSite=lax"):
        assert attribute in cookie


async def test_login_then_callback_makes_a_session(browser: httpx.AsyncClient, op: FakeOP) -> None:
    response = await do_login(browser, op, "/page?x=1")
    assert response.status_code == 303
    assert response.headers["location"] == "/page?x=1"
    cookies = set_cookies(response)
    session_cookie = next(c for c in cookies if c.startswith("__Host-oidc_session="))
    for attribute in ("HttpOnly", "Secure", "Path=/", "SameSite=lax"):
        assert attribute in session_cookie
    # The login cookie stays: it is the browser's one binding, shared with other tabs' logins.
    assert not any(c.startswith("__Host-oidc_login=") for c in cookies)
    session = await browser.get("/auth/session")
    assert session.status_code == 200
    body = session.json()
    assert body["authenticated"] is True and body["sub"] == "user-1"
    assert body["claims"]["name"] == "Test User"
    assert isinstance(body["expires_at"], float)
    assert session.headers["cache-control"] == "no-store"
    assert "Cookie" in session.headers["vary"]
    assert (await browser.get("/page")).text == "hello Test User"
    assert (await browser.get("/plain")).text == "user-1"


@pytest.mark.parametrize(
    "target",
    [
        "//evil.test/",
        "https://evil.test/",
        "/\\evil.test",
        "%2F%2Fevil.test",
        "/%2Fevil.test",
        "/%5Cevil.test",
        "javascript:alert(1)",
        "/ok\r\nLocation: https://evil.test",
        "",
    ],
)
async def test_next_is_only_a_same_origin_relative_path(target: str) -> None:
    assert safe_next_path(target) == "/"


def test_next_keeps_a_relative_path_with_query() -> None:
    assert safe_next_path("/accounts/1?tab=cards") == "/accounts/1?tab=cards"


async def test_open_redirect_is_refused_end_to_end(browser: httpx.AsyncClient, op: FakeOP) -> None:
    response = await do_login(browser, op, "//evil.test/steal")
    assert response.headers["location"] == "/"


async def test_session_id_changes_at_every_login(
    browser: httpx.AsyncClient, op: FakeOP, kit: OIDCAuth
) -> None:
    await do_login(browser, op)
    first = browser.cookies["__Host-oidc_session"]
    await do_login(browser, op)
    second = browser.cookies["__Host-oidc_session"]
    assert first != second
    old_sid = kit._cookies.session_id(first)
    assert old_sid is not None and await kit._sessions.load(old_sid) is None


# -- callback failures ----------------------------------------------------------------------


async def test_callback_failure_is_a_page_with_its_code(
    browser: httpx.AsyncClient, op: FakeOP
) -> None:
    await browser.get("/auth/login")
    response = await browser.get("/auth/callback", params={"state": "forged", "code": "x"})
    assert response.status_code == 400
    assert "invalid_state" in response.text
    assert not any("oidc_session=" in c and '=""' not in c for c in set_cookies(response))
    assert (await browser.get("/auth/session")).status_code == 401


async def test_callback_failure_as_json(browser: httpx.AsyncClient) -> None:
    response = await browser.get(
        "/auth/callback",
        params={"state": "forged", "code": "x"},
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_state",
        "error_description": "unknown, expired or already used state",
    }


async def test_provider_error_is_shown_escaped(browser: httpx.AsyncClient, op: FakeOP) -> None:
    start = await browser.get("/auth/login")
    params = op.authorize(start.headers["location"])
    del params["code"]
    params.update(error="access_denied", error_description="<b>no</b>")
    response = await browser.get("/auth/callback", params=params)
    assert response.status_code == 401
    assert "access_denied" in response.text
    assert "<b>no</b>" not in response.text and "&lt;b&gt;" in response.text


async def test_garbage_callbacks_never_500(browser: httpx.AsyncClient) -> None:
    for params in ({}, {"state": ""}, {"state": "\x00"}, {"code": "x"}, {"iss": "x"}):
        response = await browser.get("/auth/callback", params=params)
        assert 400 <= response.status_code < 500
    response = await browser.post(
        "/auth/callback",
        content=b"\xff\xfe",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert 400 <= response.status_code < 500


# -- sessions ------------------------------------------------------------------------------


async def test_no_session_is_401_json(browser: httpx.AsyncClient) -> None:
    response = await browser.get("/auth/session")
    assert response.status_code == 401
    assert response.json() == {"authenticated": False}


@pytest.mark.parametrize(
    "value", [b"garbage", b"a.b.c", b"x" * 4000, "\u00e9t\u00e9".encode(), b'"unterminated']
)
async def test_a_forged_cookie_is_no_session_and_is_deleted(
    browser: httpx.AsyncClient, value: bytes
) -> None:
    header = b"__Host-oidc_session=" + value
    response = await browser.get("/auth/session", headers=[(b"cookie", header)])
    assert response.status_code == 401
    assert any(c.startswith('__Host-oidc_session=""') for c in set_cookies(response))


async def test_an_unreadable_store_record_is_no_session(
    browser: httpx.AsyncClient, op: FakeOP, kit: OIDCAuth
) -> None:
    await do_login(browser, op)
    sid = kit._cookies.session_id(browser.cookies["__Host-oidc_session"])
    assert sid is not None
    await kit.store.set(f"session:{sid}", b'{"v": 0, "from": "an older version"}', 60)
    response = await browser.get("/api/accounts")
    assert response.status_code == 401
    assert response.json()["error"] == "login_required"


async def test_login_required_redirects_browsers(browser: httpx.AsyncClient) -> None:
    response = await browser.get("/page?tab=1", headers={"Accept": "text/html"})
    assert response.status_code == 303
    location = urlsplit(response.headers["location"])
    assert location.path == "/auth/login"
    assert parse_qs(location.query)["next"] == ["/page?tab=1"]


async def test_login_required_answers_json_clients_401(browser: httpx.AsyncClient) -> None:
    response = await browser.get("/api/accounts")
    assert response.status_code == 401
    assert response.json()["error"] == "login_required"
    response = await browser.get("/page", headers={"Accept": "application/json"})
    assert response.status_code == 401


async def test_session_expires_after_idle_timeout(
    browser: httpx.AsyncClient, op: FakeOP, kit: OIDCAuth, clock: Clock
) -> None:
    await do_login(browser, op)
    clock.advance(kit.config.session_idle_timeout + 1)
    assert (await browser.get("/auth/session")).status_code == 401


# -- calling the API -----------------------------------------------------------------------


async def test_api_call_refreshes_once_on_401(kit: OIDCAuth, op: FakeOP) -> None:
    issued: set[str] = set()
    app = build_app(kit, orca(issued))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=APP) as b:
        await do_login(b, op)
        original = op.access_token

        def tracked() -> str:
            token = original()
            issued.add(token)
            return token

        op.access_token = tracked  # type: ignore[method-assign]
        response = await b.get("/api/accounts")
    assert response.status_code == 200
    assert response.json() == {"data": [{"id": "acc-1"}]}
    assert op.calls["/token"] == 2  # the login, then one refresh


async def test_refresh_provider_down_is_503_and_keeps_the_session(
    browser: httpx.AsyncClient, op: FakeOP, kit: OIDCAuth, clock: Clock
) -> None:
    op.token_body["expires_in"] = 600
    await do_login(browser, op)
    clock.advance(600)
    op.fail_with = httpx.ConnectError
    response = await browser.get("/api/accounts")
    assert response.status_code == 503
    assert response.json()["error"] == "provider_unavailable"
    op.fail_with = None
    assert (await browser.get("/auth/session")).status_code == 200


async def test_refresh_invalid_grant_ends_the_session(
    browser: httpx.AsyncClient, op: FakeOP, clock: Clock
) -> None:
    op.token_body["expires_in"] = 600
    await do_login(browser, op)
    clock.advance(600)
    assert (await browser.get("/auth/session")).status_code == 200
    op.refresh_tokens.clear()
    response = await browser.get("/api/accounts")
    assert response.status_code == 401
    assert response.json()["error"] == "login_required"
    assert (await browser.get("/auth/session")).status_code == 401


# -- logout --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{"Origin": "https://evil.test"}, {"Sec-Fetch-Site": "cross-site"}, {"Origin": "null"}],
)
async def test_cross_site_logout_is_refused(
    browser: httpx.AsyncClient, op: FakeOP, headers: dict[str, str]
) -> None:
    await do_login(browser, op)
    response = await browser.post("/auth/logout", headers={**headers, "Accept": "application/json"})
    assert response.status_code == 403
    assert response.json()["error"] == "cross_site_request"
    assert (await browser.get("/auth/session")).status_code == 200


async def test_logout_ends_the_session_revokes_and_goes_to_the_provider(
    browser: httpx.AsyncClient, op: FakeOP
) -> None:
    await do_login(browser, op)
    response = await browser.post(
        "/auth/logout", headers={"Origin": APP, "Sec-Fetch-Site": "same-origin"}
    )
    assert response.status_code == 303
    location = urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == f"{ISSUER}/logout"
    query = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert query["post_logout_redirect_uri"] == f"{APP}/"
    assert query["client_id"] == "client-1"
    assert query["state"] and query["id_token_hint"].count(".") == 2
    assert any(c.startswith('__Host-oidc_session=""') for c in set_cookies(response))
    revocations = [parse_qs(r.content.decode()) for r in op.requests if r.url.path == "/revoke"]
    assert [r["token_type_hint"] for r in revocations] == [["refresh_token"], ["access_token"]]
    assert (await browser.get("/auth/session")).status_code == 401


async def test_logout_without_a_session_goes_home(browser: httpx.AsyncClient) -> None:
    response = await browser.post("/auth/logout")
    assert response.status_code == 303
    assert response.headers["location"] == "/"


async def test_get_logout_only_shows_a_confirmation_form(
    browser: httpx.AsyncClient, op: FakeOP
) -> None:
    await do_login(browser, op)
    page = await browser.get("/auth/logout")
    assert page.status_code == 200
    assert '<form method="post" action="/auth/logout">' in page.text
    assert (await browser.get("/auth/session")).status_code == 200  # still logged in
    assert op.calls["/revoke"] == 0


async def test_head_logout_is_a_get_and_logs_nobody_out(
    browser: httpx.AsyncClient, op: FakeOP
) -> None:
    """Starlette answers HEAD on a GET route; a HEAD (a link checker, a prefetch) must not be
    taken for the POST (issue 13, item 9)."""
    await do_login(browser, op)
    head = await browser.head("/auth/logout")
    assert head.status_code == 200
    assert head.headers["content-type"].startswith("text/html")
    assert not [c for c in set_cookies(head) if c.startswith("__Host-oidc_session=")]
    assert (await browser.get("/auth/session")).status_code == 200  # still logged in
    assert op.calls["/revoke"] == 0


# -- no token anywhere -----------------------------------------------------------------------


async def test_no_token_in_cookies_bodies_or_logs(
    browser: httpx.AsyncClient, op: FakeOP, kit: OIDCAuth, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    responses = [await do_login(browser, op, "/page")]
    sid = kit._cookies.session_id(browser.cookies["__Host-oidc_session"])
    assert sid is not None
    session = await kit._sessions.load(sid)
    assert session is not None
    tokens = kit._sessions.tokens(session)
    secrets_ = [tokens.access_token, tokens.refresh_token, tokens.id_token]
    responses.append(await browser.get("/auth/session"))
    responses.append(await browser.get("/page"))
    stored = await kit.store.get(f"session:{sid}")
    assert stored is not None
    for secret in secrets_:
        assert secret
        assert secret.encode() not in stored
        assert secret not in caplog.text
        assert secret not in json.dumps(dict(browser.cookies))
        for response in responses:
            assert secret not in response.text
            assert secret not in str(response.headers)


def test_redact_tokens_filter_hides_jwts_and_token_parameters() -> None:
    from oidc_kit import RedactTokens

    jwt_like = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "GET /logout?id_token_hint=%s&state=abc HTTP/1.1" %s',
        ("127.0.0.1", jwt_like, 303),
        None,
    )
    assert RedactTokens().filter(record)
    message = record.getMessage()
    assert jwt_like not in message and "eyJ" not in message
    assert "state=abc" in message and "303" in message
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "refresh_token=rt-123&x=1", (), None)
    RedactTokens().filter(record)
    assert record.getMessage() == "refresh_token=[redacted]&x=1"


# -- added: tests that kill surviving mutants --------------------------------------------------


@pytest.mark.parametrize("target", ["evil.test/steal", "accounts", "/ok\x7f", "/" + "a" * 3000])
def test_next_refuses_relative_non_slash_paths_del_and_huge_values(target: str) -> None:
    assert safe_next_path(target) == "/"


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "https://app.test.evil.test"},
        {"Origin": "https://app.test:8443"},
        {"Origin": "http://app.test"},
    ],
)
async def test_logout_from_a_sibling_or_lookalike_origin_is_refused(
    browser: httpx.AsyncClient, op: FakeOP, headers: dict[str, str]
) -> None:
    await do_login(browser, op)
    response = await browser.post("/auth/logout", headers={**headers, "Accept": "application/json"})
    assert response.status_code == 403
    assert (await browser.get("/auth/session")).status_code == 200


async def test_logout_typed_by_the_user_is_allowed(browser: httpx.AsyncClient, op: FakeOP) -> None:
    await do_login(browser, op)
    response = await browser.post("/auth/logout", headers={"Sec-Fetch-Site": "none"})
    assert response.status_code == 303


async def test_a_browser_accepting_html_and_json_gets_the_html_error_page(
    browser: httpx.AsyncClient,
) -> None:
    response = await browser.get(
        "/auth/callback",
        params={"state": "forged", "code": "x"},
        headers={"Accept": "text/html,application/xhtml+xml,application/json;q=0.9"},
    )
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")


async def test_a_session_cookie_replayed_after_logout_is_dead(
    browser: httpx.AsyncClient, op: FakeOP, kit: OIDCAuth
) -> None:
    await do_login(browser, op)
    cookie = browser.cookies["__Host-oidc_session"]
    logout = await browser.post("/auth/logout", headers={"Origin": APP})
    assert logout.status_code == 303
    sid = kit._cookies.session_id(cookie)
    assert sid is not None and await kit._sessions.load(sid) is None
    replay = await browser.get(
        "/auth/session", headers=[(b"cookie", f"__Host-oidc_session={cookie}".encode())]
    )
    assert replay.status_code == 401


async def test_a_real_session_id_without_a_valid_signature_is_no_session(
    browser: httpx.AsyncClient, op: FakeOP, kit: OIDCAuth
) -> None:
    await do_login(browser, op)
    sid = kit._cookies.session_id(browser.cookies["__Host-oidc_session"])
    assert sid is not None
    for value in (sid, f"{sid}.forged-signature", f"{sid}.{'A' * 27}"):
        response = await browser.get(
            "/auth/session", headers=[(b"cookie", f"__Host-oidc_session={value}".encode())]
        )
        assert response.status_code == 401, value


async def test_a_login_cookie_older_than_the_login_timeout_is_refused(
    kit: OIDCAuth, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() - kit.config.login_timeout - 5)
    old = kit._cookies.sign_login("browser-1")
    monkeypatch.undo()
    assert kit._cookies.login_binding(old) is None
    assert kit._cookies.login_binding(kit._cookies.sign_login("browser-1")) == "browser-1"


async def test_a_stale_session_cookie_at_the_callback_does_not_undo_the_login(
    browser: httpx.AsyncClient, op: FakeOP
) -> None:
    start = await browser.get("/auth/login")
    params = op.authorize(start.headers["location"])
    browser.cookies.set("__Host-oidc_session", "stale-or-forged", domain="app.test")
    response = await browser.get("/auth/callback", params=params)
    assert response.status_code == 303
    session_cookies = [c for c in set_cookies(response) if c.startswith("__Host-oidc_session=")]
    assert len(session_cookies) == 1
    assert not session_cookies[0].startswith('__Host-oidc_session=""')
    assert (await browser.get("/auth/session")).status_code == 200


async def test_answers_to_a_request_with_a_session_cookie_are_not_cached(
    browser: httpx.AsyncClient, op: FakeOP
) -> None:
    await do_login(browser, op)
    response = await browser.get("/page")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert "Cookie" in response.headers["vary"]


async def test_a_failed_callback_keeps_the_login_cookie(
    browser: httpx.AsyncClient, op: FakeOP
) -> None:
    """It used to be deleted, which ended every login under way in the browser's other tabs."""
    start = await browser.get("/auth/login")
    response = await browser.get("/auth/callback", params={"state": "forged", "code": "x"})
    assert response.status_code == 400
    assert not any(c.startswith("__Host-oidc_login=") for c in set_cookies(response))
    done = await browser.get("/auth/callback", params=op.authorize(start.headers["location"]))
    assert done.status_code == 303


async def test_a_session_ended_by_a_refresh_deletes_its_cookie(
    browser: httpx.AsyncClient, op: FakeOP, clock: Clock
) -> None:
    op.token_body["expires_in"] = 600
    await do_login(browser, op)
    clock.advance(600)
    op.refresh_tokens.clear()  # invalid_grant
    response = await browser.get("/api/accounts")
    assert response.status_code == 401
    assert any(c.startswith('__Host-oidc_session=""') for c in set_cookies(response))


async def test_cookie_deletions_keep_the_host_prefix_attributes(
    browser: httpx.AsyncClient, op: FakeOP
) -> None:
    # Browsers ignore a Set-Cookie for a __Host- name without Secure and Path=/: a deletion
    # without them would leave the cookie in place.
    # (The login cookie is never deleted: it expires, 8.)
    await do_login(browser, op)
    logout = await browser.post("/auth/logout", headers={"Origin": APP})
    stale = await browser.get(
        "/auth/session", headers=[(b"cookie", b"__Host-oidc_session=garbage")]
    )
    deletions = [
        next(c for c in set_cookies(logout) if c.startswith('__Host-oidc_session=""')),
        next(c for c in set_cookies(stale) if c.startswith('__Host-oidc_session=""')),
    ]
    for deletion in deletions:
        for attribute in ("Secure", "Path=/", "HttpOnly"):
            assert attribute in deletion, deletion
        assert "Domain" not in deletion


async def test_cookie_lifetimes_follow_the_configuration(
    browser: httpx.AsyncClient, op: FakeOP, kit: OIDCAuth
) -> None:
    start = await browser.get("/auth/login")
    (login_cookie,) = set_cookies(start)
    assert f"Max-Age={kit.config.login_timeout}" in login_cookie
    params = op.authorize(start.headers["location"])
    done = await browser.get("/auth/callback", params=params)
    session_cookie = next(c for c in set_cookies(done) if c.startswith("__Host-oidc_session="))
    assert f"Max-Age={kit.config.session_absolute_timeout}" in session_cookie


@pytest.mark.parametrize(
    "message",
    [
        "GET /auth/callback?code=SECRETVALUE&state=abc HTTP/1.1",
        "POST /token code_verifier=SECRETVALUE&grant_type=authorization_code",
        "POST /token client_secret=SECRETVALUE&client_id=x",
        "POST /token client_assertion=SECRETVALUE&client_id=x",
        "GET /x?access_token=SECRETVALUE",
        "GET /x?id_token=SECRETVALUE",
        "GET /x?id_token_hint=SECRETVALUE",
        "POST /revoke refresh_token=SECRETVALUE",
        "POST /bc logout_token=SECRETVALUE",
        "Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl",
    ],
)
def test_redact_tokens_covers_every_token_parameter_and_bare_jwts(message: str) -> None:
    from oidc_kit import RedactTokens

    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, message, (), None)
    assert RedactTokens().filter(record)
    redacted = record.getMessage()
    assert "SECRETVALUE" not in redacted and "eyJ" not in redacted
    assert "[redacted" in redacted


async def test_fetch_metadata_decides_over_a_null_origin(
    browser: httpx.AsyncClient, op: FakeOP
) -> None:
    """A same-origin form post under a no-referrer policy says Origin: null; the browser's
    Sec-Fetch-Site is what decides."""
    await do_login(browser, op)
    refused = await browser.post(
        "/auth/logout", headers={"Origin": "https://app.test", "Sec-Fetch-Site": "cross-site"}
    )
    assert refused.status_code == 403
    allowed = await browser.post(
        "/auth/logout", headers={"Origin": "null", "Sec-Fetch-Site": "same-origin"}
    )
    assert allowed.status_code == 303


async def test_a_token_type_the_provider_cannot_revoke_is_not_a_warning(
    kit_factory: Callable[..., OIDCAuth], op: FakeOP, caplog: pytest.LogCaptureFixture
) -> None:
    real = op.handle

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/revoke" and b"access_token" in request.content:
            return httpx.Response(400, json={"error": "unsupported_token_type"})
        return real(request)

    op.handle = handle  # type: ignore[method-assign]  (before the kit's transport is made)
    transport = httpx.ASGITransport(app=build_app(kit_factory()))
    async with httpx.AsyncClient(transport=transport, base_url=APP) as client:
        await do_login(client, op)
        caplog.set_level(logging.INFO, logger="oidc_kit")
        response = await client.post("/auth/logout", headers={"Origin": APP})
    assert response.status_code == 303  # revocation never blocks a logout
    revocation_lines = [r for r in caplog.records if "token revocation" in r.getMessage()]
    assert [r.levelno for r in revocation_lines] == [logging.INFO]


async def test_vary_cookie_is_merged_with_the_apps_own_vary(kit: OIDCAuth) -> None:
    async def negotiated(request: Request) -> Response:
        return PlainTextResponse("x", headers={"Vary": "Accept"})

    app = Starlette(routes=[Route("/n", negotiated)], middleware=[kit.middleware])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=APP) as c:
        response = await c.get("/n")
    assert response.headers.get_list("vary") == ["Accept, Cookie"]
    assert "cache-control" not in response.headers  # no session cookie: cacheable


async def test_user_claims_are_read_only(kit: OIDCAuth, op: FakeOP) -> None:
    """Decoded sessions are shared between requests: a handler cannot change them."""
    from oidc_kit.starlette import OIDCUser
    from tests.conftest import login

    result = await login(kit, op)
    session = await kit._sessions.create(result.tokens, result.claims, result.provider_sid)
    user = OIDCUser(session)
    with pytest.raises(TypeError):
        user.claims["name"] = "Mallory"  # type: ignore[index]
    assert user.claims["name"] == "Test User"


async def test_the_lifespan_closes_what_the_kit_opened(tmp_path: Path) -> None:
    """``Starlette(lifespan=auth.lifespan)`` starts the app and closes the kit at shutdown."""
    from tests.conftest import make_config

    auth = OIDCAuth(make_config(session_store=f"sqlite:///{tmp_path}/s.db"))
    app = Starlette(routes=[Mount("/auth", routes=auth.routes)], lifespan=auth.lifespan)
    messages: list[dict[str, Any]] = []
    incoming = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])

    async def receive() -> dict[str, Any]:
        return next(incoming)

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    await app({"type": "lifespan", "state": {}}, receive, send)  # type: ignore[arg-type]
    assert [m["type"] for m in messages] == [
        "lifespan.startup.complete",
        "lifespan.shutdown.complete",
    ]
    assert auth.http.is_closed
