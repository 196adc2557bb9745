"""Access-token refresh: when it happens, single flight, what a refresh may do to a session.

The fake provider sits behind :class:`GatedTransport`, an async transport that can hold the
token endpoint's answers (so concurrent callers really overlap) or answer 503 for it. Nothing
sleeps: the clock is moved by hand and the loop is stepped with ``asyncio.sleep(0)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from oidc_kit import (
    MemoryStore,
    ProviderError,
    ProviderUnavailable,
    SessionEnded,
    SessionStore,
    TokenSet,
)
from oidc_kit._session import Session, Sessions
from oidc_kit._step_up import StepUp
from oidc_kit.starlette import OIDCAuth
from tests.conftest import Clock, login, make_config
from tests.fake_op import CLIENT_ID, DROP, FakeOP, rsa_key

#: Tokens from the fake provider live 3600 s; with the default 30 s leeway they are due at 3570.
LIFETIME = 3600
NOT_YET_DUE = LIFETIME - 31
DUE = LIFETIME - 29


class GatedTransport(httpx.AsyncBaseTransport):
    """The fake provider behind an async transport that can hold or fail token answers."""

    def __init__(self, op: FakeOP) -> None:
        self.op = op
        #: While set, token-endpoint requests wait for this event before being answered.
        self.gate: asyncio.Event | None = None
        #: While set, the token endpoint answers this status without reaching the provider.
        self.token_status: int | None = None
        #: Refresh grants that reached this transport (answered, held or failed).
        self.refresh_grants = 0
        self.waiting = 0

    def hold(self) -> asyncio.Event:
        self.gate = asyncio.Event()
        return self.gate

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        if request.url.path == "/token":
            if parse_qs(request.content.decode()).get("grant_type") == ["refresh_token"]:
                self.refresh_grants += 1
            if self.gate is not None:
                self.waiting += 1
                await self.gate.wait()
                self.waiting -= 1
            if self.token_status is not None:
                return httpx.Response(self.token_status, text="Service Unavailable")
        return self.op.handle(request)


@pytest.fixture
def transport(op: FakeOP) -> GatedTransport:
    return GatedTransport(op)


@pytest.fixture
async def kit_factory(
    transport: GatedTransport, clock: Clock
) -> AsyncIterator[Callable[..., OIDCAuth]]:
    """Overrides conftest's: kits talk to the provider through ``transport``."""
    made: list[OIDCAuth] = []

    def make(*, store: SessionStore | None = None, **overrides: Any) -> OIDCAuth:
        # The default idle timeout (30 min) is shorter than the tokens' hour: tests that
        # jump to a token's expiry would find the session gone before any refresh.
        overrides.setdefault("session_idle_timeout", 4 * 3600)
        http = httpx.AsyncClient(transport=transport)
        auth = OIDCAuth(
            make_config(**overrides),
            http_client=http,
            store=store if store is not None else MemoryStore(),
            clock=clock,
        )
        made.append(auth)
        return auth

    yield make
    for auth in made:
        await auth.http.aclose()


async def new_session(kit: OIDCAuth, op: FakeOP) -> Session:
    """Log in through the provider and store the session; the call counters start at zero."""
    result = await login(kit, op)
    session = await kit._sessions.create(result.tokens, result.claims, result.provider_sid)
    op.calls.clear()
    return session


async def reload(kit: OIDCAuth, sid: str) -> Session:
    session = await kit._sessions.load(sid)
    assert session is not None, "the session should still be in the store"
    return session


async def stored_tokens(kit: OIDCAuth, sid: str) -> TokenSet:
    return kit._sessions.tokens(await reload(kit, sid))


async def until(condition: Callable[[], bool]) -> None:
    """Step the event loop until ``condition`` holds (bounded: no test can hang here)."""
    for _ in range(200):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the condition never held")


async def settle() -> None:
    """Let every runnable task (and done callbacks) run."""
    for _ in range(10):
        await asyncio.sleep(0)


