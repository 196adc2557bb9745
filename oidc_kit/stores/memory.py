"""An in-process store: dicts with expiry times. One process only, lost on restart.

It is bounded twice over, so that a flood of logins that are never finished can neither exhaust
memory nor push out the sessions of users who are logged in:

- pending logins (keys starting ``login:``, written by anyone who opens ``/auth/login``) live
  in a table of their own, capped at ``max_pending_logins``; a full table drops the oldest
  pending logins, never anything else;
- everything else (sessions, leases, indexes) is capped at ``max_entries``.

Expired entries go in sweeps, which scan every entry and so are rationed: both tables are swept
after ``max(1000, entries)`` writes to the store (so abandoned logins go even when only sessions
are written afterwards), and a full table is swept at most once per tenth of its capacity in
writes to it. A write of a new key into a full table then evicts the entries written longest
ago (dict order; rewriting a key, as every session update does, counts as writing it anew).
Writes stay O(1) on average.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable

from ._base import LOGIN_KEY_PREFIX

__all__ = ["MemoryStore"]

#: Sweep expired entries after at least this many writes. Lazy expiry alone would keep keys
#: that are written once and never read again (abandoned logins) for the life of the process.
_SWEEP_MIN_WRITES = 1000


class _Table:
    """Values with expiry times, at most ``capacity`` of them."""

    def __init__(self, capacity: int, clock: Callable[[], float]) -> None:
        self.capacity = capacity
        self.data: dict[str, tuple[bytes, float]] = {}
        self._clock = clock
        self._writes_since_sweep = 0

    def live(self, key: str) -> bytes | None:
        """The unexpired value under ``key``; an expired one is dropped on the way."""
        entry = self.data.get(key)
        if entry is None:
            return None
        value, expires_at = entry
        if expires_at <= self._clock():
            del self.data[key]
            return None
        return value

    def insert(self, key: str, value: bytes, ttl: float) -> None:
        """Write a key known to be absent, making room first when the table is full."""
        if len(self.data) >= self.capacity:
            self._make_room()
        self.data[key] = (bytes(value), self._clock() + ttl)
        self._writes_since_sweep += 1

    def _make_room(self) -> None:
        # Sweeps are rationed (see the module docstring); in between, the oldest entries go.
        if self._writes_since_sweep >= max(1, self.capacity // 10):
            self.sweep()
        excess = len(self.data) - self.capacity + 1
        if excess > 0:
            for key in list(itertools.islice(self.data, excess)):
                del self.data[key]

    def sweep(self) -> None:
        now = self._clock()
        for key in [k for k, (_, expires_at) in self.data.items() if expires_at <= now]:
            del self.data[key]
        self._writes_since_sweep = 0


class MemoryStore:
    """A :class:`~oidc_kit.stores.SessionStore` in dicts, for tests and single-process apps.

    Every method runs without an ``await`` between reading and writing, so on one event loop
    each call is atomic; in particular :meth:`take` has a single winner and of racing
    :meth:`add` calls exactly one stores its value.

    ``max_entries`` bounds sessions and the rest; ``max_pending_logins`` (a tenth of it by
    default) bounds logins started and not finished, apart: see the module docstring. A
    ``ttl`` that is not positive stores nothing (``set`` removes the old value, ``add``
    returns ``False``), as on every backend.
    """

    def __init__(
        self,
        max_entries: int = 100_000,
        *,
        max_pending_logins: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        pending = max(1, max_entries // 10) if max_pending_logins is None else max_pending_logins
        if max_entries < 1 or pending < 1:
            raise ValueError("max_entries and max_pending_logins must be at least 1")
        # A monotonic clock by default: TTLs must not jump when the wall clock is adjusted.
        self._clock = clock
        self._entries = _Table(max_entries, clock)
        self._logins = _Table(pending, clock)
        # Sets: key -> member -> expiry. Bounded like the values: an index only grows with
        # sessions, and its expired members go whenever the set is read or written.
        self._sets: dict[str, dict[str, float]] = {}
        self._writes_since_sweep = 0

    @property
    def max_entries(self) -> int:
        """The most sessions (and other entries but pending logins) the store holds at once."""
        return self._entries.capacity

    @property
    def max_pending_logins(self) -> int:
        """The most logins started and not yet finished the store holds at once."""
        return self._logins.capacity

    def _table(self, key: str) -> _Table:
        return self._logins if key.startswith(LOGIN_KEY_PREFIX) else self._entries

    async def get(self, key: str) -> bytes | None:
        """The value under ``key``, or ``None`` when absent or expired."""
        # _Table.live, inline: every protected request comes here. A key lives in one table
        # (writes pick it by prefix), so the sessions' is looked in first with no prefix test:
        # ``str.startswith`` costs more than a second dict look-up on a miss.
        table = self._entries
        entry = table.data.get(key)
        if entry is None:
            table = self._logins
            entry = table.data.get(key)
            if entry is None:
                return None
        if entry[1] <= self._clock():
            del table.data[key]
            return None
        return entry[0]

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        """Store ``value`` under ``key`` for ``ttl`` seconds, replacing any old value."""
        table = self._table(key)
        table.data.pop(key, None)
        if ttl > 0:
            self._insert(table, key, value, ttl)

    async def delete(self, key: str) -> None:
        """Remove ``key``; absent keys are fine."""
        self._table(key).data.pop(key, None)

    async def take(self, key: str) -> bytes | None:
        """Read and remove ``key`` in one step; an expired value is removed and not returned."""
        entry = self._table(key).data.pop(key, None)
        if entry is None or entry[1] <= self._clock():
            return None
        return entry[0]

    async def add(self, key: str, value: bytes, ttl: float) -> bool:
        """Store ``value`` only if ``key`` is absent or expired; whether it was stored."""
        table = self._table(key)
        if not ttl > 0 or table.live(key) is not None:
            return False
        self._insert(table, key, value, ttl)
        return True

    async def replace(self, key: str, value: bytes, ttl: float) -> bool:
        """Store ``value`` only if ``key`` holds a live value (no await: atomic on the loop)."""
        table = self._table(key)
        if table.live(key) is None:
            return False
        del table.data[key]
        if ttl > 0:
            self._insert(table, key, value, ttl)
        return True

    async def delete_if(self, key: str, value: bytes) -> bool:
        """Delete ``key`` only if it holds ``value`` and has not expired; whether it did."""
        table = self._table(key)
        if table.live(key) != value:
            return False
        del table.data[key]
        return True

    def _insert(self, table: _Table, key: str, value: bytes, ttl: float) -> None:
        table.insert(key, value, ttl)
        # Both tables are swept together: abandoned logins go even when only sessions are
        # written afterwards.
        self._writes_since_sweep += 1
        if self._writes_since_sweep >= max(_SWEEP_MIN_WRITES, len(self)):
            self._entries.sweep()
            self._logins.sweep()
            self._writes_since_sweep = 0

    async def index_add(self, key: str, member: str, ttl: float) -> None:
        """Add ``member`` to the set ``key`` until ``ttl`` seconds from now."""
        members = self._live_members(key)
        if ttl > 0:
            members[member] = self._clock() + ttl
            self._sets[key] = members
            if len(self._sets) > self._entries.capacity:
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

    async def ping(self) -> None:
        """Nothing to reach: an in-process store always answers."""

    async def close(self) -> None:
        """Drop every entry."""
        self._entries.data.clear()
        self._logins.data.clear()
        self._sets.clear()

    def __len__(self) -> int:
        """Entries held, pending logins and expired ones not yet swept included (for tests
        and metrics)."""
        return len(self._entries.data) + len(self._logins.data)
