"""``client_secret_jwt`` at the sandbox provider (RFC 7523 2.2, OpenID Connect Core 9): a client
registered with it authenticates with an HS256 assertion keyed by its secret, checked as
``private_key_jwt`` assertions are (``iss``/``sub``, ``aud``, ``exp``, ``jti`` replay), and with
nothing else.

Assertions are made here with joserfc, not with the kit's client (one test excepted, which
checks that the kit's assertion is accepted), so that these tests say what the provider accepts.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from joserfc import jwk, jwt

from oidc_kit._client_auth import ClientAuth, ClientSecretJwt
from oidc_kit.testing import SandboxClient, SandboxProvider
from oidc_kit.testing.__main__ import build_provider

ISSUER = "http://op.test"
REDIRECT = "http://app.test/auth/callback"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
SECRET = "a-client-secret-of-32-bytes-or-more"
NOW = 1_700_000_000


def assertion(
    *, secret: str = SECRET, alg: str = "HS256", key: Any = None, **overrides: Any
) -> str:
    """An assertion for client ``jwt``; ``overrides`` change claims (None drops one)."""
    claims: dict[str, Any] = {
        "iss": "jwt",
        "sub": "jwt",
        "aud": ISSUER,
        "iat": NOW,
        "exp": NOW + 60,
        "jti": secrets.token_urlsafe(12),
        **overrides,
    }
    claims = {k: v for k, v in claims.items() if v is not None}
    signing_key = key if key is not None else jwk.OctKey.import_key(secret.encode())
    return jwt.encode({"alg": alg}, claims, signing_key, algorithms=[alg])


def client_auth(token: str) -> dict[str, str]:
    return {"client_assertion_type": ASSERTION_TYPE, "client_assertion": token}


@pytest.fixture
def op() -> SandboxProvider:
    clients = [
        SandboxClient("jwt", SECRET, (REDIRECT,), token_endpoint_auth_method="client_secret_jwt"),
        SandboxClient("classic", "classic-secret-that-is-32-bytes-long", (REDIRECT,)),
    ]
    return SandboxProvider(ISSUER, clients, clock=lambda: NOW)


@pytest.fixture
async def browser(op: SandboxProvider) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=op.app)
    async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as client:
        yield client


async def grant(
    b: httpx.AsyncClient, form: dict[str, str], auth: httpx.Auth | None = None
) -> httpx.Response:
    data = {"grant_type": "client_credentials", "scope": "accounts:read", **form}
    return await b.post("/token", data=data, auth=auth or httpx.USE_CLIENT_DEFAULT)


async def test_a_good_assertion_authenticates(browser: httpx.AsyncClient) -> None:
    response = await grant(browser, client_auth(assertion()))
    assert response.status_code == 200, response.text
    response = await grant(browser, {"client_id": "jwt", **client_auth(assertion())})
    assert response.status_code == 200, response.text


async def test_the_kits_assertion_is_accepted_at_every_request(
    browser: httpx.AsyncClient,
) -> None:
    """The kit's ``ClientSecretJwt``, as ``ClientAuth`` sends it: a new ``jti`` each time."""
    auth = ClientAuth(ClientSecretJwt("jwt", SECRET, ISSUER), lambda: NOW)
    for _ in range(2):
        response = await grant(browser, {}, auth)
        assert response.status_code == 200, response.text


def _wrong_key(alg: str) -> Callable[[], str]:
    key = jwk.RSAKey.generate_key(2048) if alg == "PS256" else jwk.ECKey.generate_key("P-256")
    return lambda: assertion(alg=alg, key=key)


