"""The ``SessionStore`` Protocol: a small async key-value interface with expiry.

The kit stores three kinds of records through it, each as opaque bytes it encodes itself:
sessions (``session:{sid}``), login transactions (``login:{id}``) and refresh leases
(``lease:{sid}``, see ``add``/``delete_if``). A store never interprets values, so every backend
(memory, SQLite, Redis) is small and passes one contract test suite. Keys it may read: login
transactions are written by anyone who opens ``/auth/login``, so a bounded backend keeps them
apart from sessions (see :class:`~oidc_kit.stores.MemoryStore`).

A backend that cannot reach its server raises :class:`oidc_kit.StoreUnavailable`
(``session_store_unavailable``, 503) within a bounded time; it never hangs.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["LOGIN_KEY_PREFIX", "SessionStore"]

#: The prefix of every login transaction's key.
LOGIN_KEY_PREFIX = "login:"


@runtime_checkable
class SessionStore(Protocol):
    """Where sessions and login transactions live. All methods are coroutines."""

    async def get(self, key: str) -> bytes | None:
        """The value under ``key``, or ``None`` when absent or expired."""
        ...

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        """Store ``value`` under ``key`` for ``ttl`` seconds (> 0), replacing any old value."""
        ...

    async def delete(self, key: str) -> None:
        """Remove ``key``; absent keys are fine."""
        ...

    async def take(self, key: str) -> bytes | None:
        """Atomically read and remove ``key``: of racing callers at most one gets the value.

        Login transactions are single use through this method.
        """
        ...

    async def add(self, key: str, value: bytes, ttl: float) -> bool:
        """Store ``value`` only if ``key`` is absent or expired; whether it was stored.

        Atomic across every process sharing the store (Redis ``SET NX PX``): of racing callers
        exactly one gets ``True``. Refresh leases are taken with it.
        """
        ...

    async def replace(self, key: str, value: bytes, ttl: float) -> bool:
        """Store ``value`` only if ``key`` holds a live value; whether it did (atomic).

        Updates of a session go through it, so a session deleted meanwhile (a logout in
        another request or process) is never written back.
        """
        ...

    async def delete_if(self, key: str, value: bytes) -> bool:
        """Delete ``key`` only if it still holds ``value``; whether it did (atomic).

        Releases a lease without removing one that expired and was taken by someone else.
        """
        ...

    async def index_add(self, key: str, member: str, ttl: float) -> None:
        """Add ``member`` to the set ``key``; the member expires after ``ttl`` seconds.

        Sessions are indexed by subject and by the provider's session id, so that a
        back-channel logout can find every session it ends.
        """
        ...

    async def index_members(self, key: str) -> list[str]:
        """The live members of the set ``key`` (empty when there is none)."""
        ...

    async def index_discard(self, key: str, member: str) -> None:
        """Remove ``member`` from the set ``key``; absent members are fine."""
        ...

    async def ping(self) -> None:
        """One cheap round trip to the backend (Redis ``PING``, a trivial SQLite query), for
        health checks; :class:`~oidc_kit.StoreUnavailable` when it fails.

        A store written before this method existed is probed with a :meth:`get` instead.
        """
        ...

    async def close(self) -> None:
        """Release connections and files."""
        ...
