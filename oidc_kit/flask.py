"""Flask integration: the ``/auth`` routes, the per-request session step, ``login_required``.

    from flask import Flask
    from oidc_kit.flask import OIDC, current_user, login_required

    app = Flask(__name__)
    oidc = OIDC(app)                      # OIDCConfig.from_env(): OIDC_ISSUER, OIDC_CLIENT_ID...

    @app.get("/")
    @login_required
    def home() -> str:
        return f"Hello {current_user.display_name}"

A thin adapter with no protocol code: the routes are the kit's own (``_handlers.py``), the
session step, the ``login_required`` decisions and the API auth are ``_sync_kit.SyncKit``'s,
over the one async core, reached through the sync bridge (``_bridge.CoreLoop``: one event
loop per process, on a thread of its own, for every request thread of the app).

For every request of the app (not only the kit's routes): the session cookie is read and its
session loaded (``g.oidc_session``, ``current_user``), a stale cookie expired, a cookie signed
with an older secret re-issued, ``Vary: Cookie`` added and ``Cache-Control: no-store`` when
the answer may depend on a session, and the request bound to the audit events it causes. A
store outage answers 503 (the session is kept). This is the only module of the kit that
imports Flask (the ``oidc_kit[flask]`` extra). Views are sync: ``async def`` views (Flask's
``asgiref`` extra) are not supported by ``login_required``.
"""

from __future__ import annotations

import atexit
import functools
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from os import PathLike
from types import MappingProxyType
from typing import Any, Literal, TypeVar, cast, overload

import httpx
import jinja2
from flask import Blueprint, Flask, Response, current_app, g, request
from werkzeug.local import LocalProxy

from ._audit import RequestContext, bind_request, context_of, unbind_request
from ._body_rules import MAX_BODY, declared_too_large, read_counted
from ._config import OIDCConfig
from ._errors import ConfigurationError, OIDCError
from ._exchange import BodyMark, Headers, WebRequest, WebResponse, parse_cookies
from ._handlers import ROUTES, KitRoute
from ._hooks import Hooks
from ._introspection import TokenIntrospection
from ._redact import REDACTED_LOGGERS, redact_server_logs
from ._session import Session
from ._session_user import SessionUser
from ._sync_kit import Begun, SyncKit, ViewRequirements
from .httpx_auth import BearerAuth
from .stores import SessionStore

__all__ = ["OIDC", "AnonymousUser", "User", "current_user", "login_required"]

_F = TypeVar("_F", bound=Callable[..., Any])
R = TypeVar("R")

#: Where an app's kit sits: ``app.extensions["oidc_kit"]``.
EXTENSION = "oidc_kit"
#: The methods a kit route hears, to refuse those it does not take in the kit's own words
#: (listing ``OPTIONS`` also turns off Flask's automatic answer to it, as on Starlette).
_EVERY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
#: The access log of Flask's development server shows each URL: the callback's ``code`` too.
_REDACTED = ("werkzeug", *REDACTED_LOGGERS)


class User(SessionUser):
    """The logged-in user, as ``current_user`` (``_session_user.SessionUser``: ``identity``,
    ``sub``, ``display_name``, ``claims``, ``scopes``); a logged-out request's is an
    :class:`AnonymousUser`."""


class AnonymousUser:
    """Nobody logged in: ``current_user`` of a request without a live session."""

    is_authenticated = False
    identity: str | None = None
    sub: str | None = None
    display_name = ""
    claims: Mapping[str, Any] = MappingProxyType({})
    scopes: tuple[str, ...] = ()


_ANONYMOUS = AnonymousUser()


def _current_user() -> User | AnonymousUser:
    user: User | AnonymousUser = g.get("oidc_user", _ANONYMOUS)
    return user


#: The request's user: a :class:`User` once logged in, else an :class:`AnonymousUser`.
current_user: User | AnonymousUser = cast(Any, LocalProxy(_current_user))


