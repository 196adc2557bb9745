"""``OIDCMiddleware``: the kit's session step on every request of a Django project, under
WSGI (sync) and under ASGI (async: awaited, the project's event loop never blocked).

For each request: the session cookie read and its session loaded (``request.oidc_session``),
``request.user`` set (the kit's unsaved :class:`~oidc_kit.django.OIDCUser`, or a Django user
when ``OIDC_KIT["USER_BACKEND"]`` names one; ``request.auser()`` for async views), a stale
cookie expired, one signed with an older secret re-issued, ``Vary: Cookie`` added and
``Cache-Control: no-store`` when the answer may depend on a session, and the request bound to
the audit events it causes. A store outage answers 503 (the session kept). A kit error a view
raises (``LoginRequired``, ``ProviderUnavailable``...) is answered as on Starlette and Flask.

Put it where ``django.contrib.auth``'s ``AuthenticationMiddleware`` would go (instead of it,
or after it to replace its ``request.user``). It needs neither ``django.contrib.sessions``
nor ``django.contrib.auth``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_vary_headers
from django.utils.functional import SimpleLazyObject

from .._audit import RequestContext, bind_request, context_of, unbind_request
from .._errors import OIDCError
from .._sync_kit import Begun
from ._http import add_set_cookie, cookies_of, django_response, target_of, web_request
from ._kit import DjangoKit, get_kit
from ._users import ANONYMOUS, OIDCUser

__all__ = ["OIDCMiddleware"]

_GetResponse = Callable[[HttpRequest], Any]


class OIDCMiddleware:
    """The kit's per-request session step (``MIDDLEWARE``), sync or async as the handler."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: _GetResponse) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)  # Django then awaits __call__ (see __acall__)

    def __call__(self, request: HttpRequest) -> Any:
        """Serve ``request`` with its session loaded (one crossing to the kit's loop, none
        without the kit's cookies)."""
        if self.is_async:
            return self.__acall__(request)
        kit = get_kit()
        token = bind_request(_read_context, request.META)
        try:
            begun = kit.sync.begin(cookies_of(request), request.path_info, _state(request))
            _attach(request, kit, begun)
            if begun.refusal is not None:
                response: HttpResponse = django_response(begun.refusal, request.method)
            else:
                response = self.get_response(request)
        finally:
            unbind_request(token)
        return _finish(response, begun, kit)

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        """:meth:`__call__` under ASGI: the crossing awaited."""
        kit = get_kit()
        token = bind_request(_read_context, request.META)
        try:
            begun = await kit.sync.abegin(cookies_of(request), request.path_info, _state(request))
            _attach(request, kit, begun)
            if begun.refusal is not None:
                response = django_response(begun.refusal, request.method)
            else:
                response = await self.get_response(request)
        finally:
            unbind_request(token)
        return _finish(response, begun, kit)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        """A kit error a view raised (no session, a refresh refused, the provider down...)
        answered as the kit answers it; anything else left to Django."""
        if not isinstance(exception, OIDCError) or not hasattr(request, "oidc_session"):
            return None
        answer = get_kit().sync.raised(web_request(request), target_of(request), exception)
        return django_response(answer, request.method)


def _state(request: HttpRequest) -> Callable[[], str | None]:
    return lambda: request.GET.get("state")


def _attach(request: HttpRequest, kit: DjangoKit, begun: Begun) -> None:
    """The session and its user on ``request``."""
    session = begun.session
    user = ANONYMOUS if session is None else OIDCUser(session)
    attributes: dict[str, Any] = {
        #: The loaded session (or ``None``), and whether this is the landing after logout.
        "oidc_session": session,
        "oidc_signed_out": begun.signed_out,
        "oidc_user": user,
    }
    backend = kit.backend
    if backend is None:
        attributes["user"] = user
        attributes["auser"] = partial(_same, user)
    else:  # a Django user, looked up only when read (as AuthenticationMiddleware does)
        attributes["user"] = SimpleLazyObject(partial(backend.user_for, session))
        attributes["auser"] = partial(backend.auser_for, session)
    request.__dict__.update(attributes)


async def _same(user: object) -> object:
    return user


def _finish(response: HttpResponse, begun: Begun, kit: DjangoKit) -> HttpResponse:
    """``Vary: Cookie``, ``no-store`` when the answer may depend on a session, and the
    session's cookie kept current."""
    patch_vary_headers(response, ("Cookie",))
    if begun.no_store and not response.has_header("Cache-Control"):
        response["Cache-Control"] = "no-store"
    if begun.repairs or begun.repairs_if_set:  # rare: a stale, old or logout cookie
        sets = kit.sync.web.rp.session_cookie in response.cookies
        for line in begun.set_cookies(sets):
            add_set_cookie(response, line)
    return response


def _read_context(meta: Mapping[str, Any]) -> RequestContext:
    """The audit context of a request: the client address its server reports
    (``REMOTE_ADDR``, under WSGI and ASGI alike)."""
    return context_of(
        meta.get("REMOTE_ADDR"),
        meta.get("HTTP_USER_AGENT", ""),
        meta.get("HTTP_X_REQUEST_ID", ""),
    )
