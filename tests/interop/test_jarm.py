"""Interop: JWT-secured authorization responses (JARM) against oidc-provider (issue 19, item 3).

``provider.js`` with ``JARM=1`` (``features.jwtResponseModes``): ``query.jwt``,
``form_post.jwt`` and ``jwt`` advertised, with ``authorization_signing_alg_values_supported``,
and the responses signed with the provider's key. One provider for the module, two example
apps: the main client with ``OIDC_RESPONSE_MODE=query.jwt``, the second client (the provider's
"no cards" one) with ``form_post.jwt``. Each login is checked from both ends: what the app's
callback received (the ``response`` parameter alone, a signed JWT) and what the provider logged
it sent (``event=jarm.response``).
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs

import httpx
import pytest

from tests.interop.stack import Browser, Stack, stack_for
from tests.servers import Server


@pytest.fixture(scope="module")
def jarm_stack(
    node: str, framework: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp(f"jarm-{framework}")
    with stack_for(
        node,
        tmp,
        provider_settings={"JARM": "1"},
        app_settings={"OIDC_RESPONSE_MODE": "query.jwt"},
        framework=framework,
        second_client=True,
    ) as s:
        yield s


@pytest.fixture(scope="module")
def form_post_app(jarm_stack: Stack, framework: str) -> Iterator[Server]:
    """The second client's app, with ``OIDC_RESPONSE_MODE=form_post.jwt``."""
    with jarm_stack.second_app(
        "form-post-jwt-app",
        app_settings={"OIDC_RESPONSE_MODE": "form_post.jwt"},
        framework=framework,
    ) as app:
        yield app


def _callbacks(browser: Browser) -> list[httpx.Request]:
    """Record every request the browser makes to the app's callback."""
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> None:
        if request.url.path == "/auth/callback":
            request.read()
            seen.append(request)

    browser.http.event_hooks["request"].append(record)
    return seen


def _is_signed_jwt(value: str) -> bool:
    return value.count(".") == 2 and all(value.split("."))


def test_discovery_advertises_jarm(jarm_stack: Stack) -> None:
    meta = httpx.get(f"{jarm_stack.provider.issuer}/.well-known/openid-configuration").json()
    assert {"query.jwt", "form_post.jwt", "jwt"} <= set(meta["response_modes_supported"])
    assert "RS256" in meta["authorization_signing_alg_values_supported"]


def test_login_with_query_jwt(jarm_stack: Stack) -> None:
    """The app asks for ``query.jwt``; the callback's query is ``response`` alone, a signed
    JWT the kit verifies; the user is logged in."""
    provider = jarm_stack.provider
    mark = provider.mark()
    with jarm_stack.browser() as browser:
        callbacks = _callbacks(browser)

        answer = browser.login("alice")

        assert answer.status_code == 303, answer.text
        assert browser.session_body()["sub"] == "alice"
    (callback,) = callbacks
    assert callback.method == "GET"
    query = parse_qs(callback.url.query.decode())
    assert list(query) == ["response"] and _is_signed_jwt(query["response"][0])
    [sent] = provider.lines(r"event=jarm\.response", since=mark)
    assert "mode=query alg=RS256 " in sent
    assert "claims=aud,code,exp,iss,state" in sent
    assert provider.lines(r"event=grant\.success grant_type=authorization_code", since=mark)


def test_login_with_form_post_jwt(jarm_stack: Stack, form_post_app: Server) -> None:
    """``form_post.jwt``: the provider's page POSTs ``response`` alone to the callback."""
    provider = jarm_stack.provider
    mark = provider.mark()
    with jarm_stack.browser(form_post_app) as browser:
        callbacks = _callbacks(browser)

        browser.login("bob")

        assert browser.session_body()["sub"] == "bob"
    (callback,) = callbacks
    assert callback.method == "POST"
    form = parse_qs(callback.content.decode())
    assert list(form) == ["response"] and _is_signed_jwt(form["response"][0])
    [sent] = provider.lines(r"event=jarm\.response", since=mark)
    assert "mode=form_post alg=RS256 " in sent
