"""The Redis store over TLS (``rediss://``) as an ACL user, against a real redis-server.

One TLS-only server (no plain port, the default user off) is started for the test session with
a throwaway CA (:func:`tests.redis_server.redis_tls`). The store, and its near-cache's own
listener connection, must verify the server against the CA named in the URL and log in as the
URL's user; a wrong CA or password must fail at once with :class:`StoreUnavailable` that
repeats neither the URL nor the password; a user whom Redis refuses the listener's commands
still gets a working store, without the near-cache.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import redis

from oidc_kit._errors import StoreUnavailable
from oidc_kit.stores import RedisStore
from tests.redis_server import TLSRedisServer, answers_ping, unique_prefix, write_tls_files

KEY = "session:s1"
#: A bound on how long a failure may take: the store's timeouts are 1 s + 1 s.
FAILS_WITHIN = 3.0
#: Server commands that read a value (a near-cache fill is one EVALSHA).
READS = ("get", "evalsha", "eval")


# -- the near-cache, seen from outside: the only place that knows its attributes ---------------


def near_live(store: RedisStore) -> bool:
    """Whether ``store``'s near-cache may serve hits now (its listener is subscribed)."""
    near = store._near
    return near is not None and bool(near.live)


def near_stat(store: RedisStore, name: str) -> int:
    """One of the near-cache's counters (``hits``, ``bypasses``, ``invalidations``, ...)."""
    near = store._near
    assert near is not None, "the store has no near-cache"
    return int(near.stats[name])


# -- helpers ------------------------------------------------------------------------------------


async def wait_until(condition: Callable[[], bool], within: float = 5.0) -> None:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > within:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)


def reads(server: TLSRedisServer) -> int:
    """How many reads the server has run (``INFO commandstats``), over the side channel."""
    client = server.client()
    try:
        stats: dict[str, Any] = client.info("commandstats")
    finally:
        client.close()
    return sum(int(stats.get(f"cmdstat_{name}", {}).get("calls", 0)) for name in READS)


async def cached(store: RedisStore, value: bytes) -> None:
    """Read ``KEY`` until ``store`` serves ``value`` as a near-cache hit."""
    for _ in range(100):
        hits = near_stat(store, "hits")
        assert await store.get(KEY) == value
        if near_stat(store, "hits") > hits:
            return
        await asyncio.sleep(0.005)
    raise AssertionError("never served from the near-cache")


def store_for(url: str, prefix: str) -> RedisStore:
    return RedisStore(url, prefix=prefix)


def assert_secret_free(text: str, server: TLSRedisServer, user: str, *extra: str) -> None:
    for secret in (server.users[user][0], *extra):
        assert secret not in text
    assert f"127.0.0.1:{server.port}" not in text  # nor any part of the URL
    assert "rediss://" not in text


@pytest.fixture
def prefix(redis_tls: TLSRedisServer) -> str:
    """A key prefix of the test's own (the ACL lets its users at ``oidc_kit_test:*``)."""
    return unique_prefix()


# -- the store over TLS -------------------------------------------------------------------------


async def test_every_operation_works_over_tls_as_an_acl_user(
    redis_tls: TLSRedisServer, prefix: str
) -> None:
    # The server has no plain port: the store's connections can only be TLS.
    plain = f"redis://app:{redis_tls.users['app'][0]}@127.0.0.1:{redis_tls.port}/0"
    assert not answers_ping(plain)
    store = store_for(redis_tls.url_for("app"), prefix)
    try:
        await store.ping()
        await store.set(KEY, b"v1", 60)
        assert await store.get(KEY) == b"v1"
        assert await store.replace(KEY, b"v2", 60) is True
        assert await store.take(KEY) == b"v2"
        assert await store.get(KEY) is None
        assert await store.add("lease:s1", b"me", 60) is True
        assert await store.add("lease:s1", b"you", 60) is False
        assert await store.delete_if("lease:s1", b"you") is False
        assert await store.delete_if("lease:s1", b"me") is True
        await store.index_add("user:alice", "s1", 60)
        await store.index_add("user:alice", "s2", 60)
        assert sorted(await store.index_members("user:alice")) == ["s1", "s2"]
        await store.index_discard("user:alice", "s1")
        assert await store.index_members("user:alice") == ["s2"]
        await store.delete("user:alice")
        assert await store.index_members("user:alice") == []
    finally:
        await store.close()
    side = redis_tls.client()
    try:
        assert side.execute_command("ACL", "WHOAMI") == b"app"
    finally:
        side.close()


