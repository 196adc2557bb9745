"""The kit's HTTP routes (``/auth/login``, ``/auth/callback``, ``/auth/logout``...), written once
in no web framework's terms: a :class:`~oidc_kit._exchange.WebRequest` in, a
:class:`~oidc_kit._exchange.WebResponse` out (framework-neutral).

:data:`ROUTES` is the table: each route's path under the prefix (``{name}`` for a path
parameter), the methods it takes, whether its errors are always JSON (``machine``) and whether
it reads a body. An adapter translates, and nothing more:

1. find the route (its own router over :data:`ROUTES`, or :meth:`KitHandlers.match`) and put
   its path parameters in the request;
2. when :meth:`KitHandlers.reads_body` says so, read the body within
   ``_body_rules.MAX_BODY`` (a declared ``Content-Length`` over it refused unread, a chunked
   one counted), or mark it :attr:`~oidc_kit._exchange.BodyMark.TOO_LARGE`; a body that is not
   read stays :attr:`~oidc_kit._exchange.BodyMark.UNREAD` (a cross-site logout is refused
   without reading it);
3. send what :meth:`KitHandlers.answer` returns. A ``HEAD`` is answered as its ``GET`` with
   the body: the adapter's server leaves the body out.

A method a route does not take is the kit's 405 ``method_not_allowed``, with ``Allow``: the
same error shape as every other refusal, always JSON on a ``machine`` route (no browser shows
those).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from ._answers import NO_STORE, WebAnswers
from ._body_rules import optional_form, parse_form, too_large
from ._clients import ProviderClients
from ._errors import CrossSiteRequest, LoginRequired, MethodNotAllowed, OIDCError
from ._exchange import BodyMark, WebRequest, WebResponse, empty_response, json_response
from ._health import health
from ._outcome import Outcome
from ._relying_party import RelyingParty
from ._session import Sessions
from ._urls import safe_next_path
from .stores import SessionStore

__all__ = ["ROUTES", "BodyRule", "KitHandlers", "KitRoute"]


class BodyRule(enum.Enum):
    """When a route's ``POST`` body is read."""

    NEVER = "never"
    ALWAYS = "always"
    #: Only from the app's own origin: a cross-site POST is refused unread.
    SAME_ORIGIN = "same origin"


_Handler = Callable[["KitHandlers", WebRequest], Awaitable[WebResponse]]


@dataclass(frozen=True, slots=True)
class KitRoute:
    """One of the kit's routes."""

    #: Its path under the route prefix, ``{name}`` for a path parameter (one path segment).
    path: str
    handler: _Handler
    #: The methods it takes (``HEAD`` with ``GET``).
    methods: frozenset[str]
    #: Its errors are always JSON, never a page (no browser shows them).
    machine: bool = False
    body: BodyRule = BodyRule.NEVER

    @property
    def allow(self) -> str:
        """The ``Allow`` header of its 405."""
        return ", ".join(sorted(self.methods))

    def match(self, subpath: str) -> dict[str, str] | None:
        """The path parameters when ``subpath`` is this route's, else ``None``."""
        found = _pattern(self.path).fullmatch(subpath)
        return None if found is None else found.groupdict()


