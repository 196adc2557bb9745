"""The Flask adapter through HTTP: the kit's routes, the session step on every request,
``login_required``, errors as on Starlette, the user's token from a sync view."""

from __future__ import annotations

import io
from urllib.parse import parse_qs, urlsplit

import flask
import httpx
from werkzeug.test import EnvironBuilder, run_wsgi_app

from oidc_kit._body_rules import MAX_BODY
from oidc_kit.flask import OIDC
from oidc_kit.testing import SandboxClient, SandboxProvider, sandbox_login
from tests.flask.conftest import (
    APP,
    CLIENT_IP,
    OP,
    AsyncWSGITransport,
    FlakyStore,
    Recorder,
    Seen,
    build_app,
    make_config,
)


def session_cookie(app: flask.Flask) -> str:
    name: str = app.extensions["oidc_kit"].web.rp.session_cookie
    return name


async def test_login_redirects_to_the_provider_with_pkce(browser: httpx.AsyncClient) -> None:
    response = await browser.get("/auth/login", params={"next": "/accounts"})
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith(f"{OP}/")
    query = parse_qs(urlsplit(location).query)
    assert query["response_type"] == ["code"]
    assert query["code_challenge_method"] == ["S256"]
    assert query["state"] and query["nonce"]
    assert response.headers["cache-control"] == "no-store"


async def test_callback_sets_the_session_and_current_user(
    browser: httpx.AsyncClient, op: SandboxProvider, app: flask.Flask
) -> None:
    done = await sandbox_login(browser, op, "alice", next_path="/")
    assert done.status_code == 303
    assert done.headers["location"] == "/"
    assert session_cookie(app) in browser.cookies
    page = await browser.get("/")
    assert page.status_code == 200
    assert page.text.startswith("hello ")
    assert page.headers["vary"] == "Cookie"
    assert page.headers["cache-control"] == "no-store"
    me = (await browser.get("/api/me")).json()
    assert me["sub"] == "sandbox-alice"
    assert "accounts:read" in me["scopes"]
    session = await browser.get("/auth/session")
    assert session.status_code == 200
    assert session.json()["authenticated"] is True
    assert session.json()["sub"] == "sandbox-alice"
    assert "eyJ" not in session.text  # never a token


async def test_current_user_is_anonymous_without_a_session(browser: httpx.AsyncClient) -> None:
    answer = await browser.get("/public")
    assert answer.json() == {"authenticated": False, "sub": None}
    assert answer.headers["vary"] == "Cookie"
    assert "cache-control" not in answer.headers  # no session cookie: nothing per-user


async def test_login_required_redirects_pages_and_refuses_json(
    browser: httpx.AsyncClient,
) -> None:
    page = await browser.get("/", params={"tab": "1"})
    assert page.status_code == 303
    assert page.headers["location"] == "/auth/login?next=%2F%3Ftab%3D1"
    api = await browser.get("/api/me")
    assert api.status_code == 401
    assert api.json()["error"] == "login_required"
    assert (await browser.get("/auth/session")).json() == {"authenticated": False}


async def test_scopes_and_step_up(browser: httpx.AsyncClient, op: SandboxProvider) -> None:
    await sandbox_login(browser, op, "alice")
    write = await browser.get("/api/write")
    assert write.status_code == 403
    assert write.json()["error"] == "insufficient_scope"
    mfa = await browser.get("/mfa")
    assert mfa.status_code == 303
    query = parse_qs(urlsplit(mfa.headers["location"]).query)
    assert query["acr_values"] == ["urn:example:mfa"]
    assert query["next"] == ["/mfa"]
    api = await browser.get("/mfa", headers={"Accept": "application/json"})
    assert api.status_code == 401
    assert api.json()["error"] == "insufficient_user_authentication"
    assert "acr_values" in api.headers["www-authenticate"]


async def test_logout_is_same_origin_only(
    browser: httpx.AsyncClient, op: SandboxProvider, app: flask.Flask
) -> None:
    await sandbox_login(browser, op, "alice")
    refused = await browser.post("/auth/logout", headers={"Origin": "https://evil.test"})
    assert refused.status_code == 403
    assert (await browser.get("/auth/session")).status_code == 200
    done = await browser.post("/auth/logout", headers={"Origin": APP})
    assert done.status_code == 303
    assert done.headers["location"].startswith(f"{OP}/")
    cleared = [c for c in done.headers.get_list("set-cookie") if c.startswith(session_cookie(app))]
    assert cleared and "Max-Age=0" in cleared[0]
    assert (await browser.get("/auth/session")).status_code == 401


