"""The kit's HTTP routes on Starlette (``/auth/login``, ``/auth/callback``, ``/auth/logout``...):
a translation of the framework-neutral routes (``_handlers.py``), and nothing more.

Each Starlette route is one of :data:`~oidc_kit._handlers.ROUTES`: its request becomes a
:class:`~oidc_kit._exchange.WebRequest` (the body read here, bounded, when the route reads
it), and the :class:`~oidc_kit._exchange.WebResponse` it gets back a Starlette response.

:class:`~oidc_kit.starlette.OIDCAuth` builds one :class:`KitRoutes` from exactly what the
handlers use (the relying party, the :class:`~oidc_kit._web_kit.WebKit`, the providers, the
default provider's sessions, the store) and mounts its :meth:`KitRoutes.routes`; like the
middleware, this never sees the whole ``OIDCAuth`` (``tests/test_layering.py``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from ._body import client_gone, read_bounded
from ._clients import ProviderClients
from ._exchange import Headers, WebRequest, parse_cookies
from ._handlers import ROUTES, KitHandlers, KitRoute
from ._middleware import SCOPE_KEY
from ._relying_party import RelyingParty
from ._session import Sessions
from ._web import query_params, starlette_response
from ._web_kit import WebKit
from .stores import SessionStore

__all__ = ["KitRoutes", "web_request"]

_Endpoint = Callable[[Request], Awaitable[Response]]
#: The methods a kit route hears, to refuse those it does not take in the kit's own words.
_EVERY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


@dataclass(frozen=True, slots=True)
class KitRoutes:
    """The routes an app mounts at ``route_prefix``."""

    #: The framework-neutral relying party whose steps the routes call.
    rp: RelyingParty
    #: How the answers look on the web (pages, cookies, JSON paths, the app's origin).
    web: WebKit
    #: The providers by name: their client keys (``/jwks``) and health (``/health``).
    clients: ProviderClients
    #: The default provider's sessions: when one ends, marking it active (``/session``).
    sessions: Sessions
    #: Where sessions live (pinged by ``/health``).
    store: SessionStore
    #: The kit's clock (``/health`` judges the providers' latest fetches by it).
    clock: Callable[[], float]

    def routes(self) -> list[Route]:
        """The routes to mount at ``route_prefix``."""
        handlers = KitHandlers(
            rp=self.rp,
            web=self.web,
            clients=self.clients,
            sessions=self.sessions,
            store=self.store,
            clock=self.clock,
        )
        return [
            Route(route.path, _endpoint(handlers, route), methods=_EVERY_METHOD) for route in ROUTES
        ]


def _endpoint(handlers: KitHandlers, route: KitRoute) -> _Endpoint:
    """The Starlette endpoint of ``route``: every method it hears goes to the handlers, which
    answer those the route does not take with the kit's 405."""

    async def endpoint(request: Request) -> Response:
        web = web_request(request)
        if handlers.reads_body(route, web):
            try:
                web = web.with_body(await read_bounded(request))
            except ClientDisconnect:
                return client_gone(request)
        return starlette_response(await handlers.answer(route, web))

    return endpoint


def web_request(request: Request) -> WebRequest:
    """What the kit's routes read of a Starlette ``request`` (its body not read yet): the
    session the middleware loaded, the cookies as the middleware reads them."""
    headers = Headers(
        tuple(
            (name.decode("latin-1"), value.decode("latin-1")) for name, value in request.headers.raw
        )
    )
    return WebRequest(
        method=request.method,
        path=request.url.path,
        query=query_params(request),
        headers=headers,
        cookies=parse_cookies(headers.getlist("cookie")),
        session=request.scope.get(SCOPE_KEY),
        route_params={name: str(value) for name, value in request.path_params.items()},
    )
