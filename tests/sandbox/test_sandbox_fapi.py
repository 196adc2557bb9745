"""FAPI 2.0 at the sandbox provider and the sandbox ORCA: PAR, private_key_jwt, DPoP.

Proofs and client assertions are made here with joserfc, not with the kit's client, so that
these tests say what the servers accept, whatever the client does.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import warnings
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from joserfc import jwk, jws, jwt

from example_app.sandbox_orca import SandboxOrca
from oidc_kit.testing import SandboxClient, SandboxProvider
from oidc_kit.testing.__main__ import build_provider

ISSUER = "http://op.test"
TOKEN_URL = ISSUER + "/token"
USERINFO_URL = ISSUER + "/userinfo"
REDIRECT = "http://app.test/auth/callback"
SCOPE = "openid profile offline_access accounts:read"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
PAR_PREFIX = "urn:ietf:params:oauth:request_uri:"

CLIENT_KEY = jwk.RSAKey.generate_key(2048, parameters={"kid": "client-ps"})
CLIENT_EC_KEY = jwk.ECKey.generate_key("P-256", parameters={"kid": "client-es"})
OTHER_KEY = jwk.RSAKey.generate_key(2048, parameters={"kid": "client-ps"})  # same kid!
CLIENT_JWKS = {"keys": [k.as_dict(private=False) for k in (CLIENT_KEY, CLIENT_EC_KEY)]}


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


# -- helpers: client assertions and DPoP proofs, made with joserfc -------------------------


def assertion(
    client_id: str = "fapi",
    *,
    key: Any = CLIENT_KEY,
    alg: str = "PS256",
    now: float,
    header: dict[str, Any] | None = None,
    **overrides: Any,
) -> str:
    """A client assertion (RFC 7523); ``overrides`` change claims (None drops one)."""
    claims: dict[str, Any] = {
        "iss": client_id,
        "sub": client_id,
        "aud": ISSUER,
        "iat": int(now),
        "exp": int(now) + 60,
        "jti": secrets.token_urlsafe(12),
        **overrides,
    }
    claims = {k: v for k, v in claims.items() if v is not None}
    head = {"alg": alg, "kid": key.kid if key is not None else None, **(header or {})}
    head = {k: v for k, v in head.items() if v is not None}
    return jwt.encode(head, claims, key, algorithms=[alg])


def client_auth(now: float, client_id: str = "fapi", **overrides: Any) -> dict[str, str]:
    return {
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion(client_id, now=now, **overrides),
    }


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def ath(token: str) -> str:
    return b64url(hashlib.sha256(token.encode()).digest())


def proof(
    key: Any,
    method: str,
    url: str,
    *,
    now: float,
    alg: str = "ES256",
    header: dict[str, Any] | None = None,
    sign_with: Any = None,
    **claims: Any,
) -> str:
    """A DPoP proof (RFC 9449 4.2) by ``key``; ``claims`` override (None drops one)."""
    body: dict[str, Any] = {
        "htm": method,
        "htu": url,
        "iat": int(now),
        "jti": secrets.token_urlsafe(12),
        **claims,
    }
    body = {k: v for k, v in body.items() if v is not None}
    head = {"typ": "dpop+jwt", "alg": alg, "jwk": key.as_dict(private=False), **(header or {})}
    head = {k: v for k, v in head.items() if v is not None}
    payload = json.dumps(body).encode()
    return jws.serialize_compact(head, payload, sign_with or key, algorithms=[alg])


def new_dpop_key() -> jwk.ECKey:
    return jwk.ECKey.generate_key("P-256")


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    return verifier, b64url(hashlib.sha256(verifier.encode()).digest())


def auth_params(challenge: str, client_id: str = "fapi", **overrides: str) -> dict[str, str]:
    return {
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "scope": SCOPE,
        "state": "st-1",
        "nonce": "n-1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **overrides,
    }


def callback(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith(REDIRECT + "?"), location
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def interaction_of(page: httpx.Response) -> str:
    found = re.search(r'name="interaction" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


async def login(b: httpx.AsyncClient, params: dict[str, str]) -> httpx.Response:
    page = await b.get("/authorize", params=params)
    if page.status_code != 200:
        return page
    form = {"interaction": interaction_of(page), "username": "alice", "password": "alice"}
    return await b.post("/login", data=form)


def claims_of(token: str) -> dict[str, Any]:
    return json.loads(jws.extract_compact(token.encode()).payload)


# -- fixtures ----------------------------------------------------------------------------


@pytest.fixture
def clock() -> Clock:
    return Clock()


def fapi_client(**overrides: Any) -> SandboxClient:
    settings: dict[str, Any] = {
        "token_endpoint_auth_method": "private_key_jwt",
        "jwks": CLIENT_JWKS,
        "dpop_bound_access_tokens": True,
        "require_par": True,
        **overrides,
    }
    return SandboxClient("fapi", None, (REDIRECT,), **settings)


def make_op(clock: Clock, **options: Any) -> SandboxProvider:
    clients = [
        fapi_client(),
        SandboxClient("classic", "classic-secret", (REDIRECT,)),
        SandboxClient("spa", None, (REDIRECT,)),
    ]
    return SandboxProvider(ISSUER, clients, clock=clock, id_token_alg="PS256", **options)


@pytest.fixture
def op(clock: Clock) -> SandboxProvider:
    return make_op(clock)


@pytest.fixture
async def browser(op: SandboxProvider) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=op.app)
    async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as client:
        yield client


async def push(
    b: httpx.AsyncClient, clock: Clock, params: dict[str, str], **auth: Any
) -> httpx.Response:
    return await b.post("/par", data={**params, **client_auth(clock.now, **auth)})


async def fapi_code(b: httpx.AsyncClient, clock: Clock) -> tuple[str, str]:
    """A code obtained the FAPI 2.0 way: PAR, then ``client_id`` + ``request_uri`` only."""
    verifier, challenge = pkce()
    pushed = await push(b, clock, auth_params(challenge))
    assert pushed.status_code == 201, pushed.text
    request_uri = pushed.json()["request_uri"]
    got = callback(await login(b, {"client_id": "fapi", "request_uri": request_uri}))
    return got["code"], verifier


async def redeem(
    b: httpx.AsyncClient, clock: Clock, code: str, verifier: str, dpop: str | None
) -> httpx.Response:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
        **client_auth(clock.now),
    }
    return await b.post("/token", data=form, headers={"DPoP": dpop} if dpop else {})


async def bound_tokens(b: httpx.AsyncClient, clock: Clock, key: Any) -> dict[str, Any]:
    code, verifier = await fapi_code(b, clock)
    response = await redeem(b, clock, code, verifier, proof(key, "POST", TOKEN_URL, now=clock.now))
    assert response.status_code == 200, response.text
    return dict(response.json())


async def refresh(
    b: httpx.AsyncClient, clock: Clock, refresh_token: str, dpop: str | None
) -> httpx.Response:
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token, **client_auth(clock.now)}
    return await b.post("/token", data=form, headers={"DPoP": dpop} if dpop else {})


# -- discovery -------------------------------------------------------------------------------


async def test_discovery_advertises_fapi_features(clock: Clock) -> None:
    op = make_op(clock, require_par=True)
    meta = op.metadata
    assert meta["pushed_authorization_request_endpoint"] == ISSUER + "/par"
    assert meta["require_pushed_authorization_requests"] is True
    assert "private_key_jwt" in meta["token_endpoint_auth_methods_supported"]
    assert meta["token_endpoint_auth_signing_alg_values_supported"] == ["PS256", "ES256"]
    assert meta["dpop_signing_alg_values_supported"] == ["ES256", "PS256", "EdDSA"]
    assert meta["id_token_signing_alg_values_supported"] == ["PS256"]
    assert [k["alg"] for k in op.jwks["keys"]] == ["PS256"]


def test_es256_provider_publishes_an_ec_key(clock: Clock) -> None:
    op = SandboxProvider(ISSUER, [fapi_client()], clock=clock, id_token_alg="ES256")
    (key,) = op.jwks["keys"]
    assert (key["kty"], key["crv"], key["alg"]) == ("EC", "P-256", "ES256")
    with pytest.raises(ValueError, match="signing alg"):
        SandboxProvider(ISSUER, [fapi_client()], id_token_alg="HS256")


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"jwks": None}, "jwks or jwks_uri"),
        ({"jwks_uri": "http://app.test/jwks"}, "jwks or jwks_uri"),  # both
        ({"jwks": {"keys": [CLIENT_KEY.as_dict(private=True)]}}, "public keys only"),
        ({"jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}}, "asymmetric"),
        ({"token_endpoint_auth_method": "client_secret_post"}, "has keys but auth method"),
    ],
)
def test_a_private_key_jwt_client_needs_public_keys(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        fapi_client(**settings)


def test_keys_and_a_secret_do_not_mix() -> None:
    with pytest.raises(ValueError, match="do not mix"):
        SandboxClient("x", "secret", (REDIRECT,), jwks=CLIENT_JWKS)


# -- PAR ---------------------------------------------------------------------------------


async def test_the_full_fapi2_flow(browser: httpx.AsyncClient, clock: Clock) -> None:
    verifier, challenge = pkce()
    pushed = await push(browser, clock, auth_params(challenge))
    assert pushed.status_code == 201
    assert pushed.headers["cache-control"] == "no-store"
    body = pushed.json()
    assert body["expires_in"] == 60
    assert body["request_uri"].startswith(PAR_PREFIX)
    # Only client_id and request_uri; a different redirect_uri here is ignored.
    params = {
        "client_id": "fapi",
        "request_uri": body["request_uri"],
        "redirect_uri": "http://evil.test/cb",
    }
    got = callback(await login(browser, params))
    assert (got["state"], got["iss"]) == ("st-1", ISSUER)
    key = new_dpop_key()
    response = await redeem(
        browser, clock, got["code"], verifier, proof(key, "POST", TOKEN_URL, now=clock.now)
    )
    assert response.status_code == 200, response.text
    tokens = response.json()
    assert tokens["token_type"] == "DPoP"
    assert claims_of(tokens["access_token"])["cnf"] == {"jkt": key.thumbprint()}
    assert jws.extract_compact(tokens["id_token"].encode()).protected["alg"] == "PS256"
    assert claims_of(tokens["id_token"])["nonce"] == "n-1"


async def test_a_request_uri_is_used_once(browser: httpx.AsyncClient, clock: Clock) -> None:
    pushed = await push(browser, clock, auth_params(pkce()[1]))
    params = {"client_id": "fapi", "request_uri": pushed.json()["request_uri"]}
    first = await browser.get("/authorize", params=params)
    assert first.status_code == 200  # the login form
    again = await browser.get("/authorize", params=params)
    assert again.status_code == 400
    assert "invalid_request_uri" in again.text


async def test_a_request_uri_expires(browser: httpx.AsyncClient, clock: Clock) -> None:
    pushed = await push(browser, clock, auth_params(pkce()[1]))
    clock.now += 61
    params = {"client_id": "fapi", "request_uri": pushed.json()["request_uri"]}
    response = await browser.get("/authorize", params=params)
    assert response.status_code == 400
    assert "invalid_request_uri" in response.text


async def test_a_request_uri_belongs_to_the_client_that_pushed_it(
    browser: httpx.AsyncClient, clock: Clock
) -> None:
    pushed = await push(browser, clock, auth_params(pkce()[1]))
    params = {"client_id": "classic", "request_uri": pushed.json()["request_uri"]}
    response = await browser.get("/authorize", params=params)
    assert response.status_code == 400
    assert "another client" in response.text


async def test_an_invented_request_uri_is_refused(browser: httpx.AsyncClient) -> None:
    params = {"client_id": "fapi", "request_uri": PAR_PREFIX + "made-up"}
    response = await browser.get("/authorize", params=params)
    assert response.status_code == 400
    assert "invalid_request_uri" in response.text


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"request_uri": PAR_PREFIX + "x"}, "invalid_request"),
        ({"redirect_uri": "http://evil.test/cb"}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"scope": "profile"}, "invalid_scope"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"request": "eyJ"}, "invalid_request_object"),
    ],
)
async def test_par_checks_what_the_authorization_endpoint_checks(
    browser: httpx.AsyncClient, clock: Clock, overrides: dict[str, str], error: str
) -> None:
    response = await push(browser, clock, auth_params(pkce()[1], **overrides))
    assert response.status_code == 400
    assert response.json()["error"] == error


async def test_par_authenticates_the_client(browser: httpx.AsyncClient, clock: Clock) -> None:
    params = auth_params(pkce()[1])
    unauthenticated = await browser.post("/par", data=params)
    assert unauthenticated.status_code == 401
    assert unauthenticated.json()["error"] == "invalid_client"
    wrong_secret = {**auth_params(pkce()[1], "classic"), "client_secret": "nope"}
    assert (await browser.post("/par", data=wrong_secret)).status_code == 401
    good_secret = {**auth_params(pkce()[1], "classic"), "client_secret": "classic-secret"}
    assert (await browser.post("/par", data=good_secret)).status_code == 201
    assert (await browser.get("/par")).status_code == 405


async def test_a_client_requiring_par_cannot_send_a_plain_request(
    browser: httpx.AsyncClient,
) -> None:
    got = callback(await browser.get("/authorize", params=auth_params(pkce()[1])))
    assert got["error"] == "invalid_request"
    assert "PAR" in got["error_description"]


async def test_a_provider_requiring_par_refuses_every_plain_request(clock: Clock) -> None:
    op = make_op(clock, require_par=True)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=op.app), base_url=ISSUER) as b:
        params = auth_params(pkce()[1], "classic")
        assert callback(await b.get("/authorize", params=params))["error"] == "invalid_request"
        pushed = await b.post("/par", data={**params, "client_secret": "classic-secret"})
        request_uri = pushed.json()["request_uri"]
        page = await b.get(
            "/authorize", params={"client_id": "classic", "request_uri": request_uri}
        )
        assert page.status_code == 200


async def test_without_require_par_a_plain_request_still_works(
    browser: httpx.AsyncClient,
) -> None:
    page = await browser.get("/authorize", params=auth_params(pkce()[1], "classic"))
    assert page.status_code == 200


# -- private_key_jwt -------------------------------------------------------------------------


async def client_credentials(
    b: httpx.AsyncClient, form: dict[str, str], dpop: str | None = None
) -> httpx.Response:
    data = {"grant_type": "client_credentials", "scope": "accounts:read", **form}
    return await b.post("/token", data=data, headers={"DPoP": dpop} if dpop else {})


@pytest.mark.parametrize("key_alg", [(CLIENT_KEY, "PS256"), (CLIENT_EC_KEY, "ES256")])
async def test_a_good_assertion_authenticates(
    browser: httpx.AsyncClient, clock: Clock, key_alg: tuple[Any, str]
) -> None:
    key, alg = key_alg
    form = client_auth(clock.now, key=key, alg=alg, aud=[ISSUER, "other"])
    key_proof = proof(new_dpop_key(), "POST", TOKEN_URL, now=clock.now)
    response = await client_credentials(browser, form, key_proof)
    assert response.status_code == 200, response.text


def _hs256_assertion(now: float) -> str:
    key = jwk.OctKey.import_key(secrets.token_bytes(32))
    claims = {"iss": "fapi", "sub": "fapi", "aud": ISSUER, "exp": int(now) + 60, "jti": "x"}
    return jwt.encode({"alg": "HS256"}, claims, key, algorithms=["HS256"])


def _none_assertion(now: float) -> str:
    header = b64url(json.dumps({"alg": "none"}).encode())
    claims = {"iss": "fapi", "sub": "fapi", "aud": ISSUER, "exp": int(now) + 60, "jti": "y"}
    return f"{header}.{b64url(json.dumps(claims).encode())}."


def _rs256_key() -> jwk.RSAKey:
    params = {k: v for k, v in CLIENT_KEY.as_dict(private=True).items()}
    return jwk.RSAKey.import_key(params)


BAD_ASSERTIONS: dict[str, Any] = {
    "alg RS256": lambda now: assertion(key=_rs256_key(), alg="RS256", now=now),
    "alg HS256": _hs256_assertion,
    "alg none": _none_assertion,
    "aud the token endpoint": lambda now: assertion(now=now, aud=TOKEN_URL),
    "aud a list without the issuer": lambda now: assertion(now=now, aud=[TOKEN_URL]),
    "aud missing": lambda now: assertion(now=now, aud=None),
    "expired": lambda now: assertion(now=now, exp=int(now) - 1),
    "exp missing": lambda now: assertion(now=now, exp=None),
    "exp too far": lambda now: assertion(now=now, exp=int(now) + 3600),
    "iat in the future": lambda now: assertion(now=now, iat=int(now) + 120),
    "jti missing": lambda now: assertion(now=now, jti=None),
    "iss another client": lambda now: assertion(now=now, iss="classic"),
    "sub another client": lambda now: assertion(now=now, sub="classic"),
    "signed by another key with the same kid": lambda now: assertion(key=OTHER_KEY, now=now),
    "unknown kid": lambda now: assertion(now=now, header={"kid": "nope"}),
    "not a JWS": lambda now: "not-a-jwt",
}


@pytest.mark.parametrize("case", sorted(BAD_ASSERTIONS))
async def test_a_bad_assertion_is_invalid_client(
    browser: httpx.AsyncClient, clock: Clock, case: str
) -> None:
    form = {"client_assertion_type": ASSERTION_TYPE, "client_id": "fapi"}
    form["client_assertion"] = BAD_ASSERTIONS[case](clock.now)
    key_proof = proof(new_dpop_key(), "POST", TOKEN_URL, now=clock.now)
    response = await client_credentials(browser, form, key_proof)
    assert response.status_code == 401, case
    assert response.json()["error"] == "invalid_client"


async def test_a_reused_assertion_is_refused(browser: httpx.AsyncClient, clock: Clock) -> None:
    form = client_auth(clock.now)
    first = await client_credentials(
        browser, form, proof(new_dpop_key(), "POST", TOKEN_URL, now=clock.now)
    )
    assert first.status_code == 200
    again = await client_credentials(
        browser, form, proof(new_dpop_key(), "POST", TOKEN_URL, now=clock.now)
    )
    assert again.status_code == 401
    assert "already used" in again.json()["error_description"]


@pytest.mark.parametrize(
    ("form", "status", "error", "says"),
    [
        ({"client_assertion_type": "urn:nope"}, 401, "invalid_client", "client_assertion_type"),
        ({"client_id": "classic"}, 401, "invalid_client", "differs from the client assertion"),
        ({"client_secret": "classic-secret"}, 400, "invalid_request", "more than one"),
    ],
)
async def test_assertion_parameters_must_be_consistent(
    browser: httpx.AsyncClient,
    clock: Clock,
    form: dict[str, str],
    status: int,
    error: str,
    says: str,
) -> None:
    data = {**client_auth(clock.now), **form}
    response = await client_credentials(
        browser, data, proof(new_dpop_key(), "POST", TOKEN_URL, now=clock.now)
    )
    assert response.status_code == status
    assert response.json()["error"] == error
    assert says in response.json()["error_description"]


async def test_a_private_key_jwt_client_cannot_use_a_secret_or_nothing(
    browser: httpx.AsyncClient, clock: Clock
) -> None:
    for form in ({"client_id": "fapi"}, {"client_id": "fapi", "client_secret": "x"}):
        response = await client_credentials(browser, form)
        assert response.status_code == 401
        assert "private_key_jwt" in response.json()["error_description"]
    # and a client with a secret cannot switch to an assertion
    response = await client_credentials(browser, client_auth(clock.now, "classic"))
    assert response.status_code == 401


async def test_revocation_needs_the_assertion_too(browser: httpx.AsyncClient, clock: Clock) -> None:
    tokens = await bound_tokens(browser, clock, new_dpop_key())
    data = {"token": tokens["refresh_token"], "client_id": "fapi"}
    assert (await browser.post("/revoke", data=data)).status_code == 401
    revoked = await browser.post("/revoke", data={**data, **client_auth(clock.now)})
    assert revoked.status_code == 200
    again = await refresh(
        browser,
        clock,
        tokens["refresh_token"],
        proof(new_dpop_key(), "POST", TOKEN_URL, now=clock.now),
    )
    assert again.json()["error"] == "invalid_grant"


class ClientJwks:
    """The client's JWKS URL, counting fetches."""

    def __init__(self) -> None:
        self.keys = [CLIENT_KEY]
        self.fetches = 0

    def handler(self, request: httpx.Request) -> httpx.Response:
        assert str(request.url) == "http://app.test/jwks"
        self.fetches += 1
        return httpx.Response(200, json={"keys": [k.as_dict(private=False) for k in self.keys]})


