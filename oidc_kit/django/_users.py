"""``request.user`` without django.contrib.auth: the session's user, unsaved, shaped as
Django's users are (``is_authenticated``, ``is_anonymous``, ``pk``, ``get_username()``,
``has_perm``...), so templates, ``{% if user.is_authenticated %}`` and third-party code that
only reads a user work unchanged."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

from .._session import Session

__all__ = ["AnonymousUser", "OIDCUser"]


class OIDCUser:
    """The logged-in user: ``request.user`` (and always ``request.oidc_user``). Not a model:
    nothing is saved; ``pk`` is ``None`` and it has no permissions."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None
    id = None

    def __init__(self, session: Session) -> None:
        self.session = session

    @property
    def sub(self) -> str:
        """The provider's subject identifier."""
        return self.session.sub

    @property
    def username(self) -> str:
        """The ``sub`` (what ``get_username()`` gives)."""
        return self.session.sub

    def get_username(self) -> str:
        """The ``sub``, as Django's users give their ``USERNAME_FIELD``."""
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
        """ID token claims merged with userinfo claims (read-only: shared between requests)."""
        return MappingProxyType(self.session.claims)

    @property
    def scopes(self) -> tuple[str, ...]:
        """The scopes the access token was granted (none known for a record written before
        the grant was kept)."""
        return tuple((self.session.granted_scope or "").split())

    def has_perm(self, perm: str, obj: object = None) -> bool:
        """No Django permissions: scopes and claims say what the user may do."""
        return False

    def has_perms(self, perm_list: Iterable[str], obj: object = None) -> bool:
        """``False`` (no Django permissions), as :meth:`has_perm`."""
        return False

    def has_module_perms(self, app_label: str) -> bool:
        """``False`` (no Django permissions), as :meth:`has_perm`."""
        return False

    def __str__(self) -> str:
        return self.session.sub

    def __eq__(self, other: object) -> bool:
        return isinstance(other, OIDCUser) and other.session.sub == self.session.sub

    def __hash__(self) -> int:
        return hash(self.session.sub)


class AnonymousUser:
    """Nobody logged in: ``request.user`` of a request without a live session."""

    is_authenticated = False
    is_anonymous = True
    is_active = False
    is_staff = False
    is_superuser = False
    pk = None
    id = None
    username = ""
    sub: str | None = None
    display_name = ""
    claims: Mapping[str, Any] = MappingProxyType({})
    scopes: tuple[str, ...] = ()

    def get_username(self) -> str:
        """``""``, as Django's ``AnonymousUser``."""
        return ""

    def has_perm(self, perm: str, obj: object = None) -> bool:
        """``False``: nobody is logged in."""
        return False

    def has_perms(self, perm_list: Iterable[str], obj: object = None) -> bool:
        """``False``: nobody is logged in."""
        return False

    def has_module_perms(self, app_label: str) -> bool:
        """``False``: nobody is logged in."""
        return False

    def __str__(self) -> str:
        return "AnonymousUser"


#: The one anonymous user (it holds nothing of a request).
ANONYMOUS = AnonymousUser()
