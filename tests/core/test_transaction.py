"""The login transaction record on its own: kept, then taken once by the browser that started it.

The flow's callbacks drive it end to end in tests/core/test_flow.py and tests/web/test_two_tabs.py;
here, what only a store that changes under the callback can show.
"""

from __future__ import annotations

import pytest

from oidc_kit import InvalidState, MemoryStore
from oidc_kit._transaction import (
    LoginTransaction,
    save_transaction,
    take_transaction,
    transaction_key,
)

NOW = 1_000_000.0


def _txn(binding: str) -> LoginTransaction:
    return LoginTransaction(
        state="the-state",
        nonce="n",
        code_verifier="v",
        binding=binding,
        next_path="/",
        created_at=NOW,
    )


class _SwappedBeforeTake(MemoryStore):
    """A store whose record under the key is replaced between the callback's read and its take
    (another login writing the same key meanwhile)."""

    def __init__(self, replacement: LoginTransaction) -> None:
        super().__init__()
        self._replacement = replacement

    async def take(self, key: str) -> bytes | None:
        await self.set(key, self._replacement.encode(), 600)
        return await super().take(key)


async def test_a_saved_transaction_is_taken_once_by_its_browser() -> None:
    store = MemoryStore()
    await save_transaction(store, _txn("browser-1"), 600)
    assert await store.get(transaction_key("the-state")) is not None
    taken = await take_transaction(store, "the-state", "browser-1", clock=lambda: NOW, lifetime=600)
    assert taken == _txn("browser-1")
    with pytest.raises(InvalidState):
        await take_transaction(store, "the-state", "browser-1", clock=lambda: NOW, lifetime=600)


async def test_the_record_taken_must_be_the_one_checked() -> None:
    store = _SwappedBeforeTake(_txn("browser-2"))
    await save_transaction(store, _txn("browser-1"), 600)
    with pytest.raises(InvalidState, match="already used"):
        await take_transaction(store, "the-state", "browser-1", clock=lambda: NOW, lifetime=600)
