"""One HTTP exchange in no web framework's terms: :class:`WebRequest` in, :class:`WebResponse`
out (framework-neutral: an adapter translates its own request and response to and from these).

The kit's routes (:class:`~oidc_kit._handlers.KitHandlers`) and its answers
(:class:`~oidc_kit._answers.WebAnswers`) are written once against these; the Starlette adapter
(``_routes.py``), and a Flask or Django one, only translate. The builders here make the same
bytes Starlette's ``JSONResponse``, ``HTMLResponse`` and ``RedirectResponse`` make (the JSON
encoding, the content types, the quoting of ``Location``), so an answer is the same whichever
framework sends it. ``Content-Length`` is the sending framework's to add.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from http.cookies import _unquote  # the standard library's unquoting, as Starlette's parser
from typing import Any
from urllib.parse import parse_qsl, quote

from ._session import Session

__all__ = [
    "BodyMark",
    "Headers",
    "WebRequest",
    "WebResponse",
    "empty_response",
    "html_response",
    "json_response",
    "parse_cookies",
    "parse_query",
    "redirect_response",
]

#: A header as a response carries it: its name (any case) and its value.
Header = tuple[str, str]


class BodyMark(enum.Enum):
    """A request body the adapter holds no bytes of."""

    #: Not read: the route does not read one (or not from this request: a cross-site POST).
    UNREAD = "unread"
    #: Over the kit's limit (``_body_rules.MAX_BODY``), declared or counted: refused (413).
    TOO_LARGE = "too large"


@dataclass(frozen=True, slots=True)
class Headers:
    """A request's headers: names compared without case, each value as it came."""

    items: tuple[Header, ...] = ()

    @classmethod
    def of(cls, pairs: Iterable[Header] | Mapping[str, str]) -> Headers:
        """Headers from ``(name, value)`` pairs or a mapping."""
        found = pairs.items() if isinstance(pairs, Mapping) else pairs
        return cls(tuple((name.lower(), value) for name, value in found))

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of ``name``, else ``default``."""
        key = name.lower()
        return next((value for found, value in self.items if found == key), default)

    def getlist(self, name: str) -> list[str]:
        """Every value of ``name``, in order."""
        key = name.lower()
        return [value for found, value in self.items if found == key]


@dataclass(frozen=True, slots=True)
class WebRequest:
    """What the kit's routes read of a request, from any web framework."""

    method: str
    #: The path as the app sees it (with the route prefix): JSON paths, ``next`` targets.
    path: str
    #: Every value of each query parameter, in order.
    query: Mapping[str, list[str]] = field(default_factory=dict)
    headers: Headers = Headers()
    #: The cookies, a name's value from the first ``Cookie`` header that has it
    #: (:func:`parse_cookies`, as the session middleware reads them).
    cookies: Mapping[str, str] = field(default_factory=dict)
    #: The body, read within the kit's limit; or why there are no bytes of it.
    body: bytes | BodyMark = BodyMark.UNREAD
    #: The session the adapter's middleware loaded for this request, if any.
    session: Session | None = None
    #: The route's path parameters (``provider``, ``handle``).
    route_params: Mapping[str, str] = field(default_factory=dict)

    def with_body(self, body: bytes | BodyMark) -> WebRequest:
        """This request with its body read (or marked)."""
        return replace(self, body=body)


@dataclass(frozen=True, slots=True)
class WebResponse:
    """An answer for any web framework to send: its status, headers (each ``Set-Cookie`` a
    header of its own, in order) and body."""

    status: int
    headers: tuple[Header, ...] = ()
    body: bytes = b""

    def header(self, name: str) -> str | None:
        """The first value of header ``name``, if any."""
        key = name.lower()
        return next((value for found, value in self.headers if found.lower() == key), None)

    def with_header(self, name: str, value: str) -> WebResponse:
        """This response with ``name`` set to ``value``: the first such header replaced in
        place and the others dropped, or one added at the end (as Starlette's headers do)."""
        key = name.lower()
        headers: list[Header] = []
        done = False
        for found in self.headers:
            if found[0].lower() != key:
                headers.append(found)
            elif not done:
                headers.append((name, value))
                done = True
        if not done:
            headers.append((name, value))
        return replace(self, headers=tuple(headers))

    def with_added(self, name: str, value: str) -> WebResponse:
        """This response with one more ``name`` header (``Set-Cookie``), after the others."""
        return replace(self, headers=(*self.headers, (name, value)))


def json_response(content: Any, status: int = 200, headers: Iterable[Header] = ()) -> WebResponse:
    """``content`` as JSON, encoded as Starlette's ``JSONResponse`` encodes it."""
    body = json.dumps(
        content, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
    ).encode("utf-8")
    return WebResponse(status, (*headers, ("Content-Type", "application/json")), body)


def html_response(html: str, status: int = 200, headers: Iterable[Header] = ()) -> WebResponse:
    """An HTML page, in UTF-8."""
    content_type = ("Content-Type", "text/html; charset=utf-8")
    return WebResponse(status, (*headers, content_type), html.encode("utf-8"))


def redirect_response(
    location: str, status: int = 303, headers: Iterable[Header] = ()
) -> WebResponse:
    """A redirect to ``location`` (quoted as Starlette's ``RedirectResponse`` quotes it)."""
    quoted = quote(location, safe=":/%#?=@[]!$&'()*+,;")
    return WebResponse(status, (*headers, ("Location", quoted)))


def empty_response(status: int, headers: Iterable[Header] = ()) -> WebResponse:
    """A bare status."""
    return WebResponse(status, tuple(headers))


def parse_query(query_string: str) -> dict[str, list[str]]:
    """Every value of each parameter of a query string (blank values kept)."""
    query: dict[str, list[str]] = {}
    for name, value in parse_qsl(query_string, keep_blank_values=True):
        query.setdefault(name, []).append(value)
    return query


def parse_cookies(cookie_headers: Iterable[str]) -> dict[str, str]:
    """The cookies of a request's ``Cookie`` headers, leniently as browsers send them (one
    malformed cookie does not hide the rest: Starlette's and Django's parser); a name's value
    from the first header that has it, the last within one header."""
    cookies: dict[str, str] = {}
    for header in cookie_headers:
        for name, value in _parse_cookie_header(header).items():
            cookies.setdefault(name, value)
    return cookies


def _parse_cookie_header(header: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for chunk in header.split(";"):
        name, _, value = chunk.partition("=") if "=" in chunk else ("", "", chunk)
        name, value = name.strip(), value.strip()
        if name or value:
            found[name] = _unquote(value)
    return found
