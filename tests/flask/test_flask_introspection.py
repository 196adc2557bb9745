"""``OIDC.introspect()`` (and ``SyncKit.introspect``): the user's token, introspected at the
sandbox provider (RFC 7662) through the kit's event loop, never the token in the answer."""

from __future__ import annotations

import httpx

from oidc_kit.flask import OIDC
from oidc_kit.testing import SandboxClient, SandboxProvider, sandbox_login
from tests.flask.conftest import APP, OP, AsyncWSGITransport, FlakyStore, build_app, make_config


async def test_the_users_token_is_introspected(store: FlakyStore) -> None:
    client = SandboxClient("app", "app-secret", (f"{APP}/auth/callback",))
    op = SandboxProvider(OP, [client], introspection=True)
    oidc = OIDC(
        config=make_config(),
        store=store,
        http_client=lambda: httpx.AsyncClient(transport=httpx.ASGITransport(app=op.app)),
    )
    app = build_app(oidc, httpx.MockTransport(lambda request: httpx.Response(200)))
    app.add_url_rule("/api/token", "token", lambda: oidc.introspect().as_dict())
    oidc.init_app(app)
    try:
        transport = AsyncWSGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url=APP) as browser:
            anonymous = await browser.get("/api/token", headers={"Accept": "application/json"})
            await sandbox_login(browser, op, "alice")
            answer = await browser.get("/api/token")
        assert anonymous.status_code == 401
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["active"] is True and body["client_id"] == "app"
        assert "accounts:read" in body["scope"].split()
        assert op.introspections == 1
    finally:
        app.extensions["oidc_kit"].close()
