"""Users' control of their sessions: ``GET /auth/sessions``,
``POST /auth/sessions/{handle}/revoke``, ``POST /auth/logout?everywhere=1``, and the operators'
``revoke_user``.

Each browser here is an ``httpx.AsyncClient`` with its own cookies, address and ``User-Agent``;
the provider is the fake one, which records the tokens revoked at it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import parse_qs

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from oidc_kit import AuditEvent, Hooks, MemoryStore, SessionInfo
from oidc_kit._audit import session_handle
from oidc_kit._session import _index_key
from oidc_kit.starlette import OIDCAuth
from tests.conftest import Clock, make_config
from tests.fake_op import ISSUER, FakeOP
from tests.web.test_starlette import do_login

APP = "https://app.test"
CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
SAME_ORIGIN = {"Origin": APP}
JSON = {"Accept": "application/json", **SAME_ORIGIN}

Browser = Callable[..., Awaitable[httpx.AsyncClient]]


@pytest.fixture
def events() -> list[AuditEvent]:
    return []


@pytest.fixture
async def kit(op: FakeOP, clock: Clock, events: list[AuditEvent]) -> AsyncIterator[OIDCAuth]:
    async def record(event: AuditEvent) -> None:
        events.append(event)

    auth = OIDCAuth(
        make_config(),
        http_client=httpx.AsyncClient(transport=op.transport()),
        store=MemoryStore(),
        clock=clock,
        hooks=Hooks(on_audit=record),
    )
    yield auth
    await auth.http.aclose()


@pytest.fixture
async def browser(kit: OIDCAuth, op: FakeOP) -> AsyncIterator[Browser]:
    """Opens a browser (``user``: logged in as them first) at ``ip`` with ``agent``."""
    app = Starlette(
        routes=[Mount("/auth", routes=kit.routes)],
        middleware=[kit.middleware],
        exception_handlers=kit.exception_handlers,
    )
    opened: list[httpx.AsyncClient] = []

    async def open_browser(
        user: str | None = None, ip: str = "203.0.113.7", agent: str = CHROME
    ) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=(ip, 50123))
        client = httpx.AsyncClient(transport=transport, base_url=APP, headers={"User-Agent": agent})
        opened.append(client)
        if user is not None:
            op.sub = user
            assert (await do_login(client, op)).status_code == 303
        return client

    yield open_browser
    for client in opened:
        await client.aclose()


def sid_of(kit: OIDCAuth, browser: httpx.AsyncClient) -> str:
    sid, _ = kit.rp._cookies.read_session(browser.cookies[kit.session_cookie])
    assert sid is not None
    return sid


async def refresh_token_of(kit: OIDCAuth, browser: httpx.AsyncClient) -> str:
    session = await kit._sessions.load(sid_of(kit, browser))
    assert session is not None
    token = kit._sessions.tokens(session).refresh_token
    assert token is not None
    return token


def revoked_at_provider(op: FakeOP) -> set[str]:
    return {
        parse_qs(r.content.decode())["token"][0] for r in op.requests if r.url.path == "/revoke"
    }


async def logged_in(browser: httpx.AsyncClient) -> bool:
    status = (await browser.get("/auth/session")).status_code
    assert status in (200, 401)
    return status == 200


def revoked(events: list[AuditEvent]) -> list[tuple[str | None, str | None, str | None]]:
    return [(e.sub, e.session, e.reason) for e in events if e.event == "session.revoked"]


# -- the list ----------------------------------------------------------------------------------


async def test_the_list_shows_each_live_session_newest_first_and_which_is_this_one(
    kit: OIDCAuth, browser: Browser, clock: Clock
) -> None:
    first = await browser("alice")
    clock.advance(10)
    second = await browser("alice", ip="198.51.100.20", agent=FIREFOX)
    await browser("bob")
    response = await first.get("/auth/sessions")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    newest, oldest = response.json()["sessions"]
    assert newest == {
        "handle": session_handle(sid_of(kit, second)),
        "created_at": int(clock.now),
        "last_seen": int(clock.now),
        "user_agent": "Firefox 133 on Windows",
        "network": "198.51.100.x",
        "current": False,
    }
    assert oldest["handle"] == session_handle(sid_of(kit, first))
    assert oldest["current"] is True
    assert (oldest["created_at"], oldest["user_agent"]) == (
        int(clock.now) - 10,
        "Chrome 131 on Linux",
    )
    assert oldest["network"] == "203.0.113.x"
    # Never an id, never a token.
    for browser_ in (first, second):
        assert sid_of(kit, browser_) not in response.text
        assert await refresh_token_of(kit, browser_) not in response.text


async def test_the_python_api_gives_the_same_list(
    kit: OIDCAuth, browser: Browser, clock: Clock
) -> None:
    first = await browser("alice")
    clock.advance(1)
    await browser("alice")
    session = await kit._sessions.load(sid_of(kit, first))
    assert session is not None
    listed = await kit.rp.user_sessions(session)
    assert [type(i) for i in listed] == [SessionInfo, SessionInfo]
    assert [i.current for i in listed] == [False, True]


async def test_without_a_session_the_list_is_401(browser: Browser) -> None:
    response = await (await browser()).get("/auth/sessions")
    assert response.status_code == 401
    assert response.json()["error"] == "login_required"


async def test_listing_touches_no_other_session_and_leaves_out_expired_ones(
    kit: OIDCAuth, browser: Browser, clock: Clock
) -> None:
    first = await browser("alice")
    clock.advance(1)
    second = await browser("alice")
    clock.advance(20 * 60)
    [first_seen, second_seen] = (await first.get("/auth/sessions")).json()["sessions"][::-1]
    assert first_seen["current"] and first_seen["last_seen"] == int(clock.now)
    assert second_seen["last_seen"] == int(clock.now) - 20 * 60  # not the lister's request
    clock.advance(15 * 60)  # the second's idle timeout (30 min) has passed, not the first's
    [only] = (await first.get("/auth/sessions")).json()["sessions"]
    assert only["handle"] == session_handle(sid_of(kit, first))
    assert not await logged_in(second)


# -- revoking one ------------------------------------------------------------------------------


async def test_revoking_another_session_ends_it_and_revokes_its_tokens(
    kit: OIDCAuth, browser: Browser, op: FakeOP, events: list[AuditEvent]
) -> None:
    first, second = await browser("alice"), await browser("alice")
    handle = session_handle(sid_of(kit, second))
    refresh_token = await refresh_token_of(kit, second)
    response = await first.post(
        f"/auth/sessions/{handle}/revoke", data={"next": "/profile"}, headers=SAME_ORIGIN
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/profile"
    assert kit.session_cookie not in response.headers.get("set-cookie", "")
    assert not await logged_in(second)
    assert await logged_in(first)
    assert refresh_token in revoked_at_provider(op)
    assert revoked(events) == [("alice", handle, "user")]
    [left] = (await first.get("/auth/sessions")).json()["sessions"]
    assert left["current"]


async def test_a_json_caller_gets_revoked_true(kit: OIDCAuth, browser: Browser) -> None:
    first, second = await browser("alice"), await browser("alice")
    handle = session_handle(sid_of(kit, second))
    response = await first.post(f"/auth/sessions/{handle}/revoke", headers=JSON)
    assert (response.status_code, response.json()) == (200, {"revoked": True})
    assert response.headers["cache-control"] == "no-store"
    assert not await logged_in(second)


@pytest.mark.parametrize("next_path", ["https://evil.test/", "//evil.test", None])
async def test_next_is_only_a_path_of_this_app(
    kit: OIDCAuth, browser: Browser, next_path: str | None
) -> None:
    first, second = await browser("alice"), await browser("alice")
    handle = session_handle(sid_of(kit, second))
    data = {"next": next_path} if next_path else {}
    response = await first.post(f"/auth/sessions/{handle}/revoke", data=data, headers=SAME_ORIGIN)
    assert (response.status_code, response.headers["location"]) == (303, "/")


async def test_next_may_come_in_the_query(kit: OIDCAuth, browser: Browser) -> None:
    first, second = await browser("alice"), await browser("alice")
    handle = session_handle(sid_of(kit, second))
    url = f"/auth/sessions/{handle}/revoke?next=/profile%23sessions"
    response = await first.post(url, headers=SAME_ORIGIN)
    assert response.headers["location"] == "/profile#sessions"


async def test_revoking_this_session_logs_this_browser_out(
    kit: OIDCAuth, browser: Browser, events: list[AuditEvent]
) -> None:
    first, second = await browser("alice"), await browser("alice")
    handle = session_handle(sid_of(kit, first))
    response = await first.post(f"/auth/sessions/{handle}/revoke", headers=SAME_ORIGIN)
    assert response.status_code == 303
    cleared = response.headers["set-cookie"]
    assert cleared.startswith(f"{kit.session_cookie}=") and "Max-Age=0" in cleared
    assert not await logged_in(first)
    assert await logged_in(second)
    assert revoked(events) == [("alice", handle, "user")]


async def test_a_json_caller_revoking_its_own_session_loses_the_cookie(
    kit: OIDCAuth, browser: Browser
) -> None:
    first = await browser("alice")
    handle = session_handle(sid_of(kit, first))
    response = await first.post(f"/auth/sessions/{handle}/revoke", headers=JSON)
    assert response.json() == {"revoked": True}
    assert "Max-Age=0" in response.headers["set-cookie"]


# -- refusals ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "handle",
    [
        "A" * 22,  # well formed, no such session
        "x",
        "A" * 23,
        "A" * 5000,
        "%00" * 22,
        "%C3%A9" * 11,
        "AAAAAAAAAAAAAAAAAAAAA=",
    ],
)
async def test_an_unknown_or_malformed_handle_is_404(
    kit: OIDCAuth, browser: Browser, handle: str
) -> None:
    first = await browser("alice")
    response = await first.post(f"/auth/sessions/{handle}/revoke", headers=JSON)
    assert response.status_code == 404
    assert response.json()["error"] == "unknown_session"
    assert await logged_in(first)


@pytest.mark.parametrize("path", ["..%2F..%2Fsessions", "a/b", ""])
async def test_a_handle_the_route_cannot_hold_is_404_too(
    kit: OIDCAuth, browser: Browser, path: str
) -> None:
    first = await browser("alice")
    response = await first.post(f"/auth/sessions/{path}/revoke", headers=JSON)
    assert response.status_code == 404
    assert await logged_in(first)


async def test_a_browser_gets_the_404_as_a_page(kit: OIDCAuth, browser: Browser) -> None:
    first = await browser("alice")
    response = await first.post(f"/auth/sessions/{'A' * 22}/revoke", headers=SAME_ORIGIN)
    assert response.status_code == 404
    assert "unknown_session" in response.text
    assert await logged_in(first)  # a 404 is not an ended session: the cookie stays
    assert "set-cookie" not in response.headers


async def test_another_users_handle_is_404_and_their_session_lives_on(
    kit: OIDCAuth, browser: Browser, events: list[AuditEvent]
) -> None:
    alice, bob = await browser("alice"), await browser("bob")
    bobs = session_handle(sid_of(kit, bob))
    response = await alice.post(f"/auth/sessions/{bobs}/revoke", headers=JSON)
    assert response.status_code == 404
    assert response.json()["error"] == "unknown_session"
    assert await logged_in(bob)
    assert bobs not in (await alice.get("/auth/sessions")).text
    assert revoked(events) == []


async def test_a_session_planted_in_the_users_index_is_neither_listed_nor_revoked(
    kit: OIDCAuth, browser: Browser
) -> None:
    """The index is only a hint: each session found through it must be the user's own."""
    alice, bob = await browser("alice"), await browser("bob")
    await kit.store.index_add(_index_key("sub", ISSUER, "alice"), sid_of(kit, bob), 3600)
    bobs = session_handle(sid_of(kit, bob))
    assert bobs not in (await alice.get("/auth/sessions")).text
    response = await alice.post(f"/auth/sessions/{bobs}/revoke", headers=JSON)
    assert response.status_code == 404
    assert await logged_in(bob)
    everywhere = await alice.post("/auth/logout?everywhere=1", headers=SAME_ORIGIN)
    assert everywhere.status_code == 303
    assert await logged_in(bob)