async def test_jwks_uri_is_fetched_cached_and_refetched_for_a_new_kid(clock: Clock) -> None:
    served = ClientJwks()
    client = fapi_client(jwks=None, jwks_uri="http://app.test/jwks")
    async with httpx.AsyncClient(transport=httpx.MockTransport(served.handler)) as http:
        op = SandboxProvider(ISSUER, [client], clock=clock, http_client=http)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=op.app), base_url=ISSUER
        ) as b:

            async def call(**auth: Any) -> int:
                dpop = proof(new_dpop_key(), "POST", TOKEN_URL, now=clock.now)
                return (
                    await client_credentials(b, client_auth(clock.now, **auth), dpop)
                ).status_code

            assert await call() == 200
            assert await call() == 200
            assert served.fetches == 1
            # A key the client added since: unknown kid → one refetch.
            new_key = jwk.ECKey.generate_key("P-256", parameters={"kid": "rotated"})
            served.keys.append(new_key)
            clock.now += 10
            assert await call(key=new_key, alg="ES256") == 200
            assert served.fetches == 2
            # Unknown kids do not make it hammer the client's server: one refetch, then none
            # until the interval has passed.
            clock.now += 10
            for _ in range(3):
                assert await call(header={"kid": "bogus"}) == 401
            assert served.fetches == 3


