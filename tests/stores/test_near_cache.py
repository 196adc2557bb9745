"""The Redis store's near-cache (oidc_kit/stores/_near_cache.py) against a real redis-server.

Two :class:`RedisStore` instances on one server stand for two app instances: ``a`` writes, ``b``
reads through its near-cache. Each test starts a ``redis-server`` of its own (it counts the
server's commands, freezes it with ``SIGSTOP``, kills and restarts it). Timings are functional
bounds with generous slack for a shared 2-core machine, not benchmarks; the figures measured
are printed (``pytest -s``) and recorded in docs/performance.md.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import redis
from redis.asyncio.cluster import RedisCluster

from oidc_kit._errors import ConfigurationError, StoreUnavailable
from oidc_kit.stores import RedisStore, _near_cache, open_store
from oidc_kit.stores._near_cache import HEARTBEAT, LEASE, NearCache, near_cache_enabled
from oidc_kit.stores._redis_feeds import redis_feed
from oidc_kit.stores._tracking import RespError, TrackingLink
from tests.redis_server import RedisServer, unique_prefix

KEY = "session:s1"
#: Slack over the lease for the event loop, the heartbeat's schedule and the machine's load.
SLACK = 0.25
WAIT = 5.0


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A redis-server of this test's own (persistent, so that a kill and restart keeps data)."""
    server = RedisServer(persist=True)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def raw(own_redis: RedisServer) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(own_redis.url, socket_timeout=2)
    yield client
    client.close()


@pytest.fixture
async def pair(own_redis: RedisServer) -> AsyncIterator[tuple[RedisStore, RedisStore]]:
    """Two app instances on one Redis; ``b``'s near-cache is live."""
    prefix = unique_prefix()
    a = RedisStore(own_redis.url, prefix=prefix, socket_timeout=0.3, connect_timeout=0.3)
    b = RedisStore(own_redis.url, prefix=prefix, socket_timeout=0.3, connect_timeout=0.3)
    await b.get(KEY)  # starts the listener
    await wait_until(lambda: near(b).live)
    yield a, b
    await a.close()
    await b.close()


def near(store: RedisStore) -> NearCache:
    cache = store._near
    assert cache is not None
    return cache


def near_sink() -> Any:
    """A sink for a link opened alone: it ignores what the link reports."""

    class Ignore:
        def on_invalidate(self, keys: list[str] | None) -> None: ...

        def on_pong(self, subscription: object, sent_at: float) -> None: ...

        def on_lost(self, subscription: object) -> None: ...

    return Ignore()


def full(store: RedisStore, key: str = KEY) -> str:
    return store.prefix + key


async def wait_until(condition: Any, within: float = WAIT, step: float = 0.001) -> None:
    """Return once ``condition()`` holds (polled every ``step`` s); fail after ``within``."""
    started = time.perf_counter()
    while not condition():
        if time.perf_counter() - started > within:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(step)


def commands(raw: redis.Redis, *names: str) -> int:
    """How many of these commands the server has run (``INFO commandstats``)."""
    stats: dict[str, Any] = raw.info("commandstats")  # type: ignore[assignment]
    return sum(int(stats.get(f"cmdstat_{name}", {}).get("calls", 0)) for name in names)


READS = ("get", "evalsha", "eval")


async def cached(store: RedisStore, value: bytes) -> None:
    """Read ``KEY`` until ``store`` serves ``value`` from its near-cache."""
    for _ in range(50):
        assert await store.get(KEY) == value
        if full(store) in near(store)._entries:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("never cached")


# -- (a) hits cost no round trip; single flight ---------------------------------------------


async def test_a_hit_is_served_without_a_redis_round_trip(
    pair: tuple[RedisStore, RedisStore], raw: redis.Redis
) -> None:
    a, b = pair
    await a.set(KEY, b"v1", 60)
    await cached(b, b"v1")
    before, hits = commands(raw, *READS), near(b).stats["hits"]
    for _ in range(1_000):
        assert await b.get(KEY) == b"v1"
    assert commands(raw, *READS) == before
    assert near(b).stats["hits"] == hits + 1_000


async def test_concurrent_misses_share_one_read(
    pair: tuple[RedisStore, RedisStore], raw: redis.Redis
) -> None:
    a, b = pair
    await a.set(KEY, b"v1", 60)
    await b.get("session:other")  # loads the fill's script (a first EVALSHA gets NOSCRIPT)
    before = commands(raw, "evalsha")  # a fill: one EVALSHA (its GET and PTTL run inside)
    values = await asyncio.gather(*(b.get(KEY) for _ in range(50)))
    assert values == [b"v1"] * 50
    assert commands(raw, "evalsha") == before + 1


