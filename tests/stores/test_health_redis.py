"""``/auth/health`` over a real Redis that goes away: 503 naming the store within 2 s.

Each test starts a ``redis-server`` of its own, checks the health route answers 200, then
kills (or freezes) the server and polls the route: the first 503 with ``"store":
"unavailable"`` must arrive less than 2 seconds after the server went away. That is the
feature's promise to a load balancer (issue 16), not a benchmark: the store's ping is
bounded by the health check's own one-second deadline, whatever the Redis timeouts. The
server then comes back and so does the 200, with no restart of the app.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from oidc_kit import RedisStore
from oidc_kit.starlette import OIDCAuth
from tests.conftest import make_config
from tests.redis_server import RedisServer
from tests.servers import free_port, serve

#: The feature's deadline: a 503 naming the store within this many seconds of Redis going.
PROMISE = 2.0
OK = {"status": "ok", "checks": {"store": "ok", "provider": "ok"}}
STORE_DOWN = {"status": "unavailable", "checks": {"store": "unavailable", "provider": "ok"}}


def _no_provider_calls(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"a health probe called the provider: {request.url}")


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A redis-server of this test's own, which it kills or freezes (tests/markers.py: redis)."""
    redis_server = RedisServer()
    redis_server.start()
    yield redis_server
    redis_server.stop()


@pytest.fixture
async def app_client(own_redis: RedisServer) -> AsyncIterator[httpx.AsyncClient]:
    """The kit in this process, its store the Redis server's with the default timeouts."""
    store = RedisStore(own_redis.url)
    http = httpx.AsyncClient(transport=httpx.MockTransport(_no_provider_calls))
    auth = OIDCAuth(make_config(), http_client=http, store=store)
    app = Starlette(routes=[Mount("/auth", routes=auth.routes)], middleware=[auth.middleware])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="https://app.test"
    ) as client:
        yield client
    await http.aclose()
    await store.close()


async def _seconds_to_503(client: httpx.AsyncClient, gone: Callable[[], None]) -> float:
    """Call ``gone`` (Redis goes away), then poll until the first 503; seconds it took."""
    started = time.monotonic()
    gone()
    while True:
        response = await client.get("/auth/health")
        elapsed = time.monotonic() - started
        if response.status_code == 503:
            assert response.json() == STORE_DOWN
            return elapsed
        assert response.status_code == 200
        assert elapsed < 3 * PROMISE, "no 503 at all after Redis went away"


async def test_redis_killed_is_503_within_2_s_and_200_again_once_back(
    own_redis: RedisServer, app_client: httpx.AsyncClient
) -> None:
    response = await app_client.get("/auth/health")
    assert (response.status_code, response.json()) == (200, OK)
    took = await _seconds_to_503(app_client, own_redis.kill)
    print(f"redis-server killed: first 503 after {took:.3f} s")  # the report quotes it
    assert took < PROMISE
    own_redis.start()  # same port: the store's pool reconnects by itself
    response = await app_client.get("/auth/health")
    assert (response.status_code, response.json()) == (200, OK)


async def test_redis_frozen_is_503_within_2_s_and_200_again_once_thawed(
    own_redis: RedisServer, app_client: httpx.AsyncClient
) -> None:
    assert (await app_client.get("/auth/health")).status_code == 200
    try:
        # Frozen: the socket accepts, nothing answers; only the deadline ends the ping.
        took = await _seconds_to_503(app_client, own_redis.pause)
    finally:
        own_redis.resume()
    print(f"redis-server frozen: first 503 after {took:.3f} s")
    assert took < PROMISE
    response = await app_client.get("/auth/health")
    assert (response.status_code, response.json()) == (200, OK)


async def test_the_example_app_on_redis_answers_503_within_2_s_of_a_kill(
    own_redis: RedisServer, tmp_path: Path
) -> None:
    """The black box: ``python -m example_app`` with ``SESSION_STORE=redis://...``."""
    port = free_port()
    env = {"SESSION_STORE": own_redis.url, "SESSION_SECRET": "health-test-secret-0123456789abcd"}
    with ExitStack() as stack:
        app = stack.enter_context(
            serve(["-m", "example_app", "--port", str(port)], port, env, tmp_path / "app.log")
        )
        async with httpx.AsyncClient(base_url=app.base_url, timeout=5) as client:
            response = await client.get("/auth/health")
            assert (response.status_code, response.json()) == (200, OK), app.log()
            assert response.headers["Cache-Control"] == "no-store"
            took = await _seconds_to_503(client, own_redis.kill)
    print(f"example app, redis-server killed: first 503 after {took:.3f} s")
    assert took < PROMISE
