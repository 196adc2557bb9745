"""What only the demo has, black-box over real HTTP against ``python -m example_app``: its
pages, ``/profile/refresh`` and ``/api/cards``. The contract every example keeps (Starlette,
Flask, Django) is tests/examples/test_contract.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from tests.servers import Server, free_port, sandbox_login, serve

SECRET = "contract-test-secret-0123456789"
JWT = re.compile(rb"eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]*")


@pytest.fixture(scope="module")
def app_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("contract")
    port = free_port()
    env = {"SESSION_STORE": f"sqlite:///{folder}/sessions.db", "SESSION_SECRET": SECRET}
    for name in ("OIDC_ISSUER", "ORCA_API_BASE", "APP_BASE_URL"):
        env[name] = ""
    args = ["-m", "example_app", "--host", "127.0.0.1", "--port", str(port)]
    with serve(args, port, env, folder / "server.log") as server:
        yield server


@pytest.fixture
def browser(app_server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=app_server.base_url, timeout=10) as client:
        yield client


def test_refresh_now_gives_a_new_expiry(browser: httpx.Client, app_server: Server) -> None:
    sandbox_login(browser, "alice")
    before = browser.get("/auth/session").json()["expires_at"]
    response = browser.post("/profile/refresh", headers={"Origin": app_server.base_url})
    assert response.status_code == 303
    after = browser.get("/auth/session").json()["expires_at"]
    assert after >= before
    assert browser.get("/api/accounts").status_code == 200


def test_pages_render_for_a_logged_in_user(browser: httpx.Client) -> None:
    sandbox_login(browser, "alice")
    for path in ("/", "/accounts", "/cards", "/profile"):
        response = browser.get(path)
        assert response.status_code == 200, path
        assert not JWT.search(response.text.encode())
    assert "Alice" in browser.get("/profile").text


def test_the_accounts_page_and_the_cards_api(browser: httpx.Client) -> None:
    sandbox_login(browser, "alice", "/accounts")
    accounts = browser.get("/api/accounts").json()["data"]
    page = browser.get("/accounts")
    assert page.status_code == 200
    assert accounts[0]["name"] in page.text
    cards = browser.get("/api/cards")
    assert cards.status_code == 200, cards.text
    assert not JWT.search(cards.content)