async def test_only_session_keys_are_cached(pair: tuple[RedisStore, RedisStore]) -> None:
    a, b = pair
    await a.set("login:x", b"t", 60)
    await a.add("lease:s1", b"me", 60)
    assert await b.get("login:x") == b"t"
    assert await b.get("lease:s1") == b"me"
    assert len(near(b)) == 0


# -- (b) (c) another instance's writes --------------------------------------------------------


async def test_b_writes_on_one_instance_reach_the_other_within_milliseconds(
    pair: tuple[RedisStore, RedisStore],
) -> None:
    a, b = pair
    delays = []
    for trial in range(200):
        value = b"v%d" % trial
        await a.set(KEY, value, 60)
        await cached(b, value)
        started = time.perf_counter()
        if trial % 2:
            await a.delete(KEY)
        else:
            await a.set(KEY, value + b"'", 60)
        # Polled every loop round: the invalidation is applied as its bytes are parsed.
        await wait_until(lambda: full(b) not in near(b)._entries, step=0)
        delays.append(time.perf_counter() - started)
    median, p99 = statistics.median(delays), statistics.quantiles(delays, n=100)[98]
    print(
        f"\nwrite on a -> applied on b, from the write's start (200 trials): "
        f"median {median * 1e3:.2f} ms, p99 {p99 * 1e3:.2f} ms"
    )
    assert p99 <= 0.050  # a functional bound; the figure is what docs/performance.md reports


async def test_c_no_read_after_an_acknowledged_delete_returns_the_old_value(
    pair: tuple[RedisStore, RedisStore],
) -> None:
    a, b = pair
    stale = 0
    for trial in range(500):
        await a.set(KEY, b"v%d" % trial, 60)
        await cached(b, b"v%d" % trial)
        await a.delete(KEY)
        stale += await b.get(KEY) is not None
    assert stale == 0
    print(f"\nreads after an acknowledged delete that saw the old value: {stale} of 500")


async def test_c_a_notice_waiting_on_the_socket_is_applied_before_a_hit(
    pair: tuple[RedisStore, RedisStore], raw: redis.Redis
) -> None:
    # The event loop is kept from reading b's listener socket (the blocking client blocks
    # this thread) while another client deletes and the invalidation arrives: the next get
    # must apply it first, not serve the entry.
    a, b = pair
    for trial in range(20):
        await a.set(KEY, b"v%d" % trial, 60)
        await cached(b, b"v%d" % trial)
        raw.delete(full(b))
        link = near(b)._link
        assert link is not None
        started = time.monotonic()
        while not link.unread():
            assert time.monotonic() - started < WAIT
            time.sleep(0.0005)  # noqa: ASYNC251  (blocking on purpose: no loop round)
        assert await b.get(KEY) is None


async def test_f_a_reset_connection_turns_the_cache_off_before_the_next_heartbeat(
    pair: tuple[RedisStore, RedisStore], raw: redis.Redis
) -> None:
    a, b = pair
    await a.set(KEY, b"v1", 60)
    await cached(b, b"v1")
    raw.execute_command("CLIENT", "KILL", "TYPE", "pubsub")  # the listener, and only it
    started = time.monotonic()
    await wait_until(lambda: not near(b)._live, within=HEARTBEAT / 2)
    print(f"\nlistener killed: off {(time.monotonic() - started) * 1e3:.1f} ms later")
    assert len(near(b)) == 0


async def test_own_writes_are_read_back_at_once(pair: tuple[RedisStore, RedisStore]) -> None:
    _, b = pair
    for trial in range(100):
        value = b"v%d" % trial
        await b.set(KEY, value, 60)
        assert await b.get(KEY) == value
        assert await b.replace(KEY, value + b"'", 60) is True
        assert await b.get(KEY) == value + b"'"
    assert await b.take(KEY) == b"v99'"
    assert await b.get(KEY) is None
    await b.set(KEY, b"x", 60)
    await cached(b, b"x")
    assert await b.delete_if(KEY, b"x") is True
    assert await b.get(KEY) is None