@dataclass(frozen=True, slots=True)
class KitHandlers:
    """The handlers of the routes an app mounts at ``route_prefix``."""

    #: The framework-neutral relying party whose steps the routes call.
    rp: RelyingParty
    #: How the answers look on the web (pages, cookies, JSON paths, the app's origin).
    web: WebAnswers
    #: The providers by name: their client keys (``/jwks``) and health (``/health``).
    clients: ProviderClients
    #: The default provider's sessions: when one ends, marking it active (``/session``).
    sessions: Sessions
    #: Where sessions live (pinged by ``/health``).
    store: SessionStore
    #: The kit's clock (``/health`` judges the providers' latest fetches by it).
    clock: Callable[[], float]

    @staticmethod
    def match(subpath: str) -> tuple[KitRoute, dict[str, str]] | None:
        """The route at ``subpath`` (the path under the prefix) and its path parameters."""
        for route in ROUTES:
            params = route.match(subpath)
            if params is not None:
                return route, params
        return None

    def reads_body(self, route: KitRoute, request: WebRequest) -> bool:
        """Whether the adapter reads ``request``'s body (bounded) before :meth:`answer`."""
        if request.method != "POST" or route.body is BodyRule.NEVER:
            return False
        return route.body is BodyRule.ALWAYS or self.web.is_same_origin(request)

    async def answer(self, route: KitRoute, request: WebRequest) -> WebResponse:
        """``route``'s answer to ``request`` (its path parameters in ``route_params``, its
        body read when :meth:`reads_body` said so)."""
        if request.method not in route.methods:
            return self._not_allowed(route, request)
        return await route.handler(self, request)

    async def dispatch(self, subpath: str, request: WebRequest) -> WebResponse | None:
        """The answer of the route at ``subpath``; ``None`` when there is none (the adapter's
        404). The body must have been read if the route reads it."""
        found = self.match(subpath)
        if found is None:
            return None
        route, params = found
        return await self.answer(route, replace(request, route_params=params))

    def _not_allowed(self, route: KitRoute, request: WebRequest) -> WebResponse:
        refusal = MethodNotAllowed(f"{request.method} is not allowed here")
        response = (
            json_response(refusal.as_dict(), refusal.status)
            if route.machine
            else self.web.error(request, refusal)
        )
        return response.with_header("Allow", route.allow).with_header(*NO_STORE)

    async def login(self, request: WebRequest) -> WebResponse:
        """``GET /auth/login``: to the provider."""
        outcome = await self.rp.start_login(request.query, request.cookies)
        return self.web.respond(request, outcome)

    async def callback(self, request: WebRequest) -> WebResponse:
        """``GET``/``POST /auth/callback[/{provider}]``: the authorization response (the
        query string, or the form body for form_post: 413 or 415 before it is parsed)."""
        params: Mapping[str, Sequence[str]]
        if request.method == "POST":
            try:
                params = _form(request)
            except OIDCError as exc:
                return self.web.error(request, exc)
        else:
            params = request.query
        outcome = await self.rp.finish_login(
            request.method,
            params,
            request.cookies,
            request.session,
            request.route_params.get("provider"),
        )
        return self.web.respond(request, outcome)

    async def logout(self, request: WebRequest) -> WebResponse:
        """``GET``: the confirmation page; ``POST``: the session ended (403 cross-site)."""
        # HEAD too shows the page: a HEAD (a link checker, a prefetch) must never log anyone
        # out.
        if request.method in ("GET", "HEAD"):
            return self.web.respond(request, self.rp.confirm_logout())
        same_origin = self.web.is_same_origin(request)
        form = self._post_form(request) if same_origin else {}  # cross-site: unread
        if isinstance(form, WebResponse):
            return form
        everywhere = "1" in _values(request, form, "everywhere")
        outcome = await self.rp.logout(
            request.session, same_origin=same_origin, everywhere=everywhere
        )
        return self.web.respond(request, outcome)

    def _post_form(self, request: WebRequest) -> dict[str, list[str]] | WebResponse:
        """The fields of a POST whose body only may hold a form (logout, revoke): read bounded
        (413), a body of another type ignored; the answer instead when it is refused."""
        try:
            return optional_form(_body(request), request.headers.get("content-type"))
        except OIDCError as exc:
            return self.web.error(request, exc)

    async def sessions_list(self, request: WebRequest) -> WebResponse:
        """``GET /auth/sessions``: the user's live sessions, newest first; 401 without one."""
        session = request.session
        if session is None:
            refusal = LoginRequired("log in to see your sessions")
            return self.web.respond(request, Outcome(401, error=refusal, machine=True))
        listed = [info.as_dict() for info in await self.rp.user_sessions(session)]
        return json_response({"sessions": listed}, headers=[NO_STORE])

    async def revoke(self, request: WebRequest) -> WebResponse:
        """``POST /auth/sessions/{handle}/revoke``: 303 to ``next`` (a form), 200
        ``{"revoked": true}`` (JSON callers); 403, 401 or 404 ``unknown_session`` else."""
        same_origin = self.web.is_same_origin(request)
        form = self._post_form(request) if same_origin else {}  # cross-site: unread
        if isinstance(form, WebResponse):
            return form
        handle = request.route_params["handle"]
        outcome = await self.rp.revoke_session(request.session, handle, same_origin=same_origin)
        if outcome.error is None and self.web.wants_json(request):
            answer = json_response({"revoked": True}, headers=[NO_STORE])
            return self.web.with_cookies(answer, outcome.cookies)
        if outcome.error is None:
            next_path = _values(request, form, "next")
            location = safe_next_path(next_path[0] if next_path else None)
            outcome = replace(outcome, status=303, location=location)
        return self.web.respond(request, outcome)

    async def backchannel(self, request: WebRequest) -> WebResponse:
        """``POST /auth/backchannel-logout``: 200 when the token is valid, else 400 (413 or 415
        for a body too large or not form-encoded, refused unparsed)."""
        try:
            form = _form(request)
        except OIDCError as exc:
            outcome = Outcome(exc.status, error=exc, machine=True)
        else:
            outcome = await self.rp.backchannel_logout(form)
        return self.web.respond(request, outcome)

    async def session(self, request: WebRequest) -> WebResponse:
        """``GET``: who is logged in, when the access token expires (``expires_at``) and when
        the session ends (``idle_expires_at``, ``absolute_expires_at``); never a token.
        ``POST``: the same, once the session is marked active now (a "Stay signed in"
        button: the idle timeout starts again); refused cross-site (403), as logout is.
        Without a session: 401 ``{"authenticated": false}``."""
        session = request.session
        if request.method == "POST":
            if not self.web.is_same_origin(request):  # refused unread
                refusal = CrossSiteRequest("cross-site session extension refused")
                outcome = Outcome(refusal.status, error=refusal, machine=True)
                return self.web.respond(request, outcome)
            if request.body is BodyMark.TOO_LARGE:  # nothing in it is used, but it is bounded
                exc = too_large()
                return self.web.respond(request, Outcome(exc.status, error=exc, machine=True))
            if session is not None:
                session = await self.sessions.touch(session.sid)
        if session is None:
            return json_response({"authenticated": False}, 401, [NO_STORE])
        idle, absolute = self.sessions.ends_at(session)
        body = {
            "authenticated": True,
            "sub": session.sub,
            "claims": session.claims,
            "expires_at": session.access_expires_at,
            "idle_expires_at": idle,
            "absolute_expires_at": absolute,
        }
        return json_response(body, headers=[NO_STORE])

    async def jwks(self, request: WebRequest) -> WebResponse:
        """The client's public keys (of every provider's ``client_key``), for a provider
        verifying ``private_key_jwt``."""
        jwks = self.clients.public_jwks()
        if jwks is None:
            return json_response({"error": "not_found"}, 404)
        return json_response(jwks, headers=[("Cache-Control", "public, max-age=300")])

    async def health(self, request: WebRequest) -> WebResponse:
        """200 ``{"status": "ok", "checks": {"store": "ok", "provider": "ok"}}``, or 503 with
        ``"unavailable"`` for the status and each check that failed (``_health.py``)."""
        providers = {name: client.provider for name, client in self.clients.items()}
        report = await health(self.store, providers, clock=self.clock)
        if request.method == "HEAD":
            return empty_response(report.status_code, [NO_STORE])
        return json_response(report.body(), report.status_code, [NO_STORE])


