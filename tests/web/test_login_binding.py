"""The login cookie's bindings: a fresh one at every login start (issue 13, item 8, follow-up).

``/auth/login`` never reuses a binding read from a cookie: on an ``http`` deployment (no
``__Host-`` prefix) whoever can plant a cookie in the victim's browser (a sibling subdomain, the
network) would otherwise bind the victim's login to a binding of their own, and complete it in
their own browser with a leaked code and ``state``. The cookie keeps the browser's last
:data:`LOGIN_BINDINGS` bindings, newest first, so that logins in several tabs still complete.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from oidc_kit import InvalidState
from oidc_kit._cookie_signer import LOGIN_BINDINGS, CookieSigner
from oidc_kit.starlette import OIDCAuth
from tests.fake_op import FakeOP
from tests.web.test_starlette import build_app
from tests.web.test_two_tabs import assert_completes, callback, start

HTTP_APP = "http://app.test"


@pytest.fixture
async def http_kit(kit_factory: Callable[..., OIDCAuth]) -> AsyncIterator[OIDCAuth]:
    """A deployment on ``http``: its login cookie has no ``__Host-`` prefix to stop planting."""
    auth = kit_factory(base_url=HTTP_APP)
    yield auth
    await auth.http.aclose()


def new_browser(kit: OIDCAuth) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=build_app(kit))
    return httpx.AsyncClient(transport=transport, base_url=HTTP_APP)


def bindings_of(kit: OIDCAuth, browser: httpx.AsyncClient) -> list[str]:
    return kit._cookies.login_bindings(browser.cookies[kit.login_cookie])


async def test_a_planted_login_cookie_does_not_bind_the_victims_login(
    http_kit: OIDCAuth, op: FakeOP
) -> None:
    assert http_kit.login_cookie == "oidc_login"
    async with new_browser(http_kit) as victim, new_browser(http_kit) as attacker:
        await start(attacker, op, "/attacker")  # a genuine signed login cookie of theirs
        planted = attacker.cookies[http_kit.login_cookie]
        victim.cookies.set(http_kit.login_cookie, planted, domain="app.test")
        leaked = await start(victim, op, "/victim")  # its code and state then leak
        refused = await callback(attacker, leaked)
        assert refused.status_code == 400, refused.text
        assert "invalid_state" in refused.text
        assert (await attacker.get("/auth/session")).status_code == 401
        await assert_completes(victim, leaked, "/victim")
        # The planted binding was kept, behind the fresh one: it binds the victim's login to
        # nothing the attacker holds.
        assert bindings_of(http_kit, victim)[1:] == bindings_of(http_kit, attacker)


async def test_each_login_start_mints_a_new_binding_newest_first_capped(
    http_kit: OIDCAuth, op: FakeOP
) -> None:
    seen: list[str] = []
    sizes: list[int] = []
    async with new_browser(http_kit) as browser:
        for _ in range(LOGIN_BINDINGS + 2):
            await start(browser, op, "/")
            bindings = bindings_of(http_kit, browser)
            assert bindings[0] not in seen
            seen.insert(0, bindings[0])
            assert bindings == seen[:LOGIN_BINDINGS]
            sizes.append(len(browser.cookies[http_kit.login_cookie]))
    # Past the cap the cookie itself stops growing: the oldest binding is dropped, not hidden.
    assert sizes[LOGIN_BINDINGS - 1] == sizes[-1] > sizes[LOGIN_BINDINGS - 2]


async def test_the_login_cookie_needs_no_quoting(http_kit: OIDCAuth, op: FakeOP) -> None:
    async with new_browser(http_kit) as browser:
        for _ in range(3):
            response = await browser.get("/auth/login")
        (cookie,) = response.headers.get_list("set-cookie")
        value = cookie.split(";")[0].removeprefix("oidc_login=")
        assert '"' not in value and "\\" not in value
        assert len(http_kit._cookies.login_bindings(value)) == 3


@pytest.mark.parametrize("kind", ["forged", "expired", "garbage"])
async def test_a_forged_or_expired_login_cookie_is_ignored(
    http_kit: OIDCAuth, op: FakeOP, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    if kind == "forged":
        other = CookieSigner(["another-secret-0123456789abcdef0123"], 600)
        value = other.sign_login_bindings(["planted-a", "planted-b"])
    elif kind == "expired":
        real_time = time.time
        monkeypatch.setattr(time, "time", lambda: real_time() - http_kit.config.login_timeout - 5)
        value = http_kit._cookies.sign_login_bindings(["planted-a", "planted-b"])
        monkeypatch.undo()
    else:
        value = "planted-a~planted-b"
    async with new_browser(http_kit) as browser:
        browser.cookies.set(http_kit.login_cookie, value, domain="app.test")
        pending = await start(browser, op, "/pending")
        bindings = bindings_of(http_kit, browser)
        assert len(bindings) == 1 and not {"planted-a", "planted-b"} & set(bindings)
        await assert_completes(browser, pending, "/pending")


async def test_more_logins_than_the_cap_push_out_the_oldest(http_kit: OIDCAuth, op: FakeOP) -> None:
    async with new_browser(http_kit) as browser:
        tabs = [await start(browser, op, f"/tab{i}") for i in range(LOGIN_BINDINGS + 1)]
        pushed_out = await callback(browser, tabs[0])
        assert pushed_out.status_code == 400
        assert "invalid_state" in pushed_out.text
        for i in reversed(range(1, LOGIN_BINDINGS + 1)):
            await assert_completes(browser, tabs[i], f"/tab{i}")


async def test_the_flow_takes_a_transaction_of_any_of_the_bindings(
    kit: OIDCAuth, op: FakeOP
) -> None:
    params = op.authorize(await kit._flow.start("tab-2", "/"))
    state = {"state": [params["state"]]}
    for bindings in ([], ["tab-1", "tab-3"], ("tab-22",), ["tab-"]):
        with pytest.raises(InvalidState):
            await kit._flow.take(state, bindings)
    txn = await kit._flow.take(state, ["tab-3", "tab-2", "tab-1"])
    assert txn.state == params["state"]
    with pytest.raises(InvalidState):
        await kit._flow.take(state, ["tab-2"])


def test_the_logout_state_cookie_still_holds_one_value(kit: OIDCAuth) -> None:
    signed = kit._cookies.sign_login("logout-state")
    assert kit._cookies.login_binding(signed) == "logout-state"
    assert kit._cookies.login_bindings(kit._cookies.sign_login("old-style")) == ["old-style"]
