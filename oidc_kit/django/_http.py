"""A Django request as the kit reads it, and the kit's answer as a Django response.

The translation only: ``HttpRequest`` -> ``_exchange.WebRequest`` (the body read within
``_body_rules.MAX_BODY``, never ``request.body`` whole), ``WebResponse`` -> ``HttpResponse``
with each ``Set-Cookie`` line sent as the kit wrote it.
"""

from __future__ import annotations

from collections.abc import Container, Mapping
from http.cookies import Morsel, _unquote
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse

from .._body_rules import MAX_BODY, declared_too_large, read_counted
from .._exchange import BodyMark, Headers, WebRequest, WebResponse, parse_cookies
from .._session import Session

__all__ = [
    "add_set_cookie",
    "cookies_of",
    "django_response",
    "read_bounded",
    "session_of",
    "target_of",
    "web_request",
]

_NO_MIDDLEWARE = (
    "oidc_kit.django: add 'oidc_kit.django.middleware.OIDCMiddleware' to MIDDLEWARE "
    "(it loads each request's session)"
)


def session_of(request: HttpRequest) -> Session | None:
    """The session the middleware loaded for ``request`` (``None``: nobody logged in)."""
    try:
        session: Session | None = request.oidc_session  # type: ignore[attr-defined]
    except AttributeError:
        raise ImproperlyConfigured(_NO_MIDDLEWARE) from None
    return session


def cookies_of(request: HttpRequest) -> dict[str, str]:
    """The request's cookies as the kit reads them (``_exchange.parse_cookies``)."""
    return parse_cookies([request.META.get("HTTP_COOKIE", "")])


def target_of(request: HttpRequest) -> str:
    """The request's path and query, to come back to after a login."""
    query = request.META.get("QUERY_STRING", "")
    return request.path_info + (f"?{query}" if query else "")


def web_request(request: HttpRequest, params: Mapping[str, str] | None = None) -> WebRequest:
    """What the kit reads of ``request`` (its body not read yet). The path is the one the
    project's URLconf sees (``path_info``: without a ``SCRIPT_NAME``), as on Flask."""
    headers = Headers.of(list(request.headers.items()))
    return WebRequest(
        method=request.method or "GET",
        path=request.path_info,
        query={name: request.GET.getlist(name) for name in request.GET},
        headers=headers,
        cookies=cookies_of(request),
        session=session_of(request),
        route_params=dict(params or {}),
    )


def read_bounded(request: HttpRequest, limit: int = MAX_BODY) -> bytes | BodyMark:
    """``request``'s body, at most ``limit`` bytes: a declared ``Content-Length`` over it
    refused unread, a body without one counted as it comes."""
    meta = request.META
    if declared_too_large(meta.get("CONTENT_LENGTH"), limit):
        return BodyMark.TOO_LARGE
    stream: Any = request  # Django's stream: bounded by Content-Length (WSGI), or spooled (ASGI)
    if not meta.get("CONTENT_LENGTH") and meta.get("wsgi.input_terminated"):
        # Chunked under WSGI: Django reads nothing without a length, but the server marked
        # the input as ending where the body does, so it is read from there, counted.
        stream = meta["wsgi.input"]
    body = read_counted(stream, limit)
    return BodyMark.TOO_LARGE if body is None else body


def django_response(answer: WebResponse, method: str | None = "GET") -> HttpResponse:
    """``answer`` as a Django response: its status, its headers (with no ``Content-Type``
    when it has none: a redirect, a bare status), each ``Set-Cookie`` line verbatim; a
    ``HEAD`` without the body (its ``Content-Length`` kept)."""
    response = HttpResponse(b"" if method == "HEAD" else answer.body, status=answer.status)
    del response["Content-Type"]
    for name, value in answer.headers:
        if name.lower() == "set-cookie":
            add_set_cookie(response, value)
        elif name in response:  # a list-valued header given twice: one line, as HTTP allows
            response[name] = f"{response[name]}, {value}"
        else:
            response[name] = value
    response["Content-Length"] = str(len(answer.body))
    return response


class _RawCookie(Morsel[str]):
    """A ``Set-Cookie`` line as the kit wrote it (``_cookies.CookieWriter``). Django sends a
    response's cookies from ``response.cookies``, each morsel written out again by
    ``output()``; this one writes the line itself, so the kit's attributes (their order,
    ``Max-Age=0`` with an ``expires`` in the past, ``SameSite``) reach the browser exactly as
    the Starlette and Flask adapters send them. Its name and value are set too, for what
    reads the jar (Django's test client)."""

    def __init__(self, line: str) -> None:
        super().__init__()
        name, _, rest = line.partition("=")
        coded = rest.split(";", 1)[0].strip()
        self.set(name.strip(), _unquote(coded), coded)
        self._line = line

    def OutputString(self, attrs: Container[str] | None = None) -> str:  # Morsel's name
        return self._line

    def output(self, attrs: Container[str] | None = None, header: str = "Set-Cookie:") -> str:
        # Django's handlers ask for header="" and send the rest as the header's value: no
        # leading space then (a Morsel would add one).
        return f"{header} {self._line}" if header else self._line


def add_set_cookie(response: HttpResponse, line: str) -> None:
    """Add a ``Set-Cookie`` line to ``response``, sent verbatim, after its other cookies.
    (Its headers hold one value per name: cookies travel in ``response.cookies``.)"""
    morsel = _RawCookie(line)
    key = morsel.key
    while key in response.cookies:  # the same cookie twice in one answer: keep both lines
        key += " "
    dict.__setitem__(response.cookies, key, morsel)