def _route(
    path: str,
    handler: _Handler,
    *methods: str,
    machine: bool = False,
    body: BodyRule = BodyRule.NEVER,
) -> KitRoute:
    allowed = frozenset(methods) | ({"HEAD"} if "GET" in methods else set())
    return KitRoute(path, handler, allowed, machine, body)


_SAME_ORIGIN, _ALWAYS = BodyRule.SAME_ORIGIN, BodyRule.ALWAYS

#: The kit's routes, in the order an adapter mounts them.
ROUTES: tuple[KitRoute, ...] = (
    _route("/login", KitHandlers.login, "GET"),
    _route("/callback", KitHandlers.callback, "GET", "POST", body=_ALWAYS),
    _route("/callback/{provider}", KitHandlers.callback, "GET", "POST", body=_ALWAYS),
    _route("/logout", KitHandlers.logout, "GET", "POST", body=_SAME_ORIGIN),
    _route("/session", KitHandlers.session, "GET", "POST", machine=True, body=_SAME_ORIGIN),
    _route("/backchannel-logout", KitHandlers.backchannel, "POST", machine=True, body=_ALWAYS),
    _route("/sessions", KitHandlers.sessions_list, "GET", machine=True),
    _route("/sessions/{handle}/revoke", KitHandlers.revoke, "POST", body=_SAME_ORIGIN),
    _route("/jwks", KitHandlers.jwks, "GET", machine=True),
    _route("/health", KitHandlers.health, "GET", machine=True),
)


def _pattern(path: str) -> re.Pattern[str]:
    """``path`` as a regular expression: each ``{name}`` one non-empty path segment."""
    parts = re.split(r"\{(\w+)\}", path)
    pattern = "".join(
        f"(?P<{part}>[^/]+)" if i % 2 else re.escape(part) for i, part in enumerate(parts)
    )
    return re.compile(pattern)


def _body(request: WebRequest) -> bytes:
    """The body the adapter read: :class:`RequestTooLarge` when it was over the limit."""
    body = request.body
    if body is BodyMark.TOO_LARGE:
        raise too_large()
    if body is BodyMark.UNREAD:
        raise RuntimeError("the adapter did not read the body (KitHandlers.reads_body)")
    assert isinstance(body, bytes)
    return body


def _form(request: WebRequest) -> dict[str, list[str]]:
    """A form body's fields: 413 over the limit or the field cap, 415 another type."""
    return parse_form(_body(request), request.headers.get("content-type"))


def _values(request: WebRequest, form: Mapping[str, Sequence[str]], name: str) -> list[str]:
    """A POST's values of ``name``: its form's, then its query string's."""
    return [*form.get(name, ()), *request.query.get(name, ())]
