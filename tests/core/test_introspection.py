"""``Introspector``: RFC 7662 token introspection against a scripted provider.

The request (endpoint, form, client authentication, deadline), every refusal of an answer
(each with its code), the cache (keyed by a hash, bounded, never past the token's expiry) and
the single flight, all on ``httpx.MockTransport`` with an injected clock.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import logging
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey

from oidc_kit import (
    ConfigurationError,
    IntrospectionFailed,
    Introspector,
    ProviderConfig,
    ProviderUnavailable,
    TokenIntrospection,
)

ISSUER = "https://op.test"
ENDPOINT = ISSUER + "/introspect"
CLIENT_ID = "rs/ledger"
SECRET = "s3cr/t+:x%"
TOKEN = "opaque-token-do-not-leak-0123456789"
NOW = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


class Provider:
    """Discovery and an introspection endpoint answering ``answer`` (or ``raw``)."""

    def __init__(self) -> None:
        self.discovery: dict[str, Any] = {
            "issuer": ISSUER,
            "authorization_endpoint": ISSUER + "/authorize",
            "token_endpoint": ISSUER + "/token",
            "jwks_uri": ISSUER + "/jwks",
            "introspection_endpoint": ENDPOINT,
        }
        self.answer: dict[str, Any] = active()
        self.raw: httpx.Response | None = None
        self.requests: list[httpx.Request] = []
        self.gate: asyncio.Event | None = None

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/.well-known/openid-configuration":
            return httpx.Response(200, json=self.discovery)
        if request.url.path == "/.well-known/oauth-authorization-server":
            return httpx.Response(404)
        self.requests.append(request)
        if self.gate is not None:
            await self.gate.wait()
        return self.raw or httpx.Response(200, json=self.answer)

    def form(self, n: int = -1) -> dict[str, list[str]]:
        return parse_qs(self.requests[n].content.decode())


def active(**members: Any) -> dict[str, Any]:
    return {
        "active": True,
        "scope": "accounts:read openid",
        "client_id": CLIENT_ID,
        "sub": "alice",
        "exp": int(NOW) + 3600,
        "iat": int(NOW) - 10,
        "token_type": "Bearer",
        "iss": ISSUER,
        **members,
    }


def config(**overrides: Any) -> ProviderConfig:
    values: dict[str, Any] = {"issuer": ISSUER, "client_id": CLIENT_ID, "client_secret": SECRET}
    return ProviderConfig(**{**values, **overrides})


@pytest.fixture
def op() -> Provider:
    return Provider()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def http(op: Provider) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.MockTransport(op)) as client:
        yield client


@pytest.fixture
def introspector(http: httpx.AsyncClient, clock: Clock) -> Introspector:
    return Introspector(config(), http_client=http, clock=clock)


# -- the request ------------------------------------------------------------------------------


async def test_the_token_is_posted_with_the_client_authentication(
    introspector: Introspector, op: Provider
) -> None:
    answer = await introspector.introspect(TOKEN)

    assert answer.active and answer.sub == "alice" and answer.client_id == CLIENT_ID
    [request] = op.requests
    assert request.method == "POST" and str(request.url) == ENDPOINT
    assert TOKEN not in str(request.url)
    assert op.form() == {"token": [TOKEN], "token_type_hint": ["access_token"]}
    basic = base64.b64encode(b"rs%2Fledger:s3cr%2Ft%2B%3Ax%25").decode()
    assert request.headers["authorization"] == f"Basic {basic}"  # RFC 6749 2.3.1 encoding


async def test_client_secret_post_when_the_provider_offers_only_that(
    op: Provider, http: httpx.AsyncClient, clock: Clock
) -> None:
    op.discovery["token_endpoint_auth_methods_supported"] = ["client_secret_post"]
    await Introspector(config(), http_client=http, clock=clock).introspect(TOKEN)

    assert "authorization" not in op.requests[0].headers
    assert op.form()["client_id"] == [CLIENT_ID] and op.form()["client_secret"] == [SECRET]


async def test_a_client_key_authenticates_with_private_key_jwt(
    op: Provider, http: httpx.AsyncClient, clock: Clock
) -> None:
    """The token endpoint's method under FAPI 2.0 (one implementation, ``_client_auth``)."""
    key = ECKey.generate_key("P-256", private=True)
    fapi = config(
        client_secret=None, client_key=json.dumps(key.as_dict(private=True)), profile="fapi2"
    )
    await Introspector(fapi, http_client=http, clock=clock).introspect(TOKEN)

    form = op.form()
    assert "authorization" not in op.requests[0].headers
    assert form["client_assertion_type"] == [
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    ]
    claims = jwt.decode(form["client_assertion"][0], key).claims
    assert claims["aud"] == ISSUER and claims["sub"] == CLIENT_ID
    assert "DPoP" not in op.requests[0].headers  # introspection takes no proof


