"""Interop (issue 13, items 3 and 4): RFC 8414 metadata and extra authorization parameters,
the real example_app process against oidc-provider.

One provider for the module, started with ``RFC8414=1`` (its revocation and introspection
endpoints only in ``/.well-known/oauth-authorization-server``, not in OpenID discovery) and
``USERINFO_TOKENS=1`` (no default resource: without an RFC 8707 ``resource`` parameter its
access tokens are its own opaque ones, which ORCA refuses). The app runs with
``OIDC_RESOURCE=urn:portx:orca`` and ``OIDC_AUTH_PARAMS=ui_locales=de``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

from oidc_kit.cli import main
from tests.interop.stack import (
    CLIENT_ID,
    CLIENT_SECRET,
    ORCA_RESOURCE,
    Browser,
    Stack,
    stack_for,
    wait_until,
)

APP_ENV = {"OIDC_RESOURCE": ORCA_RESOURCE, "OIDC_AUTH_PARAMS": "ui_locales=de"}


@pytest.fixture(scope="module")
def stack(node: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("metadata-params")
    provider_settings = {"RFC8414": "1", "USERINFO_TOKENS": "1"}
    with stack_for(node, tmp, provider_settings=provider_settings, app_settings=APP_ENV) as s:
        yield s


def test_logout_revokes_at_the_endpoint_only_rfc8414_metadata_names(
    stack: Stack, browser: Browser
) -> None:
    """Discovery has no revocation_endpoint; the kit reads RFC 8414 metadata and revokes the
    refresh token there at logout (oidc-provider then revokes the whole grant)."""
    provider = stack.provider
    mark = provider.mark()
    browser.login("alice")
    # The kit read both documents (once: the app's discovery cache).
    assert provider.lines(r"GET /\.well-known/openid-configuration 200", since=mark)
    assert provider.lines(r"GET /\.well-known/oauth-authorization-server 200", since=mark)
    mark = provider.mark()

    answer = browser.post("/auth/logout", headers={"Origin": stack.app.base_url})

    assert answer.status_code == 303, answer.text
    assert browser.session().status_code == 401
    assert provider.lines(r"POST /token/revocation 200", since=mark)
    assert provider.lines(r"event=grant\.revoked .*route=revocation", since=mark)


def test_the_doctor_says_where_the_revocation_endpoint_came_from(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    issuer = stack.provider.issuer
    argv = ["doctor", "--issuer", issuer, "--client-id", CLIENT_ID, "--allow-insecure-http"]
    main([*argv, "--client-secret", CLIENT_SECRET, "--json"])
    checks = {c["name"]: c for c in json.loads(capsys.readouterr().out)["checks"]}
    assert checks["revocation"]["status"] == "ok"
    assert checks["revocation"]["detail"] == (
        f"logout revokes tokens at {issuer}/token/revocation (from oauth-authorization-server)"
    )
    assert (
        "revocation, introspection from oauth-authorization-server"
        in (checks["endpoints"]["detail"])
    )


def test_the_resource_indicator_gets_an_orca_token_and_refresh_keeps_it(
    stack: Stack, browser: Browser
) -> None:
    """With no default resource at the provider, only the kit's ``resource`` parameter (at
    authorization and with the code and refresh grants) makes the access token ORCA's JWT."""
    provider = stack.provider
    mark = provider.mark()

    browser.login("alice")

    [issued] = provider.lines(r"event=access_token\.issued", since=mark)
    assert f"format=jwt client={CLIENT_ID} aud={ORCA_RESOURCE}" in issued
    accounts = browser.get("/api/accounts")  # the sandbox ORCA checks aud, scope, signature
    assert accounts.status_code == 200, accounts.text

    expires_at = browser.expires_at()
    mark = provider.mark()
    wait_until(expires_at + 0.01)
    accounts = browser.get("/api/accounts")

    assert accounts.status_code == 200, accounts.text
    [grant] = provider.lines(r"event=grant\.(success|error)", since=mark)
    assert "grant.success grant_type=refresh_token" in grant
    assert "accounts:read" in grant
    [issued] = provider.lines(r"event=access_token\.issued", since=mark)
    assert f"format=jwt client={CLIENT_ID} aud={ORCA_RESOURCE}" in issued


def test_configured_and_login_url_parameters_reach_the_provider(
    stack: Stack, browser: Browser
) -> None:
    """``OIDC_AUTH_PARAMS`` and the login URL's ``login_hint`` are in the authorization
    request, which oidc-provider accepts; an unlisted login URL parameter is not."""
    start = browser.get("/auth/login", params={"login_hint": "alice", "acr": "x"})
    assert start.status_code == 303, start.text
    query = parse_qs(urlsplit(start.headers["location"]).query)
    assert query["ui_locales"] == ["de"]
    assert query["login_hint"] == ["alice"]
    assert query["resource"] == [ORCA_RESOURCE]
    assert "acr" not in query

    done = browser.follow(start, user="alice")

    assert done.status_code == 303, done.text
    assert browser.session_body()["sub"] == "alice"
