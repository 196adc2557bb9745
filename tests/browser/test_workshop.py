"""The workshop guide's last steps (docs/workshop.md), clicked as the guide says.

A scope left out of ``OIDC_SCOPES`` shows ORCA's 403 clearly, and logging out at the sandbox
provider's session page ends the app's session through back-channel logout.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from tests.browser._support import log_in, nav, run_app, shot
from tests.servers import Server

if TYPE_CHECKING:
    from playwright.sync_api import Page

WITHOUT_CARDS = "openid profile email offline_access accounts:read transactions:read parties:read"


def test_missing_scope_shows_a_403(page: Page, tmp_path: Path) -> None:
    with run_app(tmp_path, "app", {"OIDC_SCOPES": WITHOUT_CARDS}) as app:
        log_in(page, app.base_url, "alice")
        nav(page, "Accounts")
        assert page.get_by_role("heading", level=1).inner_text() == "Your accounts"

        with page.expect_response(app.base_url + "/cards") as cards:
            nav(page, "Cards")
        assert cards.value.status == 403
        notice = page.locator(".notice")
        assert "cards:read" in notice.inner_text()
        assert page.get_by_role("main").get_by_text("OIDC_SCOPES").is_visible()
        shot(page, "missing-scope")


def test_backchannel_logout_from_the_provider(page: Page, app: Server) -> None:
    log_in(page, app.base_url, "alice")

    page.goto(app.base_url + "/sandbox/op/session")
    main = page.get_by_role("main")
    assert "as alice" in main.inner_text()
    assert "example-app" in main.inner_text()
    shot(page, "sandbox-session")

    mark = len(app.log())
    page.get_by_role("button", name="Log out of the provider everywhere").click()
    page.wait_for_url(app.base_url + "/sandbox/op/session/logout")
    assert "1 app was notified" in main.inner_text()

    # The provider POSTed a logout token to the app: the app's session is gone, and its log
    # says so.
    assert page.request.get(app.base_url + "/auth/session").status == 401
    assert "back-channel logout ended 1 session(s)" in app.log()[mark:]
    page.get_by_role("link", name="Back to example-app").click()
    page.wait_for_url(app.base_url + "/")
    assert page.get_by_role("heading", level=1).inner_text() == "Welcome to Example Bank"
