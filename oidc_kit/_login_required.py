"""``@login_required``: a session for an endpoint, and optionally a step-up (see ``_step_up``)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Literal, overload

from starlette.requests import Request
from starlette.responses import Response

from ._errors import ConfigurationError, LoginRequired
from ._middleware import AUTH_KEY, SCOPE_KEY
from ._session import Session
from ._step_up import StepUp
from ._web import step_up_response

if TYPE_CHECKING:
    from .starlette import OIDCAuth

__all__ = ["Endpoint", "login_required"]

log = logging.getLogger("oidc_kit")

Endpoint = Callable[[Request], Awaitable[Response]]


@overload
def login_required(endpoint: Endpoint, /) -> Endpoint: ...


@overload
def login_required(
    *,
    max_age: int | None = None,
    acr_values: str | Sequence[str] = (),
    prompt: Literal["login"] | None = None,
) -> Callable[[Endpoint], Endpoint]: ...


def login_required(
    endpoint: Endpoint | None = None,
    /,
    *,
    max_age: int | None = None,
    acr_values: str | Sequence[str] = (),
    prompt: Literal["login"] | None = None,
) -> Endpoint | Callable[[Endpoint], Endpoint]:
    """Protect an endpoint: browsers are sent to log in, JSON clients get 401 ``login_required``.

    ``@login_required`` needs a session; ``@login_required(max_age=300)``,
    ``(acr_values=("urn:portx:acr:mfa",))`` or ``(prompt="login")`` also need a recent or strong
    enough authentication (step-up, see :mod:`oidc_kit._step_up`): browsers are sent to log in
    again with those requirements, other clients get 401 ``insufficient_user_authentication``.
    """
    step_up = StepUp.for_route(max_age=max_age, acr_values=acr_values, prompt=prompt)

    def decorate(endpoint: Endpoint) -> Endpoint:
        @functools.wraps(endpoint)
        async def wrapper(request: Request) -> Response:
            if not request.user.is_authenticated:
                raise LoginRequired("log in to continue")
            if step_up.required:
                refusal = _step_up_refusal(request, step_up)
                if refusal is not None:
                    return refusal
            return await endpoint(request)

        return wrapper

    return decorate if endpoint is None else decorate(endpoint)


def _step_up_refusal(request: Request, step_up: StepUp) -> Response | None:
    """``None`` when the session satisfies ``step_up``; else the answer that asks for it."""
    auth: OIDCAuth | None = request.scope.get(AUTH_KEY)
    session: Session | None = request.scope.get(SCOPE_KEY)
    if auth is None or session is None:
        raise ConfigurationError("login_required(...) with step-up needs the OIDCAuth middleware")
    client = auth.client_for(session)
    if client.flow.satisfies(session.claims, step_up):
        return None
    log.info("step-up required for sub=%s on %s", session.sub, request.url.path)
    name = auth.clients.login_name(client)
    return step_up_response(request, step_up, auth.json_paths, provider=name)
