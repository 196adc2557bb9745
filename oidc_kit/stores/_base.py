"""The ``SessionStore`` Protocol: a small async key-value interface with expiry.

The kit stores two kinds of records through it, each as opaque bytes it encodes itself:
sessions (``session:{sid}``) and login transactions (``login:{id}``). A store never interprets
values, so every backend (memory, SQLite, Redis) is a few dozen lines and passes one contract
test suite.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["SessionStore"]


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

    async def close(self) -> None:
        """Release connections and files."""
        ...
