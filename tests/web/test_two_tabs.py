"""Logins in several tabs of one browser, and callbacks that are not theirs (issue 13, item 8).

The login cookie holds the browser's recent bindings, a fresh one per login start
(tests/web/test_login_binding.py), so the logins of all its tabs complete: no callback deletes it.
A failed or stray callback ends at most its own transaction, and a transaction is taken from
the store only once the callback has shown it comes from the browser that started it: whoever
learns a victim's ``state`` cannot end the victim's login.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from oidc_kit import InvalidState, MemoryStore
from oidc_kit.starlette import OIDCAuth
from tests.conftest import Clock, make_config
from tests.fake_op import FakeOP
from tests.web.test_starlette import APP, build_app


def new_browser(kit: OIDCAuth) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=build_app(kit)), base_url=APP)


@pytest.fixture
async def browser(kit: OIDCAuth) -> AsyncIterator[httpx.AsyncClient]:
    async with new_browser(kit) as b:
        yield b


async def start(browser: httpx.AsyncClient, op: FakeOP, next_path: str) -> dict[str, str]:
    """A login started in a tab: the provider's answer for it (code, state, iss)."""
    response = await browser.get("/auth/login", params={"next": next_path})
    assert response.status_code == 303
    return op.authorize(response.headers["location"])


async def callback(browser: httpx.AsyncClient, params: dict[str, str]) -> httpx.Response:
    return await browser.get("/auth/callback", params=params)


async def assert_completes(browser: httpx.AsyncClient, params: dict[str, str], to: str) -> None:
    response = await callback(browser, params)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == to
    assert (await browser.get("/auth/session")).status_code == 200


async def test_two_tabs_complete_in_reverse_order(browser: httpx.AsyncClient, op: FakeOP) -> None:
    first = await start(browser, op, "/first")
    second = await start(browser, op, "/second")
    await assert_completes(browser, second, "/second")
    await assert_completes(browser, first, "/first")


async def test_three_tabs_complete_in_any_order(browser: httpx.AsyncClient, op: FakeOP) -> None:
    tabs = [(await start(browser, op, f"/tab{i}"), f"/tab{i}") for i in range(3)]
    for params, to in (tabs[1], tabs[2], tabs[0]):
        await assert_completes(browser, params, to)


@pytest.mark.parametrize(
    "stray",
    [
        {},  # a cross-site GET /auth/callback with no parameters
        {"state": "wrong", "code": "x"},
        {"state": "another-login", "error": "access_denied"},
        {"error": "access_denied"},
    ],
    ids=["no-params", "wrong-state", "error-with-another-state", "error-without-state"],
)
async def test_a_stray_callback_does_not_break_the_pending_login(
    browser: httpx.AsyncClient, op: FakeOP, stray: dict[str, str]
) -> None:
    pending = await start(browser, op, "/pending")
    refused = await callback(browser, stray)  # sent by this very browser (a Lax cookie goes)
    assert refused.status_code == 400
    assert "invalid_state" in refused.text
    assert not [c for c in refused.headers.get_list("set-cookie") if "oidc_login" in c]
    await assert_completes(browser, pending, "/pending")


async def test_a_failed_callback_ends_only_its_own_login(
    browser: httpx.AsyncClient, op: FakeOP
) -> None:
    denied = await start(browser, op, "/denied")
    other = await start(browser, op, "/other")
    error = {"state": denied["state"], "error": "access_denied", "iss": denied["iss"]}
    refused = await callback(browser, error)
    assert refused.status_code == 401
    assert "access_denied" in refused.text
    await assert_completes(browser, other, "/other")
    # Its own transaction did end: the same state cannot be used again.
    replay = await callback(browser, denied)
    assert replay.status_code == 400
    assert "invalid_state" in replay.text


@pytest.mark.parametrize("attacker_has_a_login", [False, True], ids=["no-cookie", "own-cookie"])
async def test_the_victims_state_from_another_browser_leaves_the_victims_login_intact(
    kit: OIDCAuth, browser: httpx.AsyncClient, op: FakeOP, attacker_has_a_login: bool
) -> None:
    victim = await start(browser, op, "/victim")
    async with new_browser(kit) as attacker:
        if attacker_has_a_login:
            await start(attacker, op, "/attacker")  # a login cookie with another binding
        for params in (
            {"state": victim["state"], "error": "access_denied"},
            {"state": victim["state"], "code": "attackers-code"},
            victim,
        ):
            refused = await callback(attacker, params)
            assert refused.status_code == 400
            assert "invalid_state" in refused.text
        assert (await attacker.get("/auth/session")).status_code == 401
    await assert_completes(browser, victim, "/victim")


async def test_a_transaction_is_taken_only_after_the_binding_check(
    kit: OIDCAuth, op: FakeOP
) -> None:
    """The flow itself: another binding takes nothing; the right one then takes it, once."""
    params = op.authorize(await kit._flow.start("victim-binding", "/"))
    state = {"state": [params["state"]]}
    for binding in (None, "attacker-binding"):
        with pytest.raises(InvalidState):
            await kit._flow.take(state, binding)
    txn = await kit._flow.take(state, "victim-binding")
    assert txn.state == params["state"]
    with pytest.raises(InvalidState):
        await kit._flow.take(state, "victim-binding")


class InterleavingStore(MemoryStore):
    """Lets other tasks run after every read, as a networked store (Redis) does: racing
    callbacks all read the transaction before any of them takes it."""

    async def get(self, key: str) -> bytes | None:
        value = await super().get(key)
        await asyncio.sleep(0)
        return value


async def test_racing_callbacks_with_one_state_have_one_winner(op: FakeOP, clock: Clock) -> None:
    kit = OIDCAuth(
        make_config(),
        http_client=httpx.AsyncClient(transport=op.transport()),
        store=InterleavingStore(),
        clock=clock,
    )
    params = op.authorize(await kit._flow.start("browser-1", "/"))
    state = {"state": [params["state"]]}
    results = await asyncio.gather(
        *(kit._flow.take(state, "browser-1") for _ in range(5)), return_exceptions=True
    )
    await kit.http.aclose()
    winners = [r for r in results if not isinstance(r, BaseException)]
    assert len(winners) == 1
    assert all(isinstance(r, InvalidState) for r in results if r not in winners)
