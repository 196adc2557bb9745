"""The SessionStore contract, run on every backend, plus what only one backend has.

To add a backend, add its id to ``BACKENDS`` and one branch to ``_open_backend``, returning the
store and how to outlive a short TTL on it. Memory and SQLite take an injected clock, moved by
hand; Redis owns its clock, so on Redis alone short real TTLs pass by sleeping. Tests of exact
expiry instants run on the clocked backends only (``clocked``).

The Redis cases talk to a real server (``redis_url``, see tests/redis_server.py), each test
under its own key prefix, deleted afterwards; the TLS, Sentinel and Cluster cases to a
TLS-only server with ACL users, to a master, a replica and three sentinels, and to a 3-master
cluster, each started once per test session.
The PostgreSQL cases use the test session's own database (``postgres_url``, see
tests/postgres_server.py), each test under its own table prefix, whose tables are dropped
afterwards; like Redis, PostgreSQL owns its clock.
"""

from __future__ import annotations

import asyncio
import math
import os
import sqlite3
import stat
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from oidc_kit._errors import ConfigurationError, StoreUnavailable
from oidc_kit.stores import MemoryStore, RedisStore, SessionStore, SQLiteStore, open_store
from oidc_kit.stores.postgres import PostgresStore
from oidc_kit.stores.redis import _px
from tests.postgres_server import drop_tables, unique_table_prefix
from tests.redis_server import RedisServer, delete_prefixed, unique_prefix
from tests.servers import free_port

#: "sentinel" and "cluster" are Redis topologies the tests start (tests/redis_server.py);
#: "rediss" is a Redis of theirs that speaks TLS only, to an ACL user.
BACKENDS = ["memory", "sqlite", "redis", "rediss", "sentinel", "cluster", "postgres"]
#: Backends whose clock a test can move by hand.
CLOCKED = ["memory", "sqlite"]
#: Backends that several processes share; a second store instance stands for a second process.
SHARED = ["sqlite", "redis", "rediss", "sentinel", "cluster", "postgres"]

#: On Redis, a short TTL is real time: 50 ms, outlived by waiting 120 ms.
REDIS_SHORT_TTL = 0.05
REDIS_OUTLIVE = 0.12


