"""The black-box contract every example app keeps, whatever its framework: ``python -m
example_app`` (Starlette), ``python -m examples.flask_app`` and ``python -m examples.django_app``,
each started as a newcomer would (``OIDC_ISSUER`` unset: the sandbox provider and sandbox
ORCA; an SQLite store in a temporary folder) and driven over real HTTP as a browser.

The contract is issue 18's: the routes ``/auth/login``, ``/auth/callback``, ``/auth/session``,
``POST /auth/logout``, ``POST /auth/backchannel-logout`` and ``/api/accounts``, the same error
codes, and the same environment. What only the demo has (its pages, ``/profile/refresh``,
``/api/cards``) is tested in tests/example_app/.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.servers import EXAMPLES, Server, free_port, sandbox_login, serve

SECRET = "contract-test-secret-0123456789"
JWT = re.compile(rb"eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]*")
#: The sandbox provider's access-token lifetime here: due for refresh after one second (the
#: leeway is at most half the lifetime), so a refresh happens within a test.
TTL = 2


@pytest.fixture(scope="module", params=list(EXAMPLES))
def framework(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture(scope="module")
def app_server(framework: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp(f"contract-{framework}")
    port = free_port()
    env = {
        "SESSION_STORE": f"sqlite:///{folder}/sessions.db",
        "SESSION_SECRET": SECRET,
        "SANDBOX_ACCESS_TOKEN_TTL": str(TTL),
    }
    for name in ("OIDC_ISSUER", "ORCA_API_BASE", "APP_BASE_URL"):
        env[name] = ""
    args = ["-m", EXAMPLES[framework], "--host", "127.0.0.1", "--port", str(port)]
    with serve(args, port, env, folder / "server.log") as server:
        yield server


@pytest.fixture
def browser(app_server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=app_server.base_url, timeout=10) as client:
        yield client


def issuer_of(browser: httpx.Client) -> str:
    """Where the app sends a login: its provider's issuer (the sandbox's, in a path of the
    demo's own origin or on a loopback port of the Flask and Django examples)."""
    start = browser.get("/auth/login")
    assert start.status_code in (302, 303), start.text
    return start.headers["location"].split("/authorize?", 1)[0]


def test_alice_logs_in_calls_orca_refreshes_and_logs_out(
    browser: httpx.Client, app_server: Server
) -> None:
    """Issue 18's first "done means" line, for each example."""
    base = app_server.base_url
    issuer = issuer_of(browser)
    assert browser.get("/api/accounts").json()["error"] == "login_required"
    done = sandbox_login(browser, "alice", "/")
    assert done.status_code == 303 and done.headers["location"] == "/"
    assert "Alice" in browser.get("/").text
    before = browser.get("/auth/session").json()
    assert before["authenticated"] is True and before["sub"] == "sandbox-alice"
    accounts = browser.get("/api/accounts")
    assert accounts.status_code == 200
    assert len(accounts.json()["data"]) >= 2
    assert accounts.headers["cache-control"] == "no-store"
    time.sleep(TTL / 2 + 0.2)  # the access token is now due: the next ORCA call refreshes it
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
    assert location.startswith(issuer + "/")
    assert query["post_logout_redirect_uri"] == [f"{base}/"]
    assert query["id_token_hint"] and query["state"]
    back = browser.get(location)
    assert back.status_code in (302, 303)
    assert back.headers["location"].startswith(f"{base}/?state=")
    # The landing checks the logout's state (the demo then moves on to its clean address).
    assert browser.get(back.headers["location"], follow_redirects=True).status_code == 200
    assert browser.get("/auth/session").status_code == 401
    gone = browser.get("/api/accounts")
    assert (gone.status_code, gone.json()["error"]) == (401, "login_required")


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


def test_home_without_session_links_to_the_login(browser: httpx.Client) -> None:
    response = browser.get("/")
    assert response.status_code == 200
    assert "/auth/login" in response.text


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


def test_a_method_the_route_does_not_take_is_405_with_allow(browser: httpx.Client) -> None:
    put = browser.put("/auth/session")
    assert put.status_code == 405 and put.headers["allow"] == "GET, HEAD, POST"
    assert browser.get("/auth/session").json() == {"authenticated": False}


def test_no_token_in_the_sqlite_file_the_log_or_a_cookie(
    browser: httpx.Client, app_server: Server
) -> None:
    sandbox_login(browser, "alice")
    assert browser.get("/api/accounts").status_code == 200
    # The logout redirect carries id_token_hint to the provider: no access-log line may show it.
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


def test_sqlite_db_is_not_world_readable(browser: httpx.Client, app_server: Server) -> None:
    sandbox_login(browser, "alice")
    db = Path(app_server.log_path.parent / "sessions.db")
    assert db.exists()
    assert db.stat().st_mode & 0o077 == 0


def test_backchannel_logout_from_the_sandbox_provider(
    browser: httpx.Client, app_server: Server
) -> None:
    """The workshop's step: log out at the provider; it POSTs a logout token to the app's
    ``/auth/backchannel-logout``; the session is over, though the browser keeps its cookie."""
    sandbox_login(browser, "alice")
    assert browser.get("/auth/session").status_code == 200
    issuer = issuer_of(browser)
    page = browser.get(f"{issuer}/session")
    assert page.status_code == 200 and "alice" in page.text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(issuer))
    done = browser.post(
        f"{issuer}/session/logout", data={"csrf": csrf.group(1)}, headers={"Origin": origin}
    )
    assert done.status_code == 200
    assert "1 app was notified" in done.text
    assert browser.get("/auth/session").status_code == 401  # the cookie alone is not enough
    assert browser.get("/api/accounts").status_code == 401


def test_another_provider_through_oidc_issuer(framework: str, tmp_path: Path) -> None:
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
        "ORCA_API_BASE": "",
        "APP_BASE_URL": "",
    }
    app_args = ["-m", EXAMPLES[framework], "--host", "127.0.0.1", "--port", str(app_port)]
    with (
        serve(op_args, op_port, {}, tmp_path / "op.log", "/.well-known/openid-configuration"),
        serve(app_args, app_port, env, tmp_path / "app.log") as app,
        httpx.Client(base_url=app.base_url, timeout=10) as browser,
    ):
        assert issuer_of(browser) == issuer
        done = sandbox_login(browser, "bob")
        assert done.status_code == 303
        assert browser.get("/auth/session").json()["sub"] == "sandbox-bob"
        accounts = browser.get("/api/accounts")
        assert accounts.status_code == 200, accounts.text
        assert accounts.json()["data"]
        if framework == "starlette":
            assert "Sandbox mode" not in browser.get("/").text  # no embedded provider
