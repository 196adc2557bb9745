"""The kit's routes with no web framework at all: ``KitHandlers`` driven with ``WebRequest``s,
its ``WebResponse``s read as plain status, headers and bytes (what a Flask or Django adapter
would send)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from oidc_kit import MemoryStore, RelyingParty
from oidc_kit._answers import WebAnswers
from oidc_kit._body_rules import MAX_BODY, MAX_FIELDS, declared_too_large, parse_form
from oidc_kit._cookies import CookieWriter
from oidc_kit._errors import RequestTooLarge, UnsupportedMediaType
from oidc_kit._exchange import BodyMark, Headers, WebRequest, WebResponse, parse_cookies
from oidc_kit._handlers import ROUTES, KitHandlers
from oidc_kit._pages import KitPages
from tests.conftest import Clock, make_config
from tests.fake_op import ISSUER, FakeOP

APP = "https://app.test"
FORM = ("content-type", "application/x-www-form-urlencoded")
SAME_ORIGIN = (("origin", APP), ("sec-fetch-site", "same-origin"))
CROSS_SITE = (("origin", "https://evil.test"), ("sec-fetch-site", "cross-site"))


@pytest.fixture
async def handlers(op: FakeOP, clock: Clock) -> AsyncIterator[KitHandlers]:
    config = make_config()
    async with httpx.AsyncClient(transport=op.transport()) as http:
        rp = RelyingParty({"default": config}, store=MemoryStore(), http=http, clock=clock)
        web = WebAnswers(
            rp=rp,
            cookies=CookieWriter(config, rp.session_cookie),
            pages=KitPages(prefix="/auth"),
            json_paths=("/api/",),
            prefix="/auth",
            origin=APP,
            post_logout_path="/",
        )
        yield KitHandlers(
            rp=rp,
            web=web,
            clients=rp._clients,
            sessions=rp._sessions,
            store=rp.store,
            clock=clock,
        )


def request(
    method: str,
    subpath: str,
    *headers: tuple[str, str],
    query: str = "",
    cookies: dict[str, str] | None = None,
    body: bytes | BodyMark = BodyMark.UNREAD,
) -> WebRequest:
    return WebRequest(
        method=method,
        path=f"/auth{subpath}",
        query=parse_qs(query, keep_blank_values=True),
        headers=Headers.of(headers),
        cookies=cookies or {},
        body=body,
    )


async def answer(handlers: KitHandlers, subpath: str, web: WebRequest) -> WebResponse:
    """As an adapter does: the route, its body when it reads one, its answer."""
    found = handlers.match(subpath)
    assert found is not None
    route, params = found
    if not handlers.reads_body(route, web):
        assert web.body is BodyMark.UNREAD, "the route would not have read this body"
    return await handlers.answer(route, replace(web, route_params=params))


def set_cookies(response: WebResponse) -> dict[str, str]:
    """Each ``Set-Cookie`` line by cookie name."""
    lines = [value for name, value in response.headers if name.lower() == "set-cookie"]
    return {line.split("=", 1)[0]: line for line in lines}


def cookie_values(response: WebResponse) -> dict[str, str]:
    return {
        name: line.split(";")[0].split("=", 1)[1] for name, line in set_cookies(response).items()
    }


def body_json(response: WebResponse) -> object:
    assert response.header("content-type") == "application/json"
    return json.loads(response.body)


async def log_in(handlers: KitHandlers, op: FakeOP) -> dict[str, str]:
    """A whole login through the neutral routes: the browser's cookies afterwards."""
    start = await answer(handlers, "/login", request("GET", "/login", query="next=/x"))
    location = start.header("location")
    assert start.status == 303 and location is not None
    cookies = cookie_values(start)
    params = op.authorize(location)
    query = "&".join(f"{k}={v}" for k, v in params.items())
    done = await answer(
        handlers, "/callback", request("GET", "/callback", query=query, cookies=cookies)
    )
    assert done.status == 303 and done.header("location") == "/x"
    return {**cookies, **cookie_values(done)}


