"""Rich Authorization Requests (RFC 9396) at the sandbox provider: the consent page shows the
details, the token response (and the access token) carries them, bad ones are refused; and a
kit login asking for a payment through the sandbox keeps the grant in its session."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from oidc_kit import OIDCConfig
from oidc_kit.starlette import OIDCAuth
from oidc_kit.testing import SandboxClient, SandboxProvider
from tests.sandbox.test_sandbox_fapi import (
    ISSUER,
    REDIRECT,
    auth_params,
    callback,
    claims_of,
    interaction_of,
    pkce,
)

PAYMENT = {
    "type": "payment_initiation",
    "instructedAmount": {"currency": "EUR", "amount": "123.50"},
    "creditorName": "Merchant A",
    "creditorAccount": {"iban": "DE02100100109307118603"},
}


@pytest.fixture
async def browser() -> AsyncIterator[httpx.AsyncClient]:
    op = SandboxProvider(ISSUER, [SandboxClient("classic", "classic-secret", (REDIRECT,))])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=op.app), base_url=ISSUER) as b:
        yield b


async def test_discovery_names_the_known_types(browser: httpx.AsyncClient) -> None:
    doc = (await browser.get("/.well-known/openid-configuration")).json()
    assert doc["authorization_details_types_supported"] == [
        "payment_initiation",
        "account_information",
    ]


async def test_the_consent_page_shows_the_payment_and_the_tokens_carry_it(
    browser: httpx.AsyncClient,
) -> None:
    verifier, challenge = pkce()
    details = json.dumps([PAYMENT])
    params = auth_params(challenge, "classic", authorization_details=details)
    page = await browser.get("/authorize", params=params)
    assert page.status_code == 200
    assert "123.50 EUR" in page.text and "Merchant A" in page.text
    assert "DE02100100109307118603" in page.text
    form = {"interaction": interaction_of(page), "username": "alice", "password": "alice"}
    code = callback(await browser.post("/login", data=form))["code"]
    token = await browser.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
        auth=("classic", "classic-secret"),
    )
    body = token.json()
    assert body["authorization_details"] == [PAYMENT]
    assert claims_of(body["access_token"])["authorization_details"] == [PAYMENT]


@pytest.mark.parametrize(
    "details",
    [
        "not json",
        json.dumps([PAYMENT] * 30),
        [{"kind": "payment_initiation"}],
        {"type": "payment_initiation"},
        [],
        [{"type": "wire_transfer"}],
        [{**PAYMENT, "instructedAmount": {"currency": "euro", "amount": "1"}}],
        [{**PAYMENT, "creditorAccount": {"iban": "x"}}],
        [{k: v for k, v in PAYMENT.items() if k != "creditorName"}],
    ],
)
async def test_bad_details_are_refused(browser: httpx.AsyncClient, details: Any) -> None:
    raw = details if isinstance(details, str) else json.dumps(details)
    params = auth_params(pkce()[1], "classic", authorization_details=raw)
    got = callback(await browser.get("/authorize", params=params))
    assert got["error"] == "invalid_authorization_details"


# -- the kit at the sandbox ----------------------------------------------------------------

KIT_OP = "https://op.test"


async def test_a_kit_login_with_a_payment_keeps_the_grant_in_the_session() -> None:
    app_url = "https://app.test"
    op = SandboxProvider(
        KIT_OP, [SandboxClient("app", "app-secret-123", (f"{app_url}/auth/callback",))]
    )
    config = OIDCConfig(
        issuer=KIT_OP,
        client_id="app",
        client_secret="app-secret-123",
        base_url=app_url,
        session_secrets=("a-test-secret-of-32-characters!!",),
        session_store="memory://",
        par=True,
    )
    auth = OIDCAuth(config, http_client=httpx.AsyncClient(transport=op_transport(op.app)))

    async def granted(request: Request) -> JSONResponse:
        status = await auth.token_status(request)
        user = request.user
        return JSONResponse(
            [status["authorization_details"], list(map(dict, user.authorization_details))]
        )

    app = Starlette(
        routes=[Mount("/auth", routes=auth.routes), Route("/pay", granted)],
        middleware=[auth.middleware],
    )
    async with auth, httpx.AsyncClient(transport=op_transport(app), base_url=app_url) as browser:
        details = json.dumps([PAYMENT])
        start = await browser.get(
            "/auth/login", params={"next": "/pay", "authorization_details": details}
        )
        assert start.status_code == 303
        async with httpx.AsyncClient(transport=op_transport(op.app)) as at_op:
            page = await at_op.get(start.headers["location"])
            assert "Merchant A" in page.text  # pushed (PAR), and shown for consent
            form = {"interaction": interaction_of(page), "username": "alice", "password": "alice"}
            answer = await at_op.post(KIT_OP + "/login", data=form)
        done = await browser.get(answer.headers["location"])
        assert done.status_code == 303 and done.headers["location"] == "/pay"
        assert (await browser.get("/pay")).json() == [[PAYMENT], [PAYMENT]]


def op_transport(app: Any) -> httpx.ASGITransport:
    return httpx.ASGITransport(app=app)
