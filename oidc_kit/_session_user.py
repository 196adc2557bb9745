"""The logged-in user as every adapter shows it: what a live session says about its user.

The Starlette ``OIDCUser`` (``request.user``), Flask's ``current_user`` and Django's unsaved
``OIDCUser`` are this, plus what each framework expects of a user object (framework-neutral).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from ._authorization_details import details_of
from ._session import Session

__all__ = ["SessionUser"]


class SessionUser:
    """A live session's user: who (``sub``), what to call them, their claims and scopes."""

    def __init__(self, session: Session) -> None:
        self.session = session

    #: Always true: a request without a live session has an anonymous user instead. An
    #: attribute, not a property (as Django's users have it): ``login_required`` reads it on
    #: every request.
    is_authenticated = True

    @property
    def identity(self) -> str:
        """The provider's subject identifier."""
        return self.session.sub

    @property
    def sub(self) -> str:
        """The provider's subject identifier (as :attr:`identity`)."""
        return self.session.sub

    @property
    def display_name(self) -> str:
        """The ``name`` claim, else ``preferred_username``, else ``email``, else the ``sub``."""
        claims = self.session.claims
        for name in ("name", "preferred_username", "email"):
            value = claims.get(name)
            if isinstance(value, str) and value:
                return value
        return self.session.sub

    @property
    def claims(self) -> Mapping[str, Any]:
        """ID token claims merged with userinfo claims (read-only: decoded sessions are
        shared between requests, so a handler must not change them in place)."""
        return MappingProxyType(self.session.claims)

    @property
    def scopes(self) -> tuple[str, ...]:
        """The scopes the access token was granted (none known for a record written before
        the grant was kept)."""
        return tuple((self.session.granted_scope or "").split())

    @property
    def authorization_details(self) -> tuple[Mapping[str, Any], ...]:
        """The authorization details (RFC 9396) granted at login, exactly those the login
        asked for; empty when it asked for none. Read-only copies."""
        details = details_of(self.session.authorization_details)
        return tuple(MappingProxyType(item) for item in details)
