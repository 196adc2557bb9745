"""The audit binding of a request, and the tasks that outlive it.

A copy of the context taken while a request is served (the server's keep-alive timer, a task
the request started) outlives the request. It must not keep the request's objects alive
(under load that fed the garbage collector: docs/performance.md), and a task meant to
outlive every request (the near-cache's listener, a store's purge) must not carry one's
binding at all.
"""

from __future__ import annotations

import asyncio
import contextvars
import gc
import weakref
from typing import Any

from oidc_kit._audit import (
    RequestContext,
    bind_request,
    current_request,
    request_context,
    unbind_request,
)
from oidc_kit._single_flight import SingleFlight
from oidc_kit._tasks import detached_task
from oidc_kit.stores._near_cache import FeedSink, NearCache


class Scope(dict[str, Any]):
    """A request's scope: anything that can be weakly referenced."""


def read(scope: Scope) -> RequestContext:
    return RequestContext(client_ip=scope["client"], user_agent="probe", request_id=scope["id"])


def test_a_context_copied_during_a_request_does_not_keep_the_request_alive() -> None:
    scope = Scope(client="203.0.113.9", id="r1")
    gone = weakref.ref(scope)
    token = bind_request(read, scope)
    kept = contextvars.copy_context()  # as the server's keep-alive timer takes it
    unbind_request(token)
    del scope
    gc.collect()
    assert gone() is None
    # What the copy sees now: the request has ended, and nothing was read from it.
    assert kept.run(current_request) is None
    assert current_request() is None


def test_an_adapters_reader_is_let_go_of_when_its_request_ends() -> None:
    """``request_context`` (the sync adapters' and the CLI's way in): its reader holds the
    request; a copy of the context taken meanwhile must not keep it."""
    scope = Scope(client="203.0.113.9", id="r6")
    gone = weakref.ref(scope)

    def reader(scope: Scope = scope) -> RequestContext:
        return read(scope)

    with request_context(reader):
        kept = contextvars.copy_context()
    del scope, reader
    gc.collect()
    assert gone() is None
    assert kept.run(current_request) is None


def test_a_context_read_during_the_request_stays_with_its_copies() -> None:
    scope = Scope(client="203.0.113.9", id="r2")
    token = bind_request(read, scope)
    context = current_request()
    kept = contextvars.copy_context()
    unbind_request(token)
    assert context is not None and context.request_id == "r2"
    assert kept.run(current_request) is context


async def test_a_shared_call_that_outlives_its_request_still_says_where_it_came_from() -> None:
    """A refresh goes on after the request that started it has gone (the others still wait);
    the events it emits then carry that request's context."""
    flights: SingleFlight[RequestContext | None] = SingleFlight()
    go = asyncio.Event()

    async def call() -> RequestContext | None:
        await go.wait()
        return current_request()

    async def request() -> None:
        token = bind_request(read, Scope(client="198.51.100.7", id="r3"))
        try:
            await flights.run("sid", call, wait=0.01)
        except TimeoutError:
            pass  # this caller gave up; the call goes on
        finally:
            unbind_request(token)

    await request()
    go.set()
    seen = await flights.run("sid", call)  # the same call, still in flight
    assert seen is not None and seen.client_ip == "198.51.100.7"


async def test_a_detached_task_carries_none_of_the_request_context() -> None:
    probe: contextvars.ContextVar[str] = contextvars.ContextVar("probe", default="none")

    async def look() -> tuple[RequestContext | None, str]:
        return current_request(), probe.get()

    token = bind_request(read, Scope(client="203.0.113.9", id="r4"))
    probe.set("the request's")
    try:
        assert await detached_task(look()) == (None, "none")
        assert (await asyncio.ensure_future(look()))[1] == "the request's"  # the contrast
    finally:
        unbind_request(token)


#: What a web framework or OpenTelemetry keeps in a request's context (the current span...).
REQUEST_VALUE: contextvars.ContextVar[str] = contextvars.ContextVar("request_value", default="")


async def test_the_near_cache_listener_starts_detached_from_the_request_that_starts_it() -> None:
    seen: list[str] = []
    called = asyncio.Event()

    async def feed(sink: FeedSink) -> Any:
        seen.append(REQUEST_VALUE.get() or "nothing")
        called.set()
        raise ConnectionError("no server here")

    async def read_key(key: str) -> bytes | None:
        return None

    async def fill(key: str) -> tuple[bytes | None, float]:
        raise AssertionError("the cache is never live here")

    cache = NearCache(feed, read_key, fill, deadline=30, server="test")
    marked = REQUEST_VALUE.set("the first request's span")
    try:
        assert await cache.get("p:session:x") is None  # a bypass; starts the listener
    finally:
        REQUEST_VALUE.reset(marked)
    async with asyncio.timeout(2):
        await called.wait()
    await cache.close()
    assert seen == ["nothing"]