class FakeClock:
    """A clock tests move by hand; starts at a realistic epoch so SQLite sees real-looking times."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Backend:
    """A store under test, how to let a short TTL pass on it, and how to open a twin."""

    kind: str
    store: SessionStore
    #: A TTL (seconds) that ``outlive()`` makes pass; "long" TTLs (60 s) never pass in a test.
    short_ttl: float
    outlive: Callable[[], Awaitable[None]]
    #: Opens another instance on the same data (another process, in effect); None for memory.
    twin: Callable[[], SessionStore] | None = None
    #: Moves the store's clock; None where the server owns the clock (Redis).
    advance: Callable[[float], None] | None = None


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


#: The backends on Redis servers of the test session's own, and the fixture of each.
_OWN_REDIS = {"rediss": "redis_tls", "sentinel": "redis_sentinel", "cluster": "redis_cluster"}


async def _open_backend(
    kind: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    clock: FakeClock,
    exits: AsyncExitStack,
) -> Backend:
    def closing(store: SessionStore) -> SessionStore:
        exits.push_async_callback(store.close)
        return store

    async def advance_past(seconds: float) -> None:
        clock.advance(seconds)

    if kind == "memory":
        store = closing(MemoryStore(clock=clock))
        return Backend(kind, store, 10, lambda: advance_past(11), advance=clock.advance)
    if kind == "sqlite":
        path = str(tmp_path / "sessions.db")
        store = closing(SQLiteStore(path, clock=clock))
        twin = lambda: closing(SQLiteStore(path, clock=clock))  # noqa: E731
        return Backend(kind, store, 10, lambda: advance_past(11), twin, clock.advance)
    if kind == "redis":
        url: str = request.getfixturevalue("redis_url")
        prefix = unique_prefix()
        exits.callback(delete_prefixed, url, prefix)  # runs after the stores close
        store = closing(RedisStore(url, prefix=prefix))
        twin = lambda: closing(RedisStore(url, prefix=prefix))  # noqa: E731
        return Backend(kind, store, REDIS_SHORT_TTL, lambda: asyncio.sleep(REDIS_OUTLIVE), twin)
    if kind in _OWN_REDIS:
        # Servers of the test session's own, gone with it: no cleanup of keys needed.
        topology_url: str = request.getfixturevalue(_OWN_REDIS[kind]).url
        prefix = unique_prefix()
        store = closing(RedisStore(topology_url, prefix=prefix))
        twin = lambda: closing(RedisStore(topology_url, prefix=prefix))  # noqa: E731
        return Backend(kind, store, REDIS_SHORT_TTL, lambda: asyncio.sleep(REDIS_OUTLIVE), twin)
    if kind == "postgres":
        return _postgres_backend(request, closing, exits)
    raise AssertionError(f"unknown backend {kind}")


def _postgres_backend(
    request: pytest.FixtureRequest,
    closing: Callable[[SessionStore], SessionStore],
    exits: AsyncExitStack,
) -> Backend:
    url: str = request.getfixturevalue("postgres_url")
    prefix = unique_table_prefix()
    exits.callback(drop_tables, url, prefix)  # runs after the stores close
    store = closing(PostgresStore(url, table_prefix=prefix))
    twin = lambda: closing(PostgresStore(url, table_prefix=prefix))  # noqa: E731
    # The database's clock, like Redis's: short TTLs pass for real.
    return Backend("postgres", store, REDIS_SHORT_TTL, lambda: asyncio.sleep(REDIS_OUTLIVE), twin)


async def _backend_fixture(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock
) -> AsyncIterator[Backend]:
    async with AsyncExitStack() as exits:
        yield await _open_backend(request.param, request, tmp_path, clock, exits)


@pytest.fixture(params=BACKENDS)
async def backend(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock
) -> AsyncIterator[Backend]:
    async for opened in _backend_fixture(request, tmp_path, clock):
        yield opened


@pytest.fixture(params=CLOCKED)
async def clocked(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock
) -> AsyncIterator[Backend]:
    async for opened in _backend_fixture(request, tmp_path, clock):
        yield opened


@pytest.fixture(params=SHARED)
async def shared(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock
) -> AsyncIterator[Backend]:
    async for opened in _backend_fixture(request, tmp_path, clock):
        yield opened


@pytest.fixture
def store(backend: Backend) -> SessionStore:
    return backend.store


# --- the contract -------------------------------------------------------------------------------


async def test_satisfies_protocol(store: SessionStore) -> None:
    assert isinstance(store, SessionStore)


async def test_get_missing_is_none(store: SessionStore) -> None:
    assert await store.get("session:nope") is None


@pytest.mark.parametrize(
    "value", [b"", b"\x00", b"sealed\x00\xff\xfe bytes", bytes(range(256)), b"x" * 100_000]
)
async def test_roundtrip_arbitrary_bytes(store: SessionStore, value: bytes) -> None:
    await store.set("session:a", value, 60)
    assert await store.get("session:a") == value


async def test_value_comes_back_as_bytes(store: SessionStore) -> None:
    await store.set("session:a", bytearray(b"abc"), 60)  # type: ignore[arg-type]
    got = await store.get("session:a")
    assert type(got) is bytes
    assert got == b"abc"


async def test_overwrite_replaces_value_and_ttl(backend: Backend) -> None:
    store = backend.store
    await store.set("session:a", b"old", backend.short_ttl)
    await store.set("session:a", b"new", 60)
    await backend.outlive()
    assert await store.get("session:a") == b"new"


async def test_overwrite_can_shorten_ttl(backend: Backend) -> None:
    store = backend.store
    await store.set("session:a", b"old", 60)
    await store.set("session:a", b"new", backend.short_ttl)
    await backend.outlive()
    assert await store.get("session:a") is None


async def test_delete(store: SessionStore) -> None:
    await store.set("session:a", b"v", 60)
    await store.delete("session:a")
    assert await store.get("session:a") is None


async def test_delete_missing_is_fine(store: SessionStore) -> None:
    await store.delete("session:never-there")


async def test_value_expires(backend: Backend) -> None:
    await backend.store.set("session:a", b"v", backend.short_ttl)
    assert await backend.store.get("session:a") == b"v"
    await backend.outlive()
    assert await backend.store.get("session:a") is None


async def test_expiry_follows_the_clock(clocked: Backend) -> None:
    store, advance = clocked.store, clocked.advance
    assert advance is not None
    await store.set("session:a", b"v", 60)
    advance(59.5)
    assert await store.get("session:a") == b"v"
    advance(1)
    assert await store.get("session:a") is None


async def test_exactly_at_expiry_is_expired(clocked: Backend) -> None:
    assert clocked.advance is not None
    await clocked.store.set("session:a", b"v", 60)
    await clocked.store.set("lease:a", b"v", 60)
    clocked.advance(60)
    assert await clocked.store.get("session:a") is None
    assert await clocked.store.add("lease:a", b"w", 60) is True


async def test_non_positive_ttl_is_already_expired(store: SessionStore) -> None:
    # Out of the Protocol's range (ttl > 0), but a caller computing "time left" can reach 0:
    # the value must simply not be found, never live forever.
    await store.set("session:a", b"v", 0)
    await store.set("session:b", b"v", -5)
    assert await store.get("session:a") is None
    assert await store.get("session:b") is None


async def test_non_positive_ttl_removes_the_old_value(store: SessionStore) -> None:
    await store.set("session:a", b"old", 60)
    await store.set("session:a", b"new", 0)
    assert await store.get("session:a") is None


async def test_set_after_expiry_starts_afresh(backend: Backend) -> None:
    store = backend.store
    await store.set("session:a", b"old", backend.short_ttl)
    await backend.outlive()
    await store.set("session:a", b"new", 60)
    assert await store.get("session:a") == b"new"


async def test_take_returns_value_once(store: SessionStore) -> None:
    await store.set("login:1", b"txn", 60)
    assert await store.take("login:1") == b"txn"
    assert await store.take("login:1") is None
    assert await store.get("login:1") is None


async def test_take_missing_is_none(store: SessionStore) -> None:
    assert await store.take("login:none") is None


async def test_take_expired_is_none(backend: Backend) -> None:
    await backend.store.set("login:1", b"txn", backend.short_ttl)
    await backend.outlive()
    assert await backend.store.take("login:1") is None
    assert await backend.store.get("login:1") is None


async def test_concurrent_takes_have_one_winner(store: SessionStore) -> None:
    await store.set("login:1", b"txn", 60)
    results = await asyncio.gather(*(store.take("login:1") for _ in range(20)))
    assert results.count(b"txn") == 1
    assert results.count(None) == 19


async def test_keys_are_isolated(store: SessionStore) -> None:
    await store.set("session:a", b"A", 60)
    await store.set("session:b", b"B", 60)
    await store.set("login:a", b"L", 60)
    await store.delete("session:b")
    assert await store.take("login:a") == b"L"
    assert await store.get("session:a") == b"A"
    assert await store.get("session:b") is None
    assert await store.get("session:A") is None  # keys are case-sensitive


async def test_close_twice_is_fine(store: SessionStore) -> None:
    await store.set("session:a", b"v", 60)
    await store.close()
    await store.close()


# --- add and delete_if (refresh leases) ---------------------------------------------------------


async def test_add_when_absent_stores(store: SessionStore) -> None:
    assert await store.add("lease:s", b"me", 60) is True
    assert await store.get("lease:s") == b"me"


async def test_add_when_present_keeps_the_old_value(store: SessionStore) -> None:
    await store.set("lease:s", b"holder", 60)
    assert await store.add("lease:s", b"me", 60) is False
    assert await store.get("lease:s") == b"holder"


async def test_add_twice_second_loses(store: SessionStore) -> None:
    assert await store.add("lease:s", b"first", 60) is True
    assert await store.add("lease:s", b"second", 60) is False
    assert await store.get("lease:s") == b"first"


async def test_add_after_expiry_stores(backend: Backend) -> None:
    # A lease whose holder died expires, and the next caller takes it over.
    store = backend.store
    assert await store.add("lease:s", b"dead holder", backend.short_ttl) is True
    await backend.outlive()
    assert await store.add("lease:s", b"me", 60) is True
    assert await store.get("lease:s") == b"me"


async def test_add_sets_the_ttl(backend: Backend) -> None:
    assert await backend.store.add("lease:s", b"me", backend.short_ttl) is True
    await backend.outlive()
    assert await backend.store.get("lease:s") is None


async def test_add_value_comes_back_as_bytes(store: SessionStore) -> None:
    assert await store.add("lease:s", bytearray(b"me"), 60) is True  # type: ignore[arg-type]
    got = await store.get("lease:s")
    assert type(got) is bytes
    assert got == b"me"


@pytest.mark.parametrize("ttl", [0, -1])
async def test_add_with_non_positive_ttl_stores_nothing(store: SessionStore, ttl: float) -> None:
    assert await store.add("lease:new", b"me", ttl) is False
    assert await store.get("lease:new") is None
    await store.set("lease:held", b"holder", 60)
    assert await store.add("lease:held", b"me", ttl) is False
    assert await store.get("lease:held") == b"holder"


async def test_concurrent_adds_have_one_winner(store: SessionStore) -> None:
    tokens = [f"token-{i}".encode() for i in range(20)]
    results = await asyncio.gather(*(store.add("lease:s", t, 60) for t in tokens))
    assert results.count(True) == 1
    winner = tokens[results.index(True)]
    assert await store.get("lease:s") == winner


async def test_delete_if_with_the_right_value_deletes(store: SessionStore) -> None:
    await store.add("lease:s", b"mine", 60)
    assert await store.delete_if("lease:s", b"mine") is True
    assert await store.get("lease:s") is None
    assert await store.add("lease:s", b"next", 60) is True


async def test_delete_if_with_a_wrong_value_keeps(store: SessionStore) -> None:
    await store.add("lease:s", b"theirs", 60)
    assert await store.delete_if("lease:s", b"mine") is False
    assert await store.delete_if("lease:s", b"theirs\x00") is False
    assert await store.delete_if("lease:s", b"") is False
    assert await store.get("lease:s") == b"theirs"


async def test_delete_if_missing_is_false(store: SessionStore) -> None:
    assert await store.delete_if("lease:none", b"mine") is False


async def test_delete_if_expired_is_false(backend: Backend) -> None:
    await backend.store.add("lease:s", b"mine", backend.short_ttl)
    await backend.outlive()
    assert await backend.store.delete_if("lease:s", b"mine") is False
    assert await backend.store.get("lease:s") is None


async def test_delete_if_spares_a_lease_taken_over(backend: Backend) -> None:
    # A slow holder's lease expired and someone else took it: the slow holder's release
    # must not remove the new holder's lease.
    store = backend.store
    await store.add("lease:s", b"slow", backend.short_ttl)
    await backend.outlive()
    assert await store.add("lease:s", b"new", 60) is True
    assert await store.delete_if("lease:s", b"slow") is False
    assert await store.get("lease:s") == b"new"


async def test_concurrent_delete_ifs_have_one_winner(store: SessionStore) -> None:
    await store.add("lease:s", b"mine", 60)
    results = await asyncio.gather(*(store.delete_if("lease:s", b"mine") for _ in range(20)))
    assert results.count(True) == 1


# --- several instances of one store (several processes) -----------------------------------------


async def test_instances_see_each_others_writes(shared: Backend) -> None:
    assert shared.twin is not None
    first, second = shared.store, shared.twin()
    await first.set("session:a", b"from first", 60)
    assert await second.get("session:a") == b"from first"
    await second.delete("session:a")
    assert await first.get("session:a") is None


async def test_take_across_instances_has_one_winner(shared: Backend) -> None:
    assert shared.twin is not None
    first, second = shared.store, shared.twin()
    await first.set("login:1", b"txn", 60)
    results = await asyncio.gather(*(s.take("login:1") for s in (first, second) * 10))
    assert results.count(b"txn") == 1


async def test_add_across_instances_is_exclusive(shared: Backend) -> None:
    assert shared.twin is not None
    stores = (shared.store, shared.twin())
    results = await asyncio.gather(
        *(stores[i % 2].add("lease:s", f"token-{i}".encode(), 60) for i in range(20))
    )
    assert results.count(True) == 1
    winner = f"token-{results.index(True)}".encode()
    assert await stores[0].get("lease:s") == winner
    assert await stores[1].get("lease:s") == winner


async def test_delete_if_across_instances(shared: Backend) -> None:
    assert shared.twin is not None
    first, second = shared.store, shared.twin()
    assert await first.add("lease:s", b"first's", 60) is True
    assert await second.add("lease:s", b"second's", 60) is False
    assert await second.delete_if("lease:s", b"second's") is False
    assert await second.delete_if("lease:s", b"first's") is True
    assert await first.get("lease:s") is None


# --- MemoryStore --------------------------------------------------------------------------------


async def test_memory_sweeps_expired_entries_on_writes(clock: FakeClock) -> None:
    store = MemoryStore(clock=clock)
    for i in range(500):
        await store.set(f"login:{i}", b"abandoned", 10)
    clock.advance(11)
    for i in range(2000):
        await store.set(f"session:{i % 5}", b"live", 10)
    # Never read again, the abandoned logins are gone all the same.
    assert len(store) == 5


def test_memory_is_bounded_by_default() -> None:
    assert MemoryStore().max_entries == 100_000


@pytest.mark.parametrize("max_entries", [0, -1])
def test_memory_refuses_a_bound_below_one(max_entries: int) -> None:
    with pytest.raises(ValueError, match="max_entries"):
        MemoryStore(max_entries)


async def test_memory_full_store_drops_expired_entries_first(clock: FakeClock) -> None:
    store = MemoryStore(3, clock=clock)
    await store.set("lease:abandoned", b"x", 10)
    await store.set("session:a", b"A", 100)
    await store.set("session:b", b"B", 100)
    clock.advance(11)
    await store.set("session:c", b"C", 100)
    assert len(store) == 3
    assert [await store.get(k) for k in ("session:a", "session:b", "session:c")] == [
        b"A",
        b"B",
        b"C",
    ]


async def test_memory_full_store_evicts_the_oldest_written(clock: FakeClock) -> None:
    store = MemoryStore(3, clock=clock)
    for key in ("session:a", "session:b", "session:c"):
        await store.set(key, key.encode(), 100)
    await store.set("session:a", b"rewritten", 100)  # a rewrite makes it the newest
    await store.set("session:d", b"D", 100)
    assert len(store) == 3
    assert await store.get("session:b") is None
    assert await store.get("session:a") == b"rewritten"
    assert await store.get("session:c") == b"session:c"
    assert await store.get("session:d") == b"D"


async def test_memory_add_makes_room_too(clock: FakeClock) -> None:
    store = MemoryStore(2, clock=clock)
    await store.set("session:a", b"A", 100)
    await store.set("session:b", b"B", 100)
    assert await store.add("lease:a", b"L", 30) is True
    assert len(store) == 2
    assert await store.get("session:a") is None
    assert await store.get("lease:a") == b"L"


async def test_memory_bound_holds_under_a_flood(clock: FakeClock) -> None:
    store = MemoryStore(1000, clock=clock)
    for i in range(10_000):
        await store.set(f"session:{i}", b"flood", 600)
        assert len(store) <= 1000
    assert len(store) == 1000
    assert await store.get("session:8999") is None
    assert all([await store.get(f"session:{i}") == b"flood" for i in range(9000, 10_000)])


async def test_memory_a_flood_of_pending_logins_never_evicts_a_session(clock: FakeClock) -> None:
    # Anyone can open /auth/login: 20,000 anonymous logins must not log anybody out.
    store = MemoryStore(1000, clock=clock)
    assert store.max_pending_logins == 100
    await store.set("session:alice", b"alice's", 600)
    await store.add("lease:alice", b"owner", 30)
    for i in range(20_000):
        await store.set(f"login:{i}", b"anonymous", 600)
    assert await store.get("session:alice") == b"alice's"
    assert await store.get("lease:alice") == b"owner"
    # The pending logins are bounded on their own, the newest kept.
    assert len(store) == 2 + 100
    assert await store.get("login:19899") is None
    assert await store.take("login:19999") == b"anonymous"


async def test_memory_pending_logins_have_their_own_bound(clock: FakeClock) -> None:
    store = MemoryStore(10, max_pending_logins=3, clock=clock)
    for i in range(5):
        await store.set(f"login:{i}", b"pending", 600)
    assert [await store.get(f"login:{i}") for i in range(5)] == [None, None] + [b"pending"] * 3
    with pytest.raises(ValueError, match="max_pending_logins"):
        MemoryStore(10, max_pending_logins=0)


async def test_memory_rewrites_do_not_evict(clock: FakeClock) -> None:
    store = MemoryStore(2, clock=clock)
    await store.set("session:a", b"A", 100)
    await store.set("session:b", b"B", 100)
    for _ in range(10):
        await store.set("session:b", b"B2", 100)
    assert await store.get("session:a") == b"A"
    assert await store.get("session:b") == b"B2"


# --- SQLiteStore --------------------------------------------------------------------------------


def test_sqlite_take_races_across_threads_have_one_winner(tmp_path: Path) -> None:
    # Separate connections in separate threads really do race inside SQLite, as processes
    # would; each key must still be taken exactly once.
    path = str(tmp_path / "race.db")
    keys = [f"login:{i}" for i in range(50)]
    asyncio.run(_fill(path, keys))
    wins: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(6)

    def worker() -> None:
        got = asyncio.run(_take_all(path, keys, barrier))
        with lock:
            wins.extend(got)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins) == sorted(keys)


def test_sqlite_add_races_across_threads_have_one_winner(tmp_path: Path) -> None:
    # As above for leases: of connections racing in separate threads, one adds each key.
    path = str(tmp_path / "race.db")
    keys = [f"lease:{i}" for i in range(50)]
    asyncio.run(_fill(path, ["warm-up"]))  # create the file before the race
    wins: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(6)

    def worker() -> None:
        got = asyncio.run(_add_all(path, keys, barrier))
        with lock:
            wins.extend(got)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins) == sorted(keys)


async def _add_all(path: str, keys: list[str], barrier: threading.Barrier) -> list[str]:
    store = SQLiteStore(path)
    await store.get("warm-up")
    barrier.wait()
    won = [key for key in keys if await store.add(key, b"lease", 60)]
    await store.close()
    return won


async def _fill(path: str, keys: list[str]) -> None:
    store = SQLiteStore(path)
    for key in keys:
        await store.set(key, key.encode(), 60)
    await store.close()


async def _take_all(path: str, keys: list[str], barrier: threading.Barrier) -> list[str]:
    store = SQLiteStore(path)
    await store.get("warm-up")  # open the connection before the race starts
    barrier.wait()
    won = [key for key in keys if await store.take(key) is not None]
    await store.close()
    return won


async def test_sqlite_get_holds_no_snapshot_between_calls(tmp_path: Path) -> None:
    # get() keeps one cursor for speed: it must not keep a read transaction open after
    # returning, or another process's logout would go unseen and checkpoints would stall.
    # (The near-cache is off: this is about the statement; a hand edit like the one below
    # reaches a near-cache within its lease: tests/stores/test_sqlite_near_cache.py.)
    path = str(tmp_path / "sessions.db")
    store = SQLiteStore(path, near_cache=False)
    await store.set("session:a", b"one", 60)
    await store.set("session:b", b"two", 60)
    assert await store.get("session:a") == b"one"
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("DELETE FROM kv WHERE key = 'session:a'")
        busy, _, _ = other.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    finally:
        other.close()
    assert busy == 0  # no reader pinned to an old snapshot
    assert await store.get("session:a") is None  # the other connection's delete, at once
    await store.close()


async def test_sqlite_creates_private_file_and_directory(tmp_path: Path) -> None:
    path = tmp_path / "state" / "nested" / "sessions.db"
    store = SQLiteStore(str(path))
    await store.set("session:a", b"v", 60)
    assert _mode(path) == 0o600
    assert _mode(path.parent) == 0o700
    # SQLite gives its side files the database's mode.
    assert _mode(path.with_name("sessions.db-wal")) == 0o600
    assert _mode(path.with_name("sessions.db-shm")) == 0o600
    await store.close()


async def test_sqlite_leaves_an_existing_directory_alone(tmp_path: Path) -> None:
    os.chmod(tmp_path, 0o740)
    store = SQLiteStore(str(tmp_path / "sessions.db"))
    await store.set("session:a", b"v", 60)
    assert _mode(tmp_path) == 0o740
    await store.close()


async def test_sqlite_opens_lazily(tmp_path: Path) -> None:
    path = tmp_path / "later" / "sessions.db"
    store = SQLiteStore(str(path))
    await store.close()
    assert not path.parent.exists()


async def test_sqlite_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "sessions.db"
    store = SQLiteStore(str(path))
    await store.set("session:a", b"v", 60)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    await store.close()


async def test_sqlite_survives_reopen(tmp_path: Path, clock: FakeClock) -> None:
    path = str(tmp_path / "sessions.db")
    store = SQLiteStore(path, clock=clock)
    await store.set("session:a", b"kept", 60)
    await store.close()
    reopened = SQLiteStore(path, clock=clock)
    assert await reopened.get("session:a") == b"kept"
    await reopened.close()


@pytest.mark.parametrize(
    ("stored", "expected"),
    [("old text value", b"old text value"), (42, b"42"), (1.5, b"1.5")],
)
async def test_sqlite_foreign_values_come_back_as_bytes(
    tmp_path: Path, clock: FakeClock, stored: object, expected: bytes
) -> None:
    # An older version or a hand edit may have left something other than a BLOB: get() and
    # take() still hand back bytes, for the caller's unsealing to reject with a clean error.
    store = SQLiteStore(str(tmp_path / "sessions.db"), clock=clock)
    await store.set("session:a", b"placeholder", 60)
    _raw_update(tmp_path / "sessions.db", "UPDATE kv SET value = ?", stored)
    assert await store.get("session:a") == expected
    assert await store.take("session:a") == expected
    await store.close()


async def test_sqlite_invalid_utf8_text_value_comes_back_as_bytes(
    tmp_path: Path, clock: FakeClock
) -> None:
    store = SQLiteStore(str(tmp_path / "sessions.db"), clock=clock)
    await store.set("session:a", b"placeholder", 60)
    _raw_update(tmp_path / "sessions.db", "UPDATE kv SET value = CAST(? AS TEXT)", b"\xff\xfe\x00")
    assert await store.get("session:a") == b"\xff\xfe\x00"
    await store.close()


async def test_sqlite_non_numeric_expiry_counts_as_expired(
    tmp_path: Path, clock: FakeClock
) -> None:
    store = SQLiteStore(str(tmp_path / "sessions.db"), clock=clock)
    await store.set("session:a", b"v", 60)
    await store.set("login:a", b"v", 60)
    await store.set("lease:a", b"v", 60)
    await store.set("lease:b", b"v", 60)
    _raw_update(tmp_path / "sessions.db", "UPDATE kv SET expires_at = ?", "garbage")
    assert await store.get("session:a") is None
    assert await store.take("login:a") is None
    assert await store.delete_if("lease:a", b"v") is False
    assert await store.add("lease:b", b"w", 60) is True
    assert await store.get("lease:b") == b"w"
    await store.close()


async def test_sqlite_purges_expired_rows_on_writes(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "sessions.db"
    store = SQLiteStore(str(path), clock=clock)
    for i in range(300):
        await store.set(f"login:{i}", b"abandoned", 10)
    clock.advance(11)
    for _ in range(300):
        await store.set("session:live", b"live", 10)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM kv").fetchone()[0] == 1
    await store.close()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _raw_update(path: Path, sql: str, param: object) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute(sql, (param,))
    finally:
        conn.close()


# --- RedisStore ---------------------------------------------------------------------------------


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    prefix = unique_prefix()
    yield prefix
    delete_prefixed(redis_url, prefix)


@pytest.fixture
def raw_redis(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, socket_timeout=2)
    yield client
    client.close()


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A redis-server of this test's own, which it may kill, freeze and restart."""
    server = RedisServer(persist=True)
    server.start()
    yield server
    server.stop()


