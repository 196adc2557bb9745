"""Interop: ID-token and logout-token algorithms against oidc-provider (issue 13, item 1).

``provider.js`` with ``ID_TOKEN_ALG=ES256``: an EC P-256 key (kid ``es256-key``) next to its
RSA one, so discovery advertises RS256 and ES256, and both clients registered with
``id_token_signed_response_alg`` ES256. One provider for the module, two apps: the main client
with ``OIDC_ID_TOKEN_ALG=ES256`` (matching its registration), and the second client (the
provider's "no cards" client, registered the same way) with ``OIDC_ID_TOKEN_ALG=RS256``, a kit
expecting what the provider does not send.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.interop.stack import NOCARDS_CLIENT_ID, Stack, stack_for
from tests.servers import Server

EC_KID = "es256-key"


@pytest.fixture(scope="module")
def es256_stack(node: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("es256")
    with stack_for(
        node,
        tmp,
        provider_settings={"ID_TOKEN_ALG": "ES256"},
        app_settings={"OIDC_ID_TOKEN_ALG": "ES256"},
        second_client=True,
    ) as s:
        yield s


@pytest.fixture(scope="module")
def rs256_app(es256_stack: Stack) -> Iterator[Server]:
    """The second client's app, configured for RS256 ID tokens: the provider sends ES256."""
    with es256_stack.second_app("rs256-app", app_settings={"OIDC_ID_TOKEN_ALG": "RS256"}) as app:
        yield app


def test_login_with_the_registered_es256(es256_stack: Stack) -> None:
    """The provider advertises RS256 and ES256 and signs this client's ID token ES256, as
    registered; the kit, set to the registration (``OIDC_ID_TOKEN_ALG=ES256``), logs in."""
    provider = es256_stack.provider
    meta = httpx.get(f"{provider.issuer}/.well-known/openid-configuration").json()
    assert {"RS256", "ES256"} <= set(meta["id_token_signing_alg_values_supported"])
    mark = provider.mark()

    with es256_stack.browser() as browser:
        answer = browser.login("alice")

        assert answer.status_code == 303, answer.text
        assert browser.session_body()["sub"] == "alice"
    [grant] = provider.lines(r"event=grant\.success grant_type=authorization_code", since=mark)
    assert f"id_token_kid={EC_KID} " in grant  # signed with the EC key: ES256


def test_an_es256_logout_token_ends_the_session(es256_stack: Stack) -> None:
    """Logout tokens are signed like ID tokens (ES256 here): the kit accepts them under the
    same rule, and the session ends."""
    with es256_stack.browser() as browser:
        browser.login("bob")
        mark, app_mark = es256_stack.provider.mark(), len(es256_stack.app.log())

        page = browser.get(f"{browser.issuer}/session/end")  # sign out at the provider
        assert browser.follow(page).url.path == "/session/end/success"

        [sent] = es256_stack.provider.lines(r"event=backchannel\.", since=mark)
        assert "event=backchannel.success client=example-app sub=bob" in sent
        assert "back-channel logout ended 1 session(s)" in es256_stack.app.log()[app_mark:]
        assert browser.session().status_code == 401


def test_a_kit_expecting_rs256_refuses_the_es256_id_token(
    es256_stack: Stack, rs256_app: Server
) -> None:
    """The provider issues the ID token (ES256) and the kit refuses it: ``invalid_id_token``,
    no session."""
    provider = es256_stack.provider
    mark = provider.mark()

    with es256_stack.browser(rs256_app) as browser:
        answer = browser.login("alice")

        assert answer.status_code == 400, answer.text
        assert "<code>invalid_id_token</code>" in answer.text
        assert "ID token algorithm not allowed" in answer.text
        assert browser.session().status_code == 401
    [grant] = provider.lines(r"event=grant\.success grant_type=authorization_code", since=mark)
    assert f"client={NOCARDS_CLIENT_ID} " in grant and f"id_token_kid={EC_KID} " in grant
