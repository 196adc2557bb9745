"""``response_mode=form_post``: the callback as a POST, and the login surviving a cross-site POST.

A browser does not send a ``SameSite=Lax`` cookie with the provider's cross-site POST. These
tests play that browser: the provider's POST goes out without the login cookie (as a browser
would send it), the kit answers with a page re-posting the fields from our own origin, and that
same-origin POST carries the cookie.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import markupsafe
import pytest

from oidc_kit._form_post import REPOST_MARKER
from oidc_kit.starlette import OIDCAuth
from tests.fake_op import ISSUER, FakeOP
from tests.web.test_starlette import APP, build_app, set_cookies

CROSS_SITE = {"Origin": ISSUER, "Sec-Fetch-Site": "cross-site", "Accept": "text/html"}
SAME_ORIGIN = {"Origin": APP, "Sec-Fetch-Site": "same-origin", "Accept": "text/html"}


class Form(HTMLParser):
    """What a browser reads from the re-post page: the form's action and fields, the scripts."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: list[tuple[str, str]] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if tag == "form":
            self.action = attributes.get("action")
        if tag == "input":
            self.fields.append((attributes["name"] or "", attributes["value"] or ""))


@pytest.fixture
async def form_post_kit(kit_factory: Callable[..., OIDCAuth]) -> AsyncIterator[OIDCAuth]:
    auth = kit_factory(response_mode="form_post")
    yield auth
    await auth.http.aclose()


def client(auth: OIDCAuth, base_url: str = APP) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=build_app(auth)), base_url=base_url)


@pytest.fixture
async def browser(form_post_kit: OIDCAuth) -> AsyncIterator[httpx.AsyncClient]:
    async with client(form_post_kit) as b:
        yield b


@pytest.fixture
async def provider_page(form_post_kit: OIDCAuth) -> AsyncIterator[httpx.AsyncClient]:
    """The provider's page POSTing to our callback: a cross-site POST, so no cookie of ours."""
    async with client(form_post_kit) as b:
        yield b


async def start(browser: httpx.AsyncClient, op: FakeOP, next_path: str = "/") -> dict[str, str]:
    """Start a login; the provider's form_post fields (code, state, iss)."""
    response = await browser.get("/auth/login", params={"next": next_path})
    assert response.status_code == 303
    query = parse_qs(urlsplit(response.headers["location"]).query)
    assert query["response_mode"] == ["form_post"]
    return op.authorize(response.headers["location"])


async def repost(browser: httpx.AsyncClient, page: httpx.Response) -> httpx.Response:
    """What the re-post page makes the browser do: the same fields, from our own origin."""
    form = Form(page.text)
    assert form.action is not None
    return await browser.post(form.action, data=_multi(form.fields), headers=SAME_ORIGIN)


def _multi(fields: list[tuple[str, str]]) -> dict[str, Any]:
    data: dict[str, list[str]] = {}
    for name, value in fields:
        data.setdefault(name, []).append(value)
    return data


async def assert_logged_in(browser: httpx.AsyncClient) -> None:
    session = await browser.get("/auth/session")
    assert session.status_code == 200, session.text
    assert session.json()["sub"] == "user-1"


async def assert_logged_out(browser: httpx.AsyncClient) -> None:
    assert (await browser.get("/auth/session")).status_code == 401


# -- the cookie and the happy path -----------------------------------------------------------


async def test_on_https_the_login_cookie_goes_with_a_cross_site_post(
    browser: httpx.AsyncClient,
) -> None:
    response = await browser.get("/auth/login")
    (cookie,) = set_cookies(response)
    assert cookie.startswith("__Host-oidc_login=")
    for attribute in ("SameSite=none", "Secure", "HttpOnly", "Path=/"):
        assert attribute in cookie


