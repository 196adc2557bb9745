"""The sandbox provider's token introspection (RFC 7662, ``introspection=True``), and the kit's
``OIDCAuth.introspect`` / ``Introspector`` against it: a logged-in user's token is active,
and inactive once logout revoked it or it expired."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route

from oidc_kit import Introspector, OIDCConfig, ProviderConfig
from oidc_kit.starlette import OIDCAuth
from oidc_kit.testing import SANDBOX_USERS, SandboxClient, SandboxProvider, sandbox_login

APP, ISSUER = "https://app.test", "https://op.test"
SECRET = "app-secret-123"
CC_SCOPE = "accounts:read"
ALICE = next(user.sub for user in SANDBOX_USERS if user.username == "alice")


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def make_op(clock: Clock, **options: Any) -> SandboxProvider:
    clients = [
        SandboxClient("app", SECRET, (f"{APP}/auth/callback",)),
        SandboxClient("spa", None, (f"{APP}/auth/callback",)),
    ]
    return SandboxProvider(ISSUER, clients, clock=clock, **options)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def op(clock: Clock) -> SandboxProvider:
    return make_op(clock, introspection=True)


@pytest.fixture
async def http(op: SandboxProvider) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=op.app)
    async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as client:
        yield client


async def cc_token(http: httpx.AsyncClient) -> str:
    form = {"grant_type": "client_credentials", "scope": CC_SCOPE}
    answer = await http.post("/token", data=form, auth=("app", SECRET))
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["access_token"]
    return token


async def introspect(http: httpx.AsyncClient, token: str, **kwargs: Any) -> httpx.Response:
    kwargs.setdefault("auth", ("app", SECRET))
    return await http.post("/introspect", data={"token": token}, **kwargs)


# -- the endpoint -----------------------------------------------------------------------------


async def test_discovery_names_the_endpoint_only_when_on(clock: Clock) -> None:
    on, off = make_op(clock, introspection=True), make_op(clock)
    assert on.metadata["introspection_endpoint"] == ISSUER + "/introspect"
    assert "private_key_jwt" in on.metadata["introspection_endpoint_auth_methods_supported"]
    assert "introspection_endpoint" not in off.metadata
    transport = httpx.ASGITransport(app=off.app)
    async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as http:
        assert (await introspect(http, "x")).status_code == 404


async def test_an_active_token_and_its_members(
    http: httpx.AsyncClient, op: SandboxProvider
) -> None:
    answer = await introspect(http, await cc_token(http))

    assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert body["active"] is True and body["token_type"] == "Bearer"
    assert body["scope"] == CC_SCOPE and body["client_id"] == "app" and body["sub"] == "app"
    assert body["iss"] == ISSUER and body["aud"] == "orca"
    assert body["exp"] - body["iat"] == 3600 and body["jti"]
    assert op.introspections == 1


@pytest.mark.parametrize(
    "auth",
    [None, ("app", "wrong-secret"), ("nobody", "x")],
)
async def test_only_an_authenticated_client_may_ask(
    http: httpx.AsyncClient, op: SandboxProvider, auth: tuple[str, str] | None
) -> None:
    token = await cc_token(http)
    answer = await http.post("/introspect", data={"token": token}, auth=auth)
    assert answer.status_code == 401 and answer.json()["error"] == "invalid_client"
    assert op.introspections == 0


async def test_a_public_client_may_not_ask(http: httpx.AsyncClient) -> None:
    form = {"token": await cc_token(http), "client_id": "spa"}
    answer = await http.post("/introspect", data=form)
    assert answer.status_code == 401 and answer.json()["error"] == "invalid_client"


async def test_a_request_without_a_token(http: httpx.AsyncClient) -> None:
    form = {"token_type_hint": "access_token"}
    answer = await http.post("/introspect", data=form, auth=("app", SECRET))
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_request"


async def test_an_expired_token_is_inactive(http: httpx.AsyncClient, clock: Clock) -> None:
    token = await cc_token(http)
    clock.now += 3600
    assert (await introspect(http, token)).json() == {"active": False}


@pytest.mark.parametrize("token", ["not-a-token", "a.b.c", ""])
async def test_a_token_not_of_this_provider_is_inactive(
    http: httpx.AsyncClient, token: str
) -> None:
    answer = await introspect(http, token or "x" * 10)
    assert answer.json() == {"active": False}


async def test_another_providers_token_is_inactive(clock: Clock, http: httpx.AsyncClient) -> None:
    other = make_op(clock, introspection=True)
    transport = httpx.ASGITransport(app=other.app)
    async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as other_http:
        foreign = await cc_token(other_http)  # same issuer URL, another key
    assert (await introspect(http, foreign)).json() == {"active": False}


# -- the kit against it -----------------------------------------------------------------------


class Tampered(httpx.AsyncBaseTransport):
    """The sandbox, its introspection answers changed by ``changes`` (a misbehaving provider)."""

    def __init__(self, op: SandboxProvider) -> None:
        self.inner = httpx.ASGITransport(app=op.app)
        self.changes: dict[str, Any] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.url.path != "/introspect" or not self.changes:
            return response
        await response.aread()
        return httpx.Response(200, json={**response.json(), **self.changes})


def kit_app(
    op: SandboxProvider,
    clock: Clock,
    transport: httpx.AsyncBaseTransport | None = None,
    **config: Any,
) -> tuple[OIDCAuth, Starlette]:
    auth = OIDCAuth(
        OIDCConfig(
            issuer=ISSUER,
            client_id="app",
            client_secret=SECRET,
            base_url=APP,
            scopes=("openid", "profile", "offline_access", "accounts:read"),
            session_secrets=("a-test-secret-of-32-characters!!",),
            session_store="memory://",
            **config,
        ),
        http_client=httpx.AsyncClient(transport=transport or httpx.ASGITransport(app=op.app)),
        clock=clock,
    )

    async def status(request: Request) -> Response:
        return JSONResponse((await auth.introspect(request)).as_dict())

    async def token(request: Request) -> Response:  # for this test only: never do this
        return PlainTextResponse(await auth.access_token(request))

    async def token_status(request: Request) -> Response:
        return JSONResponse(await auth.token_status(request))

    app = Starlette(
        routes=[
            Mount("/auth", routes=auth.routes),
            Route("/status", status),
            Route("/token", token),
            Route("/token-status", token_status),
        ],
        middleware=[auth.middleware],
        exception_handlers=auth.exception_handlers,
    )
    return auth, app


@pytest.mark.parametrize("dpop", [False, True])
async def test_a_users_token_is_active_until_logout_revokes_it(
    op: SandboxProvider, clock: Clock, dpop: bool
) -> None:
    auth, app = kit_app(op, clock, dpop=dpop)
    transport = httpx.ASGITransport(app=app)
    async with (
        auth,
        httpx.AsyncClient(transport=transport, base_url=APP) as browser,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=op.app)) as http,
    ):
        assert (await sandbox_login(browser, op, "alice")).status_code == 303
        status = (await browser.get("/status")).json()
        assert status["active"] is True and status["sub"] == ALICE
        assert status["client_id"] == "app" and "accounts:read" in status["scope"].split()
        token = (await browser.get("/token")).text
        jkt = (await browser.get("/token-status")).json()["dpop_jkt"]
        if dpop:  # RFC 9449 6.2: the session's key, which the kit checked
            assert status["token_type"] == "DPoP" and status["cnf"] == {"jkt": jkt}
        else:
            assert status["token_type"] == "Bearer" and "cnf" not in status
        assert token not in str(status)

        logout = await browser.post("/auth/logout", headers={"Origin": APP})
        assert logout.status_code == 303
        resource_server = Introspector(
            ProviderConfig(issuer=ISSUER, client_id="app", client_secret=SECRET),
            http_client=http,
            clock=clock,
        )
        assert not (await resource_server.introspect(token)).active
        gone = await browser.get("/status", headers={"Accept": "application/json"})
        assert gone.status_code == 401  # no session any more


async def test_a_provider_without_introspection_answers_502(clock: Clock) -> None:
    op = make_op(clock)
    auth, app = kit_app(op, clock)
    async with auth, httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=APP) as b:
        assert (await sandbox_login(b, op, "alice")).status_code == 303
        answer = await b.get("/status", headers={"Accept": "application/json"})
    assert answer.status_code == 502
    assert answer.json()["error"] == "introspection_unsupported"


@pytest.mark.parametrize(
    ("dpop", "changes"),
    [
        (False, {"client_id": "another-client"}),  # a token of another client in the session
        (True, {"cnf": {"jkt": "another-key"}}),  # bound to a key not the session's
        (False, {"iss": "https://another-issuer.test"}),
    ],
)
async def test_the_kit_refuses_an_answer_about_a_token_not_the_sessions(
    op: SandboxProvider, clock: Clock, dpop: bool, changes: dict[str, Any]
) -> None:
    tampered = Tampered(op)
    auth, app = kit_app(op, clock, tampered, dpop=dpop, introspection_cache_ttl=0)
    async with auth, httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=APP) as b:
        assert (await sandbox_login(b, op, "alice")).status_code == 303
        assert (await b.get("/status")).json()["active"] is True
        tampered.changes = changes
        answer = await b.get("/status", headers={"Accept": "application/json"})
    assert answer.status_code == 502
    assert answer.json()["error"] == "invalid_introspection"
