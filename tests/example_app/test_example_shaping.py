"""The example app shaped by settings: another route prefix, branded kit pages, a signed-out
notice. Driven in process through the embedded sandbox, as
tests/example_app/test_example_pages.py does."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.example_app.test_example_pages import BASE, ENV, _client


async def _log_in(client: httpx.AsyncClient, prefix: str) -> None:
    response = await client.get(f"{prefix}/login")
    assert response.status_code == 303
    page = await client.get(response.headers["location"])
    form = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', page.text))
    action = html.unescape(re.search(r'<form method="post" action="([^"]+)"', page.text)[1])
    form.update(username="alice", password="alice", action="login")
    callback = (await client.post(action, data=form)).headers["location"]
    assert callback.startswith(f"{BASE}{prefix}/callback?")
    assert (await client.get(callback)).status_code == 303


@pytest.fixture
async def sso() -> AsyncIterator[httpx.AsyncClient]:
    async for client in _client({**ENV, "OIDC_ROUTE_PREFIX": "/sso"}):
        yield client


async def test_another_route_prefix_moves_every_kit_route(sso: httpx.AsyncClient) -> None:
    home = await sso.get("/")
    assert 'href="/sso/login"' in home.text and "/auth/" not in home.text
    assert (await sso.get("/auth/login")).status_code == 404

    await _log_in(sso, "/sso")

    session = await sso.get("/sso/session")
    assert session.status_code == 200 and session.json()["sub"] == "sandbox-alice"
    page = await sso.get("/accounts")
    assert page.status_code == 200 and 'action="/sso/logout"' in page.text
    # A protected page without a session sends the browser to the prefix's login.
    logout = await sso.post("/sso/logout", headers={"Sec-Fetch-Site": "same-origin"})
    assert logout.status_code == 303
    assert (await sso.get("/sso/session")).status_code == 401
    again = await sso.get("/accounts")
    assert again.headers["location"].startswith("/sso/login?")


@pytest.fixture
async def app() -> AsyncIterator[httpx.AsyncClient]:
    async for client in _client(ENV):
        yield client


async def test_a_cancelled_sign_in_is_a_branded_page_not_an_error(app: httpx.AsyncClient) -> None:
    start = await app.get("/auth/login")
    state = re.search(r"[?&]state=([^&]+)", start.headers["location"])[1]  # type: ignore[index]
    # What the provider sends back when the user presses Cancel (with RFC 9207's iss).
    answer = {"state": state, "error": "access_denied", "iss": f"{BASE}/sandbox/op"}
    page = await app.get("/auth/callback", params=answer)
    assert "Sign-in cancelled" in page.text
    assert "nothing has changed" in page.text
    assert 'href="/static/style.css"' in page.text  # the app's own layout
    assert "Sign-in problem" not in page.text  # not the kit's bare page


async def test_the_logout_confirmation_is_the_apps(app: httpx.AsyncClient) -> None:
    page = await app.get("/auth/logout")
    assert "Log out of Example Bank?" in page.text
    assert 'method="post" action="/auth/logout"' in page.text
    assert page.headers["x-frame-options"] == "DENY"


async def test_after_logout_the_home_page_says_you_are_signed_out(app: httpx.AsyncClient) -> None:
    await _log_in(app, "/auth")
    logout = await app.post("/auth/logout", headers={"Sec-Fetch-Site": "same-origin"})
    provider_logout = await app.get(logout.headers["location"])  # the sandbox's confirmation
    landing = provider_logout.headers.get("location")
    if landing is None:  # the sandbox asks the user to confirm: confirm
        form = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', provider_logout.text))
        action = re.search(r'<form method="post" action="([^"]+)"', provider_logout.text)[1]  # type: ignore[index]
        landing = (await app.post(html.unescape(action), data=form)).headers["location"]
    assert landing.startswith(f"{BASE}/?state=")
    # The landing moves to a clean address: the logout's state has served (the kit checked it).
    back = await app.get(landing)
    assert back.status_code == 303 and back.headers["location"] == "/"
    home = await app.get("/")
    assert "You are signed out" in home.text
    assert 'role="status"' in home.text
    assert "You are signed out" not in (await app.get("/")).text  # once only


async def test_a_made_up_return_from_logout_says_nothing(app: httpx.AsyncClient) -> None:
    """Only the browser back from its own logout is told it is signed out: a link to
    ``/?state=...`` from anywhere else is the home page, at that address, with no notice."""
    page = await app.get("/", params={"state": "made-up"})
    assert page.status_code == 200 and "You are signed out" not in page.text