# -- when a refresh happens ------------------------------------------------------------------


async def test_a_token_not_yet_due_is_used_without_a_token_call(
    kit: OIDCAuth, op: FakeOP, clock: Clock
) -> None:
    session = await new_session(kit, op)
    before = kit._sessions.tokens(session)
    clock.advance(NOT_YET_DUE)
    tokens = await kit._tokens.tokens(session)
    assert tokens.access_token == before.access_token
    assert op.calls["/token"] == 0


async def test_a_due_token_is_refreshed_once_stored_and_rotated(
    kit: OIDCAuth, op: FakeOP, clock: Clock
) -> None:
    session = await new_session(kit, op)
    before = kit._sessions.tokens(session)
    clock.advance(DUE)

    fresh = await kit._tokens.tokens(session)

    assert op.calls["/token"] == 1
    grant = parse_qs([r for r in op.requests if r.url.path == "/token"][-1].content.decode())
    assert grant["grant_type"] == ["refresh_token"]
    assert grant["refresh_token"] == [before.refresh_token]
    assert fresh.access_token != before.access_token
    assert fresh.expires_at == clock.now + LIFETIME
    # The provider rotated the refresh token: the kit keeps the new one.
    assert fresh.refresh_token is not None
    assert fresh.refresh_token != before.refresh_token
    assert fresh.refresh_token in op.refresh_tokens
    assert before.refresh_token not in op.refresh_tokens
    stored = await reload(kit, session.sid)
    assert kit._sessions.tokens(stored) == fresh
    assert stored.access_expires_at == fresh.expires_at
    # Once stored, the fresh token is not due: no further grant.
    assert (await kit._tokens.tokens(stored)).access_token == fresh.access_token
    assert op.calls["/token"] == 1


async def test_leeway_is_capped_at_half_the_lifetime(
    kit_factory: Callable[..., OIDCAuth], op: FakeOP, clock: Clock
) -> None:
    kit = kit_factory(refresh_leeway=30)
    op.token_body["expires_in"] = 40
    session = await new_session(kit, op)
    before = kit._sessions.tokens(session)

    clock.advance(15)  # a 30 s leeway on a 40 s token would refresh now
    assert (await kit._tokens.tokens(session)).access_token == before.access_token
    assert op.calls["/token"] == 0

    clock.advance(6)  # t+21: past half the lifetime
    assert (await kit._tokens.tokens(session)).access_token != before.access_token
    assert op.calls["/token"] == 1


def test_due_boundaries() -> None:
    tokens = TokenSet("at", "Bearer", expires_at=1040.0, issued_at=1000.0)
    assert not tokens.due(1019.9, leeway=30)
    assert tokens.due(1020.0, leeway=30)
    assert not tokens.due(1034.9, leeway=5)
    assert tokens.due(1035.0, leeway=5)
    long_lived = TokenSet("at", "Bearer", expires_at=4600.0, issued_at=1000.0)
    assert not long_lived.due(4569.9, leeway=30)
    assert long_lived.due(4570.0, leeway=30)
    assert not TokenSet("at", "Bearer", expires_at=None, issued_at=1000.0).due(1e12, 30)


# -- single flight ---------------------------------------------------------------------------


async def test_a_refresh_storm_makes_one_token_call(
    kit: OIDCAuth, op: FakeOP, clock: Clock, transport: GatedTransport
) -> None:
    session = await new_session(kit, op)
    old = kit._sessions.tokens(session).access_token
    clock.advance(DUE)
    # 50 requests of one browser, each with the session as its middleware loaded it.
    requests = [await reload(kit, session.sid) for _ in range(50)]
    gate = transport.hold()

    storm = asyncio.gather(*(kit._tokens.tokens(s) for s in requests))
    await until(lambda: transport.waiting == 1)
    await settle()
    assert transport.refresh_grants == 1  # every caller arrived while one grant was pending
    gate.set()
    results = await storm

    assert op.calls["/token"] == 1
    assert kit._tokens.refresh_count == 1
    access_tokens = {r.access_token for r in results}
    assert len(access_tokens) == 1
    assert old not in access_tokens
    assert (await stored_tokens(kit, session.sid)).access_token in access_tokens


