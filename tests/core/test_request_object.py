"""Signed request objects (JAR, RFC 9101): what the kit signs and sends, what it refuses,
and a whole login through the sandbox provider with and without PAR."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey
from starlette.applications import Starlette
from starlette.routing import Mount

from oidc_kit import ClientKey, ConfigurationError, DiscoveryError, OIDCConfig
from oidc_kit._provider import ProviderMetadata
from oidc_kit._request_object import (
    REQUEST_OBJECT_TYPE,
    check_request_object_support,
    request_object,
    signed_request,
)
from oidc_kit.starlette import OIDCAuth
from oidc_kit.testing import SandboxClient, SandboxProvider, sandbox_login

APP, ISSUER = "https://app.test", "https://op.test"
KEY_JSON = json.dumps(ECKey.generate_key("P-256", private=True).as_dict(private=True))
KEY = ClientKey.load(KEY_JSON)
NOW = 1_700_000_000


def config(**overrides: Any) -> OIDCConfig:
    settings: dict[str, Any] = {
        "issuer": ISSUER,
        "client_id": "app",
        "client_key": KEY_JSON,
        "signed_requests": True,
        "base_url": APP,
        "session_secrets": ("a-test-secret-of-32-characters!!",),
        "session_store": "memory://",
    }
    return OIDCConfig(**(settings | overrides))


def metadata(**raw: Any) -> ProviderMetadata:
    return ProviderMetadata(
        issuer=ISSUER,
        authorization_endpoint=ISSUER + "/authorize",
        token_endpoint=ISSUER + "/token",
        jwks_uri=ISSUER + "/jwks",
        userinfo_endpoint=None,
        revocation_endpoint=None,
        end_session_endpoint=None,
        token_endpoint_auth_methods=("private_key_jwt",),
        iss_parameter_supported=True,
        raw={
            "request_parameter_supported": True,
            "request_object_signing_alg_values_supported": ["PS256", "ES256"],
        }
        | raw,
    )


def verified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    decoded = jwt.decode(token, KEY.key, algorithms=["ES256"])
    return dict(decoded.header), dict(decoded.claims)


# -- the request object ------------------------------------------------------------------


def test_the_request_object_holds_every_parameter_and_who_signed_it_for_whom() -> None:
    params = {"response_type": "code", "scope": "openid", "state": "s", "max_age": "60"}
    token = request_object(
        params, ("https://api.test",), KEY, client_id="app", audience=ISSUER, now=NOW
    )
    header, claims = verified(token)
    assert header == {"alg": "ES256", "kid": KEY.kid, "typ": REQUEST_OBJECT_TYPE}
    assert claims["iss"] == claims["client_id"] == "app" and claims["aud"] == ISSUER
    assert claims["iat"] == claims["nbf"] == NOW and 0 < claims["exp"] - NOW <= 3600
    assert claims["max_age"] == 60  # a number, as OpenID Connect Core 6.1 shows it
    assert claims["resource"] == "https://api.test"
    assert {k: claims[k] for k in ("response_type", "scope", "state")} == {
        "response_type": "code",
        "scope": "openid",
        "state": "s",
    }
    again = request_object(params, (), KEY, client_id="app", audience=ISSUER, now=NOW)
    assert verified(again)[1]["jti"] != claims["jti"]  # never the same object twice


def test_json_parameters_become_json_claims_and_several_resources_an_array() -> None:
    details = [{"type": "payment_initiation", "instructedAmount": {"amount": "1"}}]
    params = {"authorization_details": json.dumps(details)}
    token = request_object(
        params, ("urn:a", "urn:b"), KEY, client_id="app", audience=ISSUER, now=NOW
    )
    claims = verified(token)[1]
    assert claims["authorization_details"] == details
    assert claims["resource"] == ["urn:a", "urn:b"]


def test_by_value_the_url_repeats_scope_and_response_type_and_nothing_else() -> None:
    params = {"response_type": "code", "scope": "openid", "state": "s", "nonce": "n"}
    outside = signed_request(params, (), config(), metadata(), NOW, pushed=False)
    assert set(outside) == {"client_id", "request", "scope", "response_type"}
    pushed = signed_request(params, (), config(), metadata(), NOW, pushed=True)
    assert set(pushed) == {"client_id", "request"}  # RFC 9126 3 (and its erratum 6711)
    assert verified(pushed["request"])[1]["nonce"] == "n"


@pytest.mark.parametrize(
    ("raw", "pushed", "message"),
    [
        ({"request_object_signing_alg_values_supported": ["RS256"]}, True, "ES256"),
        ({"request_object_signing_alg_values_supported": None}, True, "ES256"),
        ({"request_parameter_supported": False}, False, "request_parameter_supported"),
        ({"request_parameter_supported": None}, False, "request_parameter_supported"),
    ],
)
def test_a_provider_that_does_not_take_them_fails_the_login_before_the_redirect(
    raw: dict[str, Any], pushed: bool, message: str
) -> None:
    meta = metadata(**{k: v for k, v in raw.items() if v is not None})
    if None in raw.values():
        meta.raw.pop(next(k for k, v in raw.items() if v is None))
    with pytest.raises(DiscoveryError, match=message):
        check_request_object_support(config(), meta, pushed=pushed)


def test_pushed_they_need_no_request_parameter_support() -> None:
    meta = metadata(request_parameter_supported=False)
    assert check_request_object_support(config(), meta, pushed=True).kid == KEY.kid


def test_signed_requests_need_a_client_key() -> None:
    with pytest.raises(ConfigurationError, match=r"OIDC_SIGNED_REQUESTS.*OIDC_CLIENT_KEY"):
        config(client_key=None, client_secret="a-secret-of-some-length")


def test_the_setting_reads_from_the_environment() -> None:
    env = {
        "OIDC_ISSUER": ISSUER,
        "OIDC_CLIENT_ID": "app",
        "OIDC_CLIENT_KEY": KEY_JSON,
        "APP_BASE_URL": APP,
        "SESSION_SECRET": "a-test-secret-of-32-characters!!",
        "OIDC_SIGNED_REQUESTS": "1",
    }
    assert OIDCConfig.from_env(env).signed_requests is True
    assert OIDCConfig.from_env(env | {"OIDC_SIGNED_REQUESTS": "0"}).signed_requests is False
    assert (
        OIDCConfig.from_env({k: v for k, v in env.items() if "SIGNED" not in k}).signed_requests
        is False
    )


# -- a whole login at the sandbox, which requires signed request objects of this client ----


def stack(*, par: bool, **settings: Any) -> tuple[SandboxProvider, OIDCAuth, Starlette]:
    client = SandboxClient(
        "app",
        None,
        (f"{APP}/auth/callback",),
        jwks=KEY.public_jwks(),
        require_signed_request_object=True,
        require_par=par,
    )
    op = SandboxProvider(ISSUER, [client])
    auth = OIDCAuth(
        config(par=par, **settings),
        http_client=httpx.AsyncClient(transport=httpx.ASGITransport(app=op.app)),
    )
    app = Starlette(
        routes=[Mount("/auth", routes=auth.routes)],
        middleware=[auth.middleware],
        exception_handlers=auth.exception_handlers,
    )
    return op, auth, app


@pytest.mark.parametrize("par", [True, False])
async def test_a_login_with_signed_requests_at_a_provider_that_requires_them(par: bool) -> None:
    op, auth, app = stack(par=par)
    transport = httpx.ASGITransport(app=app)
    async with auth, httpx.AsyncClient(transport=transport, base_url=APP) as browser:
        start = await browser.get("/auth/login")
        query = parse_qs(urlsplit(start.headers["location"]).query)
        expected = (
            {"client_id", "request_uri"}
            if par
            else {"client_id", "request", "scope", "response_type"}
        )
        assert set(query) == expected
        done = await sandbox_login(browser, op, "alice")
        assert done.status_code == 303, done.text
        assert (await browser.get("/auth/session")).json()["sub"] == "sandbox-alice"


@pytest.mark.parametrize("par", [True, False])
async def test_without_signed_requests_that_provider_refuses_the_login(par: bool) -> None:
    op, auth, app = stack(par=par, signed_requests=False)
    transport = httpx.ASGITransport(app=app)
    async with auth, httpx.AsyncClient(transport=transport, base_url=APP) as browser:
        if par:
            # The push itself is refused: 502 par_failed at /auth/login.
            start = await browser.get("/auth/login", headers={"Accept": "application/json"})
            assert start.status_code == 502 and start.json()["error"] == "par_failed"
            return
        start = await browser.get("/auth/login")
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=op.app)) as at_op:
            page = await at_op.get(start.headers["location"])
        assert page.status_code == 400 and "signed request object" in page.text