async def test_the_configured_endpoint_wins(
    op: Provider, http: httpx.AsyncClient, clock: Clock
) -> None:
    other = ISSUER + "/oauth2/introspect"
    introspector = Introspector(config(introspection_endpoint=other), http_client=http, clock=clock)
    await introspector.introspect(TOKEN)
    assert str(op.requests[0].url) == other


async def test_a_provider_without_the_endpoint(introspector: Introspector, op: Provider) -> None:
    del op.discovery["introspection_endpoint"]
    with pytest.raises(IntrospectionFailed) as caught:
        await introspector.introspect(TOKEN)
    assert caught.value.code == "introspection_unsupported" and caught.value.status == 502


async def test_the_call_ends_within_the_http_timeout(
    op: Provider, http: httpx.AsyncClient, clock: Clock
) -> None:
    op.gate = asyncio.Event()  # the endpoint never answers
    introspector = Introspector(config(http_timeout=0.05), http_client=http, clock=clock)
    with pytest.raises(ProviderUnavailable):
        await introspector.introspect(TOKEN)


def test_a_public_client_cannot_introspect(http: httpx.AsyncClient) -> None:
    with pytest.raises(ConfigurationError, match="OIDC_CLIENT_SECRET"):
        Introspector(config(client_secret=None), http_client=http)


# -- the answer -------------------------------------------------------------------------------


async def test_an_active_answer_is_typed(introspector: Introspector, op: Provider) -> None:
    op.answer = active(aud="orca", username="alice@example.com", nbf=int(NOW) - 10)
    answer = await introspector.introspect(TOKEN)

    assert answer == TokenIntrospection(
        active=True,
        scope="accounts:read openid",
        client_id=CLIENT_ID,
        sub="alice",
        exp=int(NOW) + 3600,
        iat=int(NOW) - 10,
        token_type="Bearer",
        aud=("orca",),
        iss=ISSUER,
        extra={"username": "alice@example.com", "nbf": int(NOW) - 10},
    )
    assert answer.scopes == {"accounts:read", "openid"}
    assert answer.as_dict()["aud"] == ["orca"] and answer.as_dict()["username"]


async def test_an_inactive_answer_keeps_nothing_else(
    introspector: Introspector, op: Provider
) -> None:
    op.answer = {"active": False, "sub": "alice", "scope": "accounts:read"}
    assert await introspector.introspect(TOKEN) == TokenIntrospection(active=False)


@pytest.mark.parametrize(
    ("response", "code"),
    [
        (httpx.Response(200, text="<html>ok</html>"), "invalid_introspection"),
        (httpx.Response(200, json=[{"active": True}]), "invalid_introspection"),
        (httpx.Response(200, json={"scope": "a"}), "invalid_introspection"),  # no active
        (httpx.Response(200, json={"active": "true"}), "invalid_introspection"),
        (httpx.Response(200, json={"active": 1}), "invalid_introspection"),
        (httpx.Response(401, json={"error": "invalid_client"}), "introspection_failed"),
        (httpx.Response(400, json={"error": "invalid_request"}), "introspection_failed"),
    ],
)
async def test_an_unusable_answer_is_refused(
    introspector: Introspector, op: Provider, response: httpx.Response, code: str
) -> None:
    op.raw = response
    with pytest.raises(IntrospectionFailed) as caught:
        await introspector.introspect(TOKEN)
    assert caught.value.code == code and caught.value.status == 502
    assert TOKEN not in str(caught.value)


async def test_a_provider_error_is_unavailable(introspector: Introspector, op: Provider) -> None:
    op.raw = httpx.Response(503)
    with pytest.raises(ProviderUnavailable):
        await introspector.introspect(TOKEN)


