"""The profile's "Your sessions", in process: two browsers log alice in; each sees both
sessions, its own as "This device"; one signs the other out; "Sign out everywhere".

The app is driven through ``httpx.ASGITransport`` (one app, two cookie jars: two browsers);
the kit's routes behind the forms (``/auth/sessions/{handle}/revoke``, ``/auth/logout``
with ``everywhere=1``) are tested on their own in tests/web/test_user_sessions.py.
"""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator

import httpx
import pytest

from example_app.app import create_app
from tests.example_app.test_example_pages import BASE, ENV, log_in

CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
SAME_ORIGIN = {"Origin": BASE, "Sec-Fetch-Site": "same-origin"}
_REVOKE = re.compile(r'action="/auth/sessions/([\w-]+)/revoke"')


@pytest.fixture
async def browsers() -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """Two browsers (a Chrome and a Firefox) on one running app."""
    app = create_app(ENV)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with (
            httpx.AsyncClient(
                transport=transport, base_url=BASE, headers={"User-Agent": CHROME}
            ) as a,
            httpx.AsyncClient(
                transport=transport, base_url=BASE, headers={"User-Agent": FIREFOX}
            ) as b,
        ):
            await log_in(a)
            await log_in(b)
            yield a, b


def _rows(page: str) -> list[str]:
    """The rows of the sessions table, as text."""
    table = page.split('<table class="sessions"', 1)[1].split("</table>", 1)[0]
    body = table.split("<tbody>", 1)[1]
    return [html.unescape(re.sub(r"<[^>]+>|\s+", " ", r)) for r in body.split("</tr>")[:-1]]


async def test_the_profile_lists_both_sessions_with_this_device(
    browsers: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    first, second = browsers
    chrome, firefox = "Chrome 131 on Linux", "Firefox 133 on Windows"
    for client, mine, other in ((first, chrome, firefox), (second, firefox, chrome)):
        page = (await client.get("/profile")).text
        assert "Your sessions" in page
        rows = _rows(page)
        assert len(rows) == 2, rows
        (current,) = [r for r in rows if "This device" in r]
        (elsewhere,) = [r for r in rows if "This device" not in r]
        assert mine in current and other in elsewhere
        assert "127.0.0.x" in current or "Unknown" in current  # a network, never an address
        # The app's date format, the time to the second, in UTC.
        assert re.search(r"\d{1,2}\s\w{3} \d{4}, \d\d:\d\d:\d\d UTC", current)
        # One revoke form, for the other browser; this device signs out through logout.
        assert len(_REVOKE.findall(page)) == 1
        assert '<input type="hidden" name="next" value="/profile">' in page
        assert '<input type="hidden" name="everywhere" value="1">' in page
        # The handle names a session; its id (the cookie's secret) is nowhere in the page.
        sid = client.cookies["oidc_session"].split(".")[0]
        assert sid not in page


async def test_signing_out_the_other_browser_removes_it(
    browsers: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    first, second = browsers
    page = (await first.get("/profile")).text
    (handle,) = _REVOKE.findall(page)
    response = await first.post(
        f"/auth/sessions/{handle}/revoke", data={"next": "/profile"}, headers=SAME_ORIGIN
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/profile"
    page = (await first.get("/profile")).text
    rows = _rows(page)
    assert len(rows) == 1 and "This device" in rows[0] and "Chrome 131" in rows[0]
    assert _REVOKE.findall(page) == []
    assert (await second.get("/auth/session")).status_code == 401
    assert (await first.get("/auth/session")).status_code == 200


async def test_sign_out_everywhere_ends_both(
    browsers: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    first, second = browsers
    response = await first.post("/auth/logout", data={"everywhere": "1"}, headers=SAME_ORIGIN)
    assert response.status_code == 303
    assert (await first.get("/auth/session")).status_code == 401
    assert (await second.get("/auth/session")).status_code == 401


async def test_a_cross_site_revoke_from_the_page_is_refused(
    browsers: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    first, second = browsers
    (handle,) = _REVOKE.findall((await first.get("/profile")).text)
    response = await first.post(
        f"/auth/sessions/{handle}/revoke",
        data={"next": "/profile"},
        headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
    )
    assert response.status_code == 403
    assert (await second.get("/auth/session")).status_code == 200
