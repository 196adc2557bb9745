"""The app's ``on_refresh_failed`` hook: told once per failed refresh, never given a token, and
unable to turn the refresh's outcome (401 for an ended session, 503 for an unreachable
provider) into a 500.

The hook is passed as an app passes it, ``OIDCAuth(hooks=Hooks(on_refresh_failed=...))``, and
the refresh is the one a request makes when it calls the API as the user (``auth.httpx_auth``),
so these tests also prove the hook's way through ``RelyingParty`` and ``ProviderClients`` down
to each provider's ``TokenManager``. The fake provider sits behind ``GatedTransport``
(tests/core/test_refresh.py), which can hold token answers (so requests really overlap) or fail
them; the clock is moved by hand.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from oidc_kit import Hooks, MemoryStore, ProviderUnavailable, RefreshFailedEvent, TokenSet
from oidc_kit._provider import Provider
from oidc_kit._refresh import TokenManager
from oidc_kit._session import Sessions
from oidc_kit.starlette import OIDCAuth
from tests.conftest import Clock, make_config
from tests.core.test_refresh import DUE, GatedTransport, until
from tests.fake_op import FakeOP
from tests.web.test_starlette import APP, build_app

#: Longer than the tokens' hour: the session outlives the jump to their expiry.
IDLE = {"session_idle_timeout": 4 * 3600}


class Recorder:
    """An ``on_refresh_failed`` hook that keeps the events; it may be told to raise."""

    def __init__(self) -> None:
        self.events: list[RefreshFailedEvent] = []
        self.raises: Exception | None = None

    async def __call__(self, event: RefreshFailedEvent) -> None:
        self.events.append(event)
        if self.raises is not None:
            raise self.raises


@pytest.fixture
def transport(op: FakeOP) -> GatedTransport:
    return GatedTransport(op)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def browser_factory(
    transport: GatedTransport, clock: Clock, recorder: Recorder
) -> AsyncIterator[Callable[..., httpx.AsyncClient]]:
    """Browsers of an app whose kit has ``recorder`` as its ``on_refresh_failed`` hook;
    ``/api/accounts`` calls an API (always 200) with the user's token, refreshing it first
    when it is due."""
    closing: list[Any] = []

    def make(config: Any = None) -> httpx.AsyncClient:
        http = httpx.AsyncClient(transport=transport)
        auth = OIDCAuth(
            config or make_config(**IDLE),
            http_client=http,
            store=MemoryStore(),
            hooks=Hooks(on_refresh_failed=recorder),
            clock=clock,
        )
        api = httpx.MockTransport(lambda request: httpx.Response(200, json={"data": []}))
        app = build_app(auth, api)
        browser = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=APP)
        closing.extend([browser, http])
        return browser

    yield make
    for client in closing:
        await client.aclose()


@pytest.fixture
def browser(browser_factory: Callable[..., httpx.AsyncClient]) -> httpx.AsyncClient:
    return browser_factory()


async def log_in(browser: httpx.AsyncClient, op: FakeOP) -> None:
    start = await browser.get("/auth/login")
    done = await browser.get("/auth/callback", params=op.authorize(start.headers["location"]))
    assert done.status_code == 303, done.text
    assert (await browser.get("/api/accounts")).status_code == 200


async def has_session(browser: httpx.AsyncClient) -> bool:
    return (await browser.get("/auth/session")).status_code == 200


def refuse_the_client(op: FakeOP) -> None:
    """The token endpoint refuses our client (a rotated secret): not the login's fault."""
    real = op.handle

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":
            return httpx.Response(401, json={"error": "invalid_client"})
        return real(request)

    op.handle = handle  # type: ignore[method-assign]


# -- what the hook is told ---------------------------------------------------------------------


async def test_invalid_grant_is_reported_as_an_ended_session(
    browser: httpx.AsyncClient, op: FakeOP, clock: Clock, recorder: Recorder
) -> None:
    await log_in(browser, op)
    op.refresh_tokens.clear()  # revoked at the provider
    clock.advance(DUE)

    response = await browser.get("/api/accounts")

    assert response.status_code == 401
    assert response.json()["error"] == "login_required"
    # Exactly these values: the event has no room for a token.
    assert recorder.events == [RefreshFailedEvent("default", "user-1", "invalid_grant", True)]
    assert not await has_session(browser)


async def test_an_invalid_refreshed_id_token_is_reported_as_an_ended_session(
    browser: httpx.AsyncClient, op: FakeOP, clock: Clock, recorder: Recorder
) -> None:
    await log_in(browser, op)
    clock.advance(DUE)
    op.id_claims["sub"] = "someone-else"

    assert (await browser.get("/api/accounts")).status_code == 401

    assert recorder.events == [RefreshFailedEvent("default", "user-1", "invalid_id_token", True)]
    assert not await has_session(browser)


@pytest.mark.parametrize("failure", ["connect_error", "503"])
async def test_an_unreachable_provider_is_reported_with_the_session_kept(
    browser: httpx.AsyncClient,
    op: FakeOP,
    clock: Clock,
    recorder: Recorder,
    transport: GatedTransport,
    failure: str,
) -> None:
    await log_in(browser, op)
    clock.advance(DUE)
    if failure == "connect_error":
        op.fail_with = httpx.ConnectError
    else:
        transport.token_status = 503

    response = await browser.get("/api/accounts")

    assert response.status_code == 503
    assert response.json()["error"] == "provider_unavailable"
    assert recorder.events == [
        RefreshFailedEvent("default", "user-1", "provider_unavailable", False)
    ]
    # The provider is back: the kept session refreshes, and nothing more is reported.
    op.fail_with, transport.token_status = None, None
    assert (await browser.get("/api/accounts")).status_code == 200
    assert len(recorder.events) == 1