# -- DPoP at the token endpoint -------------------------------------------------------------


async def test_a_dpop_bound_client_must_send_a_proof(
    browser: httpx.AsyncClient, clock: Clock
) -> None:
    code, verifier = await fapi_code(browser, clock)
    response = await redeem(browser, clock, code, verifier, None)
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_request",
        "error_description": "DPoP proof required",
    }


async def test_other_clients_get_bearer_tokens_without_a_proof_and_bound_ones_with(
    browser: httpx.AsyncClient, clock: Clock
) -> None:
    form = {"client_id": "classic", "client_secret": "classic-secret"}
    plain = (await client_credentials(browser, form)).json()
    assert plain["token_type"] == "Bearer"
    assert "cnf" not in claims_of(plain["access_token"])
    key = new_dpop_key()
    bound = (
        await client_credentials(browser, form, proof(key, "POST", TOKEN_URL, now=clock.now))
    ).json()
    assert bound["token_type"] == "DPoP"
    assert claims_of(bound["access_token"])["cnf"]["jkt"] == key.thumbprint()


with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    WEAK_RSA_KEY = jwk.RSAKey.generate_key(1024)


def _hs256_proof(key: Any, now: float) -> str:
    secret = jwk.OctKey.import_key(secrets.token_bytes(32))
    return proof(key, "POST", TOKEN_URL, now=now, alg="HS256", sign_with=secret)


