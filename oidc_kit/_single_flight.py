"""One call in flight per key, shared by every caller that asks meanwhile.

Discovery, a JWKS refetch and a session's token refresh are each wanted by many requests at
the same moment; one of them runs, the others await its result. The call runs as its own task,
so a caller that goes away (a browser closed, a deadline passed) never cancels it for the rest.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

from ._audit import current_request

__all__ = ["SingleFlight"]

T = TypeVar("T")


class SingleFlight(Generic[T]):
    """Runs at most one call per key at a time; callers meanwhile share its outcome."""

    def __init__(self) -> None:
        self._tasks: dict[Hashable, asyncio.Task[T]] = {}

    async def run(
        self, key: Hashable, call: Callable[[], Awaitable[T]], *, wait: float | None = None
    ) -> T:
        """The outcome of the call running for ``key``, or of ``call()`` started now.

        ``wait`` bounds how long this caller waits (``TimeoutError`` after it); the call goes
        on for the others, and its result is there for whoever asks next.
        """
        task = self._tasks.get(key)
        if task is None or task.done():
            # The call may outlive the request that starts it (the others still wait):
            # read that request's context now, for the events the call emits after it ends.
            current_request()
            task = asyncio.ensure_future(call())
            self._tasks[key] = task
            task.add_done_callback(lambda done: self._forget(key, done))
        if wait is None:
            return await asyncio.shield(task)
        async with asyncio.timeout(wait):
            return await asyncio.shield(task)

    def running(self, key: Hashable) -> bool:
        """Whether a call for ``key`` is in flight."""
        task = self._tasks.get(key)
        return task is not None and not task.done()

    def _forget(self, key: Hashable, task: asyncio.Task[T]) -> None:
        if self._tasks.get(key) is task:
            del self._tasks[key]
        if not task.cancelled():
            # Every caller may have stopped waiting: mark the error as seen, so asyncio does
            # not log it as "never retrieved". The callers that waited raised it already.
            task.exception()
