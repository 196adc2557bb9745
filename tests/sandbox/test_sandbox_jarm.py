"""The sandbox provider answers in the JARM response modes (the demo's OIDC_RESPONSE_MODE=
query.jwt offline): one ``response`` JWT signed with its key, and the kit logs in with it."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from oidc_kit.testing import SandboxClient, SandboxProvider, sandbox_login
from tests.sandbox.test_sandbox_login import APP, stack
from tests.sandbox.test_sandbox_provider import REDIRECT, auth_params, login, pkce

ISSUER = "http://op.test"


@pytest.fixture
async def browser() -> AsyncIterator[tuple[SandboxProvider, httpx.AsyncClient]]:
    op = SandboxProvider(ISSUER, [SandboxClient("app", "app-secret", (REDIRECT,))])
    transport = httpx.ASGITransport(app=op.app)
    async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as client:
        yield op, client


async def _claims(client: httpx.AsyncClient, token: str) -> dict[str, object]:
    keys = KeySet.import_key_set((await client.get("/jwks")).json())
    return dict(jwt.decode(token, keys, algorithms=["RS256"]).claims)


async def test_discovery_advertises_jarm(
    browser: tuple[SandboxProvider, httpx.AsyncClient],
) -> None:
    _, client = browser
    meta = (await client.get("/.well-known/openid-configuration")).json()
    for mode in ("query.jwt", "form_post.jwt", "jwt"):
        assert mode in meta["response_modes_supported"]
    assert meta["authorization_signing_alg_values_supported"] == ["RS256"]


@pytest.mark.parametrize("mode", ["query.jwt", "jwt"])
async def test_query_jwt_answer(
    browser: tuple[SandboxProvider, httpx.AsyncClient], mode: str
) -> None:
    """A redirect carrying ``response`` only: a JWT with the code, state, iss, aud, exp."""
    _, client = browser
    response = await login(client, auth_params(pkce()[1], response_mode=mode))
    assert response.status_code == 303, response.text
    query = parse_qs(urlsplit(response.headers["location"]).query)
    assert list(query) == ["response"]
    claims = await _claims(client, query["response"][0])
    assert (claims["iss"], claims["aud"], claims["state"]) == (ISSUER, "app", "st-123")
    assert isinstance(claims["code"], str)
    assert isinstance(claims["exp"], int) and time.time() < claims["exp"] <= time.time() + 600


async def test_form_post_jwt_answer(browser: tuple[SandboxProvider, httpx.AsyncClient]) -> None:
    _, client = browser
    response = await login(client, auth_params(pkce()[1], response_mode="form_post.jwt"))
    assert response.status_code == 200 and "location" not in response.headers
    assert f'<form method="post" action="{REDIRECT}">' in response.text
    assert 'name="response" value="' in response.text and 'name="code"' not in response.text


async def test_errors_are_signed_too(browser: tuple[SandboxProvider, httpx.AsyncClient]) -> None:
    _, client = browser
    params = auth_params(pkce()[1], response_mode="query.jwt", prompt="none")
    response = await client.get("/authorize", params=params)
    query = parse_qs(urlsplit(response.headers["location"]).query)
    claims = await _claims(client, query["response"][0])
    assert (claims["error"], claims["state"]) == ("login_required", "st-123")


@pytest.mark.parametrize("mode", ["query.jwt", "jwt"])
async def test_the_kit_logs_in_with_a_jarm_response(mode: str) -> None:
    """The kit against the sandbox, as the demo with OIDC_RESPONSE_MODE=query.jwt."""
    op, auth, app = stack(response_mode=mode)
    transport = httpx.ASGITransport(app=app)
    async with auth, httpx.AsyncClient(transport=transport, base_url=APP) as app_browser:
        response = await sandbox_login(app_browser, op, "alice")
        assert response.status_code == 303, response.text
        assert list(parse_qs(urlsplit(str(response.request.url)).query)) == ["response"]
        session = (await app_browser.get("/auth/session")).json()
        assert session["authenticated"] is True
