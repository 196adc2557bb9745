"""The SQLite store's near-cache: session records served from memory while the file's version
slots (``stores/_versions.py``) show no write since they were read.

Two :class:`SQLiteStore` instances on one file stand for two processes (each has its own
connection and its own mapping of the slots); one test runs the writer in a real second
process. A "hand edit" is a plain ``sqlite3`` connection writing the file: the one writer the
slots cannot see, bounded by the lease.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from oidc_kit.stores import SQLiteStore, open_store
from oidc_kit.stores import sqlite as sqlite_module
from oidc_kit.stores._near_cache import LEASE
from oidc_kit.stores._versions import SLOTS, VersionSlots, versions_path

KEY = "session:s1"


@pytest.fixture
def path(tmp_path: Path) -> str:
    return str(tmp_path / "sessions.db")


@pytest.fixture
async def stores(path: str) -> AsyncIterator[Callable[..., SQLiteStore]]:
    opened: list[SQLiteStore] = []

    def make(**kwargs: Any) -> SQLiteStore:
        store = SQLiteStore(path, **kwargs)
        opened.append(store)
        return store

    yield make
    for store in opened:
        await store.close()


def hand_edit(path: str, sql: str, *params: object) -> None:
    """A write the kit does not make: it changes no slot."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute(sql, params)
    finally:
        conn.close()


async def test_a_record_read_once_is_served_from_memory(
    stores: Callable[..., SQLiteStore], path: str
) -> None:
    store = stores()
    await store.set(KEY, b"one", 60)
    assert await store.get(KEY) == b"one"
    hand_edit(path, "UPDATE kv SET value = ? WHERE key = ?", b"edited", KEY)
    # Served without a statement: the hand edit is not seen (the lease bounds it, below).
    assert await store.get(KEY) == b"one"


async def test_a_write_through_the_kit_is_seen_by_the_next_read_in_every_process(
    stores: Callable[..., SQLiteStore],
) -> None:
    reader, writer = stores(), stores()
    await writer.set(KEY, b"one", 60)
    assert await reader.get(KEY) == b"one"  # cached now
    await writer.set(KEY, b"two", 60)
    assert await reader.get(KEY) == b"two"
    await writer.replace(KEY, b"three", 60)
    assert await reader.get(KEY) == b"three"
    assert await writer.take(KEY) == b"three"  # a logout
    assert await reader.get(KEY) is None
    await writer.set(KEY, b"four", 60)
    assert await reader.get(KEY) == b"four"
    await writer.delete(KEY)
    assert await reader.get(KEY) is None
    await writer.set(KEY, b"five", 60)
    assert await reader.get(KEY) == b"five"
    assert await writer.delete_if(KEY, b"five") is True
    assert await reader.get(KEY) is None
    assert await writer.add(KEY, b"six", 60) is True
    assert await reader.get(KEY) == b"six"
    await writer.set(KEY, b"gone", 0)  # a ttl that is not positive removes the value
    assert await reader.get(KEY) is None


async def test_a_logout_in_another_process_is_seen_by_the_next_read(
    stores: Callable[..., SQLiteStore], path: str
) -> None:
    reader = stores()
    await reader.set(KEY, b"record", 60)
    assert await reader.get(KEY) == b"record"
    script = (
        "import asyncio, sys\n"
        "from oidc_kit.stores import SQLiteStore\n"
        "async def main():\n"
        "    store = SQLiteStore(sys.argv[1])\n"
        "    print(await store.take(sys.argv[2]) is not None)\n"
        "    await store.close()\n"
        "asyncio.run(main())\n"
    )
    other = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, path, KEY, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await other.communicate()
    assert other.returncode == 0
    assert out.decode().strip() == "True"
    assert await reader.get(KEY) is None  # at once, well inside the lease


async def test_a_writer_with_the_cache_off_still_changes_the_slots(
    stores: Callable[..., SQLiteStore],
) -> None:
    reader, writer = stores(), stores(near_cache=False)
    await writer.set(KEY, b"one", 60)
    assert await reader.get(KEY) == b"one"
    await writer.delete(KEY)
    assert await reader.get(KEY) is None


async def test_a_hand_edit_is_served_at_most_for_the_lease(
    stores: Callable[..., SQLiteStore], path: str
) -> None:
    store = stores()
    await store.set(KEY, b"one", 60)
    assert await store.get(KEY) == b"one"
    hand_edit(path, "DELETE FROM kv WHERE key = ?", KEY)
    await asyncio.sleep(LEASE + 0.02)
    assert await store.get(KEY) is None


async def test_a_read_racing_a_write_is_read_again(
    stores: Callable[..., SQLiteStore],
) -> None:
    reader, writer = stores(), stores()
    await writer.set(KEY, b"old", 60)
    assert await reader.get("session:other") is None  # opens the reader's cursor
    real = reader._get_cursor
    assert real is not None

    class WriteAfterTheSelect:
        """The reader's SELECT has read the old row; the writer commits before it caches."""

        def execute(self, sql: str, params: tuple[object, ...]) -> sqlite3.Cursor:
            cursor = real.execute(sql, params)
            row = cursor.fetchone()
            writer._db().execute("UPDATE kv SET value = ? WHERE key = ?", (b"new", KEY))
            writer._changed(KEY)

            class Done:
                def fetchone(self) -> Any:
                    return row

            return Done()  # type: ignore[return-value]

    reader._get_cursor = WriteAfterTheSelect()  # type: ignore[assignment]
    assert await reader.get(KEY) == b"old"  # it raced the write: either answer is right
    reader._get_cursor = real
    assert await reader.get(KEY) == b"new"  # but the old one is not kept


