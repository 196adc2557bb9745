"""An in-process store: a dict with expiry times. One process only, lost on restart.

It is bounded: ``max_entries`` (100 000 by default) caps the dict, so a flood of logins that
are never finished cannot exhaust memory. A write of a new key into a full store first sweeps
out expired entries, then, if the store is still full, evicts the entries written longest ago
(dict order; rewriting a key, as every session update does, counts as writing it anew). A
sweep scans every entry, so a full store sweeps at most once per ``max_entries // 10`` writes
and evicts the oldest entries in between: writes stay O(1) on average.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable

__all__ = ["MemoryStore"]

#: Sweep expired entries after at least this many writes. Lazy expiry alone would keep keys
#: that are written once and never read again (abandoned logins) for the life of the process.
_SWEEP_MIN_WRITES = 1000


class MemoryStore:
    """A :class:`~oidc_kit.stores.SessionStore` in a dict, for tests and single-process apps.

    Every method runs without an ``await`` between reading and writing the dict, so on one
    event loop each call is atomic; in particular :meth:`take` has a single winner and of
    racing :meth:`add` calls exactly one stores its value.

    ``max_entries`` bounds the store: see the module docstring for what a full store evicts.
    A ``ttl`` that is not positive stores nothing (``set`` removes the old value, ``add``
    returns ``False``), as on every backend.
    """

    def __init__(
        self, max_entries: int = 100_000, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        # A monotonic clock by default: TTLs must not jump when the wall clock is adjusted.
        self._clock = clock
        self._max_entries = max_entries
        self._data: dict[str, tuple[bytes, float]] = {}
        # Sets: key -> member -> expiry. Bounded like the values: an index only grows with
        # sessions, and its expired members go whenever the set is read or written.
        self._sets: dict[str, dict[str, float]] = {}
        self._writes_since_sweep = 0
        self._next_sweep = _SWEEP_MIN_WRITES

    @property
    def max_entries(self) -> int:
        """The most entries the store holds at once."""
        return self._max_entries

    async def get(self, key: str) -> bytes | None:
        """The value under ``key``, or ``None`` when absent or expired."""
        return self._live(key)

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        """Store ``value`` under ``key`` for ``ttl`` seconds, replacing any old value."""
        self._data.pop(key, None)
        if ttl > 0:
            self._insert(key, value, ttl)

    async def delete(self, key: str) -> None:
        """Remove ``key``; absent keys are fine."""
        self._data.pop(key, None)

    async def take(self, key: str) -> bytes | None:
        """Read and remove ``key`` in one step; an expired value is removed and not returned."""
        entry = self._data.pop(key, None)
        if entry is None or entry[1] <= self._clock():
            return None
        return entry[0]

    async def add(self, key: str, value: bytes, ttl: float) -> bool:
        """Store ``value`` only if ``key`` is absent or expired; whether it was stored."""
        if not ttl > 0 or self._live(key) is not None:
            return False
        self._insert(key, value, ttl)
        return True

    async def replace(self, key: str, value: bytes, ttl: float) -> bool:
        """Store ``value`` only if ``key`` holds a live value (no await: atomic on the loop)."""
        if self._live(key) is None:
            return False
        if not ttl > 0:
            self._data.pop(key, None)
            return True
        self._insert(key, value, ttl)
        return True

    async def delete_if(self, key: str, value: bytes) -> bool:
        """Delete ``key`` only if it holds ``value`` and has not expired; whether it did."""
        if self._live(key) != value:
            return False
        del self._data[key]
        return True

    async def index_add(self, key: str, member: str, ttl: float) -> None:
        """Add ``member`` to the set ``key`` until ``ttl`` seconds from now."""
        members = self._live_members(key)
        if ttl > 0:
            members[member] = self._clock() + ttl
            self._sets[key] = members
            if len(self._sets) > self._max_entries:
                self._sets.pop(next(iter(self._sets)))

    async def index_members(self, key: str) -> list[str]:
        """The live members of the set ``key``."""
        return list(self._live_members(key))

    async def index_discard(self, key: str, member: str) -> None:
        """Remove ``member`` from the set ``key``."""
        self._live_members(key).pop(member, None)

    def _live_members(self, key: str) -> dict[str, float]:
        now = self._clock()
        members = {m: t for m, t in self._sets.get(key, {}).items() if t > now}
        if members:
            self._sets[key] = members
        else:
            self._sets.pop(key, None)
        return members

    async def close(self) -> None:
        """Drop every entry."""
        self._data.clear()
        self._sets.clear()

    def __len__(self) -> int:
        """Entries held, expired ones not yet swept included (for tests and metrics)."""
        return len(self._data)

    def _live(self, key: str) -> bytes | None:
        """The unexpired value under ``key``; an expired one is dropped on the way."""
        entry = self._data.get(key)
        if entry is None:
            return None
        value, expires_at = entry
        if expires_at <= self._clock():
            del self._data[key]
            return None
        return value

    def _insert(self, key: str, value: bytes, ttl: float) -> None:
        """Write a key known to be absent, making room first when the store is full."""
        if len(self._data) >= self._max_entries:
            self._make_room()
        self._data[key] = (bytes(value), self._clock() + ttl)
        self._writes_since_sweep += 1
        if self._writes_since_sweep >= self._next_sweep:
            self._sweep()

    def _make_room(self) -> None:
        # Sweeps are rationed (see the module docstring); in between, the oldest entries go.
        if self._writes_since_sweep >= max(1, self._max_entries // 10):
            self._sweep()
        excess = len(self._data) - self._max_entries + 1
        if excess > 0:
            for key in list(itertools.islice(self._data, excess)):
                del self._data[key]

    def _sweep(self) -> None:
        now = self._clock()
        expired = [k for k, (_, expires_at) in self._data.items() if expires_at <= now]
        for key in expired:
            del self._data[key]
        # The next sweep waits for as many writes as entries remain, so a sweep's O(n) scan
        # costs O(1) per write however large the store grows.
        self._writes_since_sweep = 0
        self._next_sweep = max(_SWEEP_MIN_WRITES, len(self._data))
