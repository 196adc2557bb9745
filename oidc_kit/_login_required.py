"""``@login_required``: a session for an endpoint, and optionally a step-up (see ``_step_up``)
and claims (see ``_claims``).

It decorates what Starlette's own ``requires`` decorates: endpoint functions and
``HTTPEndpoint`` / ``WebSocketEndpoint`` methods, sync or async, HTTP or WebSocket. The
connection is found among the arguments by its type (``self`` comes first in a method), so
the parameter may have any name, and FastAPI, which calls endpoints by keyword, works too.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, TypeVar, cast, overload

import anyio.from_thread
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.status import WS_1008_POLICY_VIOLATION
from starlette.websockets import WebSocket

from ._claims import ClaimsRequirement
from ._errors import ConfigurationError, InsufficientClaims, LoginRequired, StepUpRequired
from ._middleware import KIT_KEY, SCOPE_KEY
from ._session import Session
from ._step_up import StepUp
from ._web_kit import WebKit

__all__ = ["login_required"]

log = logging.getLogger("oidc_kit")

_F = TypeVar("_F", bound=Callable[..., Any])
_CONNECTIONS = (Request, WebSocket)


@overload
def login_required(endpoint: _F, /) -> _F: ...


@overload
def login_required(
    *,
    max_age: int | None = None,
    acr_values: str | Sequence[str] = (),
    prompt: Literal["login"] | None = None,
    claims: Mapping[str, Any] | None = None,
    authorization_details: Sequence[Mapping[str, Any]] | None = None,
) -> Callable[[_F], _F]: ...


def login_required(
    endpoint: _F | None = None,
    /,
    *,
    max_age: int | None = None,
    acr_values: str | Sequence[str] = (),
    prompt: Literal["login"] | None = None,
    claims: Mapping[str, Any] | None = None,
    authorization_details: Sequence[Mapping[str, Any]] | None = None,
) -> _F | Callable[[_F], _F]:
    """Protect an endpoint: browsers are sent to log in, JSON clients get 401 ``login_required``.

    ``@login_required`` needs a session; ``@login_required(max_age=300)``,
    ``(acr_values=("urn:portx:acr:mfa",))`` or ``(prompt="login")`` also need a recent or strong
    enough authentication (step-up, see :mod:`oidc_kit._step_up`): browsers are sent to log in
    again with those requirements, other clients get 401 ``insufficient_user_authentication``.

    ``claims={"email_verified": True}`` also needs the session's claims to meet each rule: a
    value the claim must equal, or a function of its value (:mod:`oidc_kit._claims`). A session
    that does not gets 403 ``insufficient_claims`` (a page, or JSON), never a login loop; the
    claims are checked before the step-up, so nobody is sent to authenticate again only to be
    refused.

    ``authorization_details=[{"type": "payment_initiation", ...}]`` (RFC 9396) needs the
    session's grant to hold each of those objects: a step-up too, the login asking the
    provider for exactly them (:mod:`oidc_kit._authorization_details`).

    It works on functions and on ``HTTPEndpoint`` methods, sync or async. On a WebSocket
    endpoint, a connection without a session (or without the step-up or the claims) is closed
    before it is accepted, with code 1008 (policy violation) and the error code as the reason: a
    handshake cannot be redirected to a login page.
    """
    step_up = StepUp.for_route(
        max_age=max_age,
        acr_values=acr_values,
        prompt=prompt,
        authorization_details=authorization_details,
    )
    rules = ClaimsRequirement.for_route(claims)
    #: Anything beyond a session: the loaded session is then needed.
    beyond = step_up.required or rules.required

    def decorate(endpoint: _F) -> _F:
        if _is_async(endpoint):

            @functools.wraps(endpoint)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                # A function endpoint's first argument is the Request: no search for it, and
                # the hot path (a session, nothing more asked) is decided at once, on the
                # scope's user as ``Request.user`` reads it (without the property's call).
                if args and type(args[0]) is Request:
                    conn: Request | WebSocket = args[0]
                    user = conn.scope.get("user")
                    if not beyond and user is not None and user.is_authenticated:
                        return await endpoint(*args, **kwargs)
                else:
                    conn = _connection(args, kwargs)
                # Asked as "not a Request" (it is one or the other): an exact type matches
                # at once, where ``isinstance(conn, WebSocket)`` goes through the ABC
                # machinery of ``Mapping`` (HTTPConnection's base) on every request.
                if not isinstance(conn, Request):
                    refused = await _websocket_refusal(conn, step_up, rules)
                    if refused is not None:
                        await conn.close(code=WS_1008_POLICY_VIOLATION, reason=refused)
                        return None
                    return await endpoint(*args, **kwargs)
                if not beyond and conn.user.is_authenticated:  # the hot path, short
                    return await endpoint(*args, **kwargs)
                refusal = await _refusal(conn, step_up, rules)
                return refusal if refusal is not None else await endpoint(*args, **kwargs)

            return cast(_F, async_wrapper)

        # Sync endpoints stay sync: Starlette runs them (and so this check) in its threadpool.
        @functools.wraps(endpoint)
        def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
            request = _connection(args, kwargs)
            if not isinstance(request, Request):  # a WebSocket: Starlette awaits those
                raise ConfigurationError("login_required: a WebSocket endpoint must be async")
            if not beyond and request.user.is_authenticated:
                return endpoint(*args, **kwargs)
            # In Starlette's worker thread: the check (which may record an audit event) runs
            # on the event loop.
            refusal = anyio.from_thread.run(_refusal, request, step_up, rules)
            return refusal if refusal is not None else endpoint(*args, **kwargs)

        return cast(_F, sync_wrapper)

    return decorate if endpoint is None else decorate(endpoint)


def _is_async(endpoint: Callable[..., Any]) -> bool:
    """Whether Starlette awaits ``endpoint`` (its ``is_async_callable``: partials unwrapped,
    an object's ``async def __call__`` counts)."""
    while isinstance(endpoint, functools.partial):
        endpoint = endpoint.func
    return inspect.iscoroutinefunction(endpoint) or inspect.iscoroutinefunction(
        type(endpoint).__call__
    )


def _connection(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Request | WebSocket:
    """The endpoint's ``Request`` or ``WebSocket``: positional (after ``self`` in a method) or
    by keyword (FastAPI)."""
    for value in args:
        if isinstance(value, _CONNECTIONS):
            return value
    for value in kwargs.values():
        if isinstance(value, _CONNECTIONS):
            return value
    raise ConfigurationError("login_required: the endpoint takes no Request or WebSocket")


async def _refusal(request: Request, step_up: StepUp, rules: ClaimsRequirement) -> Response | None:
    """``None`` when the request may go on; else the step-up answer. No session raises
    :class:`LoginRequired` (the kit's exception handler turns it into a login redirect), unmet
    claims :class:`InsufficientClaims` (a 403 page or JSON)."""
    if not request.user.is_authenticated:
        raise LoginRequired("log in to continue")
    if not (step_up.required or rules.required):
        return None
    kit, session = _kit_and_session(request)
    rules.check(session.claims, session.sub)
    if not step_up.required:
        return None
    if not await kit.rp.needs_step_up(session, step_up):
        return None
    log.info("step-up required for sub=%s on %s", session.sub, request.url.path)
    return kit.step_up_response(request, step_up, session)


async def _websocket_refusal(
    websocket: WebSocket, step_up: StepUp, rules: ClaimsRequirement
) -> str | None:
    """``None`` when the WebSocket may go on; else the error code to close it with."""
    if not websocket.user.is_authenticated:
        return LoginRequired.code
    if not (step_up.required or rules.required):
        return None
    kit, session = _kit_and_session(websocket)
    try:
        rules.check(session.claims, session.sub)
    except InsufficientClaims as exc:
        return exc.code
    if not step_up.required:
        return None
    if not await kit.rp.needs_step_up(session, step_up):
        return None
    log.info("step-up required for sub=%s on WebSocket %s", session.sub, websocket.url.path)
    return StepUpRequired.code


def _kit_and_session(conn: HTTPConnection) -> tuple[WebKit, Session]:
    """The kit the session middleware put in the scope, and the session it loaded."""
    kit: WebKit | None = conn.scope.get(KIT_KEY)
    session: Session | None = conn.scope.get(SCOPE_KEY)
    if kit is None or session is None:
        raise ConfigurationError(
            "login_required(...) with step-up or claims needs the OIDCAuth middleware"
        )
    return kit, session