@pytest.mark.parametrize(
    "headers", [{"Origin": "https://evil.test"}, {"Sec-Fetch-Site": "cross-site"}]
)
async def test_a_cross_site_revoke_is_403(
    kit: OIDCAuth, browser: Browser, headers: dict[str, str]
) -> None:
    first, second = await browser("alice"), await browser("alice")
    handle = session_handle(sid_of(kit, second))
    response = await first.post(
        f"/auth/sessions/{handle}/revoke", headers={"Accept": "application/json", **headers}
    )
    assert response.status_code == 403
    assert response.json()["error"] == "cross_site_request"
    assert await logged_in(second)


async def test_a_revoke_without_a_session_is_401(kit: OIDCAuth, browser: Browser) -> None:
    victim = await browser("alice")
    handle = session_handle(sid_of(kit, victim))
    response = await (await browser()).post(f"/auth/sessions/{handle}/revoke", headers=JSON)
    assert response.status_code == 401
    assert response.json()["error"] == "login_required"
    assert await logged_in(victim)


async def test_a_get_does_not_revoke(kit: OIDCAuth, browser: Browser) -> None:
    first, second = await browser("alice"), await browser("alice")
    handle = session_handle(sid_of(kit, second))
    assert (await first.get(f"/auth/sessions/{handle}/revoke")).status_code == 405
    assert await logged_in(second)


