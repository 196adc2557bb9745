"""The Redis near-cache on Sentinel and on Cluster (oidc_kit/stores/_redis_feeds.py), against the
real set-ups of tests/redis_server.py.

Two :class:`RedisStore` instances stand for two app instances: ``a`` writes, ``b`` reads through
its near-cache. On a Cluster the keys are chosen to live on every master. Failovers are the
set-ups' own (``SENTINEL FAILOVER``, ``CLUSTER FAILOVER``): after the first, the old master stays
a master for seconds (measured: about ten) while writes go to the new one; after the second,
the old primary is a replica at once. Timings are functional bounds with slack for a shared
2-core machine, not benchmarks.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from redis.asyncio.cluster import REPLICA

from oidc_kit import StoreUnavailable
from oidc_kit.stores import RedisStore
from oidc_kit.stores._near_cache import HEARTBEAT, LEASE, NearCache
from oidc_kit.stores._redis_feeds import Watched
from tests.redis_server import ClusterSetup, RedisServer, SentinelSetup, unique_prefix

#: Slack over the lease for the event loop, the heartbeat's schedule and the machine's load.
SLACK = 0.25
#: How long a set-up may take to be live again after a failover (sentinels gossip every 2 s).
BACK = 15.0
READS = ("get", "evalsha", "eval")


@asynccontextmanager
async def pair(url: str) -> AsyncIterator[tuple[RedisStore, RedisStore]]:
    """Two app instances on ``url``; ``b``'s near-cache is live."""
    prefix = unique_prefix()
    a = RedisStore(url, prefix=prefix, socket_timeout=0.3, connect_timeout=0.3)
    b = RedisStore(url, prefix=prefix, socket_timeout=0.3, connect_timeout=0.3)
    try:
        await b.get("session:warm-up")  # starts the listener
        await wait_until(lambda: near(b).live, BACK)
        yield a, b
    finally:
        await a.close()
        await b.close()


def near(store: RedisStore) -> NearCache:
    cache = store._near
    assert cache is not None
    return cache


async def wait_until(condition: Any, within: float, step: float = 0.001) -> float:
    """Return how long it took ``condition()`` to hold (polled every ``step`` s)."""
    started = time.perf_counter()
    while not condition():
        if time.perf_counter() - started > within:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(step)
    return time.perf_counter() - started


async def cached(store: RedisStore, key: str, value: bytes | None) -> None:
    """Read ``key`` until ``store`` serves ``value`` from its near-cache."""
    for _ in range(100):
        assert await store.get(key) == value
        if store.prefix + key in near(store)._entries:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("never cached")


def commands(servers: list[RedisServer], *names: str) -> int:
    """How many of these commands the servers have run (``INFO commandstats``)."""
    total = 0
    for server in servers:
        client = server.client()
        try:
            stats: dict[str, Any] = client.info("commandstats")  # type: ignore[assignment]
        finally:
            client.close()
        total += sum(int(stats.get(f"cmdstat_{name}", {}).get("calls", 0)) for name in names)
    return total


def link_ports(store: RedisStore) -> set[int]:
    """The ports the near-cache's links are connected to."""
    watched = near(store)._link
    assert isinstance(watched, Watched)
    return {link._transport.get_extra_info("peername")[1] for link in watched._links}  # type: ignore[union-attr]


async def check_propagation(a: RedisStore, b: RedisStore, keys: list[str]) -> None:
    """A write and a delete by ``a`` reach ``b``'s cache within milliseconds, for each key."""
    delays = []
    for key in keys:
        await a.set(key, b"v1", 60)
        await cached(b, key, b"v1")
        await a.set(key, b"v2", 60)
        delays.append(await wait_until(lambda k=key: b.prefix + k not in near(b)._entries, 1.0))
        assert await b.get(key) == b"v2"
        await cached(b, key, b"v2")
        await a.delete(key)
        delays.append(await wait_until(lambda k=key: b.prefix + k not in near(b)._entries, 1.0))
        assert await b.get(key) is None
    print(f"notice delays: max {max(delays) * 1000:.1f} ms over {len(delays)}")


