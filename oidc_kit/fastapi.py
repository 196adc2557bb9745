"""FastAPI dependencies over the kit's session: the user, scope checks, API calls as the user.

The app wires the kit as a Starlette app does (routes at ``/auth``, the middleware, the
exception handlers, the lifespan); these dependencies then read what the middleware put in
the ASGI scope::

    from fastapi import FastAPI
    from starlette.routing import Mount
    from oidc_kit.fastapi import CurrentUser, OIDCAuth, OIDCConfig

    auth = OIDCAuth(OIDCConfig.from_env())
    app = FastAPI(
        routes=[Mount("/auth", routes=auth.routes)],
        middleware=[auth.middleware],
        exception_handlers=auth.exception_handlers,
        lifespan=auth.lifespan,
    )

    @app.get("/api/me")
    async def me(user: CurrentUser) -> dict[str, str]:
        return {"sub": user.identity}

Refusals are the kit's errors, answered by its exception handlers exactly as for Starlette:
no session is :class:`~oidc_kit.LoginRequired` (JSON 401 ``login_required`` on API paths, a
redirect to ``/auth/login`` for pages), a missing scope :class:`~oidc_kit.InsufficientScope`
(403 ``insufficient_scope``), unmet claims :class:`~oidc_kit.InsufficientClaims` (403
``insufficient_claims``), a step-up :class:`~oidc_kit.StepUpRequired` (a redirect to log in
again for pages, 401 ``insufficient_user_authentication`` with its challenge for API
clients). Every dependency that needs a session declares the session cookie as its OpenAPI
security scheme, with the scopes the route requires.

This is the only module of the kit that imports FastAPI (the ``oidc_kit[fastapi]`` extra).
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Annotated, Any, Literal

import httpx
from fastapi import Depends, Request, Security, params
from fastapi.openapi.models import APIKey, APIKeyIn
from fastapi.security import SecurityScopes
from fastapi.security.base import SecurityBase

from ._claims import ClaimsRequirement
from ._config import OIDCConfig
from ._errors import ConfigurationError, StepUpRequired
from ._middleware import AUTH_KEY, SCOPE_KEY
from ._session import Session
from ._starlette_user import OIDCUser
from ._step_up import StepUp
from .starlette import OIDCAuth, _require_session

__all__ = [
    "CurrentUser",
    "OIDCAuth",
    "OIDCConfig",
    "OIDCUser",
    "OptionalUser",
    "UserAuth",
    "current_user",
    "optional_user",
    "requires_claims",
    "requires_scope",
    "requires_step_up",
    "user_auth",
    "user_client",
]

log = logging.getLogger("oidc_kit")

#: RFC 6749 3.3: ``scope-token = 1*( %x21 / %x23-5B / %x5D-7E )``.
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")


def _kit(request: Request) -> OIDCAuth:
    """The :class:`OIDCAuth` whose middleware served this request."""
    auth: OIDCAuth | None = request.scope.get(AUTH_KEY)
    if auth is None:
        # Without the middleware every request would look logged out: say what is wrong.
        raise ConfigurationError(
            "oidc_kit.fastapi dependencies need the kit's middleware: "
            "FastAPI(middleware=[auth.middleware], ...)"
        )
    return auth


class _SessionCookie(SecurityBase):
    """The session cookie as an OpenAPI security scheme; as a dependency, the session.

    The middleware has already read and checked the cookie: this only declares it in the
    OpenAPI document (with the route's scopes, which OpenAPI 3.1 allows for any scheme) and
    hands over the session it loaded.
    """

    def __init__(self) -> None:
        self.model = APIKey.model_validate(
            {
                "in": APIKeyIn.cookie,
                "name": "oidc_session",
                "description": (
                    "The session cookie set by logging in at /auth/login (named "
                    "__Host-oidc_session on https). The access token stays on the server."
                ),
            }
        )
        self.scheme_name = "oidc_session"

    async def __call__(self, request: Request) -> Session:
        _kit(request)
        return _require_session(request)


_session_cookie = _SessionCookie()


async def current_user(
    request: Request,
    security_scopes: SecurityScopes,
    session: Annotated[Session, Security(_session_cookie)],
) -> OIDCUser:
    """The logged-in user; :class:`~oidc_kit.LoginRequired` without a session.

    Used through ``Security(current_user, scopes=[...])`` (or :func:`requires_scope`), it also
    requires those scopes; so does every dependency built on it (:func:`user_client`).
    """
    if security_scopes.scopes:
        _kit(request).rp.require_scopes(session, security_scopes.scopes)
    return OIDCUser(session)


async def optional_user(request: Request) -> OIDCUser | None:
    """The logged-in user, or ``None`` (a page that changes when logged in)."""
    _kit(request)
    session: Session | None = request.scope.get(SCOPE_KEY)
    return None if session is None else OIDCUser(session)


def requires_scope(*scopes: str) -> params.Security:
    """A dependency requiring a session whose access token was granted every one of ``scopes``.

    ``@app.get(..., dependencies=[requires_scope("accounts:read")])``, or
    ``user: Annotated[OIDCUser, requires_scope("accounts:read")]`` to read the user too. A
    session without one of them gets 403 ``insufficient_scope``; no session, 401
    ``login_required``. The scopes appear in the route's OpenAPI ``security``.
    """
    if not scopes:
        raise ValueError("requires_scope needs at least one scope")
    for scope in scopes:
        if not _SCOPE_TOKEN.fullmatch(scope):
            raise ValueError(f"not an OAuth scope (RFC 6749 3.3): {scope!r}")
    return params.Security(dependency=current_user, scopes=list(scopes))


def requires_step_up(
    *,
    max_age: int | None = None,
    acr_values: str | Sequence[str] = (),
    prompt: Literal["login"] | None = None,
    authorization_details: Sequence[Mapping[str, Any]] | None = None,
) -> params.Depends:
    """A dependency requiring a recent or strong enough authentication, as
    ``@login_required(max_age=..., acr_values=..., prompt=...)`` does (step-up, RFC 9470).

    ``@app.post(..., dependencies=[requires_step_up(max_age=300)])``, or
    ``user: Annotated[OIDCUser, requires_step_up(acr_values="urn:portx:acr:mfa")]``. A session
    whose ``auth_time``/``acr`` fall short: a browser ``GET`` is sent to log in again with the
    requirements (at the session's provider), which the login checks in the new ID token;
    anything else gets 401 ``insufficient_user_authentication`` with the ``WWW-Authenticate``
    challenge. No session: 401 ``login_required`` (a login redirect for pages). Invalid options
    raise :class:`~oidc_kit.ConfigurationError` where the route is declared.
    ``authorization_details`` (RFC 9396): objects the session's grant must hold, else the
    step-up login asks the provider for them.
    """
    step_up = StepUp.for_route(
        max_age=max_age,
        acr_values=acr_values,
        prompt=prompt,
        authorization_details=authorization_details,
    )
    if not step_up.required:
        raise ConfigurationError(
            "requires_step_up needs max_age, acr_values, prompt or authorization_details"
        )

    async def stepped_up_user(
        request: Request, user: Annotated[OIDCUser, Depends(current_user)]
    ) -> OIDCUser:
        session = user.session
        if await _kit(request).rp.needs_step_up(session, step_up):
            log.info("step-up required for sub=%s on %s", session.sub, request.url.path)
            # The kit's exception handler answers: a login redirect or the 401 challenge.
            raise StepUpRequired(
                max_age=step_up.max_age,
                acr_values=step_up.acr_values,
                prompt=step_up.prompt,
                authorization_details=step_up.authorization_details,
            )
        return user

    return params.Depends(dependency=stepped_up_user)


def requires_claims(claims: Mapping[str, Any]) -> params.Depends:
    """A dependency requiring the session's claims to meet ``claims``, as
    ``@login_required(claims=...)`` does: each a value the claim must equal
    (``{"email_verified": True}``, the boolean only) or a function of its value
    (``{"https://portx.io/customer": bool}``); a missing claim never meets one.

    ``dependencies=[requires_claims({"email_verified": True})]``, or
    ``user: Annotated[OIDCUser, requires_claims(...)]``. A session that does not meet them
    gets 403 ``insufficient_claims`` (a page for browsers, JSON for API clients: never a login
    loop); no session, 401 ``login_required``.
    """
    rules = ClaimsRequirement.for_route(claims)
    if not rules.required:
        raise ConfigurationError("requires_claims needs at least one claim")

    async def user_with_claims(user: Annotated[OIDCUser, Depends(current_user)]) -> OIDCUser:
        rules.check(user.session.claims, user.session.sub)
        return user

    return params.Depends(dependency=user_with_claims)


async def user_auth(
    request: Request, user: Annotated[OIDCUser, Depends(current_user)]
) -> httpx.Auth:
    """An ``httpx.Auth`` with the user's access token, for the app's own shared client:
    ``await orca.get("/accounts", auth=auth)``. It refreshes the token when due, and once on
    a 401 (then retries once)."""
    # ``user`` is unused: depending on current_user declares the session cookie in OpenAPI
    # and applies the scopes of a ``Security(user_auth, scopes=[...])``.
    return _kit(request).httpx_auth(request)


def user_client(
    base_url: str, *, http_client: httpx.AsyncClient | None = None
) -> Callable[[Request, OIDCUser], AsyncIterator[httpx.AsyncClient]]:
    """A dependency yielding an ``httpx.AsyncClient`` that calls ``base_url`` as the user.

    ``Orca = Annotated[httpx.AsyncClient, Depends(user_client(ORCA_API_BASE))]``, then
    ``await orca.get("/accounts")`` in a route: the user's access token is attached, refreshed
    first when due, and refreshed once more (one retry) if the API answers 401. Wrapped in
    ``Security(user_client(...), scopes=[...])`` it also requires those scopes.

    The connections are those of ``http_client`` (default: the kit's own client, which the
    app's lifespan closes); pass one for settings of the API's own (a client certificate,
    proxies, limits). The user's token is only ever sent to ``base_url``'s origin: a request
    to another origin through this client raises :class:`~oidc_kit.ConfigurationError`.
    """
    origin = _origin(httpx.URL(base_url))
    if origin[0] not in ("http", "https") or not origin[1]:
        raise ValueError(f"user_client needs an absolute http(s) URL, not {base_url!r}")

    # One client per request, so that a route gets a complete httpx.AsyncClient with the
    # user's auth and base_url bound; but connections are the shared pool's, because a pool
    # per request would pay a TCP and TLS handshake (and an SSL context) on every request.
    # Sending through the shared client (rather than its transport, which httpx keeps
    # private) also keeps its proxies, certificates, limits and event hooks, and closing the
    # per-request client leaves the pool open for the next request. (Like any client shared
    # between users, its cookie jar collects what the API sets; send() never adds it to these
    # requests, only a redirect the shared client follows would.)
    async def client(
        request: Request, user: Annotated[OIDCUser, Depends(current_user)]
    ) -> AsyncIterator[httpx.AsyncClient]:
        # ``user`` is unused: current_user checks the Security(...) scopes, before any call.
        auth = _kit(request)
        pool = auth.http if http_client is None else http_client
        async with _UserClient(pool, origin, base_url=base_url, auth=auth.httpx_auth(request)) as c:
            yield c

    return client


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    port = url.port or {"http": 80, "https": 443}.get(url.scheme)
    return url.scheme, url.host, port


class _NoTransport(httpx.AsyncBaseTransport):
    """Never used (every request goes through the shared client); spares httpx from building
    a transport, with its SSL context, per request."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raise RuntimeError("unreachable: _UserClient sends through its shared client")


class _UserClient(httpx.AsyncClient):
    """An ``AsyncClient`` that builds requests itself (base_url, the user's auth) and sends
    them through ``pool``, refusing to send the user's token to another origin."""

    def __init__(
        self,
        pool: httpx.AsyncClient,
        origin: tuple[str, str, int | None],
        *,
        base_url: str,
        auth: httpx.Auth,
    ) -> None:
        super().__init__(
            base_url=base_url,
            auth=auth,
            headers=pool.headers,
            timeout=pool.timeout,
            follow_redirects=pool.follow_redirects,
            transport=_NoTransport(),
            trust_env=False,  # proxies from the environment are the pool's business
        )
        self._pool = pool
        self._origin = origin

    async def send(
        self,
        request: httpx.Request,
        *,
        stream: bool = False,
        auth: Any = httpx.USE_CLIENT_DEFAULT,
        follow_redirects: Any = httpx.USE_CLIENT_DEFAULT,
    ) -> httpx.Response:
        if _origin(request.url) != self._origin:
            # base_url makes relative paths safe; an absolute URL (a "next" link in an API
            # answer) must not carry the user's token to a host we were not told about.
            raise ConfigurationError(
                "refusing to send the user's token outside the client's base_url",
                expected="{}://{}:{}".format(*self._origin),
                actual="{}://{}:{}".format(*_origin(request.url)),
            )
        return await self._pool.send(
            request,
            stream=stream,
            auth=self.auth if auth is httpx.USE_CLIENT_DEFAULT else auth,
            follow_redirects=(
                self.follow_redirects
                if follow_redirects is httpx.USE_CLIENT_DEFAULT
                else follow_redirects
            ),
        )


CurrentUser = Annotated[OIDCUser, Depends(current_user)]
"""The logged-in user (``async def me(user: CurrentUser)``); 401/redirect without a session."""

OptionalUser = Annotated[OIDCUser | None, Depends(optional_user)]
"""The logged-in user or ``None``."""

UserAuth = Annotated[httpx.Auth, Depends(user_auth)]
"""The user's ``httpx.Auth``, for a client the app shares between users."""
