"""The Redis store's near-cache: session records served from process memory while Redis
provably tells us about every change to them (server-assisted client-side caching).

One dedicated connection, opened by this module rather than taken from redis-py's pool, does
``CLIENT ID``, ``CLIENT TRACKING ON REDIRECT <its own id> BCAST PREFIX <prefix>session:`` and
``SUBSCRIBE __redis__:invalidate``: Redis then publishes the name of every session key that is
written, deleted or expired, by anyone, on that connection, before it answers the writer. The
tracking and the subscription share that connection's one lifetime, so losing it cannot go
unnoticed (redis-py's own PubSub reconnects silently, which would lose invalidations). The
connection (``_tracking.py``) is an :class:`asyncio.Protocol`: an invalidation is applied in
``data_received``, as soon as it is parsed, not after a hop to a task. A hit first lets the
event loop read any bytes already waiting on that socket.

The cache is *on* only while that connection is up and its lease is fresh. A ``PING`` goes
down it every :data:`HEARTBEAT` seconds; its ``PONG`` (which Redis sends after every
invalidation it queued before it) extends the lease to the ping's send time plus :data:`LEASE`.
Every hit checks the lease. A lapsed lease (Redis frozen, a silent partition) or a lost
connection flushes the cache and bypasses it, every read going to Redis, until a new connection
has subscribed and the cache has been flushed again. So a write acknowledged to anyone is seen
here once its invalidation arrives (milliseconds), and never later than :data:`LEASE` after
Redis processed it.

Fills are single-flight per key and discarded when the key was invalidated, or the cache
flushed, while the ``GET`` was in flight. Each entry keeps its key's own expiry (Redis's
``PTTL`` read with the value): Redis invalidates an expired key only when it removes it. Only
session keys are cached; login transactions, leases and indexes always go to Redis.

Not for Redis Cluster or Sentinel (BCAST tracking is per node: the cache would need one
listener per master): :func:`near_cache_for` returns ``None`` for any connection it cannot
open itself, and the store then reads Redis on every call.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from redis.asyncio import Redis
from redis.asyncio.connection import Connection, SSLConnection, UnixDomainSocketConnection

from .._errors import ConfigurationError, StoreUnavailable
from ._tracking import RespError, TrackingLink

__all__ = [
    "HEARTBEAT",
    "LEASE",
    "MAX_ENTRIES",
    "SESSION_KEYS",
    "NearCache",
    "near_cache_enabled",
    "near_cache_for",
]

log = logging.getLogger("oidc_kit")

_T = TypeVar("_T")
#: How the store bounds a call to Redis (its ``_call``): turns faults into StoreUnavailable.
Call = Callable[[Awaitable[Any]], Awaitable[Any]]

#: Seconds between heartbeats (``PING``) on the listener connection.
HEARTBEAT = 0.1
#: Seconds a ``PONG`` keeps the cache on, counted from when its ``PING`` was sent.
LEASE = 0.25
#: Entries kept at most (least recently used dropped first).
MAX_ENTRIES = 10_000
#: The environment variable that turns the near-cache off (``0``, ``false``, ``no``, ``off``).
ENV_SWITCH = "SESSION_STORE_NEAR_CACHE"
#: The keys cached (after the store's own prefix): session records, as ``Sessions.key`` names them.
SESSION_KEYS = "session:"

_RECONNECT_MAX = 1.0

#: One round trip for a fill: the value and its remaining TTL, read atomically.
_GET_WITH_PTTL = """
return {redis.call('get', KEYS[1]), redis.call('pttl', KEYS[1])}
"""


def near_cache_enabled(setting: bool | None, env: Mapping[str, str] = os.environ) -> bool:
    """The near-cache setting: ``setting`` when given, else ``SESSION_STORE_NEAR_CACHE``
    (on unless ``0``/``false``/``no``/``off``)."""
    if setting is not None:
        return setting
    raw = env.get(ENV_SWITCH, "").strip().lower()
    if raw in ("", "1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigurationError(f"{ENV_SWITCH} must be 1 or 0")


def near_cache_for(client: object, key_prefix: str, deadline: float) -> NearCache | None:
    """A near-cache over ``client`` for keys starting with ``key_prefix``; ``None`` when the
    client is not one this module can open its own connection to (Cluster, Sentinel,
    credential providers)."""
    if type(client) is not Redis:
        return None
    pool = client.connection_pool
    kwargs = pool.connection_kwargs
    supported = (Connection, SSLConnection, UnixDomainSocketConnection)
    if pool.connection_class not in supported or kwargs.get("credential_provider"):
        return None
    return NearCache(client, key_prefix, deadline)


class _Flight:
    """One ``GET`` in flight for a key, shared by every caller that misses meanwhile."""

    __slots__ = ("task", "valid")

    def __init__(self, task: asyncio.Task[tuple[bytes | None, float]]) -> None:
        self.task = task
        #: Cleared when the key is invalidated or the cache flushed: the result is then
        #: returned to those already waiting, but never cached.
        self.valid = True


class NearCache:
    """Raw session records in process memory, kept coherent by Redis invalidations."""

    def __init__(self, client: Redis, key_prefix: str, deadline: float) -> None:
        self._client = client
        self._key_prefix = key_prefix
        self._deadline = deadline
        self._fill = client.register_script(_GET_WITH_PTTL)
        self._entries: OrderedDict[str, tuple[bytes, float]] = OrderedDict()
        self._flights: dict[str, _Flight] = {}
        self._live = False
        self._lease_until = 0.0
        self._link: TrackingLink | None = None
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        #: Counters for tests and operators: hits, misses (fills), bypasses, invalidations.
        self.stats = {"hits": 0, "misses": 0, "bypasses": 0, "invalidations": 0, "flushes": 0}

    @property
    def live(self) -> bool:
        """Whether a hit may be served now (the listener is subscribed and its lease fresh)."""
        return self._live and time.monotonic() < self._lease_until

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, key: str, call: Call, *, caught_up: bool = False) -> bytes | None:
        """The value of ``key`` (a full Redis key), from memory when the cache is on."""
        if not self._usable():
            self.stats["bypasses"] += 1
            return _as_bytes(await call(self._client.get(key)))
        entry = self._entries.get(key)
        if entry is not None and not caught_up and self._link is not None and self._link.unread():
            # Bytes from Redis wait on the listener's socket (maybe an invalidation of this
            # very key, sent just after the reply that made our caller ask): apply them first.
            await _next_io_round()
            return await self.get(key, call, caught_up=True)
        if entry is not None:
            if time.monotonic() < entry[1]:
                self._entries.move_to_end(key)
                self.stats["hits"] += 1
                return entry[0]
            del self._entries[key]
        flight = self._flights.get(key)
        if flight is None:
            flight = _Flight(asyncio.ensure_future(self._read(key, call)))
            self._flights[key] = flight
            flight.task.add_done_callback(lambda task: self._landed(key, flight))
            self.stats["misses"] += 1
        value, _ = await asyncio.shield(flight.task)
        return value

    def written(self, key: str) -> None:
        """This instance wrote ``key`` (a full Redis key): drop its entry now, before our own
        write's invalidation comes back, and keep any read in flight from caching the old
        value."""
        self._invalidate(key)

    async def close(self) -> None:
        """Stop the listener and empty the cache; a later :meth:`get` starts it again."""
        task, self._task = self._task, None
        self._live = False  # closed on purpose: no warning
        self._lose()
        if task is not None and not task.done():
            task.cancel()
            if task.get_loop() is asyncio.get_running_loop():
                await asyncio.gather(task, return_exceptions=True)

    # -- the hit path's checks and the fill ------------------------------------------------------

    def _usable(self) -> bool:
        loop = asyncio.get_running_loop()
        stranded = self._loop is not None and self._loop is not loop and self._loop.is_closed()
        if self._task is None or self._task.done() or stranded:
            self._lose()  # nothing learnt on a closed loop can be trusted
            self._loop = loop
            self._task = loop.create_task(self._listen(), name="oidc_kit near-cache listener")
        if loop is not self._loop or not self._live:
            return False  # another event loop than the listener's sees no invalidations
        if time.monotonic() >= self._lease_until:
            self._lapse()
            return False
        return True

    async def _read(self, key: str, call: Call) -> tuple[bytes | None, float]:
        started = time.monotonic()
        reply = await call(self._fill(keys=[key]))
        if not (isinstance(reply, list) and len(reply) == 2 and isinstance(reply[1], int)):
            raise StoreUnavailable("the session store answered with an unexpected type")
        value, pttl = _as_bytes(reply[0]), reply[1]
        # Counted from before the request was sent, so never later than Redis's own expiry.
        return value, started + pttl / 1000 if pttl >= 0 else math.inf

    def _landed(self, key: str, flight: _Flight) -> None:
        if self._flights.get(key) is flight:
            del self._flights[key]
        task = flight.task
        if task.cancelled() or task.exception() is not None:
            return
        value, expires_at = task.result()
        if flight.valid and self._live and value is not None:
            self._entries[key] = (value, expires_at)
            self._entries.move_to_end(key)
            if len(self._entries) > MAX_ENTRIES:
                self._entries.popitem(last=False)

    # -- invalidations, lease, loss ---------------------------------------------------------------

    def _invalidate(self, key: str) -> None:
        self._entries.pop(key, None)
        flight = self._flights.pop(key, None)
        if flight is not None:
            flight.valid = False  # and later callers start a fresh read

    def _flush(self) -> None:
        self._entries.clear()
        for flight in self._flights.values():
            flight.valid = False
        self._flights.clear()
        self.stats["flushes"] += 1

    def on_invalidate(self, payload: object) -> None:
        """A message on ``__redis__:invalidate``: the keys changed, or nil for all."""
        self.stats["invalidations"] += 1
        if isinstance(payload, list):
            for key in payload:
                if isinstance(key, bytes):
                    self._invalidate(key.decode("utf-8", "surrogateescape"))
        else:
            self._flush()  # nil: Redis flushed everything (FLUSHALL, FLUSHDB)

    def on_pong(self, link: TrackingLink, sent_at: float) -> None:
        """The answer to a ``PING`` sent at ``sent_at``: every invalidation before it is in."""
        if link is self._link and self._live:
            self._lease_until = max(self._lease_until, sent_at + LEASE)

    def on_lost(self, link: TrackingLink) -> None:
        """``link`` closed: off at once, not when the listener task next runs."""
        if link is self._link:
            self._lose()

    def _lapse(self) -> None:
        """The lease ran out: off now, and the listener must start over (new subscription)."""
        link = self._link
        self._lose()
        if link is not None:
            link.close()

    def _lose(self) -> None:
        if self._live:
            log.warning("session near-cache off: invalidations from Redis stopped")
        self._live = False
        self._link = None
        self._flush()

    # -- the listener --------------------------------------------------------------------------

    async def _listen(self) -> None:
        """Connect, subscribe, go live, heartbeat; on any failure go off and start over."""
        backoff, refused = 0.05, False
        while True:
            try:
                await self._session()
                backoff = 0.05
            except asyncio.CancelledError:
                self._live = False  # closed, or the loop is shutting down: no warning
                raise
            except RespError as exc:
                # Redis refused (an ACL without CLIENT or the channel, no tracking): say so
                # once; its message names a command, never the URL or a password.
                level = logging.DEBUG if refused else logging.WARNING
                log.log(level, "session near-cache off: Redis refused the listener: %s", exc)
                refused = True
            except Exception as exc:  # the listener must outlive any failure
                log.debug("session near-cache listener failed: %s", type(exc).__name__)
            finally:
                self._lose()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, _RECONNECT_MAX)

    async def _session(self) -> None:
        async with asyncio.timeout(self._deadline):
            link = await TrackingLink.open(self._client.connection_pool, self)
        try:
            async with asyncio.timeout(self._deadline):
                await link.subscribe(self._key_prefix)
            self._flush()
            self._link, self._live = link, True
            self._lease_until = link.subscribed_at + LEASE
            log.info("session near-cache on")
            while self._link is link and not link.lost.done():
                now = time.monotonic()
                if now - link.oldest_unanswered(now) > LEASE:
                    self._lapse()
                    break
                link.ping(now)
                await asyncio.wait([link.lost], timeout=HEARTBEAT)
        finally:
            link.close()


async def _next_io_round() -> None:
    """Return after the event loop has run the I/O callbacks of sockets ready now.

    The first yield resumes us ahead of the callbacks that the loop's next ``select`` queues
    (they go behind our wake-up); the second resumes us after them.
    """
    await asyncio.sleep(0)
    await asyncio.sleep(0)


def _as_bytes(value: object) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    raise StoreUnavailable("the session store answered with an unexpected type")