async def test_the_near_cache_comes_up_over_tls(redis_tls: TLSRedisServer, prefix: str) -> None:
    url = redis_tls.url_for("app")
    a, b = store_for(url, prefix), store_for(url, prefix)
    try:
        await b.get(KEY)  # starts b's listener: its own TLS connection, logged in as ``app``
        await wait_until(lambda: near_live(b))
        await a.set(KEY, b"v0", 60)
        await cached(b, b"v0")
        # A hit is served from memory: no read reaches the server.
        before, hits = reads(redis_tls), near_stat(b, "hits")
        for _ in range(100):
            assert await b.get(KEY) == b"v0"
        assert reads(redis_tls) == before
        assert near_stat(b, "hits") == hits + 100
        # Another instance's write reaches b as an invalidation on the TLS listener: b never
        # serves the old value once the write was acknowledged.
        for trial in range(1, 21):
            invalidations = near_stat(b, "invalidations")
            await cached(b, b"v%d" % (trial - 1))
            await a.set(KEY, b"v%d" % trial, 60)
            assert await b.get(KEY) == b"v%d" % trial
            assert near_stat(b, "invalidations") > invalidations
        assert near_live(b)
    finally:
        await a.close()
        await b.close()


# -- failures: bounded, and secret-free --------------------------------------------------------


async def failures(store: RedisStore, url: str, *secrets: str) -> list[BaseException | None]:
    """Read, write and ping on a ``store`` of ``url`` that cannot connect: each must raise
    :class:`StoreUnavailable` within :data:`FAILS_WITHIN`, with a message that names neither
    ``secrets`` nor the URL. The causes (redis-py's errors), for the test to look at."""
    calls: list[Callable[[], Awaitable[object]]] = [
        lambda: store.get(KEY),  # through the near-cache, whose listener fails too
        lambda: store.set(KEY, b"v", 60),
        store.ping,
    ]
    causes = []
    for call in calls:
        started = time.monotonic()
        with pytest.raises(StoreUnavailable) as failure:
            await call()
        assert time.monotonic() - started < FAILS_WITHIN
        for text in (str(failure.value), repr(failure.value)):
            assert url not in text
            assert "rediss://" not in text
            assert all(secret not in text for secret in secrets)
        causes.append(failure.value.__cause__)
    return causes


async def test_a_wrong_ca_fails_at_once_without_the_url_or_password(
    redis_tls: TLSRedisServer, prefix: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    other = write_tls_files(str(tmp_path / "other"), name="another CA")
    url = redis_tls.url_for("app", ca=other.ca)
    store = store_for(url, prefix)
    caplog.set_level(logging.DEBUG, logger="oidc_kit")
    try:
        for cause in await failures(store, url, redis_tls.users["app"][0]):
            assert redis_tls.users["app"][0] not in str(cause)
            # The certificate check failed, at once: not a timeout.
            assert isinstance(cause, redis.ConnectionError)
            assert "CERTIFICATE_VERIFY_FAILED" in str(cause)
        await asyncio.sleep(0.2)  # the near-cache's listener has failed too by now
        assert not near_live(store)
    finally:
        await store.close()
    assert_secret_free(caplog.text, redis_tls, "app")


async def test_a_wrong_password_fails_without_it(
    redis_tls: TLSRedisServer, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "wrong-pw-N0t-this-one"
    url = redis_tls.url_for("app", password=wrong)
    store = store_for(url, prefix)
    caplog.set_level(logging.DEBUG, logger="oidc_kit")
    try:
        for cause in await failures(store, url, wrong):
            assert wrong not in str(cause)
            assert isinstance(cause, redis.AuthenticationError)
        await asyncio.sleep(0.2)
        assert not near_live(store)
    finally:
        await store.close()
    assert_secret_free(caplog.text, redis_tls, "app", wrong)


# -- a user Redis refuses the near-cache's listener -------------------------------------------


@pytest.mark.parametrize("user", ["nochannels", "noclient"])
async def test_a_user_without_client_or_channels_gets_a_store_without_near_cache(
    redis_tls: TLSRedisServer, prefix: str, user: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="oidc_kit")
    url = redis_tls.url_for(user)
    a, b = store_for(url, prefix), store_for(url, prefix)
    try:
        await a.set(KEY, b"v1", 60)
        assert await b.get(KEY) == b"v1"  # starts b's listener, which Redis refuses
        await wait_until(lambda: "refused" in caplog.text)
        before, bypasses = reads(redis_tls), near_stat(b, "bypasses")
        for trial in range(20):
            await a.set(KEY, b"w%d" % trial, 60)
            assert await b.get(KEY) == b"w%d" % trial
            assert await b.get(KEY) == b"w%d" % trial
        # Every read went to Redis, past the cache, which never came up.
        assert near_stat(b, "bypasses") == bypasses + 40
        assert reads(redis_tls) >= before + 40
        assert not near_live(b)
    finally:
        await a.close()
        await b.close()
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, caplog.text  # said once, not on every retry
    assert "near-cache off" in warnings[0].getMessage()
    assert "session near-cache on" not in caplog.text
    assert_secret_free(caplog.text, redis_tls, user)
