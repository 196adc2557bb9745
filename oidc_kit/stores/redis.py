"""A shared store: Redis, for apps that run as several processes on several machines.

Selected with ``SESSION_STORE=redis://[[user]:password@]HOST:PORT/DB`` or ``rediss://`` (TLS),
``redis+sentinel://`` (a Sentinel-watched master) or ``redis+cluster://`` (Redis Cluster); the URL
may carry redis-py's query options (oidc_kit/stores/_redis_connect.py defines each form). An app
may instead pass a redis-py asyncio client of its own (``client=``). It needs Redis 6.2 or later
(``GETDEL``). Every command names one key, so each works on a Cluster whatever slot it is in.

Every key carries a prefix (``oidc_kit:`` by default) and a TTL in milliseconds, so Redis
purges expired sessions, login transactions and leases by itself. Each method is one atomic
command: ``take`` is ``GETDEL``, ``add`` is ``SET NX PX`` and ``delete_if`` a three-line Lua
script, so every guarantee of the Protocol holds across processes.

Faults are bounded. A call that cannot connect within ``connect_timeout``, or gets no answer
within ``socket_timeout``, raises :class:`~oidc_kit.StoreUnavailable`; an ``asyncio.timeout``
of both together caps each call however the time is spent. Commands are never retried: a
retried ``GETDEL`` or ``SET NX`` whose first attempt did reach Redis would lose the value or
report a lease as taken by someone else. (A call that timed out may still have reached Redis:
a lease taken that way lapses with its TTL.) Connections broken by an outage are dropped and the
pool opens new ones on later calls, so the store works again as soon as Redis is back, with no
restart. Neither the URL nor its password ever appears in a message.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable
from typing import TypeVar

from redis.exceptions import RedisClusterException, RedisError

from .._errors import ConfigurationError, StoreUnavailable
from ._near_cache import SESSION_KEYS, NearCache, leased_session, near_cache_enabled
from ._redis_connect import RedisClient, check_client, redis_client
from ._redis_feeds import redis_feed

__all__ = ["RedisStore"]

_T = TypeVar("_T")

#: TTLs are capped (about 31 years) so that ``inf`` or a huge number still makes a valid ``PX``.
_MAX_TTL_SECONDS = 1e9

#: Compare-and-delete: release a lease only while it is still ours.
_DELETE_IF_SCRIPT = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""

#: One round trip for a near-cache fill: the value and its remaining TTL, read atomically.
_GET_WITH_PTTL = """
return {redis.call('get', KEYS[1]), redis.call('pttl', KEYS[1])}
"""

#: Everything a call can raise when Redis is down, slow or refusing us (a Cluster client raises
#: RedisClusterException, not a RedisError, when it reaches no node or finds no slot owner).
_UNAVAILABLE = (RedisError, RedisClusterException, OSError, asyncio.TimeoutError)


class RedisStore:
    """A :class:`~oidc_kit.stores.SessionStore` in Redis (redis-py's asyncio client).

    No connection is made until the first call. A ``ttl`` that is not positive stores
    nothing (``set`` removes the old value, ``add`` returns ``False``), as on every backend;
    positive TTLs are rounded up to whole milliseconds.

    Session records are served from a near-cache (``oidc_kit/stores/_near_cache.py``) while
    Redis's invalidations provably reach this process; ``near_cache=False``, or
    ``SESSION_STORE_NEAR_CACHE=0`` when ``near_cache`` is left unset, reads Redis every time.
    On Sentinel it listens where the client's pool sends commands, on a Cluster to every
    primary (``_redis_feeds.py``); it is off for clients with a credential provider.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        client: RedisClient | None = None,
        prefix: str = "oidc_kit:",
        socket_timeout: float = 1.0,
        connect_timeout: float = 1.0,
        near_cache: bool | None = None,
    ) -> None:
        """Open ``url`` (one Redis, Sentinel or Cluster: see ``_redis_connect``) or use ``client``.

        A ``client`` (redis-py asyncio ``Redis`` or ``RedisCluster``) stays the app's: the store
        uses it as configured, timeouts and retries included, and ``close`` leaves it open.
        """
        if not (socket_timeout > 0 and connect_timeout > 0):
            raise ConfigurationError("Redis timeouts must be positive")
        if (url is None) == (client is None):
            raise ConfigurationError("RedisStore takes a URL or a client, not both or neither")
        if client is None:
            assert url is not None
            client = redis_client(
                url, socket_timeout=socket_timeout, connect_timeout=connect_timeout
            )
        else:
            check_client(client)
        #: Whether ``close`` closes the client: only one the store built itself.
        self._owns_client = url is not None
        self._redis = client
        self._prefix = prefix
        self._deadline = socket_timeout + connect_timeout
        self._delete_if = self._redis.register_script(_DELETE_IF_SCRIPT)
        self._get_with_pttl = self._redis.register_script(_GET_WITH_PTTL)
        feed = redis_feed(client, prefix + SESSION_KEYS) if near_cache_enabled(near_cache) else None
        self._near = (
            None
            if feed is None
            else NearCache(feed, self._read, self._fill, self._deadline, server="Redis")
        )

    @property
    def prefix(self) -> str:
        """What every key is prefixed with in Redis."""
        return self._prefix

    async def get(self, key: str) -> bytes | None:
        """The value under ``key``, or ``None`` when absent or expired."""
        if self._near is not None and key.startswith(SESSION_KEYS):
            return await self._near.get(self._prefix + key)
        return await self._read(self._prefix + key)

    async def _read(self, name: str) -> bytes | None:
        return _as_bytes(await self._call(self._redis.get(name)))

    async def _fill(self, name: str) -> tuple[bytes | None, float]:
        """The near-cache's read: the value and when it expires, on the monotonic clock."""
        started = time.monotonic()
        reply = await self._call(self._get_with_pttl(keys=[name]))
        if not (isinstance(reply, list) and len(reply) == 2 and isinstance(reply[1], int)):
            raise StoreUnavailable("the session store answered with an unexpected type")
        value, pttl = _as_bytes(reply[0]), reply[1]
        # Counted from before the request was sent, so never later than Redis's own expiry.
        return value, started + pttl / 1000 if pttl >= 0 else math.inf

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        """Store ``value`` under ``key`` for ``ttl`` seconds, replacing any old value."""
        if not ttl > 0:
            await self.delete(key)
            return
        await self._write(key, self._redis.set(self._prefix + key, bytes(value), px=_px(ttl)))

    async def delete(self, key: str) -> None:
        """Remove ``key``; absent keys are fine."""
        await self._write(key, self._redis.delete(self._prefix + key))

    async def take(self, key: str) -> bytes | None:
        """Read and remove ``key`` in one command (``GETDEL``)."""
        return _as_bytes(await self._write(key, self._redis.getdel(self._prefix + key)))

    async def add(self, key: str, value: bytes, ttl: float) -> bool:
        """Store ``value`` only if ``key`` is absent or expired (``SET NX PX``)."""
        if not ttl > 0:
            return False
        stored = await self._write(
            key, self._redis.set(self._prefix + key, bytes(value), px=_px(ttl), nx=True)
        )
        session = leased_session(key)
        if stored and session is not None and self._near is not None:
            self._near.written(self._prefix + session)  # the holder re-reads from Redis
        return bool(stored)

    async def replace(self, key: str, value: bytes, ttl: float) -> bool:
        """Store ``value`` only if ``key`` exists (``SET XX PX``)."""
        if not ttl > 0:
            return bool(await self._write(key, self._redis.delete(self._prefix + key)))
        stored = await self._write(
            key, self._redis.set(self._prefix + key, bytes(value), px=_px(ttl), xx=True)
        )
        return bool(stored)

    async def delete_if(self, key: str, value: bytes) -> bool:
        """Delete ``key`` only if it holds ``value`` (a Lua script, so atomic)."""
        script = self._delete_if(keys=[self._prefix + key], args=[bytes(value)])
        deleted = await self._write(key, script)
        return bool(deleted)

    async def index_add(self, key: str, member: str, ttl: float) -> None:
        """Add ``member`` to the set ``key`` (a sorted set scored by expiry time)."""
        if not ttl > 0:
            return
        name, expires_at = self._prefix + key, time.time() + ttl
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(name, "-inf", time.time())
            pipe.zadd(name, {member: expires_at})
            # The set lives as long as its longest-lived member.
            pipe.pexpireat(name, math.ceil(expires_at * 1000), gt=True)
            pipe.pexpireat(name, math.ceil(expires_at * 1000), nx=True)
            await self._call(pipe.execute())

    async def index_members(self, key: str) -> list[str]:
        """The live members of the set ``key``."""
        members = await self._call(
            self._redis.zrangebyscore(self._prefix + key, f"({time.time()}", "+inf")
        )
        return [m.decode() if isinstance(m, bytes) else str(m) for m in members]

    async def index_discard(self, key: str, member: str) -> None:
        """Remove ``member`` from the set ``key``."""
        await self._call(self._redis.zrem(self._prefix + key, member))

    async def ping(self) -> None:
        """``PING``, bounded like every call (no retry): a health check's round trip."""
        if await self._call(self._redis.ping()) is not True:
            raise StoreUnavailable("the session store answered PING with something else")

    async def close(self) -> None:
        """Close the connection pool; a later call opens new connections.

        A client the app passed in (``client=``) is the app's to close, and stays open.
        """
        if self._near is not None:
            await self._near.close()
        if self._owns_client:
            await self._call(self._redis.aclose())

    async def _call(self, command: Awaitable[_T]) -> _T:
        try:
            async with asyncio.timeout(self._deadline):
                return await command
        except _UNAVAILABLE as exc:
            raise StoreUnavailable("the session store did not answer") from exc

    async def _write(self, key: str, command: Awaitable[_T]) -> _T:
        """A write of ``key``: this process's cached copy goes once Redis has answered, or
        the call failed (it may still have reached Redis)."""
        try:
            return await self._call(command)
        finally:
            if self._near is not None:
                self._near.written(self._prefix + key)


def _px(ttl: float) -> int:
    """A positive TTL in whole milliseconds, rounded up, at least 1."""
    return max(1, math.ceil(min(ttl, _MAX_TTL_SECONDS) * 1000))


def _as_bytes(value: object) -> bytes | None:
    # The client does not decode responses, so values come back as the bytes stored.
    if value is None or isinstance(value, bytes):
        return value
    raise StoreUnavailable("the session store answered with an unexpected type")