BAD_PROOFS: dict[str, Any] = {
    "htu another URL": lambda k, now: proof(k, "POST", ISSUER + "/par", now=now),
    "htm GET": lambda k, now: proof(k, "GET", TOKEN_URL, now=now),
    "iat too old": lambda k, now: proof(k, "POST", TOKEN_URL, now=now - 61),
    "iat in the future": lambda k, now: proof(k, "POST", TOKEN_URL, now=now + 61),
    "typ JWT": lambda k, now: proof(k, "POST", TOKEN_URL, now=now, header={"typ": "JWT"}),
    "jti missing": lambda k, now: proof(k, "POST", TOKEN_URL, now=now, jti=None),
    "alg HS256": _hs256_proof,
    "alg RS256": lambda k, now: proof(_rs256_key(), "POST", TOKEN_URL, now=now, alg="RS256"),
    "private key in the header": lambda k, now: proof(
        k, "POST", TOKEN_URL, now=now, header={"jwk": k.as_dict(private=True)}
    ),
    "signed by another key": lambda k, now: proof(
        k, "POST", TOKEN_URL, now=now, sign_with=new_dpop_key()
    ),
    "RSA key under 2048 bits": lambda k, now: proof(
        WEAK_RSA_KEY, "POST", TOKEN_URL, now=now, alg="PS256"
    ),
    "no jwk": lambda k, now: proof(k, "POST", TOKEN_URL, now=now, header={"jwk": None}),
    "not a JWS": lambda k, now: "garbage",
}


