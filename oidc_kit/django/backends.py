"""A Django user per OpenID Connect subject, for projects that want ``request.user`` to be a
``django.contrib.auth`` user (its permissions, groups, foreign keys to it)::

    INSTALLED_APPS = [..., "django.contrib.auth", "django.contrib.contenttypes", "oidc_kit.django"]
    OIDC_KIT = {"USER_BACKEND": "oidc_kit.django.backends.SubjectBackend"}

The middleware then sets ``request.user`` to the user whose ``USERNAME_FIELD`` is the
session's ``sub`` (made at first sight, from the name and email claims), looked up only when
a view reads it (``await request.auser()`` in async views); logged-out requests get Django's
``AnonymousUser``. The session itself still lives in the kit's store, not in
``django.contrib.sessions``. Subclass it to map users otherwise (:meth:`username`,
:meth:`configure_user`); with several providers, prefix the ``sub`` by its issuer there.

``django.contrib.auth`` is imported when a user is first looked up, not with this module.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.http import HttpRequest

from .._session import Session

__all__ = ["SubjectBackend"]


class SubjectBackend:
    """``django.contrib.auth`` users keyed by the session's ``sub``. Their permissions are
    ``AUTHENTICATION_BACKENDS``' (``ModelBackend`` by default), as for any user."""

    #: Make the user at its first login (else only existing users are let in).
    create_unknown_user = True

    def authenticate(
        self, request: HttpRequest | None, oidc_session: Session | None = None, **_: Any
    ) -> Any:
        """``django.contrib.auth.authenticate(request, oidc_session=...)``: the session's
        user, else ``None``."""
        if oidc_session is None:
            return None
        user = self.user_for(oidc_session)
        return None if user.is_anonymous else user

    def user_for(self, session: Session | None) -> Any:
        """The user of ``session`` (made at first sight if :attr:`create_unknown_user`), or
        an ``AnonymousUser``: no session, an unknown user, an inactive one."""
        from django.contrib.auth import get_user_model
        from django.contrib.auth.models import AnonymousUser

        if session is None:
            return AnonymousUser()
        model: Any = get_user_model()
        lookup = {model.USERNAME_FIELD: self.username(session)}
        manager = model._default_manager
        user: Any
        if self.create_unknown_user:
            user, created = manager.get_or_create(**lookup)
            if created:
                self.configure_user(user, session)
                user.save()
        else:
            user = manager.filter(**lookup).first()
        if user is None or not getattr(user, "is_active", True):
            return AnonymousUser()
        return user

    def get_user(self, user_id: Any) -> Any:
        """The active user with primary key ``user_id``, else ``None`` (for
        ``AUTHENTICATION_BACKENDS``)."""
        from django.contrib.auth import get_user_model

        user = get_user_model()._default_manager.filter(pk=user_id).first()
        return user if user is not None and getattr(user, "is_active", True) else None

    async def auser_for(self, session: Session | None) -> Any:
        """:meth:`user_for` from an async view (the database on a thread)."""
        return await sync_to_async(self.user_for)(session)

    def username(self, session: Session) -> str:
        """The ``USERNAME_FIELD`` value of ``session``'s user: its ``sub``."""
        return session.sub

    def configure_user(self, user: Any, session: Session) -> None:
        """Fill a new user from the session's claims (``given_name``, ``family_name``,
        ``email``, when the model has those fields); it is saved afterwards."""
        claims = session.claims
        for field, claim in (
            ("first_name", "given_name"),
            ("last_name", "family_name"),
            ("email", "email"),
        ):
            value = claims.get(claim)
            if isinstance(value, str) and hasattr(user, field):
                setattr(user, field, value[:150])
