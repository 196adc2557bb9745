"""Interop, client authentication: ``client_secret_jwt`` (RFC 7523 2.2, OpenID Connect Core 9)
through the kit against oidc-provider.

``provider.js`` with ``CLIENT_AUTH_METHOD=client_secret_jwt`` registers the app's client with
that method (HS256): oidc-provider then refuses any request of the client that authenticates
otherwise (a secret in Basic or the form, an assertion of another algorithm). The app runs with
``OIDC_TOKEN_AUTH_METHOD=client_secret_jwt``. In this mode the provider logs, per request, the
client assertion it received (header and claims, never the signature) and ``client_auth=``, the
method it authenticated the client with; the tests read login, refresh and logout revocation
from there.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.interop.stack import (
    CLIENT_ID,
    CLIENT_SECRET,
    Browser,
    Stack,
    json_field,
    print_logs,
    stack_for,
    wait_until,
)

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@pytest.fixture(scope="module")
def secret_jwt_stack(node: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("client-secret-jwt")
    with stack_for(
        node,
        tmp,
        provider_settings={"CLIENT_AUTH_METHOD": "client_secret_jwt"},
        app_settings={"OIDC_TOKEN_AUTH_METHOD": "client_secret_jwt"},
    ) as s:
        yield s


@pytest.fixture
def browser(secret_jwt_stack: Stack) -> Iterator[Browser]:
    with secret_jwt_stack.browser() as b:
        yield b


@pytest.fixture(autouse=True)
def _logs(secret_jwt_stack: Stack) -> Iterator[None]:
    yield
    print_logs(secret_jwt_stack)


def _assert_client_secret_jwt(line: str, issuer: str) -> None:
    """The request line: the provider authenticated the client with ``client_secret_jwt``,
    from an HS256 assertion whose claims the kit sets, and no secret was sent."""
    assert line.endswith(" client_auth=client_secret_jwt"), line
    assert "client_secret=1" not in line, line  # neither in Basic nor in the form
    assertion = json_field(line, "client_assertion")
    assert assertion == {
        "type": ASSERTION_TYPE,
        "alg": "HS256",
        "typ": "JWT",
        "iss": CLIENT_ID,
        "sub": CLIENT_ID,
        "aud": issuer,  # the issuer, as for private_key_jwt
        "lifetime": 60,
        "jti": True,
    }, line


def test_the_provider_offers_client_secret_jwt(secret_jwt_stack: Stack) -> None:
    issuer = secret_jwt_stack.provider.issuer
    meta = httpx.get(f"{issuer}/.well-known/openid-configuration").json()
    assert "client_secret_jwt" in meta["token_endpoint_auth_methods_supported"]
    assert "HS256" in meta["token_endpoint_auth_signing_alg_values_supported"]


def test_login_refresh_and_logout_revocation(secret_jwt_stack: Stack, browser: Browser) -> None:
    """The code exchange, a refresh and logout's revocation each authenticate with a fresh
    ``client_secret_jwt`` assertion (a reused ``jti`` would be refused by the provider)."""
    provider, issuer = secret_jwt_stack.provider, secret_jwt_stack.provider.issuer
    mark = provider.mark()

    answer = browser.login("alice")

    assert answer.status_code == 303, answer.text
    assert browser.session_body()["sub"] == "alice"
    [token] = provider.lines(r"POST /token 200", since=mark)
    _assert_client_secret_jwt(token, issuer)
    assert provider.lines(r"event=grant\.success grant_type=authorization_code", since=mark)

    # Refresh once the access token has expired.
    expires_at = browser.expires_at()
    wait_until(expires_at + 0.01)
    mark = provider.mark()
    assert browser.get("/api/accounts").status_code == 200
    [refresh] = provider.lines(r"POST /token 200", since=mark)
    _assert_client_secret_jwt(refresh, issuer)
    assert provider.refresh_grants(since=mark) == 1
    assert browser.expires_at() > expires_at

    # Logout revokes the refresh token (oidc-provider revokes the whole grant).
    mark = provider.mark()
    answer = browser.post("/auth/logout", headers={"Origin": secret_jwt_stack.app.base_url})
    assert answer.status_code == 303, answer.text
    revocations = provider.lines(r"POST /token/revocation 200", since=mark)
    assert revocations, provider.log()[-2000:]
    for line in revocations:
        _assert_client_secret_jwt(line, issuer)
    assert provider.lines(r"event=grant\.revoked .*route=revocation", since=mark)
    assert browser.session().status_code == 401


def test_a_secret_in_basic_is_refused_for_this_client(secret_jwt_stack: Stack) -> None:
    """The provider really requires the registered method: the same client's secret sent in
    HTTP Basic (what the kit does by default) is ``invalid_client``."""
    answer = httpx.post(
        f"{secret_jwt_stack.provider.issuer}/token",
        data={"grant_type": "refresh_token", "refresh_token": "x"},
        auth=(CLIENT_ID, CLIENT_SECRET),
    )
    assert answer.status_code == 401, answer.text
    assert answer.json()["error"] == "invalid_client"