@pytest.mark.parametrize("case", sorted(BAD_PROOFS))
async def test_a_bad_proof_is_invalid_dpop_proof(
    browser: httpx.AsyncClient, clock: Clock, case: str
) -> None:
    value = BAD_PROOFS[case](new_dpop_key(), clock.now)
    response = await client_credentials(browser, client_auth(clock.now), value)
    assert response.status_code == 400, case
    assert response.json()["error"] == "invalid_dpop_proof", case


@pytest.mark.parametrize(
    ("key", "alg"),
    [
        (jwk.ECKey.generate_key("P-256"), "ES256"),
        (jwk.RSAKey.generate_key(2048), "PS256"),  # its jwk makes the header > 512 bytes
        (jwk.OKPKey.generate_key("Ed25519"), "EdDSA"),
    ],
)
@pytest.mark.filterwarnings("ignore:EdDSA is deprecated")
async def test_every_advertised_dpop_alg_binds(
    browser: httpx.AsyncClient, clock: Clock, key: Any, alg: str
) -> None:
    value = proof(key, "POST", TOKEN_URL, now=clock.now, alg=alg)
    response = await client_credentials(browser, client_auth(clock.now), value)
    assert response.status_code == 200, response.text
    assert claims_of(response.json()["access_token"])["cnf"]["jkt"] == key.thumbprint()


async def test_two_dpop_headers_are_invalid(browser: httpx.AsyncClient, clock: Clock) -> None:
    key = new_dpop_key()
    data = {"grant_type": "client_credentials", "scope": "accounts:read", **client_auth(clock.now)}
    headers = [
        ("DPoP", proof(key, "POST", TOKEN_URL, now=clock.now)),
        ("DPoP", proof(key, "POST", TOKEN_URL, now=clock.now)),
    ]
    response = await browser.post("/token", data=data, headers=headers)
    assert response.json()["error"] == "invalid_dpop_proof"


async def test_a_reused_proof_is_refused(browser: httpx.AsyncClient, clock: Clock) -> None:
    value = proof(new_dpop_key(), "POST", TOKEN_URL, now=clock.now)
    assert (await client_credentials(browser, client_auth(clock.now), value)).status_code == 200
    again = await client_credentials(browser, client_auth(clock.now), value)
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_dpop_proof"


async def test_a_proof_may_name_the_token_endpoint_with_a_query_or_other_case(
    browser: httpx.AsyncClient, clock: Clock
) -> None:
    value = proof(new_dpop_key(), "POST", "HTTP://OP.TEST:80/token?x=1", now=clock.now)
    assert (await client_credentials(browser, client_auth(clock.now), value)).status_code == 200


async def test_refresh_needs_the_same_key(browser: httpx.AsyncClient, clock: Clock) -> None:
    key = new_dpop_key()
    tokens = await bound_tokens(browser, clock, key)
    token = tokens["refresh_token"]
    other = await refresh(
        browser, clock, token, proof(new_dpop_key(), "POST", TOKEN_URL, now=clock.now)
    )
    assert other.status_code == 400
    assert other.json()["error"] == "invalid_grant"
    # The FAPI client must send a proof at all; another client's bound grant too (below).
    missing = await refresh(browser, clock, token, None)
    assert missing.json()["error"] == "invalid_request"
    # The failed attempts did not spend the refresh token.
    same = await refresh(browser, clock, token, proof(key, "POST", TOKEN_URL, now=clock.now))
    assert same.status_code == 200, same.text
    assert same.json()["token_type"] == "DPoP"
    assert claims_of(same.json()["access_token"])["cnf"]["jkt"] == key.thumbprint()


async def test_a_bound_grant_of_a_client_without_dpop_requirement_stays_bound(
    browser: httpx.AsyncClient, clock: Clock
) -> None:
    verifier, challenge = pkce()
    params = auth_params(challenge, "spa")
    got = callback(await login(browser, params))
    key = new_dpop_key()
    form = {
        "grant_type": "authorization_code",
        "code": got["code"],
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
        "client_id": "spa",
    }
    headers = {"DPoP": proof(key, "POST", TOKEN_URL, now=clock.now)}
    tokens = (await browser.post("/token", data=form, headers=headers)).json()
    assert tokens["token_type"] == "DPoP"
    data = {
        "grant_type": "refresh_token",
        "refresh_token": tokens["refresh_token"],
        "client_id": "spa",
    }
    without = await browser.post("/token", data=data)
    assert without.json()["error"] == "invalid_grant"
    with_proof = await browser.post(
        "/token", data=data, headers={"DPoP": proof(key, "POST", TOKEN_URL, now=clock.now)}
    )
    assert with_proof.status_code == 200


async def test_the_nonce_challenge(clock: Clock) -> None:
    op = make_op(clock, dpop_nonce=True)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=op.app), base_url=ISSUER) as b:
        key = new_dpop_key()
        first = await client_credentials(
            b, client_auth(clock.now), proof(key, "POST", TOKEN_URL, now=clock.now)
        )
        assert first.status_code == 400
        assert first.json()["error"] == "use_dpop_nonce"
        nonce = first.headers["dpop-nonce"]
        assert nonce == op.dpop_nonce
        # The nonce challenge comes before client authentication: the assertion is not spent.
        form = client_auth(clock.now)
        challenged = proof(key, "POST", TOKEN_URL, now=clock.now)
        assert (await client_credentials(b, form, challenged)).status_code == 400
        retried = proof(key, "POST", TOKEN_URL, now=clock.now, nonce=nonce)
        assert (await client_credentials(b, form, retried)).status_code == 200
        wrong = proof(key, "POST", TOKEN_URL, now=clock.now, nonce="stale")
        assert (await client_credentials(b, client_auth(clock.now), wrong)).json()[
            "error"
        ] == "use_dpop_nonce"
        good = proof(key, "POST", TOKEN_URL, now=clock.now, nonce=nonce)
        response = await client_credentials(b, client_auth(clock.now), good)
        assert response.status_code == 200, response.text
        # After a rotation the previous nonce is still good; after two, it is not.
        clock.now += 300
        assert op.dpop_nonce != nonce
        late = proof(key, "POST", TOKEN_URL, now=clock.now, nonce=nonce)
        assert (await client_credentials(b, client_auth(clock.now), late)).status_code == 200
        clock.now += 300
        op.dpop_nonce  # noqa: B018 - rotates
        too_late = proof(key, "POST", TOKEN_URL, now=clock.now, nonce=nonce)
        refused = await client_credentials(b, client_auth(clock.now), too_late)
        assert refused.json()["error"] == "use_dpop_nonce"
        # Nobody asked for a nonce for two lifetimes: the last one handed out is gone too.
        handed_out = op.dpop_nonce
        clock.now += 600
        idle = proof(key, "POST", TOKEN_URL, now=clock.now, nonce=handed_out)
        assert (await client_credentials(b, client_auth(clock.now), idle)).status_code == 400


