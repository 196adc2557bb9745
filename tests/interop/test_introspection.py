"""Interop (issue 19, item 4): token introspection (RFC 7662) against oidc-provider.

One provider for the module, started with ``INTROSPECTION=1``: ``features.introspection`` on
and no default resource, so its access tokens are its own opaque ones, whose state only it
knows. The demo (``python -m example_app``) answers ``GET /api/token`` with
``OIDCAuth.introspect``: a logged-in user's token is active (its scope, ``sub``,
``client_id``), and the provider logs that the kit authenticated with ``client_secret_basic``.
After logout (which revokes the grant) the same token, read from the app's sealed store as an
operator could, is inactive to an ``Introspector`` built from a ``ProviderConfig`` alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from oidc_kit import Introspector, OIDCConfig, ProviderConfig
from oidc_kit._cookie_signer import CookieSigner
from oidc_kit._session import Sessions
from oidc_kit.stores import open_store
from tests.interop.stack import (
    CLIENT_ID,
    CLIENT_SECRET,
    SESSION_SECRET,
    Browser,
    Stack,
    stack_for,
)

#: Long enough that no refresh happens during a test (the kit refreshes at half of it).
TTL = 300


@pytest.fixture(scope="module")
def stack(node: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("introspection")
    with stack_for(node, tmp, provider_settings={"INTROSPECTION": "1"}, ttl=TTL) as s:
        yield s


def stored_access_token(stack: Stack, browser: Browser) -> str:
    """The session's access token, unsealed from the app's SQLite store with its secret."""
    config = OIDCConfig(
        issuer=stack.provider.issuer,
        client_id=CLIENT_ID,
        base_url=stack.app.base_url,
        session_secrets=(SESSION_SECRET,),
        allow_insecure_http=True,
    )
    cookie = browser.http.cookies["oidc_session"]
    sid = CookieSigner(config.session_secrets, config.login_timeout).session_id(cookie)
    assert sid is not None

    async def read() -> str:
        store = open_store(f"sqlite:///{stack.tmp / 'app-sessions.db'}")
        try:
            session = await Sessions(config, store).load(sid)
            assert session is not None
            return Sessions(config, store).tokens(session).access_token
        finally:
            await store.close()

    return asyncio.run(read())


def introspect(stack: Stack, token: str) -> bool:
    """What a resource server holding ``token`` learns, with the client's credentials."""
    config = ProviderConfig(
        issuer=stack.provider.issuer,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        allow_insecure_http=True,
    )

    async def ask() -> bool:
        async with httpx.AsyncClient() as http:
            return (await Introspector(config, http_client=http).introspect(token)).active

    return asyncio.run(ask())


def test_discovery_names_the_introspection_endpoint(stack: Stack) -> None:
    meta = httpx.get(f"{stack.provider.issuer}/.well-known/openid-configuration").json()
    assert meta["introspection_endpoint"] == f"{stack.provider.issuer}/token/introspection"


def test_a_users_token_is_active_until_logout(stack: Stack, browser: Browser) -> None:
    provider = stack.provider
    assert browser.login("alice").status_code == 303
    mark = provider.mark()

    answer = browser.get("/api/token")

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["active"] is True
    assert body["sub"] == "alice" and body["client_id"] == CLIENT_ID
    assert "openid" in body["scope"].split() and body["iss"] == provider.issuer
    assert "token" not in body and "access_token" not in body
    # The kit authenticated as it does at the token endpoint (client_secret_basic).
    [line] = provider.lines(r"introspection client=", since=mark)
    assert f"client={CLIENT_ID} auth=basic token_client={CLIENT_ID}" in line
    assert provider.lines(r"POST /token/introspection 200", since=mark)
    # Asked again within introspection_cache_ttl: the kit's cache answers.
    assert browser.get("/api/token").json()["active"] is True
    assert len(provider.lines(r"POST /token/introspection", since=mark)) == 1

    token = stored_access_token(stack, browser)
    assert introspect(stack, token) is True
    logout = browser.post("/auth/logout", headers={"Origin": stack.app.base_url})
    assert logout.status_code == 303, logout.text

    assert introspect(stack, token) is False  # revoked at logout
    gone = browser.get("/api/token", headers={"Accept": "application/json"})
    assert gone.status_code == 401 and gone.json()["error"] == "login_required"


def test_the_profile_page_shows_the_providers_word(stack: Stack, browser: Browser) -> None:
    assert browser.login("bob").status_code == 303
    page = browser.get("/profile")
    assert page.status_code == 200, page.text
    assert 'id="token-introspection"' in page.text and ">active<" in page.text
