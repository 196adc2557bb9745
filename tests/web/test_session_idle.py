"""``GET``/``POST /auth/session``: when the session ends, and "Stay signed in".

What "idle" means here: every request carrying the session cookie counts as activity, but
``last_seen`` is written back at most once a minute, so the idle end moves in steps; a
``POST /auth/session`` writes it at once. The clock is the tests' own: nothing sleeps.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import replace

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from oidc_kit.starlette import OIDCAuth
from tests.conftest import Clock
from tests.fake_op import FakeOP
from tests.web.test_starlette import APP, build_app, do_login

IDLE = 300
ABSOLUTE = 3600
SAME_ORIGIN = {"Origin": APP, "Sec-Fetch-Site": "same-origin"}


@pytest.fixture
def auth(kit_factory: Callable[..., OIDCAuth]) -> OIDCAuth:
    return kit_factory(session_idle_timeout=IDLE, session_absolute_timeout=ABSOLUTE)


@pytest.fixture
async def browser(auth: OIDCAuth) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=build_app(auth))
    async with httpx.AsyncClient(transport=transport, base_url=APP) as client:
        yield client


async def _ends(browser: httpx.AsyncClient) -> tuple[float, float]:
    response = await browser.get("/auth/session")
    assert response.status_code == 200, response.text
    body = response.json()
    return body["idle_expires_at"], body["absolute_expires_at"]


async def test_the_session_says_when_it_ends(
    browser: httpx.AsyncClient, op: FakeOP, clock: Clock
) -> None:
    login_at = clock.now
    await do_login(browser, op)
    body = (await browser.get("/auth/session")).json()
    assert body["idle_expires_at"] == login_at + IDLE
    assert body["absolute_expires_at"] == login_at + ABSOLUTE
    # expires_at stays what it was: the access token's expiry, which refreshes move on.
    assert body["expires_at"] == login_at + 3600  # the fake provider's expires_in
    assert body["authenticated"] is True and body["sub"] == "user-1"


async def test_requests_move_the_idle_end_at_most_once_a_minute(
    browser: httpx.AsyncClient, op: FakeOP, clock: Clock
) -> None:
    login_at = clock.now
    await do_login(browser, op)
    clock.advance(30)
    assert await _ends(browser) == (login_at + IDLE, login_at + ABSOLUTE)  # not written back
    clock.advance(30)
    assert await _ends(browser) == (clock.now + IDLE, login_at + ABSOLUTE)


async def test_post_extends_the_session_at_once(
    browser: httpx.AsyncClient, op: FakeOP, clock: Clock
) -> None:
    login_at = clock.now
    await do_login(browser, op)
    clock.advance(10)  # under the once-a-minute write: the POST writes anyway
    response = await browser.post("/auth/session", headers=SAME_ORIGIN)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["idle_expires_at"] == clock.now + IDLE
    assert body["absolute_expires_at"] == login_at + ABSOLUTE  # never moved
    assert body["authenticated"] is True and body["sub"] == "user-1"
    assert await _ends(browser) == (clock.now + IDLE, login_at + ABSOLUTE)  # stored


async def test_stay_signed_in_keeps_a_session_past_its_idle_end(
    browser: httpx.AsyncClient, op: FakeOP, clock: Clock
) -> None:
    await do_login(browser, op)
    clock.advance(IDLE - 10)
    assert (await browser.post("/auth/session", headers=SAME_ORIGIN)).status_code == 200
    clock.advance(IDLE - 10)  # past the first idle end
    assert (await browser.get("/page")).text == "hello Test User"
    clock.advance(IDLE)  # idle for the whole timeout: ended
    assert (await browser.get("/auth/session")).status_code == 401
    response = await browser.post("/auth/session", headers=SAME_ORIGIN)
    assert response.status_code == 401
    assert response.json() == {"authenticated": False}


async def test_post_cannot_pass_the_absolute_end(
    kit_factory: Callable[..., OIDCAuth], op: FakeOP, clock: Clock
) -> None:
    auth = kit_factory(session_idle_timeout=IDLE, session_absolute_timeout=2 * IDLE)
    transport = httpx.ASGITransport(app=build_app(auth))
    async with httpx.AsyncClient(transport=transport, base_url=APP) as browser:
        await do_login(browser, op)
        clock.advance(IDLE - 1)
        assert (await browser.post("/auth/session", headers=SAME_ORIGIN)).status_code == 200
        clock.advance(IDLE - 1)
        assert (await browser.post("/auth/session", headers=SAME_ORIGIN)).status_code == 200
        clock.advance(2)
        assert (await browser.post("/auth/session", headers=SAME_ORIGIN)).status_code == 401


@pytest.mark.parametrize(
    "headers",
    [{"Origin": "https://evil.test"}, {"Sec-Fetch-Site": "cross-site"}, {"Origin": "null"}],
)
async def test_a_cross_site_post_is_refused(
    browser: httpx.AsyncClient, op: FakeOP, clock: Clock, headers: dict[str, str]
) -> None:
    login_at = clock.now
    await do_login(browser, op)
    clock.advance(10)
    response = await browser.post("/auth/session", headers=headers)
    assert response.status_code == 403
    assert response.json()["error"] == "cross_site_request"
    assert await _ends(browser) == (login_at + IDLE, login_at + ABSOLUTE)  # not extended


async def test_a_cross_site_post_is_refused_without_a_session(
    browser: httpx.AsyncClient,
) -> None:
    response = await browser.post("/auth/session", headers={"Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 403
    assert response.json()["error"] == "cross_site_request"


async def test_post_without_a_session_is_401(browser: httpx.AsyncClient) -> None:
    response = await browser.post("/auth/session", headers=SAME_ORIGIN)
    assert response.status_code == 401
    assert response.json() == {"authenticated": False}
    assert response.headers["cache-control"] == "no-store"


async def test_post_reads_no_large_body(browser: httpx.AsyncClient, op: FakeOP) -> None:
    await do_login(browser, op)
    response = await browser.post("/auth/session", headers=SAME_ORIGIN, content=b"x" * 70_000)
    assert response.status_code == 413
    assert response.json()["error"] == "request_too_large"


async def test_other_methods_are_405(browser: httpx.AsyncClient) -> None:
    assert (await browser.delete("/auth/session")).status_code == 405


async def test_touch_keeps_tokens_another_request_stored(
    auth: OIDCAuth, op: FakeOP, clock: Clock, browser: httpx.AsyncClient
) -> None:
    """A refresh stored between a request's load and its "Stay signed in" is not undone."""
    await do_login(browser, op)
    sessions = auth._sessions
    sid = auth.rp._cookies.session_id(browser.cookies["__Host-oidc_session"])
    assert sid is not None
    loaded = await sessions.load(sid)
    assert loaded is not None
    newer = replace(sessions.tokens(loaded), refresh_token="rotated-refresh")
    assert await sessions.save(sessions.with_tokens(loaded, newer))
    clock.advance(5)
    touched = await sessions.touch(sid)
    assert touched is not None and touched.last_seen == clock.now
    stored = await sessions.load(sid)
    assert stored is not None
    assert sessions.tokens(stored).refresh_token == "rotated-refresh"


async def test_session_ends_at_is_what_the_route_says(
    auth: OIDCAuth, op: FakeOP, clock: Clock
) -> None:
    """``auth.session_ends_at(request)``: the same times, for a page's warning."""

    async def ends(request: Request) -> Response:
        return JSONResponse(list(auth.session_ends_at(request)))

    app = build_app(auth)
    app.router.routes.append(Route("/ends", ends))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=APP) as browser:
        assert (await browser.get("/ends")).status_code == 303  # LoginRequired: log in first
        await do_login(browser, op)
        clock.advance(61)
        idle, absolute = await _ends(browser)
        assert (await browser.get("/ends")).json() == [idle, absolute]
