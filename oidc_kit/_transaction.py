"""The login transaction: one login in progress, kept from the redirect to the provider until
its callback.

A transaction (state, nonce, PKCE verifier, where to go next) is kept in the store under a hash
of its ``state``, and bound to the browser that started it by a random binding id, fresh at
every start, which a short-lived signed cookie keeps with the browser's other recent ones. At
the callback it is read and checked against the browser's bindings first, and only then taken
(deleted in one atomic step, one winner), so it works once, and a callback from another browser
leaves it for the browser that started it. A callback from another browser, a replay, or one
arriving after ``login_timeout`` fails with ``invalid_state``.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

from ._errors import InvalidState
from .stores import LOGIN_KEY_PREFIX, SessionStore

__all__ = ["LoginTransaction", "save_transaction", "take_transaction", "transaction_key"]


@dataclass(frozen=True)
class LoginTransaction:
    """One login in progress, from the redirect to the provider until its callback."""

    state: str
    nonce: str
    code_verifier: str
    binding: str
    next_path: str
    created_at: float
    max_age: int | None = None
    #: Step-up: the ``acr`` values asked for (the ID token's ``acr`` must be one of them).
    acr_values: tuple[str, ...] = ()
    #: Step-up: ``"login"`` when the provider was told to authenticate the user again.
    prompt: str | None = None
    #: The name of the provider the login was started for (several providers in one app).
    provider: str = "default"
    #: DPoP: the session-to-be's key, sealed (URL-safe base64), so that the code is bound
    #: to it.
    dpop_key: str | None = None
    #: RAR (RFC 9396): the ``authorization_details`` asked for (canonical JSON text), which
    #: the token response's must equal.
    authorization_details: str | None = None

    def encode(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":")).encode()

    @classmethod
    def decode(cls, raw: bytes) -> LoginTransaction:
        """Inverse of :meth:`encode`; :class:`InvalidState` for anything else (a store's
        contents are checked like any input: a wrong type is a 400, not a 500)."""
        try:
            data = json.loads(raw)
            acr_values = data.pop("acr_values", [])
            if not isinstance(acr_values, list) or not all(isinstance(v, str) for v in acr_values):
                raise ValueError("acr_values")
            txn = cls(**data, acr_values=tuple(acr_values))
        except (TypeError, ValueError, AttributeError):
            raise InvalidState("the login transaction is unreadable") from None
        if not txn._well_typed():
            raise InvalidState("the login transaction is unreadable")
        return txn

    def _well_typed(self) -> bool:
        strings = (self.state, self.nonce, self.code_verifier, self.binding, self.next_path)
        optional = (self.prompt, self.dpop_key, self.authorization_details)
        return (
            all(isinstance(v, str) for v in (*strings, self.provider))
            and all(v is None or isinstance(v, str) for v in optional)
            and isinstance(self.created_at, int | float)
            and (self.max_age is None or type(self.max_age) is int)
        )


def transaction_key(state: str) -> str:
    """The store key of the transaction ``state`` names (among the store's pending logins)."""
    return LOGIN_KEY_PREFIX + hashlib.sha256(state.encode()).hexdigest()


async def save_transaction(store: SessionStore, txn: LoginTransaction, ttl: float) -> None:
    """Keep ``txn`` for ``ttl`` seconds, until its callback takes it."""
    await store.set(transaction_key(txn.state), txn.encode(), ttl)


async def take_transaction(
    store: SessionStore,
    state: str | None,
    binding: str | Sequence[str] | None,
    *,
    clock: Callable[[], float],
    lifetime: float,
) -> LoginTransaction:
    """The transaction ``state`` names, checked to belong to this browser, then taken (it
    works once), then checked to be at most ``lifetime`` seconds old.

    ``binding`` is the browser's binding, or its recent bindings (the login cookie's): the
    transaction must have been started with one of them. A callback with an unknown state, or
    from another browser, takes nothing: whoever learns a victim's ``state`` cannot end the
    victim's login with it."""
    bindings = _bindings(binding)
    if not state:
        raise InvalidState("the callback has no state")
    key = transaction_key(state)
    raw = await store.get(key)  # read, not taken: it may not be this browser's
    if raw is None:
        raise InvalidState("unknown, expired or already used state")
    txn = LoginTransaction.decode(raw)
    if not _is_one_of(txn.binding, bindings):
        raise InvalidState("this login was not started by this browser")
    if not secrets.compare_digest(state.encode(), txn.state.encode()):
        raise InvalidState("state mismatch")
    # Now taken, atomically: of callbacks racing with the same state, one gets it, and it
    # must be the very record checked above.
    if await store.take(key) != raw:
        raise InvalidState("unknown, expired or already used state")
    if clock() - txn.created_at > lifetime:
        raise InvalidState("the login took too long; start again")
    return txn


def _bindings(binding: str | Sequence[str] | None) -> tuple[str, ...]:
    """One binding or several, as a tuple (a ``str`` is itself a sequence of characters)."""
    if binding is None:
        return ()
    if isinstance(binding, str):
        return (binding,)
    return tuple(binding)


def _is_one_of(expected: str, candidates: Sequence[str]) -> bool:
    """Whether ``expected`` is among ``candidates``: every one compared in constant time."""
    found = False
    for candidate in candidates:
        found |= secrets.compare_digest(candidate.encode(), expected.encode())
    return found
