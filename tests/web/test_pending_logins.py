"""Anonymous ``GET /auth/login`` floods: bounded cost, and nobody is logged out by them.

Anyone can start a login; each start stores a transaction until its callback or
``login_timeout``. The memory store keeps those apart from sessions with their own bound; the
cost of one attempt (bytes stored, time) is measured by ``make bench``, not here.
"""

from __future__ import annotations

import httpx

from oidc_kit import MemoryStore
from oidc_kit.starlette import OIDCAuth
from tests.conftest import Clock, make_config
from tests.fake_op import FakeOP
from tests.web.test_starlette import APP, build_app, do_login


async def test_a_flood_of_anonymous_logins_logs_nobody_out(op: FakeOP, clock: Clock) -> None:
    store = MemoryStore(200)  # 20 pending logins at most
    http = httpx.AsyncClient(transport=op.transport())
    auth = OIDCAuth(make_config(), http_client=http, store=store, clock=clock)
    app = build_app(auth)
    transport = httpx.ASGITransport(app=app)
    async with (
        httpx.AsyncClient(transport=transport, base_url=APP) as alice,
        httpx.AsyncClient(transport=transport, base_url=APP) as victim_of_the_flood,
    ):
        assert (await do_login(alice, op)).status_code == 303
        # Alice's own login page is open in another tab when the flood starts.
        pending = await victim_of_the_flood.get("/auth/login")
        for _ in range(500):  # no cookies: each one a new anonymous browser
            async with httpx.AsyncClient(transport=transport, base_url=APP) as anonymous:
                assert (await anonymous.get("/auth/login")).status_code == 303

        assert (await alice.get("/page")).status_code == 200
        assert len(store) <= store.max_entries + store.max_pending_logins
        # The oldest pending logins made room: the one started before the flood is gone
        # (a clear invalid_state, as after login_timeout), never a session.
        late = await victim_of_the_flood.get(
            "/auth/callback", params=op.authorize(pending.headers["location"])
        )
        assert late.status_code == 400
        assert "invalid_state" in late.text
    await http.aclose()
