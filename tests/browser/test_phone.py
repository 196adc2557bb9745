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


def test_pages_fit_a_phone(phone: Page, app: Server) -> None:
    page = phone
    base = app.base_url
    page.goto(base + "/")
    _check_fits(page, "home (logged out)")

    log_in(page, base, "alice")
    _check_fits(page, "home")

    # The header: brand, three links, the user's name and "Log out", all on screen.
    links = page.get_by_role("navigation", name="Main").get_by_role("link")
    assert links.all_inner_texts() == ["Accounts", "Cards", "Profile"]
    for link in links.all():
        assert link.is_visible() and _inside_viewport(link), link.inner_text()
    logout = page.get_by_role("banner").get_by_role("button", name="Log out")
    assert logout.is_visible() and _inside_viewport(logout)

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