async def test_a_body_that_is_not_a_form_is_ignored_and_a_huge_one_refused(
    kit: OIDCAuth, browser: Browser
) -> None:
    first, second = await browser("alice"), await browser("alice")
    handle = session_handle(sid_of(kit, second))
    url = f"/auth/sessions/{handle}/revoke"
    huge = await first.post(url, content=b"x" * 70_000, headers=JSON)
    assert huge.status_code == 413
    assert await logged_in(second)
    response = await first.post(url, json={"next": "/x"}, headers=JSON)
    assert response.status_code == 200
    assert not await logged_in(second)


# -- everywhere and operators ------------------------------------------------------------------


@pytest.mark.parametrize("how", ["query", "form"])
async def test_logout_everywhere_ends_every_session_of_the_user(
    kit: OIDCAuth, browser: Browser, op: FakeOP, events: list[AuditEvent], how: str
) -> None:
    first, second, third = await browser("alice"), await browser("alice"), await browser("alice")
    bob = await browser("bob")
    tokens = {await refresh_token_of(kit, b) for b in (first, second, third)}
    others = {session_handle(sid_of(kit, b)) for b in (second, third)}
    url, data = (
        ("/auth/logout?everywhere=1", {})
        if how == "query"
        else ("/auth/logout", {"everywhere": "1"})
    )
    response = await first.post(url, data=data, headers=SAME_ORIGIN)
    assert response.status_code == 303
    assert response.headers["location"].startswith(f"{ISSUER}/logout?")  # as a normal logout
    for browser_ in (first, second, third):
        assert not await logged_in(browser_)
    assert await logged_in(bob)
    assert tokens <= revoked_at_provider(op)
    assert sorted(revoked(events)) == sorted(("alice", h, "everywhere") for h in others)
    assert [e.reason for e in events if e.event == "logout"] == ["user"]  # this browser's