async def test_redis_keys_carry_the_prefix_and_a_ttl(
    redis_url: str, redis_prefix: str, raw_redis: redis.Redis
) -> None:
    store = RedisStore(redis_url, prefix=redis_prefix)
    await store.set("session:a", b"v", 60)
    assert await store.add("lease:a", b"l", 2.5) is True
    await store.close()
    assert raw_redis.get(redis_prefix + "session:a") == b"v"
    assert 59_000 < raw_redis.pttl(redis_prefix + "session:a") <= 60_000
    assert 1_500 < raw_redis.pttl(redis_prefix + "lease:a") <= 2_500
    stored = sorted(raw_redis.scan_iter(match=redis_prefix + "*"))
    assert stored == [f"{redis_prefix}lease:a".encode(), f"{redis_prefix}session:a".encode()]


async def test_redis_prefixes_keep_stores_apart(redis_url: str, redis_prefix: str) -> None:
    first = RedisStore(redis_url, prefix=redis_prefix + "one:")
    second = RedisStore(redis_url, prefix=redis_prefix + "two:")
    await first.set("session:a", b"one", 60)
    assert await second.get("session:a") is None
    assert await second.add("session:a", b"two", 60) is True
    assert await first.get("session:a") == b"one"
    await first.close()
    await second.close()


