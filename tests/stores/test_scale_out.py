"""Scale-out, proven with real processes: refresh storms across app instances sharing a store.

The provider is the sandbox provider in its own process (``python -m oidc_kit.testing``): it
rotates refresh tokens, revokes the whole family when a rotated one is presented again, and
reports its token-endpoint calls at ``/_sandbox/stats``. Its access tokens live 2 seconds, so
they are due for refresh after 1 (the leeway is capped at half the lifetime). These tests wait
that one second for real: the processes' clocks cannot be injected.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from oidc_kit.stores._near_cache import LEASE
from tests.postgres_server import drop_tables, unique_table_prefix
from tests.servers import EXAMPLES, Server, free_port, sandbox_login, serve

SECRET = "scale-out-test-secret-0123456789"
TTL = 2


def start_provider(stack: ExitStack, tmp_path: Path, app_url: str) -> str:
    port = free_port()
    client = f"app:app-secret-0123:{app_url}/auth/callback:{app_url}/"
    args = ["-m", "oidc_kit.testing", "--port", str(port), "--client", client]
    args += [
        "--access-token-ttl",
        str(TTL),
        "--backchannel",
        f"app={app_url}/auth/backchannel-logout",
    ]
    ready = "/.well-known/openid-configuration"
    stack.enter_context(serve(args, port, {}, tmp_path / "op.log", ready))
    return f"http://127.0.0.1:{port}"


def start_apps(
    stack: ExitStack,
    tmp_path: Path,
    count: int,
    store_url: str,
    frameworks: tuple[str, ...] = (),
) -> tuple[str, list[Server]]:
    """``count`` app instances sharing ``store_url`` and one provider: the Starlette demo, or
    the examples ``frameworks`` names, one each."""
    frameworks = frameworks or ("starlette",) * count
    ports = [free_port() for _ in range(count)]
    app_url = f"http://127.0.0.1:{ports[0]}"
    issuer = start_provider(stack, tmp_path, app_url)
    env = {
        "OIDC_ISSUER": issuer,
        "OIDC_CLIENT_ID": "app",
        "OIDC_CLIENT_SECRET": "app-secret-0123",
        "OIDC_ALLOW_INSECURE_HTTP": "1",
        "APP_BASE_URL": app_url,  # one external origin for every instance
        "SESSION_STORE": store_url,
        "SESSION_SECRET": SECRET,
    }
    servers = []
    for n, (port, framework) in enumerate(zip(ports, frameworks, strict=True)):
        args = ["-m", EXAMPLES[framework], "--port", str(port)]
        servers.append(stack.enter_context(serve(args, port, env, tmp_path / f"app{n}.log")))
    return issuer, servers


async def storm(servers: list[Server], cookies: httpx.Cookies, per_server: int) -> list[int]:
    """``per_server`` concurrent ``GET /api/accounts`` at each instance, all at once."""
    clients = [httpx.AsyncClient(base_url=s.base_url, cookies=cookies, timeout=30) for s in servers]
    try:
        calls = [c.get("/api/accounts") for c in clients for _ in range(per_server)]
        return [r.status_code for r in await asyncio.gather(*calls)]
    finally:
        for client in clients:
            await client.aclose()


def login_and_wait_until_due(servers: list[Server]) -> httpx.Cookies:
    with httpx.Client(base_url=servers[0].base_url, timeout=10) as browser:
        assert sandbox_login(browser, "alice").status_code == 303
        assert browser.get("/api/accounts").status_code == 200
        time.sleep(TTL / 2 + 0.2)
        return httpx.Cookies(browser.cookies)


def stats(issuer: str) -> dict[str, object]:
    body: dict[str, object] = httpx.get(f"{issuer}/_sandbox/stats").json()
    return body


@pytest.fixture(params=["sqlite", "redis", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/sessions.db"
    elif request.param == "postgres":
        # The session's throwaway database, with tables of this test's own.
        url: str = request.getfixturevalue("postgres_url")
        prefix = unique_table_prefix()
        yield f"{url}?table_prefix={prefix}"
        drop_tables(url, prefix)
    else:
        yield request.getfixturevalue("redis_url")


def test_fifty_concurrent_requests_in_one_process_make_one_refresh(tmp_path: Path) -> None:
    with ExitStack() as stack:
        issuer, servers = start_apps(stack, tmp_path, 1, f"sqlite:///{tmp_path}/s.db")
        cookies = login_and_wait_until_due(servers)
        codes = asyncio.run(storm(servers, cookies, 50))
        assert codes == [200] * 50
        counts = stats(issuer)
        assert counts["grant_counts"] == {"authorization_code": 1, "refresh_token": 1}
        assert counts["refresh_reuses"] == 0


def test_two_processes_sharing_a_store_make_one_refresh(tmp_path: Path, store_url: str) -> None:
    with ExitStack() as stack:
        issuer, servers = start_apps(stack, tmp_path, 2, store_url)
        cookies = login_and_wait_until_due(servers)
        codes = asyncio.run(storm(servers, cookies, 25))
        assert codes == [200] * 50
        counts = stats(issuer)
        assert counts["grant_counts"] == {"authorization_code": 1, "refresh_token": 1}
        assert counts["refresh_reuses"] == 0
        # The session lives on in both instances.
        for server in servers:
            with httpx.Client(base_url=server.base_url, cookies=cookies) as client:
                assert client.get("/auth/session").status_code == 200


def test_logout_in_one_process_is_honoured_by_the_other(tmp_path: Path, store_url: str) -> None:
    with ExitStack() as stack:
        _, (first, second) = start_apps(stack, tmp_path, 2, store_url)
        with httpx.Client(base_url=first.base_url, timeout=10) as browser:
            sandbox_login(browser, "alice")
            cookies = httpx.Cookies(browser.cookies)  # a copy: logout clears the browser's
            with httpx.Client(base_url=second.base_url, cookies=cookies) as other:
                # The second instance serves the session first, so a near-cache holds it.
                assert other.get("/auth/session").status_code == 200
                logout = browser.post("/auth/logout", headers={"Origin": first.base_url})
                assert logout.status_code == 303
                assert other.get("/auth/session").status_code == 401
                assert other.get("/api/accounts").status_code == 401


def test_workers_share_sessions_and_the_sandbox(tmp_path: Path) -> None:
    """``--workers 2`` on the default sandbox: the provider runs once, sessions in SQLite."""
    port = free_port()
    env = {"SESSION_STORE": f"sqlite:///{tmp_path}/s.db", "SESSION_SECRET": ""}
    for name in ("OIDC_ISSUER", "ORCA_API_BASE", "APP_BASE_URL"):
        env[name] = ""
    args = ["-m", "example_app", "--port", str(port), "--workers", "2"]
    with serve(args, port, env, tmp_path / "app.log") as app:
        with httpx.Client(base_url=app.base_url, timeout=10) as browser:
            assert sandbox_login(browser, "alice").status_code == 303
            cookies = httpx.Cookies(browser.cookies)
        # New connections, spread by the kernel over both workers: every one sees the session.
        for _ in range(20):
            with httpx.Client(base_url=app.base_url, cookies=cookies) as client:
                assert client.get("/api/accounts").status_code == 200
        assert "own process, shared by the workers" in app.log()


def test_redis_going_away_is_a_503_and_its_return_needs_no_restart(tmp_path: Path) -> None:
    from tests.redis_server import RedisServer

    redis = RedisServer(persist=True)  # our own: the shared one is never stopped
    redis.start()
    try:
        port = free_port()
        env = {"SESSION_STORE": redis.url, "SESSION_SECRET": SECRET}
        for name in ("OIDC_ISSUER", "ORCA_API_BASE", "APP_BASE_URL"):
            env[name] = ""
        args = ["-m", "example_app", "--port", str(port)]
        with (
            serve(args, port, env, tmp_path / "app.log") as app,
            httpx.Client(base_url=app.base_url, timeout=10) as browser,
        ):
            sandbox_login(browser, "alice")
            assert browser.get("/api/accounts").status_code == 200
            redis.kill()
            for path in ("/auth/session", "/api/accounts"):
                response = browser.get(path, headers={"Accept": "application/json"})
                assert response.status_code == 503, path
                assert response.json()["error"] == "session_store_unavailable"
            assert browser.cookies  # the session cookie is kept
            redis.start()  # same port, same data
            assert browser.get("/auth/session").status_code == 200
            assert browser.get("/api/accounts").status_code == 200
            redis.pause()  # accepts connections, answers nothing: a slow Redis
            # The near-cache, back on once its listener re-subscribed, may serve the record
            # until its lease lapses (the silent partition's bound); after that, Redis is
            # asked, and does not answer.
            time.sleep(LEASE + 0.1)
            started = time.monotonic()
            assert browser.get("/auth/session").status_code == 503
            assert time.monotonic() - started < 8  # bounded (a hang guard, not a speed test)
            redis.resume()
            assert browser.get("/auth/session").status_code == 200
    finally:
        redis.stop()


def test_a_backchannel_logout_received_by_one_instance_ends_the_session_in_all(
    tmp_path: Path, store_url: str
) -> None:
    """The provider notifies the first instance; the second, sharing the store, agrees."""
    with ExitStack() as stack:
        issuer, (first, second) = start_apps(stack, tmp_path, 2, store_url)
        with httpx.Client(base_url=first.base_url, timeout=10) as browser:
            sandbox_login(browser, "alice")
            cookies = httpx.Cookies(browser.cookies)
            with httpx.Client(base_url=second.base_url, cookies=cookies) as other:
                assert other.get("/auth/session").status_code == 200  # held by a near-cache
            page = browser.get(f"{issuer}/session")
            csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
            assert csrf is not None
            done = browser.post(
                f"{issuer}/session/logout",
                data={"csrf": csrf.group(1)},
                headers={"Origin": issuer},
            )
            assert "1 app was notified" in done.text
        with httpx.Client(base_url=second.base_url, cookies=cookies) as other:
            assert other.get("/auth/session").status_code == 401
            assert other.get("/api/accounts").status_code == 401


def test_flask_django_and_starlette_instances_share_sessions_in_redis(
    tmp_path: Path, redis_url: str
) -> None:
    """One record format: a session made by the Flask example is the Django example's and the
    demo's; a refresh storm over the three makes one refresh; a logout in the Flask instance
    ends it in the other two."""
    with ExitStack() as stack:
        frameworks = ("flask", "django", "starlette")
        issuer, servers = start_apps(stack, tmp_path, 3, redis_url, frameworks)
        flask_app, *others = servers
        cookies = login_and_wait_until_due(servers)  # logged in at the Flask instance
        for server in others:
            with httpx.Client(base_url=server.base_url, cookies=cookies) as client:
                assert client.get("/auth/session").json()["sub"] == "sandbox-alice"

        codes = asyncio.run(storm(servers, cookies, 10))

        assert codes == [200] * 30
        counts = stats(issuer)
        assert counts["grant_counts"] == {"authorization_code": 1, "refresh_token": 1}
        assert counts["refresh_reuses"] == 0
        with httpx.Client(base_url=flask_app.base_url, cookies=cookies) as browser:
            logout = browser.post("/auth/logout", headers={"Origin": flask_app.base_url})
            assert logout.status_code == 303
        for server in others:
            with httpx.Client(base_url=server.base_url, cookies=cookies) as client:
                assert client.get("/auth/session").status_code == 401
                assert client.get("/api/accounts").json()["error"] == "login_required"
