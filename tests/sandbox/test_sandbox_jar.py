"""Signed request objects (JAR, RFC 9101) at the sandbox provider: pushed and by value, every
refusal of the FAPI 2.0 Message Signing profile's checks, and ``require_signed_request_object``.

Request objects are made here with joserfc, not with the kit, so that these tests say what the
sandbox accepts whatever the client does.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from joserfc import jwt

from oidc_kit.testing import SandboxProvider
from tests.sandbox.test_sandbox_fapi import (
    CLIENT_EC_KEY,
    CLIENT_KEY,
    ISSUER,
    OTHER_KEY,
    PAR_PREFIX,
    Clock,
    auth_params,
    callback,
    fapi_client,
    login,
    pkce,
    push,
)

TYPE = "oauth-authz-req+jwt"


def request_object(
    now: float,
    params: dict[str, str],
    *,
    key: Any = CLIENT_KEY,
    alg: str = "PS256",
    header: dict[str, Any] | None = None,
    **overrides: Any,
) -> str:
    """A request object of ``params``; ``overrides`` change claims (None drops one)."""
    claims: dict[str, Any] = {
        **params,
        "iss": "fapi",
        "aud": ISSUER,
        "client_id": "fapi",
        "iat": int(now),
        "nbf": int(now),
        "exp": int(now) + 300,
        "jti": secrets.token_urlsafe(12),
        **overrides,
    }
    claims = {k: v for k, v in claims.items() if v is not None}
    head = {"alg": alg, "kid": key.kid, "typ": TYPE, **(header or {})}
    return jwt.encode({k: v for k, v in head.items() if v is not None}, claims, key, [alg])


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def browser(clock: Clock) -> AsyncIterator[httpx.AsyncClient]:
    op = SandboxProvider(
        ISSUER,
        [fapi_client(require_par=False, require_signed_request_object=True)],
        clock=clock,
        id_token_alg="PS256",
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=op.app), base_url=ISSUER) as b:
        yield b


async def test_discovery_advertises_request_objects(browser: httpx.AsyncClient) -> None:
    doc = (await browser.get("/.well-known/openid-configuration")).json()
    assert doc["request_parameter_supported"] is True
    assert doc["request_object_signing_alg_values_supported"] == ["PS256", "ES256"]


async def test_a_pushed_request_object_is_the_whole_request(
    browser: httpx.AsyncClient, clock: Clock
) -> None:
    # Parameters outside the object are ignored: the state comes from inside it.
    params = auth_params(pkce()[1], state="inside")
    signed = request_object(clock.now, params)
    pushed = await push(browser, clock, {"request": signed, "state": "outside"})
    assert pushed.status_code == 201, pushed.text
    answer = await login(
        browser, {"client_id": "fapi", "request_uri": pushed.json()["request_uri"]}
    )
    got = callback(answer)
    assert got["state"] == "inside" and "code" in got


@pytest.mark.parametrize("key_alg", [(CLIENT_KEY, "PS256"), (CLIENT_EC_KEY, "ES256")])
async def test_a_request_object_by_value_works_with_either_algorithm(
    browser: httpx.AsyncClient, clock: Clock, key_alg: tuple[Any, str]
) -> None:
    key, alg = key_alg
    signed = request_object(clock.now, auth_params(pkce()[1]), key=key, alg=alg)
    answer = await login(browser, {"client_id": "fapi", "request": signed, "scope": "openid"})
    assert "code" in callback(answer)


async def test_a_client_that_must_sign_cannot_send_plain_requests(
    browser: httpx.AsyncClient, clock: Clock
) -> None:
    pushed = await push(browser, clock, auth_params(pkce()[1]))
    assert (
        pushed.status_code == 400 and "signed request object" in pushed.json()["error_description"]
    )
    page = await browser.get("/authorize", params=auth_params(pkce()[1]))
    assert page.status_code == 400 and "signed request object" in page.text


async def test_a_request_object_is_used_once(browser: httpx.AsyncClient, clock: Clock) -> None:
    signed = request_object(clock.now, auth_params(pkce()[1]))
    assert (await push(browser, clock, {"request": signed})).status_code == 201
    again = await push(browser, clock, {"request": signed})
    assert again.json() == {
        "error": "invalid_request_object",
        "error_description": "this request object (its jti) was already used",
    }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"key": OTHER_KEY}, "signature does not verify"),
        ({"alg": "RS256"}, "alg must be PS256 or ES256"),
        ({"header": {"typ": "JWT"}}, "typ must be"),
        ({"iss": "someone"}, "iss and client_id"),
        ({"client_id": "someone"}, "iss and client_id"),
        ({"client_id": None}, "iss and client_id"),
        ({"aud": "https://other.test"}, "aud must be the issuer"),
        ({"aud": None}, "aud must be the issuer"),
        ({"exp": None}, "needs exp and nbf"),
        ({"nbf": None}, "needs exp and nbf"),
        ({"exp": "soon"}, "needs exp and nbf"),
        ({"exp": 1_700_000_000 - 10}, "has expired"),
        ({"nbf": 1_700_000_000 + 60}, "not valid yet"),
        ({"nbf": 1_700_000_000 - 3700}, "longer than an hour"),
        ({"exp": 1_700_000_000 + 3700}, "longer than an hour"),
        ({"jti": None}, "needs a jti"),
        ({"request_uri": PAR_PREFIX + "x"}, "cannot hold request"),
    ],
)
async def test_a_bad_request_object_is_refused(
    browser: httpx.AsyncClient, clock: Clock, change: dict[str, Any], message: str
) -> None:
    signed = request_object(clock.now, auth_params(pkce()[1]), **change)
    pushed = await push(browser, clock, {"request": signed})
    assert pushed.status_code == 400
    body = pushed.json()
    assert body["error"] == "invalid_request_object" and message in body["error_description"]
    # By value, the same refusal is a page: the object's redirect_uri is not trusted.
    page = await browser.get("/authorize", params={"client_id": "fapi", "request": signed})
    assert page.status_code == 400 and "invalid_request_object" in page.text


async def test_an_unsigned_or_encrypted_object_is_refused(
    browser: httpx.AsyncClient, clock: Clock
) -> None:
    for token in ("eyJ", "a.b.c.d.e", "a.b." + "x" * 20000):
        pushed = await push(browser, clock, {"request": token})
        assert pushed.json()["error"] == "invalid_request_object"
        if token != "eyJ":  # refused unread: too large, or a JWE
            assert "encryption is unsupported" in pushed.json()["error_description"]