async def test_a_stale_session_object_does_not_replay_the_rotated_refresh_token(
    kit: OIDCAuth, op: FakeOP, clock: Clock
) -> None:
    session = await new_session(kit, op)
    stale = await reload(kit, session.sid)  # request 1 loaded the session...
    clock.advance(DUE)
    current = await reload(kit, session.sid)  # ...request 2 loaded it too, and refreshed
    fresh = await kit._tokens.tokens(current)
    await settle()  # the finished refresh has left the in-flight table
    assert op.calls["/token"] == 1

    got = await kit._tokens.tokens(stale)

    assert got.access_token == fresh.access_token
    assert got.refresh_token == fresh.refresh_token
    assert op.calls["/token"] == 1  # the old refresh token was not sent again
    assert await kit._sessions.load(session.sid) is not None


async def test_a_stale_session_in_another_process_uses_the_stored_tokens(
    kit: OIDCAuth, kit_factory: Callable[..., OIDCAuth], op: FakeOP, clock: Clock
) -> None:
    other = kit_factory(store=kit.store)  # a second instance sharing the store
    session = await new_session(kit, op)
    stale = await reload(other, session.sid)
    clock.advance(DUE)
    fresh = await kit._tokens.tokens(await reload(kit, session.sid))

    got = await other._tokens.tokens(stale)

    assert got.access_token == fresh.access_token
    assert op.calls["/token"] == 1
    assert await kit._sessions.load(session.sid) is not None


async def test_concurrent_refresh_in_two_processes_keeps_the_session(
    kit: OIDCAuth,
    kit_factory: Callable[..., OIDCAuth],
    op: FakeOP,
    clock: Clock,
    transport: GatedTransport,
) -> None:
    other = kit_factory(store=kit.store)
    session = await new_session(kit, op)
    clock.advance(DUE)
    gate = transport.hold()
    race = asyncio.gather(
        kit._tokens.tokens(await reload(kit, session.sid)),
        other._tokens.tokens(await reload(other, session.sid)),
    )
    await until(lambda: transport.waiting >= 1)
    await settle()
    gate.set()
    first, second = await race
    assert first.access_token == second.access_token
    assert await kit._sessions.load(session.sid) is not None


async def test_a_cancelled_waiter_does_not_cancel_the_refresh(
    kit: OIDCAuth, op: FakeOP, clock: Clock, transport: GatedTransport
) -> None:
    session = await new_session(kit, op)
    old = kit._sessions.tokens(session).access_token
    clock.advance(DUE)
    gate = transport.hold()
    waiters = [asyncio.create_task(kit._tokens.tokens(session)) for _ in range(5)]
    await until(lambda: transport.waiting == 1)

    waiters[0].cancel()  # the client that started the refresh went away
    await settle()
    gate.set()
    results = await asyncio.gather(*waiters, return_exceptions=True)

    assert isinstance(results[0], asyncio.CancelledError)
    others = results[1:]
    assert all(isinstance(r, TokenSet) for r in others), others
    assert len({r.access_token for r in others if isinstance(r, TokenSet)}) == 1
    assert isinstance(others[0], TokenSet) and others[0].access_token != old
    assert op.calls["/token"] == 1
    assert (await stored_tokens(kit, session.sid)).access_token == others[0].access_token


