"""The Django example, black-box: ``python -m examples.django_app`` (uvicorn, ASGI) started
as a newcomer would, with ``OIDC_ISSUER`` unset (the sandbox provider and sandbox ORCA),
driven over real HTTP as a browser: alice logs in, calls ORCA, her token is refreshed, she
logs out."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.servers import Server, free_port, sandbox_login, serve

SECRET = "django-example-test-secret-0123456789"
JWT = re.compile(r"eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]*")


@pytest.fixture(scope="module")
def app_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("django-example")
    port = free_port()
    env = {
        "SESSION_STORE": f"sqlite:///{folder}/sessions.db",
        "SESSION_SECRET": SECRET,
        # Two-second access tokens: the refresh leeway (at most half the lifetime) makes them
        # due after one second, so a refresh happens within the test.
        "SANDBOX_ACCESS_TOKEN_TTL": "2",
    }
    for name in ("OIDC_ISSUER", "ORCA_API_BASE", "APP_BASE_URL"):
        env[name] = ""
    args = ["-m", "examples.django_app", "--host", "127.0.0.1", "--port", str(port)]
    with serve(args, port, env, folder / "server.log") as server:
        yield server


def test_alice_logs_in_calls_orca_refreshes_and_logs_out(app_server: Server) -> None:
    base = app_server.base_url
    with httpx.Client(base_url=base, timeout=10) as browser:
        assert browser.get("/api/accounts").json()["error"] == "login_required"
        done = sandbox_login(browser, "alice", "/")
        assert done.status_code == 303 and done.headers["location"] == "/"
        assert "Alice" in browser.get("/").text
        before = browser.get("/auth/session").json()
        assert before["sub"] == "sandbox-alice"
        accounts = browser.get("/api/accounts")
        assert accounts.status_code == 200
        assert len(accounts.json()["data"]) >= 2
        assert accounts.headers["cache-control"] == "no-store"
        time.sleep(1.2)  # the access token is now due: the next ORCA call refreshes it first
        assert browser.get("/api/accounts").status_code == 200
        after = browser.get("/auth/session").json()
        assert after["expires_at"] > before["expires_at"]

        refused = browser.post("/auth/logout", headers={"Origin": "https://evil.test"})
        assert refused.status_code == 403
        assert browser.get("/auth/session").status_code == 200  # still logged in
        logout = browser.post("/auth/logout", headers={"Origin": base})
        assert logout.status_code == 303
        location = logout.headers["location"]
        query = parse_qs(urlsplit(location).query)
        assert "/sandbox/op/" in location
        assert query["post_logout_redirect_uri"] == [f"{base}/"]
        back = browser.get(location)
        assert back.status_code in (302, 303)
        assert back.headers["location"].startswith(f"{base}/?state=")
        assert browser.get(back.headers["location"]).status_code == 200
        assert browser.get("/auth/session").status_code == 401
        gone = browser.get("/api/accounts")
        assert (gone.status_code, gone.json()["error"]) == (401, "login_required")
    assert not JWT.search(app_server.log())  # no token in the server's log


def test_the_contracts_error_codes(app_server: Server) -> None:
    with httpx.Client(base_url=app_server.base_url, timeout=10) as browser:
        start = browser.get("/auth/login", params={"next": "https://evil.test/"})
        assert start.status_code in (302, 303)
        query = parse_qs(urlsplit(start.headers["location"]).query)
        assert query["code_challenge_method"] == ["S256"]
        assert query["state"] and query["nonce"] and query["code_challenge"]
        bad = browser.get(
            "/auth/callback",
            params={"code": "x", "state": "y"},
            headers={"Accept": "application/json"},
        )
        assert bad.status_code == 400
        assert bad.json()["error"] == "invalid_state"
        assert not bad.cookies
        put = browser.put("/auth/session")
        assert put.status_code == 405 and put.headers["allow"] == "GET, HEAD, POST"
        assert browser.get("/auth/session").json() == {"authenticated": False}