async def check_hits_cost_nothing(
    b: RedisStore, keys: list[str], masters: list[RedisServer]
) -> None:
    for key in keys:
        await cached(b, key, await b.get(key))
    before, hits = commands(masters, *READS), near(b).stats["hits"]
    for _ in range(200):
        for key in keys:
            await b.get(key)
    assert commands(masters, *READS) == before
    assert near(b).stats["hits"] == hits + 200 * len(keys)


async def check_freeze(b: RedisStore, key: str, frozen: RedisServer) -> None:
    """Freezing ``frozen`` ends the lease no later than LEASE after the freeze, whatever the
    other masters answer, and the cache goes off; it comes back once ``frozen`` answers."""
    await b.set(key, b"v", 60)
    await cached(b, key, b"v")
    frozen.pause()
    try:
        frozen_at = time.monotonic()
        await asyncio.sleep(LEASE + 0.02)
        # No heartbeat sent after the freeze can have been answered: the lease is over.
        assert not near(b).live
        await wait_until(lambda: not near(b)._live, HEARTBEAT + SLACK)
        print(f"off {time.monotonic() - frozen_at:.3f} s after the freeze")
        assert near(b)._entries == {}
    finally:
        frozen.resume()
    await wait_until(lambda: near(b).live, BACK)


# -- Sentinel ---------------------------------------------------------------------------------


def test_sentinel_store_gets_a_feed(redis_sentinel: SentinelSetup) -> None:
    store = RedisStore(redis_sentinel.url)
    assert store._near is not None


async def test_sentinel_cache_is_live_coherent_and_free(redis_sentinel: SentinelSetup) -> None:
    async with pair(redis_sentinel.url) as (a, b):
        keys = ["session:s1", "session:s2"]
        await check_propagation(a, b, keys)
        for key in keys:
            await a.set(key, b"v", 60)
        await check_hits_cost_nothing(b, keys, [redis_sentinel.master()])
        assert link_ports(b) == {redis_sentinel.master_port()}


async def test_sentinel_frozen_master_turns_the_cache_off(redis_sentinel: SentinelSetup) -> None:
    async with pair(redis_sentinel.url) as (_, b):
        await check_freeze(b, "session:frozen", redis_sentinel.master())


async def test_sentinel_failover_the_cache_reads_what_the_pool_reads(
    redis_sentinel: SentinelSetup,
) -> None:
    # The cache follows b's own pool, never the sentinels directly: whatever master the pool
    # sends b's commands to, a cached read answers what a read through the pool would.
    await asyncio.to_thread(redis_sentinel.settle)
    async with pair(redis_sentinel.url) as (a, b):
        key, flushes = "session:moved", near(b).stats["flushes"]
        full = b.prefix + key
        await a.set(key, b"before", 60)
        await asyncio.to_thread(redis_sentinel.master().client().execute_command, "WAIT", 1, 5000)
        await cached(b, key, b"before")
        old_port = redis_sentinel.master_port()
        await asyncio.to_thread(redis_sentinel.failover)
        new = redis_sentinel.master()
        # An instance whose pool already follows the sentinels deletes on the new master.
        await asyncio.to_thread(delete_on, new, full)
        # b's pool stays on the old master until a command of its fails there: so does b's
        # cache, and both answer alike (here the old master's copy).
        for _ in range(20):
            through_pool = await b._redis.get(full)
            assert await b.get(key) == through_pool
            await asyncio.sleep(0.02)
        assert b._redis.connection_pool.master_address[1] == old_port
        # The sentinels demote the old master (settle() does now what they do seconds later):
        # its clients are dropped, b's next write meets READONLY, the pool asks the sentinels
        # again, and the cache subscribes where the pool now sends commands.
        await asyncio.to_thread(redis_sentinel.settle)
        moved_at = time.monotonic()
        while True:
            try:
                await b.set("session:nudge", b"x", 60)
                break
            except StoreUnavailable:
                assert time.monotonic() - moved_at < BACK
                await asyncio.sleep(0.01)
        assert b._redis.connection_pool.master_address[1] == new.port
        await wait_until(lambda: near(b).live and link_ports(b) == {new.port}, BACK, step=0.01)
        print(f"live on the new master {time.monotonic() - moved_at:.2f} s after the demotion")
        assert near(b).stats["flushes"] > flushes
        assert await b.get(key) is None
        await asyncio.to_thread(set_on, new, full, b"after")
        await wait_until(lambda: full not in near(b)._entries, 1.0)
        assert await b.get(key) == b"after"
    await asyncio.to_thread(redis_sentinel.settle)


