"""Starlette (and FastAPI) integration: the ``/auth`` routes, the session middleware, helpers.

    auth = OIDCAuth(OIDCConfig.from_env())
    app = Starlette(
        routes=[Mount("/auth", routes=auth.routes), ...],
        middleware=[auth.middleware],
        exception_handlers=auth.exception_handlers,
        lifespan=lambda app: auth,          # opens and closes the store and HTTP client
    )

In a handler: ``request.user`` is an :class:`OIDCUser` once logged in; ``@login_required``
protects an endpoint; ``auth.httpx_auth(request)`` calls an API with the user's token.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any
from urllib.parse import urlencode

import httpx
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, HTTPConnection, Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from ._auth_params import login_params_from_query
from ._body import client_gone, read_form
from ._clients import ProviderClient, ProviderClients, named_configs
from ._config import OIDCConfig
from ._dpop import DPoPNonces, load_key
from ._errors import (
    InvalidLoginRequest,
    LoginRequired,
    OIDCError,
    SessionError,
)
from ._form_post import needs_repost, repost_page, without_marker
from ._login_required import login_required
from ._logout_routes import LogoutRoutes
from ._middleware import AUTH_KEY, SCOPE_KEY, OIDCSessionMiddleware, OIDCUser
from ._refresh import TokenManager
from ._session import CookieSigner, Session, new_id
from ._step_up import StepUp
from ._tokens import TokenSet
from ._web import error_response, is_same_origin, origin_of, safe_next_path, wants_json
from .httpx_auth import SessionAuth
from .stores import SessionStore, open_store

__all__ = ["OIDCAuth", "OIDCUser", "login_required", "same_origin"]

log = logging.getLogger("oidc_kit")


class OIDCAuth:
    """OpenID Connect login for one Starlette app: routes, middleware, tokens for API calls."""

    def __init__(
        self,
        config: OIDCConfig | Mapping[str, OIDCConfig],
        *,
        http_client: httpx.AsyncClient | None = None,
        store: SessionStore | None = None,
        json_paths: Sequence[str] = ("/api/",),
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``config`` is one provider's settings, or several by name (``{"portx": ...,
        "corp": ...}``; the first is the default, ``/auth/login?provider=corp`` picks another).
        """
        configs = named_configs(config)
        self.config = next(iter(configs.values()))
        self._clock = clock
        self._owns_http = http_client is None
        self.http = http_client or httpx.AsyncClient(timeout=self.config.http_timeout)
        self._owns_store = store is None
        self.store = store if store is not None else open_store(self.config.session_store)
        #: Each configured provider by name, the default first.
        self.clients = ProviderClients(configs, store=self.store, http=self.http, clock=clock)
        default = self.clients.default
        self.provider = default.provider
        self.sessions = default.sessions
        self.flow = default.flow
        self.tokens = default.tokens
        self.cookies = CookieSigner(self.config.session_secrets, self.config.login_timeout)
        prefix = "__Host-" if self.config.secure_cookies else ""
        self.session_cookie = prefix + self.config.cookie_name
        self.login_cookie = prefix + self.config.login_cookie_name
        self.logout_cookie = prefix + "oidc_logout"
        self.logout_routes = LogoutRoutes(self, clock)
        self.json_paths = tuple(json_paths)
        self._origin = origin_of(self.config.base_url)
        #: The APIs' DPoP nonces, apart from the providers': an API on a provider's host
        #: has nonces of its own, and sharing one slot would cost a retry per call.
        self.api_nonces = DPoPNonces()

    @property
    def default_client(self) -> ProviderClient:
        """The first provider (``/auth/login`` without ``provider=``)."""
        return self.clients.default

    def client_for(self, session: Session) -> ProviderClient:
        """The provider a session came from (by its issuer)."""
        return self.clients.for_session(session)

    # -- wiring -------------------------------------------------------------------------

    @property
    def routes(self) -> list[Route]:
        """The routes to mount at ``/auth``."""
        return [
            Route("/login", self._login, methods=["GET"]),
            Route("/callback", self._callback, methods=["GET", "POST"]),
            Route("/callback/{provider}", self._callback, methods=["GET", "POST"]),
            Route("/logout", self._logout, methods=["GET", "POST"]),
            Route("/session", self._session, methods=["GET"]),
            Route("/backchannel-logout", self.logout_routes.backchannel, methods=["POST"]),
            Route("/jwks", self._jwks, methods=["GET"]),
        ]

    @property
    def middleware(self) -> Middleware:
        """The session middleware, for ``Starlette(middleware=[...])``."""
        return Middleware(OIDCSessionMiddleware, auth=self)

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

    def httpx_auth(self, conn: HTTPConnection) -> httpx.Auth:
        """An ``httpx.Auth`` calling APIs with this request's user's access token."""
        session = _require_session(conn)
        client = self.client_for(session)
        source = _SessionTokens(client.tokens, session)
        return SessionAuth(source, self.api_nonces, self._clock)

    async def access_token(self, conn: HTTPConnection) -> str:
        """The user's access token, refreshed first when due. Keep it out of pages and logs.

        A DPoP-bound token (``dpop``, ``profile="fapi2"``) is useless without a proof of the
        session's key, which never leaves the kit: call APIs through :meth:`httpx_auth`.
        """
        session = _require_session(conn)
        return (await self.client_for(session).tokens.tokens(session)).access_token

    async def token_status(self, conn: HTTPConnection) -> dict[str, Any]:
        """What a profile page may show about the tokens: never a token itself."""
        # Re-read: a refresh earlier in this request stored newer tokens than the scope's.
        current = _require_session(conn)
        session = await self.sessions.load(current.sid) or current
        tokens = self.sessions.tokens(session)
        client = self.client_for(session)
        return {
            "sub": session.sub,
            "claims": session.claims,
            "expires_at": tokens.expires_at,
            "scope": tokens.scope,
            "has_refresh_token": tokens.refresh_token is not None,
            "token_type": tokens.scheme,
            "dpop_jkt": load_key(tokens.dpop_key).thumbprint if tokens.dpop_key else None,
            "profile": client.config.profile,
            "provider": client.name,
        }

    async def refresh_now(self, conn: HTTPConnection) -> None:
        """Refresh the user's access token now (a "refresh now" button)."""
        session = _require_session(conn)
        await self.client_for(session).tokens.refresh(session)

    def session_cookie_for(self, sid: str) -> str:
        """A ``Set-Cookie`` value naming session ``sid``, signed with the newest secret."""
        response = Response()
        self._set_session_cookie(response, sid)
        return response.headers["set-cookie"]

    def expired_cookie(self, name: str) -> str:
        """A ``Set-Cookie`` value deleting cookie ``name``."""
        response = Response()
        self.delete_cookie(response, name)
        return response.headers["set-cookie"]

    # -- routes -------------------------------------------------------------------------

    async def _login(self, request: Request) -> Response:
        try:
            step_up = StepUp.from_query(_query_params(request))
            hints = login_params_from_query(_query_params(request))
        except OIDCError as exc:
            return error_response(request, exc, self.json_paths)
        name = request.query_params.get("provider")
        client = self.clients.default if name is None else self.clients.get(name)
        if client is None:
            refusal = InvalidLoginRequest("no provider of that name is configured")
            return error_response(request, refusal, self.json_paths)
        next_path = safe_next_path(request.query_params.get("next"))
        existing = request.cookies.get(self.login_cookie)
        # A fresh binding at every start, never one read from a cookie: a cookie planted in
        # the victim's browser (http, no __Host- prefix) must not bind the victim's login to
        # a binding the planter holds. The cookie keeps the browser's last few bindings, so
        # logins started in several tabs all complete.
        binding = new_id()
        bindings = [binding, *(self.cookies.login_bindings(existing) if existing else [])]
        url = await client.flow.start(
            binding,
            next_path,
            max_age=step_up.max_age,
            acr_values=step_up.acr_values,
            prompt=step_up.prompt,
            login_params=hints,
        )
        response = RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})
        self.set_cookie(
            response,
            self.login_cookie,
            self.cookies.sign_login_bindings(bindings),
            max_age=self.config.login_timeout,
            cross_site=self._cross_site_login_cookie,
        )
        return response

    async def _callback(self, request: Request) -> Response:
        # The login cookie is left alone, failure or success: it holds the browser's recent
        # bindings, which the logins of other tabs still need (it expires after login_timeout).
        # A failed callback ends at most the transaction its own state names, and only when
        # this browser started it (LoginFlow.take).
        raw = request.cookies.get(self.login_cookie)
        try:
            params = await _callback_params(request)
            if needs_repost(request.method, params, raw is not None, self.config.response_mode):
                # A cross-site form_post without our SameSite=Lax cookie: once more, same-origin.
                arrived_at = self.clients.at_redirect_uri(request.path_params.get("provider"))
                return repost_page(arrived_at.flow.redirect_uri, params)
            bindings = self.cookies.login_bindings(raw) if raw else []
            params = without_marker(params)
            txn = await self.flow.take(params, bindings)
            client = self.clients.for_transaction(txn, request.path_params.get("provider"))
            result = await client.flow.complete(txn, params)
        except ClientDisconnect:
            return client_gone(request)
        except OIDCError as exc:
            log.info("login failed: %s", exc.code)
            return error_response(request, exc, self.json_paths)
        old: Session | None = request.scope.get(SCOPE_KEY)
        if old is not None:
            await self.sessions.delete(old.sid)  # a new id at every login
        session = await client.sessions.create(result.tokens, result.claims, result.provider_sid)
        log.info("login succeeded for sub=%s", session.sub)
        response = RedirectResponse(result.next_path, status_code=303)
        self._set_session_cookie(response, session.sid)
        return response

    async def _logout(self, request: Request) -> Response:
        # HEAD too shows the page: Starlette answers HEAD on GET routes, and a HEAD (a link
        # checker, a prefetch) must never log anyone out.
        if request.method in ("GET", "HEAD"):
            return await self.logout_routes.confirm(request)
        return await self.logout_routes.logout(request)

    async def _session(self, request: Request) -> Response:
        session: Session | None = request.scope.get(SCOPE_KEY)
        headers = {"Cache-Control": "no-store"}
        if session is None:
            return JSONResponse({"authenticated": False}, status_code=401, headers=headers)
        body = {
            "authenticated": True,
            "sub": session.sub,
            "claims": session.claims,
            "expires_at": session.access_expires_at,
        }
        return JSONResponse(body, headers=headers)

    async def _jwks(self, request: Request) -> Response:
        """The client's public keys (of every provider's ``client_key``), for a provider
        verifying ``private_key_jwt``."""
        jwks = self.clients.public_jwks()
        if jwks is None:
            return JSONResponse({"error": "not_found"}, status_code=404)
        return JSONResponse(jwks, headers={"Cache-Control": "public, max-age=300"})

    async def _handle_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, OIDCError)
        if isinstance(exc, SessionError):
            if request.method in ("GET", "HEAD") and not wants_json(request, self.json_paths):
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                response: Response = RedirectResponse(
                    "/auth/login?" + urlencode(self._login_params(request, target)),
                    status_code=303,
                    headers={"Cache-Control": "no-store"},
                )
            else:
                response = error_response(request, exc, self.json_paths)
            if request.scope.get(SCOPE_KEY) is not None:
                self.delete_cookie(response, self.session_cookie)
            return response
        if exc.status >= 500:
            log.warning("request failed: %s", exc)
        return error_response(request, exc, self.json_paths)

    def _login_params(self, request: Request, target: str) -> dict[str, str]:
        """Log in again where the ended session came from."""
        params = {"next": target}
        session: Session | None = request.scope.get(SCOPE_KEY)
        client = self.clients.by_issuer(session.iss) if session is not None else None
        name = self.clients.login_name(client) if client is not None else None
        if name is not None:
            params["provider"] = name
        return params

    # -- cookies ------------------------------------------------------------------------

    @property
    def _cross_site_login_cookie(self) -> bool:
        """A form_post callback is a cross-site POST: on https the login cookie is then
        ``SameSite=None; Secure`` so that browsers send it (on http, where ``SameSite=None``
        needs ``Secure``, the same-origin re-post of :mod:`oidc_kit._form_post` covers it)."""
        return self.config.response_mode == "form_post" and self.config.secure_cookies

    def set_cookie(
        self, response: Response, name: str, value: str, *, max_age: int, cross_site: bool = False
    ) -> None:
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            path="/",
            httponly=True,
            secure=self.config.secure_cookies or cross_site,
            samesite="none" if cross_site else "lax",
        )

    def _set_session_cookie(self, response: Response, sid: str) -> None:
        value = self.cookies.sign_session(sid)
        max_age = self.config.session_absolute_timeout
        self.set_cookie(response, self.session_cookie, value, max_age=max_age)

    def delete_cookie(self, response: Response, name: str, *, cross_site: bool = False) -> None:
        response.delete_cookie(
            name,
            path="/",
            httponly=True,
            secure=self.config.secure_cookies or cross_site,
            samesite="none" if cross_site else "lax",
        )


