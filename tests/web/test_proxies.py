"""Reverse proxies, explicitly: ``APP_BASE_URL`` decides, forwarded headers do not.

The kit builds ``redirect_uri``, checks origins and chooses cookie attributes from
``APP_BASE_URL`` only; ``Host``, ``X-Forwarded-*`` and ``Forwarded`` change none of them. The
client address in the logs comes from forwarded headers only when the connection comes from one
of ``TRUSTED_PROXIES`` (example_app/serve.py, through uvicorn's proxy-headers middleware).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from example_app.serve import proxy_options
from oidc_kit.starlette import OIDCAuth
from tests.fake_op import ISSUER, FakeOP
from tests.web.test_starlette import APP, build_app, do_login, set_cookies

FORGED = {
    "Host": "evil.test",
    "X-Forwarded-Host": "evil.test",
    "X-Forwarded-Proto": "http",
    "X-Forwarded-For": "203.0.113.66",
    "X-Forwarded-Port": "80",
    "Forwarded": "for=203.0.113.66;host=evil.test;proto=http",
}


def behind_a_proxy(app: ASGIApp) -> ASGIApp:
    """What the app sees behind a TLS-terminating proxy: plain http on an internal address
    (the browser's cookie jar still speaks https to ``APP_BASE_URL``)."""

    async def hop(scope: Scope, receive: Receive, send: Send) -> None:
        scope = {**scope, "scheme": "http", "server": ("10.0.0.2", 8080)}
        await app(scope, receive, send)

    return hop


def client(auth: OIDCAuth, base_url: str = APP) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=behind_a_proxy(build_app(auth)))
    return httpx.AsyncClient(transport=transport, base_url=base_url)


@pytest.fixture
async def browser(kit: OIDCAuth) -> AsyncIterator[httpx.AsyncClient]:
    async with client(kit) as b:
        yield b


async def test_forged_headers_do_not_change_the_redirect_uri(
    browser: httpx.AsyncClient, op: FakeOP
) -> None:
    response = await browser.get("/auth/login", headers=FORGED)
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith(f"{ISSUER}/authorize?")
    assert parse_qs(urlsplit(location).query)["redirect_uri"] == [f"{APP}/auth/callback"]
    # And the code exchange uses the same redirect_uri (the fake provider compares them).
    params = op.authorize(location)
    done = await browser.get("/auth/callback", params=params, headers=FORGED)
    assert done.status_code == 303
    assert done.headers["location"] == "/"  # a relative path: no host taken from the request


async def test_forged_headers_do_not_change_cookie_attributes(
    browser: httpx.AsyncClient, op: FakeOP
) -> None:
    start = await browser.get("/auth/login", headers=FORGED)
    params = op.authorize(start.headers["location"])
    done = await browser.get("/auth/callback", params=params, headers=FORGED)
    cookies = set_cookies(start) + set_cookies(done)
    assert cookies
    for cookie in cookies:
        assert cookie.startswith("__Host-"), cookie  # https APP_BASE_URL, whatever the request
        for attribute in ("Secure", "HttpOnly", "Path=/"):
            assert attribute in cookie, cookie
        assert "Domain" not in cookie and "evil" not in cookie


async def test_an_http_base_url_is_not_upgraded_by_a_forwarded_proto(
    kit_factory: Callable[..., OIDCAuth],
) -> None:
    auth = kit_factory(base_url="http://127.0.0.1:8000")
    async with client(auth, "http://127.0.0.1:8000") as b:
        response = await b.get(
            "/auth/login", headers={"X-Forwarded-Proto": "https", "Forwarded": "proto=https"}
        )
    (cookie,) = set_cookies(response)
    assert cookie.startswith("oidc_login=") and "Secure" not in cookie
    redirect_uri = parse_qs(urlsplit(response.headers["location"]).query)["redirect_uri"]
    assert redirect_uri == ["http://127.0.0.1:8000/auth/callback"]
    await auth.http.aclose()


@pytest.mark.parametrize(
    "headers",
    [
        {**FORGED, "Origin": "https://evil.test"},
        # Fetch metadata, when a browser sends it, decides (tests/web/test_starlette.py):
        {**FORGED, "Origin": "https://app.test", "Sec-Fetch-Site": "cross-site"},
        {**FORGED, "Origin": "http://evil.test"},
        {"Host": "10.0.0.2:8080", "Origin": "http://10.0.0.2:8080"},
    ],
)
async def test_the_logout_origin_check_uses_app_base_url(
    browser: httpx.AsyncClient, op: FakeOP, headers: dict[str, str]
) -> None:
    await do_login(browser, op)
    response = await browser.post("/auth/logout", headers={**headers, "Accept": "application/json"})
    assert response.status_code == 403
    assert response.json()["error"] == "cross_site_request"
    assert (await browser.get("/auth/session")).status_code == 200


