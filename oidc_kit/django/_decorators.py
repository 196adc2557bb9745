"""``login_required`` for Django views, sync and async: the decisions are the sync kit's
(``SyncKit.refusal``/``arefusal``: no session, scopes, claims, step-up), the same as on
Starlette and Flask."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, TypeVar, cast, overload

from asgiref.sync import iscoroutinefunction
from django.http import HttpRequest

from .._sync_kit import ViewRequirements
from ._http import django_response, session_of, target_of, web_request
from ._kit import get_kit

__all__ = ["login_required"]

_F = TypeVar("_F", bound=Callable[..., Any])


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
    """Protect a view (``def`` or ``async def``): browsers are sent to log in, JSON clients
    (``json_paths``, or asking for JSON) get 401 ``login_required``.

    ``scopes=("accounts:read",)``: the login must have been granted them (else 403
    ``insufficient_scope``); ``claims=``: the session's claims must meet each rule (else 403
    ``insufficient_claims``); ``max_age``, ``acr_values``, ``prompt="login"``: a recent or
    strong enough authentication (step-up: browsers log in again with the requirements,
    others get 401 ``insufficient_user_authentication``); ``authorization_details=[...]``
    (RFC 9396): the session's grant must hold these objects, else a step-up asking the
    provider for exactly them. Needs ``OIDCMiddleware``.
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
        if iscoroutinefunction(view):

            @functools.wraps(view)
            async def awrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
                if not beyond and session_of(request) is not None:  # the hot path, short
                    return await view(request, *args, **kwargs)
                web, target = web_request(request), target_of(request)
                refusal = await get_kit().sync.arefusal(web, target, needs)
                if refusal is None:
                    return await view(request, *args, **kwargs)
                return django_response(refusal, request.method)

            return cast(_F, awrapper)

        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            if not beyond and session_of(request) is not None:  # the hot path, short
                return view(request, *args, **kwargs)
            refusal = get_kit().sync.refusal(web_request(request), target_of(request), needs)
            if refusal is None:
                return view(request, *args, **kwargs)
            return django_response(refusal, request.method)

        return cast(_F, wrapper)

    return decorate if view is None else decorate(view)
