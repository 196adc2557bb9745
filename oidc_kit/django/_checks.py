"""``manage.py check``: the kit's configuration, its routes and its middleware in place."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.urls import NoReverseMatch, reverse

from .._errors import ConfigurationError
from ._kit import SETTING, get_kit

__all__ = ["check_kit"]

MIDDLEWARE = "oidc_kit.django.middleware.OIDCMiddleware"
_AUTH_MIDDLEWARE = "django.contrib.auth.middleware.AuthenticationMiddleware"


def check_kit(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """The kit's configuration read (``OIDC_KIT``, the environment), its routes at its
    ``route_prefix``, ``OIDCMiddleware`` in ``MIDDLEWARE`` and not undone."""
    try:
        prefix = get_kit().sync.config.route_prefix
    except (ConfigurationError, ImproperlyConfigured) as exc:
        return [checks.Error(f"{SETTING} or the environment: {exc}", id="oidc_kit.E001")]
    found: list[checks.CheckMessage] = []
    middleware = list(getattr(settings, "MIDDLEWARE", None) or [])
    if MIDDLEWARE not in middleware:
        found.append(checks.Error(f"{MIDDLEWARE} is not in MIDDLEWARE", id="oidc_kit.E002"))
    elif _AUTH_MIDDLEWARE in middleware[middleware.index(MIDDLEWARE) :]:
        found.append(
            checks.Warning(
                f"{_AUTH_MIDDLEWARE} after {MIDDLEWARE} replaces the kit's request.user",
                hint="put the kit's middleware after it, or drop it",
                id="oidc_kit.W001",
            )
        )
    expected = f"{prefix}/login"
    include = f'path("{prefix.lstrip("/")}/", include("oidc_kit.django.urls"))'
    try:
        mounted = reverse("oidc_kit:login")
    except NoReverseMatch:
        found.append(
            checks.Error(
                "the kit's routes are not in the URLconf", hint=include, id="oidc_kit.E003"
            )
        )
    else:
        if mounted != expected:
            found.append(
                checks.Error(
                    f"the kit's routes are at {mounted.removesuffix('/login')}, its "
                    f"route_prefix (OIDC_ROUTE_PREFIX) is {prefix}: the provider would send "
                    "users back to a route that is not there",
                    hint=include,
                    id="oidc_kit.E004",
                )
            )
    return found
