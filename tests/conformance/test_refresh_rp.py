"""OpenID Connect RP refresh tests (``oidcc-client-refreshtoken-test-plan``).

Played through the app's own API route: ``GET /api/accounts`` calls the resource server with
the user's access token, which the kit refreshes when due. The provider's refresh response
carries a new ID token; OpenID Connect Core 12.2 requires its ``iss`` and ``sub`` to be the
original ones, or the refresh (and the session) must not be used.
"""

from __future__ import annotations

from urllib.parse import parse_qs

import httpx
import pytest

from tests.conformance.conftest import RP, SESSION_COOKIE, RPFactory
from tests.conformance.misbehaving_op import MisbehavingOP
from tests.conftest import Clock

#: The login's access token lives 300 s; with the default 30 s leeway it is due at 270 s.
LIFETIME = 300
DUE = 280


@pytest.fixture
async def logged_in(rp: RP, op: MisbehavingOP) -> tuple[str, str]:
    """A user logged in; the login's access token and refresh token."""
    op.token_body["expires_in"] = LIFETIME
    await rp.assert_logged_in(await rp.login())
    (access_token,) = op.issued_access_tokens
    (refresh_token,) = op.refresh_tokens
    return access_token, refresh_token


async def _assert_session_ended(rp: RP, response: httpx.Response, cookie: str) -> None:
    """401 ``login_required``, the cookie deleted, and the session gone server side too."""
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "login_required"
    assert any(
        c.startswith(f'{SESSION_COOKIE}=""') for c in response.headers.get_list("set-cookie")
    )
    replay = await rp.browser.get(
        "/auth/session", headers=[(b"cookie", f"{SESSION_COOKIE}={cookie}".encode())]
    )
    assert replay.status_code == 401


async def test_oidcc_client_test_refresh_token(
    rp: RP, op: MisbehavingOP, clock: Clock, logged_in: tuple[str, str]
) -> None:
    """oidcc-client-test-refresh-token: a due access token is refreshed with the refresh
    token (client authentication included), and the API is called with the new one."""
    login_access, login_refresh = logged_in
    assert (await rp.browser.get("/api/accounts")).status_code == 200
    assert rp.api.seen == [login_access] and op.hits["token"] == 1  # not due: no refresh
    clock.advance(DUE)

    response = await rp.browser.get("/api/accounts")

    assert response.status_code == 200, response.text
    assert op.hits["token"] == 2
    grant = op.requests_to("token")[-1]
    form = parse_qs(grant.content.decode())
    assert form["grant_type"] == ["refresh_token"]
    assert form["refresh_token"] == [login_refresh]
    assert grant.headers["authorization"].startswith("Basic ")
    refreshed = op.issued_access_tokens[-1]
    assert refreshed != login_access
    assert rp.api.seen == [login_access, refreshed]
    assert (await rp.browser.get("/api/accounts")).status_code == 200
    assert rp.api.seen[-1] == refreshed and op.hits["token"] == 2  # stored: no new grant
    assert (await rp.session()).status_code == 200


async def test_oidcc_client_test_refresh_token_invalid_issuer(
    rp: RP, op: MisbehavingOP, clock: Clock, logged_in: tuple[str, str]
) -> None:
    """oidcc-client-test-refresh-token-invalid-issuer: the refresh response's ID token has
    another ``iss``: the session ends (401 ``login_required``) and the access token of that
    response is never used."""
    cookie = rp.browser.cookies[SESSION_COOKIE]
    clock.advance(DUE)
    op.misbehave("oidcc-client-test-refresh-token-invalid-issuer")

    response = await rp.browser.get("/api/accounts")

    assert op.hits["token"] == 2  # the refresh happened...
    assert rp.api.seen == []  # ...and its access token never reached the API
    await _assert_session_ended(rp, response, cookie)


async def test_oidcc_client_test_refresh_token_invalid_sub(
    rp: RP, op: MisbehavingOP, clock: Clock, logged_in: tuple[str, str]
) -> None:
    """oidcc-client-test-refresh-token-invalid-sub: the refresh response's ID token is about
    another user: the session ends and that response's access token is never used."""
    cookie = rp.browser.cookies[SESSION_COOKIE]
    clock.advance(DUE)
    op.misbehave("oidcc-client-test-refresh-token-invalid-sub")

    response = await rp.browser.get("/api/accounts")

    assert op.hits["token"] == 2
    assert rp.api.seen == []
    await _assert_session_ended(rp, response, cookie)


async def test_oidcc_client_test_refresh_token_signing_key_rotation_just_before_signing(
    op: MisbehavingOP, rp_factory: RPFactory, clock: Clock
) -> None:
    """signing-key-rotation-just-before-signing, met by a refresh instead of a login.

    The JWKS cache is refreshed on first use after ``discovery_ttl`` (1 h). When that happens
    moments before the provider rotates its key, a login in the next ``jwks_refetch_interval``
    (60 s) is refused and the user simply retries (see the Config RP test). A refresh in that
    window is worse: the refresh response's ID token names the new ``kid``, the refetch is
    not allowed yet, ``_refreshed_claims`` treats the token as invalid and deletes the
    session — a routine key rotation logs users out. The refresh response comes from the
    token endpoint over TLS, so its ``kid`` cannot be forged by a third party: a certified RP
    should refetch (or at least keep the session and answer 503), never end it.
    """
    rp = await rp_factory(session_idle_timeout=2 * 3600)
    await rp.assert_logged_in(await rp.login())  # t0, user A: the JWKS (k1) is cached
    cookie_a = rp.browser.cookies[SESSION_COOKIE]
    clock.advance(3601)  # user A's token has expired; the cached JWKS is past discovery_ttl
    await rp.switch_browser()
    await rp.assert_logged_in(await rp.login())  # user B logs in: the JWKS is fetched again
    assert op.hits["jwks"] == 2
    op.rotate("k2")  # the provider rotates its signing key moments later
    clock.advance(10)

    response = await rp.browser.get(  # user A is back: her token is refreshed
        "/api/accounts", headers=[(b"cookie", f"{SESSION_COOKIE}={cookie_a}".encode())]
    )

    assert op.hits["token"] == 3  # two logins, one refresh
    assert response.status_code != 401, response.text
    replay = await rp.browser.get(
        "/auth/session", headers=[(b"cookie", f"{SESSION_COOKIE}={cookie_a}".encode())]
    )
    assert replay.status_code == 200  # user A is still logged in
