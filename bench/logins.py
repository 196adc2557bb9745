"""What one anonymous ``GET /auth/login`` costs: time, and what it leaves in each store.

Anyone can start a login, and each start stores a transaction until its callback or
``login_timeout`` (600 s by default). So the cost of a flood is (bytes per pending login) x
(logins per second) x 600 s on SQLite and Redis, and at most ``max_pending_logins`` records in
the memory store, which keeps them apart from sessions. ``python -m bench.logins`` prints the
figures alone; ``make bench`` includes them.
"""

from __future__ import annotations

import asyncio
import gc
import os
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

from bench.inprocess import drive, get_scope
from oidc_kit import MemoryStore, SessionStore, SQLiteStore
from oidc_kit.starlette import OIDCAuth

#: Where the login starts; the worst case is a ``next`` at the 2,048 characters allowed.
TYPICAL_NEXT = "/accounts"
LONGEST_NEXT = "/" + "a" * 2047


def _discovery() -> httpx.MockTransport:
    from bench import tokens as portx

    doc = portx.discovery()
    return httpx.MockTransport(lambda request: httpx.Response(200, json=doc))


async def _start_logins(auth: OIDCAuth, n: int, next_path: str) -> float:
    """``n`` anonymous logins through the ASGI routes (no cookie: a new browser each); the
    seconds per login."""
    from starlette.applications import Starlette
    from starlette.routing import Mount

    app = Starlette(routes=[Mount("/auth", routes=auth.routes)])
    scope = get_scope("/auth/login", f"next={next_path}".encode())
    start = time.perf_counter()
    await drive(app, n, scope, status=303)
    return (time.perf_counter() - start) / n


async def _measure(
    store: SessionStore, n: int, next_path: str, used: Callable[[], Awaitable[int]]
) -> tuple[float, float]:
    """Seconds per login and bytes stored per pending login in ``store``."""
    from bench import tokens as portx

    auth = OIDCAuth(
        portx.config(store=None),  # the store is the object measured
        http_client=httpx.AsyncClient(transport=_discovery()),
        store=store,
    )
    await _start_logins(auth, 10, next_path)  # discovery fetched, tables created
    before = await used()
    seconds = await _start_logins(auth, n, next_path)
    grown = await used() - before
    await auth.http.aclose()
    return seconds, grown / n


async def _memory(n: int, next_path: str) -> tuple[float, float]:
    """Timed without tracemalloc (which slows every allocation), then measured with it."""

    async def nothing() -> int:
        return 0

    async def used() -> int:
        gc.collect()
        return tracemalloc.get_traced_memory()[0]

    store = MemoryStore(max_entries=10 * n, max_pending_logins=4 * n)
    try:
        seconds, _ = await _measure(store, n, next_path, nothing)
        await store.close()
        gc.collect()
        tracemalloc.start()
        _, per_login = await _measure(store, n, next_path, used)
        return seconds, per_login
    finally:
        tracemalloc.stop()
        await store.close()


async def _sqlite(n: int, next_path: str, tmp: Path) -> tuple[float, float]:
    path = tmp / f"logins-{len(next_path)}.db"
    store = SQLiteStore(str(path))

    async def used() -> int:
        return sum(p.stat().st_size for p in tmp.glob(path.name + "*"))

    try:
        return await _measure(store, n, next_path, used)
    finally:
        await store.close()


async def _redis(url: str, n: int, next_path: str) -> tuple[float, float]:
    import redis.asyncio as aioredis

    from oidc_kit import RedisStore

    client = aioredis.Redis.from_url(url)
    store = RedisStore(url)

    async def used() -> int:
        info = await client.info("memory")
        return int(info["used_memory"])

    try:
        return await _measure(store, n, next_path, used)
    finally:
        async for key in client.scan_iter(match="login:*", count=1000):
            await client.delete(key)
        await client.aclose()
        await store.close()


async def measure(n: int, redis_url: str | None) -> list[tuple[str, str]]:
    """Rows (measure, value) for each store, typical and longest ``next``."""
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        runs: list[tuple[str, Callable[[str], Awaitable[tuple[float, float]]]]] = [
            ("memory", lambda nxt: _memory(n, nxt)),
            ("SQLite", lambda nxt: _sqlite(n, nxt, Path(tmp))),
        ]
        if redis_url is not None:
            runs.append(("Redis", lambda nxt: _redis(redis_url, n, nxt)))
        for name, run in runs:
            typical_s, typical_b = await run(TYPICAL_NEXT)
            _, longest_b = await run(LONGEST_NEXT)
            rows.append(
                (
                    f"anonymous GET /auth/login, {name} store ({n:,} logins)",
                    f"{typical_s * 1e6:,.0f} µs; {typical_b:,.0f} B per pending login "
                    f"({longest_b:,.0f} B with a 2,048-character next)",
                )
            )
    return rows


def main() -> None:
    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    for measure_, value in asyncio.run(measure(2000, url)):
        print(f"{measure_}: {value}")


if __name__ == "__main__":
    main()
