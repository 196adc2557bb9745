"""Every page of the demo checked by a real accessibility engine, at a laptop's and a phone's width.

axe-core comes from the npm registry, pinned by tests/browser/package-lock.json and installed
by ``make test`` (``npm ci`` here); the test reads ``node_modules/axe-core/axe.min.js`` and
injects it into each page with Playwright, never from a CDN. Without it the test skips with a
one-line reason, except under ``CI=true``, where it fails.

One browser profile and one login walk the pages in sequence; each page is checked at 1280 px,
then at 375 px (the viewport resized in place: the phone layout's media queries apply), and
every violation of impact "serious" or "critical" is listed at the end.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.browser._support import sandbox_login
from tests.browser.conftest import DESKTOP, TIMEOUT_MS
from tests.browser.test_phone import PHONE
from tests.servers import Server

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Route

AXE = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"
FAILING_IMPACTS = frozenset({"serious", "critical"})
WIDTHS = (DESKTOP, PHONE)

#: axe's verdicts, in the page: the violations of every rule, each with its nodes' selectors.
_RUN_AXE = """async () => {
  const results = await axe.run(document, {resultTypes: ["violations"]});
  return results.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    targets: v.nodes.map(n => n.target.join(" ")),
  }));
}"""


def _axe_script() -> Path:
    if not AXE.exists():
        reason = "axe-core is not installed (make test installs it: npm ci in tests/browser)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"the accessibility test cannot skip under CI=true: {reason}")
        pytest.skip(reason)
    return AXE


class Audit:
    """Runs axe on the page it is shown, at each width, and keeps the serious findings."""

    def __init__(self, page: Page, script: Path) -> None:
        self.page = page
        self.script = script
        self.findings: list[str] = []
        self.pages: list[str] = []

    def check(self, name: str) -> None:
        page = self.page
        page.wait_for_load_state("load")
        if not page.evaluate("typeof window.axe !== 'undefined'"):
            page.add_script_tag(path=self.script)
        for size in WIDTHS:
            page.set_viewport_size(size)
            violations: list[dict[str, Any]] = page.evaluate(_RUN_AXE)
            for v in violations:
                if v["impact"] in FAILING_IMPACTS:
                    where = ", ".join(v["targets"][:5])
                    self.findings.append(
                        f"{name} @ {size['width']} px: {v['id']} ({v['impact']}): "
                        f"{v['help']} — {where}"
                    )
        page.set_viewport_size(DESKTOP)
        self.pages.append(name)


def _kit_page(name: str, context: dict[str, Any]) -> str:
    """A kit page the walk cannot reach (a refusal by the app's ``on_login`` hook), rendered
    as the running app renders it: its templates, the kit's page renderer."""
    from example_app.templating import make_templates
    from oidc_kit._pages import KitPages

    templates = make_templates(app_name="Example Bank", sandbox_banner=None)
    response = KitPages(env=templates.env).render(name, 403, context)
    return bytes(response.body).decode()


def test_no_serious_accessibility_violations_on_any_page(browser: Browser, app: Server) -> None:
    script = _axe_script()
    base = app.base_url
    # Bypass the pages' CSP for axe's own script only: it is injected inline.
    context = browser.new_context(
        viewport=DESKTOP, bypass_csp=True, locale="en-GB", timezone_id="UTC"
    )
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    audit = Audit(page, script)
    try:
        page.goto(base + "/")
        audit.check("home, logged out")
        page.keyboard.press("Tab")  # the first stop: past the banner and the header
        skip = page.locator(":focus")
        assert skip.inner_text() == "Skip to content" and skip.is_visible()

        page.get_by_role("main").get_by_role("link", name="Log in").click()
        page.wait_for_url(re.compile(r".*/authorize\b.*"))
        audit.check("sandbox provider's login")

        # Cancel at the provider: the app's own page says so, and offers to try again.
        page.get_by_role("button", name="Cancel").click()
        page.wait_for_url(re.compile(re.escape(base) + r"/auth/callback\?.*"))
        assert page.get_by_role("heading", level=1).inner_text() == "Sign-in cancelled"
        assert page.get_by_role("main").get_by_role("link", name="Sign in").is_visible()
        assert page.get_by_role("banner").get_by_role("link", name="Example Bank").is_visible()
        audit.check("sign-in cancelled")

        page.goto(base + "/auth/callback?code=made-up&state=made-up")
        audit.check("sign-in problem")

        denied = base + "/denied-by-the-apps-hook"
        html = _kit_page("denied", {"description": "Your account is not enabled here."})

        def fulfil(route: Route) -> None:
            route.fulfill(status=403, content_type="text/html; charset=utf-8", body=html)

        page.route(denied, fulfil)
        page.goto(denied)
        audit.check("sign-in refused")
        page.unroute(denied)

        page.goto(base + "/")
        page.get_by_role("main").get_by_role("link", name="Log in").click()
        page.wait_for_url(re.compile(r".*/authorize\b.*"))
        sandbox_login(page, "alice")
        page.wait_for_url(base + "/")
        audit.check("home")

        for path, name in (
            ("/accounts", "accounts"),
            ("/accounts/acc-1001", "a current account"),
            ("/accounts/acc-1003", "a credit card account"),
            ("/cards", "cards"),
            ("/profile", "profile"),
            ("/nowhere", "page not found"),
            ("/sandbox/op/session", "sandbox provider's session"),
            ("/auth/logout", "logout confirmation"),
        ):
            page.goto(base + path)
            audit.check(name)

        page.get_by_role("main").get_by_role("button", name="Log out").click()
        page.wait_for_url(re.compile(re.escape(base) + r"/(\?.*)?$"))
        page.get_by_text("You are signed out").wait_for()
        audit.check("signed out")
    finally:
        context.close()

    assert len(audit.pages) == 15
    assert not audit.findings, "axe-core: serious or critical violations\n" + "\n".join(
        audit.findings
    )
