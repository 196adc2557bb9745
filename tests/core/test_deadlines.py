"""OIDC_HTTP_TIMEOUT bounds a whole provider call, and nobody waits behind a stuck one longer.

httpx's own timeouts restart on every read: a provider (or a path to it) that trickles a byte
at a time would hold a login as long as it trickles. These tests use a real server on loopback
that does exactly that, and check the outcome (503 ``provider_unavailable``), never a duration.
"""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from oidc_kit import MemoryStore, ProviderUnavailable, TokenSet
from oidc_kit._errors import ResponseTooLarge
from oidc_kit._http import fetch
from oidc_kit._provider import Provider
from oidc_kit._provider_config import allowed_endpoint
from oidc_kit._refresh import TokenManager
from oidc_kit._session import Session, Sessions
from tests.conftest import Clock, make_config
from tests.fake_op import FakeOP

#: Per-read timeouts of the client: each trickled byte arrives well within them.
READ_TIMEOUT = 5.0
DEADLINE = 0.3


class TricklingServer:
    """Answers every request with a JSON body sent one byte per ``interval`` (for at most a
    few seconds: long past the deadline, short enough that a test without the fix ends)."""

    def __init__(
        self, body: bytes, interval: float = 0.02, *, chunked: bool = False, extra: str = ""
    ) -> None:
        self.body = body
        self.interval = interval
        self.chunked = chunked
        self.extra = extra  # more header lines
        self.requests = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.requests += 1
        try:
            await reader.readuntil(b"\r\n\r\n")
            length = (
                "Transfer-Encoding: chunked"
                if self.chunked
                else f"Content-Length: {len(self.body)}"
            )
            head = (
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                f"{length}\r\n{self.extra}Connection: close\r\n\r\n"
            )
            writer.write(head.encode())
            step = 1 if self.interval else 4096
            for i in range(0, len(self.body), step):
                piece = self.body[i : i + step]
                writer.write(b"%x\r\n%s\r\n" % (len(piece), piece) if self.chunked else piece)
                await writer.drain()
                await asyncio.sleep(self.interval)
            if self.chunked:
                writer.write(b"0\r\n\r\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=READ_TIMEOUT) as client:
        yield client


def _doc(**fields: Any) -> bytes:
    """A JSON body of about 100 bytes: 2 s of trickling at 20 ms a byte."""
    return json.dumps({"padding": "x" * 80, **fields}).encode()


async def test_a_trickling_answer_is_cut_off_at_the_deadline(http: httpx.AsyncClient) -> None:
    async with TricklingServer(_doc()) as url:
        with pytest.raises(ProviderUnavailable) as info:
            await fetch(http, "GET", f"{url}/slow", what="discovery", deadline=DEADLINE)
    assert info.value.status == 503
    assert "discovery" in info.value.description


async def test_a_prompt_answer_within_the_deadline_is_read_whole(http: httpx.AsyncClient) -> None:
    async with TricklingServer(b'{"ok": true}', interval=0) as url:
        response = await fetch(http, "GET", f"{url}/fast", what="discovery", deadline=5)
    assert response.json() == {"ok": True}


async def test_an_answer_over_the_size_limit_is_refused(http: httpx.AsyncClient) -> None:
    async with TricklingServer(b"[" + b"0," * 600 + b"0]", interval=0) as url:
        with pytest.raises(ResponseTooLarge) as info:
            await fetch(http, "GET", f"{url}/big", what="jwks_uri", deadline=5, max_bytes=1000)
    assert info.value.code == "response_too_large"


async def test_a_chunked_answer_is_cut_off_at_the_size_limit(http: httpx.AsyncClient) -> None:
    # No Content-Length to refuse up front: the count while reading must stop it.
    big = b"[" + b"0," * 5000 + b"0]"
    async with TricklingServer(big, interval=0, chunked=True) as url:
        with pytest.raises(ResponseTooLarge):
            await fetch(http, "GET", f"{url}/big", what="jwks_uri", deadline=5, max_bytes=1000)
        small = await fetch(http, "GET", f"{url}/big", what="jwks_uri", deadline=5)
    assert len(small.json()) == 5001


async def test_a_compressed_answer_is_refused(http: httpx.AsyncClient) -> None:
    # 1 MiB of zeros is 1 KiB of gzip: a limit on the decoded size would come too late.
    bomb = gzip.compress(b"0" * 2**20)
    server = TricklingServer(bomb, interval=0, extra="Content-Encoding: gzip\r\n")
    async with server as url:
        with pytest.raises(ResponseTooLarge, match="compressed"):
            await fetch(http, "GET", f"{url}/jwks", what="jwks_uri", deadline=5)


@pytest.mark.parametrize(
    "url",
    ["https://op.test:abc/revoke", "https://op\x00.test/revoke", "https://op.test/a b"],
)
def test_an_endpoint_that_is_no_url_is_refused(url: str) -> None:
    assert not allowed_endpoint(url, allow_insecure_http=False)


async def test_a_url_httpx_cannot_send_is_a_503_not_a_500(http: httpx.AsyncClient) -> None:
    with pytest.raises(ProviderUnavailable):
        await fetch(http, "POST", "https://op.test:abc/revoke", what="revocation", deadline=1)


async def test_logins_waiting_on_a_trickling_discovery_get_503_and_share_one_fetch(
    http: httpx.AsyncClient,
) -> None:
    server = TricklingServer(_doc())
    async with server as url:
        config = make_config(issuer=url, allow_insecure_http=True, http_timeout=DEADLINE)
        provider = Provider(config, http)
        outcomes = await asyncio.gather(
            *(provider.metadata() for _ in range(10)), return_exceptions=True
        )
    assert all(isinstance(o, ProviderUnavailable) for o in outcomes)
    assert server.requests == 1


async def test_nobody_waits_behind_a_stuck_discovery_longer_than_the_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Whatever a discovery does (two documents, a slow lock), waiters get their answer within
    # http_timeout: here a discovery that never ends.
    config = make_config(http_timeout=DEADLINE)
    provider = Provider(config, httpx.AsyncClient(transport=FakeOP().transport()))
    started = 0

    async def stuck() -> None:
        nonlocal started
        started += 1
        await asyncio.Event().wait()

    monkeypatch.setattr(provider, "_discover", stuck)
    waiters = [provider.metadata() for _ in range(5)]
    # The outer bound only turns a hang (the fix removed) into a failure.
    outcomes = await asyncio.wait_for(asyncio.gather(*waiters, return_exceptions=True), 10)
    assert all(isinstance(o, ProviderUnavailable) for o in outcomes)
    assert started == 1


async def test_a_stuck_jwks_fetch_is_shared_and_nobody_waits_longer_than_the_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = make_config(http_timeout=DEADLINE)
    provider = Provider(config, httpx.AsyncClient(transport=FakeOP().transport()))
    await provider.metadata()
    started = 0

    async def stuck() -> None:
        nonlocal started
        started += 1
        await asyncio.Event().wait()

    monkeypatch.setattr(provider, "_fetch_keys", stuck)
    # Five ID tokens with a kid the kit has not seen: one refetch for them all.
    waiters = [provider.keys("new-kid", "RS256", from_provider=True) for _ in range(5)]
    outcomes = await asyncio.wait_for(asyncio.gather(*waiters, return_exceptions=True), 10)
    assert all(isinstance(o, ProviderUnavailable) for o in outcomes)
    assert started == 1


async def test_the_refresh_lease_outlives_the_longest_refresh(
    op: FakeOP, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two processes must never both send a session's refresh token: a grant still running when
    # its lease expires would let another process send a second one. So a grant without an
    # answer is cut off at its deadline, which the lease outlives with room for the work after
    # a grant.
    config = make_config(http_timeout=0.05)
    store = MemoryStore()
    http = httpx.AsyncClient(transport=op.transport())
    sessions = Sessions(config, store, clock)
    manager = TokenManager(config, Provider(config, http, clock), sessions, http, clock)
    assert manager.lease_ttl >= manager.grant_deadline + 3 * config.http_timeout
    session = await _session(sessions, clock)
    lease_held_when_cut_off: list[bool] = []

    async def never_answered(*args: object) -> None:
        try:
            await asyncio.Event().wait()
        finally:
            lease_held_when_cut_off.append(await store.get(f"lease:{session.sid}") is not None)

    monkeypatch.setattr(manager, "_grant", never_answered)
    with pytest.raises(ProviderUnavailable):
        await asyncio.wait_for(manager.refresh(session), 10)
    assert lease_held_when_cut_off == [True]  # cut off while the lease was still ours
    assert await store.get(f"lease:{session.sid}") is None  # and released
    assert await sessions.load(session.sid) is not None  # the session is kept: a 503


async def _session(sessions: Sessions, clock: Clock) -> Session:
    tokens = TokenSet("at-1", "Bearer", clock() + 3600, clock(), refresh_token="rt-1")
    claims = {"iss": make_config().issuer, "sub": "user-1"}
    return await sessions.create(tokens, claims, None)