async def test_a_refresh_whose_waiters_all_left_still_stores_the_rotated_tokens(
    kit: OIDCAuth, op: FakeOP, clock: Clock, transport: GatedTransport
) -> None:
    session = await new_session(kit, op)
    before = kit._sessions.tokens(session)
    clock.advance(DUE)
    gate = transport.hold()
    waiters = [asyncio.create_task(kit._tokens.tokens(session)) for _ in range(3)]
    await until(lambda: transport.waiting == 1)
    for waiter in waiters:
        waiter.cancel()
    await settle()
    gate.set()
    await until(lambda: op.calls["/token"] == 1)
    await settle()

    # The provider rotated the refresh token: losing the answer would lose the session.
    stored = await stored_tokens(kit, session.sid)
    assert stored.access_token != before.access_token
    assert stored.refresh_token in op.refresh_tokens
    assert (await kit._tokens.tokens(await reload(kit, session.sid))) == stored
    assert op.calls["/token"] == 1


async def test_a_rejected_token_is_never_handed_back_by_a_joined_refresh(
    kit: OIDCAuth, op: FakeOP, clock: Clock
) -> None:
    session = await new_session(kit, op)
    stale = await reload(kit, session.sid)  # holds the first access token
    clock.advance(DUE)
    current = await reload(kit, session.sid)
    refreshed = await kit._tokens.refresh(current)  # stored: a second access token
    await settle()

    # Together: a request with the stale session finds its token due (and starts a task
    # that just re-reads the store), while the API refuses the second token to another one.
    _, after_401 = await asyncio.gather(
        kit._tokens.tokens(stale),
        kit._tokens.refresh(current, rejected=refreshed.access_token),
    )
    assert after_401.access_token != refreshed.access_token


async def test_forced_refresh_with_an_outdated_rejected_token_uses_the_current_one(
    kit: OIDCAuth, op: FakeOP
) -> None:
    session = await new_session(kit, op)
    first = kit._sessions.tokens(session).access_token

    second = await kit._tokens.refresh(session, rejected=first)  # the current one: a new grant
    assert second.access_token != first
    assert op.calls["/token"] == 1
    await settle()

    # A request still holding the first token (and the stale session) gets a 401 for it.
    again = await kit._tokens.refresh(session, rejected=first)
    assert again.access_token == second.access_token
    assert op.calls["/token"] == 1

    third = await kit._tokens.refresh(session, rejected=second.access_token)
    assert third.access_token not in (first, second.access_token)
    assert op.calls["/token"] == 2
    assert (await stored_tokens(kit, session.sid)).access_token == third.access_token


# -- refresh failures ------------------------------------------------------------------------


async def test_invalid_grant_ends_and_deletes_the_session(
    kit: OIDCAuth, op: FakeOP, clock: Clock
) -> None:
    session = await new_session(kit, op)
    refresh_token = kit._sessions.tokens(session).refresh_token
    assert refresh_token is not None
    op.refresh_tokens.discard(refresh_token)  # revoked at the provider
    clock.advance(DUE)

    with pytest.raises(SessionEnded) as info:
        await kit._tokens.tokens(session)

    assert info.value.code == "login_required"
    assert info.value.status == 401
    assert refresh_token not in str(info.value)
    assert op.calls["/token"] == 1
    assert await kit._sessions.load(session.sid) is None
    assert await kit.store.get(Sessions.key(session.sid)) is None


@pytest.mark.parametrize("failure", ["connect_error", "read_timeout", "503"])
async def test_an_unreachable_provider_keeps_the_session(
    kit: OIDCAuth, op: FakeOP, clock: Clock, transport: GatedTransport, failure: str
) -> None:
    session = await new_session(kit, op)
    before = kit._sessions.tokens(session)
    clock.advance(DUE)
    if failure == "connect_error":
        op.fail_with = httpx.ConnectError
    elif failure == "read_timeout":
        op.fail_with = httpx.ReadTimeout
    else:
        transport.token_status = 503

    with pytest.raises(ProviderUnavailable) as info:
        await kit._tokens.tokens(session)

    assert info.value.status == 503
    assert info.value.code == "provider_unavailable"
    assert transport.refresh_grants == 1
    assert await stored_tokens(kit, session.sid) == before

    # Once the provider is back, the kept refresh token works.
    op.fail_with = None
    transport.token_status = None
    fresh = await kit._tokens.tokens(session)
    assert fresh.access_token != before.access_token
    assert await stored_tokens(kit, session.sid) == fresh


