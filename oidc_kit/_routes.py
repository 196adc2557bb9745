"""The kit's HTTP routes on Starlette (``/auth/login``, ``/auth/callback``, ``/auth/logout``...):
each reads its request into a :class:`~oidc_kit.RelyingParty` step and renders the outcome.

:class:`~oidc_kit.starlette.OIDCAuth` builds one :class:`KitRoutes` from exactly what the
handlers use (the relying party, the :class:`~oidc_kit._web_kit.WebKit`, the providers, the
default provider's sessions, the store) and mounts its :meth:`KitRoutes.routes`; like the
middleware, this never sees the whole ``OIDCAuth`` (``tests/test_layering.py``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ._body import FORM_TYPE, client_gone, read_body, read_form
from ._clients import ProviderClients
from ._errors import CrossSiteRequest, LoginRequired, MethodNotAllowed, OIDCError
from ._health import health
from ._middleware import SCOPE_KEY
from ._outcome import Outcome
from ._relying_party import RelyingParty
from ._session import Session, Sessions
from ._web import callback_params, is_same_origin, query_params, safe_next_path, wants_json
from ._web_kit import WebKit
from .stores import SessionStore

__all__ = ["KitRoutes"]

_Endpoint = Callable[[Request], Awaitable[Response]]
#: The methods a kit route hears, to refuse those it does not take in the kit's own words.
_EVERY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


@dataclass(frozen=True, slots=True)
class KitRoutes:
    """The handlers of the routes an app mounts at ``route_prefix``."""

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
        return [
            self._route("/login", self._login, "GET"),
            self._route("/callback", self._callback, "GET", "POST"),
            self._route("/callback/{provider}", self._callback, "GET", "POST"),
            self._route("/logout", self._logout, "GET", "POST"),
            self._route("/session", self._session, "GET", "POST", machine=True),
            self._route("/backchannel-logout", self._backchannel, "POST", machine=True),
            self._route("/sessions", self._sessions_list, "GET", machine=True),
            self._route("/sessions/{handle}/revoke", self._revoke, "POST"),
            self._route("/jwks", self._jwks, "GET", machine=True),
            self._route("/health", self._health, "GET", machine=True),
        ]

    def _route(self, path: str, endpoint: _Endpoint, *methods: str, machine: bool = False) -> Route:
        """``path`` answered by ``endpoint`` for ``methods`` (``HEAD`` with ``GET``), and any
        other method by the kit's 405 ``method_not_allowed``, with ``Allow``: the same error
        shape as every other refusal, not Starlette's plain-text one (always JSON on a
        ``machine`` route, which no browser shows)."""
        allowed = frozenset(methods) | ({"HEAD"} if "GET" in methods else set())
        allow = ", ".join(sorted(allowed))

        async def only_allowed(request: Request) -> Response:
            if request.method not in allowed:
                refusal = MethodNotAllowed(f"{request.method} is not allowed here")
                response: Response = (
                    JSONResponse(refusal.as_dict(), refusal.status)
                    if machine
                    else self.web.error_response(request, refusal)
                )
                response.headers["Allow"] = allow
                response.headers["Cache-Control"] = "no-store"
                return response
            return await endpoint(request)

        return Route(path, only_allowed, methods=_EVERY_METHOD)

    async def _login(self, request: Request) -> Response:
        outcome = await self.rp.start_login(query_params(request), request.cookies)
        return self.web.respond(request, outcome)

    async def _callback(self, request: Request) -> Response:
        try:
            params = await callback_params(request)
        except ClientDisconnect:
            return client_gone(request)
        except OIDCError as exc:
            return self.web.error_response(request, exc)
        outcome = await self.rp.finish_login(
            request.method,
            params,
            request.cookies,
            request.scope.get(SCOPE_KEY),
            request.path_params.get("provider"),
        )
        return self.web.respond(request, outcome)

    async def _logout(self, request: Request) -> Response:
        # HEAD too shows the page: Starlette answers HEAD on GET routes, and a HEAD (a link
        # checker, a prefetch) must never log anyone out.
        if request.method in ("GET", "HEAD"):
            return self.web.respond(request, self.rp.confirm_logout())
        same_origin = is_same_origin(request, self.web.origin)
        form = await self._post_form(request) if same_origin else {}  # cross-site: unread
        if isinstance(form, Response):
            return form
        everywhere = "1" in _values(request, form, "everywhere")
        session: Session | None = request.scope.get(SCOPE_KEY)
        outcome = await self.rp.logout(session, same_origin=same_origin, everywhere=everywhere)
        return self.web.respond(request, outcome)

    async def _post_form(self, request: Request) -> dict[str, list[str]] | Response:
        """The fields of a POST whose body only may hold a form (logout, revoke): read bounded
        (413), a body of another type ignored; the answer instead when reading failed."""
        try:
            media_type = request.headers.get("content-type", "").partition(";")[0]
            if media_type.strip().lower() == FORM_TYPE:
                return await read_form(request)
            await read_body(request)
            return {}
        except ClientDisconnect:
            return client_gone(request)
        except OIDCError as exc:
            return self.web.error_response(request, exc)

    async def _sessions_list(self, request: Request) -> Response:
        """``GET /auth/sessions``: the user's live sessions, newest first; 401 without one."""
        session: Session | None = request.scope.get(SCOPE_KEY)
        if session is None:
            refusal = LoginRequired("log in to see your sessions")
            return self.web.respond(request, Outcome(401, error=refusal, machine=True))
        listed = [info.as_dict() for info in await self.rp.user_sessions(session)]
        return JSONResponse({"sessions": listed}, headers={"Cache-Control": "no-store"})

    async def _revoke(self, request: Request) -> Response:
        """``POST /auth/sessions/{handle}/revoke``: 303 to ``next`` (a form), 200
        ``{"revoked": true}`` (JSON callers); 403, 401 or 404 ``unknown_session`` else."""
        same_origin = is_same_origin(request, self.web.origin)
        form = await self._post_form(request) if same_origin else {}  # cross-site: unread
        if isinstance(form, Response):
            return form
        session: Session | None = request.scope.get(SCOPE_KEY)
        handle = request.path_params["handle"]
        outcome = await self.rp.revoke_session(session, handle, same_origin=same_origin)
        if outcome.error is None and wants_json(request, self.web.json_paths):
            response = JSONResponse({"revoked": True}, headers={"Cache-Control": "no-store"})
            for cookie in outcome.cookies:
                self.web.cookies.apply(response, cookie)
            return response
        if outcome.error is None:
            next_path = _values(request, form, "next")
            location = safe_next_path(next_path[0] if next_path else None)
            outcome = replace(outcome, status=303, location=location)
        return self.web.respond(request, outcome)

    async def _backchannel(self, request: Request) -> Response:
        """``POST /auth/backchannel-logout``: 200 when the token is valid, else 400 (413 or 415
        for a body too large or not form-encoded, refused unread)."""
        try:
            form = await read_form(request)
        except ClientDisconnect:
            return client_gone(request)
        except OIDCError as exc:
            outcome = Outcome(exc.status, error=exc, machine=True)
        else:
            outcome = await self.rp.backchannel_logout(form)
        return self.web.respond(request, outcome)

    async def _session(self, request: Request) -> Response:
        """``GET``: who is logged in, when the access token expires (``expires_at``) and when
        the session ends (``idle_expires_at``, ``absolute_expires_at``); never a token.
        ``POST``: the same, once the session is marked active now (a "Stay signed in"
        button: the idle timeout starts again); refused cross-site (403), as logout is.
        Without a session: 401 ``{"authenticated": false}``."""
        session: Session | None = request.scope.get(SCOPE_KEY)
        if request.method == "POST":
            if not is_same_origin(request, self.web.origin):  # refused unread
                refusal = CrossSiteRequest("cross-site session extension refused")
                outcome = Outcome(refusal.status, error=refusal, machine=True)
                return self.web.respond(request, outcome)
            try:
                await read_body(request)  # nothing in it is used, but it is never read unbounded
            except ClientDisconnect:
                return client_gone(request)
            except OIDCError as exc:
                return self.web.respond(request, Outcome(exc.status, error=exc, machine=True))
            if session is not None:
                session = await self.sessions.touch(session.sid)
        headers = {"Cache-Control": "no-store"}
        if session is None:
            return JSONResponse({"authenticated": False}, status_code=401, headers=headers)
        idle, absolute = self.sessions.ends_at(session)
        body = {
            "authenticated": True,
            "sub": session.sub,
            "claims": session.claims,
            "expires_at": session.access_expires_at,
            "idle_expires_at": idle,
            "absolute_expires_at": absolute,
        }
        return JSONResponse(body, headers=headers)

    async def _jwks(self, request: Request) -> Response:
        """The client's public keys (of every provider's ``client_key``), for a provider
        verifying ``private_key_jwt``."""
        jwks = self.clients.public_jwks()
        if jwks is None:
            return JSONResponse({"error": "not_found"}, status_code=404)
        return JSONResponse(jwks, headers={"Cache-Control": "public, max-age=300"})

    async def _health(self, request: Request) -> Response:
        """200 ``{"status": "ok", "checks": {"store": "ok", "provider": "ok"}}``, or 503 with
        ``"unavailable"`` for the status and each check that failed (``_health.py``)."""
        providers = {name: client.provider for name, client in self.clients.items()}
        report = await health(self.store, providers, clock=self.clock)
        headers = {"Cache-Control": "no-store"}
        if request.method == "HEAD":
            return Response(status_code=report.status_code, headers=headers)
        return JSONResponse(report.body(), status_code=report.status_code, headers=headers)


def _values(request: Request, form: Mapping[str, Sequence[str]], name: str) -> list[str]:
    """A POST's values of ``name``: its form's, then its query string's."""
    return [*form.get(name, ()), *request.query_params.getlist(name)]