class _SessionTokens:
    """A :class:`~oidc_kit.httpx_auth.TokenSetSource` over one request's session."""

    def __init__(self, manager: TokenManager, session: Session) -> None:
        self._manager = manager
        self._session = session

    async def tokens(self) -> TokenSet:
        return await self._manager.tokens(self._session)

    async def refreshed(self, rejected: str) -> TokenSet:
        return await self._manager.refresh(self._session, rejected)


def _require_session(conn: HTTPConnection) -> Session:
    session: Session | None = conn.scope.get(SCOPE_KEY)
    if session is None:
        raise LoginRequired("log in to continue")
    return session


def _query_params(request: Request) -> dict[str, list[str]]:
    return {k: request.query_params.getlist(k) for k in request.query_params}


async def _callback_params(request: Request) -> Mapping[str, Sequence[str]]:
    """The authorization response: the query string, or the form body for form_post (bounded:
    413 ``request_too_large`` or 415 ``unsupported_media_type`` before anything is parsed)."""
    if request.method == "POST":
        return await read_form(request)
    return _query_params(request)


def same_origin(request: HTTPConnection) -> bool:
    """False when ``Origin``/``Sec-Fetch-Site`` show a cross-site request (use on POST forms).

    Compared with ``APP_BASE_URL`` (authoritative: ``Host`` and forwarded headers are not
    trusted) when the session middleware runs, else with the request's own origin.
    """
    auth: OIDCAuth | None = request.scope.get(AUTH_KEY)
    origin = origin_of(auth.config.base_url if auth else str(request.base_url))
    return is_same_origin(request, origin)
