"""No page the kit serves can be framed (issue 13, item 10).

A framed logout confirmation lets a page of the same site (another port, a sibling subdomain:
``SameSite`` does not stop it) log the user out with one click. Every page of the kit, and of
the sandbox provider, sends ``Content-Security-Policy: frame-ancestors 'none'`` (merged into
the page's own policy: one header, one such directive) and ``X-Frame-Options: DENY``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from starlette.responses import Response

from oidc_kit._web import deny_framing
from oidc_kit.starlette import OIDCAuth
from oidc_kit.testing import SandboxClient, SandboxProvider
from tests.fake_op import FakeOP
from tests.web.test_form_post import CROSS_SITE
from tests.web.test_starlette import APP, build_app, do_login


def assert_unframeable(response: httpx.Response) -> None:
    policies = response.headers.get_list("content-security-policy")
    assert len(policies) == 1, policies  # one policy: two would both apply, confusingly
    directives = [d.strip() for d in policies[0].split(";")]
    assert [d for d in directives if d.startswith("frame-ancestors")] == ["frame-ancestors 'none'"]
    assert response.headers.get_list("x-frame-options") == ["DENY"]


def client(auth: OIDCAuth) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=build_app(auth)), base_url=APP)


@pytest.fixture
async def browser(kit: OIDCAuth) -> AsyncIterator[httpx.AsyncClient]:
    async with client(kit) as b:
        yield b


async def test_the_logout_confirmation_cannot_be_framed(
    browser: httpx.AsyncClient, op: FakeOP
) -> None:
    await do_login(browser, op)
    for method in ("GET", "HEAD"):
        assert_unframeable(await browser.request(method, "/auth/logout"))


@pytest.mark.parametrize("accept", ["text/html", "application/json"])
async def test_error_pages_cannot_be_framed(browser: httpx.AsyncClient, accept: str) -> None:
    headers = {"Accept": accept}
    for response in (
        await browser.get("/auth/callback", params={"state": "x", "code": "y"}, headers=headers),
        await browser.get("/auth/login", params={"max_age": "x"}, headers=headers),
        await browser.post("/auth/logout", headers={**headers, "Origin": "https://evil.test"}),
    ):
        assert response.status_code in (400, 403)
        assert_unframeable(response)


async def test_the_repost_page_cannot_be_framed_and_keeps_its_own_policy(
    kit_factory: Callable[..., OIDCAuth],
) -> None:
    auth = kit_factory(response_mode="form_post")
    async with client(auth) as provider_page:
        page = await provider_page.post(
            "/auth/callback", data={"state": "s", "code": "c"}, headers=CROSS_SITE
        )
    await auth.http.aclose()
    assert page.status_code == 200
    assert_unframeable(page)
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src 'nonce-" in policy


def test_deny_framing_merges_into_an_existing_policy() -> None:
    response = deny_framing(
        Response(headers={"Content-Security-Policy": "default-src 'self'; frame-ancestors *"})
    )
    assert response.headers["content-security-policy"] == (
        "default-src 'self'; frame-ancestors 'none'"
    )
    assert response.headers["x-frame-options"] == "DENY"
    assert deny_framing(Response()).headers["content-security-policy"] == "frame-ancestors 'none'"


async def test_the_sandbox_providers_pages_cannot_be_framed() -> None:
    issuer = "https://op.test"
    op = SandboxProvider(issuer, [SandboxClient("app", "secret", (f"{APP}/auth/callback",))])
    transport = httpx.ASGITransport(app=op.app)
    async with httpx.AsyncClient(transport=transport, base_url=issuer) as b:
        login_page = await b.get(
            "/authorize",
            params={
                "client_id": "app",
                "redirect_uri": f"{APP}/auth/callback",
                "response_type": "code",
                "scope": "openid",
                "state": "s",
                "nonce": "n",
                "code_challenge": "c" * 43,
                "code_challenge_method": "S256",
            },
        )
        error_page = await b.get("/authorize", params={"client_id": "nobody"})
        session_page = await b.get("/session")
    for page in (login_page, error_page, session_page):
        assert page.headers["content-type"].startswith("text/html"), page.text
        assert_unframeable(page)
