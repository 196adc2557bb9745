"""A store's near-cache: session records served from process memory while the store's server
provably tells this process about every change to them.

The cache is independent of the server: a *feed* (:data:`Feed`) opens a subscription to the
server's change notices and reports to the cache (:class:`FeedSink`). The Redis feeds
(``_redis_feeds.py``: one server, a Sentinel-watched master, one link per Cluster master) use
``CLIENT TRACKING ... BCAST`` and ``__redis__:invalidate``; the PostgreSQL feed uses
``LISTEN``/``NOTIFY``. Whatever the feed, the rules are the same:

- The cache is *on* only while a subscription is up and its lease is fresh. A heartbeat goes
  down the subscription every :data:`HEARTBEAT` seconds; its answer (which the server sends
  after every change notice it queued before it) extends the lease to the heartbeat's send
  time plus :data:`LEASE`. Every hit checks the lease. A lapsed lease (the server frozen, a
  silent partition) or a lost subscription flushes the cache and bypasses it, every read going
  to the server, until a new subscription is up and the cache has been flushed again. So a
  write acknowledged to anyone is seen here once its notice arrives (milliseconds), and never
  later than :data:`LEASE` after the server processed it.
- A notice is applied in the I/O callback that parses it, not after a hop to a task; a hit
  first lets the event loop read any bytes already waiting on the subscription's socket.
- Fills are single-flight per key and discarded when the key was invalidated, or the cache
  flushed, while the read was in flight. Each entry keeps its key's own expiry, read with the
  value: a server may notify an expiry only when it removes the key, or never.
- Only session keys are cached (the store decides); login transactions, leases and indexes
  always go to the server.
- Taking a session's refresh lease (``lease:<sid>``, ``_refresh.py``) drops that session's
  entry (:func:`leased_session`): the lease holder's re-read goes to the server, so it sees
  the record the previous holder stored even if that write's notice is still on its way (a
  PostgreSQL notice can reach a listener after the writer's acknowledgement; on a Redis
  Cluster the lease and the session may live on different masters). A refresh never starts
  from a stale record, so a rotated refresh token is never sent twice.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

from .._errors import ConfigurationError
from .._tasks import detached_task

__all__ = [
    "HEARTBEAT",
    "LEASE",
    "MAX_ENTRIES",
    "SESSION_KEYS",
    "Feed",
    "FeedRefused",
    "FeedSink",
    "NearCache",
    "Subscription",
    "leased_session",
    "near_cache_enabled",
]

log = logging.getLogger("oidc_kit")

#: Seconds between heartbeats down a subscription.
HEARTBEAT = 0.1
#: Seconds a heartbeat's answer keeps the cache on, counted from when the heartbeat was sent.
LEASE = 0.25
#: Entries kept at most (least recently used dropped first).
MAX_ENTRIES = 10_000
#: The environment variable that turns the near-cache off (``0``, ``false``, ``no``, ``off``).
ENV_SWITCH = "SESSION_STORE_NEAR_CACHE"
#: The keys cached (after the store's own prefix): session records, as ``Sessions.key`` names them.
SESSION_KEYS = "session:"
#: A session's refresh lease, as ``_refresh.py`` names it: ``lease:<sid>``.
LEASE_KEYS = "lease:"

_RECONNECT_MAX = 1.0
#: After a refusal, the listener asks again after 1 s, then doubling up to 30 s.
_REFUSED_FIRST = 1.0
_REFUSED_MAX = 30.0

#: A read of one key from the server: its value, or ``None``.
Read = Callable[[str], Awaitable[bytes | None]]
#: A read of one key for the cache: its value and when it expires (``time.monotonic()``
#: seconds, never later than the server's own expiry; ``math.inf`` for none).
Fill = Callable[[str], Awaitable[tuple[bytes | None, float]]]


class FeedSink(Protocol):
    """What a subscription reports to (the near-cache)."""

    def on_invalidate(self, keys: list[str] | None) -> None:
        """These keys (full server keys) changed; ``None``: everything may have."""

    def on_pong(self, subscription: Subscription, sent_at: float) -> None:
        """The heartbeat sent at ``sent_at`` was answered: every notice before it is in."""

    def on_lost(self, subscription: Subscription) -> None:
        """The subscription ended (closed, reset, failed)."""


class Subscription(Protocol):
    """A live subscription to a server's change notices, opened by a :data:`Feed`."""

    #: Done once the subscription is lost.
    lost: asyncio.Future[None]
    #: ``time.monotonic()`` when notices started to flow (the first lease counts from it).
    subscribed_at: float

    def ping(self, now: float) -> None:
        """Send a heartbeat; its answer comes to :meth:`FeedSink.on_pong` with ``now``."""

    def oldest_unanswered(self, now: float) -> float:
        """When the oldest heartbeat still unanswered was sent (``now`` when none)."""

    def unread(self) -> bool:
        """Whether bytes wait on the subscription's socket that have not been parsed yet."""

    def close(self) -> None:
        """Drop the subscription now (``lost`` completes, :meth:`FeedSink.on_lost` follows)."""