@pytest.mark.parametrize(
    "members",
    [
        {"exp": "tomorrow"},
        {"exp": True},
        {"iat": None},
        {"nbf": [1]},
        {"scope": ["accounts:read"]},
        {"client_id": 7},
        {"sub": {"id": "alice"}},
        {"token_type": 1},
        {"iss": 1},
        {"aud": ["orca", 2]},
        {"aud": {"orca": True}},
    ],
)
async def test_members_of_the_wrong_type_are_refused(
    introspector: Introspector, op: Provider, members: dict[str, Any]
) -> None:
    op.answer = active(**members)
    with pytest.raises(IntrospectionFailed) as caught:
        await introspector.introspect(TOKEN)
    assert caught.value.code == "invalid_introspection"


async def test_another_issuers_answer_is_refused(introspector: Introspector, op: Provider) -> None:
    op.answer = active(iss="https://evil.test")
    with pytest.raises(IntrospectionFailed) as caught:
        await introspector.introspect(TOKEN)
    assert caught.value.code == "invalid_introspection"
    assert caught.value.expected == ISSUER and caught.value.actual == "https://evil.test"


async def test_an_answer_without_iss_is_the_providers(
    introspector: Introspector, op: Provider
) -> None:
    del op.answer["iss"]
    assert (await introspector.introspect(TOKEN)).active


async def test_a_token_of_another_client_is_refused_when_it_must_be_ours(
    introspector: Introspector, op: Provider
) -> None:
    op.answer = active(client_id="someone-else")
    assert (await introspector.introspect(TOKEN)).client_id == "someone-else"  # an RS: fine
    with pytest.raises(IntrospectionFailed) as caught:
        await introspector.introspect(TOKEN, expected_client_id=CLIENT_ID)
    assert caught.value.code == "invalid_introspection" and caught.value.actual == "someone-else"
    del op.answer["client_id"]
    introspector.forget(TOKEN)
    assert (await introspector.introspect(TOKEN, expected_client_id=CLIENT_ID)).active


async def test_a_token_bound_to_another_dpop_key_is_refused(
    introspector: Introspector, op: Provider
) -> None:
    op.answer = active(token_type="DPoP", cnf={"jkt": "the-sessions-key"})
    answer = await introspector.introspect(TOKEN, expected_jkt="the-sessions-key")
    assert answer.extra["cnf"] == {"jkt": "the-sessions-key"}
    with pytest.raises(IntrospectionFailed) as caught:
        await introspector.introspect(TOKEN, expected_jkt="another-key")
    assert caught.value.code == "invalid_introspection"


@pytest.mark.parametrize(
    ("members", "active_now"),
    [
        ({"exp": int(NOW) - 31}, False),  # expired beyond the 30 s clock leeway
        ({"exp": int(NOW) - 29}, True),
        ({"nbf": int(NOW) + 31}, False),  # not yet valid
        ({"nbf": int(NOW) + 29}, True),
    ],
)
async def test_an_active_answer_outside_its_lifetime_is_inactive(
    introspector: Introspector, op: Provider, members: dict[str, Any], active_now: bool
) -> None:
    op.answer = active(**members)
    assert (await introspector.introspect(TOKEN)).active is active_now


async def test_a_token_past_its_known_expiry_is_inactive_without_asking(
    introspector: Introspector, op: Provider
) -> None:
    assert not (await introspector.introspect(TOKEN, expires_at=NOW)).active
    assert op.requests == []


# -- the cache --------------------------------------------------------------------------------


async def test_an_answer_is_reused_for_the_ttl(
    introspector: Introspector, op: Provider, clock: Clock
) -> None:
    await introspector.introspect(TOKEN)
    clock.now += 59
    await introspector.introspect(TOKEN)
    assert len(op.requests) == 1
    clock.now += 1  # the default introspection_cache_ttl, 60 s
    await introspector.introspect(TOKEN)
    assert len(op.requests) == 2


async def test_an_active_answer_is_never_reused_past_the_tokens_exp(
    introspector: Introspector, op: Provider, clock: Clock
) -> None:
    op.answer = active(exp=int(NOW) + 10)
    await introspector.introspect(TOKEN)
    op.answer = {"active": False}
    clock.now += 9
    assert (await introspector.introspect(TOKEN)).active
    clock.now += 1
    assert not (await introspector.introspect(TOKEN)).active
    assert len(op.requests) == 2


