"""``oidc_kit.testing.sandbox_login``: the helper docs/testing.md teaches (its happy path runs
there); here, what it refuses."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from oidc_kit import OIDCConfig
from oidc_kit.starlette import OIDCAuth
from oidc_kit.testing import SandboxClient, SandboxProvider, sandbox_login

APP, ISSUER = "https://app.test", "https://op.test"


def stack(**config: Any) -> tuple[SandboxProvider, OIDCAuth, Starlette]:
    op = SandboxProvider(
        ISSUER, [SandboxClient("app", "app-secret-123", (f"{APP}/auth/callback",))]
    )
    auth = OIDCAuth(
        OIDCConfig(
            issuer=ISSUER,
            client_id="app",
            client_secret="app-secret-123",
            base_url=APP,
            session_secrets=("a-test-secret-of-32-characters!!",),
            session_store="memory://",
            **config,
        ),
        http_client=httpx.AsyncClient(transport=httpx.ASGITransport(app=op.app)),
    )
    app = Starlette(
        routes=[Mount("/auth", routes=auth.routes)],
        middleware=[auth.middleware],
        exception_handlers=auth.exception_handlers,
    )
    return op, auth, app


@pytest.mark.parametrize(
    ("config", "password", "message"),
    [
        ({}, "wrong", "refused the login (401)"),
        ({"response_mode": "form_post"}, None, "response_mode=query"),
    ],
)
async def test_what_sandbox_login_refuses(
    config: dict[str, Any], password: str | None, message: str
) -> None:
    op, auth, app = stack(**config)
    transport = httpx.ASGITransport(app=app)
    async with auth, httpx.AsyncClient(transport=transport, base_url=APP) as browser:
        with pytest.raises(AssertionError, match=message.replace("(", r"\(").replace(")", r"\)")):
            await sandbox_login(browser, op, "alice", password)
        assert (await browser.get("/auth/session")).json()["authenticated"] is False


async def test_a_login_route_that_does_not_redirect_is_reported() -> None:
    op, auth, _ = stack()
    async with (
        auth,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=Starlette()), base_url=APP) as browser,
    ):
        with pytest.raises(AssertionError, match="not a redirect"):
            await sandbox_login(browser, op, "alice")