async def test_a_plain_logout_leaves_the_users_other_sessions(
    kit: OIDCAuth, browser: Browser, events: list[AuditEvent]
) -> None:
    first, second = await browser("alice"), await browser("alice")
    response = await first.post("/auth/logout", data={"everywhere": "0"}, headers=SAME_ORIGIN)
    assert response.status_code == 303
    assert not await logged_in(first)
    assert await logged_in(second)
    assert revoked(events) == []


async def test_a_cross_site_logout_everywhere_ends_nothing(kit: OIDCAuth, browser: Browser) -> None:
    first, second = await browser("alice"), await browser("alice")
    headers = {"Origin": "https://evil.test"}
    response = await first.post("/auth/logout?everywhere=1", headers=headers)
    assert response.status_code == 403
    assert await logged_in(first) and await logged_in(second)


async def test_a_logout_body_of_another_type_is_still_ignored(
    kit: OIDCAuth, browser: Browser
) -> None:
    first = await browser("alice")
    response = await first.post("/auth/logout", json={"everywhere": "1"}, headers=SAME_ORIGIN)
    assert response.status_code == 303
    assert not await logged_in(first)


async def test_revoke_user_ends_every_session_of_the_subject(
    kit: OIDCAuth, browser: Browser, op: FakeOP, events: list[AuditEvent]
) -> None:
    first, second, bob = await browser("alice"), await browser("alice"), await browser("bob")
    tokens = {await refresh_token_of(kit, b) for b in (first, second)}
    handles = {session_handle(sid_of(kit, b)) for b in (first, second)}
    assert await kit.revoke_user("alice") == 2
    assert not await logged_in(first) and not await logged_in(second)
    assert await logged_in(bob)
    assert tokens <= revoked_at_provider(op)
    assert sorted(revoked(events)) == sorted(("alice", h, "operator") for h in handles)
    assert await kit.revoke_user("alice") == 0
    assert await kit.revoke_user("nobody", provider="default") == 0
    with pytest.raises(KeyError):
        await kit.revoke_user("alice", provider="other")


async def test_an_unreachable_provider_still_ends_the_sessions(
    kit: OIDCAuth, browser: Browser, op: FakeOP, events: list[AuditEvent]
) -> None:
    first, second = await browser("alice"), await browser("alice")
    op.fail_with = httpx.ConnectError  # its revocation endpoint too
    handle = session_handle(sid_of(kit, second))
    response = await first.post(f"/auth/sessions/{handle}/revoke", headers=JSON)
    assert response.status_code == 200
    op.fail_with = None
    assert not await logged_in(second)
    assert revoked(events) == [("alice", handle, "user")]


async def test_no_event_holds_a_session_id(
    kit: OIDCAuth, browser: Browser, events: list[AuditEvent]
) -> None:
    first, second = await browser("alice"), await browser("alice")
    sids = {sid_of(kit, first), sid_of(kit, second)}
    await first.post(
        f"/auth/sessions/{session_handle(sid_of(kit, second))}/revoke", headers=SAME_ORIGIN
    )
    await first.post("/auth/logout?everywhere=1", headers=SAME_ORIGIN)
    text = repr(events)
    assert revoked(events) and not any(sid in text for sid in sids)
