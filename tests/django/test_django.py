"""The Django adapter through Django's WSGI and ASGI handlers: the kit's routes, the session
step on every request, ``login_required`` on sync and async views, errors as on Starlette and
Flask, the user's token from sync and async views."""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from oidc_kit._body_rules import MAX_BODY
from oidc_kit.django._kit import get_kit
from oidc_kit.testing import SandboxProvider, sandbox_login
from tests.django.conftest import session_cookie
from tests.flask.conftest import APP, CLIENT_IP, OP, FlakyStore, Recorder, Seen


async def test_login_redirects_to_the_provider_with_pkce(browser: httpx.AsyncClient) -> None:
    response = await browser.get("/auth/login", params={"next": "/accounts"})
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith(f"{OP}/")
    query = parse_qs(urlsplit(location).query)
    assert query["response_type"] == ["code"]
    assert query["code_challenge_method"] == ["S256"]
    assert query["state"] and query["nonce"]
    assert query["redirect_uri"] == [f"{APP}/auth/callback"]
    assert response.headers["cache-control"] == "no-store"
    assert "content-type" not in response.headers  # a redirect: no body, no type


async def test_callback_sets_the_session_and_request_user(
    browser: httpx.AsyncClient, op: SandboxProvider
) -> None:
    done = await sandbox_login(browser, op, "alice", next_path="/")
    assert done.status_code == 303
    assert done.headers["location"] == "/"
    assert session_cookie() in browser.cookies
    page = await browser.get("/")
    assert page.status_code == 200
    assert page.text.startswith("hello ")
    assert page.headers["vary"] == "Cookie"
    assert page.headers["cache-control"] == "no-store"
    me = (await browser.get("/api/me")).json()
    assert me["sub"] == "sandbox-alice"
    assert "accounts:read" in me["scopes"]
    assert (await browser.get("/api/async/me")).json() == {"sub": "sandbox-alice", "async": True}
    session = await browser.get("/auth/session")
    assert session.status_code == 200
    assert session.json()["authenticated"] is True
    assert session.json()["sub"] == "sandbox-alice"
    assert "eyJ" not in session.text  # never a token


async def test_the_callbacks_cookies_are_the_kits_lines_verbatim(
    browser: httpx.AsyncClient, op: SandboxProvider
) -> None:
    # Each Set-Cookie line as the kit wrote it (CookieWriter: what Starlette sends), not
    # re-serialized by Django's cookie jar; several in one answer, each a header of its own.
    done = await sandbox_login(browser, op, "alice")
    lines = done.headers.get_list("set-cookie")
    web = get_kit().sync.web
    sid_line = next(line for line in lines if line.startswith(f"{session_cookie()}="))
    value = sid_line.split("=", 1)[1].split(";")[0]
    change = replace(web.rp.session_cookie_change("any"), value=value)
    assert sid_line == web.cookies.header(change)
    logout = await browser.post("/auth/logout", headers={"Origin": APP})
    lines = logout.headers.get_list("set-cookie")
    assert lines[0] == web.expired_cookie_header(web.rp.session_cookie)
    assert lines[1].startswith(f"{web.rp.logout_cookie}=")  # the logout's state, a line of its own
    assert len(lines) == 2 and all(line == line.strip() for line in lines)


@pytest.mark.parametrize("mode", ["asgi"])
async def test_request_user_is_anonymous_without_a_session(browser: httpx.AsyncClient) -> None:
    answer = await browser.get("/public")
    assert answer.json() == {"authenticated": False, "sub": None}
    assert answer.headers["vary"] == "Cookie"
    assert "cache-control" not in answer.headers  # no session cookie: nothing per-user


@pytest.mark.parametrize(("mode", "kind"), [("wsgi", ""), ("asgi", "/async")])
async def test_login_required_redirects_pages_and_refuses_json(
    browser: httpx.AsyncClient, kind: str
) -> None:
    page = await browser.get("/", params={"tab": "1"})
    assert page.status_code == 303
    assert page.headers["location"] == "/auth/login?next=%2F%3Ftab%3D1"
    api = await browser.get(f"/api{kind}/me")
    assert api.status_code == 401
    assert api.json()["error"] == "login_required"
    assert (await browser.get("/auth/session")).json() == {"authenticated": False}


@pytest.mark.parametrize(("mode", "prefix"), [("wsgi", ""), ("asgi", "/async")])
async def test_scopes_and_step_up(
    browser: httpx.AsyncClient, op: SandboxProvider, prefix: str
) -> None:
    await sandbox_login(browser, op, "alice")
    write = await browser.get(f"/api{prefix}/write")
    assert write.status_code == 403
    assert write.json()["error"] == "insufficient_scope"
    mfa = await browser.get(f"{prefix}/mfa")
    assert mfa.status_code == 303
    query = parse_qs(urlsplit(mfa.headers["location"]).query)
    assert query["acr_values"] == ["urn:example:mfa"]
    assert query["next"] == [f"{prefix}/mfa"]
    api = await browser.get(f"{prefix}/mfa", headers={"Accept": "application/json"})
    assert api.status_code == 401
    assert api.json()["error"] == "insufficient_user_authentication"
    assert "acr_values" in api.headers["www-authenticate"]