async def test_the_callback_accepts_the_post(browser: httpx.AsyncClient, op: FakeOP) -> None:
    # A browser that sent the SameSite=None cookie with the provider's POST.
    fields = await start(browser, op, "/page")
    response = await browser.post("/auth/callback", data=fields, headers=CROSS_SITE)
    assert response.status_code == 303
    assert response.headers["location"] == "/page"
    cookies = set_cookies(response)
    assert any(c.startswith("__Host-oidc_session=") and '=""' not in c for c in cookies)
    # The login cookie is left as it was set: other tabs' logins may still need it.
    assert not any(c.startswith("__Host-oidc_login=") for c in cookies)
    await assert_logged_in(browser)


async def test_query_mode_keeps_the_lax_login_cookie(
    kit_factory: Callable[..., OIDCAuth],
) -> None:
    auth = kit_factory(response_mode="query")
    async with client(auth) as b:
        response = await b.get("/auth/login")
    assert parse_qs(urlsplit(response.headers["location"]).query)["response_mode"] == ["query"]
    assert "SameSite=lax" in set_cookies(response)[0]


# -- the re-post page ------------------------------------------------------------------------


async def test_a_post_without_the_login_cookie_gets_a_same_origin_repost_page(
    browser: httpx.AsyncClient, provider_page: httpx.AsyncClient, op: FakeOP
) -> None:
    fields = await start(browser, op, "/page")
    page = await provider_page.post("/auth/callback", data=fields, headers=CROSS_SITE)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-store"
    assert "Cookie" in page.headers["vary"]
    assert set_cookies(page) == []  # nothing set, nothing deleted: the login goes on
    form = Form(page.text)
    assert form.action == f"{APP}/auth/callback"
    assert sorted(form.fields) == sorted([*fields.items(), (REPOST_MARKER, "1")])
    await assert_logged_out(browser)

    done = await repost(browser, page)
    assert done.status_code == 303
    assert done.headers["location"] == "/page"
    await assert_logged_in(browser)


async def test_the_repost_page_runs_only_its_own_nonce_script_and_loads_nothing(
    browser: httpx.AsyncClient, provider_page: httpx.AsyncClient, op: FakeOP
) -> None:
    page = await provider_page.post(
        "/auth/callback", data=await start(browser, op), headers=CROSS_SITE
    )
    csp = page.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["form-action"] == APP
    assert directives["base-uri"] == "'none'"
    nonce = re.fullmatch(r"'nonce-([A-Za-z0-9_-]{16,})'", directives["script-src"])
    assert nonce is not None
    form = Form(page.text)
    scripts = [attrs for tag, attrs in form.tags if tag == "script"]
    assert scripts == [{"nonce": nonce.group(1)}]  # one inline script, no src
    for _, attrs in form.tags:
        assert not {"src", "href"} & set(attrs), attrs  # no external resource
    # Without JavaScript: a button inside <noscript>.
    assert re.search(r"<noscript>.*<button type=\"submit\">.*</noscript>", page.text, re.S)
    # Another response, another nonce.
    again = await provider_page.post(
        "/auth/callback", data=await start(browser, op), headers=CROSS_SITE
    )
    assert again.headers["content-security-policy"] != csp


async def test_the_repost_happens_at_most_once(
    browser: httpx.AsyncClient, provider_page: httpx.AsyncClient, op: FakeOP
) -> None:
    fields = await start(browser, op)
    page = await provider_page.post("/auth/callback", data=fields, headers=CROSS_SITE)
    # The re-post arrives without the cookie too (a browser blocking it): no second page.
    second = await repost(provider_page, page)
    assert second.status_code == 400
    assert "invalid_state" in second.text
    assert Form(second.text).action is None
    await assert_logged_out(browser)


async def test_a_post_without_state_is_not_reposted(provider_page: httpx.AsyncClient) -> None:
    for data in ({"code": "x"}, {"code": "x", "state": ""}, {}):
        response = await provider_page.post("/auth/callback", data=data, headers=CROSS_SITE)
        assert response.status_code == 400, data
        assert "invalid_state" in response.text


async def test_a_get_callback_without_the_cookie_is_not_reposted(
    browser: httpx.AsyncClient, provider_page: httpx.AsyncClient, op: FakeOP
) -> None:
    fields = await start(browser, op)
    response = await provider_page.get("/auth/callback", params=fields)
    assert response.status_code == 400
    assert "invalid_state" in response.text


