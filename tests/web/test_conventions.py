"""Starlette's conventions: ``login_required`` where ``requires`` goes, WebSockets, scopes.

``@login_required`` on ``HTTPEndpoint`` methods, sync endpoints and WebSocket endpoints (with
its step-up options); the session middleware on WebSocket handshakes; the granted scopes in
``request.auth``, for Starlette's own ``requires("accounts:read")``.

HTTP goes through ``httpx.ASGITransport``; WebSockets through :class:`WebSocketClient`, a
few lines of ASGI (Starlette's ``TestClient`` runs the app in a thread and a loop of its own,
and needs a second HTTP library): one loop for the kit's fixtures and the app.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.authentication import requires
from starlette.endpoints import HTTPEndpoint, WebSocketEndpoint
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.types import ASGIApp, Message
from starlette.websockets import WebSocket

from oidc_kit import MemoryStore, StoreUnavailable
from oidc_kit.starlette import OIDCAuth, login_required
from tests.conftest import Clock, make_config
from tests.fake_op import FakeOP

APP = "https://app.test"
MFA = "urn:portx:acr:mfa"


class Profile(HTTPEndpoint):
    @login_required
    async def get(self, request: Request) -> Response:
        return PlainTextResponse(f"hello {request.user.identity}")

    @login_required(max_age=300)
    async def post(self, request: Request) -> Response:
        return PlainTextResponse(f"changed by {request.user.identity}")


class SyncProfile(HTTPEndpoint):
    @login_required
    def get(self, request: Request) -> Response:
        return PlainTextResponse(f"sync method for {request.user.identity}")


class Fresh(HTTPEndpoint):
    @login_required(max_age=300)
    async def get(self, request: Request) -> Response:
        return PlainTextResponse(f"fresh {request.user.identity}")


@login_required
def sync_page(request: Request) -> Response:
    return PlainTextResponse(f"sync for {request.user.identity}")


@requires("accounts:read")
async def accounts(request: Request) -> Response:
    return PlainTextResponse(" ".join(request.auth.scopes))


@requires("cards:write")
async def cards(request: Request) -> Response:
    return PlainTextResponse("cards")


@requires("authenticated")
async def anyone(request: Request) -> Response:
    return PlainTextResponse(" ".join(request.auth.scopes))


@login_required
async def ws(websocket: WebSocket) -> None:
    await websocket.accept()
    user = websocket.user
    await websocket.send_json({"sub": user.identity, "scopes": websocket.auth.scopes})
    await websocket.close()


@login_required(acr_values=(MFA,))
async def ws_mfa(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text(f"mfa {websocket.user.identity}")
    await websocket.close()


async def ws_open(websocket: WebSocket) -> None:
    """Not protected: says whom the middleware found."""
    await websocket.accept()
    await websocket.send_json({"user": websocket.user.identity or None})
    await websocket.close()


@requires("accounts:read")
async def ws_scoped(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text("scoped")
    await websocket.close()


class Echo(WebSocketEndpoint):
    encoding = "text"

    @login_required
    async def on_connect(self, websocket: WebSocket) -> None:
        await websocket.accept()

    async def on_receive(self, websocket: WebSocket, data: Any) -> None:
        await websocket.send_text(f"{websocket.user.identity}: {data}")


def build_app(auth: OIDCAuth) -> Starlette:
    return Starlette(
        routes=[
            Mount("/auth", routes=auth.routes),
            Route("/profile", Profile, methods=["GET", "POST"]),
            Route("/api/profile", Profile, methods=["GET", "POST"]),
            Route("/sync-profile", SyncProfile),
            Route("/fresh", Fresh),
            Route("/api/fresh", Fresh),
            Route("/sync", sync_page),
            Route("/api/sync", sync_page),
            Route("/accounts", accounts),
            Route("/cards", cards),
            Route("/anyone", anyone),
            WebSocketRoute("/ws", ws),
            WebSocketRoute("/ws/mfa", ws_mfa),
            WebSocketRoute("/ws/open", ws_open),
            WebSocketRoute("/ws/scoped", ws_scoped),
            WebSocketRoute("/ws/echo", Echo),
        ],
        middleware=[auth.middleware],
        exception_handlers=auth.exception_handlers,
    )


@pytest.fixture
async def browser(kit: OIDCAuth) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=build_app(kit))
    async with httpx.AsyncClient(transport=transport, base_url=APP) as client:
        yield client


async def login(browser: httpx.AsyncClient, op: FakeOP) -> None:
    start = await browser.get("/auth/login")
    assert start.status_code == 303
    done = await browser.get("/auth/callback", params=op.authorize(start.headers["location"]))
    assert done.status_code == 303, done.text


def login_redirect(response: httpx.Response) -> dict[str, list[str]]:
    """The query of a redirect to ``/auth/login`` (asserted to be one)."""
    assert response.status_code == 303, response.text
    location = urlsplit(response.headers["location"])
    assert location.path == "/auth/login"
    return parse_qs(location.query)


HTML = {"Accept": "text/html"}


# -- HTTPEndpoint methods and sync endpoints ------------------------------------------------


async def test_an_http_endpoint_method_is_protected(browser: httpx.AsyncClient, op: FakeOP) -> None:
    assert login_redirect(await browser.get("/profile", headers=HTML)) == {"next": ["/profile"]}
    response = await browser.get("/api/profile")
    assert response.status_code == 401
    assert response.json()["error"] == "login_required"
    await login(browser, op)
    response = await browser.get("/profile")
    assert response.status_code == 200
    assert response.text == "hello user-1"


@pytest.mark.parametrize(
    ("path", "answer"),
    [("/sync", "sync for user-1"), ("/sync-profile", "sync method for user-1")],
)
async def test_a_sync_endpoint_is_protected(
    browser: httpx.AsyncClient, op: FakeOP, path: str, answer: str
) -> None:
    assert login_redirect(await browser.get(path, headers=HTML)) == {"next": [path]}
    response = await browser.get("/api/sync")
    assert response.status_code == 401
    assert response.json()["error"] == "login_required"
    await login(browser, op)
    response = await browser.get(path)
    assert response.status_code == 200
    assert response.text == answer


async def test_step_up_on_an_http_endpoint_method(
    browser: httpx.AsyncClient, op: FakeOP, kit: OIDCAuth, clock: Clock
) -> None:
    await login(browser, op)
    assert (await browser.get("/fresh")).text == "fresh user-1"
    clock.advance(300 + kit.config.clock_leeway + 1)
    expected = {"next": ["/fresh?tab=2"], "max_age": ["300"]}
    assert login_redirect(await browser.get("/fresh?tab=2", headers=HTML)) == expected
    response = await browser.get("/api/fresh")
    assert response.status_code == 401
    assert response.json()["error"] == "insufficient_user_authentication"
    assert 'max_age="300"' in response.headers["www-authenticate"]
    # A POST is not redirected (it would lose its body): 401, as for any non-GET.
    response = await browser.post("/profile", headers=HTML)
    assert response.status_code == 401
    assert 'error="insufficient_user_authentication"' in response.headers["www-authenticate"]
    assert (await browser.get("/profile")).status_code == 200  # the session itself is fine


def build_fastapi_app(auth: OIDCAuth) -> FastAPI:
    app = FastAPI(
        routes=[Mount("/auth", routes=auth.routes)],
        middleware=[auth.middleware],
        exception_handlers=auth.exception_handlers,
    )

    @app.get("/api/me")
    @login_required
    async def me(request: Request) -> PlainTextResponse:
        return PlainTextResponse(request.user.identity)

    @app.get("/api/sync")
    @login_required
    def sync_me(q: int, req: Request) -> PlainTextResponse:  # any name, any place
        return PlainTextResponse(f"{req.user.identity} {q}")

    @app.websocket("/ws")
    @login_required
    async def live(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(websocket.user.identity)
        await websocket.close()

    return app


async def test_fastapi_routes_call_by_keyword(kit: OIDCAuth, op: FakeOP) -> None:
    transport = httpx.ASGITransport(app=build_fastapi_app(kit))
    async with httpx.AsyncClient(transport=transport, base_url=APP) as browser:
        for path in ("/api/me", "/api/sync?q=3"):
            response = await browser.get(path)
            assert response.status_code == 401
            assert response.json()["error"] == "login_required"
        await login(browser, op)
        assert (await browser.get("/api/me")).text == "user-1"
        assert (await browser.get("/api/sync?q=3")).text == "user-1 3"


# -- the granted scopes in request.auth ----------------------------------------------------


async def test_starlette_requires_sees_the_granted_scopes(
    browser: httpx.AsyncClient, op: FakeOP
) -> None:
    assert (await browser.get("/accounts")).status_code == 403  # no session, no scopes
    await login(browser, op)  # the fake provider grants "openid profile accounts:read"
    response = await browser.get("/accounts")
    assert response.status_code == 200
    assert response.text == "authenticated openid profile accounts:read"
    assert (await browser.get("/cards")).status_code == 403


async def test_a_scope_the_provider_did_not_grant_is_refused(
    browser: httpx.AsyncClient, op: FakeOP
) -> None:
    # Asked for (the configured scopes include accounts:read), but not granted.
    op.token_body["scope"] = "openid profile"
    await login(browser, op)
    assert (await browser.get("/accounts")).status_code == 403
    assert (await browser.get("/anyone")).text == "authenticated openid profile"


async def test_a_record_without_a_granted_scope_is_just_authenticated(
    browser: httpx.AsyncClient, op: FakeOP, kit: OIDCAuth
) -> None:
    await login(browser, op)
    sid, _ = kit._cookies.read_session(browser.cookies[kit.session_cookie])
    assert sid is not None
    old = await kit._sessions.load(sid)
    assert old is not None and old.granted_scope == "openid profile accounts:read"
    await kit._sessions.save(dataclasses.replace(old, granted_scope=None))  # an older record
    assert (await browser.get("/anyone")).text == "authenticated"
    assert (await browser.get("/accounts")).status_code == 403


# -- WebSockets ----------------------------------------------------------------------------


class WebSocketClient:
    """One WebSocket connection to an ASGI app, driven message by message."""

    def __init__(self, app: ASGIApp, path: str, headers: dict[str, str]) -> None:
        self._app = app
        self._scope = {
            "type": "websocket",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "scheme": "wss",
            "server": ("app.test", 443),
            "client": ("127.0.0.1", 50000),
            "root_path": "",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
            "subprotocols": [],
        }
        self._to_app: asyncio.Queue[Message] = asyncio.Queue()
        self._from_app: asyncio.Queue[Message] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def connect(self) -> Message:
        """The handshake: the app's first message, ``websocket.accept`` or ``websocket.close``."""
        await self._to_app.put({"type": "websocket.connect"})
        self._task = asyncio.create_task(self._run())
        return await self.receive()

    async def _run(self) -> None:
        await self._app(self._scope, self._to_app.get, self._from_app.put)

    async def receive(self) -> Message:
        assert self._task is not None
        message = asyncio.ensure_future(self._from_app.get())
        await asyncio.wait({message, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if message.done():
            return message.result()
        message.cancel()
        self._task.result()  # the app's exception, if it raised one
        raise AssertionError("the app ended without sending anything more")

    async def send_text(self, text: str) -> None:
        await self._to_app.put({"type": "websocket.receive", "text": text})

    async def disconnect(self) -> None:
        await self._to_app.put({"type": "websocket.disconnect", "code": 1000})
        assert self._task is not None
        await self._task


@pytest.fixture
def app(kit: OIDCAuth) -> Starlette:
    return build_app(kit)


@pytest.fixture
async def logged_in(app: Starlette, op: FakeOP) -> AsyncIterator[httpx.AsyncClient]:
    """A browser with a session (of ``op.id_claims``' making, set before the fixture)."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=APP) as client:
        await login(client, op)
        yield client


def cookie_of(browser: httpx.AsyncClient, kit: OIDCAuth) -> dict[str, str]:
    return {"Cookie": f"{kit.session_cookie}={browser.cookies[kit.session_cookie]}"}


async def handshake(app: ASGIApp, path: str, headers: dict[str, str]) -> WebSocketClient:
    """Connect to ``path``, asserting the app accepts."""
    client = WebSocketClient(app, path, headers)
    assert (await client.connect())["type"] == "websocket.accept"
    return client


async def refused(app: ASGIApp, path: str, headers: dict[str, str]) -> Message:
    """Connect to ``path``, asserting the app closes the connection before accepting it."""
    client = WebSocketClient(app, path, headers)
    message = await client.connect()
    assert message["type"] == "websocket.close", message
    await client.disconnect()
    return message


async def test_a_websocket_without_a_session_is_closed_before_accept(app: Starlette) -> None:
    for path in ("/ws", "/ws/echo"):
        closed = await refused(app, path, {})
        assert (closed["code"], closed["reason"]) == (1008, "login_required")


async def test_a_websocket_with_the_session_cookie_gets_the_user(
    app: Starlette, kit: OIDCAuth, logged_in: httpx.AsyncClient
) -> None:
    client = await handshake(app, "/ws", cookie_of(logged_in, kit))
    message = await client.receive()
    assert message["type"] == "websocket.send"
    assert message["text"] == (
        '{"sub":"user-1","scopes":["authenticated","openid","profile","accounts:read"]}'
    )
    assert (await client.receive())["type"] == "websocket.close"
    await client.disconnect()


async def test_a_websocket_endpoint_method_is_protected(
    app: Starlette, kit: OIDCAuth, logged_in: httpx.AsyncClient
) -> None:
    client = await handshake(app, "/ws/echo", cookie_of(logged_in, kit))
    await client.send_text("hi")
    assert (await client.receive())["text"] == "user-1: hi"
    await client.disconnect()


async def test_starlette_requires_a_scope_on_a_websocket(
    app: Starlette, kit: OIDCAuth, logged_in: httpx.AsyncClient
) -> None:
    assert (await refused(app, "/ws/scoped", {}))["type"] == "websocket.close"
    client = await handshake(app, "/ws/scoped", cookie_of(logged_in, kit))
    assert (await client.receive())["text"] == "scoped"
    await client.disconnect()


async def test_a_cross_site_websocket_handshake_gets_no_session(
    app: Starlette, kit: OIDCAuth, logged_in: httpx.AsyncClient
) -> None:
    # A page of another origin (a sibling subdomain is the same site: the browser sends the
    # Lax cookie) opens a WebSocket to the app: it must not act as the user.
    for cross_site in ({"Origin": "https://evil.app.test"}, {"Sec-Fetch-Site": "same-site"}):
        headers = {**cookie_of(logged_in, kit), **cross_site}
        closed = await refused(app, "/ws", headers)
        assert (closed["code"], closed["reason"]) == (1008, "login_required")
        client = await handshake(app, "/ws/open", headers)
        assert (await client.receive())["text"] == '{"user":null}'
        await client.disconnect()
    for same_origin in ({"Origin": APP}, {"Sec-Fetch-Site": "same-origin", "Origin": APP}):
        client = await handshake(app, "/ws/open", {**cookie_of(logged_in, kit), **same_origin})
        assert (await client.receive())["text"] == '{"user":"user-1"}'
        await client.disconnect()


async def test_step_up_on_a_websocket(
    app: Starlette, kit: OIDCAuth, op: FakeOP, logged_in: httpx.AsyncClient
) -> None:
    closed = await refused(app, "/ws/mfa", cookie_of(logged_in, kit))
    assert (closed["code"], closed["reason"]) == (1008, "insufficient_user_authentication")
    op.id_claims["acr"] = MFA
    await login(logged_in, op)  # a stronger login, as the step-up page would have asked for
    client = await handshake(app, "/ws/mfa", cookie_of(logged_in, kit))
    assert (await client.receive())["text"] == "mfa user-1"
    await client.disconnect()


class FlakyStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.down = False

    async def get(self, key: str) -> bytes | None:
        if self.down:
            raise StoreUnavailable("the session store did not answer")
        return await super().get(key)


async def test_a_store_outage_closes_a_websocket_with_1011(
    op: FakeOP, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    store = FlakyStore()
    http = httpx.AsyncClient(transport=op.transport())
    kit = OIDCAuth(make_config(), http_client=http, store=store, clock=clock)
    app = build_app(kit)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=APP) as browser:
        await login(browser, op)
        store.down = True
        with caplog.at_level(logging.WARNING, logger="oidc_kit"):
            closed = await refused(app, "/ws/open", cookie_of(browser, kit))
        assert closed["code"] == 1011
        assert "session store unavailable" in caplog.text
        store.down = False  # the session was not lost
        client = await handshake(app, "/ws/open", cookie_of(browser, kit))
        assert (await client.receive())["text"] == '{"user":"user-1"}'
        await client.disconnect()
    await http.aclose()


async def test_a_fastapi_websocket_route_is_protected(kit: OIDCAuth, op: FakeOP) -> None:
    app = build_fastapi_app(kit)
    closed = await refused(app, "/ws", {})
    assert (closed["code"], closed["reason"]) == (1008, "login_required")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=APP) as browser:
        await login(browser, op)
        client = await handshake(app, "/ws", cookie_of(browser, kit))
        assert (await client.receive())["text"] == "user-1"
        await client.disconnect()