async def test_an_active_answer_is_never_reused_past_the_expiry_the_kit_knows(
    introspector: Introspector, op: Provider, clock: Clock
) -> None:
    await introspector.introspect(TOKEN, expires_at=NOW + 5)
    clock.now += 5
    op.answer = {"active": False}
    # Past the expiry the caller knows: inactive. Another caller who knows no expiry for the
    # same token asks again: the answer was not kept past NOW + 5.
    assert not (await introspector.introspect(TOKEN, expires_at=NOW + 5)).active
    assert not (await introspector.introspect(TOKEN)).active
    assert len(op.requests) == 2


async def test_an_inactive_answer_is_kept_for_the_ttl(
    introspector: Introspector, op: Provider, clock: Clock
) -> None:
    op.answer = {"active": False}
    await introspector.introspect(TOKEN)
    clock.now += 59
    await introspector.introspect(TOKEN)
    assert len(op.requests) == 1


async def test_a_ttl_of_zero_caches_nothing(
    op: Provider, http: httpx.AsyncClient, clock: Clock
) -> None:
    introspector = Introspector(config(introspection_cache_ttl=0), http_client=http, clock=clock)
    await introspector.introspect(TOKEN)
    await introspector.introspect(TOKEN)
    assert len(op.requests) == 2


async def test_the_cache_is_bounded_least_recently_used_first(
    op: Provider, http: httpx.AsyncClient, clock: Clock
) -> None:
    introspector = Introspector(config(), http_client=http, clock=clock, cache_size=2)
    for token in ("token-a", "token-b", "token-a", "token-c"):  # a used again: b goes
        await introspector.introspect(token)
    assert len(op.requests) == 3
    await introspector.introspect("token-a")
    assert len(op.requests) == 3
    await introspector.introspect("token-b")
    assert len(op.requests) == 4


async def test_the_cache_never_holds_the_token(introspector: Introspector) -> None:
    await introspector.introspect(TOKEN)
    [key] = introspector._cache
    assert isinstance(key, bytes) and len(key) == 32  # a SHA-256, not the token
    assert TOKEN.encode() not in key and TOKEN not in repr(introspector._cache)
    assert TOKEN not in repr(introspector)


async def test_concurrent_introspections_of_one_token_share_one_request(
    introspector: Introspector, op: Provider
) -> None:
    op.gate = asyncio.Event()
    calls = [asyncio.create_task(introspector.introspect(TOKEN)) for _ in range(5)]
    other = asyncio.create_task(introspector.introspect("another-token"))
    await asyncio.sleep(0.01)
    op.gate.set()
    answers = await asyncio.gather(*calls, other)
    assert all(a.active for a in answers)
    assert len(op.requests) == 2  # one per token


async def test_no_token_in_the_logs(
    introspector: Introspector, op: Provider, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="oidc_kit")
    await introspector.introspect(TOKEN)
    op.answer = active(exp=int(NOW) - 100)
    await introspector.introspect("another-token-do-not-leak")
    assert caplog.records
    assert TOKEN not in caplog.text and "another-token-do-not-leak" not in caplog.text


# -- the setting ------------------------------------------------------------------------------


def test_the_ttl_setting_from_the_environment() -> None:
    env = {"OIDC_ISSUER": ISSUER, "OIDC_CLIENT_ID": CLIENT_ID, "OIDC_INTROSPECTION_CACHE_TTL": "5"}
    assert ProviderConfig.from_env(env).introspection_cache_ttl == 5
    assert config().introspection_cache_ttl == 60
    with pytest.raises(ConfigurationError, match="OIDC_INTROSPECTION_CACHE_TTL"):
        config(introspection_cache_ttl=-1)
    with pytest.raises(ConfigurationError, match="OIDC_INTROSPECTION_CACHE_TTL"):
        ProviderConfig.from_env({**env, "OIDC_INTROSPECTION_CACHE_TTL": "soon"})


def test_an_answer_is_a_frozen_value() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        TokenIntrospection(active=True).active = False  # type: ignore[misc]
