"""The example app's idle-timeout warning, server side: what every signed-in page carries for
static/idle.js, and the notice on the page it goes to when the session has ended. The script
itself runs in a real browser in tests/browser/test_idle_timeout.py."""

from __future__ import annotations

import html
import re
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from example_app.app import create_app
from example_app.templating import IDLE_WARNING
from tests.example_app.test_example_pages import BASE, ENV, PAGES, log_in

IDLE_NOTICE = "You were signed out after a while without activity"


async def _client(env: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(env)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            yield client


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async for c in _client(ENV):
        yield c


def _warning(page: str) -> dict[str, str]:
    """The warning's data attributes (``data-lead`` → ``lead``)."""
    match = re.search(r'<div class="idle-warning"(.*?)>', page, re.S)
    assert match, "no idle warning in the page"
    attributes = re.findall(r'data-([\w-]+)="([^"]*)"', match[1])
    assert 'role="alertdialog"' in match[1] and " hidden" in match[1]
    return {name: html.unescape(value) for name, value in attributes}


async def test_every_signed_in_page_carries_the_warning(client: httpx.AsyncClient) -> None:
    await log_in(client)
    session = (await client.get("/auth/session")).json()
    for path in PAGES:
        page = (await client.get(path)).text
        data = _warning(page)
        assert float(data["idle-expires-at"]) == session["idle_expires_at"], path
        assert float(data["absolute-expires-at"]) == session["absolute_expires_at"]
        assert abs(float(data["now"]) - time.time()) < 5  # the server's clock
        assert int(data["lead"]) == IDLE_WARNING
        assert data["session-url"] == "/auth/session"
        assert '<script src="/static/idle.js" defer></script>' in page
        assert ">Stay signed in</button>" in page
    script = await client.get("/static/idle.js")
    assert script.status_code == 200 and 'getElementById("idle-warning")' in script.text


async def test_signed_out_pages_have_no_warning(client: httpx.AsyncClient) -> None:
    page = (await client.get("/")).text
    assert "idle-warning" not in page and "idle.js" not in page


async def test_a_short_idle_timeout_warns_halfway() -> None:
    async for client in _client({**ENV, "SESSION_IDLE_TIMEOUT": "90"}):
        await log_in(client)
        assert _warning((await client.get("/")).text)["lead"] == "45"


async def test_the_home_page_says_why_the_session_ended(client: httpx.AsyncClient) -> None:
    page = (await client.get("/?ended=idle")).text
    assert IDLE_NOTICE in page and 'role="status"' in page
    assert "Your session has ended" in (await client.get("/?ended=expired")).text
    other = (await client.get("/?ended=<b>x</b>")).text
    assert IDLE_NOTICE not in other and "<b>x</b>" not in other
    await log_in(client)  # signed in again: no notice, whatever the address says
    assert IDLE_NOTICE not in (await client.get("/?ended=idle")).text
