"""Back-channel logout (OpenID Connect Back-Channel Logout 1.0) and the RP-initiated logout return.

Each refusal names the rule of §2.6 it checks; each must fail when its check is deleted.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from joserfc import jwt

from oidc_kit import MemoryStore
from oidc_kit._logout import BACKCHANNEL_EVENT
from oidc_kit.starlette import OIDCAuth
from tests.conftest import Clock, make_config
from tests.fake_op import CLIENT_ID, DROP, ISSUER, FakeOP, _unsigned, hmac_key, rsa_key
from tests.web.test_starlette import APP, build_app, do_login


def logout_token(
    op: FakeOP, clock: Clock, header: dict[str, Any] | None = None, key: Any = None, **claims: Any
) -> str:
    now = int(clock())
    body: dict[str, Any] = {
        "iss": ISSUER,
        "aud": CLIENT_ID,
        "iat": now,
        "exp": now + 120,
        "jti": secrets.token_urlsafe(12),
        "events": {BACKCHANNEL_EVENT: {}},
        "sid": "op-session-1",
        "sub": "user-1",
    }
    body.update(claims)
    body = {k: v for k, v in body.items() if v is not DROP}
    head = {"alg": "RS256", "kid": op.key.kid, "typ": "logout+jwt", **(header or {})}
    head = {k: v for k, v in head.items() if v is not DROP}
    if head["alg"] == "none":
        return _unsigned(head, body)
    return jwt.encode(head, body, key or op.key, algorithms=[head["alg"]])


@pytest.fixture
async def pair(
    op: FakeOP, clock: Clock
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient, OIDCAuth]]:
    """Two app instances sharing one store, as two processes sharing Redis."""
    store = MemoryStore()
    kits = [
        OIDCAuth(
            make_config(),
            http_client=httpx.AsyncClient(transport=op.transport()),
            store=store,
            clock=clock,
        )
        for _ in range(2)
    ]
    clients = [
        httpx.AsyncClient(transport=httpx.ASGITransport(app=build_app(k)), base_url=APP)
        for k in kits
    ]
    yield clients[0], clients[1], kits[0]
    for c in clients:
        await c.aclose()


@pytest.fixture
async def client(kit: OIDCAuth) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=build_app(kit))
    async with httpx.AsyncClient(transport=transport, base_url=APP) as app_client:
        yield app_client


async def post_token(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/auth/backchannel-logout", data={"logout_token": token})


async def test_a_valid_logout_token_ends_the_session_in_every_instance(
    pair: tuple[httpx.AsyncClient, httpx.AsyncClient, OIDCAuth], op: FakeOP, clock: Clock
) -> None:
    first, second, _ = pair
    await do_login(first, op)
    second.cookies = first.cookies  # the same client, load-balanced to the other instance
    assert (await second.get("/auth/session")).status_code == 200
    response = await post_token(second, logout_token(op, clock))
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert (await first.get("/auth/session")).status_code == 401
    assert (await second.get("/auth/session")).status_code == 401


async def test_without_sid_every_session_of_the_subject_ends(
    pair: tuple[httpx.AsyncClient, httpx.AsyncClient, OIDCAuth], op: FakeOP, clock: Clock
) -> None:
    laptop, phone, _ = pair
    await do_login(laptop, op)
    op.id_claims["sid"] = "op-session-2"  # another client, another provider session
    await do_login(phone, op)
    response = await post_token(laptop, logout_token(op, clock, sid=DROP))
    assert response.status_code == 200
    assert (await laptop.get("/auth/session")).status_code == 401
    assert (await phone.get("/auth/session")).status_code == 401


async def test_with_sid_only_that_provider_session_ends(
    pair: tuple[httpx.AsyncClient, httpx.AsyncClient, OIDCAuth], op: FakeOP, clock: Clock
) -> None:
    laptop, phone, _ = pair
    await do_login(laptop, op)
    op.id_claims["sid"] = "op-session-2"
    await do_login(phone, op)
    assert (await post_token(laptop, logout_token(op, clock, sub=DROP))).status_code == 200
    assert (await laptop.get("/auth/session")).status_code == 401
    assert (await phone.get("/auth/session")).status_code == 200


async def test_another_users_sub_with_our_sid_ends_nothing(
    pair: tuple[httpx.AsyncClient, httpx.AsyncClient, OIDCAuth], op: FakeOP, clock: Clock
) -> None:
    first, _, _ = pair
    await do_login(first, op)
    assert (await post_token(first, logout_token(op, clock, sub="someone-else"))).status_code == 200
    assert (await first.get("/auth/session")).status_code == 200


AUDIENCES = {
    "several-audiences-without-azp": ({"aud": [CLIENT_ID, "other-client"]}, 400),
    "several-audiences-azp-other": ({"aud": [CLIENT_ID, "other"], "azp": "other"}, 400),
    "one-audience-azp-other": ({"azp": "other-client"}, 400),
    "several-audiences-azp-us": ({"aud": [CLIENT_ID, "other-client"], "azp": CLIENT_ID}, 200),
    "one-audience-azp-us": ({"aud": [CLIENT_ID], "azp": CLIENT_ID}, 200),
}


@pytest.mark.parametrize("variant", list(AUDIENCES), ids=list(AUDIENCES))
async def test_logout_token_audiences_follow_the_id_token_rule(
    client: httpx.AsyncClient, op: FakeOP, clock: Clock, variant: str
) -> None:
    """One audience rule for ID and logout tokens (``_id_token.check_audience``): several
    audiences, or any ``azp``, need ``azp`` == our client id."""
    claims, status = AUDIENCES[variant]
    await do_login(client, op)
    response = await post_token(client, logout_token(op, clock, **claims))
    assert response.status_code == status
    if status == 400:
        assert response.json()["error"] == "invalid_logout_token"
        assert response.json()["error_description"] == "logout token azp is invalid"
        assert (await client.get("/auth/session")).status_code == 200
    else:
        assert (await client.get("/auth/session")).status_code == 401


REFUSALS = {
    "alg-none": ({"header": {"alg": "none", "kid": DROP}}),
    "alg-hs256": ({"header": {"alg": "HS256", "kid": DROP}, "key": hmac_key()}),
    "bad-signature": ({"key": rsa_key("attacker")}),
    "wrong-typ": ({"header": {"typ": "at+jwt"}}),
    "wrong-iss": ({"iss": "https://evil.test"}),
    "wrong-aud": ({"aud": "someone-else"}),
    "missing-iat": ({"iat": DROP}),
    "iat-in-future": ({"iat": 10**12}),
    "iat-too-old": ({"iat": 1}),
    "expired": ({"exp": 1}),
    "no-event": ({"events": DROP}),
    "wrong-event": ({"events": {"http://schemas.openid.net/event/other": {}}}),
    "event-not-object": ({"events": {BACKCHANNEL_EVENT: "yes"}}),
    "with-nonce": ({"nonce": "n-0S6_WzA2Mj"}),
    "no-sub-no-sid": ({"sub": DROP, "sid": DROP}),
    "sid-not-string": ({"sid": 42}),
    "missing-jti": ({"jti": DROP}),
}


@pytest.mark.parametrize("variant", list(REFUSALS), ids=list(REFUSALS))
async def test_an_invalid_logout_token_is_400_and_ends_nothing(
    client: httpx.AsyncClient, op: FakeOP, clock: Clock, variant: str
) -> None:
    await do_login(client, op)
    options = dict(REFUSALS[variant])
    header = options.pop("header", None)
    key = options.pop("key", None)
    response = await post_token(client, logout_token(op, clock, header, key, **options))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_logout_token"
    assert response.headers["cache-control"] == "no-store"
    assert (await client.get("/auth/session")).status_code == 200


async def test_a_replayed_logout_token_is_refused(
    pair: tuple[httpx.AsyncClient, httpx.AsyncClient, OIDCAuth], op: FakeOP, clock: Clock
) -> None:
    first, second, _ = pair
    token = logout_token(op, clock)
    assert (await post_token(first, token)).status_code == 200
    again = await post_token(second, token)  # to another instance: the jti is in the store
    assert again.status_code == 400
    assert "jti" in again.json()["error_description"]


@pytest.mark.parametrize(
    "data", [{}, {"logout_token": ["a", "b"]}, {"logout_token": "not-a-jwt"}, {"x": "y"}]
)
async def test_malformed_requests_are_400(client: httpx.AsyncClient, data: dict[str, Any]) -> None:
    response = await client.post("/auth/backchannel-logout", data=data)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_logout_token"


async def test_garbage_bodies_are_4xx_with_a_stable_code(client: httpx.AsyncClient) -> None:
    for body, kind, status, code in (
        (b"\xff\xfe", "application/x-www-form-urlencoded", 400, "invalid_logout_token"),
        (b"{}", "application/json", 415, "unsupported_media_type"),
    ):
        response = await client.post(
            "/auth/backchannel-logout", content=body, headers={"Content-Type": kind}
        )
        assert response.status_code == status
        assert response.json()["error"] == code


# -- the return from RP-initiated logout ----------------------------------------------------


async def test_the_logout_return_state_is_checked_and_its_cookie_cleared(
    client: httpx.AsyncClient, op: FakeOP, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="oidc_kit")
    await do_login(client, op)
    logout = await client.post("/auth/logout", headers={"Origin": APP})
    state = httpx.URL(logout.headers["location"]).params["state"]
    assert any(c.startswith("__Host-oidc_logout=") for c in logout.headers.get_list("set-cookie"))
    back = await client.get("/", params={"state": state})
    assert "returned from the provider's logout" in caplog.text
    assert any(c.startswith('__Host-oidc_logout=""') for c in back.headers.get_list("set-cookie"))


@pytest.mark.parametrize("params", [{"state": "forged"}, {}])
async def test_a_wrong_or_missing_logout_state_is_harmless_and_logged(
    client: httpx.AsyncClient,
    op: FakeOP,
    caplog: pytest.LogCaptureFixture,
    params: dict[str, str],
) -> None:
    await do_login(client, op)
    await client.post("/auth/logout", headers={"Origin": APP})
    back = await client.get("/", params=params)
    assert back.status_code == 404  # the test app has no "/" route: no error from the kit
    assert "wrong or missing state" in caplog.text


async def test_unknown_kid_refetches_for_logout_tokens_are_rate_limited(
    client: httpx.AsyncClient, op: FakeOP, clock: Clock, kit: OIDCAuth
) -> None:
    """Anyone can post a logout token: forged kids must not make us hammer the provider."""
    await do_login(client, op)
    fetched = op.calls["/jwks"]
    forged = rsa_key("forged")
    for _ in range(3):
        token = logout_token(op, clock, {"kid": "forged"}, forged)
        assert (await post_token(client, token)).status_code == 400
    assert op.calls["/jwks"] == fetched  # fetched moments ago: no refetch
    clock.advance(kit.config.jwks_refetch_interval + 1)
    for _ in range(3):
        token = logout_token(op, clock, {"kid": "forged"}, forged)
        assert (await post_token(client, token)).status_code == 400
    assert op.calls["/jwks"] == fetched + 1  # one refetch per interval


class FailingIndexStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.down = False

    async def index_members(self, key: str) -> list[str]:
        if self.down:
            from oidc_kit import StoreUnavailable

            raise StoreUnavailable("the session store did not answer")
        return await super().index_members(key)


async def test_a_store_failure_lets_the_provider_retry_the_same_token(
    op: FakeOP, clock: Clock
) -> None:
    store = FailingIndexStore()
    kit = OIDCAuth(
        make_config(),
        http_client=httpx.AsyncClient(transport=op.transport()),
        store=store,
        clock=clock,
    )
    transport = httpx.ASGITransport(app=build_app(kit))
    async with httpx.AsyncClient(transport=transport, base_url=APP) as client:
        await do_login(client, op)
        token = logout_token(op, clock)
        store.down = True
        failed = await post_token(client, token)
        assert failed.status_code == 503
        assert failed.json()["error"] == "session_store_unavailable"
        store.down = False
        assert (await post_token(client, token)).status_code == 200  # the retry is accepted
        assert (await client.get("/auth/session")).status_code == 401
