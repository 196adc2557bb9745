"""Interop: the real example app processes (the Starlette demo, the Flask and the Django
examples) against panva's oidc-provider (OpenID Certified).

The provider (``provider.js``) is configured like a strict production provider: PKCE required,
client_secret_basic, refresh tokens issued and rotated, JWT access tokens for the ORCA
resource, RP-initiated and back-channel logout, revocation, clock tolerance 0. Each test is one
browser driving the provider's own login, consent and logout pages over HTTP; the app calls
its sandbox ORCA, which validates the provider's JWT access tokens against the provider's JWKS.

What the provider did is read from its log (one line per request and per event, e.g.
``event=grant.success grant_type=refresh_token``). Expiry is waited for for real (two processes:
no clock can be injected), so access tokens live 3 to 5 seconds here.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.interop.stack import (
    ACCESS_TOKEN_TTL,
    NOCARDS_CLIENT_ID,
    Browser,
    RotationStack,
    Stack,
    demo_only,
    forms,
    print_logs,
    signing_key,
    stacks_used,
    wait_until,
)
from tests.servers import Server

# --- login and userinfo ---------------------------------------------------------------------------


def test_login(stack: Stack, browser: Browser) -> None:
    """Login through the provider's login and consent pages; the session is alice's."""
    mark = stack.provider.mark()

    answer = browser.login("alice", next_path="/accounts")

    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/accounts"
    assert browser.provider_pages == ["login", "consent"]
    session = browser.session_body()
    assert session["authenticated"] is True
    assert session["sub"] == "alice"
    claims = session["claims"]
    assert isinstance(claims, dict)
    assert claims["iss"] == stack.provider.issuer
    assert claims["aud"] == "example-app"
    # One code grant (PKCE checked by the provider), answered with a signed ID token and a
    # JWT access token, both signed with the provider's key.
    [grant] = stack.provider.lines(r"event=grant\.success", since=mark)
    assert "grant_type=authorization_code client=example-app sub=alice" in grant
    assert "id_token_kid=-" not in grant and "access_token_kid=-" not in grant


def test_userinfo(stack: Stack, browser: Browser) -> None:
    """The profile claims reach the session, from the ID token: oidc-provider's userinfo
    refuses an access token issued for another audience (ORCA's), and the kit then keeps the
    ID token's claims with a warning instead of failing the login."""
    mark, app_mark = stack.provider.mark(), len(stack.app.log())

    browser.login("bob")

    claims = browser.session_body()["claims"]
    assert isinstance(claims, dict)
    assert claims["sub"] == "bob"
    assert claims["email"] == "bob@example.com"
    assert claims["email_verified"] is True
    assert claims["name"] == "Bob Berg"
    # The kit did call userinfo, and oidc-provider refused the JWT access token bound to ORCA.
    assert stack.provider.lines(r"GET /me 401", since=mark)
    [refusal] = stack.provider.lines(r"event=userinfo\.error", since=mark)
    assert "error=invalid_token" in refusal
    app_log = stack.app.log()[app_mark:]
    assert "userinfo refused the access token (401); using ID token claims" in app_log


# --- ORCA and refresh -----------------------------------------------------------------------------


def test_accounts_at_the_sandbox_orca(stack: Stack, browser: Browser) -> None:
    """/api/accounts: the sandbox ORCA accepts the provider's JWT access token (signature
    from the provider's JWKS, ``iss``, ``aud`` = the ORCA resource, ``accounts:read``)."""
    mark = stack.provider.mark()
    browser.login("alice")

    response = browser.get("/api/accounts")

    assert response.status_code == 200, response.text
    accounts = response.json()["data"]
    assert accounts and all(a["id"].startswith("acc-") for a in accounts)
    [grant] = stack.provider.lines(r"grant_type=authorization_code", since=mark)
    assert "accounts:read" in grant and "access_token_kid=-" not in grant
    # ORCA fetched the provider's JWKS (through discovery) to check the token.
    assert stack.provider.lines(r"GET /jwks 200")


def test_refresh_after_expiry(stack: Stack, browser: Browser) -> None:
    """An expired access token is refreshed before the ORCA call; the provider rotates the
    refresh token and answers a new ID token, and the rotated refresh token works next."""
    provider = stack.provider
    browser.login("alice")
    assert browser.get("/api/accounts").status_code == 200

    for _ in range(2):
        expires_at = browser.expires_at()
        mark = provider.mark()
        wait_until(expires_at + 0.01)

        response = browser.get("/api/accounts")

        assert response.status_code == 200, response.text
        [grant] = provider.lines(r"event=grant\.(success|error)", since=mark)
        assert "grant.success grant_type=refresh_token client=example-app" in grant
        assert "id_token_kid=-" not in grant  # a new ID token, which the kit validated
        assert len(provider.lines(r"event=refresh_token\.consumed", since=mark)) == 1
        assert browser.expires_at() > expires_at
        assert browser.session_body()["sub"] == "alice"


async def test_refresh_storm(stack: Stack, browser: Browser) -> None:
    """50 concurrent /api/accounts once the token has expired: one refresh grant, all 200."""
    browser.login("alice")
    expires_at = browser.expires_at()
    await asyncio.sleep(max(0.0, expires_at + 0.01 - time.time()))
    mark = stack.provider.mark()

    async with httpx.AsyncClient(
        base_url=stack.app.base_url, cookies=browser.http.cookies, timeout=30
    ) as client:
        started = time.monotonic()
        answers = await asyncio.gather(*(client.get("/api/accounts") for _ in range(50)))
        elapsed = time.monotonic() - started

    print(f"50 concurrent /api/accounts took {elapsed:.2f} s")
    assert [a.status_code for a in answers] == [200] * 50, {a.text for a in answers}
    # The refreshed token is due again after ACCESS_TOKEN_TTL / 2: the burst must end before,
    # or a second refresh would be right.
    assert elapsed < ACCESS_TOKEN_TTL / 2, f"the burst took {elapsed:.2f} s"
    assert stack.provider.refresh_grants(since=mark) == 1
    assert not stack.provider.lines(r"event=grant\.error", since=mark)


# --- logout ---------------------------------------------------------------------------------------


def test_rp_initiated_logout(stack: Stack, browser: Browser) -> None:
    """POST /auth/logout → the provider's end-session page (id_token_hint) → its confirmation
    form → back to the app; the app's session and the provider's are both over."""
    provider = stack.provider
    browser.login("alice")
    # While the provider's session lives, a new login is silent single sign-on.
    browser.provider_pages.clear()
    assert browser.login("alice").status_code == 303
    assert browser.provider_pages == []
    mark = provider.mark()

    answer = browser.post("/auth/logout", headers={"Origin": stack.app.base_url})

    assert answer.status_code == 303, answer.text
    end_session = urlsplit(answer.headers["location"])
    assert f"{end_session.scheme}://{end_session.netloc}" == provider.issuer
    assert end_session.path == "/session/end"
    params = {k: v[0] for k, v in parse_qs(end_session.query).items()}
    assert params["post_logout_redirect_uri"] == stack.app.base_url + "/"
    assert params["client_id"] == "example-app"
    assert params["id_token_hint"].count(".") == 2
    assert params["state"]
    assert browser.session().status_code == 401  # the app's session ended at once
    # ... and revoked its refresh token: oidc-provider revokes the whole grant.
    assert provider.lines(r"event=grant\.revoked .*route=revocation", since=mark)

    page = browser.get(answer.headers["location"])
    [form] = forms(page)
    assert form.action.endswith("/session/end/confirm")
    assert "xsrf" in form.fields
    assert ("logout", "yes", "Yes, sign me out") in form.buttons
    back = browser.follow(page)

    assert back.status_code == 200
    # Back at the app's landing with the logout's state (the kit checks it); the demo moves
    # on to its clean address and says so.
    if not back.url.params:
        assert "You are signed out" in back.text
    assert back.url.copy_with(query=None) == httpx.URL(f"{stack.app.base_url}/")
    assert provider.lines(r"event=end_session\.success", since=mark)
    # The provider also sent the app a logout token for this session (already over there).
    assert provider.lines(r"event=backchannel\.success client=example-app sub=alice", since=mark)
    assert browser.session().status_code == 401
    # The provider's session is over too: the next login asks for credentials again.
    browser.provider_pages.clear()
    assert browser.login("alice").status_code == 303
    assert browser.provider_pages[0] == "login"


def _logout_at_the_provider(browser: Browser) -> httpx.Response:
    """The user signs out at the provider itself: its end-session page without any hint."""
    page = browser.get(f"{browser.issuer}/session/end")
    assert page.status_code == 200, page.text
    done = browser.follow(page)
    assert done.url.path == "/session/end/success", done.url
    return done


def test_backchannel_logout_initiated_at_the_provider(stack: Stack, browser: Browser) -> None:
    """The provider's session ends at the provider: it POSTs a logout token to
    /auth/backchannel-logout, and the app's session for that provider session ends."""
    browser.login("bob")
    sid = browser.session_body()["claims"]["sid"]  # type: ignore[index]
    assert browser.get("/api/accounts").status_code == 200
    mark, app_mark = stack.provider.mark(), len(stack.app.log())

    _logout_at_the_provider(browser)

    [sent] = stack.provider.lines(r"event=backchannel\.", since=mark)
    assert sent.endswith(f"event=backchannel.success client=example-app sub=bob sid={sid}")
    assert "back-channel logout ended 1 session(s)" in stack.app.log()[app_mark:]
    assert browser.session().status_code == 401
    accounts = browser.get("/api/accounts")
    assert accounts.status_code == 401
    assert accounts.json()["error"] == "login_required"


# --- keys and scopes ------------------------------------------------------------------------------


def test_signing_key_rotation(rotation_stack: RotationStack) -> None:
    """The provider restarts with a new signing key first in its JWKS and the old one kept.

    The existing session keeps working (its old-key access token is still accepted) and
    refreshes (new-key ID token: the kit refetches the JWKS at once for the unknown kid); a
    new login validates the new kid; a logout token signed with the new key is accepted.

    ORCA is first called after the rotation: the sandbox ORCA, like most resource servers,
    refetches a JWKS for an unknown kid at most once a minute, so had it fetched the JWKS
    just before, it would refuse new-key tokens for up to a minute (docs/providers.md: publish
    a new key before signing with it).
    """
    s = rotation_stack
    with s.browser() as alice:
        alice.login("alice")
        assert s.provider.lines(r"grant_type=authorization_code .*id_token_kid=old-key")

        old = json.loads(s.jwks_file.read_text())["keys"]
        s.jwks_file.write_text(json.dumps({"keys": [signing_key("new-key"), *old]}))
        s.provider.restart()
        assert s.provider.lines(r"listening .*kids=new-key,old-key")

        # Still the old-key access token: no refresh yet, and ORCA accepts it.
        mark = s.provider.mark()
        assert alice.get("/api/accounts").status_code == 200
        assert s.provider.refresh_grants(since=mark) == 0

        # Once due (half of the 5 s lifetime), the refresh answers new-key tokens.
        wait_until(alice.expires_at() - 2.5 + 0.2)
        assert alice.get("/api/accounts").status_code == 200
        [refresh] = s.provider.lines(r"grant_type=refresh_token ", since=mark)
        assert "id_token_kid=new-key access_token_kid=new-key" in refresh
        assert alice.session_body()["sub"] == "alice"

    with s.browser() as bob:
        mark = s.provider.mark()
        bob.login("bob")
        [login] = s.provider.lines(r"grant_type=authorization_code", since=mark)
        assert "sub=bob id_token_kid=new-key" in login
        assert bob.session_body()["sub"] == "bob"
        assert bob.get("/api/accounts").status_code == 200

        _logout_at_the_provider(bob)
        assert s.provider.lines(r"event=backchannel\.success client=example-app sub=bob", mark)
        assert bob.session().status_code == 401


@demo_only
def test_a_scope_the_provider_does_not_grant(stack: Stack, nocards_app: Server) -> None:
    """The provider grants this client no ``cards:read``: ORCA answers 403, /api/cards passes
    it through as ORCA sent it, and the /cards page explains which scope is missing."""
    provider = stack.provider
    with stack.browser(nocards_app) as browser:
        mark = provider.mark()
        browser.login("alice")
        [grant] = provider.lines(r"grant_type=authorization_code", since=mark)
        assert f"client={NOCARDS_CLIENT_ID} sub=alice" in grant
        assert "accounts:read" in grant and "cards:read" not in grant
        assert browser.get("/api/accounts").status_code == 200
        mark = provider.mark()

        api = browser.get("/api/cards")
        page = browser.get("/cards")

    assert api.status_code == 403
    assert api.json() == {
        "error": "forbidden",
        "error_description": "The access token does not grant the cards:read scope",
    }
    assert page.status_code == 403
    assert "ORCA refused: your login does not grant <code>cards:read</code>." in page.text
    # A 403 is not a reason to refresh: the token is valid, it lacks a scope.
    assert provider.refresh_grants(since=mark) == 0


@pytest.fixture(autouse=True)
def _logs(request: pytest.FixtureRequest) -> Iterator[None]:
    stacks = stacks_used(request, "stack", "rotation_stack")
    yield
    print_logs(*stacks)


@demo_only
def test_the_cards_page_does_not_blame_oidc_scopes_for_a_declined_scope(
    stack: Stack, nocards_app: Server
) -> None:
    """``cards:read`` is in the app's scopes (the default OIDC_SCOPES); the provider declined
    it. Logging in again cannot help: the page should say the provider did not grant it."""
    with stack.browser(nocards_app) as browser:
        browser.login("alice")
        page = browser.get("/cards")

    assert page.status_code == 403
    assert "Check <code>OIDC_SCOPES</code>" not in page.text