async def test_taking_a_sessions_lease_makes_its_next_read_go_to_redis(
    pair: tuple[RedisStore, RedisStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The refresh race (oidc_kit/_refresh.py): whoever takes a session's lease re-reads it
    # from Redis, whatever the state of its notices (on a Cluster the lease and the session
    # may live on different masters, so their order is not Redis's single order).
    a, b = pair
    await a.set(KEY, b"before refresh", 60)
    await cached(b, b"before refresh")
    monkeypatch.setattr(near(b), "on_invalidate", lambda keys: None)  # the notice is late
    await a.set(KEY, b"after refresh", 60)
    assert await b.get(KEY) == b"before refresh"  # a stale hit, as a late notice allows
    assert await b.add("lease:s1", b"owner", 5) is True
    assert await b.get(KEY) == b"after refresh"  # under the lease: read from Redis
    assert await b.add("lease:other", b"owner", 5) is True  # another session's lease...
    await cached(b, b"after refresh")  # ...leaves this one cached


async def test_own_writes_do_not_wait_for_their_echo(
    pair: tuple[RedisStore, RedisStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, b = pair
    await b.set(KEY, b"v1", 60)
    await cached(b, b"v1")
    monkeypatch.setattr(near(b), "on_invalidate", lambda payload: None)  # the echo is late
    await b.set(KEY, b"v2", 60)
    assert await b.get(KEY) == b"v2"
    await cached(b, b"v2")
    await b.delete(KEY)
    assert await b.get(KEY) is None


# -- (d) a fill racing an invalidation ---------------------------------------------------------


async def test_d_a_fill_racing_an_invalidation_is_discarded(
    pair: tuple[RedisStore, RedisStore],
) -> None:
    a, b = pair
    await a.set(KEY, b"old", 60)
    cache = near(b)
    invalidations = cache.stats["invalidations"]

    fill = cache._fill

    async def slow_fill(key: str) -> tuple[bytes | None, float]:
        reply = await fill(key)  # Redis answered "old"...
        await a.set(KEY, b"new", 60)  # ...then another instance wrote, before the fill
        await wait_until(lambda: cache.stats["invalidations"] > invalidations)
        return reply

    cache._fill = slow_fill
    assert await cache.get(full(b)) == b"old"  # this read began before the write
    cache._fill = fill
    assert full(b) not in cache._entries  # but its value was not cached
    assert await b.get(KEY) == b"new"


# -- expiry, size, flush -------------------------------------------------------------------------


async def test_an_entry_is_never_served_past_its_own_expiry(
    pair: tuple[RedisStore, RedisStore], raw: redis.Redis
) -> None:
    a, b = pair
    # Redis then removes expired keys (and sends their invalidations) about once a second:
    # the entry's own expiry, not an invalidation, must end it.
    raw.config_set("hz", 1)
    await a.set(KEY, b"short", 0.3)
    await cached(b, b"short")
    await asyncio.sleep(0.35)
    assert await b.get(KEY) is None


async def test_the_cache_is_bounded(
    pair: tuple[RedisStore, RedisStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_near_cache, "MAX_ENTRIES", 5)
    a, b = pair
    for n in range(10):
        await a.set(f"session:{n}", b"v", 60)
        assert await b.get(f"session:{n}") == b"v"
    assert len(near(b)) == 5
    assert full(b, "session:9") in near(b)._entries
    assert full(b, "session:0") not in near(b)._entries


async def test_a_flush_of_redis_flushes_the_cache(
    pair: tuple[RedisStore, RedisStore], raw: redis.Redis
) -> None:
    _, b = pair
    raw.set(full(b), b"v", px=60_000)
    await cached(b, b"v")
    raw.flushall()
    await wait_until(lambda: len(near(b)) == 0)
    assert await b.get(KEY) is None


async def test_a_lapsed_lease_turns_the_cache_off_at_the_next_hit(
    pair: tuple[RedisStore, RedisStore], raw: redis.Redis
) -> None:
    a, b = pair
    await a.set(KEY, b"v1", 60)
    await cached(b, b"v1")
    cache = near(b)
    cache._lease_until = time.monotonic() - 0.001  # no PONG in time, listener not woken yet
    before = commands(raw, "get")
    assert await b.get(KEY) == b"v1"
    assert commands(raw, "get") == before + 1  # read from Redis, not from memory
    assert len(cache) == 0
    await wait_until(lambda: cache.live)  # back after a new subscription


# -- (e) silent partition, (f) crash and restart --------------------------------------------------


async def test_e_a_frozen_redis_turns_the_cache_off_within_the_lease(
    pair: tuple[RedisStore, RedisStore], own_redis: RedisServer
) -> None:
    a, b = pair
    await a.set(KEY, b"v1", 60)
    await cached(b, b"v1")
    flushes = near(b).stats["flushes"]
    own_redis.pause()
    frozen = time.perf_counter()
    try:
        last_hit = frozen
        while True:
            try:
                assert await b.get(KEY) == b"v1"  # a hit: served from memory
            except StoreUnavailable:
                break  # off: the read went to Redis, which does not answer
            last_hit = time.perf_counter()
            assert last_hit - frozen < WAIT
            await asyncio.sleep(0.005)
        served_for = last_hit - frozen
        print(f"\nfrozen Redis: cache hits served for {served_for * 1e3:.0f} ms after SIGSTOP")
        assert served_for <= LEASE + SLACK
        assert not near(b).live
        with pytest.raises(StoreUnavailable):
            await b.get(KEY)  # no stale value: Redis is asked, and does not answer
    finally:
        own_redis.resume()
    await wait_until(lambda: near(b).live)
    assert near(b).stats["flushes"] > flushes  # re-subscribed, then flushed, before going live
    assert len(near(b)) == 0
    await a.set(KEY, b"v2", 60)
    await cached(b, b"v2")


async def test_f_a_crash_turns_the_cache_off_and_a_restart_back_on(
    pair: tuple[RedisStore, RedisStore], own_redis: RedisServer
) -> None:
    a, b = pair
    await a.set(KEY, b"v1", 60)
    await cached(b, b"v1")
    own_redis.kill()
    await wait_until(lambda: not near(b).live)
    assert len(near(b)) == 0
    with pytest.raises(StoreUnavailable):
        await b.get(KEY)
    own_redis.start()  # same port, same data
    await a.set(KEY, b"v2", 60)  # maybe before b's listener is back: b must still see it
    assert await b.get(KEY) == b"v2"
    await wait_until(lambda: near(b).live)
    await cached(b, b"v2")
    await a.delete(KEY)
    await wait_until(lambda: full(b) not in near(b)._entries)
    assert await b.get(KEY) is None


# -- what the listener refuses to do ---------------------------------------------------------


async def test_a_server_error_is_logged_by_its_code_only(own_redis: RedisServer) -> None:
    # Redis echoes an unknown command's arguments ("... with args beginning with: ..."): had
    # AUTH been renamed, that would be the password.
    link = await TrackingLink.open(
        redis.asyncio.Redis.from_url(own_redis.url).connection_pool, near_sink(), "p:session:"
    )
    try:
        with pytest.raises(RespError) as refused:
            await link.command("NO_SUCH_COMMAND", "S3cretPassw0rd")
        assert "S3cretPassw0rd" not in str(refused.value)
        assert str(refused.value) == "NO_SUCH_COMMAND refused: ERR"
    finally:
        link.close()


async def test_a_huge_invalidation_flushes_the_cache(
    pair: tuple[RedisStore, RedisStore], raw: redis.Redis
) -> None:
    # One DEL of 10,000 sessions is a ~900 KiB invalidation: rather than re-parse it at every
    # chunk, the link flushes the cache and starts over.
    a, b = pair
    await a.set(KEY, b"v1", 60)
    await cached(b, b"v1")
    names = [full(b, f"session:bulk-{i:05d}-{'x' * 40}") for i in range(10_000)]
    with raw.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.set(name, b"1", px=60_000)
        pipe.execute()
    flushes = near(b).stats["flushes"]
    raw.delete(*names)
    await wait_until(lambda: near(b).stats["flushes"] > flushes and len(near(b)) == 0)
    await wait_until(lambda: near(b).live)  # subscribed again
    await cached(b, b"v1")  # and caching


# -- (g) the off switch ----------------------------------------------------------------------------


async def test_g_the_near_cache_can_be_turned_off(
    own_redis: RedisServer, raw: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = unique_prefix()
    off = RedisStore(own_redis.url, prefix=prefix, near_cache=False)
    assert off._near is None
    await off.set(KEY, b"v", 60)
    before = commands(raw, *READS)
    for _ in range(20):
        assert await off.get(KEY) == b"v"
    assert commands(raw, *READS) == before + 20
    await off.close()
    monkeypatch.setenv("SESSION_STORE_NEAR_CACHE", "0")
    from_env = open_store(own_redis.url)
    assert isinstance(from_env, RedisStore)
    assert from_env._near is None
    assert RedisStore(own_redis.url, near_cache=True)._near is not None  # the keyword wins
    await from_env.close()


@pytest.mark.parametrize(
    ("setting", "raw", "enabled"),
    [
        (None, None, True),
        (None, "1", True),
        (None, "off", False),
        (None, "0", False),
        (False, None, False),
        (True, "0", True),
    ],
)
def test_the_setting(setting: bool | None, raw: str | None, enabled: bool) -> None:
    env = {} if raw is None else {"SESSION_STORE_NEAR_CACHE": raw}
    assert near_cache_enabled(setting, env) is enabled


def test_a_bad_setting_is_refused() -> None:
    with pytest.raises(ConfigurationError):
        near_cache_enabled(None, {"SESSION_STORE_NEAR_CACHE": "maybe"})


def test_a_cluster_gets_a_feed_and_unknown_clients_none() -> None:
    # One link per primary (tests/stores/test_near_cache_topologies.py runs it on a cluster).
    cluster = RedisCluster(host="127.0.0.1", port=7000)
    assert redis_feed(cluster, "p:session:") is not None
    assert redis_feed(object(), "p:session:") is None
