"""The demo's token introspection on the embedded sandbox (which serves RFC 7662): the profile
page says the provider holds the token active, and ``GET /api/token`` answers the same as JSON,
never with a token in either."""

from __future__ import annotations

import httpx

from tests.example_app.test_example_pages import (
    TokenRecorder,
    assert_no_token,
    client,  # noqa: F401 -- the fixture
    log_in,
    recorder,  # noqa: F401 -- the fixture
)


async def test_the_profile_and_api_show_the_tokens_state(
    client: httpx.AsyncClient,  # noqa: F811
    recorder: TokenRecorder,  # noqa: F811
) -> None:
    await log_in(client, "alice")

    page = await client.get("/profile")
    assert page.status_code == 200
    assert 'id="token-introspection"' in page.text and ">active<" in page.text
    assert_no_token(page, recorder)

    answer = await client.get("/api/token")
    assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert body["active"] is True and body["client_id"] and body["sub"]
    assert "accounts:read" in body["scope"].split()
    assert_no_token(answer, recorder)


async def test_the_api_needs_a_session(client: httpx.AsyncClient) -> None:  # noqa: F811
    answer = await client.get("/api/token", headers={"Accept": "application/json"})
    assert answer.status_code == 401 and answer.json()["error"] == "login_required"
