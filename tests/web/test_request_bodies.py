"""Hostile and broken request bodies on the kit's POST routes (issue 13, items 6 and 13).

Every POST route (``/auth/callback``, ``/auth/backchannel-logout``, ``/auth/logout``) refuses a
body over ``_body.MAX_BODY`` with 413 before reading it; form_post's re-post page echoes only an
authorization response; a client that drops mid-body costs one DEBUG line. Raw ASGI calls show
what is (not) read from ``receive``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from starlette.types import Message

from oidc_kit._body import MAX_BODY, MAX_FIELDS
from oidc_kit._form_post import MAX_REPOST_VALUE, REPOST_MARKER
from oidc_kit.starlette import OIDCAuth
from tests.fake_op import FakeOP
from tests.web.test_form_post import CROSS_SITE, Form, client, start
from tests.web.test_starlette import APP, build_app, do_login

POST_ROUTES = ("/auth/callback", "/auth/backchannel-logout", "/auth/logout")
SAME_ORIGIN = {"Origin": APP, "Sec-Fetch-Site": "same-origin"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
async def browser(kit: OIDCAuth) -> AsyncIterator[httpx.AsyncClient]:
    async with client(kit) as b:
        yield b


@pytest.fixture
async def form_post_kit(kit_factory: Callable[..., OIDCAuth]) -> AsyncIterator[OIDCAuth]:
    auth = kit_factory(response_mode="form_post")
    yield auth
    await auth.http.aclose()


# -- raw ASGI ---------------------------------------------------------------------------------


class Call:
    """One raw ASGI request: the messages ``receive`` hands out, counted, and what is sent."""

    def __init__(self, path: str, headers: dict[str, str], chunks: list[Message]) -> None:
        self.scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "https",
            "server": ("app.test", 443),
            "client": ("203.0.113.9", 50000),
            "root_path": "",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        }
        self._chunks = chunks
        self.received = 0
        self.sent: list[Message] = []

    async def receive(self) -> Message:
        self.received += 1
        if self._chunks:
            return self._chunks.pop(0)
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        self.sent.append(message)

    async def run(self, auth: OIDCAuth) -> None:
        """As a server runs it: an exception escaping the app is logged with its traceback at
        ERROR (uvicorn's "Exception in ASGI application")."""
        try:
            await build_app(auth)(self.scope, self.receive, self.send)
        except Exception:
            logging.getLogger("uvicorn.error").exception("Exception in ASGI application")

    @property
    def status(self) -> int:
        return int(next(m["status"] for m in self.sent if m["type"] == "http.response.start"))


def chunk(size: int, more: bool = True) -> Message:
    return {"type": "http.request", "body": b"a" * size, "more_body": more}


# -- 413 before parsing -----------------------------------------------------------------------


@pytest.mark.parametrize("path", POST_ROUTES)
async def test_a_body_over_the_limit_is_413_on_every_post_route(
    browser: httpx.AsyncClient, path: str
) -> None:
    body = b"state=x&code=y&logout_token=z&" + b"a" * MAX_BODY
    response = await browser.post(path, content=body, headers={**FORM, **SAME_ORIGIN})
    assert response.status_code == 413
    assert "request_too_large" in response.text
    # Just under the limit is read as usual (a refusal of the content, not of the size).
    small = await browser.post(path, content=b"a" * MAX_BODY, headers={**FORM, **SAME_ORIGIN})
    assert small.status_code != 413


@pytest.mark.parametrize("path", POST_ROUTES)
async def test_a_declared_length_over_the_limit_is_refused_before_reading(
    kit: OIDCAuth, path: str
) -> None:
    call = Call(path, {**FORM, "content-length": str(10**9)}, [chunk(1024)])
    await call.run(kit)
    assert call.status == 413
    assert call.received == 0  # not one byte of the body was read


@pytest.mark.parametrize("path", POST_ROUTES)
async def test_a_chunked_body_is_cut_off_at_the_limit(kit: OIDCAuth, path: str) -> None:
    """No Content-Length (chunked): counted while it streams in, refused once past the limit,
    the rest never read."""
    size = 16 * 1024
    call = Call(path, FORM, [chunk(size) for _ in range(1000)])  # 16 MB on offer
    await call.run(kit)
    assert call.status == 413
    assert call.received == MAX_BODY // size + 1


async def test_a_lying_content_length_is_cut_off_at_the_limit(kit: OIDCAuth) -> None:
    call = Call("/auth/callback", {**FORM, "content-length": "10"}, [chunk(MAX_BODY + 1)])
    await call.run(kit)
    assert call.status == 413


@pytest.mark.parametrize("path", ["/auth/callback", "/auth/backchannel-logout"])
async def test_too_many_fields_is_413(browser: httpx.AsyncClient, path: str) -> None:
    body = "&".join(f"f{i}=" for i in range(MAX_FIELDS + 1)).encode()
    response = await browser.post(path, content=body, headers=FORM)
    assert response.status_code == 413
    assert "request_too_large" in response.text


@pytest.mark.parametrize("path", ["/auth/callback", "/auth/backchannel-logout"])
@pytest.mark.parametrize(
    "kind", ["multipart/form-data; boundary=x", "application/json", "text/plain"]
)
async def test_a_body_that_is_not_form_encoded_is_415(
    browser: httpx.AsyncClient, path: str, kind: str
) -> None:
    response = await browser.post(
        path, content=b'--x\r\n{"state": "x"}', headers={"Content-Type": kind}
    )
    assert response.status_code == 415
    assert "unsupported_media_type" in response.text


async def test_an_empty_post_of_any_type_is_read_as_no_fields(browser: httpx.AsyncClient) -> None:
    for headers in ({}, {"Content-Type": "application/json"}):
        response = await browser.post("/auth/callback", headers=headers)
        assert response.status_code == 400
        assert "invalid_state" in response.text


async def test_form_fields_are_parsed_as_browsers_encode_them(
    form_post_kit: OIDCAuth, op: FakeOP
) -> None:
    """The kit's own parser reads what a provider's form_post sends (charset parameter,
    percent-encoding, ``+``), and a login completes through it."""
    async with client(form_post_kit) as b:
        fields = await start(b, op, "/page")
        body = str(httpx.QueryParams(fields)).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded; charset=UTF-8"}
        response = await b.post("/auth/callback", content=body, headers=headers)
        assert response.status_code == 303, response.text
        assert response.headers["location"] == "/page"


# -- the re-post page echoes only an authorization response -----------------------------------


async def test_the_repost_page_echoes_only_the_authorization_response(
    form_post_kit: OIDCAuth,
) -> None:
    """The amplification of issue 13: junk fields are not echoed (nor amplified by escaping)."""
    junk = {f"junk{i}": "a" * 2500 for i in range(20)}  # 50 KB, just under the limit
    data = {"state": "s", "code": "c", "iss": "i", "session_state": "ss", **junk}
    async with client(form_post_kit) as provider_page:
        page = await provider_page.post("/auth/callback", data=data, headers=CROSS_SITE)
    assert page.status_code == 200
    fields = Form(page.text).fields
    assert sorted(fields) == sorted(
        [("state", "s"), ("code", "c"), ("iss", "i"), ("session_state", "ss"), (REPOST_MARKER, "1")]
    )
    assert len(page.content) < 2048


@pytest.mark.parametrize(
    "data",
    [
        {"state": "s"},  # neither code nor error: no authorization response
        {"state": "s", "junk": "x"},
        {"state": "s", "code": "c" * (MAX_REPOST_VALUE + 1)},
        {"state": "s", "error": "access_denied", "error_description": "d" * (MAX_REPOST_VALUE + 1)},
        {"state": ["s", "t"], "code": "c"},
        {"state": "s", "code": ["c", "d"]},
    ],
    ids=["no-code-no-error", "junk", "long-code", "long-description", "two-states", "two-codes"],
)
async def test_what_is_no_authorization_response_is_not_reposted(
    form_post_kit: OIDCAuth, data: dict[str, Any]
) -> None:
    async with client(form_post_kit) as provider_page:
        response = await provider_page.post("/auth/callback", data=data, headers=CROSS_SITE)
    assert response.status_code == 400
    assert Form(response.text).action is None  # an error page, no form


async def test_without_form_post_a_post_callback_is_never_reposted(
    kit: OIDCAuth, browser: httpx.AsyncClient, op: FakeOP
) -> None:
    """The app asks for the query response mode (the default): a POST to the callback cannot
    be its authorization response, and gets no page echoing it."""
    start_response = await browser.get("/auth/login")
    fields = op.authorize(start_response.headers["location"])
    async with client(kit) as provider_page:  # no cookie of ours
        response = await provider_page.post("/auth/callback", data=fields, headers=CROSS_SITE)
    assert response.status_code == 400
    assert "invalid_state" in response.text
    assert Form(response.text).action is None


# -- a client dropping mid-body ---------------------------------------------------------------


@pytest.mark.parametrize("path", ["/auth/callback", "/auth/backchannel-logout", "/auth/logout"])
async def test_a_client_dropping_mid_body_is_one_debug_line(
    kit: OIDCAuth, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    headers = {**FORM, "content-length": "5000", "origin": APP}
    call = Call(path, headers, [chunk(1000)])  # then http.disconnect
    await call.run(kit)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    lines = [r for r in caplog.records if "disconnected" in r.getMessage()]
    assert len(lines) == 1
    assert lines[0].levelno == logging.DEBUG and lines[0].name == "oidc_kit"
    assert path in lines[0].getMessage()


async def test_a_logged_in_users_logout_with_a_big_body_keeps_the_session(
    browser: httpx.AsyncClient, op: FakeOP
) -> None:
    await do_login(browser, op)
    response = await browser.post(
        "/auth/logout", content=b"a" * (MAX_BODY + 1), headers={**FORM, **SAME_ORIGIN}
    )
    assert response.status_code == 413
    assert (await browser.get("/auth/session")).status_code == 200