class OIDC:
    """OpenID Connect login for Flask apps: ``OIDC(app)``, or ``oidc.init_app(app)`` later."""

    def __init__(
        self,
        app: Flask | None = None,
        *,
        config: OIDCConfig | Mapping[str, OIDCConfig] | None = None,
        store: SessionStore | None = None,
        http_client: Callable[[], httpx.AsyncClient] | None = None,
        json_paths: Sequence[str] = ("/api/",),
        hooks: Hooks | None = None,
        template_dirs: Sequence[str | PathLike[str]] = (),
        templates: jinja2.Environment | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``config``: one provider's settings or several by name (default:
        ``OIDCConfig.from_env()``, read when an app is initialised). ``store``: a session
        store the app made (and closes); ``http_client``: a factory of the kit's
        ``httpx.AsyncClient``, called on the kit's event loop. The rest as ``OIDCAuth``'s."""
        self._config = config
        self._options: dict[str, Any] = {
            "store": store,
            "http_client": http_client,
            "json_paths": json_paths,
            "hooks": hooks,
            "template_dirs": template_dirs,
            "templates": templates,
            "clock": clock,
        }
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Mount the kit's routes at ``route_prefix`` (``OIDC_ROUTE_PREFIX``, ``/auth``) and
        run the session step on every request of ``app``. Opens nothing yet: the store and
        the kit's event loop start with the first request."""
        config = self._config if self._config is not None else OIDCConfig.from_env()
        redact_server_logs(_REDACTED)
        kit = SyncKit(config, owner="OIDC", **self._options)
        atexit.register(kit.close)  # the store's connections and the loop's thread
        app.extensions[EXTENSION] = kit
        app.register_blueprint(_blueprint(kit.config.route_prefix))
        app.before_request(_begin)
        app.after_request(_finish)
        app.teardown_request(_unbind)
        app.register_error_handler(OIDCError, _on_error)

    def close(self) -> None:
        """Close the current app's store and HTTP client and stop its event loop (done at
        interpreter exit anyway)."""
        _kit().close()

    def httpx_auth(self) -> httpx.Auth:
        """An ``httpx.Auth`` for an ``httpx.Client``, with this request's user's access token:
        refreshed first when due, and once more, with one retry, when the API answers 401
        (DPoP-bound tokens with their proofs). :class:`~oidc_kit.LoginRequired` without a
        session."""
        return _kit().httpx_auth(_session())

    def access_token(self) -> str:
        """This request's user's access token, refreshed first when due. Keep it out of pages
        and logs; a DPoP-bound token needs :meth:`httpx_auth`."""
        return _kit().access_token(_session())

    def token_status(self) -> dict[str, Any]:
        """What a profile page may show about this request's user's tokens, never a token
        itself: ``sub``, ``claims``, ``expires_at``, ``scope``, ``has_refresh_token``,
        ``token_type``, ``dpop_jkt``, ``profile``, ``provider``."""
        return _kit().token_status(_session())

    def introspect(self) -> TokenIntrospection:
        """Whether this request's user's access token is still active at the provider
        (RFC 7662 introspection): never the token itself."""
        return _kit().introspect(_session())

    def async_auth(self) -> BearerAuth:
        """:class:`~oidc_kit.BearerAuth` with this request's user's tokens, for an
        ``httpx.AsyncClient`` that runs on the kit's event loop (:meth:`call`)."""
        return _kit().async_auth(_session())

    def call(self, fn: Callable[..., Awaitable[R]], /, *args: Any) -> R:
        """``await fn(*args)`` on the kit's event loop (an async API client of the app's),
        from a view; the kit's errors it raises are answered as the kit's."""
        return _kit().call(fn, *args)


@overload
def login_required(view: _F, /) -> _F: ...


@overload
def login_required(
    *,
    scopes: str | Sequence[str] = (),
    max_age: int | None = None,
    acr_values: str | Sequence[str] = (),
    prompt: Literal["login"] | None = None,
    claims: Mapping[str, Any] | None = None,
    authorization_details: Sequence[Mapping[str, Any]] | None = None,
) -> Callable[[_F], _F]: ...


def login_required(
    view: _F | None = None,
    /,
    *,
    scopes: str | Sequence[str] = (),
    max_age: int | None = None,
    acr_values: str | Sequence[str] = (),
    prompt: Literal["login"] | None = None,
    claims: Mapping[str, Any] | None = None,
    authorization_details: Sequence[Mapping[str, Any]] | None = None,
) -> _F | Callable[[_F], _F]:
    """Protect a view: browsers are sent to log in, JSON clients (``json_paths``, or asking
    for JSON) get 401 ``login_required``.

    ``scopes=("accounts:read",)``: the login must have been granted them (else 403
    ``insufficient_scope``); ``claims=``: the session's claims must meet each rule (else 403
    ``insufficient_claims``); ``max_age``, ``acr_values``, ``prompt="login"``: a recent or
    strong enough authentication (step-up: browsers log in again with the requirements,
    others get 401 ``insufficient_user_authentication``); ``authorization_details=[...]``
    (RFC 9396): the session's grant must hold these objects, else a step-up asking the
    provider for exactly them, as the Starlette decorator.
    """
    needs = ViewRequirements.for_view(
        scopes=scopes,
        max_age=max_age,
        acr_values=acr_values,
        prompt=prompt,
        claims=claims,
        authorization_details=authorization_details,
    )
    beyond = needs.beyond_session

    def decorate(view: _F) -> _F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not beyond and g.get("oidc_session") is not None:  # the hot path, short
                return view(*args, **kwargs)
            refusal = _kit().refusal(web_request(), _target(), needs)
            return view(*args, **kwargs) if refusal is None else flask_response(refusal)

        return cast(_F, wrapper)

    return decorate if view is None else decorate(view)