async def test_no_refresh_token_uses_the_token_until_it_expires_then_ends(
    kit: OIDCAuth, op: FakeOP, clock: Clock
) -> None:
    op.token_body["refresh_token"] = DROP
    session = await new_session(kit, op)
    before = kit._sessions.tokens(session)
    assert before.refresh_token is None

    clock.advance(DUE)  # due, but nothing to refresh with: use it while it lasts
    assert (await kit._tokens.tokens(session)).access_token == before.access_token

    clock.advance(LIFETIME - DUE)  # expired
    with pytest.raises(SessionEnded) as info:
        await kit._tokens.tokens(session)
    assert info.value.status == 401
    assert op.calls["/token"] == 0
    assert await kit._sessions.load(session.sid) is None


# -- the refreshed ID token -------------------------------------------------------------------


@pytest.mark.parametrize(
    "claims",
    [
        {"sub": "someone-else"},
        {"iss": "https://evil.test"},
        {"aud": "another-client"},
        # Valid on their own (we are the authorized party), but not the login's (Core 12.2).
        {"aud": [CLIENT_ID, "another-client"], "azp": CLIENT_ID},
        {"azp": CLIENT_ID},
    ],
    ids=["sub", "iss", "aud", "aud-widened", "azp-added"],
)
async def test_an_invalid_refreshed_id_token_ends_the_session(
    kit: OIDCAuth, op: FakeOP, clock: Clock, claims: dict[str, Any]
) -> None:
    session = await new_session(kit, op)
    clock.advance(DUE)
    op.id_claims.update(claims)

    with pytest.raises(SessionEnded) as info:
        await kit._tokens.tokens(session)

    assert info.value.code == "login_required"
    assert op.calls["/token"] == 1
    assert await kit._sessions.load(session.sid) is None


async def test_a_refreshed_id_token_with_a_bad_signature_ends_the_session(
    kit: OIDCAuth, op: FakeOP, clock: Clock
) -> None:
    session = await new_session(kit, op)
    clock.advance(DUE)
    op.sign_key = rsa_key("k2")  # signed with another key under the known kid

    with pytest.raises(SessionEnded):
        await kit._tokens.tokens(session)
    assert await kit._sessions.load(session.sid) is None


async def test_a_valid_refreshed_id_token_updates_the_claims(
    kit: OIDCAuth, op: FakeOP, clock: Clock
) -> None:
    session = await new_session(kit, op)
    before = kit._sessions.tokens(session)
    clock.advance(DUE)
    op.id_claims["name"] = "Renamed User"

    fresh = await kit._tokens.tokens(session)

    stored = await reload(kit, session.sid)
    assert stored.claims["name"] == "Renamed User"
    assert stored.claims["email"] == "user@example.com"  # userinfo claims from login stay
    assert stored.claims["iat"] == int(clock.now)
    assert stored.sub == "user-1"
    assert fresh.id_token is not None and fresh.id_token != before.id_token
    assert kit._sessions.tokens(stored).id_token == fresh.id_token


