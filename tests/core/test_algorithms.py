"""Which algorithms ID tokens and logout tokens may use (issue 13, item 1).

The accepted set is the client's registered ``id_token_signed_response_alg``
(``OIDC_ID_TOKEN_ALG``) when set, else the kit's allowlist ∩ the provider's
``id_token_signing_alg_values_supported`` (RS256 when it advertises none): a token signed with
an algorithm the provider does not use is refused even when its JWKS holds a key for it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest
from joserfc.jwk import ECKey

from oidc_kit import DiscoveryError, InvalidIdToken, MemoryStore
from oidc_kit._algorithms import effective_algs
from oidc_kit.starlette import OIDCAuth
from tests.conftest import Clock, login, make_config
from tests.fake_op import DROP, FakeOP
from tests.web.test_backchannel import logout_token, post_token
from tests.web.test_starlette import APP, build_app, do_login

ADVERTISED = "id_token_signing_alg_values_supported"
EC_KEY = ECKey.generate_key("P-256", parameters={"kid": "ec-1", "use": "sig"})


def publish_ec_key(op: FakeOP, *, sign_with_it: bool = True) -> None:
    """The provider's JWKS holds an EC key next to its RSA one; ID tokens use it (ES256)."""
    op.jwks_keys = [op.key, EC_KEY]
    if sign_with_it:
        op.sign_key = EC_KEY
        op.id_header = {"alg": "ES256", "kid": "ec-1"}


async def refusal(kit: OIDCAuth, op: FakeOP) -> InvalidIdToken:
    with pytest.raises(InvalidIdToken) as info:
        await login(kit, op)
    return info.value


AppFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def app_factory(op: FakeOP, clock: Clock) -> AppFactory:
    """An app (over HTTP) whose kit has these settings, talking to the fake provider."""

    @asynccontextmanager
    async def make(**overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
        http = httpx.AsyncClient(transport=op.transport())
        kit = OIDCAuth(make_config(**overrides), http_client=http, store=MemoryStore(), clock=clock)
        transport = httpx.ASGITransport(app=build_app(kit))
        async with httpx.AsyncClient(transport=transport, base_url=APP) as client:
            yield client
        await http.aclose()

    return make


# -- ID tokens ---------------------------------------------------------------------------------


async def test_an_es256_id_token_is_refused_when_the_provider_advertises_only_rs256(
    kit: OIDCAuth, op: FakeOP
) -> None:
    """ES256 is in the kit's allowlist and the key is in the provider's JWKS, but the provider
    says it signs RS256 only: refused, before any key is looked at (no JWKS fetch)."""
    publish_ec_key(op)
    error = await refusal(kit, op)
    assert error.description == "ID token algorithm not allowed"
    assert (error.expected, error.actual) == (["RS256"], "ES256")
    assert op.calls["/jwks"] == 0


async def test_an_es256_id_token_is_accepted_when_the_provider_advertises_es256(
    kit: OIDCAuth, op: FakeOP
) -> None:
    op.discovery[ADVERTISED] = ["RS256", "ES256"]
    publish_ec_key(op)
    assert (await login(kit, op)).claims["sub"] == "user-1"


async def test_the_registered_alg_is_the_only_one_accepted(
    kit_factory: Callable[..., OIDCAuth], op: FakeOP
) -> None:
    """``id_token_alg`` (OIDC_ID_TOKEN_ALG): exactly that algorithm, whatever else the provider
    and the allowlist have in common."""
    kit = kit_factory(id_token_alg="ES256")
    op.discovery[ADVERTISED] = ["RS256", "ES256"]
    publish_ec_key(op, sign_with_it=False)
    error = await refusal(kit, op)  # RS256: advertised and in the allowlist, not registered
    assert (error.expected, error.actual) == (["ES256"], "RS256")
    publish_ec_key(op)
    assert (await login(kit, op)).claims["sub"] == "user-1"


async def test_the_registered_alg_need_not_be_in_the_allowlist(
    kit_factory: Callable[..., OIDCAuth], op: FakeOP
) -> None:
    """A registered ES384 client: the kit's default allowlist lacks ES384, the registration
    decides (the kit's rules still apply: not ``none``, HS* only with a secret)."""
    kit = kit_factory(id_token_alg="ES384")
    ec384 = ECKey.generate_key("P-384", parameters={"kid": "ec384", "use": "sig"})
    op.jwks_keys = [ec384]
    op.sign_key = ec384
    op.id_header = {"alg": "ES384", "kid": "ec384"}
    op.id_claims["at_hash"] = DROP  # the fake provider hashes with SHA-256 only
    assert (await login(kit, op)).claims["sub"] == "user-1"


async def test_a_provider_advertising_nothing_is_taken_as_rs256(kit: OIDCAuth, op: FakeOP) -> None:
    op.discovery[ADVERTISED] = DROP
    assert (await login(kit, op)).claims["sub"] == "user-1"  # RS256
    publish_ec_key(op)
    error = await refusal(kit, op)
    assert (error.expected, error.actual) == (["RS256"], "ES256")


async def test_no_algorithm_in_common_fails_the_login_start_clearly(
    kit_factory: Callable[..., OIDCAuth], op: FakeOP
) -> None:
    """Nothing the provider advertises is in the allowlist: 502 ``invalid_discovery`` naming
    both sides, at ``/auth/login``, before the user is sent to the provider for nothing."""
    kit = kit_factory(id_token_algs=("PS256", "EdDSA"))
    with pytest.raises(DiscoveryError) as info:
        await kit._flow.start("browser-1")
    assert info.value.code == "invalid_discovery"
    assert (info.value.expected, info.value.actual) == (["PS256", "EdDSA"], ["RS256"])
    assert "no algorithm the kit accepts" in info.value.description


async def test_no_algorithm_in_common_is_a_502_at_the_login_route(
    app_factory: AppFactory,
) -> None:
    async with app_factory(id_token_algs=("PS256",)) as client:
        response = await client.get("/auth/login", headers={"Accept": "application/json"})
        assert response.status_code == 502
        assert response.json()["error"] == "invalid_discovery"
        assert "location" not in response.headers


async def test_a_provider_that_stops_advertising_the_alg_fails_the_callback(
    kit_factory: Callable[..., OIDCAuth], op: FakeOP, clock: Clock
) -> None:
    """Rediscovery between the start and the callback (no alg in common any more): the
    callback's validation raises the same clear error, not a 500."""
    kit = kit_factory(discovery_ttl=60)
    url = await kit._flow.start("browser-1")
    params = op.authorize(url)
    op.discovery[ADVERTISED] = ["HS512"]
    clock.advance(61)
    with pytest.raises(DiscoveryError) as info:
        await kit._flow.finish({k: [v] for k, v in params.items()}, "browser-1")
    assert info.value.actual == ["HS512"]


# -- logout tokens: the same set ---------------------------------------------------------------


async def test_an_es256_logout_token_is_refused_when_the_provider_advertises_only_rs256(
    app_factory: AppFactory, op: FakeOP, clock: Clock
) -> None:
    async with app_factory() as client:
        publish_ec_key(op, sign_with_it=False)
        await do_login(client, op)
        token = logout_token(op, clock, {"alg": "ES256", "kid": "ec-1"}, EC_KEY)
        response = await post_token(client, token)
        assert response.status_code == 400
        assert response.json() == {
            "error": "invalid_logout_token",
            "error_description": "logout token algorithm not allowed",
        }
        assert (await client.get("/auth/session")).status_code == 200


async def test_an_es256_logout_token_is_accepted_when_the_provider_advertises_es256(
    app_factory: AppFactory, op: FakeOP, clock: Clock
) -> None:
    op.discovery[ADVERTISED] = ["RS256", "ES256"]
    async with app_factory() as client:
        publish_ec_key(op, sign_with_it=False)
        await do_login(client, op)
        token = logout_token(op, clock, {"alg": "ES256", "kid": "ec-1"}, EC_KEY)
        assert (await post_token(client, token)).status_code == 200
        assert (await client.get("/auth/session")).status_code == 401


async def test_a_logout_token_must_use_the_registered_alg(
    app_factory: AppFactory, op: FakeOP, clock: Clock
) -> None:
    """Registered ES256: an RS256 logout token (advertised, allowlisted) is refused."""
    op.discovery[ADVERTISED] = ["RS256", "ES256"]
    publish_ec_key(op)
    async with app_factory(id_token_alg="ES256") as client:
        assert (await do_login(client, op)).status_code == 303
        response = await post_token(client, logout_token(op, clock))  # RS256
        assert response.status_code == 400
        assert (await client.get("/auth/session")).status_code == 200
        token = logout_token(op, clock, {"alg": "ES256", "kid": "ec-1"}, EC_KEY)
        assert (await post_token(client, token)).status_code == 200


# -- the rule itself ---------------------------------------------------------------------------

ALLOWLIST = ("RS256", "PS256", "ES256", "EdDSA")


@pytest.mark.parametrize(
    ("registered", "advertised", "expected"),
    [
        (None, ["RS256"], ("RS256",)),
        (None, ["ES256", "RS256", "none", "HS256"], ("RS256", "ES256")),  # the allowlist's order
        (None, None, ("RS256",)),  # nothing advertised: Registration's default
        (None, [], ()),
        (None, ["HS256", "RS512"], ()),
        ("ES256", ["RS256"], ("ES256",)),  # the registration decides
        ("PS384", None, ("PS384",)),
    ],
)
def test_effective_algs(
    registered: str | None, advertised: list[str] | None, expected: tuple[str, ...]
) -> None:
    assert effective_algs(ALLOWLIST, registered, advertised) == expected