# -- the per-request step ----------------------------------------------------------------------


def _begin() -> Response | None:
    """``before_request``: the request bound to its audit events, its session loaded."""
    kit = _kit()
    g.oidc_audit_token = bind_request(_read_context, request.environ)
    cookies = parse_cookies(request.headers.getlist("Cookie"))
    begun = kit.begin(cookies, request.path, lambda: request.args.get("state"))
    g.oidc_begun = begun
    #: The loaded session (or ``None``), and whether this is the landing right after logout.
    g.oidc_session = begun.session
    g.oidc_signed_out = begun.signed_out
    g.oidc_user = _ANONYMOUS if begun.session is None else User(begun.session)
    return None if begun.refusal is None else flask_response(begun.refusal)


def _finish(response: Response) -> Response:
    """``after_request``: ``Vary: Cookie``, ``no-store`` when the answer may depend on a
    session, and the session's cookie kept current."""
    response.vary.add("Cookie")
    begun: Begun | None = g.get("oidc_begun")
    if begun is None:
        return response
    if begun.no_store and "Cache-Control" not in response.headers:
        response.headers["Cache-Control"] = "no-store"
    if begun.repairs or begun.repairs_if_set:  # rare: a stale, old or logout cookie
        prefix = f"{_kit().web.rp.session_cookie}="
        sets = any(v.startswith(prefix) for v in response.headers.getlist("Set-Cookie"))
        for line in begun.set_cookies(sets):
            response.headers.add("Set-Cookie", line)
    return response


def _unbind(error: BaseException | None) -> None:
    token = g.pop("oidc_audit_token", None)
    if token is not None:
        unbind_request(token)


def _on_error(exc: OIDCError) -> Response:
    """A kit error a view raised (no session, a refresh refused, the provider down...)."""
    return flask_response(_kit().raised(web_request(), _target(), exc))


def _read_context(environ: Mapping[str, Any]) -> RequestContext:
    """The audit context of a WSGI request: the address its server reports."""
    return context_of(
        environ.get("REMOTE_ADDR"),
        environ.get("HTTP_USER_AGENT", ""),
        environ.get("HTTP_X_REQUEST_ID", ""),
    )


# -- the kit's routes --------------------------------------------------------------------------


def _blueprint(prefix: str) -> Blueprint:
    """Every route of ``_handlers.ROUTES``, at ``prefix``."""
    blueprint = Blueprint("oidc_kit", __name__, url_prefix=prefix or None)
    for route in ROUTES:
        rule = route.path.replace("{", "<").replace("}", ">")
        name = route.path.strip("/").replace("/", "_").replace("{", "").replace("}", "")
        blueprint.add_url_rule(rule, name, _view(route), methods=_EVERY_METHOD)
    return blueprint


def _view(route: KitRoute) -> Callable[..., Response]:
    def view(**params: str) -> Response:
        kit = _kit()
        web = web_request(params)
        if kit.reads_body(route, web):
            web = web.with_body(read_bounded())
        return flask_response(kit.handle(route, web))

    return view


def web_request(params: Mapping[str, str] | None = None) -> WebRequest:
    """What the kit reads of the current Flask request (its body not read yet)."""
    headers = Headers.of(list(request.headers.items()))
    return WebRequest(
        method=request.method,
        path=request.path,
        query={name: request.args.getlist(name) for name in request.args},
        headers=headers,
        cookies=parse_cookies(headers.getlist("cookie")),
        session=g.get("oidc_session"),
        route_params=dict(params or {}),
    )


def read_bounded(limit: int = MAX_BODY) -> bytes | BodyMark:
    """The current request's body from the WSGI input, at most ``limit`` bytes: a declared
    ``Content-Length`` over it refused unread, a body without one counted as it comes."""
    if declared_too_large(request.headers.get("Content-Length"), limit):
        return BodyMark.TOO_LARGE
    stream = request.stream  # bounded by Content-Length; chunked only when the server ends it
    body = read_counted(stream, limit)
    return BodyMark.TOO_LARGE if body is None else body


def flask_response(answer: WebResponse) -> Response:
    """``answer`` as a Flask response: its status, its headers in order (with no
    ``Content-Type`` when it has none: a redirect, a bare status)."""
    response = Response(answer.body, status=answer.status, headers=list(answer.headers))
    if answer.header("content-type") is None:
        del response.headers["Content-Type"]
    return response


def _target() -> str:
    """This request's path and query, to come back to after a login."""
    query = request.query_string.decode("latin-1")
    return request.path + (f"?{query}" if query else "")


def _kit() -> SyncKit:
    kit: SyncKit | None = current_app.extensions.get(EXTENSION)
    if kit is None:
        raise ConfigurationError("oidc_kit.flask: call OIDC(app) or oidc.init_app(app) first")
    return kit


def _session() -> Session | None:
    session: Session | None = g.get("oidc_session")
    return session
