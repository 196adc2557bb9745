"""``request.user`` without django.contrib.auth: the session's user, unsaved, shaped as
Django's users are (``is_authenticated``, ``is_anonymous``, ``pk``, ``get_username()``,
``has_perm``...), so templates, ``{% if user.is_authenticated %}`` and third-party code that
only reads a user work unchanged."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

from .._session_user import SessionUser

__all__ = ["AnonymousUser", "OIDCUser"]


class OIDCUser(SessionUser):
    """The logged-in user: ``request.user`` (and always ``request.oidc_user``). Not a model:
    nothing is saved; ``pk`` is ``None`` and it has no permissions."""

    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None
    id = None

    @property
    def username(self) -> str:
        """The ``sub`` (what ``get_username()`` gives)."""
        return self.session.sub

    def get_username(self) -> str:
        """The ``sub``, as Django's users give their ``USERNAME_FIELD``."""
        return self.session.sub

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
