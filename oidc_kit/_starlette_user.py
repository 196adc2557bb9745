"""``request.user`` and ``request.auth`` for Starlette, read-only.

The session middleware makes one :class:`OIDCUser` and one :class:`SessionCredentials` per
session record and hands the same pair to every request that loads that very record (a
record that changed, a refresh or a touch, gets a new pair): making them afresh took ~4k
instructions of a protected request (docs/performance.md). Sharing is safe only because
neither can be changed: a request that could set an attribute on its user, or add a scope to
its credentials, would change them for the session's next requests too. So both refuse, with
an error that says why, rather than let one request's change outlive it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NoReturn

from starlette.authentication import AuthCredentials, BaseUser

from ._session import Session
from ._session_user import SessionUser

__all__ = ["OIDCUser", "SessionCredentials"]

_SHARED = "the requests that load the same session record share it"


class OIDCUser(SessionUser, BaseUser):
    """The logged-in user, as ``request.user`` (``_session_user.SessionUser``: ``identity``,
    ``sub``, ``display_name``, ``claims``, ``scopes``); a logged-out request's user is
    Starlette's ``UnauthenticatedUser``. Read-only: :attr:`session` and the rest cannot be set
    (keep a request's own data in ``request.state``)."""

    def __init__(self, session: Session) -> None:
        object.__setattr__(self, "session", session)

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError(f"request.user is read-only ({_SHARED}): cannot set {name!r}")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError(f"request.user is read-only ({_SHARED}): cannot delete {name!r}")


class ReadOnlyScopes(list[str]):
    """A session's scopes as ``request.auth.scopes``: a ``list``, as Starlette's
    ``AuthCredentials`` has them (so it compares equal to one), that refuses every change."""

    def _refuse(self, *args: object, **kwargs: object) -> NoReturn:
        raise TypeError(f"request.auth.scopes is read-only ({_SHARED})")

    append = extend = insert = remove = pop = clear = sort = reverse = _refuse
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse


class SessionCredentials(AuthCredentials):
    """``request.auth`` of a logged-in request: ``authenticated`` and the scopes the session's
    access token was granted (Starlette's ``requires`` reads them), read-only."""

    def __init__(self, scopes: Iterable[str]) -> None:
        object.__setattr__(self, "scopes", ReadOnlyScopes(scopes))

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError(f"request.auth is read-only ({_SHARED}): cannot set {name!r}")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError(f"request.auth is read-only ({_SHARED}): cannot delete {name!r}")
