"""Route requirements beyond scopes: ``@login_required(claims={...})``.

A session whose claims do not meet a route's rules gets 403 ``insufficient_claims``: JSON for
API clients, a page for browsers, never a redirect to log in (the same login would bring the
same claims back: a loop). The rules themselves (``_claims.ClaimsRequirement``) are tested
with plain values first. The fake provider decides what the ID token says (``op.id_claims``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.endpoints import HTTPEndpoint
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.websockets import WebSocket

from oidc_kit import ConfigurationError, Hooks, InsufficientClaims, LoginEvent, MemoryStore
from oidc_kit._claims import ClaimsRequirement
from oidc_kit.starlette import OIDCAuth, login_required
from tests.conftest import Clock, make_config
from tests.fake_op import FakeOP
from tests.web.test_conventions import cookie_of, handshake, refused

APP = "https://app.test"
CUSTOMER = "https://portx.io/customer"
HTML = {"Accept": "text/html"}
VERIFIED = {"email_verified": True}


# -- the rules, with plain values -----------------------------------------------------------


@pytest.mark.parametrize(
    ("rules", "claims", "unmet"),
    [
        (VERIFIED, {"email_verified": True}, []),
        (VERIFIED, {"email_verified": False}, ["email_verified"]),
        # True == 1 in Python, and some providers send "true": neither is the boolean asked for.
        (VERIFIED, {"email_verified": 1}, ["email_verified"]),
        (VERIFIED, {"email_verified": "true"}, ["email_verified"]),
        (VERIFIED, {}, ["email_verified"]),
        ({"tier": 1}, {"tier": True}, ["tier"]),
        ({"tier": 1}, {"tier": 1}, []),
        ({"country": "GB"}, {"country": "GB"}, []),
        ({"country": "GB"}, {"country": "gb"}, ["country"]),
        ({CUSTOMER: bool}, {CUSTOMER: "C-1001"}, []),
        ({CUSTOMER: bool}, {CUSTOMER: ""}, [CUSTOMER]),
        ({CUSTOMER: bool}, {}, [CUSTOMER]),
        (
            {"email_verified": True, CUSTOMER: bool},
            {"email_verified": False},
            [
                "email_verified",
                CUSTOMER,
            ],
        ),
    ],
)
def test_claim_rules(rules: dict[str, Any], claims: dict[str, Any], unmet: list[str]) -> None:
    assert ClaimsRequirement.for_route(rules).unmet(claims) == unmet


def test_a_missing_claim_is_not_met_without_calling_its_test() -> None:
    called: list[Any] = []

    def test(value: Any) -> bool:
        called.append(value)
        return True

    assert ClaimsRequirement.for_route({"groups": test}).unmet({}) == ["groups"]
    assert called == []


def test_a_test_that_raises_is_not_met_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    # The provider's value breaks the app's test (an int where it expects a string): not met,
    # never a 500. The value itself is not logged.
    rules = ClaimsRequirement.for_route({CUSTOMER: lambda v: v.startswith("C-")})
    with caplog.at_level(logging.WARNING, logger="oidc_kit"):
        assert rules.unmet({CUSTOMER: 918273}) == [CUSTOMER]
    assert "AttributeError" in caplog.text
    assert "918273" not in caplog.text


def test_unmet_claims_are_named_never_their_values() -> None:
    rules = ClaimsRequirement.for_route({"email_verified": True, "country": "GB"})
    with pytest.raises(InsufficientClaims) as info:
        rules.check({"email_verified": False, "country": "FR-secret-value"}, "user-1")
    assert (info.value.status, info.value.code) == (403, "insufficient_claims")
    assert info.value.expected == ["email_verified", "country"]
    assert "FR-secret-value" not in str(info.value)
    assert info.value.description == (
        "this needs the claims email_verified country, which this account does not meet"
    )


@pytest.mark.parametrize(
    "claims", [{"email_verified": None}, {"": True}, {1: True}, ["email_verified"]]
)
def test_bad_claim_rules_fail_where_the_route_is_declared(claims: Any) -> None:
    with pytest.raises(ConfigurationError):
        login_required(claims=claims)


# -- through @login_required -------------------------------------------------------------------


class Statements(HTTPEndpoint):
    @login_required(claims=VERIFIED)
    async def get(self, request: Request) -> Response:
        return PlainTextResponse(f"statements of {request.user.identity}")


def build_app(auth: OIDCAuth) -> Starlette:
    async def hello(request: Request) -> Response:
        return PlainTextResponse(f"hello {request.user.identity}")

    def sync_hello(request: Request) -> Response:
        return PlainTextResponse(f"sync hello {request.user.identity}")

    async def live(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(f"live {websocket.user.identity}")
        await websocket.close()

    return Starlette(
        routes=[
            Mount("/auth", routes=auth.routes),
            Route("/verified", login_required(claims=VERIFIED)(hello)),
            Route("/api/verified", login_required(claims=VERIFIED)(hello)),
            Route("/api/sync", login_required(claims=VERIFIED)(sync_hello)),
            Route("/statements", Statements),
            Route("/api/customer", login_required(claims={CUSTOMER: bool})(hello)),
            Route("/fresh-verified", login_required(max_age=300, claims=VERIFIED)(hello)),
            WebSocketRoute("/ws", login_required(claims=VERIFIED)(live)),
        ],
        middleware=[auth.middleware],
        exception_handlers=auth.exception_handlers,
    )


@pytest.fixture
async def browser(kit: OIDCAuth) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=build_app(kit))
    async with httpx.AsyncClient(transport=transport, base_url=APP) as client:
        yield client


async def log_in(browser: httpx.AsyncClient, op: FakeOP) -> None:
    start = await browser.get("/auth/login")
    done = await browser.get("/auth/callback", params=op.authorize(start.headers["location"]))
    assert done.status_code == 303, done.text


async def test_claims_that_are_met_let_the_request_through(
    browser: httpx.AsyncClient, op: FakeOP
) -> None:
    op.id_claims["email_verified"] = True
    await log_in(browser, op)
    assert (await browser.get("/verified")).text == "hello user-1"
    assert (await browser.get("/api/sync")).text == "sync hello user-1"
    assert (await browser.get("/statements")).text == "statements of user-1"


@pytest.mark.parametrize("path", ["/api/verified", "/api/sync", "/statements"])
async def test_an_unmet_claim_is_403_json_for_api_clients(
    browser: httpx.AsyncClient, op: FakeOP, path: str
) -> None:
    op.id_claims["email_verified"] = False
    await log_in(browser, op)
    response = await browser.get(path, headers={"Accept": "application/json"})
    assert response.status_code == 403
    assert response.json() == {
        "error": "insufficient_claims",
        "error_description": (
            "this needs the claim email_verified, which this account does not meet"
        ),
    }
    assert (await browser.get("/auth/session")).status_code == 200  # the session stays


async def test_a_browser_gets_a_403_page_not_a_login_loop(
    browser: httpx.AsyncClient, op: FakeOP
) -> None:
    await log_in(browser, op)  # no email_verified claim at all
    response = await browser.get("/verified", headers=HTML)
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("text/html")
    assert "insufficient_claims" in response.text
    assert "location" not in response.headers
    assert not [c for c in response.headers.get_list("set-cookie") if "oidc_session" in c]


async def test_without_a_session_it_is_the_usual_login(browser: httpx.AsyncClient) -> None:
    response = await browser.get("/verified", headers=HTML)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/auth/login?")
    assert (await browser.get("/api/verified")).json()["error"] == "login_required"


async def test_claims_are_checked_before_the_step_up(
    browser: httpx.AsyncClient, op: FakeOP, kit: OIDCAuth, clock: Clock
) -> None:
    # Unmet claims and an old authentication: the user is refused now, rather than sent to
    # authenticate again only to be refused after.
    op.id_claims["email_verified"] = False
    await log_in(browser, op)
    clock.advance(300 + kit.config.clock_leeway + 1)
    response = await browser.get("/fresh-verified", headers=HTML)
    assert response.status_code == 403
    assert "insufficient_claims" in response.text


async def test_claims_added_by_on_login_count(op: FakeOP, clock: Clock) -> None:
    async def on_login(event: LoginEvent) -> None:
        if event.sub == "user-1":
            event.claims[CUSTOMER] = "C-1001"

    http = httpx.AsyncClient(transport=op.transport())
    kit = OIDCAuth(
        make_config(),
        http_client=http,
        store=MemoryStore(),
        hooks=Hooks(on_login=on_login),
        clock=clock,
    )
    app = build_app(kit)
    async with (
        http,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=APP) as browser,
    ):
        await log_in(browser, op)
        assert (await browser.get("/api/customer")).text == "hello user-1"
        op.sub = "user-2"  # no customer number for this one
        await log_in(browser, op)
        assert (await browser.get("/api/customer")).status_code == 403


async def test_a_websocket_without_the_claims_is_closed_before_accept(
    kit: OIDCAuth, op: FakeOP
) -> None:
    app = build_app(kit)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=APP) as browser:
        await log_in(browser, op)
        closed = await refused(app, "/ws", cookie_of(browser, kit))
        assert (closed["code"], closed["reason"]) == (1008, "insufficient_claims")
        op.id_claims["email_verified"] = True
        await log_in(browser, op)
        client = await handshake(app, "/ws", cookie_of(browser, kit))
        assert (await client.receive())["text"] == "live user-1"
        await client.disconnect()