async def test_an_expired_record_is_not_served_from_memory(path: str) -> None:
    now = [1_700_000_000.0]
    store = SQLiteStore(path, clock=lambda: now[0])
    try:
        await store.set(KEY, b"one", 10)
        assert await store.get(KEY) == b"one"
        now[0] += 11
        assert await store.get(KEY) is None
    finally:
        await store.close()


async def test_taking_a_sessions_lease_makes_its_next_read_go_to_the_file(
    stores: Callable[..., SQLiteStore], path: str
) -> None:
    # The refresh lease holder must start from the record the last holder stored, even one
    # whose slot change this process missed (a writer killed after its commit).
    store = stores()
    await store.set(KEY, b"before the refresh", 60)
    assert await store.get(KEY) == b"before the refresh"
    hand_edit(path, "UPDATE kv SET value = ? WHERE key = ?", b"after the refresh", KEY)
    assert await store.get(KEY) == b"before the refresh"
    assert await store.add("lease:s1", b"owner", 5) is True
    assert await store.get(KEY) == b"after the refresh"


async def test_only_session_records_are_cached(
    stores: Callable[..., SQLiteStore], path: str
) -> None:
    store = stores()
    await store.set("login:t1", b"pending", 60)
    assert await store.get("login:t1") == b"pending"
    hand_edit(path, "DELETE FROM kv WHERE key = ?", "login:t1")
    assert await store.get("login:t1") is None


@pytest.mark.parametrize("off", [{"near_cache": False}, {"env": "0"}])
async def test_the_setting_turns_it_off(
    path: str, monkeypatch: pytest.MonkeyPatch, off: dict[str, Any]
) -> None:
    if "env" in off:
        monkeypatch.setenv("SESSION_STORE_NEAR_CACHE", off["env"])
        store = open_store(f"sqlite:///{path}")
    else:
        store = SQLiteStore(path, **off)
    try:
        await store.set(KEY, b"one", 60)
        assert await store.get(KEY) == b"one"
        hand_edit(path, "UPDATE kv SET value = ? WHERE key = ?", b"edited", KEY)
        assert await store.get(KEY) == b"edited"
    finally:
        await store.close()


async def test_the_cache_is_bounded(
    stores: Callable[..., SQLiteStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_module, "MAX_ENTRIES", 3)
    store = stores()
    for i in range(5):
        await store.set(f"session:{i}", b"v", 60)
        assert await store.get(f"session:{i}") == b"v"
    assert sorted(store._cached) == ["session:2", "session:3", "session:4"]


async def test_the_slots_file_is_private_and_a_short_one_is_extended(
    stores: Callable[..., SQLiteStore], path: str
) -> None:
    _plant(versions_path(path), b"\x00" * 8)  # left by something else, too short
    store = stores()
    await store.set(KEY, b"one", 60)
    assert _mode_and_size(versions_path(path)) == (0o600, SLOTS * 8)
    assert await store.get(KEY) == b"one"


async def test_a_new_slots_file_is_made_0600(stores: Callable[..., SQLiteStore], path: str) -> None:
    old = os.umask(0o022)  # the usual umask: a file made 0o666 would come out world-readable
    try:
        store = stores()
        await store.set(KEY, b"one", 60)
    finally:
        os.umask(old)
    assert _mode_and_size(versions_path(path)) == (0o600, SLOTS * 8)


def _plant(path: str, data: bytes) -> None:
    Path(path).write_bytes(data)
    os.chmod(path, 0o600)


def _mode_and_size(path: str) -> tuple[int, int]:
    info = os.stat(path)
    return stat.S_IMODE(info.st_mode), info.st_size


async def test_without_the_slots_every_read_goes_to_the_file(
    stores: Callable[..., SQLiteStore], path: str, caplog: pytest.LogCaptureFixture
) -> None:
    os.mkdir(versions_path(path))  # a directory where the file should be: cannot be mapped
    store = stores()
    await store.set(KEY, b"one", 60)
    assert await store.get(KEY) == b"one"
    hand_edit(path, "UPDATE kv SET value = ? WHERE key = ?", b"edited", KEY)
    assert await store.get(KEY) == b"edited"
    assert "near-cache off" in caplog.text


def test_the_slots_have_their_disk_blocks_before_they_are_written(path: str) -> None:
    # A store into a mapped page whose block the disk cannot give (disk full) is a SIGBUS,
    # not an exception: the blocks are taken when the file is opened, where failing is an
    # OSError and the store reads the file instead.
    slots = VersionSlots(path)
    try:
        assert os.stat(versions_path(path)).st_blocks * 512 >= SLOTS * 8
    finally:
        slots.close()


def test_a_change_writes_a_fresh_value_to_its_slot(path: str) -> None:
    slots = VersionSlots(path)
    try:
        slot = VersionSlots.slot(KEY)
        seen = {slots.slots[slot]}
        for _ in range(100):
            slots.changed(slot)
            assert slots.slots[slot] not in seen
            seen.add(slots.slots[slot])
        assert all(slots.slots[i] == 0 for i in range(SLOTS) if i != slot)
    finally:
        slots.close()
