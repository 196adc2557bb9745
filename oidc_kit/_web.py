"""Small web helpers shared by the Starlette routes: safe redirects, origin checks, errors."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from ._errors import LoginDenied, OIDCError, StepUpRequired
from ._pages import KitPages, deny_framing
from ._step_up import StepUp
from ._urls import is_same_origin as same_origin_headers
from ._urls import origin_of, safe_next_path

__all__ = [
    "deny_framing",
    "error_response",
    "is_same_origin",
    "origin_of",
    "safe_next_path",
    "step_up_response",
    "wants_json",
]

_NO_STORE = {"Cache-Control": "no-store"}


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
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        params = {"next": target, **step_up.login_params()}
        if provider is not None:
            params["provider"] = provider  # step up with the provider the session came from
        query = urlencode(params)
        return RedirectResponse(
            f"{prefix}/login?{query}", status_code=303, headers={"Cache-Control": "no-store"}
        )
    description = "a more recent or stronger authentication is required"
    response = error_response(request, StepUpRequired(description), json_paths, pages)
    response.headers["WWW-Authenticate"] = step_up.challenge(description)
    return response


#: The kit's own templates, for an error answered outside an app's OIDCAuth.
_PAGES = KitPages()