async def test_login_redirects_to_the_provider_with_a_bound_login_cookie(
    handlers: KitHandlers,
) -> None:
    response = await answer(handlers, "/login", request("GET", "/login", query="next=/x"))
    assert response.status == 303
    location = response.header("location")
    assert location is not None and location.startswith(ISSUER)
    query = parse_qs(urlsplit(location).query)
    assert query["code_challenge_method"] == ["S256"] and query["state"] and query["nonce"]
    assert response.header("cache-control") == "no-store"
    login_cookie = set_cookies(response)[handlers.rp.login_cookie]
    assert "HttpOnly" in login_cookie and "Secure" in login_cookie
    assert response.body == b""


async def test_a_callback_error_is_json_for_json_clients_and_a_page_for_browsers(
    handlers: KitHandlers,
) -> None:
    query = "state=forged&code=c"
    as_json = await answer(
        handlers,
        "/callback",
        request("GET", "/callback", ("accept", "application/json"), query=query),
    )
    assert as_json.status == 400
    assert body_json(as_json) == {
        "error": "invalid_state",
        "error_description": "unknown, expired or already used state",
    }
    page = await answer(
        handlers, "/callback", request("GET", "/callback", ("accept", "text/html"), query=query)
    )
    assert page.status == 400
    assert page.header("content-type") == "text/html; charset=utf-8"
    assert b"invalid_state" in page.body and b"<html" in page.body.lower()
    for response in (as_json, page):
        assert response.header("x-frame-options") == "DENY"
        assert response.header("content-security-policy") == "frame-ancestors 'none'"
        assert response.header("cache-control") == "no-store"
        assert not set_cookies(response)


async def test_a_login_through_the_neutral_routes_then_the_session(
    handlers: KitHandlers, op: FakeOP
) -> None:
    cookies = await log_in(handlers, op)
    session, _ = await handlers.rp.load_session(cookies[handlers.rp.session_cookie])
    assert session is not None
    web = WebRequest("GET", "/auth/session", session=session)
    response = await answer(handlers, "/session", web)
    assert response.status == 200
    body = body_json(response)
    assert isinstance(body, dict) and body["authenticated"] is True and body["sub"] == "user-1"
    assert "access_token" not in response.body.decode()


async def test_a_cross_site_logout_is_refused_unread(handlers: KitHandlers, op: FakeOP) -> None:
    cookies = await log_in(handlers, op)
    session, _ = await handlers.rp.load_session(cookies[handlers.rp.session_cookie])
    web = WebRequest(
        "POST", "/auth/logout", headers=Headers.of([FORM, *CROSS_SITE]), session=session
    )
    route, _ = handlers.match("/logout") or pytest.fail("no /logout")
    assert not handlers.reads_body(route, web)  # an adapter leaves its body unread
    response = await handlers.answer(route, web)
    assert response.status == 403
    assert not set_cookies(response)
    # The session lives on.
    assert (await handlers.rp.load_session(cookies[handlers.rp.session_cookie]))[0] is not None


async def test_a_same_origin_logout_ends_the_session_and_clears_its_cookie(
    handlers: KitHandlers, op: FakeOP
) -> None:
    cookies = await log_in(handlers, op)
    session, _ = await handlers.rp.load_session(cookies[handlers.rp.session_cookie])
    web = WebRequest(
        "POST", "/auth/logout", headers=Headers.of([FORM, *SAME_ORIGIN]), session=session
    )
    route, _ = handlers.match("/logout") or pytest.fail("no /logout")
    assert handlers.reads_body(route, web)
    response = await handlers.answer(route, web.with_body(b""))
    assert response.status == 303
    location = response.header("location")
    assert location is not None and location.startswith(f"{ISSUER}/logout")
    cleared = set_cookies(response)[handlers.rp.session_cookie]
    assert "Max-Age=0" in cleared
    assert (await handlers.rp.load_session(cookies[handlers.rp.session_cookie]))[0] is None


