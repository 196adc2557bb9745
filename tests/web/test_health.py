"""``GET /auth/health``: the store pinged, the provider judged from its recent calls.

The provider here is the fake one behind a MockTransport (``op.fail_with`` makes every call
fail as a network error would); the stores are the memory store, a SQLite file, and stores
that fail or hang. Redis going away for real: tests/stores/test_health_redis.py.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.routing import Mount

from oidc_kit import MemoryStore, ProviderUnavailable, StoreUnavailable
from oidc_kit._health import FAILURES_TO_FAIL, RECENT, health, provider_status, store_status
from oidc_kit._provider import ProviderHealth
from oidc_kit.starlette import OIDCAuth
from oidc_kit.stores.sqlite import SQLiteStore
from tests.conftest import Clock, make_config
from tests.fake_op import FakeOP

OK = {"status": "ok", "checks": {"store": "ok", "provider": "ok"}}
STORE_DOWN = {"status": "unavailable", "checks": {"store": "unavailable", "provider": "ok"}}
PROVIDER_DOWN = {"status": "unavailable", "checks": {"store": "ok", "provider": "unavailable"}}


class FailingStore(MemoryStore):
    """A store whose server has gone: every call raises, as a backend's would."""

    async def ping(self) -> None:
        raise StoreUnavailable("the session store did not answer")


class HangingStore(MemoryStore):
    """A store whose server accepts and never answers."""

    async def ping(self) -> None:
        await asyncio.Event().wait()


