"""Flask and Django (WSGI and ASGI) through HTTP, each held to the same assertions: the kit's
routes, the session step on every request, ``login_required`` on sync and async views, errors
as on Starlette, the user's token from a view, bodies read bounded, audit events."""

from __future__ import annotations

import io
import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from oidc_kit._body_rules import MAX_BODY
from oidc_kit.testing import sandbox_login
from tests.flask.conftest import APP, CLIENT_IP, OP, PAYMENT
from tests.sync_adapters.conftest import ADAPTER_VIEWS, WSGI_ADAPTERS, Adapter, WSGIApp

#: For the tests of the views: each adapter with each set of views (``views``) its app has.
each_view_set = pytest.mark.parametrize(("adapter", "views"), ADAPTER_VIEWS, indirect=["adapter"])


async def test_login_redirects_to_the_provider_with_pkce(adapter: Adapter) -> None:
    response = await adapter.browser.get("/auth/login", params={"next": "/accounts"})
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


@each_view_set
async def test_callback_sets_the_session_and_the_user(adapter: Adapter, views: str) -> None:
    browser = adapter.browser
    done = await sandbox_login(browser, adapter.op, "alice", next_path="/")
    assert done.status_code == 303
    assert done.headers["location"] == "/"
    assert adapter.session_cookie in browser.cookies
    page = await browser.get("/")
    assert page.status_code == 200
    assert page.text.startswith("hello ")
    assert page.headers["vary"] == "Cookie"
    assert page.headers["cache-control"] == "no-store"
    me = (await browser.get(f"/api{views}/me")).json()
    assert me["sub"] == "sandbox-alice"
    assert "accounts:read" in me["scopes"]
    assert me.get("async", False) is bool(views)  # the async view answered it
    session = await browser.get("/auth/session")
    assert session.status_code == 200
    assert session.json()["authenticated"] is True
    assert session.json()["sub"] == "sandbox-alice"
    assert "eyJ" not in session.text  # never a token


async def test_the_user_is_anonymous_without_a_session(adapter: Adapter) -> None:
    answer = await adapter.browser.get("/public")
    assert answer.json() == {"authenticated": False, "sub": None}
    assert answer.headers["vary"] == "Cookie"
    assert "cache-control" not in answer.headers  # no session cookie: nothing per-user


@each_view_set
async def test_login_required_redirects_pages_and_refuses_json(
    adapter: Adapter, views: str
) -> None:
    browser = adapter.browser
    page = await browser.get("/", params={"tab": "1"})
    assert page.status_code == 303
    assert page.headers["location"] == "/auth/login?next=%2F%3Ftab%3D1"
    api = await browser.get(f"/api{views}/me")
    assert api.status_code == 401
    assert api.json()["error"] == "login_required"
    assert (await browser.get("/auth/session")).json() == {"authenticated": False}


@each_view_set
async def test_scopes_and_step_up(adapter: Adapter, views: str) -> None:
    browser = adapter.browser
    await sandbox_login(browser, adapter.op, "alice")
    write = await browser.get(f"/api{views}/write")
    assert write.status_code == 403
    assert write.json()["error"] == "insufficient_scope"
    mfa = await browser.get(f"{views}/mfa")
    assert mfa.status_code == 303
    query = parse_qs(urlsplit(mfa.headers["location"]).query)
    assert query["acr_values"] == ["urn:example:mfa"]
    assert query["next"] == [f"{views}/mfa"]
    api = await browser.get(f"{views}/mfa", headers={"Accept": "application/json"})
    assert api.status_code == 401
    assert api.json()["error"] == "insufficient_user_authentication"
    assert "acr_values" in api.headers["www-authenticate"]


@each_view_set
async def test_a_routes_authorization_details_are_a_step_up(adapter: Adapter, views: str) -> None:
    """``login_required(authorization_details=[...])`` (RFC 9396): a session whose grant does
    not hold them logs in again asking the provider for exactly them; then the route opens."""
    browser = adapter.browser
    await sandbox_login(browser, adapter.op, "alice")
    step_up = await browser.get(f"{views}/pay")
    assert step_up.status_code == 303
    query = parse_qs(urlsplit(step_up.headers["location"]).query)
    assert json.loads(query["authorization_details"][0]) == [PAYMENT]
    assert query["next"] == [f"{views}/pay"]
    api = await browser.get(f"{views}/pay", headers={"Accept": "application/json"})
    assert api.status_code == 401
    assert api.json()["error"] == "insufficient_user_authentication"

    login_params = {"authorization_details": query["authorization_details"][0]}
    done = await sandbox_login(
        browser, adapter.op, "alice", next_path=f"{views}/pay", login_params=login_params
    )

    assert done.status_code == 303, done.text
    assert (await browser.get(f"{views}/pay")).text == "pay"


async def test_logout_is_same_origin_only(adapter: Adapter) -> None:
    browser = adapter.browser
    await sandbox_login(browser, adapter.op, "alice")
    refused = await browser.post("/auth/logout", headers={"Origin": "https://evil.test"})
    assert refused.status_code == 403
    assert (await browser.get("/auth/session")).status_code == 200
    done = await browser.post("/auth/logout", headers={"Origin": APP})
    assert done.status_code == 303
    assert done.headers["location"].startswith(f"{OP}/")
    name = adapter.session_cookie
    cleared = [c for c in done.headers.get_list("set-cookie") if c.startswith(f"{name}=")]
    assert cleared == [adapter.web.expired_cookie_header(name)]
    assert "Max-Age=0" in cleared[0]
    assert (await browser.get("/auth/session")).status_code == 401