@pytest.mark.parametrize(
    ("method", "subpath", "allow", "content_type"),
    [
        ("PUT", "/login", "GET, HEAD", "text/html; charset=utf-8"),
        ("DELETE", "/callback", "GET, HEAD, POST", "text/html; charset=utf-8"),
        ("GET", "/backchannel-logout", "POST", "application/json"),  # machine: always JSON
        ("POST", "/health", "GET, HEAD", "application/json"),
    ],
)
async def test_a_method_a_route_does_not_take_is_405_with_allow(
    handlers: KitHandlers, method: str, subpath: str, allow: str, content_type: str
) -> None:
    web = request(method, subpath, ("accept", "text/html"))
    response = await answer(handlers, subpath, web)
    assert response.status == 405
    assert response.header("allow") == allow
    assert response.header("cache-control") == "no-store"
    assert response.header("content-type") == content_type
    assert b"method_not_allowed" in response.body


@pytest.mark.parametrize("subpath", ["/callback", "/backchannel-logout", "/logout"])
async def test_a_body_over_the_limit_is_413(handlers: KitHandlers, subpath: str) -> None:
    web = request("POST", subpath, FORM, *SAME_ORIGIN, ("accept", "application/json"))
    response = await answer(handlers, subpath, web.with_body(BodyMark.TOO_LARGE))
    assert response.status == 413
    assert body_json(response) == {
        "error": "request_too_large",
        "error_description": f"the request body is over {MAX_BODY} bytes",
    }


@pytest.mark.parametrize("subpath", ["/callback", "/backchannel-logout"])
async def test_a_body_that_is_no_form_is_415(handlers: KitHandlers, subpath: str) -> None:
    web = request(
        "POST", subpath, ("content-type", "application/json"), ("accept", "application/json")
    )
    response = await answer(handlers, subpath, web.with_body(b'{"state": "x"}'))
    assert response.status == 415
    assert body_json(response) == {
        "error": "unsupported_media_type",
        "error_description": "the request body must be application/x-www-form-urlencoded",
    }


async def test_session_without_one_is_401_json(handlers: KitHandlers) -> None:
    response = await answer(handlers, "/session", request("GET", "/session"))
    assert response.status == 401
    assert body_json(response) == {"authenticated": False}
    assert response.header("cache-control") == "no-store"


async def test_the_route_table_matches_paths_and_their_parameters(handlers: KitHandlers) -> None:
    found = handlers.match("/callback/partner")
    assert found is not None and found[1] == {"provider": "partner"}
    found = handlers.match("/sessions/h-1/revoke")
    assert found is not None and found[1] == {"handle": "h-1"}
    assert handlers.match("/sessions//revoke") is None
    assert handlers.match("/nothing") is None
    assert await handlers.dispatch("/nothing", request("GET", "/nothing")) is None
    assert len({route.path for route in ROUTES}) == len(ROUTES)


def test_the_body_rules_are_framework_neutral() -> None:
    assert declared_too_large(str(MAX_BODY + 1)) and not declared_too_large(str(MAX_BODY))
    assert not declared_too_large("nonsense") and not declared_too_large(None)
    assert parse_form(b"a=1&a=2&b=", "Application/X-WWW-Form-Urlencoded; charset=utf-8") == {
        "a": ["1", "2"],
        "b": [""],
    }
    assert parse_form(b"", "text/plain") == {}  # an empty POST of any type: no fields
    with pytest.raises(UnsupportedMediaType):
        parse_form(b"x", "text/plain")
    with pytest.raises(RequestTooLarge):
        parse_form(b"&".join(b"f%d=" % i for i in range(MAX_FIELDS + 1)), FORM[1])


def test_cookies_are_read_as_the_middleware_reads_them() -> None:
    # The first Cookie header with a name wins; within one header, the last.
    assert parse_cookies(['a=1; b="x y"; a=2', "a=3; c=4", "junk"]) == {
        "a": "2",
        "b": "x y",
        "c": "4",
        "": "junk",
    }
