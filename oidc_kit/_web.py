"""Small web helpers of the Starlette adapter: request parameters, origin checks, and the
kit's answers (framework-neutral, ``_answers.py``) as Starlette responses."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.types import Scope

from ._answers import error_answer, login_answer, step_up_answer
from ._answers import wants_json as wants_json_for
from ._audit import RequestContext, context_of
from ._errors import OIDCError
from ._exchange import WebResponse
from ._pages import KitPages, framing_policy
from ._step_up import StepUp
from ._urls import is_same_origin as same_origin_headers
from ._urls import origin_of, safe_next_path

__all__ = [
    "deny_framing",
    "error_response",
    "is_same_origin",
    "login_redirect",
    "origin_of",
    "query_params",
    "read_request_context",
    "safe_next_path",
    "starlette_response",
    "step_up_response",
    "wants_json",
]


def starlette_response(answer: WebResponse) -> Response:
    """``answer`` as a Starlette response: its status, its headers in order (names
    lower-cased, as ASGI carries them) after the ``Content-Length`` Starlette gives its body."""
    response = Response(answer.body, status_code=answer.status)
    response.raw_headers.extend(
        (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in answer.headers
    )
    return response


def query_params(request: Request) -> dict[str, list[str]]:
    """The query string, every value of each name."""
    return {k: request.query_params.getlist(k) for k in request.query_params}


def is_same_origin(conn: HTTPConnection, app_origin: str) -> bool:
    """False when the request's ``Sec-Fetch-Site`` or ``Origin`` shows a cross-site request
    (the rule: :func:`oidc_kit._urls.is_same_origin`)."""
    return same_origin_headers(
        conn.headers.get("sec-fetch-site"), conn.headers.get("origin"), app_origin
    )


def wants_json(conn: HTTPConnection, json_paths: tuple[str, ...]) -> bool:
    """Whether an error for this request should be JSON rather than an HTML page."""
    return wants_json_for(conn.url.path, conn.headers.get("accept"), json_paths)


def deny_framing(response: Response) -> Response:
    """A Starlette ``response`` no other page may frame (``_pages.deny_framing``'s headers)."""
    policy = response.headers.get("content-security-policy")
    response.headers["Content-Security-Policy"] = framing_policy(policy)
    response.headers["X-Frame-Options"] = "DENY"
    return response


def error_response(
    conn: HTTPConnection,
    exc: OIDCError,
    json_paths: tuple[str, ...],
    pages: KitPages | None = None,
) -> Response:
    """The 4xx/5xx answer for ``exc``: JSON ``{"error", "error_description"}``, or the kit's
    error page (``pages``: the app's templates first)."""
    return starlette_response(error_answer(exc, wants_json(conn, json_paths), pages))


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
    answer = step_up_answer(
        request.method,
        _target(request),
        wants_json(request, json_paths),
        step_up,
        prefix=prefix,
        provider=provider,  # step up with the provider the session came from
        pages=pages,
    )
    return starlette_response(answer)


def login_redirect(
    conn: HTTPConnection,
    prefix: str,
    provider: str | None = None,
    params: Mapping[str, str] | None = None,
) -> Response:
    """303 to the kit's login (at ``prefix``) with ``params``, at ``provider`` (``None``: the
    default), coming back afterwards to this request's path and query (``next``)."""
    return starlette_response(login_answer(prefix, _target(conn), provider, params))


def _target(conn: HTTPConnection) -> str:
    """This request's path and query, to come back to after a login."""
    return conn.url.path + (f"?{conn.url.query}" if conn.url.query else "")


def read_request_context(scope: Scope) -> RequestContext:
    """The audit context of the HTTP or WebSocket request ``scope`` describes
    (``_audit.context_of``: the client address the server reports, the ``User-Agent``'s
    summary, the ``X-Request-ID`` when it is a plain token)."""
    headers = {k: v for k, v in scope.get("headers", ()) if k in _AUDIT_HEADERS}
    client = scope.get("client")
    return context_of(
        client[0] if client else None,
        headers.get(b"user-agent", b"").decode("latin-1"),
        headers.get(b"x-request-id", b"").decode("latin-1"),
    )


_AUDIT_HEADERS = frozenset({b"user-agent", b"x-request-id"})
