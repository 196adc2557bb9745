"""The Django adapter on its own, through Django's WSGI and ASGI handlers: the kit's cookie
lines as it wrote them, and a kit error a view raises answered by the kit. (What Flask and
Django share is tested once for both, in tests/sync_adapters.)"""

from __future__ import annotations

from dataclasses import replace

import httpx
import pytest

from oidc_kit.django._kit import get_kit
from oidc_kit.testing import SandboxProvider, sandbox_login
from tests.django.conftest import session_cookie
from tests.flask.conftest import APP


async def test_the_callbacks_cookies_are_the_kits_lines_verbatim(
    browser: httpx.AsyncClient, op: SandboxProvider
) -> None:
    # Each Set-Cookie line as the kit wrote it (CookieWriter: what Starlette sends), not
    # re-serialized by Django's cookie jar; several in one answer, each a header of its own.
    done = await sandbox_login(browser, op, "alice")
    lines = done.headers.get_list("set-cookie")
    web = get_kit().sync.web
    sid_line = next(line for line in lines if line.startswith(f"{session_cookie()}="))
    value = sid_line.split("=", 1)[1].split(";")[0]
    change = replace(web.rp.session_cookie_change("any"), value=value)
    assert sid_line == web.cookies.header(change)
    logout = await browser.post("/auth/logout", headers={"Origin": APP})
    lines = logout.headers.get_list("set-cookie")
    assert lines[0] == web.expired_cookie_header(web.rp.session_cookie)
    assert lines[1].startswith(f"{web.rp.logout_cookie}=")  # the logout's state, a line of its own
    assert len(lines) == 2 and all(line == line.strip() for line in lines)


@pytest.mark.parametrize("mode", ["wsgi"])
async def test_a_kit_error_a_view_raises_is_the_kits_answer(
    browser: httpx.AsyncClient, op: SandboxProvider
) -> None:
    # process_exception: the kit's error as the kit answers it (JSON under /api/, a page or a
    # login elsewhere), not Django's 500.
    unavailable = await browser.get("/api/raises", params={"error": "provider"})
    assert unavailable.status_code == 503
    assert unavailable.json()["error"] == "provider_unavailable"
    page = await browser.get("/raises", params={"error": "login"})
    assert page.status_code == 303
    assert page.headers["location"].startswith("/auth/login?next=")