async def test_a_refresh_refused_for_another_reason_is_reported_with_the_session_kept(
    browser: httpx.AsyncClient, op: FakeOP, clock: Clock, recorder: Recorder
) -> None:
    await log_in(browser, op)
    clock.advance(DUE)
    refuse_the_client(op)

    assert (await browser.get("/api/accounts")).status_code == 502

    assert recorder.events == [RefreshFailedEvent("default", "user-1", "refresh_failed", False)]
    assert await has_session(browser)


async def test_a_refresh_that_works_reports_nothing(
    browser: httpx.AsyncClient,
    op: FakeOP,
    clock: Clock,
    recorder: Recorder,
    transport: GatedTransport,
) -> None:
    await log_in(browser, op)
    clock.advance(DUE)
    assert (await browser.get("/api/accounts")).status_code == 200
    assert transport.refresh_grants == 1
    assert recorder.events == []


async def test_a_refresh_storm_reports_one_failure(
    browser: httpx.AsyncClient,
    op: FakeOP,
    clock: Clock,
    recorder: Recorder,
    transport: GatedTransport,
) -> None:
    await log_in(browser, op)
    op.refresh_tokens.clear()
    clock.advance(DUE)
    gate = transport.hold()
    requests = [asyncio.create_task(browser.get("/api/accounts")) for _ in range(5)]
    await until(lambda: transport.waiting == 1)
    for _ in range(20):  # let the other four reach the refresh in flight
        await asyncio.sleep(0)
    gate.set()

    responses = await asyncio.gather(*requests)

    assert [r.status_code for r in responses] == [401] * 5
    assert transport.refresh_grants == 1
    assert len(recorder.events) == 1


async def test_the_event_names_the_sessions_provider(
    browser_factory: Callable[..., httpx.AsyncClient],
    op: FakeOP,
    clock: Clock,
    recorder: Recorder,
) -> None:
    corp = make_config(**IDLE, issuer="https://corp.test")
    browser = browser_factory({"portx": make_config(**IDLE), "corp": corp})
    await log_in(browser, op)  # at the default provider, named portx here
    op.refresh_tokens.clear()
    clock.advance(DUE)

    assert (await browser.get("/api/accounts")).status_code == 401

    assert [e.provider for e in recorder.events] == ["portx"]


async def test_a_grant_cut_off_at_its_deadline_is_reported(
    op: FakeOP, clock: Clock, recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The core alone, as tests/core/test_deadlines.py drives it: a grant that never answers.
    config = make_config(http_timeout=0.05)
    http = httpx.AsyncClient(transport=op.transport())
    sessions = Sessions(config, MemoryStore(), clock)
    provider = Provider(config, http, clock)
    manager = TokenManager(
        config, provider, sessions, http, clock, name="portx", on_failure=recorder
    )
    tokens = TokenSet("at-1", "Bearer", clock() + 3600, clock(), refresh_token="rt-1")
    session = await sessions.create(tokens, {"iss": config.issuer, "sub": "user-1"}, None)

    async def never_answered(*args: object) -> None:
        await asyncio.Event().wait()

    monkeypatch.setattr(manager, "_grant", never_answered)
    with pytest.raises(ProviderUnavailable):
        await asyncio.wait_for(manager.refresh(session), 10)
    assert recorder.events == [RefreshFailedEvent("portx", "user-1", "provider_unavailable", False)]
    await http.aclose()


# -- a hook that fails -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "status", "code", "kept"),
    [
        ("unreachable", 503, "provider_unavailable", True),
        ("invalid_grant", 401, "login_required", False),
        ("invalid_id_token", 401, "login_required", False),
        ("invalid_client", 502, "refresh_failed", True),
    ],
)
async def test_a_hook_that_raises_changes_no_answer(
    browser: httpx.AsyncClient,
    op: FakeOP,
    clock: Clock,
    recorder: Recorder,
    caplog: pytest.LogCaptureFixture,
    fault: str,
    status: int,
    code: str,
    kept: bool,
) -> None:
    recorder.raises = RuntimeError("the audit service said no: hook-detail-42")
    await log_in(browser, op)
    clock.advance(DUE)
    if fault == "unreachable":
        op.fail_with = httpx.ConnectError
    elif fault == "invalid_grant":
        op.refresh_tokens.clear()
    elif fault == "invalid_id_token":
        op.id_claims["sub"] = "someone-else"
    else:
        refuse_the_client(op)

    with caplog.at_level(logging.INFO, logger="oidc_kit"):
        response = await browser.get("/api/accounts")

    assert response.status_code == status
    assert response.json()["error"] == code
    assert len(recorder.events) == 1
    op.fail_with = None
    assert await has_session(browser) is kept
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("on_refresh_failed hook raised RuntimeError" in m for m in warnings), warnings
    assert "hook-detail-42" not in caplog.text  # the app's message could hold anything
