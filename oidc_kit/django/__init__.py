"""Django integration: the ``/auth`` routes, the per-request session step, ``login_required``.

    # settings.py
    INSTALLED_APPS = [..., "oidc_kit.django"]
    MIDDLEWARE = [..., "oidc_kit.django.middleware.OIDCMiddleware"]
    # urls.py
    urlpatterns = [path("auth/", include("oidc_kit.django.urls")), ...]
    # views.py
    @login_required
    def home(request): return HttpResponse(f"Hello {request.user.display_name}")

A thin adapter with no protocol code: the routes are the kit's own (``_handlers.py``), the
session step, the ``login_required`` decisions and the API auth are ``_sync_kit.SyncKit``'s,
over the one async core, reached through the sync bridge (``_bridge.CoreLoop``: one event
loop per process, on a thread of its own). Under WSGI each request crosses to it from its
thread; under ASGI the middleware and async views await the crossing from Django's loop.

Configured by ``settings.OIDC_KIT`` (optional; ``_kit.py`` lists its options), else by the
environment as the other adapters (``OIDCConfig.from_env()``). The package imports Django
(the ``oidc_kit[django]`` extra); ``django.contrib.auth`` only with
``oidc_kit.django.backends``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
from django.http import HttpRequest

from .._introspection import TokenIntrospection
from ._decorators import login_required
from ._http import session_of
from ._kit import get_kit
from ._users import AnonymousUser, OIDCUser

__all__ = [
    "AnonymousUser",
    "OIDCUser",
    "aaccess_token",
    "acall",
    "access_token",
    "aintrospect",
    "async_auth",
    "atoken_status",
    "call",
    "httpx_auth",
    "introspect",
    "login_required",
    "token_status",
]

R = TypeVar("R")


def httpx_auth(request: HttpRequest) -> httpx.Auth:
    """An ``httpx.Auth`` for an ``httpx.Client`` (sync views), with ``request``'s user's
    access token: refreshed first when due, and once more, with one retry, when the API
    answers 401 (DPoP-bound tokens with their proofs). :class:`~oidc_kit.LoginRequired`
    without a session."""
    return get_kit().sync.httpx_auth(session_of(request))


def async_auth(request: HttpRequest) -> httpx.Auth:
    """The same for an ``httpx.AsyncClient``: in an async view, on Django's event loop (each
    step of the refresh and retry awaited on the kit's loop), or run on the kit's loop with
    :func:`call`/:func:`acall` (where a client made once serves every request of the
    process)."""
    return get_kit().sync.bridged_auth(session_of(request))


def access_token(request: HttpRequest) -> str:
    """``request``'s user's access token, refreshed first when due. Keep it out of pages and
    logs; a DPoP-bound token needs :func:`httpx_auth`."""
    return get_kit().sync.access_token(session_of(request))


async def aaccess_token(request: HttpRequest) -> str:
    """:func:`access_token` for an async view."""
    return await get_kit().sync.aaccess_token(session_of(request))


def token_status(request: HttpRequest) -> dict[str, Any]:
    """What a profile page may show about ``request``'s user's tokens, never a token itself:
    ``sub``, ``claims``, ``expires_at``, ``scope``, ``has_refresh_token``, ``token_type``,
    ``dpop_jkt``, ``profile``, ``provider``."""
    return get_kit().sync.token_status(session_of(request))


async def atoken_status(request: HttpRequest) -> dict[str, Any]:
    """:func:`token_status` for an async view."""
    return await get_kit().sync.atoken_status(session_of(request))


def introspect(request: HttpRequest) -> TokenIntrospection:
    """Whether ``request``'s user's access token is still active at the provider (RFC 7662
    introspection): never the token itself."""
    return get_kit().sync.introspect(session_of(request))


async def aintrospect(request: HttpRequest) -> TokenIntrospection:
    """:func:`introspect` for an async view."""
    return await get_kit().sync.aintrospect(session_of(request))


def call(fn: Callable[..., Awaitable[R]], /, *args: Any) -> R:
    """``await fn(*args)`` on the kit's event loop, from a sync view (an async API client of
    the project's, made once); the kit's errors it raises are answered as the kit's."""
    return get_kit().sync.call(fn, *args)


async def acall(fn: Callable[..., Awaitable[R]], /, *args: Any) -> R:
    """:func:`call` from an async view, awaited."""
    return await get_kit().sync.acall(fn, *args)
