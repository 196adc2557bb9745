"""Property-based tests: arbitrary callback parameters, cookies and logout tokens thrown at the
app never produce a 5xx and never create a session.

Each example runs against a fresh app and a fake provider that would happily complete a real
login, so a session created by mistake would show.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oidc_kit import MemoryStore
from oidc_kit.starlette import OIDCAuth
from tests.conftest import Clock, make_config
from tests.fake_op import FakeOP
from tests.web.test_starlette import APP, build_app

PARAM_NAMES = st.sampled_from(
    ["code", "state", "iss", "error", "error_description", "session_state", "x", "code[]"]
)
TEXT = st.text(max_size=80)  # any Unicode, control characters included
PARAMS = st.lists(st.tuples(PARAM_NAMES, TEXT), max_size=6)
SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def run(check: Callable[[httpx.AsyncClient], Awaitable[None]]) -> None:
    """``check`` against a fresh app whose login was started (a live transaction exists)."""

    async def main() -> None:
        op = FakeOP()
        op.clock = Clock()
        kit = OIDCAuth(
            make_config(),
            http_client=httpx.AsyncClient(transport=op.transport()),
            store=MemoryStore(),
            clock=op.clock,
        )
        transport = httpx.ASGITransport(app=build_app(kit), raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url=APP) as client:
            await client.get("/auth/login")
            await check(client)
            session = await client.get("/auth/session")
            assert session.status_code == 401, "a session was created"

    asyncio.run(main())


def assert_no_server_error_nor_session(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text
    for cookie in response.headers.get_list("set-cookie"):
        assert not (cookie.startswith("__Host-oidc_session=") and '=""' not in cookie)


@SETTINGS
@given(params=PARAMS)
def test_arbitrary_callback_query_parameters(params: list[tuple[str, str]]) -> None:
    async def check(client: httpx.AsyncClient) -> None:
        assert_no_server_error_nor_session(await client.get("/auth/callback", params=params))

    run(check)


@SETTINGS
@given(params=PARAMS)
def test_arbitrary_form_post_callbacks(params: list[tuple[str, str]]) -> None:
    async def check(client: httpx.AsyncClient) -> None:
        response = await client.post("/auth/callback", data=dict(params))
        assert_no_server_error_nor_session(response)

    run(check)


@SETTINGS
@given(
    body=st.binary(max_size=200),
    content_type=st.sampled_from(
        ["application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/plain", ""]
    ),
)
def test_arbitrary_callback_bodies(body: bytes, content_type: str) -> None:
    async def check(client: httpx.AsyncClient) -> None:
        headers = {"Content-Type": content_type} if content_type else {}
        response = await client.post("/auth/callback", content=body, headers=headers)
        assert_no_server_error_nor_session(response)

    run(check)


COOKIE_NAMES = st.sampled_from(["__Host-oidc_session", "__Host-oidc_login", "__Host-oidc_logout"])


@SETTINGS
@given(cookies=st.lists(st.tuples(COOKIE_NAMES, st.binary(max_size=120)), max_size=4))
def test_arbitrary_cookies(cookies: list[tuple[str, bytes]]) -> None:
    header = b"; ".join(name.encode() + b"=" + value for name, value in cookies)

    async def check(client: httpx.AsyncClient) -> None:
        client.cookies.clear()
        for path in ("/auth/session", "/page", "/api/accounts", "/", "/auth/login"):
            response = await client.get(path, headers=[(b"cookie", header)])
            assert_no_server_error_nor_session(response)
        response = await client.post(
            "/auth/logout", headers=[(b"cookie", header), (b"origin", APP.encode())]
        )
        assert_no_server_error_nor_session(response)

    run(check)


JWT_PART = st.one_of(
    st.text(
        alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", max_size=60
    ),
    st.sampled_from(["eyJhbGciOiJub25lIn0", "eyJhbGciOiJSUzI1NiJ9", "e30", ""]),
)


@SETTINGS
@given(
    token=st.one_of(
        TEXT,
        st.lists(JWT_PART, min_size=1, max_size=5).map(".".join),
    )
)
def test_arbitrary_logout_tokens(token: str) -> None:
    async def check(client: httpx.AsyncClient) -> None:
        response = await client.post("/auth/backchannel-logout", data={"logout_token": token})
        assert response.status_code == 400, response.text
        assert response.json()["error"] == "invalid_logout_token"

    run(check)
