"""Starlette (and FastAPI) integration: the ``/auth`` routes, the session middleware, helpers.

    auth = OIDCAuth(OIDCConfig.from_env())
    app = Starlette(
        routes=[auth.mount, ...],           # the kit's routes at OIDC_ROUTE_PREFIX (/auth)
        middleware=[auth.middleware],
        exception_handlers=auth.exception_handlers,
        lifespan=auth.lifespan,             # closes the store and HTTP client
    )

In a handler: ``request.user`` is an :class:`OIDCUser` once logged in; ``@login_required``
protects an endpoint; ``auth.httpx_auth(request)`` calls an API with the user's token.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from os import PathLike
from types import MappingProxyType, TracebackType
from typing import Any

import httpx
import jinja2
from starlette.middleware import Middleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from ._clients import ProviderClient
from ._config import OIDCConfig
from ._errors import LoginRequired, OIDCError, SessionError, StepUpRequired
from ._hooks import Hooks
from ._introspection import TokenIntrospection
from ._kit_parts import build_parts
from ._login_required import login_required
from ._middleware import AUTH_KEY, SCOPE_KEY, OIDCSessionMiddleware
from ._outcome import CookieChange
from ._redact import redact_server_logs
from ._relying_party import RelyingParty
from ._routes import KitRoutes
from ._session import Session
from ._starlette_user import OIDCUser
from ._step_up import StepUp
from ._web import is_same_origin, login_redirect, origin_of, wants_json
from ._web_kit import WebKit
from .httpx_auth import BearerAuth
from .stores import SessionStore

__all__ = ["OIDCAuth", "OIDCUser", "login_required", "same_origin"]

log = logging.getLogger("oidc_kit")


class OIDCAuth:
    """OpenID Connect login for one Starlette app: routes, middleware, tokens for API calls."""

    #: The default (first) provider's settings, which hold the app-wide ones.
    config: OIDCConfig
    #: The HTTP client that reaches the providers (and, by default, the APIs).
    http: httpx.AsyncClient
    #: Where sessions and pending logins live.
    store: SessionStore
    #: The framework-neutral relying party this adapter drives (docs/architecture.md).
    rp: RelyingParty
    #: The cookies' names (with the ``__Host-`` prefix on https).
    session_cookie: str
    login_cookie: str
    logout_cookie: str
    #: Path prefixes whose errors are JSON, never a page or a redirect to log in.
    json_paths: tuple[str, ...]

    def __init__(
        self,
        config: OIDCConfig | Mapping[str, OIDCConfig],
        *,
        http_client: httpx.AsyncClient | None = None,
        store: SessionStore | None = None,
        json_paths: Sequence[str] = ("/api/",),
        hooks: Hooks | None = None,
        template_dirs: Sequence[str | PathLike[str]] = (),
        templates: jinja2.Environment | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``config`` is one provider's settings, or several by name (``{"portx": ...,
        "corp": ...}``; the first is the default, ``/auth/login?provider=corp`` picks another).

        ``hooks``: the app's ``on_login`` (add claims, or refuse with ``LoginDenied``),
        ``on_logout`` and ``on_refresh_failed``. ``template_dirs``, or ``templates`` (the app's
        own Jinja2 environment, whose globals and filters the pages then see): searched before
        the kit's own templates for its pages (``oidc_kit/error.html``, ``logout.html``,
        ``denied.html``, ``base.html``).
        ``store``: a session store the app made (closed by the app); ``session_store`` must
        then be unset. Without it, the store ``session_store`` names is opened (and closed).

        It also puts :class:`~oidc_kit.RedactTokens` on uvicorn's access log and the kit's
        logger (once per process): the callback's ``code`` never reaches a log.
        """
        redact_server_logs()  # `uvicorn app:app` logs each request's URL, callback code and all
        self._clock = clock
        # What every adapter builds, built as every adapter does (``_kit_parts.py``).
        parts = build_parts(
            config,
            WebKit,
            http_client=http_client,
            store=store,
            json_paths=json_paths,
            hooks=hooks,
            template_dirs=template_dirs,
            templates=templates,
            clock=clock,
        )
        self.config = parts.config
        self._owns_http = parts.owns_http
        self.http = parts.http
        self._owns_store = parts.owns_store
        self.store = parts.store
        self.rp = parts.rp
        # The core's parts, for the FastAPI dependencies and for tests; not API (the
        # middleware and login_required see only the WebKit below). The provider, flow and
        # tokens are the default's.
        self._clients = self.rp._clients
        default = self._clients.default
        self._provider = default.provider
        self._sessions = default.sessions
        self._flow = default.flow
        self._tokens = default.tokens
        self._cookies = self.rp._cookies
        self.session_cookie = self.rp.session_cookie
        self.login_cookie = self.rp.login_cookie
        self.logout_cookie = self.rp.logout_cookie
        self.json_paths = parts.web.json_paths
        # What the middleware and login_required need, and the rendering the routes share.
        self._web = parts.web
        self._api_nonces = parts.api_nonces
        # The kit's HTTP routes, given what they use and nothing more (``_routes.py``).
        self._routes = KitRoutes(
            rp=self.rp,
            web=self._web,
            clients=self._clients,
            sessions=self._sessions,
            store=self.store,
            clock=clock,
        )

    @property
    def providers(self) -> Mapping[str, OIDCConfig]:
        """Each configured provider's settings by name, the default (first) one first
        (``"default"`` is the name of a lone provider)."""
        return MappingProxyType({name: client.config for name, client in self._clients.items()})

    def redirect_uri(self, provider: str | None = None) -> str:
        """The redirect URI to register with ``provider`` (default: the first provider):
        ``{base_url}{route_prefix}/callback``, or ``.../callback/NAME`` for each other one;
        ``KeyError`` for a name that is not configured."""
        client = self._clients.default if provider is None else self._clients.get(provider)
        if client is None:
            raise KeyError(provider)
        return client.flow.redirect_uri

    def _client_for(self, session: Session) -> ProviderClient:
        """The provider a session came from (by its issuer)."""
        return self._clients.for_session(session)

    # -- wiring -------------------------------------------------------------------------

    @property
    def routes(self) -> list[Route]:
        """The routes to mount at ``route_prefix`` (see :attr:`mount`)."""
        return self._routes.routes()

    @property
    def middleware(self) -> Middleware:
        """The session middleware, for ``Starlette(middleware=[...])``."""
        return Middleware(OIDCSessionMiddleware, kit=self._web, owner=self)

    @property
    def exception_handlers(self) -> dict[Any, Callable[[Request, Exception], Awaitable[Response]]]:
        """Renders every :class:`OIDCError` as a 4xx/5xx answer (JSON or a page)."""
        return {OIDCError: self._handle_error}

    async def __aenter__(self) -> OIDCAuth:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    @asynccontextmanager
    async def lifespan(self, app: object) -> AsyncIterator[None]:
        """The app's lifespan: ``Starlette(lifespan=auth.lifespan)`` or
        ``FastAPI(lifespan=auth.lifespan)`` closes the kit's store and HTTP client on shutdown.
        (Passing ``auth`` itself would not do: Starlette takes what a lifespan yields as
        ``request.state`` values.)"""
        try:
            yield
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        """Close the store and the HTTP client, if this object made them."""
        if self._owns_store:
            await self.store.close()
        if self._owns_http:
            await self.http.aclose()

    # -- for handlers -------------------------------------------------------------------

    def httpx_auth(self, conn: HTTPConnection) -> BearerAuth:
        """:class:`~oidc_kit.BearerAuth` calling APIs with this request's user's access token
        (DPoP-bound when the session's provider says so): refreshed first when due, and once
        more, with one retry, when the API answers 401. :class:`~oidc_kit.LoginRequired`
        without a session."""
        session = _require_session(conn)
        return BearerAuth(self.rp.token_source(session), nonces=self._api_nonces, clock=self._clock)

    async def access_token(self, conn: HTTPConnection) -> str:
        """The user's access token, refreshed first when due. Keep it out of pages and logs.

        A DPoP-bound token (``dpop``, ``profile="fapi2"``) is useless without a proof of the
        session's key, which never leaves the kit: call APIs through :meth:`httpx_auth`.
        """
        session = _require_session(conn)
        return (await self.rp.token_source(session).tokens()).access_token

    async def token_status(self, conn: HTTPConnection) -> dict[str, Any]:
        """What a profile page may show about the tokens: never a token itself
        (:meth:`RelyingParty.token_status <oidc_kit._relying_party.RelyingParty.token_status>`
        lists the keys)."""
        return await self.rp.token_status(_require_session(conn))

    async def introspect(self, conn: HTTPConnection) -> TokenIntrospection:
        """Whether the user's access token is still active at the provider (RFC 7662;
        :meth:`RelyingParty.introspect <oidc_kit._relying_party.RelyingParty.introspect>`):
        never the token itself. :class:`~oidc_kit.IntrospectionFailed` without an answer."""
        return await self.rp.introspect(_require_session(conn))

    async def refresh_now(self, conn: HTTPConnection) -> None:
        """Refresh the user's access token now (a "refresh now" button)."""
        session = _require_session(conn)
        await self._client_for(session).tokens.refresh(session)

    async def revoke_user(self, sub: str, provider: str | None = None) -> int:
        """End every session of user ``sub`` at ``provider`` (a name; the default provider),
        on every instance sharing the store, their tokens revoked at the provider; how many
        ended (for operators: each is a ``session.revoked`` event, reason ``operator``)."""
        return await self.rp.revoke_user(sub, provider)

    def session_ends_at(self, conn: HTTPConnection) -> tuple[float, float]:
        """When the user's session ends, epoch seconds: ``(idle, absolute)``, whichever comes
        first (``GET /auth/session``'s ``idle_expires_at`` and ``absolute_expires_at``). The
        idle end moves on as the user's requests come, at most once a minute, or at once with
        ``POST /auth/session``; for a page warning before it (the example app's
        ``static/idle.js``)."""
        return self._sessions.ends_at(_require_session(conn))

    async def _handle_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, OIDCError)
        session: Session | None = request.scope.get(SCOPE_KEY)
        if isinstance(exc, SessionError):
            response: Response
            if request.method in ("GET", "HEAD") and not wants_json(request, self.json_paths):
                # Log in again where the ended session came from.
                provider = self.rp.login_provider(session)
                response = login_redirect(request, self.config.route_prefix, provider)
            else:
                response = self._web.error_response(request, exc)
            if session is not None:
                self._web.cookies.apply(response, CookieChange(self.session_cookie, None))
            return response
        if isinstance(exc, StepUpRequired) and exc.requirements:
            # Raised with the route's requirements (FastAPI's ``requires_step_up``): a browser
            # GET logs in again with them; anything else gets the 401 and its challenge.
            step_up = replace(
                StepUp.for_route(max_age=exc.max_age, acr_values=exc.acr_values, prompt=exc.prompt),
                authorization_details=exc.authorization_details,
            )
            return self._web.step_up_response(request, step_up, session)
        if exc.status >= 500:
            log.warning("request failed: %s", exc)
        return self._web.error_response(request, exc)

    @property
    def mount(self) -> Mount:
        """The kit's routes at ``route_prefix`` (``OIDC_ROUTE_PREFIX``, default ``/auth``), for
        ``Starlette(routes=[auth.mount, ...])``."""
        return Mount(self.config.route_prefix, routes=self.routes)


def _require_session(conn: HTTPConnection) -> Session:
    session: Session | None = conn.scope.get(SCOPE_KEY)
    if session is None:
        raise LoginRequired("log in to continue")
    return session


def same_origin(request: HTTPConnection) -> bool:
    """False when ``Origin``/``Sec-Fetch-Site`` show a cross-site request (use on POST forms).

    Compared with ``APP_BASE_URL`` (authoritative: ``Host`` and forwarded headers are not
    trusted) when the session middleware runs, else with the request's own origin.
    """
    auth: OIDCAuth | None = request.scope.get(AUTH_KEY)
    origin = auth._web.origin if auth else origin_of(str(request.base_url))
    return is_same_origin(request, origin)