async def test_a_stale_cookie_is_expired(browser: httpx.AsyncClient, app: flask.Flask) -> None:
    name = session_cookie(app)
    answer = await browser.get("/public", headers={"Cookie": f"{name}=forged"})
    assert answer.json()["authenticated"] is False
    assert answer.headers["cache-control"] == "no-store"
    expired = [c for c in answer.headers.get_list("set-cookie") if c.startswith(f"{name}=")]
    assert len(expired) == 1 and "Max-Age=0" in expired[0]


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


def test_a_body_without_a_length_is_counted(app: flask.Flask) -> None:
    # Chunked (no Content-Length; the server marks the input terminated): read as it comes,
    # refused once past the limit.
    body = b"logout_token=" + b"x" * MAX_BODY
    builder = EnvironBuilder(
        path="/auth/backchannel-logout",
        method="POST",
        base_url=APP,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    environ = builder.get_environ()
    environ.pop("CONTENT_LENGTH", None)
    environ.update({"wsgi.input": io.BytesIO(body), "wsgi.input_terminated": True})
    _, status, _ = run_wsgi_app(app, environ, buffered=True)
    assert status.startswith("413 ")
    environ.update({"wsgi.input": io.BytesIO(b"logout_token=x")})
    _, status, _ = run_wsgi_app(app, environ, buffered=True)
    assert status.startswith("400 ")  # read whole, and refused for what it says


class _Unreadable(io.RawIOBase):
    def read(self, size: int = -1) -> bytes:
        raise AssertionError("a body declared too large must not be read")


def test_a_declared_length_over_the_limit_is_refused_unread(app: flask.Flask) -> None:
    environ = EnvironBuilder(
        path="/auth/callback",
        method="POST",
        base_url=APP,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    ).get_environ()
    environ.update({"CONTENT_LENGTH": str(MAX_BODY + 1), "wsgi.input": _Unreadable()})
    _, status, _ = run_wsgi_app(app, environ, buffered=True)
    assert status.startswith("413 ")


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
    store.down = False
    assert (await browser.get("/api/me")).json()["sub"] == "sandbox-alice"


async def test_the_sync_auth_refreshes_once_on_a_401(
    browser: httpx.AsyncClient, op: SandboxProvider, seen: Seen
) -> None:
    await sandbox_login(browser, op, "alice")
    before = (await browser.get("/auth/session")).json()["expires_at"]
    answer = await browser.get("/api/accounts")
    assert answer.status_code == 200
    assert answer.json() == {"data": [{"id": "acc-1"}]}
    assert len(seen) == 2 and seen[0] != seen[1]  # refused, refreshed, retried once
    assert all(token.startswith("Bearer ") for token in seen)
    assert (await browser.get("/auth/session")).json()["expires_at"] >= before


async def test_audit_events_name_the_requests_client(
    browser: httpx.AsyncClient, op: SandboxProvider, recorder: Recorder
) -> None:
    await sandbox_login(browser, op, "alice")
    await browser.post("/auth/logout", headers={"Origin": APP})
    events = {event.event: event for event in recorder.events}
    assert events["login.succeeded"].client_ip == CLIENT_IP
    assert events["logout"].client_ip == CLIENT_IP
    assert {line["event"] for line in recorder.lines()} >= {"login.succeeded", "logout"}


async def test_dpop_bound_tokens_are_sent_with_proofs_and_the_apis_nonce(
    store: FlakyStore,
) -> None:
    # DPoP through the sync auth: a proof on every try, and the API's nonce demand met by one
    # more try, each step of BearerAuth's flow run on the kit's loop.
    client = SandboxClient(
        "app", "app-secret", (f"{APP}/auth/callback",), dpop_bound_access_tokens=True
    )
    op = SandboxProvider(OP, [client])
    oidc = OIDC(
        config=make_config(dpop=True),
        store=store,
        http_client=lambda: httpx.AsyncClient(transport=httpx.ASGITransport(app=op.app)),
    )
    #: Each try's headers, as sent (a retry is the same request, its headers changed).
    tries: list[httpx.Headers] = []

    def handle(request: httpx.Request) -> httpx.Response:
        tries.append(request.headers.copy())
        if request.headers.get("dpop") and len(tries) == 1:
            challenge = {"WWW-Authenticate": 'DPoP error="use_dpop_nonce"', "DPoP-Nonce": "n-1"}
            return httpx.Response(401, headers=challenge, json={"error": "use_dpop_nonce"})
        return httpx.Response(200, json={"data": []})

    app = build_app(oidc, httpx.MockTransport(handle))
    oidc.init_app(app)
    try:
        transport = AsyncWSGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url=APP) as browser:
            await sandbox_login(browser, op, "alice")
            answer = await browser.get("/api/accounts")
        assert answer.status_code == 200
        assert len(tries) == 2
        assert all(t["authorization"].startswith("DPoP ") for t in tries)
        proofs = [t["dpop"] for t in tries]
        assert proofs[0] != proofs[1]  # a fresh proof, the second with the nonce
    finally:
        app.extensions["oidc_kit"].close()
