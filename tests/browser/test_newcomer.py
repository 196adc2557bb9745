"""The newcomer's path through the demo, as a workshop attendee clicks it."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from tests.browser._support import (
    assert_no_token,
    external_provider_env,
    log_in,
    nav,
    run_app,
    run_provider,
    sandbox_login,
    shot,
)
from tests.servers import Server, free_port

if TYPE_CHECKING:
    from playwright.sync_api import Page


def _seconds_left(page: Page) -> int:
    text = page.locator("#token-ttl").inner_text()
    match = re.fullmatch(r"Expires in (\d+) s", text)
    assert match, f"countdown shows {text!r}"
    return int(match.group(1))


def _expires_at(page: Page) -> float:
    return float(page.locator("#token-ttl").get_attribute("data-expires-at") or "nan")


def test_home_login_accounts_transactions_cards_profile_refresh_logout(
    page: Page, app: Server
) -> None:
    base = app.base_url
    # The pages' strict CSP (no inline script or style) must block nothing they need.
    violations: list[str] = []
    page.on(
        "console",
        lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
    )
    # Nothing a page loads is missing: no 404 in the console (the favicon was one).
    missing: list[str] = []
    page.on(
        "response",
        lambda r: (
            missing.append(r.url)
            if r.request.resource_type != "document" and r.status >= 400
            else None
        ),
    )

    # Home, logged out: the sandbox banner and a "Log in" button.
    page.goto(base + "/")
    assert page.get_by_role("note").inner_text().startswith("Sandbox mode")
    assert page.get_by_role("heading", level=1).inner_text() == "Welcome to Example Bank"
    shot(page, "home")

    # "Log in" → the sandbox provider's login page → back on the app, logged in.
    page.get_by_role("main").get_by_role("link", name="Log in").click()
    page.wait_for_url(re.compile(re.escape(base) + r"/sandbox/op/authorize\?"))
    assert page.get_by_role("heading", level=1).inner_text() == "Log in"
    page.get_by_label("Username").fill("alice")
    shot(page, "sandbox-login")
    sandbox_login(page, "alice")
    page.wait_for_url(base + "/")
    assert page.get_by_role("heading", level=1).inner_text().startswith("Hello, Alice")
    shot(page, "home-logged-in")

    # Accounts: a table of them.
    nav(page, "Accounts")
    page.wait_for_url(base + "/accounts")
    assert page.get_by_role("heading", level=1).inner_text() == "Your accounts"
    links = page.get_by_role("main").get_by_role("table").get_by_role("link")
    assert links.count() >= 2
    assert_no_token(page)
    shot(page, "accounts")

    # One account: its balance and transactions.
    name = links.first.inner_text()
    links.first.click()
    page.wait_for_url(re.compile(re.escape(base) + r"/accounts/[^/]+$"))
    assert page.get_by_role("heading", level=1).inner_text() == name
    assert page.get_by_role("heading", name="Transactions").is_visible()
    assert page.locator("main table tbody tr").count() >= 1
    assert_no_token(page)
    shot(page, "account")

    # Cards.
    nav(page, "Cards")
    page.wait_for_url(base + "/cards")
    assert page.locator(".payment-card").count() >= 1
    assert_no_token(page)
    shot(page, "cards")

    # Profile: the ID token's claims and the access token's countdown, running in the page.
    nav(page, "Profile")
    page.wait_for_url(base + "/profile")
    claims = page.locator("table.claims")
    assert claims.get_by_role("cell", name="sub", exact=True).is_visible()
    assert claims.get_by_role("cell", name="email", exact=True).is_visible()
    first = _seconds_left(page)
    assert 0 < first <= 60
    assert not page.locator("#token-due").is_visible()  # not due yet: 30 s to go at least
    page.wait_for_timeout(1_500)
    assert _seconds_left(page) < first, "the countdown does not count down"
    assert_no_token(page)
    shot(page, "profile", full_page=True)  # the claims are below the fold

    # "Refresh now": a new access token, so the expiry moves later and the countdown restarts.
    before = _expires_at(page)
    page.get_by_role("button", name="Refresh now").click()
    page.wait_for_url(base + "/profile")
    page.wait_for_function(f"document.getElementById('token-ttl').dataset.expiresAt > {before}")
    assert _expires_at(page) > before
    assert _seconds_left(page) >= 58
    assert abs(_expires_at(page) - (time.time() + _seconds_left(page))) < 5
    assert_no_token(page)

    # Log out (a POST form in the header) → the provider's logout → home, logged out. The
    # provider sends the browser back with the logout's ``state``; the app takes it out of the
    # address bar, and says so.
    mark = len(app.log())
    page.get_by_role("banner").get_by_role("button", name="Log out").click()
    page.wait_for_url(base + "/")
    assert page.get_by_role("status").inner_text() == "You are signed out. See you soon."
    assert page.get_by_role("heading", level=1).inner_text() == "Welcome to Example Bank"
    assert page.get_by_role("navigation", name="Main").count() == 0
    session = page.request.get(base + "/auth/session")
    assert session.status == 401
    assert session.json() == {"authenticated": False}
    assert violations == []
    assert missing == []
    # The provider told the app of the logout on the back channel too; the session had already
    # ended here, so that is no news worth a line at INFO.
    log = app.log()[mark:]
    assert 'POST /auth/backchannel-logout HTTP/1.1" 200' in log
    assert "back-channel logout ended" not in log


def test_access_token_refreshes_by_itself(page: Page, tmp_path: Path) -> None:
    """No button: the kit refreshes a due token on the next ORCA call.

    The embedded sandbox's access tokens live 60 s and the app has no setting to shorten them,
    so this app logs in at the sandbox provider run on its own with 4 s tokens. The kit's
    refresh leeway is capped at half a token's life: the token is due after 2 s.
    """
    port = free_port()
    app_url = f"http://127.0.0.1:{port}"
    with (
        run_provider(tmp_path, "provider", app_url, access_token_ttl=4) as issuer,
        run_app(tmp_path, "app", external_provider_env(issuer), port=port) as app,
    ):
        log_in(page, app.base_url, "alice")
        page.goto(app.base_url + "/profile")
        first = _expires_at(page)
        assert _seconds_left(page) <= 4
        # Due from the start (4 s tokens, under the 30 s leeway): said in words, not only colour.
        assert page.locator("#token-due").inner_text().endswith("Due for refresh")

        # Wait until the token is due, then do what the page says: reload it (it calls ORCA).
        page.wait_for_timeout(max(0.0, first - 2 - time.time()) * 1000 + 300)
        page.reload()
        grants = httpx.get(issuer + "/_sandbox/stats").json()["grant_counts"]
        assert grants.get("refresh_token", 0) >= 1, grants
        page.reload()
        assert _expires_at(page) > first
        assert _seconds_left(page) >= 2, "the countdown did not restart"
        assert_no_token(page)
