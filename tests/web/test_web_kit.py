"""The session middleware and ``login_required`` need only a :class:`WebKit`, no ``OIDCAuth``.

The app here is built from a bare ``RelyingParty``: the middleware loads the session from the
kit's cookie, re-signs and expires cookies through it, and ``login_required`` finds it in the
scope for its claims and step-up checks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from oidc_kit import InsufficientClaims, MemoryStore, RelyingParty, TokenSet
from oidc_kit._cookies import CookieWriter
from oidc_kit._middleware import AUTH_KEY, KIT_KEY, SIGNED_OUT_KEY, OIDCSessionMiddleware
from oidc_kit._pages import KitPages
from oidc_kit._web_kit import WebKit
from oidc_kit.starlette import login_required
from tests.conftest import Clock, make_config
from tests.fake_op import ISSUER

APP = "https://app.test"


@pytest.fixture
async def web_kit(clock: Clock) -> AsyncIterator[WebKit]:
    config = make_config()
    async with httpx.AsyncClient() as http:
        rp = RelyingParty({"default": config}, store=MemoryStore(), http=http, clock=clock)
        yield WebKit(
            rp=rp,
            cookies=CookieWriter(config, rp.session_cookie),
            pages=KitPages(prefix="/auth"),
            json_paths=("/api/",),
            prefix="/auth",
            origin=APP,
            post_logout_path="/",
        )


def _app(kit: WebKit) -> Starlette:
    async def whoami(request: Request) -> Response:
        return JSONResponse(
            {
                "user": request.user.display_name if request.user.is_authenticated else None,
                "kit": request.scope[KIT_KEY] is kit,
                "owner": request.scope[AUTH_KEY],
                "signed_out": request.scope[SIGNED_OUT_KEY],
            }
        )

    @login_required(claims={"email_verified": True}, max_age=60)
    async def recent(request: Request) -> Response:
        return PlainTextResponse("ok")

    return Starlette(
        routes=[Route("/", whoami), Route("/whoami", whoami), Route("/recent", recent)],
        middleware=[Middleware(OIDCSessionMiddleware, kit=kit)],
    )


async def _browser(kit: WebKit, clock: Clock, **claims: Any) -> httpx.AsyncClient:
    """A browser holding a fresh session's cookie."""
    now = clock()
    tokens = TokenSet("at-1", "Bearer", now + 3600, now, refresh_token="rt-1")
    values = {"iss": ISSUER, "sub": "sandbox-alice", "name": "Alice", "auth_time": now, **claims}
    session = await kit.rp._sessions.create(tokens, values, None)
    name, value = kit.session_cookie_header(session.sid).split(";")[0].split("=", 1)
    transport = httpx.ASGITransport(app=_app(kit))
    return httpx.AsyncClient(transport=transport, base_url=APP, cookies={name: value})


async def test_the_middleware_loads_the_session_with_the_kit_alone(
    web_kit: WebKit, clock: Clock
) -> None:
    async with await _browser(web_kit, clock, email_verified=True) as browser:
        answer = (await browser.get("/whoami")).json()
    assert answer == {"user": "Alice", "kit": True, "owner": None, "signed_out": False}


async def test_a_stale_cookie_is_expired_through_the_kit(web_kit: WebKit) -> None:
    transport = httpx.ASGITransport(app=_app(web_kit))
    cookies = {web_kit.rp.session_cookie: "not-a-session"}
    async with httpx.AsyncClient(transport=transport, base_url=APP, cookies=cookies) as browser:
        response = await browser.get("/whoami")
    assert response.json()["user"] is None
    expired = response.headers["set-cookie"]
    assert expired.startswith(f"{web_kit.rp.session_cookie}=") and "Max-Age=0" in expired


async def test_login_required_finds_the_kit_for_claims_and_step_up(
    web_kit: WebKit, clock: Clock
) -> None:
    async with await _browser(web_kit, clock, email_verified=True) as browser:
        assert (await browser.get("/recent")).text == "ok"
        clock.advance(120)  # the login is now older than the route's max_age
        response = await browser.get("/recent", headers={"Accept": "text/html"})
    assert response.status_code == 303
    assert response.headers["location"] == "/auth/login?next=%2Frecent&max_age=60"


async def test_login_required_refuses_unmet_claims_with_the_kit(
    web_kit: WebKit, clock: Clock
) -> None:
    # Raised for the app's exception handlers (OIDCAuth's render it as a 403).
    async with await _browser(web_kit, clock, email_verified=False) as browser:
        with pytest.raises(InsufficientClaims):
            await browser.get("/recent")


async def test_the_logout_state_is_read_only_on_the_post_logout_landing(web_kit: WebKit) -> None:
    logout = web_kit.rp.logout_cookie
    # The state of a logout this app ended itself (no provider round trip).
    cookies = {logout: web_kit.rp._cookies.sign_login("local")}
    transport = httpx.ASGITransport(app=_app(web_kit))
    async with httpx.AsyncClient(transport=transport, base_url=APP, cookies=cookies) as browser:
        elsewhere = await browser.get("/whoami")
        landing = await browser.get("/")  # post_logout_path
    assert elsewhere.json()["signed_out"] is False
    assert "set-cookie" not in elsewhere.headers  # kept for the landing
    assert landing.json()["signed_out"] is True
    expired = landing.headers["set-cookie"]
    assert expired.startswith(f"{logout}=") and "Max-Age=0" in expired
