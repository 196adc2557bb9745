"""``_redis_feeds.Watched`` and ``NearCache`` alone, with stand-ins: how they open and close.

The real links, on a real Sentinel set-up and Cluster, are in test_near_cache_topologies.py;
here only the bookkeeping that a real cluster makes slow to provoke (a primary that refuses
the connection while the others are still opening).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from oidc_kit.stores._near_cache import FeedSink, NearCache
from oidc_kit.stores._redis_feeds import Watched


class StandIn:
    """What ``Watched`` uses of a ``TrackingLink``."""

    def __init__(self) -> None:
        self.closed = False
        self.subscribed_at = 0.0

    def close(self) -> None:
        self.closed = True


class Sink:
    def on_invalidate(self, keys: list[str] | None) -> None: ...

    def on_pong(self, subscription: object, sent_at: float) -> None: ...

    def on_lost(self, subscription: object) -> None: ...


async def test_a_failed_link_closes_the_links_that_open_after_it() -> None:
    opened: list[StandIn] = []

    async def slow(sink: FeedSink) -> StandIn:
        await asyncio.sleep(0.05)  # still connecting when the other one fails
        link = StandIn()
        opened.append(link)
        return link

    async def refused(sink: FeedSink) -> StandIn:
        raise ConnectionRefusedError("a primary is down")

    async def confirm() -> bool:
        return True

    with pytest.raises(ConnectionRefusedError):  # the first failure, not a group of them
        await Watched.open(Sink(), [slow, refused, slow], confirm)  # type: ignore[list-item]
    await asyncio.sleep(0.1)
    assert all(link.closed for link in opened)  # none left subscribed, receiving invalidations


async def test_a_link_that_opened_before_the_failure_is_closed_too() -> None:
    first = StandIn()

    async def quick(sink: FeedSink) -> StandIn:
        return first

    async def refused(sink: FeedSink) -> StandIn:
        await asyncio.sleep(0.01)
        raise ConnectionRefusedError("a primary is down")

    async def confirm() -> bool:
        return True

    with pytest.raises(ConnectionRefusedError):
        await Watched.open(Sink(), [quick, refused], confirm)  # type: ignore[list-item]
    assert first.closed


async def test_close_ends_a_listener_that_swallowed_a_cancellation() -> None:
    # Python 3.11's asyncio.wait_for (inside redis-py's connections) can lose a cancellation
    # that lands as its inner future finishes; the listener then runs on. close() must still
    # end it (it hung the contract suite's Cluster teardown before).
    swallowed: list[bool] = []

    async def feed(sink: FeedSink) -> Any:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            swallowed.append(True)  # lost, as wait_for may lose it
        await asyncio.sleep(10)
        raise AssertionError("never reached")

    async def read(key: str) -> bytes | None:
        return None

    async def fill(key: str) -> tuple[bytes | None, float]:
        raise AssertionError("the cache is never live here")

    cache = NearCache(feed, read, fill, deadline=30, server="test")
    assert await cache.get("p:session:x") is None  # a bypass; starts the listener
    await asyncio.sleep(0.01)
    async with asyncio.timeout(2):
        await cache.close()
    assert swallowed