def delete_on(node: RedisServer, key: str) -> None:
    client = node.client()
    try:
        assert client.delete(key) == 1
    finally:
        client.close()


def set_on(node: RedisServer, key: str, value: bytes) -> None:
    client = node.client()
    try:
        client.set(key, value)
    finally:
        client.close()


# -- Cluster ----------------------------------------------------------------------------------


def keys_on_every_master(cluster: ClusterSetup, prefix: str) -> dict[int, str]:
    """One session key per master (by port), under ``prefix``."""
    found: dict[int, str] = {}
    masters = {node.port for node in cluster.nodes if _is_master(node)}
    for n in range(1000):
        key = f"session:k{n}"
        found.setdefault(cluster.owner_of(prefix + key).port, key)
        if set(found) == masters:
            return found
    raise AssertionError("no key for some master")


def _is_master(node: RedisServer) -> bool:
    client = node.client()
    try:
        return bool(client.execute_command("ROLE")[0] == b"master")
    finally:
        client.close()


def cluster_masters(cluster: ClusterSetup) -> list[RedisServer]:
    return [node for node in cluster.nodes if _is_master(node)]


async def test_cluster_cache_is_live_coherent_and_free(redis_cluster: ClusterSetup) -> None:
    async with pair(redis_cluster.url) as (a, b):
        keys = keys_on_every_master(redis_cluster, b.prefix)
        masters = cluster_masters(redis_cluster)
        assert link_ports(b) == {m.port for m in masters} == set(keys)
        await check_propagation(a, b, list(keys.values()))
        for key in keys.values():
            await a.set(key, b"v", 60)
        await check_hits_cost_nothing(b, list(keys.values()), masters)


async def test_cluster_one_frozen_master_turns_the_cache_off(redis_cluster: ClusterSetup) -> None:
    async with pair(redis_cluster.url) as (_, b):
        keys = keys_on_every_master(redis_cluster, b.prefix)
        frozen = redis_cluster.owner_of(b.prefix + keys[min(keys)])
        # A key on another master: its link keeps answering, yet the lease ends.
        other = next(key for port, key in keys.items() if port != frozen.port)
        await check_freeze(b, other, frozen)


async def test_cluster_view_change_resubscribes(redis_cluster: ClusterSetup) -> None:
    async with pair(redis_cluster.url) as (_, b):
        flushes = near(b).stats["flushes"]
        # The client learns (as from a MOVED) that a primary is a replica now.
        cluster_client: Any = b._redis
        cluster_client.get_primaries()[0].server_type = REPLICA
        await wait_until(lambda: near(b).stats["flushes"] > flushes, HEARTBEAT + SLACK)
        # A new subscription starts from a fresh view (CLUSTER SLOTS), on every primary.
        await wait_until(lambda: near(b).live, BACK)
        assert link_ports(b) == {m.port for m in cluster_masters(redis_cluster)}


async def test_cluster_failover_never_serves_a_stale_record(redis_cluster: ClusterSetup) -> None:
    async with pair(redis_cluster.url) as (a, b):
        keys = keys_on_every_master(redis_cluster, b.prefix)
        for key in keys.values():
            await a.set(key, b"before", 60)
            await cached(b, key, b"before")
        moved = keys[min(keys)]
        flushes = near(b).stats["flushes"]
        await asyncio.to_thread(redis_cluster.failover, b.prefix + moved)
        new = redis_cluster.owner_of(b.prefix + moved)
        client = new.client()
        try:
            assert client.delete(b.prefix + moved) == 1
        finally:
            client.close()
        await asyncio.sleep(LEASE + SLACK)
        assert await b.get(moved) is None, "a stale record after the failover"
        # b made no round trip for that slot: its cache went off by its own confirmation.
        assert near(b).stats["flushes"] > flushes
        await wait_until(
            lambda: (
                near(b).live and link_ports(b) == {m.port for m in cluster_masters(redis_cluster)}
            ),
            BACK,
            step=0.05,
        )
        assert new.port in link_ports(b)
        await check_propagation(a, b, list(keys.values()))