async def test_logout_is_same_origin_only(browser: httpx.AsyncClient, op: SandboxProvider) -> None:
    await sandbox_login(browser, op, "alice")
    refused = await browser.post("/auth/logout", headers={"Origin": "https://evil.test"})
    assert refused.status_code == 403
    assert (await browser.get("/auth/session")).status_code == 200
    done = await browser.post("/auth/logout", headers={"Origin": APP})
    assert done.status_code == 303
    assert done.headers["location"].startswith(f"{OP}/")
    name = session_cookie()
    cleared = [c for c in done.headers.get_list("set-cookie") if c.startswith(f"{name}=")]
    assert cleared == [get_kit().sync.web.expired_cookie_header(name)]
    assert "Max-Age=0" in cleared[0]
    assert (await browser.get("/auth/session")).status_code == 401


@pytest.mark.parametrize("mode", ["wsgi"])
async def test_a_stale_cookie_is_expired(browser: httpx.AsyncClient) -> None:
    name = session_cookie()
    answer = await browser.get("/public", headers={"Cookie": f"{name}=forged"})
    assert answer.json()["authenticated"] is False
    assert answer.headers["cache-control"] == "no-store"
    expired = [c for c in answer.headers.get_list("set-cookie") if c.startswith(f"{name}=")]
    assert expired == [get_kit().sync.web.expired_cookie_header(name)]


@pytest.mark.parametrize("mode", ["asgi"])
async def test_methods_a_route_does_not_take_are_405_with_allow(
    browser: httpx.AsyncClient,
) -> None:
    page = await browser.put("/auth/login")
    assert page.status_code == 405
    assert page.headers["allow"] == "GET, HEAD"
    machine = await browser.delete("/auth/session")
    assert machine.status_code == 405
    assert machine.json()["error"] == "method_not_allowed"
    assert machine.headers["allow"] == "GET, HEAD, POST"
    head = await browser.head("/auth/jwks")
    assert head.status_code == 404 and head.content == b""  # no client key: the kit's 404


async def test_a_body_over_the_limit_is_413(browser: httpx.AsyncClient) -> None:
    declared = await browser.post(
        "/auth/backchannel-logout",
        content=b"logout_token=" + b"x" * MAX_BODY,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert declared.status_code == 413
    assert declared.json()["error"] == "request_too_large"
    wrong_type = await browser.post("/auth/backchannel-logout", json={"logout_token": "x"})
    assert wrong_type.status_code == 415
    bad = await browser.post(
        "/auth/backchannel-logout",
        content=b"logout_token=x",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert bad.status_code == 400  # read, parsed, and refused for what it says


async def test_a_store_outage_is_503_and_keeps_the_session(
    browser: httpx.AsyncClient, op: SandboxProvider, store: FlakyStore
) -> None:
    await sandbox_login(browser, op, "alice")
    store.down = True
    api = await browser.get("/api/me")
    assert api.status_code == 503
    assert api.json()["error"] == "session_store_unavailable"
    page = await browser.get("/")
    assert page.status_code == 503
    assert "text/html" in page.headers["content-type"]
    assert "set-cookie" not in page.headers  # the cookie is kept
    store.down = False
    assert (await browser.get("/api/me")).json()["sub"] == "sandbox-alice"


@pytest.mark.parametrize(
    ("mode", "path"), [("wsgi", "/api/accounts"), ("asgi", "/api/async/accounts")]
)
async def test_the_auth_refreshes_once_on_a_401(
    browser: httpx.AsyncClient, op: SandboxProvider, seen: Seen, path: str
) -> None:
    await sandbox_login(browser, op, "alice")
    before = (await browser.get("/auth/session")).json()["expires_at"]
    answer = await browser.get(path)
    assert answer.status_code == 200
    assert answer.json() == {"data": [{"id": "acc-1"}]}
    assert len(seen) == 2 and seen[0] != seen[1]  # refused, refreshed, retried once
    assert all(token.startswith("Bearer ") for token in seen)
    assert (await browser.get("/auth/session")).json()["expires_at"] >= before


@pytest.mark.parametrize("mode", ["wsgi"])
async def test_a_kit_error_a_view_raises_is_the_kits_answer(
    browser: httpx.AsyncClient, op: SandboxProvider
) -> None:
    # process_exception: the kit's error as the kit answers it (JSON under /api/, a page or a
    # login elsewhere), not Django's 500.
    unavailable = await browser.get("/api/raises", params={"error": "provider"})
    assert unavailable.status_code == 503
    assert unavailable.json()["error"] == "provider_unavailable"
    page = await browser.get("/raises", params={"error": "login"})
    assert page.status_code == 303
    assert page.headers["location"].startswith("/auth/login?next=")


async def test_audit_events_name_the_requests_client(
    browser: httpx.AsyncClient, op: SandboxProvider, recorder: Recorder
) -> None:
    await sandbox_login(browser, op, "alice")
    await browser.post("/auth/logout", headers={"Origin": APP})
    events = {event.event: event for event in recorder.events}
    assert events["login.succeeded"].client_ip == CLIENT_IP
    assert events["logout"].client_ip == CLIENT_IP
    assert {line["event"] for line in recorder.lines()} >= {"login.succeeded", "logout"}
