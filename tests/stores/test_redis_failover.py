"""Failover under load, on a real Sentinel set-up and a real Cluster: no session lost, no lease
held twice.

Two tasks write, read and take keys through one :class:`RedisStore` while a third contends for
refresh leases from a second store (a second app instance); the test fails the master over in
the middle. Redis replicates asynchronously, so a write acknowledged just before a failover can
be lost: the test takes a checkpoint right before failing over (a write, then ``WAIT`` for the
replica), and asserts that nothing acknowledged before it is lost. Writes acknowledged between
the checkpoint and the promotion are counted and reported; docs/deployment.md states the window.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from dataclasses import dataclass, field

from oidc_kit import StoreUnavailable
from oidc_kit.stores import RedisStore
from tests.redis_server import ClusterSetup, RedisServer, SentinelSetup, unique_prefix

#: How long the load runs before and after the failover (seconds).
BEFORE, AFTER = 1.0, 1.5


@dataclass
class Load:
    """What the load saw: the writes acknowledged (key -> value, with when) and lease winners."""

    acknowledged: dict[str, tuple[bytes, float]] = field(default_factory=dict)
    errors: int = 0
    ok_after_failover: int = 0
    failed_over_at: float = float("inf")
    #: lease key -> the stores that took it.
    leases: dict[str, list[str]] = field(default_factory=dict)
    running: bool = True


async def _sessions(store: RedisStore, load: Load, worker: int) -> None:
    for n in itertools.count():
        if not load.running:
            return
        key, value = f"session:{worker}-{n}", uuid.uuid4().bytes
        try:
            await store.set(key, value, 600)
            load.acknowledged[key] = (value, time.monotonic())
            assert await store.get(key) == value
            assert await store.add(f"login:{worker}-{n}", b"t", 600)
            assert await store.take(f"login:{worker}-{n}") == b"t"
            if time.monotonic() > load.failed_over_at:
                load.ok_after_failover += 1
        except StoreUnavailable:  # while the master moves
            load.errors += 1
            await asyncio.sleep(0.01)


async def _leases(first: RedisStore, second: RedisStore, load: Load) -> None:
    for n in itertools.count():
        if not load.running:
            return
        key = f"lease:{n}"

        async def take(store: RedisStore, name: str, key: str = key) -> None:
            try:
                if await store.add(key, name.encode(), 30):
                    load.leases.setdefault(key, []).append(name)
            except StoreUnavailable:  # this instance waits, as _refresh does
                await asyncio.sleep(0.01)

        await asyncio.gather(take(first, "first"), take(second, "second"))


#: The key of the checkpoint's write; on a Cluster, the failover is of the master of its slot.
CHECKPOINT_KEY = "oidc_kit_test:checkpoint"


def _checkpoint(master: RedisServer) -> None:
    """A write on ``master``, then ``WAIT`` until a replica has everything written before it."""
    client = master.client()
    try:
        client.set(CHECKPOINT_KEY, b"1")
        assert client.execute_command("WAIT", 1, 5000) >= 1
    finally:
        client.close()


async def _fail_over_under_load(url: str, fail_over: object, master: RedisServer) -> Load:
    prefix = unique_prefix()
    store, other = RedisStore(url, prefix=prefix), RedisStore(url, prefix=prefix)
    load = Load()
    tasks = [asyncio.create_task(_sessions(store, load, w)) for w in range(2)]
    tasks.append(asyncio.create_task(_leases(store, other, load)))
    try:
        await asyncio.sleep(BEFORE)
        await asyncio.to_thread(_checkpoint, master)
        checkpoint = time.monotonic()
        await asyncio.to_thread(fail_over)  # type: ignore[arg-type]
        load.failed_over_at = time.monotonic()
        await asyncio.sleep(AFTER)
    finally:
        load.running = False
        await asyncio.wait_for(asyncio.gather(*tasks), 10)
    lost_before, lost_after = [], []
    for key, (value, acked_at) in load.acknowledged.items():
        if await store.get(key) != value:
            (lost_before if acked_at < checkpoint else lost_after).append(key)
    await store.close()
    await other.close()
    doubles = [key for key, holders in load.leases.items() if len(holders) > 1]
    print(
        f"writes acknowledged: {len(load.acknowledged)}, lost before the checkpoint: "
        f"{len(lost_before)}, lost after it: {len(lost_after)}, errors: {load.errors}, "
        f"leases: {len(load.leases)}, taken twice: {len(doubles)}, "
        f"failover took {load.failed_over_at - checkpoint:.2f} s"
    )
    assert lost_before == []
    assert load.ok_after_failover > 0  # the same store works again, with no restart
    load.leases = {key: load.leases[key] for key in doubles}
    return load


async def test_sentinel_failover_loses_no_session_and_no_lease_is_held_twice(
    redis_sentinel: SentinelSetup,
) -> None:
    load = await _fail_over_under_load(
        redis_sentinel.url, redis_sentinel.failover, redis_sentinel.master()
    )
    assert load.leases == {}


async def test_cluster_failover_loses_no_session_and_no_lease_is_held_twice(
    redis_cluster: ClusterSetup,
) -> None:
    # One master of three fails over; the load writes keys in all of them.
    master = redis_cluster.owner_of(CHECKPOINT_KEY)
    load = await _fail_over_under_load(
        redis_cluster.url, lambda: redis_cluster.failover(CHECKPOINT_KEY), master
    )
    assert load.leases == {}