def test_redis_default_prefix() -> None:
    assert RedisStore("redis://127.0.0.1:6379/0").prefix == "oidc_kit:"


@pytest.mark.parametrize(
    ("ttl", "px"),
    [(0.0001, 1), (0.001, 1), (0.0011, 2), (1.0001, 1001), (60, 60_000), (math.inf, 10**12)],
)
def test_redis_ttl_in_milliseconds_rounds_up(ttl: float, px: int) -> None:
    assert _px(ttl) == px


async def test_redis_password_in_url() -> None:
    server = RedisServer(password="s3cret-pw")
    server.start()
    try:
        store = RedisStore(server.url)
        await store.set("session:a", b"v", 60)
        assert await store.get("session:a") == b"v"
        await store.close()
        wrong = RedisStore(server.url.replace("s3cret-pw", "wrong-pw"))
        with pytest.raises(StoreUnavailable) as info:
            await wrong.get("session:a")
        assert "pw" not in str(info.value)
        await wrong.close()
    finally:
        server.stop()


# --- RedisStore faults --------------------------------------------------------------------------

#: A hang guard, not a speed assertion: a call must give up in about two timeouts (~2 s).
HANG_GUARD = 5.0


def _every_call(store: SessionStore) -> list[tuple[str, Callable[[], Awaitable[object]]]]:
    return [
        ("get", lambda: store.get("session:a")),
        ("set", lambda: store.set("session:a", b"v", 60)),
        ("delete", lambda: store.delete("session:a")),
        ("take", lambda: store.take("login:a")),
        ("add", lambda: store.add("lease:a", b"me", 30)),
        ("delete_if", lambda: store.delete_if("lease:a", b"me")),
    ]


