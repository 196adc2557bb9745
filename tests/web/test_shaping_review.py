"""What an app may shape, and where it stops: cookie options, SameSite=Strict, hooks that fail
or overreach, the post-logout landing. (From a review of the core's first version.)"""

from __future__ import annotations

from http.cookies import SimpleCookie
from typing import Any

import httpx
import pytest

from oidc_kit import (
    ConfigurationError,
    Hooks,
    LoginDenied,
    LoginEvent,
    LogoutEvent,
    MemoryStore,
    StoreUnavailable,
)
from oidc_kit.starlette import OIDCAuth
from tests.conftest import Clock, make_config
from tests.fake_op import DROP, FakeOP
from tests.web.test_backchannel import logout_token, post_token
from tests.web.test_starlette import APP, build_app, do_login


def _kit(op: FakeOP, clock: Clock, hooks: Hooks | None = None, **config: Any) -> OIDCAuth:
    http = httpx.AsyncClient(transport=op.transport())
    return OIDCAuth(
        make_config(**config), http_client=http, store=MemoryStore(), clock=clock, hooks=hooks
    )


def _browser(kit: OIDCAuth) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=build_app(kit)), base_url=APP)


def _set_cookies(response: httpx.Response) -> dict[str, Any]:
    jar: dict[str, Any] = {}
    for header in response.headers.get_list("set-cookie"):
        cookie = SimpleCookie()
        cookie.load(header)
        for name, morsel in cookie.items():
            jar[name] = morsel
    return jar


async def test_the_session_cookie_alone_takes_the_domain_path_and_samesite(
    op: FakeOP, clock: Clock
) -> None:
    kit = _kit(op, clock, cookie_domain="app.test", cookie_path="/", cookie_samesite="lax")
    async with _browser(kit) as browser:
        start = await browser.get("/auth/login")
        login_cookie = _set_cookies(start)["__Host-oidc_login"]
        assert (login_cookie["domain"], login_cookie["path"]) == ("", "/")
        done = await do_login(browser, op)
    session_cookie = _set_cookies(done)["__Secure-oidc_session"]  # a Domain: no __Host-
    assert session_cookie["domain"] == "app.test"
    assert session_cookie["secure"]


async def test_a_session_cookie_path_leaves_the_login_working(op: FakeOP, clock: Clock) -> None:
    kit = _kit(op, clock, cookie_path="/app")
    async with _browser(kit) as browser:
        done = await do_login(browser, op)
        assert done.status_code == 303  # the login cookie (Path=/) reached the callback
        assert _set_cookies(done)["__Secure-oidc_session"]["path"] == "/app"


async def test_with_strict_cookies_the_callback_moves_on_from_a_page_of_ours(
    op: FakeOP, clock: Clock
) -> None:
    kit = _kit(op, clock, cookie_samesite="strict")
    async with _browser(kit) as browser:
        start = await browser.get("/auth/login", params={"next": "/accounts"})
        assert _set_cookies(start)["__Host-oidc_login"]["samesite"] == "lax"
        params = op.authorize(start.headers["location"])
        page = await browser.get("/auth/callback", params=params)
    assert page.status_code == 200  # not a redirect: the Strict cookie would not follow it
    assert '<meta http-equiv="refresh" content="0;url=/accounts">' in page.text
    assert _set_cookies(page)["__Host-oidc_session"]["samesite"].lower() == "strict"


@pytest.mark.parametrize(
    "settings",
    [
        {"cookie_domain": "evil.test"},
        {"cookie_domain": "pp.test"},  # a suffix of the host, not a parent domain
        {"cookie_samesite": "none"},
        {"route_prefix": "/a b"},
        {"route_prefix": "/"},
        {"post_logout_path": "//evil.test"},
        {"post_logout_path": "/../x"},
    ],
)
def test_settings_the_kit_cannot_honour_are_refused(settings: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError):
        make_config(**settings)


async def test_on_login_cannot_change_what_the_provider_said(op: FakeOP, clock: Clock) -> None:
    async def on_login(event: LoginEvent) -> None:
        event.claims.update(acr="urn:portx:acr:mfa", auth_time=0, customer="C-1")

    kit = _kit(op, clock, Hooks(on_login=on_login))
    async with _browser(kit) as browser:
        await do_login(browser, op)
        claims = (await browser.get("/auth/session")).json()["claims"]
    assert claims["customer"] == "C-1"
    assert claims.get("acr") != "urn:portx:acr:mfa"
    assert claims["auth_time"] != 0


