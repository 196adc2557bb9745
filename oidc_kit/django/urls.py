"""The kit's routes, for a project's URLconf::

    path("auth/", include("oidc_kit.django.urls")),

Every route of ``_handlers.ROUTES`` (``login``, ``callback``, ``logout``, ``session``,
``backchannel-logout``, ``sessions``, ``jwks``, ``health``...), named in the ``oidc_kit``
namespace (``reverse("oidc_kit:login")``). Include them at the kit's ``route_prefix``
(``OIDC_ROUTE_PREFIX``, ``/auth`` by default): the redirect URI the provider knows is
``{APP_BASE_URL}{route_prefix}/callback``; ``manage.py check`` says so when they differ.
"""

from __future__ import annotations

from django.urls import URLPattern, path

from .._handlers import ROUTES, KitRoute
from ._views import kit_view

__all__ = ["app_name", "route_name", "urlpatterns"]

app_name = "oidc_kit"


def route_name(route: KitRoute) -> str:
    """A route's URL name: its path, ``_`` for ``/``, parameters' braces dropped."""
    return route.path.strip("/").replace("/", "_").replace("{", "").replace("}", "")


def _pattern(route: KitRoute) -> URLPattern:
    # "{provider}" is one non-empty path segment: Django's "str" converter.
    rule = route.path.lstrip("/").replace("{", "<str:").replace("}", ">")
    return path(rule, kit_view(route), name=route_name(route))


urlpatterns = [_pattern(route) for route in ROUTES]