class OldStore:
    """A store written before ``ping`` joined the Protocol: probed with a ``get``."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.gets: list[str] = []

    async def get(self, key: str) -> bytes | None:
        self.gets.append(key)
        if self.fail:
            raise ConnectionError("redis://:hunter2@db.internal:6379 refused")
        return None


def app_of(auth: OIDCAuth) -> Starlette:
    return Starlette(
        routes=[Mount("/auth", routes=auth.routes)],
        middleware=[auth.middleware],
        exception_handlers=auth.exception_handlers,
    )


@pytest.fixture
async def make_client(
    transport: httpx.AsyncBaseTransport, clock: Clock
) -> AsyncIterator[Callable[..., httpx.AsyncClient]]:
    made: list[tuple[OIDCAuth, httpx.AsyncClient]] = []

    def make(store: object = None, **config: object) -> httpx.AsyncClient:
        http = httpx.AsyncClient(transport=transport)
        auth = OIDCAuth(
            make_config(**config),
            http_client=http,
            store=store if store is not None else MemoryStore(),
            clock=clock,
        )
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app_of(auth)), base_url="https://app.test"
        )
        made.append((auth, client))
        return client

    yield make
    for auth, client in made:
        await client.aclose()
        await auth.http.aclose()


async def test_a_healthy_kit_answers_200_with_both_checks(
    make_client: Callable[..., httpx.AsyncClient], op: FakeOP
) -> None:
    response = await make_client().get("/auth/health")
    assert response.status_code == 200
    assert response.json() == OK
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Content-Type"] == "application/json"
    # A kit that has not talked to the provider yet is healthy, and the probe did not call it.
    assert op.requests == []


async def test_head_answers_the_status_without_a_body_and_other_methods_get_405(
    make_client: Callable[..., httpx.AsyncClient],
) -> None:
    client = make_client()
    head = await client.head("/auth/health")
    assert (head.status_code, head.content) == (200, b"")
    assert head.headers["Cache-Control"] == "no-store"
    down = await make_client(FailingStore()).head("/auth/health")
    assert down.status_code == 503
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        response = await client.request(method, "/auth/health")
        assert response.status_code == 405, method
        assert set(response.headers["Allow"].replace(" ", "").split(",")) == {"GET", "HEAD"}


async def test_a_failing_store_is_503_naming_the_store(
    make_client: Callable[..., httpx.AsyncClient],
) -> None:
    response = await make_client(FailingStore()).get("/auth/health")
    assert response.status_code == 503
    assert response.json() == STORE_DOWN
    assert response.headers["Cache-Control"] == "no-store"


async def test_a_hanging_store_is_unavailable_within_the_deadline() -> None:
    started = time.monotonic()
    assert await store_status(HangingStore(), deadline=0.05) == "unavailable"
    assert time.monotonic() - started < 1


async def test_the_route_bounds_a_hanging_store_by_one_second(
    make_client: Callable[..., httpx.AsyncClient],
) -> None:
    started = time.monotonic()
    response = await make_client(HangingStore()).get("/auth/health")
    assert response.status_code == 503
    assert response.json() == STORE_DOWN
    assert time.monotonic() - started < 2  # the deadline is 1 s


async def test_a_store_without_ping_is_probed_with_a_get(
    caplog: pytest.LogCaptureFixture,
) -> None:
    old = OldStore()
    assert await store_status(old, deadline=1) == "ok"  # type: ignore[arg-type]
    assert old.gets == ["health:probe"]
    broken = OldStore(fail=True)
    with caplog.at_level("WARNING", logger="oidc_kit"):
        assert await store_status(broken, deadline=1) == "unavailable"  # type: ignore[arg-type]
    # The log names the kind of failure, never a client library's message (URL, password).
    assert "ConnectionError" in caplog.text
    assert "hunter2" not in caplog.text and "db.internal" not in caplog.text


async def test_a_sqlite_store_pings_its_file(tmp_path: Path) -> None:
    store = SQLiteStore(str(tmp_path / "sessions.db"))
    try:
        await store.ping()
        assert await store_status(store, deadline=1) == "ok"
    finally:
        await store.close()
    unusable = SQLiteStore(str(tmp_path))  # a directory: SQLite cannot open it
    with pytest.raises(StoreUnavailable):
        await unusable.ping()
    assert await store_status(unusable, deadline=1) == "unavailable"


async def test_the_memory_store_pings() -> None:
    await MemoryStore().ping()


async def test_a_provider_whose_discovery_failed_is_503_and_probes_cost_it_nothing(
    make_client: Callable[..., httpx.AsyncClient], op: FakeOP, clock: Clock
) -> None:
    client = make_client()
    op.fail_with = httpx.ConnectError
    assert (await client.get("/auth/login")).status_code == 503  # discovery failed
    calls = len(op.requests)
    for _ in range(5):
        response = await client.get("/auth/health")
        assert response.status_code == 503
        assert response.json() == PROVIDER_DOWN
    assert len(op.requests) == calls  # judged from the record, never by calling the provider
    # Safe to expose: no host, URL or error in the body.
    assert "op.test" not in response.text and "ConnectError" not in response.text
    # The provider is back: the next login's discovery succeeds and the check with it.
    op.fail_with = None
    assert (await client.get("/auth/login")).status_code in (302, 303)
    assert (await client.get("/auth/health")).json() == OK


async def test_an_old_failure_says_nothing_any_more(
    make_client: Callable[..., httpx.AsyncClient], op: FakeOP, clock: Clock
) -> None:
    client = make_client()
    op.fail_with = httpx.ConnectError
    await client.get("/auth/login")
    assert (await client.get("/auth/health")).status_code == 503
    # An instance out of rotation makes no calls: after RECENT seconds it is back in.
    clock.advance(RECENT + 1)
    assert (await client.get("/auth/health")).json() == OK


async def test_with_metadata_cached_it_takes_several_failures_in_a_row(
    make_client: Callable[..., httpx.AsyncClient], op: FakeOP, clock: Clock
) -> None:
    client = make_client(discovery_ttl=60)
    assert (await client.get("/auth/login")).status_code in (302, 303)
    op.fail_with = httpx.ConnectError
    for n in range(1, FAILURES_TO_FAIL + 1):
        clock.advance(61)  # the metadata is due: the next login fetches discovery again
        assert (await client.get("/auth/login")).status_code == 503
        expected = 503 if n >= FAILURES_TO_FAIL else 200
        assert (await client.get("/auth/health")).status_code == expected, n


def test_the_provider_rule() -> None:
    now = 1_000.0
    fresh = ProviderHealth()
    assert provider_status(fresh, has_metadata=False, now=now) == "ok"
    once = ProviderHealth()
    once.record(False, now - 1)
    assert provider_status(once, has_metadata=False, now=now) == "unavailable"
    assert provider_status(once, has_metadata=True, now=now) == "ok"
    assert provider_status(once, has_metadata=False, now=now + RECENT + 2) == "ok"
    many = ProviderHealth()
    for _ in range(FAILURES_TO_FAIL):
        many.record(False, now)
    assert provider_status(many, has_metadata=True, now=now) == "unavailable"
    many.record(True, now)
    assert (many.consecutive_failures, many.last_success) == (0, now)
    assert provider_status(many, has_metadata=True, now=now) == "ok"


async def test_several_providers_are_reported_together_and_by_name(
    transport: httpx.AsyncBaseTransport, op: FakeOP, clock: Clock
) -> None:
    portx = make_config()
    corp = make_config(issuer="https://corp.test")
    http = httpx.AsyncClient(transport=transport)
    auth = OIDCAuth({"portx": portx, "corp": corp}, http_client=http, store=MemoryStore())
    try:
        providers = {name: client.provider for name, client in auth._clients.items()}
        op.fail_with = httpx.ConnectError
        with pytest.raises(ProviderUnavailable):
            await providers["corp"].metadata()
        report = await health(auth.store, providers, deadline=1, clock=time.time)
        assert report.providers == {"portx": "ok", "corp": "unavailable"}
        assert (report.provider, report.status_code) == ("unavailable", 503)
        assert report.body() == PROVIDER_DOWN
    finally:
        await http.aclose()


async def test_fastapi_apps_mount_the_route(kit: OIDCAuth) -> None:
    app = FastAPI(routes=[Mount("/auth", routes=kit.routes)], middleware=[kit.middleware])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="https://app.test"
    ) as client:
        response = await client.get("/auth/health")
    assert (response.status_code, response.json()) == (200, OK)


async def test_token_endpoint_calls_count_unreachable_as_failures_answers_as_success() -> None:
    import httpx as _httpx

    from oidc_kit._errors import ProviderUnavailable, TokenRequestFailed
    from oidc_kit._provider import Provider
    from tests.conftest import make_config

    async with _httpx.AsyncClient() as http:
        provider = Provider(make_config(), http, lambda: 1000.0)

        async def unreachable() -> None:
            raise ProviderUnavailable("token endpoint: no answer")

        async def refused() -> None:
            raise TokenRequestFailed("invalid_grant", code="invalid_grant")

        for _ in range(3):
            with pytest.raises(ProviderUnavailable):
                await provider.observed(unreachable())
        assert provider.health.consecutive_failures == 3
        with pytest.raises(TokenRequestFailed):
            await provider.observed(refused())  # the provider answered: it is there
        assert provider.health.consecutive_failures == 0
        assert provider.health.last_success == 1000.0