async def test_a_stale_cookie_is_expired(adapter: Adapter) -> None:
    name = adapter.session_cookie
    answer = await adapter.browser.get("/public", headers={"Cookie": f"{name}=forged"})
    assert answer.json()["authenticated"] is False
    assert answer.headers["cache-control"] == "no-store"
    expired = [c for c in answer.headers.get_list("set-cookie") if c.startswith(f"{name}=")]
    assert expired == [adapter.web.expired_cookie_header(name)]
    assert "Max-Age=0" in expired[0]


async def test_methods_a_route_does_not_take_are_405_with_allow(adapter: Adapter) -> None:
    browser = adapter.browser
    page = await browser.put("/auth/login")
    assert page.status_code == 405
    assert page.headers["allow"] == "GET, HEAD"
    machine = await browser.delete("/auth/session")
    assert machine.status_code == 405
    assert machine.json()["error"] == "method_not_allowed"
    assert machine.headers["allow"] == "GET, HEAD, POST"
    head = await browser.head("/auth/jwks")
    assert head.status_code == 404 and head.content == b""  # no client key: the kit's 404


async def test_a_body_over_the_limit_is_413(adapter: Adapter) -> None:
    browser = adapter.browser
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


def wsgi_post(app: WSGIApp, path: str, body: io.RawIOBase | io.BytesIO, length: str | None) -> str:
    """POST ``body`` to ``path`` as a WSGI server would; the status line. Without ``length``,
    chunked: no ``CONTENT_LENGTH``, the server marks the input terminated."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "SERVER_NAME": "app.test",
        "SERVER_PORT": "443",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "https",
        "wsgi.input": body,
        "CONTENT_TYPE": "application/x-www-form-urlencoded",
    }
    if length is None:
        environ["wsgi.input_terminated"] = True
    else:
        environ["CONTENT_LENGTH"] = length
    found: list[str] = []
    answer = app(environ, lambda status, headers, exc_info=None: found.append(status))
    getattr(answer, "close", lambda: None)()  # as a server does: the request is finished
    return found[0]


class _Unreadable(io.RawIOBase):
    def read(self, size: int = -1) -> bytes:
        raise AssertionError("a body declared too large must not be read")


@pytest.mark.parametrize("adapter", WSGI_ADAPTERS, indirect=True)
def test_a_body_without_a_length_is_counted_and_a_declared_one_refused_unread(
    adapter: Adapter,
) -> None:
    assert adapter.wsgi is not None
    # Chunked: read as it comes, refused once past the limit.
    body = b"logout_token=" + b"x" * MAX_BODY
    chunked = wsgi_post(adapter.wsgi, "/auth/backchannel-logout", io.BytesIO(body), None)
    assert chunked.startswith("413 ")
    short = io.BytesIO(b"logout_token=x")
    status = wsgi_post(adapter.wsgi, "/auth/backchannel-logout", short, None)
    assert status.startswith("400 ")  # read whole, and refused for what it says
    declared = wsgi_post(adapter.wsgi, "/auth/callback", _Unreadable(), str(MAX_BODY + 1))
    assert declared.startswith("413 ")


async def test_a_store_outage_is_503_and_keeps_the_session(adapter: Adapter) -> None:
    browser = adapter.browser
    await sandbox_login(browser, adapter.op, "alice")
    adapter.store.down = True
    api = await browser.get("/api/me")
    assert api.status_code == 503
    assert api.json()["error"] == "session_store_unavailable"
    page = await browser.get("/")
    assert page.status_code == 503
    assert "text/html" in page.headers["content-type"]
    assert "set-cookie" not in page.headers  # the cookie is kept
    adapter.store.down = False
    assert (await browser.get("/api/me")).json()["sub"] == "sandbox-alice"


@each_view_set
async def test_the_auth_refreshes_once_on_a_401(adapter: Adapter, views: str) -> None:
    browser = adapter.browser
    await sandbox_login(browser, adapter.op, "alice")
    before = (await browser.get("/auth/session")).json()["expires_at"]
    answer = await browser.get(f"/api{views}/accounts")
    assert answer.status_code == 200
    assert answer.json() == {"data": [{"id": "acc-1"}]}
    seen = adapter.seen
    assert len(seen) == 2 and seen[0] != seen[1]  # refused, refreshed, retried once
    assert all(token.startswith("Bearer ") for token in seen)
    assert (await browser.get("/auth/session")).json()["expires_at"] >= before


async def test_audit_events_name_the_requests_client(adapter: Adapter) -> None:
    await sandbox_login(adapter.browser, adapter.op, "alice")
    await adapter.browser.post("/auth/logout", headers={"Origin": APP})
    events = {event.event: event for event in adapter.recorder.events}
    assert events["login.succeeded"].client_ip == CLIENT_IP
    assert events["logout"].client_ip == CLIENT_IP
    assert {line["event"] for line in adapter.recorder.lines()} >= {"login.succeeded", "logout"}
