"""The black-box contract of example_app, driven over real HTTP against ``python -m example_app``.

Nothing here imports the app: it is started as a newcomer would, with an SQLite store in a
temporary folder, and driven through its routes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

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


def test_login_as_alice_then_accounts(browser: httpx.Client) -> None:
    done = sandbox_login(browser, "alice", "/accounts")
    assert done.status_code == 303
    assert done.headers["location"] == "/accounts"
    session = browser.get("/auth/session")
    assert session.status_code == 200
    assert session.json()["sub"] == "sandbox-alice"
    assert session.json()["authenticated"] is True
    accounts = browser.get("/api/accounts")
    assert accounts.status_code == 200
    assert len(accounts.json()["data"]) >= 2
    page = browser.get("/accounts")
    assert page.status_code == 200
    assert accounts.json()["data"][0]["name"] in page.text


def test_bob_sees_his_own_accounts(browser: httpx.Client, app_server: Server) -> None:
    sandbox_login(browser, "alice")
    alice = browser.get("/api/accounts").json()
    with httpx.Client(base_url=app_server.base_url) as other:
        sandbox_login(other, "bob")
        bob = other.get("/api/accounts").json()
    assert {a["id"] for a in alice["data"]}.isdisjoint({a["id"] for a in bob["data"]})


def test_api_without_session_is_401_login_required(browser: httpx.Client) -> None:
    response = browser.get("/api/accounts")
    assert response.status_code == 401
    assert response.json()["error"] == "login_required"
    assert browser.get("/auth/session").json() == {"authenticated": False}


def test_login_redirect_carries_pkce_state_nonce(browser: httpx.Client) -> None:
    response = browser.get("/auth/login", params={"next": "https://evil.test/"})
    assert response.status_code in (302, 303)
    query = parse_qs(urlsplit(response.headers["location"]).query)
    assert query["response_type"] == ["code"]
    assert query["code_challenge_method"] == ["S256"]
    assert query["state"] and query["nonce"] and query["code_challenge"]


def test_bad_callback_is_4xx_with_a_code(browser: httpx.Client) -> None:
    response = browser.get(
        "/auth/callback", params={"code": "x", "state": "y"}, headers={"Accept": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_state"
    assert "error_description" in response.json()
    assert not response.cookies


def test_logout(browser: httpx.Client, app_server: Server) -> None:
    sandbox_login(browser, "alice")
    refused = browser.post("/auth/logout", headers={"Origin": "https://evil.test"})
    assert refused.status_code == 403
    assert browser.get("/auth/session").status_code == 200
    response = browser.post("/auth/logout", headers={"Origin": app_server.base_url})
    assert response.status_code == 303
    location = response.headers["location"]
    query = parse_qs(urlsplit(location).query)
    assert location.startswith(f"{app_server.base_url}/sandbox/op/")
    assert query["post_logout_redirect_uri"] == [f"{app_server.base_url}/"]
    assert query["id_token_hint"] and query["state"]
    back = browser.get(location)
    assert back.status_code in (302, 303)
    assert back.headers["location"].startswith(f"{app_server.base_url}/?state=")
    assert browser.get("/auth/session").status_code == 401
    assert browser.get("/api/accounts").status_code == 401


def test_refresh_now_gives_a_new_expiry(browser: httpx.Client, app_server: Server) -> None:
    sandbox_login(browser, "alice")
    before = browser.get("/auth/session").json()["expires_at"]
    response = browser.post("/profile/refresh", headers={"Origin": app_server.base_url})
    assert response.status_code == 303
    after = browser.get("/auth/session").json()["expires_at"]
    assert after >= before
    assert browser.get("/api/accounts").status_code == 200


def test_no_token_in_the_sqlite_file_or_the_log(browser: httpx.Client, app_server: Server) -> None:
    sandbox_login(browser, "alice")
    assert browser.get("/api/cards").status_code == 200
    # The logout redirect carries id_token_hint to the embedded provider: its access-log
    # line must not show it.
    logout = browser.post("/auth/logout", headers={"Origin": app_server.base_url})
    assert "id_token_hint=eyJ" in logout.headers["location"]
    browser.get(logout.headers["location"])
    sandbox_login(browser, "alice")
    folder = app_server.log_path.parent
    stored = b"".join(p.read_bytes() for p in folder.glob("sessions.db*"))
    assert stored, "the SQLite store should exist"
    # Every JWT (access and ID tokens) is base64url '{"...' . '{"...' : "eyJ….eyJ". The three
    # characters "eyJ" alone also turn up by chance in the base64 of the sealed tokens, and in
    # random ids and cookie signatures; a dot-joined pair of JSON segments does not.
    assert not JWT.search(stored)
    assert not JWT.search(app_server.log().encode())
    for cookie in browser.cookies.jar:
        assert not JWT.search((cookie.value or "").encode())


def test_pages_render_for_a_logged_in_user(browser: httpx.Client) -> None:
    sandbox_login(browser, "alice")
    for path in ("/", "/accounts", "/cards", "/profile"):
        response = browser.get(path)
        assert response.status_code == 200, path
        assert not JWT.search(response.text.encode())
    assert "Alice" in browser.get("/profile").text


def test_demo_home_without_session(browser: httpx.Client) -> None:
    response = browser.get("/")
    assert response.status_code == 200
    assert "/auth/login" in response.text


def test_sqlite_db_is_not_world_readable(app_server: Server) -> None:
    db = Path(app_server.log_path.parent / "sessions.db")
    assert db.exists()
    assert db.stat().st_mode & 0o077 == 0


def test_another_provider_through_oidc_issuer(tmp_path: Path) -> None:
    """The same command, pointed at a provider in another process: no code change."""
    op_port, app_port = free_port(), free_port()
    app_url = f"http://127.0.0.1:{app_port}"
    client = f"other-app:other-secret-123:{app_url}/auth/callback:{app_url}/"
    op_args = ["-m", "oidc_kit.testing", "--port", str(op_port), "--client", client]
    issuer = f"http://127.0.0.1:{op_port}"
    env = {
        "OIDC_ISSUER": issuer,
        "OIDC_CLIENT_ID": "other-app",
        "OIDC_CLIENT_SECRET": "other-secret-123",
        "OIDC_ALLOW_INSECURE_HTTP": "1",
        "SESSION_STORE": f"sqlite:///{tmp_path}/s.db",
        "SESSION_SECRET": SECRET,
    }
    app_args = ["-m", "example_app", "--port", str(app_port)]
    with (
        serve(op_args, op_port, {}, tmp_path / "op.log", "/.well-known/openid-configuration"),
        serve(app_args, app_port, env, tmp_path / "app.log") as app,
        httpx.Client(base_url=app.base_url, timeout=10) as browser,
    ):
        start = browser.get("/auth/login")
        assert start.headers["location"].startswith(f"{issuer}/authorize?")
        done = sandbox_login(browser, "bob")
        assert done.status_code == 303
        assert browser.get("/auth/session").json()["sub"] == "sandbox-bob"
        accounts = browser.get("/api/accounts")
        assert accounts.status_code == 200, accounts.text
        assert accounts.json()["data"]
        assert "Sandbox mode" not in browser.get("/").text  # no embedded provider


def test_backchannel_logout_from_the_sandbox_provider(
    browser: httpx.Client, app_server: Server
) -> None:
    """The workshop's step: log out at the provider; the provider tells the app; it's over."""
    sandbox_login(browser, "alice")
    assert browser.get("/auth/session").status_code == 200
    page = browser.get("/sandbox/op/session")
    assert page.status_code == 200 and "alice" in page.text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    done = browser.post(
        "/sandbox/op/session/logout",
        data={"csrf": csrf.group(1)},
        headers={"Origin": app_server.base_url},
    )
    assert done.status_code == 200
    assert "1 app was notified" in done.text
    assert browser.get("/auth/session").status_code == 401  # the cookie alone is not enough
    assert browser.get("/api/accounts").status_code == 401
