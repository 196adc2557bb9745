"""Small web helpers shared by the Starlette routes: request parameters, safe redirects, origin
checks, errors."""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence
from urllib.parse import urlencode

from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import Scope

from ._audit import RequestContext, summarize_user_agent
from ._body import read_form
from ._errors import LoginDenied, OIDCError, StepUpRequired
from ._pages import KitPages, deny_framing
from ._step_up import StepUp
from ._urls import is_same_origin as same_origin_headers
from ._urls import origin_of, safe_next_path

__all__ = [
    "callback_params",
    "deny_framing",
    "error_response",
    "is_same_origin",
    "login_redirect",
    "origin_of",
    "query_params",
    "read_request_context",
    "safe_next_path",
    "step_up_response",
    "wants_json",
]

_NO_STORE = {"Cache-Control": "no-store"}


def query_params(request: Request) -> dict[str, list[str]]:
    """The query string, every value of each name."""
    return {k: request.query_params.getlist(k) for k in request.query_params}


async def callback_params(request: Request) -> Mapping[str, Sequence[str]]:
    """The authorization response: the query string, or the form body for form_post (bounded:
    413 ``request_too_large`` or 415 ``unsupported_media_type`` before anything is parsed)."""
    if request.method == "POST":
        return await read_form(request)
    return query_params(request)


def is_same_origin(conn: HTTPConnection, app_origin: str) -> bool:
    """False when the request's ``Sec-Fetch-Site`` or ``Origin`` shows a cross-site request
    (the rule: :func:`oidc_kit._urls.is_same_origin`)."""
    return same_origin_headers(
        conn.headers.get("sec-fetch-site"), conn.headers.get("origin"), app_origin
    )


def wants_json(conn: HTTPConnection, json_paths: tuple[str, ...]) -> bool:
    """Whether an error for this request should be JSON rather than an HTML page."""
    if any(conn.url.path.startswith(p) for p in json_paths):
        return True
    accept = conn.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def error_response(
    conn: HTTPConnection,
    exc: OIDCError,
    json_paths: tuple[str, ...],
    pages: KitPages | None = None,
) -> Response:
    """The 4xx/5xx answer for ``exc``: JSON ``{"error", "error_description"}``, or the kit's
    error page (``pages``: the app's templates first)."""
    if wants_json(conn, json_paths):
        response = JSONResponse(exc.as_dict(), status_code=exc.status, headers=_NO_STORE)
        return deny_framing(response)
    context = {"code": exc.code, "description": exc.description, "status": exc.status}
    if isinstance(exc, LoginDenied):
        return (pages or _PAGES).render(exc.page, exc.status, {**exc.context, **context})
    return (pages or _PAGES).render("error", exc.status, context)


def step_up_response(
    request: Request,
    step_up: StepUp,
    json_paths: tuple[str, ...],
    provider: str | None = None,
    prefix: str = "/auth",
    pages: KitPages | None = None,
) -> Response:
    """The answer to a request whose session does not satisfy ``step_up`` (RFC 9470).

    A browser ``GET`` goes to log in again with the route's requirements; anything else gets
    401 ``insufficient_user_authentication`` with the ``WWW-Authenticate`` challenge.
    """
    if request.method in ("GET", "HEAD") and not wants_json(request, json_paths):
        # Step up with the provider the session came from.
        return login_redirect(request, prefix, provider, step_up.login_params())
    description = "a more recent or stronger authentication is required"
    response = error_response(request, StepUpRequired(description), json_paths, pages)
    response.headers["WWW-Authenticate"] = step_up.challenge(description)
    return response


def login_redirect(
    conn: HTTPConnection,
    prefix: str,
    provider: str | None = None,
    params: Mapping[str, str] | None = None,
) -> Response:
    """303 to the kit's login (at ``prefix``) with ``params``, at ``provider`` (``None``: the
    default), coming back afterwards to this request's path and query (``next``)."""
    target = conn.url.path + (f"?{conn.url.query}" if conn.url.query else "")
    query = {"next": target, **(params or {})}
    if provider is not None:
        query["provider"] = provider
    return RedirectResponse(
        f"{prefix}/login?{urlencode(query)}", status_code=303, headers=_NO_STORE
    )


#: The kit's own templates, for an error answered outside an app's OIDCAuth.
_PAGES = KitPages()


#: An ``X-Request-ID`` the audit log repeats: a plain token, as proxies and tracers make them.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def read_request_context(scope: Scope) -> RequestContext:
    """The audit context of the HTTP or WebSocket request ``scope`` describes: the client
    address the server reports (the server decides which proxies to believe), the
    ``User-Agent``'s summary, and the ``X-Request-ID`` when it is a plain token (else one is
    made up, so that a request's events can be told together)."""
    headers = {k: v for k, v in scope.get("headers", ()) if k in _AUDIT_HEADERS}
    client = scope.get("client")
    agent = headers.get(b"user-agent", b"").decode("latin-1")
    given = headers.get(b"x-request-id", b"").decode("latin-1")
    request_id = given if _REQUEST_ID.fullmatch(given) else secrets.token_hex(8)
    return RequestContext(
        client_ip=client[0] if client else None,
        user_agent=summarize_user_agent(agent),
        request_id=request_id,
    )


_AUDIT_HEADERS = frozenset({b"user-agent", b"x-request-id"})
