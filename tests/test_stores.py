"""The SessionStore contract, run on every backend, plus what only SQLite has (files, processes).

To add a backend, add its id to ``BACKENDS`` and one branch to ``_open_backend`` returning the
store and a way to move its clock.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from oidc_kit._errors import ConfigurationError
from oidc_kit.stores import MemoryStore, SessionStore, SQLiteStore, open_store

BACKENDS = ["memory", "sqlite"]


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
    """A store under test and how to make ``seconds`` pass for it."""

    store: SessionStore
    advance: Callable[[float], None]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _open_backend(kind: str, tmp_path: Path, clock: FakeClock) -> Backend:
    if kind == "memory":
        return Backend(MemoryStore(clock=clock), clock.advance)
    if kind == "sqlite":
        return Backend(SQLiteStore(str(tmp_path / "sessions.db"), clock=clock), clock.advance)
    raise AssertionError(f"unknown backend {kind}")


@pytest.fixture(params=BACKENDS)
async def backend(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock
) -> AsyncIterator[Backend]:
    opened = _open_backend(request.param, tmp_path, clock)
    yield opened
    await opened.store.close()


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
    await store.set("session:a", b"old", 10)
    await store.set("session:a", b"new", 100)
    backend.advance(50)
    assert await store.get("session:a") == b"new"


async def test_overwrite_can_shorten_ttl(backend: Backend) -> None:
    store = backend.store
    await store.set("session:a", b"old", 100)
    await store.set("session:a", b"new", 10)
    backend.advance(50)
    assert await store.get("session:a") is None


async def test_delete(store: SessionStore) -> None:
    await store.set("session:a", b"v", 60)
    await store.delete("session:a")
    assert await store.get("session:a") is None


async def test_delete_missing_is_fine(store: SessionStore) -> None:
    await store.delete("session:never-there")


async def test_expiry_follows_the_clock(backend: Backend) -> None:
    store = backend.store
    await store.set("session:a", b"v", 60)
    backend.advance(59.5)
    assert await store.get("session:a") == b"v"
    backend.advance(1)
    assert await store.get("session:a") is None


async def test_exactly_at_expiry_is_expired(backend: Backend) -> None:
    await backend.store.set("session:a", b"v", 60)
    backend.advance(60)
    assert await backend.store.get("session:a") is None


async def test_non_positive_ttl_is_already_expired(store: SessionStore) -> None:
    # Out of the Protocol's range (ttl > 0), but a caller computing "time left" can reach 0:
    # the value must simply not be found, never live forever.
    await store.set("session:a", b"v", 0)
    await store.set("session:b", b"v", -5)
    assert await store.get("session:a") is None
    assert await store.get("session:b") is None


async def test_set_after_expiry_starts_afresh(backend: Backend) -> None:
    store = backend.store
    await store.set("session:a", b"old", 10)
    backend.advance(20)
    await store.set("session:a", b"new", 10)
    assert await store.get("session:a") == b"new"


async def test_take_returns_value_once(store: SessionStore) -> None:
    await store.set("login:1", b"txn", 60)
    assert await store.take("login:1") == b"txn"
    assert await store.take("login:1") is None
    assert await store.get("login:1") is None


async def test_take_missing_is_none(store: SessionStore) -> None:
    assert await store.take("login:none") is None


async def test_take_expired_is_none(backend: Backend) -> None:
    await backend.store.set("login:1", b"txn", 60)
    backend.advance(61)
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


# --- SQLiteStore --------------------------------------------------------------------------------


@pytest.fixture
async def two_sqlite_stores(
    tmp_path: Path, clock: FakeClock
) -> AsyncIterator[tuple[SQLiteStore, SQLiteStore]]:
    """Two stores on one file: separate connections, as two processes would have."""
    path = str(tmp_path / "shared.db")
    first, second = SQLiteStore(path, clock=clock), SQLiteStore(path, clock=clock)
    yield first, second
    await first.close()
    await second.close()


async def test_sqlite_instances_see_each_others_writes(
    two_sqlite_stores: tuple[SQLiteStore, SQLiteStore],
) -> None:
    first, second = two_sqlite_stores
    await first.set("session:a", b"from first", 60)
    assert await second.get("session:a") == b"from first"
    await second.delete("session:a")
    assert await first.get("session:a") is None


async def test_sqlite_take_across_instances_has_one_winner(
    two_sqlite_stores: tuple[SQLiteStore, SQLiteStore],
) -> None:
    first, second = two_sqlite_stores
    await first.set("login:1", b"txn", 60)
    results = await asyncio.gather(*(s.take("login:1") for s in (first, second) * 10))
    assert results.count(b"txn") == 1


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
    _raw_update(tmp_path / "sessions.db", "UPDATE kv SET expires_at = ?", "garbage")
    assert await store.get("session:a") is None
    assert await store.take("login:a") is None
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
