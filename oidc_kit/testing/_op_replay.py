"""One-time identifiers: the ``jti`` of DPoP proofs and client assertions, seen at most once."""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["ReplayCache"]

_PURGE_EVERY = 256


class ReplayCache:
    """The identifiers seen so far, each kept until the moment it could no longer be accepted.

    ``first_use(jti, until)`` is True the first time and False ever after while ``until`` has
    not passed; after that the token carrying it is refused for its age anyway, so the entry
    can go. Expired entries are purged now and then, so the cache stays small.
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._seen: dict[str, float] = {}
        self._calls = 0

    def first_use(self, jti: str, until: float) -> bool:
        """Record ``jti`` until ``until`` (epoch seconds); False if it was already recorded."""
        now = self._clock()
        self._calls += 1
        if self._calls % _PURGE_EVERY == 0:
            self._seen = {k: v for k, v in self._seen.items() if v > now}
        seen_until = self._seen.get(jti)
        if seen_until is not None and seen_until > now:
            return False
        self._seen[jti] = until
        return True

    def __len__(self) -> int:
        return len(self._seen)
