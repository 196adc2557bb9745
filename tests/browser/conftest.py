"""Fixtures: Debian's chromium through Playwright's sync API, and the real example app.

Without ``/usr/bin/chromium`` or the ``playwright`` package these tests skip with a one-line
reason, except under ``CI=true``, where they fail: CI installs both (``.ci/run``).
Browsers are never downloaded (``playwright install`` cannot reach its CDN here).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.browser._support import run_app
from tests.servers import Server

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
#: Fail fast: every page here is served on loopback and answers in milliseconds.
TIMEOUT_MS = 10_000


def _missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not CHROMIUM.exists():
        return f"{CHROMIUM} not found (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[dev]')"
    return None


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """One headless chromium for the package's tests; each test gets its own context."""
    reason = _missing()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser tests cannot skip under CI=true: {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh browser profile (no cookies) with a laptop's viewport."""
    ctx = browser.new_context(viewport=DESKTOP, locale="en-GB", timezone_id="UTC")
    ctx.set_default_timeout(TIMEOUT_MS)
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.fixture(scope="package")
def app(browser: Browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The real app, defaults only: embedded sandbox provider and sandbox ORCA."""
    with run_app(tmp_path_factory.mktemp("app"), "app") as server:
        yield server
