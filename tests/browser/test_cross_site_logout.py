"""A page on another origin that POSTs to ``/auth/logout`` is refused; the user stays logged in.

Two attackers, served by a real HTTP server on another port: one on ``127.0.0.1`` (another
origin but the *same site*, so the browser sends the ``SameSite=Lax`` session cookie along:
only the kit's ``Origin``/``Sec-Fetch-Site`` check stops it) and one on ``localhost`` (another
site).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.browser._support import log_in
from tests.servers import Server, free_port, serve

if TYPE_CHECKING:
    from playwright.sync_api import Page

ATTACK_PAGE = """<!doctype html>
<title>You won a prize</title>
<form method="post" action="{app}/auth/logout"></form>
<script>document.forms[0].submit();</script>
"""


@pytest.fixture
def attacker(tmp_path: Path, app: Server) -> Iterator[int]:
    """``python -m http.server`` serving ``/prize.html``, which logs the visitor out of the app."""
    site = tmp_path / "attacker"
    site.mkdir()
    (site / "prize.html").write_text(ATTACK_PAGE.format(app=app.base_url))
    port = free_port()
    args = ["-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(site)]
    with serve(args, port, {}, tmp_path / "attacker.log", ready_path="/prize.html"):
        yield port


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"], ids=["same-site", "cross-site"])
def test_cross_site_logout_is_refused(page: Page, app: Server, attacker: int, host: str) -> None:
    log_in(page, app.base_url, "alice")
    assert page.request.get(app.base_url + "/auth/session").status == 200

    with page.expect_response(app.base_url + "/auth/logout") as refused:
        page.goto(f"http://{host}:{attacker}/prize.html")
    assert refused.value.request.method == "POST"
    assert refused.value.status == 403
    headers = refused.value.request.all_headers()
    assert headers.get("origin") == f"http://{host}:{attacker}"
    # Same site: the browser did send the session cookie, so only the kit's check saved it.
    assert ("oidc_session=" in headers.get("cookie", "")) == (host == "127.0.0.1")

    # Still logged in: the session answers, and the pages still show the user's data.
    session = page.request.get(app.base_url + "/auth/session")
    assert session.status == 200
    assert session.json()["authenticated"] is True
    page.goto(app.base_url + "/accounts")
    assert page.get_by_role("heading", level=1).inner_text() == "Your accounts"
    assert page.get_by_role("banner").get_by_role("button", name="Log out").is_visible()