# -- DPoP at userinfo ------------------------------------------------------------------------


async def test_userinfo_takes_a_bound_token_with_its_proof(
    browser: httpx.AsyncClient, clock: Clock
) -> None:
    key = new_dpop_key()
    token = (await bound_tokens(browser, clock, key))["access_token"]
    headers = {
        "Authorization": f"DPoP {token}",
        "DPoP": proof(key, "GET", USERINFO_URL, now=clock.now, ath=ath(token)),
    }
    response = await browser.get("/userinfo", headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["sub"] == "sandbox-alice"


async def test_userinfo_refusals(browser: httpx.AsyncClient, clock: Clock) -> None:
    key = new_dpop_key()
    token = (await bound_tokens(browser, clock, key))["access_token"]

    async def get(scheme: str, dpop: str | None) -> httpx.Response:
        headers = {"Authorization": f"{scheme} {token}", **({"DPoP": dpop} if dpop else {})}
        return await browser.get("/userinfo", headers=headers)

    def good(**claims: Any) -> str:
        return proof(key, "GET", USERINFO_URL, now=clock.now, **{"ath": ath(token), **claims})

    as_bearer = await get("Bearer", None)
    assert as_bearer.status_code == 401
    assert as_bearer.headers["www-authenticate"].startswith('DPoP error="invalid_token"')
    assert (await get("Bearer", good())).status_code == 401
    no_proof = await get("DPoP", None)
    assert no_proof.status_code == 401
    assert 'error="invalid_dpop_proof"' in no_proof.headers["www-authenticate"]
    assert (await get("DPoP", good(ath=ath("another token")))).status_code == 401
    assert (await get("DPoP", good(ath=None))).status_code == 401
    assert (await get("DPoP", good(htu=TOKEN_URL))).status_code == 401
    assert (await get("DPoP", good(htm="POST"))).status_code == 401
    other = proof(new_dpop_key(), "GET", USERINFO_URL, now=clock.now, ath=ath(token))
    wrong_key = await get("DPoP", other)
    assert wrong_key.status_code == 401
    assert wrong_key.headers["www-authenticate"].startswith('DPoP error="invalid_token"')
    reused = good()
    assert (await get("DPoP", reused)).status_code == 200
    assert (await get("DPoP", reused)).status_code == 401


async def test_userinfo_refuses_an_unbound_token_as_dpop(
    browser: httpx.AsyncClient, clock: Clock
) -> None:
    verifier, challenge = pkce()
    got = callback(await login(browser, auth_params(challenge, "classic")))
    form = {
        "grant_type": "authorization_code",
        "code": got["code"],
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
    }
    tokens = (await browser.post("/token", data=form, auth=("classic", "classic-secret"))).json()
    token = tokens["access_token"]
    assert (
        await browser.get("/userinfo", headers={"Authorization": f"Bearer {token}"})
    ).status_code == 200
    key = new_dpop_key()
    headers = {
        "Authorization": f"DPoP {token}",
        "DPoP": proof(key, "GET", USERINFO_URL, now=clock.now, ath=ath(token)),
    }
    assert (await browser.get("/userinfo", headers=headers)).status_code == 401


# -- the command line ------------------------------------------------------------------------


def test_the_fapi2_command_line(tmp_path: Any) -> None:
    provider, _ = build_provider(
        [
            "--port", "9123", "--fapi2",
            "--client", "app::http://127.0.0.1:8000/auth/callback:http://127.0.0.1:8000/",
            "--client-jwks-uri", "http://127.0.0.1:8000/auth/jwks",
        ]
    )  # fmt: skip
    client = provider.clients["app"]
    assert client.auth_methods == {"private_key_jwt"}
    assert client.jwks_uri == "http://127.0.0.1:8000/auth/jwks"
    assert client.dpop_bound_access_tokens and client.require_par
    assert client.post_logout_redirect_uris == ("http://127.0.0.1:8000/",)
    assert provider.metadata["require_pushed_authorization_requests"] is True
    assert provider.metadata["id_token_signing_alg_values_supported"] == ["PS256"]

    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(CLIENT_JWKS))
    provider, _ = build_provider(
        ["--client", "app::http://a.test/cb", "--client-jwks-file", str(path), "--dpop-nonce"]
    )
    assert provider.clients["app"].auth_methods == {"private_key_jwt"}
    assert not provider.clients["app"].require_par
    assert provider.dpop_nonce is not None


@pytest.mark.parametrize(
    "argv",
    [
        ["--fapi2", "--client", "app::http://a.test/cb"],  # no keys
        ["--fapi2", "--client", "app:secret:http://a.test/cb", "--client-jwks-uri", "http://k"],
    ],
)
def test_the_fapi2_command_line_refuses_half_configurations(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        build_provider(argv)


# -- DPoP at the sandbox ORCA ----------------------------------------------------------------

ORCA = "https://orca.test"
ACCOUNTS = ORCA + "/accounts"


class OrcaIssuer:
    """The issuer as ORCA sees it: discovery and JWKS through MockTransport."""

    def __init__(self) -> None:
        self.key = jwk.RSAKey.generate_key(2048, parameters={"kid": "op"})
        self.now = 1_750_000_000.0

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/.well-known/openid-configuration":
            return httpx.Response(200, json={"issuer": ISSUER, "jwks_uri": f"{ISSUER}/jwks"})
        return httpx.Response(200, json={"keys": [self.key.as_dict(private=False)]})

    def token(self, jkt: str | None) -> str:
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "sub": "sandbox-alice",
            "aud": "orca",
            "exp": int(self.now) + 60,
            "scope": "accounts:read",
        }
        if jkt is not None:
            claims["cnf"] = {"jkt": jkt}
        return jwt.encode({"alg": "PS256", "kid": "op"}, claims, self.key, algorithms=["PS256"])


