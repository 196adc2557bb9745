"""A session store whose every call is timed, and counted when it raises (OpenTelemetry).

The relying party wraps the store it is given (:func:`instrument_store`) once OpenTelemetry's
API is installed, so every backend, the app's own too, gets ``oidc_kit.store.duration`` and
``oidc_kit.store.errors`` (labelled with the store's kind and the method) without a line of
telemetry in it. Without the API the store is used as it is: the hot path (a session read per
request) pays nothing. Keys and values are never recorded.

With the API but no SDK (FastAPI installs the API), nothing would see the figures, so nothing
is timed, and reads (one per request) are the wrapped store's own ``get``, no call of ours
around them. An SDK configured later is found by the next timed call that looks (at most once
a second: :func:`~._telemetry.metrics_recording`); reads are timed from the first store write
after it (a login, a refresh, a logout, or a session's touch: each live session writes at
least once a minute while it is used).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from ._telemetry import enabled, metrics_recording
from ._telemetry_calls import record_store
from .stores import SessionStore

__all__ = ["InstrumentedStore", "instrument_store", "store_kind"]

_T = TypeVar("_T")


def store_kind(store: object) -> str:
    """The store's kind as telemetry names it: ``MemoryStore`` is ``memory``,
    ``SQLiteStore`` ``sqlite``, ``RedisStore`` ``redis``, an app's ``AcmeStore`` ``acme``."""
    name = type(store).__name__
    return (name.removesuffix("Store") or name).lower()


def instrument_store(store: SessionStore) -> SessionStore:
    """``store``, timed by :class:`InstrumentedStore` when OpenTelemetry is installed."""
    if isinstance(store, InstrumentedStore) or not enabled():
        return store
    return InstrumentedStore(store)


class InstrumentedStore:
    """A :class:`~oidc_kit.stores.SessionStore` that times every call of the store it wraps;
    anything else of that store (an attribute a test or a backend has) passes through."""

    def __init__(self, inner: SessionStore) -> None:
        self.inner = inner
        self.kind = store_kind(inner)
        if not metrics_recording():
            # Nothing records: every request's read goes to the wrapped store's own ``get``,
            # until a timed call finds an SDK (:meth:`_timed`).
            self.get = inner.get  # type: ignore[method-assign]

    async def _timed(self, operation: str, call: Awaitable[_T]) -> _T:
        if not metrics_recording():  # the API alone: nothing would see the figures
            return await call
        self.__dict__.pop("get", None)  # an SDK records now: reads are timed too
        started = time.perf_counter()
        try:
            result = await call
        except Exception as exc:
            record_store(self.kind, operation, time.perf_counter() - started, exc)
            raise
        record_store(self.kind, operation, time.perf_counter() - started)
        return result

    def get(self, key: str) -> Coroutine[Any, Any, bytes | None]:
        # Only once an SDK records (before, the instance's ``get`` is the wrapped store's).
        return self._timed("get", self.inner.get(key))

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        await self._timed("set", self.inner.set(key, value, ttl))

    async def delete(self, key: str) -> None:
        await self._timed("delete", self.inner.delete(key))

    async def take(self, key: str) -> bytes | None:
        return await self._timed("take", self.inner.take(key))

    async def add(self, key: str, value: bytes, ttl: float) -> bool:
        return await self._timed("add", self.inner.add(key, value, ttl))

    async def replace(self, key: str, value: bytes, ttl: float) -> bool:
        return await self._timed("replace", self.inner.replace(key, value, ttl))

    async def delete_if(self, key: str, value: bytes) -> bool:
        return await self._timed("delete_if", self.inner.delete_if(key, value))

    async def index_add(self, key: str, member: str, ttl: float) -> None:
        await self._timed("index_add", self.inner.index_add(key, member, ttl))

    async def index_members(self, key: str) -> list[str]:
        return await self._timed("index_members", self.inner.index_members(key))

    async def index_discard(self, key: str, member: str) -> None:
        await self._timed("index_discard", self.inner.index_discard(key, member))

    @property
    def ping(self) -> Callable[[], Coroutine[Any, Any, None]]:
        """The wrapped store's ``ping``, timed; ``AttributeError`` when it has none, so that
        ``getattr(store, "ping", None)`` finds what it would on the wrapped store (health
        checks probe a store written before ``ping`` with a ``get``)."""
        ping = self.inner.ping  # AttributeError: it has none

        async def timed() -> None:
            await self._timed("ping", ping())

        return timed

    async def close(self) -> None:
        await self._timed("close", self.inner.close())

    def __getattr__(self, name: str) -> Any:
        # Only for names this class lacks: a backend's own attributes, a test store's records.
        return getattr(self.inner, name)