#: Opens a subscription reporting to the sink; notices flow once it returns.
Feed = Callable[[FeedSink], Awaitable[Subscription]]


class FeedRefused(Exception):
    """The server refused the subscription (permissions, a feature turned off): the message
    names the command, never a URL or a password."""


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


def leased_session(key: str) -> str | None:
    """The session key (``session:<sid>``) whose refresh lease ``key`` is, else ``None``."""
    if key.startswith(LEASE_KEYS):
        return SESSION_KEYS + key[len(LEASE_KEYS) :]
    return None


class _Flight:
    """One read in flight for a key, shared by every caller that misses meanwhile."""

    __slots__ = ("task", "valid")

    def __init__(self, task: asyncio.Task[tuple[bytes | None, float]]) -> None:
        self.task = task
        #: Cleared when the key is invalidated or the cache flushed: the result is then
        #: returned to those already waiting, but never cached.
        self.valid = True


class NearCache:
    """Raw session records in process memory, kept coherent by a feed of change notices.

    ``read`` and ``fill`` are the store's own reads (bounded, faults mapped to
    :class:`~oidc_kit.StoreUnavailable`); ``feed`` opens subscriptions; ``deadline`` bounds
    opening one. ``server`` names the server in log lines ("Redis", "PostgreSQL").
    """

    def __init__(self, feed: Feed, read: Read, fill: Fill, deadline: float, server: str) -> None:
        self._feed = feed
        self._read_through = read
        self._fill = fill
        self._deadline = deadline
        self._server = server
        self._entries: OrderedDict[str, tuple[bytes, float]] = OrderedDict()
        self._flights: dict[str, _Flight] = {}
        self._live = False
        self._lease_until = 0.0
        self._link: Subscription | None = None
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        #: Counters for tests and operators: hits, misses (fills), bypasses, invalidations.
        self.stats = {"hits": 0, "misses": 0, "bypasses": 0, "invalidations": 0, "flushes": 0}
        #: Called with each key as its notice is applied (for measuring delays; bench only).
        self.observer: Callable[[str], None] | None = None

    @property
    def live(self) -> bool:
        """Whether a hit may be served now (a subscription is up and its lease fresh)."""
        return self._live and time.monotonic() < self._lease_until

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, key: str, *, caught_up: bool = False) -> bytes | None:
        """The value of ``key`` (a full server key), from memory when the cache is on."""
        if not self._usable():
            self.stats["bypasses"] += 1
            return await self._read_through(key)
        entry = self._entries.get(key)
        if entry is not None and not caught_up and self._link is not None and self._link.unread():
            # Bytes wait on the subscription's socket (maybe a notice for this very key, sent
            # just after the reply that made our caller ask): apply them first.
            await _next_io_round()
            return await self.get(key, caught_up=True)
        if entry is not None:
            if time.monotonic() < entry[1]:
                self._entries.move_to_end(key)
                self.stats["hits"] += 1
                return entry[0]
            del self._entries[key]
        flight = self._flights.get(key)
        if flight is None:
            flight = _Flight(asyncio.ensure_future(self._fill(key)))
            self._flights[key] = flight
            flight.task.add_done_callback(lambda task: self._landed(key, flight))
            self.stats["misses"] += 1
        value, _ = await asyncio.shield(flight.task)
        return value

    def written(self, key: str) -> None:
        """This instance wrote ``key`` (a full server key): drop its entry now, before our
        own write's notice comes back, and keep any read in flight from caching the old
        value."""
        self._invalidate(key)

    async def close(self) -> None:
        """Stop the subscription and empty the cache; a later :meth:`get` starts it again."""
        task, self._task = self._task, None
        self._live = False  # closed on purpose: no warning
        self._lose()
        if task is not None and not task.done():
            task.cancel()
            if task.get_loop() is asyncio.get_running_loop():
                # Python 3.11's asyncio.wait_for (which redis-py's connections use) loses a
                # cancellation that lands as its inner future finishes, and the task then
                # runs on: cancel again until it has ended.
                while not task.done():
                    await asyncio.wait([task], timeout=0.05)
                    task.cancel()

    # -- the hit path's checks and the fill ------------------------------------------------------

    def _usable(self) -> bool:
        loop = asyncio.get_running_loop()
        stranded = self._loop is not None and self._loop is not loop and self._loop.is_closed()
        if self._task is None or self._task.done() or stranded:
            self._lose()  # nothing learnt on a closed loop can be trusted
            self._loop = loop
            # Detached: the request that happens to start it must not lend it its context.
            self._task = detached_task(self._listen(), name="oidc_kit near-cache listener")
        if loop is not self._loop or not self._live:
            return False  # another event loop than the listener's sees no notices
        if time.monotonic() >= self._lease_until:
            self._lapse()
            return False
        return True

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

    # -- notices, lease, loss ------------------------------------------------------------------

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

    def on_invalidate(self, keys: list[str] | None) -> None:
        """These keys changed on the server, or (``None``) everything may have."""
        self.stats["invalidations"] += 1
        if keys is None:
            self._flush()  # e.g. Redis's FLUSHALL, FLUSHDB
            return
        for key in keys:
            self._invalidate(key)
            if self.observer is not None:
                self.observer(key)

    def on_pong(self, subscription: Subscription, sent_at: float) -> None:
        """The answer to a heartbeat sent at ``sent_at``: every notice before it is in."""
        if subscription is self._link and self._live:
            self._lease_until = max(self._lease_until, sent_at + LEASE)

    def on_lost(self, subscription: Subscription) -> None:
        """``subscription`` ended: off at once, not when the listener task next runs."""
        if subscription is self._link:
            self._lose()

    def _lapse(self) -> None:
        """The lease ran out: off now, and the listener must start over (new subscription)."""
        link = self._link
        self._lose()
        if link is not None:
            link.close()

    def _lose(self) -> None:
        if self._live:
            log.warning("session near-cache off: notices from %s stopped", self._server)
        self._live = False
        self._link = None
        self._flush()

    # -- the listener --------------------------------------------------------------------------

    async def _listen(self) -> None:
        """Subscribe, go live, heartbeat; on any failure go off and start over."""
        backoff, refused = 0.05, False
        while True:
            try:
                await self._session()
                backoff, refused = 0.05, False
            except asyncio.CancelledError:
                self._live = False  # closed, or the loop is shutting down: no warning
                raise
            except FeedRefused as exc:
                # Say so once; the message names a command, never the URL or a password.
                level = logging.DEBUG if refused else logging.WARNING
                log.log(
                    level, "session near-cache off: %s refused the listener: %s", self._server, exc
                )
                # A refusal lasts (an ACL, missing triggers): ask again slowly, not every
                # second from every process.
                backoff = max(backoff, _REFUSED_FIRST) if not refused else backoff
                refused = True
            except Exception as exc:  # the listener must outlive any failure
                log.debug("session near-cache listener failed: %s", type(exc).__name__)
            finally:
                self._lose()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, _REFUSED_MAX if refused else _RECONNECT_MAX)

    async def _session(self) -> None:
        async with asyncio.timeout(self._deadline):
            link = await self._feed(self)
        try:
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
    """Return after the event loop has run the I/O callbacks of sockets ready now, and the
    callbacks those scheduled.

    The first yield resumes us ahead of the callbacks that the loop's next ``select`` queues
    (they go behind our wake-up); the second resumes us after them; the third after what they
    passed on with ``call_soon`` (asyncpg's listener callbacks, which the PostgreSQL feed falls
    back on should asyncpg stop handing it notifications as it parses them).
    """
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    await asyncio.sleep(0)
