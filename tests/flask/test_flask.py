"""The Flask adapter on its own: DPoP through the sync auth. (What Flask and Django share is
tested once for both, in tests/sync_adapters.)"""

from __future__ import annotations

import httpx

from oidc_kit.flask import OIDC
from oidc_kit.testing import SandboxClient, SandboxProvider, sandbox_login
from tests.flask.conftest import APP, OP, AsyncWSGITransport, FlakyStore, build_app, make_config


async def test_dpop_bound_tokens_are_sent_with_proofs_and_the_apis_nonce(
    store: FlakyStore,
) -> None:
    # DPoP through the sync auth: a proof on every try, and the API's nonce demand met by one
    # more try, each step of BearerAuth's flow run on the kit's loop.
    client = SandboxClient(
        "app", "app-secret", (f"{APP}/auth/callback",), dpop_bound_access_tokens=True
    )
    op = SandboxProvider(OP, [client])
    oidc = OIDC(
        config=make_config(dpop=True),
        store=store,
        http_client=lambda: httpx.AsyncClient(transport=httpx.ASGITransport(app=op.app)),
    )
    #: Each try's headers, as sent (a retry is the same request, its headers changed).
    tries: list[httpx.Headers] = []

    def handle(request: httpx.Request) -> httpx.Response:
        tries.append(request.headers.copy())
        if request.headers.get("dpop") and len(tries) == 1:
            challenge = {"WWW-Authenticate": 'DPoP error="use_dpop_nonce"', "DPoP-Nonce": "n-1"}
            return httpx.Response(401, headers=challenge, json={"error": "use_dpop_nonce"})
        return httpx.Response(200, json={"data": []})

    app = build_app(oidc, httpx.MockTransport(handle))
    oidc.init_app(app)
    try:
        transport = AsyncWSGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url=APP) as browser:
            await sandbox_login(browser, op, "alice")
            answer = await browser.get("/api/accounts")
        assert answer.status_code == 200
        assert len(tries) == 2
        assert all(t["authorization"].startswith("DPoP ") for t in tries)
        proofs = [t["dpop"] for t in tries]
        assert proofs[0] != proofs[1]  # a fresh proof, the second with the nonce
    finally:
        app.extensions["oidc_kit"].close()