async def test_a_refreshed_id_token_cannot_move_the_logins_authentication(
    kit: OIDCAuth, op: FakeOP, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    # Core 12.2: auth_time is the original authentication's. A provider that puts the user's
    # latest login there (elsewhere, or by whoever stole the session) must not make this
    # session look freshly authenticated to a max_age step-up.
    op.id_claims.update(acr="urn:portx:acr:mfa", amr=["pwd", "otp"])
    session = await new_session(kit, op)
    logged_in_at = session.claims["auth_time"]
    clock.advance(DUE)
    op.id_claims.update(auth_time=int(clock.now), acr="urn:portx:acr:pwd", amr=["pwd"])

    with caplog.at_level("INFO", logger="oidc_kit"):
        await kit._tokens.tokens(session)

    stored = await reload(kit, session.sid)
    assert stored.claims["auth_time"] == logged_in_at
    assert stored.claims["acr"] == "urn:portx:acr:mfa"
    assert stored.claims["amr"] == ["pwd", "otp"]
    assert stored.claims["iat"] == int(clock.now)  # the rest of the new token is taken
    fresh_login = StepUp(max_age=60)
    assert not kit._flow.satisfies(stored.claims, fresh_login)
    assert any(
        "keeps its login's" in r.getMessage() and r.levelname == "INFO" for r in caplog.records
    )


async def test_refreshed_claims_drop_the_same_claims_as_the_login(
    kit: OIDCAuth, op: FakeOP, clock: Clock
) -> None:
    session = await new_session(kit, op)
    assert "at_hash" not in session.claims
    clock.advance(DUE)
    await kit._tokens.tokens(session)
    stored = await reload(kit, session.sid)
    assert "at_hash" not in stored.claims
    assert "nonce" not in stored.claims


async def test_a_grant_answered_is_kept_when_its_id_token_cannot_be_checked_now(
    kit: OIDCAuth, op: FakeOP, clock: Clock
) -> None:
    # The provider rotated the refresh token: losing its answer would end the session at the
    # next refresh (invalid_grant), or revoke the whole grant at providers detecting reuse.
    session = await new_session(kit, op)
    before = kit._sessions.tokens(session)
    clock.advance(DUE)
    op.sign_key = op.key = rsa_key("rotated")  # a new kid: the JWKS must be fetched again...
    real = op.handle

    def jwks_down(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/jwks":  # ...and it cannot be, right now
            return httpx.Response(503)
        return real(request)

    op.handle = jwks_down  # type: ignore[method-assign]
    fresh = await kit._tokens.tokens(session)

    stored = await kit._sessions.load(session.sid)
    assert stored is not None
    kept = kit._sessions.tokens(stored)
    assert kept.refresh_token == fresh.refresh_token != before.refresh_token
    assert kept.access_token == fresh.access_token != before.access_token
    assert kept.id_token == before.id_token  # the unchecked one is not kept
    assert stored.claims == session.claims


async def test_a_refresh_without_a_refresh_token_keeps_the_old_one(
    kit: OIDCAuth, op: FakeOP, clock: Clock
) -> None:
    session = await new_session(kit, op)
    before = kit._sessions.tokens(session)
    clock.advance(DUE)
    op.refresh_body = {"refresh_token": DROP, "scope": DROP}

    fresh = await kit._tokens.tokens(session)

    assert fresh.access_token != before.access_token
    assert fresh.refresh_token == before.refresh_token
    assert fresh.scope == before.scope
    assert (await stored_tokens(kit, session.sid)).refresh_token == before.refresh_token


async def test_a_refresh_without_an_id_token_keeps_the_old_one_and_the_claims(
    kit: OIDCAuth, op: FakeOP, clock: Clock
) -> None:
    session = await new_session(kit, op)
    before = kit._sessions.tokens(session)
    clock.advance(DUE)
    op.refresh_body = {"id_token": DROP}

    fresh = await kit._tokens.tokens(session)

    assert fresh.access_token != before.access_token
    assert fresh.id_token == before.id_token
    stored = await reload(kit, session.sid)
    assert kit._sessions.tokens(stored).id_token == before.id_token
    assert stored.claims == session.claims


async def test_a_logout_during_a_refresh_is_not_undone(
    kit: OIDCAuth, op: FakeOP, clock: Clock, transport: GatedTransport
) -> None:
    session = await new_session(kit, op)
    clock.advance(DUE)
    gate = transport.hold()
    refresh = asyncio.create_task(kit._tokens.tokens(session))
    await until(lambda: transport.waiting == 1)
    await kit._sessions.delete(session.sid)  # the user logs out meanwhile
    gate.set()
    with contextlib.suppress(SessionEnded):
        await refresh
    assert await kit._sessions.load(session.sid) is None


# -- tokens sealed at rest -------------------------------------------------------------------


async def test_the_store_holds_no_token_in_clear(kit: OIDCAuth, op: FakeOP) -> None:
    session = await new_session(kit, op)
    tokens = kit._sessions.tokens(session)
    raw = await kit.store.get(Sessions.key(session.sid))
    assert raw is not None
    assert raw == session.encode()
    sealed = raw.partition(b"\n")[2]
    for token in (tokens.access_token, tokens.refresh_token, tokens.id_token):
        assert token is not None
        assert token.encode() not in raw
        assert token.encode() not in sealed


async def test_a_record_under_another_sid_does_not_open(kit: OIDCAuth, op: FakeOP) -> None:
    session = await new_session(kit, op)
    raw = await kit.store.get(Sessions.key(session.sid))
    assert raw is not None
    await kit.store.set(Sessions.key("another-sid"), raw, 600)
    copied = await reload(kit, "another-sid")
    with pytest.raises(SessionEnded):
        kit._sessions.tokens(copied)
    with pytest.raises(SessionEnded):
        await kit._tokens.tokens(copied)
    assert op.calls["/token"] == 0


@pytest.mark.parametrize("where", ["version", "key_id", "nonce", "ciphertext", "tag", "truncated"])
async def test_tampered_sealed_tokens_end_the_session(
    kit: OIDCAuth, op: FakeOP, where: str
) -> None:
    session = await new_session(kit, op)
    sealed = bytearray(session.sealed_tokens)
    positions = {"version": 0, "key_id": 2, "nonce": 8, "ciphertext": 30, "tag": -1}
    if where == "truncated":
        sealed = sealed[:20]
    else:
        sealed[positions[where]] ^= 0x01
    tampered = replace(session, sealed_tokens=bytes(sealed))
    await kit.store.set(Sessions.key(session.sid), tampered.encode(), 600)

    if where == "key_id":
        # An unknown key id reads as "sealed under an older secret": the load tries to
        # re-seal it, cannot open it, and drops the session there and then.
        assert await kit._sessions.load(session.sid) is None
        assert await kit.store.get(Sessions.key(session.sid)) is None
        return
    loaded = await reload(kit, session.sid)
    with pytest.raises(SessionEnded) as info:
        kit._sessions.tokens(loaded)
    assert info.value.code == "login_required"
    with pytest.raises(SessionEnded):
        await kit._tokens.tokens(loaded)


def _record(session: Session, **changes: Any) -> bytes:
    header, _, sealed = session.encode().partition(b"\n")
    data = json.loads(header)
    data.update(changes)
    return json.dumps(data).encode() + b"\n" + sealed


@pytest.mark.parametrize(
    "value",
    [
        lambda s: b"not json",
        lambda s: b"\xff\xfe\x00garbage",
        lambda s: b"[]",
        lambda s: b"null",
        lambda s: b'"a string"',
        lambda s: b"{}",
        lambda s: _record(s, v=1),
        lambda s: s.encode().partition(b"\n")[0],
        lambda s: _record(s, v="1"),
        lambda s: _record(s, created="yesterday"),
        lambda s: _record(s, claims=["not", "a", "dict"]),
    ],
    ids=[
        "not-json",
        "not-utf8",
        "list",
        "null",
        "string",
        "empty",
        "version-1",
        "no-tokens",
        "version-string",
        "bad-number",
        "bad-claims",
    ],
)
async def test_an_unreadable_record_is_no_session(
    kit: OIDCAuth, op: FakeOP, value: Callable[[Session], bytes]
) -> None:
    session = await new_session(kit, op)
    await kit.store.set(Sessions.key(session.sid), value(session), 600)
    assert await kit._sessions.load(session.sid) is None


# -- timeouts --------------------------------------------------------------------------------


async def test_an_idle_session_ends(
    kit_factory: Callable[..., OIDCAuth], op: FakeOP, clock: Clock
) -> None:
    kit = kit_factory(session_idle_timeout=120, session_absolute_timeout=3600)
    session = await new_session(kit, op)
    clock.advance(120)  # no activity for the whole idle timeout
    assert await kit._sessions.load(session.sid) is None
    assert await kit.store.get(Sessions.key(session.sid)) is None


async def test_activity_keeps_a_session_alive_until_the_absolute_timeout(
    kit_factory: Callable[..., OIDCAuth], op: FakeOP, clock: Clock
) -> None:
    kit = kit_factory(session_idle_timeout=120, session_absolute_timeout=300)
    session = await new_session(kit, op)
    for _ in range(4):  # t+61, t+122 (past the idle timeout from login), t+183, t+244
        clock.advance(61)
        loaded = await kit._sessions.load(session.sid)
        assert loaded is not None
        assert loaded.last_seen == clock.now  # activity moved last_seen...
        raw = await kit.store.get(Sessions.key(session.sid))
        assert raw is not None
        assert Session.decode(session.sid, raw).last_seen == clock.now  # ...in the store too
    clock.advance(61)  # t+305: past the absolute timeout, however active
    assert await kit._sessions.load(session.sid) is None


async def test_a_refresh_does_not_extend_the_absolute_timeout(
    kit_factory: Callable[..., OIDCAuth], op: FakeOP, clock: Clock
) -> None:
    kit = kit_factory(session_idle_timeout=600, session_absolute_timeout=900)
    op.token_body["expires_in"] = 300
    op.refresh_body["expires_in"] = 300
    session = await new_session(kit, op)
    for _ in range(3):  # refreshed at t+280, t+560, t+840
        clock.advance(280)
        await kit._tokens.tokens(await reload(kit, session.sid))
    assert op.calls["/token"] == 3
    clock.advance(61)  # t+901
    assert await kit._sessions.load(session.sid) is None


# -- added: tests that kill surviving mutants --------------------------------------------------


async def test_a_refresh_refused_for_another_reason_keeps_the_session(
    kit: OIDCAuth, op: FakeOP, clock: Clock
) -> None:
    session = await new_session(kit, op)
    before = kit._sessions.tokens(session)
    clock.advance(DUE)
    real = op.handle

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":  # e.g. the client secret was rotated at the provider
            return httpx.Response(401, json={"error": "invalid_client"})
        return real(request)

    op.handle = handle  # type: ignore[method-assign]

    with pytest.raises(ProviderError) as info:
        await kit._tokens.tokens(session)

    assert info.value.code == "refresh_failed"
    assert await stored_tokens(kit, session.sid) == before


async def test_a_logout_during_a_refresh_revokes_the_new_refresh_token(
    kit: OIDCAuth, op: FakeOP, clock: Clock, transport: GatedTransport
) -> None:
    session = await new_session(kit, op)
    old = kit._sessions.tokens(session).refresh_token
    clock.advance(DUE)
    gate = transport.hold()
    refresh = asyncio.create_task(kit._tokens.tokens(session))
    await until(lambda: transport.waiting == 1)
    await kit._sessions.delete(session.sid)  # the user logs out meanwhile
    gate.set()
    with pytest.raises(SessionEnded):
        await refresh
    revocations = [r for r in op.requests if r.url.path == "/revoke"]
    assert len(revocations) == 1
    form = parse_qs(revocations[0].content.decode())
    assert form["token_type_hint"] == ["refresh_token"]
    (revoked,) = form["token"]
    assert revoked != old and revoked in op.refresh_tokens  # the one the grant just issued
