"""The kit's routes as Django views: one per route of ``_handlers.ROUTES``, a translation
only (``WebRequest`` in, ``WebResponse`` out, one crossing to the kit's loop).

They are sync views. Under WSGI that is the request's own thread; under ASGI Django runs a
sync view on a thread of the request's own (asgiref's ``ThreadSensitiveContext``, per
request), never on its event loop, so a login's token exchange blocks nobody else.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from .._handlers import KitRoute
from ._http import django_response, read_bounded, web_request
from ._kit import get_kit

__all__ = ["kit_view"]


def kit_view(route: KitRoute) -> Callable[..., HttpResponse]:
    """The view of ``route``; its path parameters come as keyword arguments."""

    def view(request: HttpRequest, **params: str) -> HttpResponse:
        kit = get_kit().sync
        web = web_request(request, params)
        if kit.reads_body(route, web):
            web = web.with_body(read_bounded(request))
        return django_response(kit.handle(route, web), request.method)

    view.__name__ = view.__qualname__ = f"oidc_kit_{route.handler.__name__}"
    # Not Django's CSRF tokens: the callback's form_post comes from the provider's page and
    # the back-channel logout from its server (neither could carry a token), and the routes
    # that change a user's state (POST logout, session, revoke) refuse a cross-site request
    # themselves, by Sec-Fetch-Site/Origin against APP_BASE_URL's origin, before reading its
    # body: the same rule as on Starlette and Flask.
    return csrf_exempt(view)
