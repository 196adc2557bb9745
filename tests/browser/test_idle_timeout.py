"""The idle-timeout warning in a real browser (static/idle.js): shown before the session's idle
end with the focus on "Stay signed in", which extends the session; a page then left alone goes
to the signed-out home page when the session ends.

The app runs with ``SESSION_IDLE_TIMEOUT=6``: the warning's lead is then half of it (3 s; a
minute with real timeouts), so the whole story takes about 10 s, not half an hour.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.browser._support import log_in, run_app
from tests.browser.test_accessibility import FAILING_IMPACTS, _axe_script
from tests.servers import Server

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

IDLE = 6
WARNING = re.compile(r"You will be signed out in \d+ s for inactivity")


@pytest.fixture(scope="module")
def idle_app(browser: Browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {"SESSION_IDLE_TIMEOUT": str(IDLE)}
    with run_app(tmp_path_factory.mktemp("idle"), "idle", env) as server:
        yield server


def _serious_violations_in(page: Page, selector: str) -> list[str]:
    """axe's serious and critical findings within ``selector`` (the dialog, while shown).

    axe is served as if from the app's origin (the pages' CSP, kept on here to show that it
    lets the warning's own script and its POST through, refuses an inline script)."""
    url = page.url.split("?")[0].rstrip("/") + "/__axe.js"
    page.route(url, lambda route: route.fulfill(path=_axe_script()))
    page.add_script_tag(url=url)
    found: list[dict[str, str]] = page.evaluate(
        """async (selector) => (await axe.run(selector, {resultTypes: ["violations"]}))
            .violations.map(v => ({id: v.id, impact: v.impact}))""",
        selector,
    )
    return [f"{v['id']} ({v['impact']})" for v in found if v["impact"] in FAILING_IMPACTS]


def _idle_expires_at(page: Page, base: str) -> float:
    """``/auth/session``'s idle end, asked with the page's cookies (no activity: the kit
    writes ``last_seen`` back at most once a minute)."""
    response = page.request.get(base + "/auth/session")
    assert response.status == 200, response.text()
    value: float = response.json()["idle_expires_at"]
    return value


def test_the_warning_comes_stay_signed_in_extends_then_idle_signs_out(
    page: Page, idle_app: Server
) -> None:
    base = idle_app.base_url
    log_in(page, base)
    before = _idle_expires_at(page, base)

    dialog = page.get_by_role("alertdialog", name=WARNING)
    dialog.wait_for(state="visible", timeout=IDLE * 1000)
    focused = page.locator(":focus")  # keyboard users land on the button
    assert focused.inner_text() == "Stay signed in" and focused.get_attribute("id") == "idle-stay"
    assert _serious_violations_in(page, "#idle-warning") == []
    page.evaluate("window.notReloaded = true")

    page.keyboard.press("Enter")  # the focused button, as a keyboard user would
    dialog.wait_for(state="hidden")
    after = _idle_expires_at(page, base)
    assert after > before, (before, after)
    assert page.evaluate("window.notReloaded") is True  # the same page, still signed in

    # Left alone: the warning again, then the session ends and the page says so.
    dialog.wait_for(state="visible", timeout=IDLE * 1000)
    page.wait_for_url(base + "/?ended=idle", timeout=(IDLE + 3) * 1000)
    main = page.get_by_role("main")
    assert main.get_by_role("link", name="Log in").is_visible()  # not logged in again
    assert "signed out after a while without activity" in main.inner_text()
    assert page.request.get(base + "/auth/session").status == 401