BAD_ASSERTIONS: dict[str, Callable[[], str]] = {
    "wrong secret": lambda: assertion(secret="another-secret-of-32-bytes-or-more!"),
    "another client's secret": lambda: assertion(secret="classic-secret-that-is-32-bytes-long"),
    "alg HS384": lambda: assertion(alg="HS384"),
    "alg PS256": _wrong_key("PS256"),
    "alg ES256": _wrong_key("ES256"),
    "aud the token endpoint": lambda: assertion(aud=ISSUER + "/token"),
    "aud another issuer": lambda: assertion(aud="http://other.test"),
    "aud missing": lambda: assertion(aud=None),
    "expired": lambda: assertion(exp=NOW - 1),
    "exp missing": lambda: assertion(exp=None),
    "exp too far": lambda: assertion(exp=NOW + 3600),
    "iss another client": lambda: assertion(iss="classic"),
    "jti missing": lambda: assertion(jti=None),
}


@pytest.mark.parametrize("case", sorted(BAD_ASSERTIONS))
async def test_a_bad_assertion_is_invalid_client(browser: httpx.AsyncClient, case: str) -> None:
    response = await grant(browser, {"client_id": "jwt", **client_auth(BAD_ASSERTIONS[case]())})
    assert response.status_code == 401, (case, response.text)
    assert response.json()["error"] == "invalid_client"


async def test_a_replayed_assertion_is_refused(browser: httpx.AsyncClient) -> None:
    form = client_auth(assertion())
    assert (await grant(browser, form)).status_code == 200
    again = await grant(browser, form)
    assert again.status_code == 401
    assert "already used" in again.json()["error_description"]


async def test_the_secret_itself_is_refused_for_this_client(browser: httpx.AsyncClient) -> None:
    """Registered for ``client_secret_jwt``: the secret in Basic or the form is not enough."""
    basic = await grant(browser, {}, httpx.BasicAuth("jwt", SECRET))
    posted = await grant(browser, {"client_id": "jwt", "client_secret": SECRET})
    for response in (basic, posted):
        assert response.status_code == 401
        assert "client_secret_jwt" in response.json()["error_description"]


async def test_a_basic_client_cannot_switch_to_an_assertion(browser: httpx.AsyncClient) -> None:
    secret = "classic-secret-that-is-32-bytes-long"
    response = await grant(
        browser, client_auth(assertion(secret=secret, iss="classic", sub="classic"))
    )
    assert response.status_code == 401
    assert "client_secret_basic" in response.json()["error_description"]


async def test_revocation_takes_the_assertion(browser: httpx.AsyncClient) -> None:
    token = (await grant(browser, client_auth(assertion()))).json()["access_token"]
    wrong = await browser.post(
        "/revoke", data={"token": token, **client_auth(assertion(secret="x" * 40))}
    )
    assert wrong.status_code == 401
    done = await browser.post("/revoke", data={"token": token, **client_auth(assertion())})
    assert done.status_code == 200


def test_discovery_advertises_it_only_with_such_a_client(op: SandboxProvider) -> None:
    meta = op.metadata
    assert "client_secret_jwt" in meta["token_endpoint_auth_methods_supported"]
    assert meta["token_endpoint_auth_signing_alg_values_supported"] == ["PS256", "ES256", "HS256"]
    plain = SandboxProvider(ISSUER, [SandboxClient("c", "s", (REDIRECT,))], clock=lambda: NOW)
    assert "client_secret_jwt" not in plain.metadata["token_endpoint_auth_methods_supported"]
    assert "HS256" not in plain.metadata["token_endpoint_auth_signing_alg_values_supported"]


@pytest.mark.parametrize(
    ("secret", "message"),
    [(None, "cannot use a client secret"), ("short-secret", "32-byte secret")],
)
def test_a_client_secret_jwt_client_needs_a_long_secret(secret: str | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SandboxClient("c", secret, (REDIRECT,), token_endpoint_auth_method="client_secret_jwt")


def test_the_command_line_switch_registers_clients_with_a_secret_for_it() -> None:
    spec = f"jwt:{SECRET}:{REDIRECT}"
    provider, _ = build_provider(
        ["--client", spec, "--client", f"spa::{REDIRECT}", "--client-secret-jwt"]
    )
    assert "client_secret_jwt" in provider.metadata["token_endpoint_auth_methods_supported"]
    with pytest.raises(SystemExit, match="32-byte secret"):
        build_provider(["--client", f"c:short:{REDIRECT}", "--client-secret-jwt"])
