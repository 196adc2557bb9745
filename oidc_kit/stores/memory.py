"""An in-process store: a dict with expiry times. One process only, lost on restart."""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["MemoryStore"]

#: Sweep expired entries after at least this many writes. Lazy expiry alone would keep keys
#: that are written once and never read again (abandoned logins) for the life of the process.
_SWEEP_MIN_WRITES = 1000


class MemoryStore:
    """A :class:`~oidc_kit.stores.SessionStore` in a dict, for tests and single-process apps.

    Every method runs without an ``await`` between reading and writing the dict, so on one
    event loop each call is atomic; in particular :meth:`take` has a single winner.
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        # A monotonic clock by default: TTLs must not jump when the wall clock is adjusted.
        self._clock = clock
        self._data: dict[str, tuple[bytes, float]] = {}
        self._writes_since_sweep = 0
        self._next_sweep = _SWEEP_MIN_WRITES

    async def get(self, key: str) -> bytes | None:
        """The value under ``key``, or ``None`` when absent or expired."""
        entry = self._data.get(key)
        if entry is None:
            return None
        value, expires_at = entry
        if expires_at <= self._clock():
            del self._data[key]
            return None
        return value

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        """Store ``value`` under ``key`` for ``ttl`` seconds, replacing any old value."""
        self._data[key] = (bytes(value), self._clock() + ttl)
        self._writes_since_sweep += 1
        if self._writes_since_sweep >= self._next_sweep:
            self._sweep()

    async def delete(self, key: str) -> None:
        """Remove ``key``; absent keys are fine."""
        self._data.pop(key, None)

    async def take(self, key: str) -> bytes | None:
        """Read and remove ``key`` in one step; an expired value is removed and not returned."""
        entry = self._data.pop(key, None)
        if entry is None or entry[1] <= self._clock():
            return None
        return entry[0]

    async def close(self) -> None:
        """Drop every entry."""
        self._data.clear()

    def __len__(self) -> int:
        """Entries held, expired ones not yet swept included (for tests and metrics)."""
        return len(self._data)

    def _sweep(self) -> None:
        now = self._clock()
        expired = [k for k, (_, expires_at) in self._data.items() if expires_at <= now]
        for key in expired:
            del self._data[key]
        # The next sweep waits for as many writes as entries remain, so a sweep's O(n) scan
        # costs O(1) per write however large the store grows.
        self._writes_since_sweep = 0
        self._next_sweep = max(_SWEEP_MIN_WRITES, len(self._data))