@pytest.fixture
def orca_issuer() -> OrcaIssuer:
    return OrcaIssuer()


async def orca_client(
    orca_issuer: OrcaIssuer, http: httpx.AsyncClient, **options: Any
) -> httpx.AsyncClient:
    orca = SandboxOrca(ISSUER, http, clock=lambda: orca_issuer.now, **options)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=orca.app), base_url=ORCA)


@pytest.fixture
async def orca_http(orca_issuer: OrcaIssuer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.MockTransport(orca_issuer.handler)) as http:
        yield http


def orca_proof(key: Any, token: str, now: float, **claims: Any) -> str:
    return proof(key, "GET", ACCOUNTS, now=now, **{"ath": ath(token), **claims})


async def test_orca_accepts_a_bound_token_with_its_proof(
    orca_issuer: OrcaIssuer, orca_http: httpx.AsyncClient
) -> None:
    key = new_dpop_key()
    token = orca_issuer.token(key.thumbprint())
    async with await orca_client(orca_issuer, orca_http, require_dpop=True) as api:
        headers = {
            "Authorization": f"DPoP {token}",
            "DPoP": orca_proof(key, token, orca_issuer.now),
        }
        response = await api.get("/accounts", headers=headers, params={"page": "1"})
        assert response.status_code == 200, response.text


async def test_orca_refusals(orca_issuer: OrcaIssuer, orca_http: httpx.AsyncClient) -> None:
    key = new_dpop_key()
    token = orca_issuer.token(key.thumbprint())
    now = orca_issuer.now
    async with await orca_client(orca_issuer, orca_http) as api:

        async def get(scheme: str, dpop: str | None) -> httpx.Response:
            headers = {"Authorization": f"{scheme} {token}", **({"DPoP": dpop} if dpop else {})}
            return await api.get("/accounts", headers=headers)

        as_bearer = await get("Bearer", orca_proof(key, token, now))
        assert as_bearer.status_code == 401
        assert as_bearer.headers["www-authenticate"].startswith('DPoP error="invalid_token"')
        assert as_bearer.json()["error"] == "unauthorized"
        for bad in (
            None,
            orca_proof(key, token, now, ath=ath("another")),
            orca_proof(key, token, now, ath=None),
            orca_proof(key, token, now, htu=ORCA + "/cards"),
            orca_proof(key, token, now, htm="POST"),
            orca_proof(key, token, now - 120),
            orca_proof(new_dpop_key(), token, now),
        ):
            response = await get("DPoP", bad)
            assert response.status_code == 401
            assert response.headers["www-authenticate"].startswith("DPoP error=")
            assert response.json()["error"] == "unauthorized"
        reused = orca_proof(key, token, now)
        assert (await get("DPoP", reused)).status_code == 200
        replay = await get("DPoP", reused)
        assert replay.status_code == 401
        assert "already used" in replay.json()["error_description"]
        # Without require_dpop an unbound token is still fine as Bearer.
        plain = orca_issuer.token(None)
        ok = await api.get("/accounts", headers={"Authorization": f"Bearer {plain}"})
        assert ok.status_code == 200


async def test_orca_in_require_dpop_mode_refuses_unbound_tokens(
    orca_issuer: OrcaIssuer, orca_http: httpx.AsyncClient
) -> None:
    plain = orca_issuer.token(None)
    async with await orca_client(orca_issuer, orca_http, require_dpop=True) as api:
        for scheme in ("Bearer", "DPoP"):
            key = new_dpop_key()
            headers = {
                "Authorization": f"{scheme} {plain}",
                "DPoP": orca_proof(key, plain, orca_issuer.now),
            }
            response = await api.get("/accounts", headers=headers)
            assert response.status_code == 401
            assert response.headers["www-authenticate"].startswith('DPoP error="invalid_token"')
        missing = await api.get("/accounts")
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"].startswith("DPoP ")


async def test_orca_nonce_challenge(orca_issuer: OrcaIssuer, orca_http: httpx.AsyncClient) -> None:
    key = new_dpop_key()
    token = orca_issuer.token(key.thumbprint())
    async with await orca_client(orca_issuer, orca_http, dpop_nonce=True) as api:
        headers = {"Authorization": f"DPoP {token}"}
        first = await api.get(
            "/accounts", headers={**headers, "DPoP": orca_proof(key, token, orca_issuer.now)}
        )
        assert first.status_code == 401
        assert first.headers["www-authenticate"].startswith('DPoP error="use_dpop_nonce"')
        nonce = first.headers["dpop-nonce"]
        retry = orca_proof(key, token, orca_issuer.now, nonce=nonce)
        assert (await api.get("/accounts", headers={**headers, "DPoP": retry})).status_code == 200
        # A token presented wrongly gets no nonce: no proof would make it acceptable.
        fresh = orca_proof(key, token, orca_issuer.now, nonce=nonce)
        as_bearer = await api.get(
            "/accounts", headers={"Authorization": f"Bearer {token}", "DPoP": fresh}
        )
        assert as_bearer.status_code == 401
        assert as_bearer.headers["www-authenticate"].startswith('DPoP error="invalid_token"')
        assert "dpop-nonce" not in as_bearer.headers


async def test_orca_refuses_a_confirmation_it_does_not_understand(
    orca_issuer: OrcaIssuer, orca_http: httpx.AsyncClient
) -> None:
    claims = claims_of(orca_issuer.token(None)) | {"cnf": {"x5t#S256": "abc"}}
    header = {"alg": "PS256", "kid": "op"}
    token = jwt.encode(header, claims, orca_issuer.key, algorithms=["PS256"])
    key = new_dpop_key()
    async with await orca_client(orca_issuer, orca_http) as api:
        for scheme in ("Bearer", "DPoP"):
            headers = {
                "Authorization": f"{scheme} {token}",
                "DPoP": orca_proof(key, token, orca_issuer.now),
            }
            response = await api.get("/accounts", headers=headers)
            assert response.status_code == 401
            assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'


