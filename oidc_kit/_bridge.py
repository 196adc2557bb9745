"""The sync bridge: one event loop per process, on a thread of its own, for the async core.

Flask and Django under WSGI serve each request on a thread with no event loop, and Django under
ASGI runs its async views on a loop that is not the kit's. All of them reach the one async core
through :class:`CoreLoop`: it runs one asyncio loop on a daemon thread (anyio's
:class:`~anyio.from_thread.BlockingPortal`), builds the objects that belong to a loop on it (a
``RelyingParty`` and its store and ``httpx.AsyncClient``), and runs each call there:
:meth:`CoreLoop.call` from a thread, ``await`` :meth:`CoreLoop.acall` from another loop.

Why one long-lived loop, not a loop per call (``asyncio.run`` per request, or asgiref's
``async_to_sync``, which makes a loop per call where none runs): what the core shares between
requests is bound to the loop it was first used on. The HTTP client's connection pool and the
store's connections (redis-py asyncio, asyncpg) are sockets registered with one loop; the Redis
and PostgreSQL near-caches are fed by a listener task on that loop and serve hits only there;
discovery, the JWKS and a session's refresh run through ``_single_flight.SingleFlight``, whose
callers share an ``asyncio.Task``. A loop per call would open new connections every request,
never hit the near-cache, and refresh a session once per racing request instead of once. With
one loop, every thread of the process shares them, as the tasks of an ASGI app do.

What it costs: a call crosses to the loop's thread and back, about 30 µs (docs/performance.md,
"The sync bridge"), a floor set by the OS and the GIL: cross once per request. The provider and
store calls it carries take milliseconds. The contextvars of the caller (the request bound by
``_audit.request_context``, OpenTelemetry's current span) go with the call: asyncio copies them
when a call is scheduled on the loop from another thread.

Processes: the loop and everything :meth:`CoreLoop.get` built belong to the process that
started them. A child made by ``fork`` (gunicorn ``--preload``, multiprocessing) starts a loop
of its own and builds its own objects on first use; it never uses or closes the parent's, and
keeps them referenced (their sockets and epoll registrations are shared with the parent, and
closing them from the child would break the parent's). So build nothing bound to a loop
outside the factory, and with gunicorn ``--preload`` do not call the bridge before forking.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import threading
import weakref
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import Future
from dataclasses import dataclass
from functools import partial
from typing import Any, Generic, ParamSpec, TypeVar, overload

import anyio
import anyio.to_thread
from anyio.from_thread import BlockingPortal

__all__ = ["CoreLoop", "CoreLoopClosed"]

T = TypeVar("T")
R = TypeVar("R")
P = ParamSpec("P")

#: What a forked child inherited from its parent's started loop: kept referenced, never closed
#: (its transports' finalizers would unregister the parent's sockets from the shared epoll).
_INHERITED: list[object] = []


class CoreLoopClosed(RuntimeError):
    """The bridge was closed (:meth:`CoreLoop.close`): no more calls in this process."""


@dataclass(frozen=True)
class _Running(Generic[T]):
    """A started loop: the process that started it, its portal and thread, what it built."""

    pid: int
    portal: BlockingPortal
    #: The portal's asyncio loop, which :meth:`CoreLoop.call` hands its calls to directly.
    loop: asyncio.AbstractEventLoop
    thread: threading.Thread
    value: T


class CoreLoop(Generic[T]):
    """One event loop per process, on a daemon thread, for calling the async core from sync
    code (:meth:`call`) and from other event loops (:meth:`acall`).

    ``build`` makes, on the loop, what needs it (for an adapter: its ``RelyingParty`` with
    the store and HTTP client); it runs once per process, when the loop starts on first use,
    and again in a forked child. ``cleanup`` closes it (the store, the HTTP client) in
    :meth:`close`, which the adapter registers with ``atexit``. A typical adapter::

        core = CoreLoop(build_relying_party, cleanup=close_relying_party)
        atexit.register(core.close)
        ...
        session, current = core.call(core.get().load_session, cookie)   # a WSGI view
        session, current = await core.acall(core.get().load_session, cookie)  # an ASGI one

    Call :meth:`get` per request rather than keeping what it returns: after a fork it is the
    child's own object. Thread-safe: threads racing the first call start one loop.
    """

    def __init__(
        self,
        build: Callable[[], Awaitable[T]],
        *,
        cleanup: Callable[[T], Awaitable[None]] | None = None,
        name: str = "oidc-kit-core",
    ) -> None:
        self._build = build
        self._cleanup = cleanup
        self._name = name
        self._lock = threading.Lock()
        self._running: _Running[T] | None = None
        self._closed = False
        os.register_at_fork(after_in_child=partial(_after_fork, weakref.ref(self)))

    @property
    def running(self) -> bool:
        """Whether this process's loop is started (and not closed)."""
        running = self._running
        return running is not None and running.pid == os.getpid()

    def get(self) -> T:
        """What ``build`` made on this process's loop (starting it first if needed)."""
        return self._ensure().value

    @overload
    def call(self, fn: Callable[P, Awaitable[R]], /, *args: P.args, **kwargs: P.kwargs) -> R: ...

    @overload
    def call(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R: ...

    def call(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)`` run on the core loop (awaited when it returns an
        awaitable), from a thread that is not the loop's: its result, or its exception as
        raised. Blocks the calling thread until then; from an async caller use :meth:`acall`.
        """
        running = self._ensure()
        self._refuse_loop_thread(running, "call() would wait on itself: await it directly")
        # One hand-off to the loop and one back: BlockingPortal.call makes two (it waits for
        # the task to be spawned, then for its result), about twice as slow here
        # (bench/bridge.py, docs/performance.md). The caller's contextvars go with it: the
        # loop's call_soon_threadsafe copies them. A coroutine function's call only makes the
        # coroutine; its code runs on the loop.
        coro = fn(*args, **kwargs) if inspect.iscoroutinefunction(fn) else _invoke(fn, args, kwargs)
        return asyncio.run_coroutine_threadsafe(coro, running.loop).result()

    @overload
    async def acall(
        self, fn: Callable[P, Awaitable[R]], /, *args: P.args, **kwargs: P.kwargs
    ) -> R: ...

    @overload
    async def acall(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R: ...

    async def acall(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)`` run on the core loop, awaited from another event loop
        (Django's async views) without blocking it. Cancelling the caller cancels the call on
        the core loop, and waits for it to unwind (``BlockingPortal.call_async``, anyio 4.16).
        """
        running = self._running
        if running is None or running.pid != os.getpid():
            if self._closed:
                raise CoreLoopClosed("the oidc_kit core loop is closed")
            # Starting the loop (and building on it) waits: not on the caller's loop.
            running = await anyio.to_thread.run_sync(self._ensure)
        self._refuse_loop_thread(running, "acall() from the core loop: await it directly")
        if kwargs:
            return await running.portal.call_async(partial(fn, *args, **kwargs))
        return await running.portal.call_async(fn, *args)

    def close(self) -> None:
        """Run ``cleanup`` on the loop, then stop it; idempotent. Later calls raise
        :class:`CoreLoopClosed` (a closed bridge does not restart: at interpreter exit a
        late call must not open the store again). Calls still in flight on the loop when it
        stops are cancelled. In a forked child that never used the bridge, there is nothing of
        its own to close."""
        running = self._running
        if running is not None and running.pid == os.getpid():
            self._refuse_loop_thread(running, "close() from the core loop would wait on itself")
        with self._lock:
            running, self._running = self._running, None
            self._closed = True
        if running is None or running.pid != os.getpid():
            return
        try:
            if self._cleanup is not None:
                running.portal.call(self._cleanup, running.value)
        finally:
            running.portal.call(running.portal.stop)
            running.thread.join()

    def _ensure(self) -> _Running[T]:
        running = self._running
        if running is not None and running.pid == os.getpid():
            return running  # the hot path: no lock
        with self._lock:
            if self._closed:
                raise CoreLoopClosed("the oidc_kit core loop is closed")
            running = self._running
            if running is None or running.pid != os.getpid():
                if running is not None:
                    _INHERITED.append(running)  # a fork's parent's: see the module's docstring
                running = self._running = self._start()
            return running

    def _start(self) -> _Running[T]:
        """A new loop on a daemon thread, with ``build`` run on it."""
        # Not anyio's start_blocking_portal: its context manager, dropped in a forked child,
        # would block forever when collected, asking the parent's (absent) thread to stop.
        ready: Future[BlockingPortal] = Future()
        thread = threading.Thread(target=_serve, args=(ready,), name=self._name, daemon=True)
        thread.start()
        portal = ready.result()
        try:
            loop, value = portal.call(self._built)
        except BaseException:
            portal.call(portal.stop)
            thread.join()
            raise
        return _Running(os.getpid(), portal, loop, thread, value)

    async def _built(self) -> tuple[asyncio.AbstractEventLoop, T]:
        return asyncio.get_running_loop(), await self._build()

    @staticmethod
    def _refuse_loop_thread(running: _Running[Any], why: str) -> None:
        if threading.current_thread() is running.thread:
            raise RuntimeError(f"CoreLoop: {why}")


def _invoke(
    fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Coroutine[Any, Any, Any]:
    """A coroutine running a plain callable on the loop (awaiting what it returns, if it is
    awaitable)."""

    async def invoke() -> Any:
        result = fn(*args, **kwargs)
        return (await result) if inspect.isawaitable(result) else result

    return invoke()


def _serve(ready: Future[BlockingPortal]) -> None:
    """The loop thread's body: a portal, until it is stopped."""

    async def serve() -> None:
        async with BlockingPortal() as portal:
            ready.set_result(portal)
            await portal.sleep_until_stopped()

    try:
        anyio.run(serve)
    except BaseException as exc:
        if not ready.done():
            ready.set_exception(exc)
        raise


def _after_fork(ref: weakref.ReferenceType[CoreLoop[Any]]) -> None:
    """In a forked child: a lock another thread of the parent held would stay held."""
    core = ref()
    if core is not None:
        core._lock = threading.Lock()