async def _assert_unavailable(store: SessionStore, secret: str = "") -> None:
    for name, call in _every_call(store):
        started = time.monotonic()
        with pytest.raises(StoreUnavailable) as info:
            await call()
        elapsed = time.monotonic() - started
        assert elapsed < HANG_GUARD, f"{name} took {elapsed:.1f} s"
        assert info.value.code == "session_store_unavailable"
        assert info.value.status == 503
        assert str(info.value) == "session_store_unavailable: the session store did not answer"
        if secret:
            assert secret not in str(info.value)


async def test_redis_nothing_listening_is_unavailable() -> None:
    store = RedisStore(f"redis://:hunter2@127.0.0.1:{free_port()}/0")
    await _assert_unavailable(store, secret="hunter2")
    await store.close()


@pytest.fixture
async def silent_port() -> AsyncIterator[int]:
    """A port that accepts connections and never answers: a hung or overloaded Redis."""
    held: list[asyncio.StreamWriter] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # kept open, never written to

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    yield int(server.sockets[0].getsockname()[1])
    for writer in held:
        writer.close()
    server.close()
    await server.wait_closed()


async def test_redis_silent_server_is_unavailable(silent_port: int) -> None:
    url = f"redis://127.0.0.1:{silent_port}/0"
    store = RedisStore(url, socket_timeout=0.3, connect_timeout=0.3)
    await _assert_unavailable(store)
    await store.close()


