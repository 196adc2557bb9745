"""The Redis near-cache feeds: one server, a Sentinel-watched master, a Cluster's primaries.

Each feed opens :class:`~oidc_kit.stores._tracking.TrackingLink` connections (``CLIENT
TRACKING ... BCAST`` + ``SUBSCRIBE __redis__:invalidate``). One server needs one link. For
Sentinel and Cluster the link must also be on the *right* node, and that is what this module
adds. What was measured on Redis 7.0 (the fixtures of tests/redis_server.py):

- After ``SENTINEL FAILOVER`` the old master stays a master for about ten seconds (until a
  sentinel's next ``INFO`` of it), keeps our link and answers its ``PING`` while writes go to
  the new master and reach it not at all; only then is it made a replica, with its Pub/Sub
  clients killed. A link's own heartbeat cannot tell.
- After ``CLUSTER FAILOVER`` the old primary turns replica at once and keeps our link; as a
  replica it still sends BCAST invalidations, for the writes replicated from its new master
  (so late by the replication lag), and a full resync sends the nil "everything" notice.

So every subscription here is a :class:`Watched` one: its links, plus a *confirmation* that
they are on the nodes that serve writes, asked once per heartbeat (never two at a time), and
the lease renews from the OLDER of the latest answered ``PING`` (the oldest over the links)
and the latest confirmation (each counted from when it was sent). A confirmation that names
another node closes the subscription: the cache goes off, is flushed, and the listener
subscribes anew where the writes now go.

- Sentinel: the link listens where the client's pool sends its commands (the master
  redis-py last resolved, ``SentinelConnectionPool.master_address``), and the confirmation,
  asked without a round trip, is that the pool still sends them there. When the pool moves
  (redis-py re-asks the sentinels when a connection is opened or a former master answers
  ``READONLY``), the subscription closes and the listener subscribes on the pool's new master.
  So the cache always reads what this process's own pool would read, never less current: it
  adds no window of its own to a failover. The pool's own window stays what it was without a
  cache (docs/deployment.md: after ``SENTINEL FAILOVER`` a pool may keep writing to the old
  master until the sentinels demote it, seconds later; ``min-replicas-to-write`` bounds that
  on the server). The link does not ask the sentinels itself: moving to the master they name
  while the pool stays would make a cached read disagree with the pool's writes.
- Cluster: one link per primary of the client's view (BCAST tracking is per node). A change in
  that view (a failover, a new primary, slots moved to a node we do not listen to), seen
  without a round trip at every heartbeat, closes the subscription; the confirmation asks
  each primary ``ROLE`` (still a master) and ``CLUSTER INFO`` (``cluster_state:ok``). A
  demoted primary says ``slave`` at once; one cut off from most of the cluster goes
  ``cluster_state:fail`` after the node timeout, before its replica can be elected (node
  timeout plus at least half a second). So a write acknowledged by a new primary is served
  stale at most :data:`~oidc_kit.stores._near_cache.LEASE` after the old one learnt it was
  replaced or lost the cluster. Each new subscription first refreshes the client's view
  (``CLUSTER SLOTS``).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis, RedisCluster
from redis.asyncio.cluster import ClusterNode
from redis.asyncio.connection import (
    Connection,
    ConnectionPool,
    SSLConnection,
    UnixDomainSocketConnection,
)
from redis.asyncio.sentinel import (
    SentinelConnectionPool,
    SentinelManagedConnection,
    SentinelManagedSSLConnection,
)

from ._near_cache import Feed, FeedSink
from ._tracking import TrackingLink

__all__ = ["Watched", "redis_feed"]

log = logging.getLogger("oidc_kit")

#: Connection classes a link can copy its settings from.
_PLAIN = (Connection, SSLConnection, UnixDomainSocketConnection)
_SENTINEL = (SentinelManagedConnection, SentinelManagedSSLConnection)

#: Whether the links are still where the writes go: ``False`` when they are not (close now);
#: an exception when that could not be told (no renewal).
Confirm = Callable[[], Awaitable[bool]]
#: A link opened on behalf of a :class:`Watched` subscription (its sink).
Opener = Callable[[FeedSink], Awaitable[TrackingLink]]


def redis_feed(client: object, key_prefix: str) -> Feed | None:
    """The near-cache feed for keys starting with ``key_prefix`` on ``client``'s server(s);
    ``None`` when this module cannot open connections of its own like the client's (credential
    providers, connection classes of other libraries)."""
    if isinstance(client, RedisCluster):
        kwargs = client.nodes_manager.connection_kwargs
        if kwargs.get("connection_class", Connection) in _PLAIN[:2] and _plain_auth(kwargs):
            return _cluster_feed(client, key_prefix)
        return None
    if not isinstance(client, Redis):
        return None
    pool = client.connection_pool
    if not _plain_auth(pool.connection_kwargs):
        return None
    if isinstance(pool, SentinelConnectionPool):
        if pool.is_master and pool.connection_class in _SENTINEL:
            return _sentinel_feed(pool, key_prefix)
        return None
    if type(pool) is ConnectionPool and pool.connection_class in _PLAIN:
        return _single_feed(pool, key_prefix)
    return None


def _plain_auth(kwargs: dict[str, Any]) -> bool:
    return not kwargs.get("credential_provider")


def _single_feed(pool: ConnectionPool, key_prefix: str) -> Feed:
    async def open_link(sink: FeedSink) -> TrackingLink:
        return await TrackingLink.open(pool, sink, key_prefix)

    return open_link


def _sentinel_feed(pool: SentinelConnectionPool, key_prefix: str) -> Feed:
    async def open_watched(sink: FeedSink) -> Watched:
        # Where the pool sends commands now; resolved (as the pool's first command would) only
        # when the pool has not connected yet.
        current = pool.master_address
        if current is None:
            resolve: Callable[[], Awaitable[Any]] = pool.get_master_address  # untyped in redis-py
            current = await resolve()
        address = _address(current)

        async def opener(watched: FeedSink) -> TrackingLink:
            return await TrackingLink.open(pool, watched, key_prefix, address)

        async def confirm() -> bool:
            master = pool.master_address
            return master is not None and _address(master) == address

        return await Watched.open(sink, [opener], confirm)

    return open_watched


def _address(reply: Any) -> tuple[str, int]:
    host, port = reply
    return (host.decode() if isinstance(host, bytes) else str(host)), int(port)


def _cluster_feed(client: RedisCluster, key_prefix: str) -> Feed:
    async def open_watched(sink: FeedSink) -> Watched:
        await client.initialize()  # the first use builds the client's view
        await client.nodes_manager.initialize()  # and every subscription starts from a fresh one
        primaries = client.get_primaries()
        view = _view(client)

        def opener(node: ClusterNode) -> Opener:
            return lambda watched: TrackingLink.open(node, watched, key_prefix)

        async def confirm() -> bool:
            answers = await asyncio.gather(*(_still_primary(node) for node in primaries))
            return all(answers)

        return await Watched.open(
            sink, [opener(node) for node in primaries], confirm, moved=lambda: _view(client) != view
        )

    return open_watched


def _view(client: RedisCluster) -> frozenset[str]:
    """The primaries the client sends commands to (``host:port``), known without a round trip."""
    return frozenset(node.name for node in client.get_primaries())


async def _still_primary(node: ClusterNode) -> bool:
    """``ROLE`` says master and ``CLUSTER INFO`` says the node sees a working cluster."""
    role, info = await asyncio.gather(
        node.execute_command("ROLE"), node.execute_command("CLUSTER INFO")
    )
    master = isinstance(role, (list, tuple)) and role[0] in (b"master", "master")
    if isinstance(info, dict):
        return master and info.get("cluster_state") == "ok"
    text = info.decode() if isinstance(info, bytes) else str(info)
    return master and "cluster_state:ok" in text


class Watched:
    """Links and a confirmation of where they are, as one near-cache subscription.

    It is the :class:`~oidc_kit.stores._near_cache.Subscription` the cache sees, and the
    :class:`~oidc_kit.stores._near_cache.FeedSink` its links report to: notices pass through;
    a ``PONG`` or a confirmation renews the cache's lease from the oldest of the links' latest
    answered ``PING`` and the latest confirmation; losing any link loses them all.
    """

    def __init__(self, sink: FeedSink, confirm: Confirm, moved: Callable[[], bool]) -> None:
        self._sink = sink
        self._confirm = confirm
        self._moved = moved
        self._links: list[TrackingLink] = []
        #: Per link, when its latest answered ``PING`` was sent.
        self._answered: dict[TrackingLink, float] = {}
        #: When the latest confirmation that held was sent.
        self._confirmed = -math.inf
        #: When the confirmation in flight was sent (``None``: none is).
        self._checking: float | None = None
        self._checks: set[asyncio.Task[None]] = set()
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.subscribed_at = 0.0

    @classmethod
    async def open(
        cls,
        sink: FeedSink,
        openers: list[Opener],
        confirm: Confirm,
        moved: Callable[[], bool] = lambda: False,
    ) -> Watched:
        """Open every link, then confirm once; any failure closes whatever was opened."""
        watched = cls(sink, confirm, moved)

        async def open_one(opener: Opener) -> None:
            link = await opener(watched)
            watched._links.append(link)
            if watched.lost.done():  # another link failed meanwhile: this one goes too
                link.close()

        opening = [asyncio.ensure_future(open_one(opener)) for opener in openers]
        try:
            try:
                await asyncio.gather(*opening)
            except BaseException:
                # A failure (or our own cancellation) cancels the other opens, each closing
                # what it had opened: no link outlives a subscription that never started.
                for task in opening:
                    task.cancel()
                await asyncio.gather(*opening, return_exceptions=True)
                raise
            watched.subscribed_at = min(link.subscribed_at for link in watched._links)
            started = time.monotonic()
            if not await confirm() or moved() or watched.lost.done():
                raise ConnectionError("the near-cache links are not where the writes go")
            watched._confirmed = started
        except BaseException:
            watched.close()
            raise
        return watched

    # Subscription, for the near-cache

    def ping(self, now: float) -> None:
        """``PING`` every link, and confirm where they are unless a confirmation is in flight;
        a changed view closes the subscription instead."""
        if self._moved():
            log.info("session near-cache: the Redis topology changed")
            self.close()
            return
        for link in self._links:
            link.ping(now)
        if self._checking is None:
            self._checking = now
            task = asyncio.ensure_future(self._check(now))
            self._checks.add(task)
            task.add_done_callback(self._checks.discard)

    def oldest_unanswered(self, now: float) -> float:
        oldest = min(link.oldest_unanswered(now) for link in self._links)
        return oldest if self._checking is None else min(oldest, self._checking)

    def unread(self) -> bool:
        return any(link.unread() for link in self._links)

    def close(self) -> None:
        for link in self._links:
            link.close()
        if not self.lost.done():
            self.lost.set_result(None)
            self._sink.on_lost(self)

    # FeedSink, for the links

    def on_invalidate(self, keys: list[str] | None) -> None:
        self._sink.on_invalidate(keys)

    def on_pong(self, subscription: Any, sent_at: float) -> None:
        self._answered[subscription] = sent_at
        self._renew()

    def on_lost(self, subscription: Any) -> None:
        self.close()

    # confirmation and lease

    async def _check(self, sent_at: float) -> None:
        # Never cancelled: a command cut short could leave a reply on a pooled connection.
        try:
            confirmed = await self._confirm()
        except Exception as exc:  # unknown: no renewal, the lease runs out
            log.debug("session near-cache: no confirmation: %s", type(exc).__name__)
            return
        finally:
            self._checking = None
        if self.lost.done():
            return
        if not confirmed:
            log.info("session near-cache: Redis names another master")
            self.close()
            return
        self._confirmed = max(self._confirmed, sent_at)
        self._renew()

    def _renew(self) -> None:
        pongs = [self._answered.get(link, link.subscribed_at) for link in self._links]
        if pongs and not self.lost.done():
            self._sink.on_pong(self, min(*pongs, self._confirmed))