async def test_an_on_login_that_fails_refuses_the_login_without_a_500(
    op: FakeOP, clock: Clock
) -> None:
    async def on_login(event: LoginEvent) -> None:
        raise RuntimeError("the customer database is down")

    kit = _kit(op, clock, Hooks(on_login=on_login))
    async with _browser(kit) as browser:
        start = await browser.get("/auth/login")
        answer = await browser.get("/auth/callback", params=op.authorize(start.headers["location"]))
        assert answer.status_code == 403
        assert "customer database" not in answer.text
        assert (await browser.get("/auth/session")).status_code == 401


async def test_an_on_logout_that_fails_still_logs_out(op: FakeOP, clock: Clock) -> None:
    async def on_logout(event: LogoutEvent) -> None:
        raise RuntimeError("audit sink down")

    kit = _kit(op, clock, Hooks(on_logout=on_logout))
    async with _browser(kit) as browser:
        await do_login(browser, op)
        answer = await browser.post("/auth/logout", headers={"Sec-Fetch-Site": "same-origin"})
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("https://op.test/logout?")
        assert (await browser.get("/auth/session")).status_code == 401


async def test_on_logout_hears_of_a_backchannel_logout(op: FakeOP, clock: Clock) -> None:
    heard: list[LogoutEvent] = []

    async def on_logout(event: LogoutEvent) -> None:
        heard.append(event)

    kit = _kit(op, clock, Hooks(on_logout=on_logout))
    async with _browser(kit) as browser:
        await do_login(browser, op)
        answer = await post_token(browser, logout_token(op, clock))
    assert answer.status_code == 200
    assert heard == [LogoutEvent("default", op.sub, "backchannel")]


async def test_a_local_logout_lands_on_the_landing_itself_and_says_signed_out(
    op: FakeOP, clock: Clock
) -> None:
    op.discovery["end_session_endpoint"] = DROP  # no RP-initiated logout at this provider
    kit = _kit(op, clock, post_logout_path="/bye")
    async with _browser(kit) as browser:
        await do_login(browser, op)
        answer = await browser.post("/auth/logout", headers={"Sec-Fetch-Site": "same-origin"})
        assert answer.headers["location"] == "/bye"  # exactly the landing: no state to carry
        logout_cookie = _set_cookies(answer)["__Host-oidc_logout"].value
        await browser.get("/bye")
    assert kit.rp.check_logout_return(None, logout_cookie)  # the landing may say "signed out"
    assert "__Host-oidc_logout" not in browser.cookies  # it has served


async def test_a_provider_logout_back_with_a_wrong_state_is_not_a_signed_out_landing(
    op: FakeOP, clock: Clock
) -> None:
    kit = _kit(op, clock)
    async with _browser(kit) as browser:
        await do_login(browser, op)
        answer = await browser.post("/auth/logout", headers={"Sec-Fetch-Site": "same-origin"})
        logout_cookie = _set_cookies(answer)["__Host-oidc_logout"].value
        await browser.get("/", params={"state": "forged"})
    assert not kit.rp.check_logout_return("forged", logout_cookie)
    assert not kit.rp.check_logout_return(None, logout_cookie)
    assert "__Host-oidc_logout" not in browser.cookies  # expired all the same


async def test_a_denial_page_cannot_be_handed_another_prefix(op: FakeOP, clock: Clock) -> None:
    async def on_login(event: LoginEvent) -> None:
        raise LoginDenied("Not here.", context={"prefix": "https://evil.test"})

    kit = _kit(op, clock, Hooks(on_login=on_login))
    async with _browser(kit) as browser:
        start = await browser.get("/auth/login")
        answer = await browser.get("/auth/callback", params=op.authorize(start.headers["location"]))
    assert answer.status_code == 403
    assert "evil.test" not in answer.text
    assert 'href="/auth/login"' in answer.text


async def test_a_store_outage_page_links_to_the_apps_own_login(op: FakeOP, clock: Clock) -> None:
    class Down(MemoryStore):
        async def get(self, key: str) -> bytes | None:
            raise StoreUnavailable("down")

    http = httpx.AsyncClient(transport=op.transport())
    kit = OIDCAuth(make_config(route_prefix="/sso"), http_client=http, store=Down(), clock=clock)
    app = build_app(kit)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=APP) as browser:
        signed = kit.rp.session_cookie_change("some-session").value
        assert signed is not None
        browser.cookies.set("__Host-oidc_session", signed)
        page = await browser.get("/page", headers={"Accept": "text/html"})
    assert page.status_code == 503
    assert 'href="/sso/login"' in page.text and "/auth/login" not in page.text