async def test_redis_calls_have_a_deadline_of_their_own(silent_port: int) -> None:
    # The asyncio.timeout backstop: even with redis-py's socket timeouts gone, no call hangs.
    url = f"redis://127.0.0.1:{silent_port}/0"
    store = RedisStore(url, socket_timeout=0.2, connect_timeout=0.2)
    store._redis.connection_pool.connection_kwargs["socket_timeout"] = None
    started = time.monotonic()
    with pytest.raises(StoreUnavailable):
        await store.get("session:a")
    assert time.monotonic() - started < HANG_GUARD
    await store.close()


async def test_redis_crash_and_restart_recovers_without_a_new_client(
    own_redis: RedisServer,
) -> None:
    store = RedisStore(own_redis.url, socket_timeout=0.5, connect_timeout=0.5)
    await store.set("session:a", b"before the crash", 600)
    assert await store.add("lease:a", b"mine", 600) is True

    own_redis.kill()
    await _assert_unavailable(store)

    own_redis.start()  # same port, same data directory
    assert await store.get("session:a") == b"before the crash"
    await store.set("session:b", b"after", 60)
    assert await store.get("session:b") == b"after"
    assert await store.delete_if("lease:a", b"mine") is True  # script cache was lost too
    assert await store.take("session:b") == b"after"
    await store.close()


async def test_redis_frozen_then_thawed_recovers(own_redis: RedisServer) -> None:
    store = RedisStore(own_redis.url, socket_timeout=0.3, connect_timeout=0.3)
    await store.set("session:a", b"kept", 600)
    own_redis.pause()
    try:
        started = time.monotonic()
        with pytest.raises(StoreUnavailable):
            await store.get("session:a")
        assert time.monotonic() - started < HANG_GUARD
    finally:
        own_redis.resume()
    assert await store.get("session:a") == b"kept"
    await store.close()