async def test_orca_behind_a_proxy_checks_htu_against_its_public_url(
    orca_issuer: OrcaIssuer, orca_http: httpx.AsyncClient
) -> None:
    key = new_dpop_key()
    token = orca_issuer.token(key.thumbprint())
    public = "https://app.example.com/sandbox/orca/v1"
    async with await orca_client(orca_issuer, orca_http, public_url=public) as api:
        headers = {"Authorization": f"DPoP {token}"}
        internal = orca_proof(key, token, orca_issuer.now)
        assert (
            await api.get("/accounts", headers={**headers, "DPoP": internal})
        ).status_code == 401
        external = proof(key, "GET", public + "/accounts", now=orca_issuer.now, ath=ath(token))
        assert (
            await api.get("/accounts", headers={**headers, "DPoP": external})
        ).status_code == 200


# -- malformed input: a 4xx, never a 500 -------------------------------------------------------


def _deep_jws(depth: int) -> str:
    """A compact JWS whose header and payload are JSON nested ``depth`` deep."""
    deep = b64url(b"[" * depth)
    return f"{deep}.{deep}.c2ln"


@pytest.mark.parametrize("depth", [3_000, 100_000])
async def test_a_deeply_nested_dpop_proof_is_a_400(
    browser: httpx.AsyncClient, clock: Clock, depth: int
) -> None:
    response = await client_credentials(browser, client_auth(clock.now), _deep_jws(depth))
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_dpop_proof"


@pytest.mark.parametrize("depth", [3_000, 100_000])
async def test_a_deeply_nested_client_assertion_is_a_401(
    browser: httpx.AsyncClient, depth: int
) -> None:
    form = {"client_assertion_type": ASSERTION_TYPE, "client_assertion": _deep_jws(depth)}
    response = await client_credentials(browser, form)
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_client"


async def test_an_access_token_with_an_unknown_cnf_is_refused_at_userinfo(
    op: SandboxProvider, browser: httpx.AsyncClient, clock: Clock
) -> None:
    key = new_dpop_key()
    tokens = await bound_tokens(browser, clock, key)
    claims = claims_of(tokens["access_token"]) | {"cnf": {"x5t#S256": "abc"}}
    forged = op.sign(claims)
    headers = {
        "Authorization": f"DPoP {forged}",
        "DPoP": proof(key, "GET", USERINFO_URL, now=clock.now, ath=ath(forged)),
    }
    response = await browser.get("/userinfo", headers=headers)
    assert response.status_code == 401


# -- authorization code binding (RFC 9449 10) --------------------------------------------------

PAR_URL = ISSUER + "/par"


async def _bound_code(
    b: httpx.AsyncClient, clock: Clock, key: Any, **extra: str
) -> tuple[str, str, httpx.Response]:
    """A code pushed with a DPoP proof of ``key`` (and ``extra`` parameters)."""
    verifier, challenge = pkce()
    pushed = await b.post(
        "/par",
        data={**auth_params(challenge, **extra), **client_auth(clock.now)},
        headers={"DPoP": proof(key, "POST", PAR_URL, now=clock.now)},
    )
    if pushed.status_code != 201:
        return "", verifier, pushed
    request_uri = pushed.json()["request_uri"]
    got = callback(await login(b, {"client_id": "fapi", "request_uri": request_uri}))
    return got["code"], verifier, pushed


async def test_a_code_pushed_with_a_proof_is_redeemed_only_with_that_key(
    browser: httpx.AsyncClient, clock: Clock
) -> None:
    key, thief = new_dpop_key(), new_dpop_key()
    code, verifier, _ = await _bound_code(browser, clock, key)
    stolen = await redeem(
        browser, clock, code, verifier, proof(thief, "POST", TOKEN_URL, now=clock.now)
    )
    assert stolen.status_code == 400 and stolen.json()["error"] == "invalid_grant"

    code, verifier, _ = await _bound_code(browser, clock, key)
    mine = await redeem(
        browser, clock, code, verifier, proof(key, "POST", TOKEN_URL, now=clock.now)
    )
    assert mine.status_code == 200, mine.text
    assert claims_of(mine.json()["access_token"])["cnf"]["jkt"] == key.thumbprint()


async def test_dpop_jkt_and_the_par_proof_must_name_one_key(
    browser: httpx.AsyncClient, clock: Clock
) -> None:
    key = new_dpop_key()
    _, _, pushed = await _bound_code(browser, clock, key, dpop_jkt=new_dpop_key().thumbprint())
    assert pushed.status_code == 400 and pushed.json()["error"] == "invalid_dpop_proof"


async def test_dpop_jkt_binds_a_plain_authorization_request(clock: Clock) -> None:
    op = SandboxProvider(
        ISSUER, [fapi_client(require_par=False)], clock=clock, id_token_alg="PS256"
    )
    key, thief = new_dpop_key(), new_dpop_key()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=op.app), base_url=ISSUER) as b:
        verifier, challenge = pkce()
        params = auth_params(challenge, dpop_jkt=key.thumbprint())
        code = callback(await login(b, params))["code"]
        proof_of = proof(thief, "POST", TOKEN_URL, now=clock.now)
        assert (await redeem(b, clock, code, verifier, proof_of)).status_code == 400

        verifier, challenge = pkce()
        code = callback(await login(b, auth_params(challenge, dpop_jkt=key.thumbprint())))["code"]
        proof_of = proof(key, "POST", TOKEN_URL, now=clock.now)
        assert (await redeem(b, clock, code, verifier, proof_of)).status_code == 200


async def test_a_par_proof_without_the_servers_nonce_is_challenged(clock: Clock) -> None:
    op = make_op(clock, dpop_nonce=True)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=op.app), base_url=ISSUER) as b:
        _, _, pushed = await _bound_code(b, clock, new_dpop_key())
    assert pushed.status_code == 400 and pushed.json()["error"] == "use_dpop_nonce"
    assert pushed.headers["DPoP-Nonce"]
