"""The demo in FAPI 2.0 mode (``OIDC_PROFILE=fapi2``), clicked through in Chromium: the browser
carries only a ``request_uri`` to the provider, the profile page shows the binding, ORCA
pages load through DPoP, and logout works."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

import pytest

from example_app.settings import sandbox_client_key
from tests.browser._support import assert_no_token, nav, run_app, sandbox_login, shot
from tests.servers import Server

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page


@pytest.fixture(scope="module")
def fapi2_app(browser: Browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("fapi2")
    key = sandbox_client_key(str(Path(tmp) / "client-key.pem"))
    env = {"OIDC_PROFILE": "fapi2", "OIDC_CLIENT_KEY": str(key)}
    with run_app(tmp, "fapi2", env) as server:
        yield server


def test_fapi2_demo_in_a_browser(page: Page, fapi2_app: Server) -> None:
    base = fapi2_app.base_url
    authorize_urls: list[str] = []
    page.on(
        "request",
        lambda request: authorize_urls.append(request.url) if "/authorize" in request.url else None,
    )
    page.goto(base + "/")
    page.get_by_role("main").get_by_role("link", name="Log in").click()
    page.wait_for_url(re.compile(re.escape(base) + r"/sandbox/op/authorize\?"))
    # PAR: the front channel carries the client id and a request_uri, nothing else.
    assert set(parse_qs(urlsplit(authorize_urls[0]).query)) == {"client_id", "request_uri"}
    sandbox_login(page, "alice")
    page.wait_for_url(base + "/")
    assert_no_token(page)

    nav(page, "Profile")
    binding = page.locator("#token-binding").inner_text()
    assert "FAPI 2.0" in binding and "DPoP" in binding
    assert_no_token(page)
    shot(page, "fapi2-profile")

    nav(page, "Accounts")  # ORCA, with a DPoP proof on every call
    assert page.get_by_role("heading", level=1).inner_text() == "Your accounts"
    assert page.locator("table tbody tr").count() > 0

    page.get_by_role("button", name="Log out").first.click()
    page.wait_for_url(re.compile(re.escape(base) + r"/(\?.*)?$"))
    assert page.get_by_role("main").get_by_role("link", name="Log in").is_visible()
