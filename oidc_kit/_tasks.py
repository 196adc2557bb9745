"""Tasks that outlive the request that happens to start them.

``asyncio`` starts a task in a copy of the current context. A task started while a request is
served (the near-cache's listener, a store's purge) would then carry that request's audit
binding and trace span for as long as it runs: its events would name a request long gone,
its spans would join that request's trace, and it would keep the request's objects alive.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["detached_task"]

T = TypeVar("T")


def detached_task(coro: Coroutine[Any, Any, T], *, name: str | None = None) -> asyncio.Task[T]:
    """``coro`` as a task on the running loop, in an empty context (none of the caller's
    context variables: no request binding, no current span)."""
    loop = asyncio.get_running_loop()
    return loop.create_task(coro, name=name, context=contextvars.Context())