async def test_the_real_origin_passes_whatever_the_forwarded_headers_say(
    browser: httpx.AsyncClient, op: FakeOP
) -> None:
    await do_login(browser, op)
    response = await browser.post("/auth/logout", headers={**FORGED, "Origin": APP})
    assert response.status_code == 303
    post_logout = parse_qs(urlsplit(response.headers["location"]).query)
    assert post_logout["post_logout_redirect_uri"] == [f"{APP}/"]
    assert (await browser.get("/auth/session")).status_code == 401


async def test_the_form_post_repost_page_targets_app_base_url(
    kit_factory: Callable[..., OIDCAuth],
) -> None:
    auth = kit_factory(response_mode="form_post")
    async with client(auth) as b:
        page = await b.post(
            "/auth/callback", data={"state": "s", "code": "c"}, headers={**FORGED, "Origin": ISSUER}
        )
    assert page.status_code == 200
    assert f'action="{APP}/auth/callback"' in page.text
    assert f"form-action {APP};" in page.headers["content-security-policy"]
    assert "evil" not in page.text
    await auth.http.aclose()


# -- TRUSTED_PROXIES: the client address uvicorn logs ----------------------------------------


async def seen_by_app(
    options: dict[str, Any], peer: str, headers: list[tuple[bytes, bytes]]
) -> Any:
    """The (client, scheme) the app sees behind uvicorn configured with ``options``."""
    seen: dict[str, Any] = {}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen["client"], seen["scheme"] = scope["client"], scope["scheme"]

    config = uvicorn.Config(app, **options)
    config.load()
    scope = {
        "type": "http",
        "scheme": "http",
        "client": (peer, 50000),
        "headers": headers,
        "path": "/",
        "method": "GET",
    }
    await config.loaded_app(scope, None, None)
    return seen["client"][0], seen["scheme"]


XFF = [(b"x-forwarded-for", b"203.0.113.9"), (b"x-forwarded-proto", b"https")]


async def test_without_trusted_proxies_forwarded_headers_are_ignored_even_from_loopback() -> None:
    options = proxy_options({})
    assert options["proxy_headers"] is False
    # uvicorn's default would trust 127.0.0.1; the example app does not.
    assert await seen_by_app(options, "127.0.0.1", XFF) == ("127.0.0.1", "http")
    assert await seen_by_app(proxy_options({"FORWARDED_ALLOW_IPS": "*"}), "10.0.0.5", XFF) == (
        "10.0.0.5",
        "http",
    )


async def test_trusted_proxies_are_the_only_ones_believed() -> None:
    options = proxy_options({"TRUSTED_PROXIES": " 10.0.0.5, 192.0.2.0/24 ,::1"})
    assert options == {
        "proxy_headers": True,
        "forwarded_allow_ips": ["10.0.0.5", "192.0.2.0/24", "::1"],
    }
    assert await seen_by_app(options, "10.0.0.5", XFF) == ("203.0.113.9", "https")
    assert await seen_by_app(options, "192.0.2.77", XFF) == ("203.0.113.9", "https")
    assert await seen_by_app(options, "10.0.0.6", XFF) == ("10.0.0.6", "http")
    assert await seen_by_app(options, "127.0.0.1", XFF) == ("127.0.0.1", "http")


@pytest.mark.parametrize(
    "value", ["*", "proxy.internal", "10.0.0.300", "10.0.0.1/8", "10.0.0.0/33"]
)
def test_trusted_proxies_refuses_what_is_not_an_address(value: str) -> None:
    with pytest.raises(ValueError, match="TRUSTED_PROXIES"):
        proxy_options({"TRUSTED_PROXIES": f"10.0.0.5,{value}"})


async def test_the_same_origin_helper_trusts_app_base_url_not_host() -> None:
    """``same_origin`` (for an app's own POST forms) compares with APP_BASE_URL, so a
    proxy's internal Host neither refuses genuine requests nor admits forged ones."""
    from starlette.requests import Request

    from oidc_kit.starlette import same_origin
    from tests.conftest import make_config

    auth = OIDCAuth(make_config(session_store="memory://"))
    try:

        def request(origin: str, host: str) -> Request:
            headers = [(b"origin", origin.encode()), (b"host", host.encode())]
            scope = {
                "type": "http",
                "headers": headers,
                "oidc_auth": auth,
                "scheme": "http",
                "server": ("10.0.0.5", 8000),
                "path": "/",
                "query_string": b"",
            }
            return Request(scope)

        assert same_origin(request("https://app.test", "10.0.0.5:8000"))
        assert not same_origin(request("http://10.0.0.5:8000", "10.0.0.5:8000"))
    finally:
        await auth.aclose()
