"""Every kit route refuses a method it does not take with the kit's own 405: a stable code
(``method_not_allowed``), the methods it does take in ``Allow``, JSON on the machine routes."""

from __future__ import annotations

import httpx
import pytest

from oidc_kit.starlette import OIDCAuth
from tests.web.test_starlette import build_app

ROUTES = {
    "/auth/login": ({"GET", "HEAD"}, False),
    "/auth/callback": ({"GET", "HEAD", "POST"}, False),
    "/auth/callback/other": ({"GET", "HEAD", "POST"}, False),
    "/auth/logout": ({"GET", "HEAD", "POST"}, False),
    "/auth/session": ({"GET", "HEAD", "POST"}, True),
    "/auth/backchannel-logout": ({"POST"}, True),
    "/auth/sessions": ({"GET", "HEAD"}, True),
    "/auth/sessions/abc/revoke": ({"POST"}, False),
    "/auth/jwks": ({"GET", "HEAD"}, True),
    "/auth/health": ({"GET", "HEAD"}, True),
}


@pytest.mark.parametrize("path", sorted(ROUTES))
async def test_a_method_a_route_does_not_take_is_the_kits_405(kit: OIDCAuth, path: str) -> None:
    allowed, machine = ROUTES[path]
    transport = httpx.ASGITransport(app=build_app(kit))
    async with httpx.AsyncClient(transport=transport, base_url="https://app.test") as client:
        for method in sorted({"GET", "POST", "PUT", "DELETE", "PATCH"} - allowed):
            answer = await client.request(method, path)
            assert answer.status_code == 405, (method, path)
            assert set(answer.headers["Allow"].replace(" ", "").split(",")) == allowed
            assert answer.headers["Cache-Control"] == "no-store"
            if machine:
                assert answer.json()["error"] == "method_not_allowed"
            else:
                assert "method_not_allowed" in answer.text
