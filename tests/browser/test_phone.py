"""The pages at a phone's width (375 x 812): nothing scrolls sideways, the navigation works."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.browser._support import log_in, nav, no_horizontal_overflow, shot
from tests.browser.conftest import TIMEOUT_MS
from tests.servers import Server

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Page, ViewportSize

PHONE: ViewportSize = {"width": 375, "height": 812}


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(
        viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True, locale="en-GB"
    )
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


def _inside_viewport(locator: Locator) -> bool:
    box = locator.bounding_box()
    return box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]


def _check_fits(page: Page, what: str) -> None:
    assert no_horizontal_overflow(page), f"{what} scrolls sideways at 375 px"


def _header_rows(page: Page) -> int:
    """How many rows the header's parts (brand, navigation, account actions) take."""
    parts = page.locator(".site-header .wrap > *").all()
    boxes = sorted((b["y"], b["y"] + b["height"]) for p in parts if (b := p.bounding_box()))
    rows, bottom = 0, float("-inf")
    for top, end in boxes:
        if top >= bottom - 1:  # below the row so far: a new row
            rows += 1
        bottom = max(bottom, end) if top < bottom - 1 else end
    return rows


#: The words of a table cell that the browser split across two lines.
_WORDS_BROKEN = """cells => cells.flatMap(cell => {
  const broken = [];
  for (const node of cell.childNodes) {
    if (node.nodeType !== Node.TEXT_NODE) continue;
    for (const word of node.data.matchAll(/\\S+/g)) {
      const range = document.createRange();
      range.setStart(node, word.index);
      range.setEnd(node, word.index + word[0].length);
      const lines = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
      if (lines.size > 1) broken.push(word[0]);
    }
  }
  return broken;
})"""


def test_pages_fit_a_phone(phone: Page, app: Server) -> None:
    page = phone
    base = app.base_url
    page.goto(base + "/")
    _check_fits(page, "home (logged out)")

    log_in(page, base, "alice")
    _check_fits(page, "home")

    # The header: brand, four links, the user's name and "Log out", all on screen.
    links = page.get_by_role("navigation", name="Main").get_by_role("link")
    assert links.all_inner_texts() == ["Accounts", "Cards", "Payments", "Profile"]
    for link in links.all():
        assert link.is_visible() and _inside_viewport(link), link.inner_text()
    logout = page.get_by_role("banner").get_by_role("button", name="Log out")
    assert logout.is_visible() and _inside_viewport(logout)
    who = page.locator(".site-header .who")
    assert who.is_visible() and _inside_viewport(who)
    assert _header_rows(page) == 2, "the header takes more than two rows at 375 px"

    nav(page, "Accounts")
    page.wait_for_url(base + "/accounts")
    _check_fits(page, "accounts")
    shot(page, "phone-accounts")

    page.get_by_role("main").get_by_role("table").get_by_role("link").first.tap()
    page.wait_for_url(re.compile(re.escape(base) + r"/accounts/[^/]+$"))
    _check_fits(page, "an account's transactions")
    assert page.locator("main table tbody tr").count() >= 1

    nav(page, "Cards")
    page.wait_for_url(base + "/cards")
    _check_fits(page, "cards")
    for card in page.locator(".payment-card").all():
        assert _inside_viewport(card)

    nav(page, "Profile")
    page.wait_for_url(base + "/profile")
    _check_fits(page, "profile")
    assert page.get_by_role("button", name="Refresh now").is_visible()
    # Claim values: words wrap between words; ids, URLs and addresses may break anywhere.
    words = page.locator("table.claims td:last-child:not(.token)")
    assert words.count() >= 5  # name, the times (iat, exp...), booleans
    assert words.evaluate_all(_WORDS_BROKEN) == []
    tokens = page.locator("table.claims td.token")
    assert tokens.count() >= 5  # sub, iss, sid, email...
    assert tokens.evaluate_all("cells => cells.every(c => c.scrollWidth <= c.clientWidth)")