async def test_a_repost_to_another_browser_fails(
    browser: httpx.AsyncClient, form_post_kit: OIDCAuth, op: FakeOP
) -> None:
    """The re-post only helps the browser that started the login: it carries that browser's
    cookie, and another browser's cookie does not match the transaction."""
    fields = await start(browser, op)
    async with client(form_post_kit) as other:
        await other.get("/auth/login")  # a login cookie, but for another transaction
        page = await other.post("/auth/callback", data=fields, headers=CROSS_SITE)
        assert page.status_code == 400  # it had a login cookie: no re-post, a refusal
        assert "invalid_state" in page.text
        await assert_logged_out(other)


# -- errors posted back ----------------------------------------------------------------------


async def test_an_error_posted_back_is_a_4xx_with_its_code(
    browser: httpx.AsyncClient, provider_page: httpx.AsyncClient, op: FakeOP
) -> None:
    fields = await start(browser, op)
    del fields["code"]
    fields.update(error="access_denied", error_description="the user said no")
    page = await provider_page.post("/auth/callback", data=fields, headers=CROSS_SITE)
    assert page.status_code == 200  # re-posted first: the state can only be checked with it
    response = await repost(browser, page)
    assert response.status_code == 401
    assert "access_denied" in response.text
    await assert_logged_out(browser)


async def test_an_error_posted_back_as_json(browser: httpx.AsyncClient, op: FakeOP) -> None:
    fields = await start(browser, op)
    del fields["code"]
    fields["error"] = "access_denied"
    response = await browser.post(
        "/auth/callback", data=fields, headers={"Accept": "application/json"}
    )
    assert response.status_code == 401
    assert response.json()["error"] == "access_denied"


# -- hostile values --------------------------------------------------------------------------

HOSTILE = "\"><script>alert(1)</script><img src=x onerror=alert(2)>&amp;'`"


async def test_the_repost_page_escapes_hostile_names_and_values(
    provider_page: httpx.AsyncClient,
) -> None:
    response = {
        "state": HOSTILE,
        "code": "</form><form action=https://evil.test>",
        "error_description": HOSTILE,
    }
    data = {**response, HOSTILE: HOSTILE}
    page = await provider_page.post("/auth/callback", data=data, headers=CROSS_SITE)
    assert page.status_code == 200
    assert "<script>alert" not in page.text and "<img" not in page.text
    assert "</form><form" not in page.text
    form = Form(page.text)
    assert [tag for tag, _ in form.tags].count("form") == 1
    assert form.action == f"{APP}/auth/callback"
    # Every response value survives the round trip exactly; a field of another name is not
    # echoed at all (6).
    assert sorted(form.fields) == sorted([*response.items(), (REPOST_MARKER, "1")])
    # Escaped as Jinja2 escapes (' as &#39;), which the browser reads back exactly (above).
    assert str(markupsafe.escape(HOSTILE)) in page.text


# -- http loopback development ---------------------------------------------------------------


async def test_on_http_loopback_the_repost_carries_the_lax_cookie(
    kit_factory: Callable[..., OIDCAuth], op: FakeOP
) -> None:
    base = "http://127.0.0.1:8000"
    auth = kit_factory(response_mode="form_post", base_url=base)
    async with client(auth, base) as browser, client(auth, base) as provider_page:
        start_response = await browser.get("/auth/login")
        (cookie,) = set_cookies(start_response)
        # SameSite=None needs Secure, which http cannot have: Lax, and the re-post.
        assert cookie.startswith("oidc_login=") and "SameSite=lax" in cookie
        assert "Secure" not in cookie
        fields = op.authorize(start_response.headers["location"])
        page = await provider_page.post("/auth/callback", data=fields, headers=CROSS_SITE)
        assert page.status_code == 200
        form = Form(page.text)
        assert form.action == f"{base}/auth/callback"
        assert f"form-action {base}" in page.headers["content-security-policy"]
        done = await browser.post(form.action, data=_multi(form.fields))
        assert done.status_code == 303
        assert (await browser.get("/auth/session")).status_code == 200
    await auth.http.aclose()