# --- open_store ---------------------------------------------------------------------------------


async def test_open_store_memory() -> None:
    store = open_store("memory://")
    assert isinstance(store, MemoryStore)
    await store.close()


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///relative.db", "relative.db"),
        ("sqlite:///dir/relative.db", "dir/relative.db"),
        ("sqlite:////abs/path.db", "/abs/path.db"),
        ("sqlite:///with%20space.db", "with space.db"),
    ],
)
async def test_open_store_sqlite_paths(url: str, path: str) -> None:
    store = open_store(url)
    assert isinstance(store, SQLiteStore)
    assert store.path == path
    await store.close()  # never opened: nothing is created


async def test_open_store_sqlite_absolute_path_works(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/s.db")
    await store.set("session:a", b"v", 60)
    assert (tmp_path / "s.db").exists()
    await store.close()


@pytest.mark.parametrize("url", ["foo://x", "redis-typo://h", "sqlite://", "sqlite:///", ""])
def test_open_store_refuses_unknown_urls(url: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        open_store(url)
    assert info.value.code == "configuration_error"


@pytest.mark.parametrize(
    "url",
    [
        "redis://127.0.0.1:6379/0",
        "redis://:pw@redis.internal:6380/2",
        "redis://user:pw@redis.internal",
        "rediss://:pw@redis.internal:6380/0",
        "redis://127.0.0.1:6379/0?socket_timeout=0.5",
        "redis://app:pw@redis.internal:6379/0",
        "rediss://app:pw@redis.internal:6380/0?ssl_ca_certs=/etc/ssl/ca.pem&ssl_cert_reqs=required",
        "redis+sentinel://s1.internal,s2.internal:26380/mymaster",
        "redis+sentinel://app:pw@s1.internal:26379,s2.internal:26379/mymaster/3",
        "redis+sentinel://:pw@s1.internal/mymaster/0?sentinel_password=spw&socket_timeout=0.5",
        "rediss+sentinel://:pw@s1.internal/mymaster?ssl_ca_certs=/etc/ssl/ca.pem",
        "redis+cluster://c1.internal,c2.internal:7001",
        "redis+cluster://app:pw@c1.internal:7000/0?max_connections=20",
        "rediss+cluster://:pw@c1.internal:7000?ssl_cert_reqs=none",
        "redis+cluster://[::1]:7000",
    ],
)
async def test_open_store_redis(url: str) -> None:
    store = open_store(url)
    assert isinstance(store, RedisStore)
    await store.close()  # never connected: nothing to reach


async def test_open_store_redis_works(redis_url: str) -> None:
    store = open_store(redis_url)
    assert isinstance(store, RedisStore)
    key = unique_prefix() + "session:a"
    try:
        await store.set(key, b"v", 60)
        assert await store.get(key) == b"v"
    finally:
        await store.delete(key)
        await store.close()


@pytest.mark.parametrize(
    "url",
    [
        "redis://:hunter2@redis.internal:notaport/0",
        "redis://:hunter2@redis.internal:6379/notadb",
        "redis://:hunter2@redis.internal:6379/0?socket_timeout=hunter2",
        "redis://:hunter2@redis.internal:6379/0?decode_responses=true",
        "redis+sentinel://:hunter2@s1.internal:26379",
        "redis+sentinel://:hunter2@s1.internal:26379/",
        "redis+sentinel://:hunter2@s1.internal:notaport/mymaster",
        "redis+sentinel://:hunter2@s1.internal,,s2.internal/mymaster",
        "redis+sentinel://:hunter2@s1.internal/mymaster/notadb",
        "redis+sentinel://:hunter2@s1.internal/mymaster?socket_timeout=hunter2",
        "redis+sentinel://:hunter2@s1.internal/mymaster?decode_responses=true",
        "redis+cluster://:hunter2@c1.internal:7000/1",
        "redis+cluster://:hunter2@c1.internal:notaport",
        "redis+cluster://:hunter2@",
        "redis+cluster://:hunter2@c1.internal?socket_timeout=hunter2",
        "redis+cluster://:hunter2@c1.internal?no_such_option=hunter2",
        "redis+cluster://:hunter2@c1.internal?decode_responses=true",
        "rediss+cluster://:hunter2@c1.internal:7000/notadb",
        "redis+typo://:hunter2@c1.internal:7000",
    ],
)
def test_open_store_refuses_bad_redis_urls_without_echoing_them(url: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        open_store(url)
    assert info.value.code == "configuration_error"
    assert "hunter2" not in str(info.value)
    assert info.value.__cause__ is None


# -- indexes (sessions by subject and by provider session, for back-channel logout) ---------


async def test_index_add_and_members(store: SessionStore) -> None:
    assert await store.index_members("sub:alice") == []
    await store.index_add("sub:alice", "sid-1", 60)
    await store.index_add("sub:alice", "sid-2", 60)
    await store.index_add("sub:alice", "sid-1", 60)  # a set: no duplicate
    await store.index_add("sub:bob", "sid-3", 60)
    assert sorted(await store.index_members("sub:alice")) == ["sid-1", "sid-2"]
    assert await store.index_members("sub:bob") == ["sid-3"]


async def test_index_discard(store: SessionStore) -> None:
    await store.index_add("sub:alice", "sid-1", 60)
    await store.index_add("sub:alice", "sid-2", 60)
    await store.index_discard("sub:alice", "sid-1")
    await store.index_discard("sub:alice", "never-there")
    await store.index_discard("sub:nobody", "sid-1")
    assert await store.index_members("sub:alice") == ["sid-2"]


async def test_index_members_expire_one_by_one(backend: Backend) -> None:
    store = backend.store
    await store.index_add("sub:alice", "short", backend.short_ttl)
    await store.index_add("sub:alice", "long", 60)
    await backend.outlive()
    assert await store.index_members("sub:alice") == ["long"]


async def test_index_with_non_positive_ttl_adds_nothing(store: SessionStore) -> None:
    await store.index_add("sub:alice", "sid-1", 0)
    assert await store.index_members("sub:alice") == []


async def test_indexes_and_values_do_not_mix(store: SessionStore) -> None:
    await store.set("sub:alice", b"value", 60)
    await store.index_add("idx:alice", "sid-1", 60)
    assert await store.get("sub:alice") == b"value"
    assert await store.index_members("idx:alice") == ["sid-1"]


async def test_an_index_is_shared_with_another_instance(shared: Backend) -> None:
    assert shared.twin is not None
    await shared.store.index_add("sub:alice", "sid-1", 60)
    twin = shared.twin()
    try:
        assert await twin.index_members("sub:alice") == ["sid-1"]
        await twin.index_discard("sub:alice", "sid-1")
        assert await shared.store.index_members("sub:alice") == []
    finally:
        await twin.close()


# -- replace (updates of a session never bring back a deleted one) ------------------------


async def test_replace_updates_a_live_value(store: SessionStore) -> None:
    await store.set("session:a", b"old", 60)
    assert await store.replace("session:a", b"new", 60) is True
    assert await store.get("session:a") == b"new"


async def test_replace_never_recreates_a_deleted_value(store: SessionStore) -> None:
    await store.set("session:a", b"old", 60)
    await store.delete("session:a")
    assert await store.replace("session:a", b"new", 60) is False
    assert await store.get("session:a") is None


async def test_replace_never_revives_an_expired_value(backend: Backend) -> None:
    await backend.store.set("session:a", b"old", backend.short_ttl)
    await backend.outlive()
    assert await backend.store.replace("session:a", b"new", 60) is False
    assert await backend.store.get("session:a") is None


async def test_replace_across_instances(shared: Backend) -> None:
    assert shared.twin is not None
    twin = shared.twin()
    try:
        await shared.store.set("session:a", b"old", 60)
        await twin.delete("session:a")  # a logout in another process
        assert await shared.store.replace("session:a", b"new", 60) is False
    finally:
        await twin.close()


async def test_sqlite_errors_are_store_unavailable(tmp_path: Path) -> None:
    from oidc_kit import SQLiteStore, StoreUnavailable

    path = tmp_path / "sessions.db"
    store = SQLiteStore(str(path))
    await store.set("session:a", b"v", 60)
    await store.close()
    path.write_bytes(b"this is not a database" * 100)  # a corrupt file
    broken = SQLiteStore(str(path))
    with pytest.raises(StoreUnavailable):
        await broken.get("session:a")
    with pytest.raises(StoreUnavailable):
        await broken.set("session:a", b"v", 60)
    await broken.close()


# -- Redis: a client of the app's own, schemes, ACL users ---------------------------------------


def test_open_store_knows_every_scheme_the_redis_store_builds() -> None:
    from oidc_kit.stores import _REDIS_SCHEMES
    from oidc_kit.stores._redis_connect import SCHEMES

    assert _REDIS_SCHEMES == SCHEMES


async def test_redis_store_on_a_client_of_the_apps_own_leaves_it_open(redis_url: str) -> None:
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(redis_url)
    prefix = unique_prefix()
    store = RedisStore(client=client, prefix=prefix)
    await store.set("session:a", b"v", 60)
    assert await store.get("session:a") == b"v"
    await store.close()
    assert await client.get(prefix + "session:a") == b"v"  # still open: the app owns it
    await client.delete(prefix + "session:a")
    await client.aclose()


async def test_redis_store_takes_a_url_or_a_client() -> None:
    import redis.asyncio

    client = redis.asyncio.Redis()
    with pytest.raises(ConfigurationError):
        RedisStore()
    with pytest.raises(ConfigurationError):
        RedisStore("redis://127.0.0.1:6379/0", client=client)
    with pytest.raises(ConfigurationError, match="decode_responses"):
        RedisStore(client=redis.asyncio.Redis(decode_responses=True))
    await client.aclose()


@pytest.mark.parametrize(
    "url",
    [
        "redis+sentinel://:hunter2@127.0.0.1:{port}/mymaster/0?sentinel_password=hunter2",
        "redis+cluster://app:hunter2@127.0.0.1:{port}",
        "rediss+cluster://:hunter2@127.0.0.1:{port}",
    ],
)
async def test_redis_topology_nothing_listening_is_unavailable(url: str) -> None:
    store = RedisStore(url.format(port=free_port()), socket_timeout=0.3, connect_timeout=0.3)
    await _assert_unavailable(store, secret="hunter2")
    await store.close()


async def test_redis_acl_user_and_password_in_url() -> None:
    acl = ["--user", "default", "off", "--user", "app", "on", ">app-s3cret", "~*", "&*", "+@all"]
    server = RedisServer(extra_args=acl)
    server.url = f"redis://app:app-s3cret@127.0.0.1:{server.port}/0"
    server.start()
    try:
        store = RedisStore(server.url)
        await store.set("session:a", b"v", 60)
        assert await store.get("session:a") == b"v"
        await store.close()
        wrong = RedisStore(server.url.replace("app-s3cret", "wrong-s3cret"))
        with pytest.raises(StoreUnavailable) as info:
            await wrong.get("session:a")
        assert "s3cret" not in str(info.value)
        await wrong.close()
    finally:
        server.stop()


async def test_redis_sentinel_password_is_its_own(redis_sentinel: object) -> None:
    url: str = redis_sentinel.url  # type: ignore[attr-defined]
    wrong = RedisStore(url.replace("sentinel_password=", "sentinel_password=wrong-"))
    with pytest.raises(StoreUnavailable) as info:
        await wrong.get("session:a")
    assert "pw-s3cret" not in str(info.value)
    await wrong.close()
