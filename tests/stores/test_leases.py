"""Cross-process refresh leases, session-secret rotation, and a store that does not answer.

"Two processes" here are two ``OIDCAuth`` instances sharing one store and one provider, as two
app processes share Redis or an SQLite file; tests/stores/test_scale_out.py does the same with real
processes.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route

from oidc_kit import MemoryStore, SessionStore, StoreUnavailable
from oidc_kit._crypto import Sealer
from oidc_kit._session import Session
from oidc_kit.starlette import OIDCAuth
from tests.conftest import Clock, login, make_config
from tests.fake_op import FakeOP

OLD = "old-session-secret-0123456789"
NEW = "new-session-secret-9876543210"


class Yielding(httpx.AsyncBaseTransport):
    """The fake provider, answering only after a few turns of the loop, so callers overlap."""

    def __init__(self, op: FakeOP) -> None:
        self.op = op

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        for _ in range(5):
            await asyncio.sleep(0)
        return self.op.handle(request)


def kit_on(store: SessionStore, op: FakeOP, clock: Clock, **overrides: Any) -> OIDCAuth:
    http = httpx.AsyncClient(transport=Yielding(op))
    return OIDCAuth(make_config(**overrides), http_client=http, store=store, clock=clock)


async def new_session(kit: OIDCAuth, op: FakeOP) -> Session:
    op.token_body["expires_in"] = 600
    result = await login(kit, op)
    return await kit._sessions.create(result.tokens, result.claims, result.provider_sid)


def refresh_grants(op: FakeOP) -> int:
    return sum(1 for r in op.requests if r.url.path == "/token" and b"refresh_token" in r.content)


async def test_two_instances_sharing_a_store_send_one_refresh_grant(
    op: FakeOP, clock: Clock
) -> None:
    store = MemoryStore()
    first, second = kit_on(store, op, clock), kit_on(store, op, clock)
    session = await new_session(first, op)
    clock.advance(600)
    calls = [kit._tokens.tokens(session) for kit in (first, second) for _ in range(20)]
    results = await asyncio.gather(*calls)
    assert refresh_grants(op) == 1
    assert len({t.access_token for t in results}) == 1
    stored = await first._sessions.load(session.sid)
    assert stored is not None
    assert first._sessions.tokens(stored).access_token == results[0].access_token


async def test_a_dead_lease_holder_is_taken_over_when_its_lease_expires(
    op: FakeOP, clock: Clock
) -> None:
    store = MemoryStore()  # a real monotonic clock: the lease expires for real
    kit = kit_on(store, op, clock)
    session = await new_session(kit, op)
    clock.advance(600)
    # A process took the lease and died before releasing it.
    assert await store.add(f"lease:{session.sid}", b"dead-process", 0.3)
    tokens = await asyncio.wait_for(kit._tokens.tokens(session), timeout=10)
    assert refresh_grants(op) == 1
    assert not tokens.due(clock(), kit.config.refresh_leeway)


async def test_a_waiter_uses_the_holders_result_without_a_grant(op: FakeOP, clock: Clock) -> None:
    store = MemoryStore()
    holder, waiter = kit_on(store, op, clock), kit_on(store, op, clock)
    session = await new_session(holder, op)
    clock.advance(600)
    lease = f"lease:{session.sid}"
    assert await store.add(lease, b"holder", 30)
    waiting = asyncio.create_task(waiter._tokens.tokens(session))
    await asyncio.sleep(0.1)
    assert not waiting.done()  # it waits for the holder
    deadline = asyncio.get_running_loop().time() + 60
    tokens = holder._sessions.tokens(session)
    fresh = await holder._tokens._refresh_held(session, tokens, None, deadline)
    await store.delete_if(lease, b"holder")
    assert (await asyncio.wait_for(waiting, 5)).access_token == fresh.access_token
    assert refresh_grants(op) == 1


async def test_the_lease_is_released_after_a_failed_refresh(op: FakeOP, clock: Clock) -> None:
    store = MemoryStore()
    kit = kit_on(store, op, clock)
    session = await new_session(kit, op)
    clock.advance(600)
    op.fail_with = httpx.ConnectError
    with pytest.raises(Exception, match="provider_unavailable"):
        await kit._tokens.tokens(session)
    assert await store.get(f"lease:{session.sid}") is None
    op.fail_with = None
    tokens = await asyncio.wait_for(kit._tokens.tokens(session), 5)  # no stale lease to wait on
    assert not tokens.due(clock(), kit.config.refresh_leeway)
    assert refresh_grants(op) == 2  # the attempt that failed, then this one


# -- session secret rotation ---------------------------------------------------------------


def app_for(kit: OIDCAuth) -> Starlette:
    async def whoami(request: Request) -> Response:
        return PlainTextResponse(request.user.display_name)

    return Starlette(
        routes=[Mount("/auth", routes=kit.routes), Route("/me", whoami)],
        middleware=[kit.middleware],
        exception_handlers=kit.exception_handlers,
    )


async def get(kit: OIDCAuth, path: str, cookie: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app_for(kit))
    async with httpx.AsyncClient(transport=transport, base_url="https://app.test") as client:
        return await client.get(path, headers={"Cookie": f"__Host-oidc_session={cookie}"})


async def test_a_rotated_secret_still_opens_old_sessions_and_reseals_them(
    op: FakeOP, clock: Clock
) -> None:
    store = MemoryStore()
    before = kit_on(store, op, clock, session_secrets=(OLD,))
    session = await new_session(before, op)
    old_cookie = before._cookies.sign_session(session.sid)
    after = kit_on(store, op, clock, session_secrets=(NEW, OLD))  # newest first
    response = await get(after, "/me", old_cookie)
    assert response.status_code == 200
    assert response.text == "Test User"
    # The cookie is re-issued under the newest secret...
    (set_cookie,) = response.headers.get_list("set-cookie")
    new_cookie = set_cookie.split(";")[0].split("=", 1)[1]
    assert after._cookies.read_session(new_cookie) == (session.sid, True)
    assert after._cookies.read_session(old_cookie) == (session.sid, False)
    # ...and the record re-sealed: once OLD is dropped, both still work.
    raw = await store.get(f"session:{session.sid}")
    assert raw is not None
    assert Sealer([NEW]).is_current(Session.decode(session.sid, raw).sealed_tokens)
    only_new = kit_on(store, op, clock, session_secrets=(NEW,))
    assert (await get(only_new, "/auth/session", new_cookie)).status_code == 200
    assert (await get(only_new, "/auth/session", old_cookie)).status_code == 401


async def test_a_record_sealed_under_a_dropped_secret_is_no_session(
    op: FakeOP, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    store = MemoryStore()
    before = kit_on(store, op, clock, session_secrets=(OLD,))
    session = await new_session(before, op)
    tokens = before._sessions.tokens(session)
    # The cookie signing key survives (same secret listed for cookies) but not the sealing
    # key: simulate with a record sealed under a secret nobody lists any more.
    stranger = kit_on(store, op, clock, session_secrets=("stranger-secret-0123456789",))
    sealed = stranger._sessions.with_tokens(session, tokens)
    await store.set(f"session:{session.sid}", sealed.encode(), 600)
    response = await get(before, "/auth/session", before._cookies.sign_session(session.sid))
    assert response.status_code == 401
    assert tokens.access_token not in caplog.text


# -- a store that does not answer ---------------------------------------------------------


class DownStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.down = False

    async def get(self, key: str) -> bytes | None:
        if self.down:
            raise StoreUnavailable("the session store did not answer")
        return await super().get(key)


async def test_a_store_that_does_not_answer_is_a_503_and_no_session_is_lost(
    op: FakeOP, clock: Clock
) -> None:
    store = DownStore()
    kit = kit_on(store, op, clock)
    session = await new_session(kit, op)
    cookie = kit._cookies.sign_session(session.sid)
    store.down = True
    response = await get(kit, "/auth/session", cookie)
    assert response.status_code == 503
    assert "session_store_unavailable" in response.text
    assert "set-cookie" not in response.headers  # the cookie is kept
    store.down = False
    assert (await get(kit, "/auth/session", cookie)).status_code == 200


class LogoutDuringRead(MemoryStore):
    """Deletes a session right after handing it out: a logout racing this request."""

    async def get(self, key: str) -> bytes | None:
        value = await super().get(key)
        if key.startswith("session:"):
            await self.delete(key)
        return value


async def test_a_logout_racing_a_request_is_never_undone_by_its_write_back(
    op: FakeOP, clock: Clock
) -> None:
    store = LogoutDuringRead()
    kit = kit_on(store, op, clock)
    session = await new_session(kit, op)
    clock.advance(120)  # old enough that loading writes the idle clock back
    assert await kit._sessions.load(session.sid) is None
    assert await MemoryStore.get(store, f"session:{session.sid}") is None
