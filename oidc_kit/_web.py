"""Small web helpers shared by the Starlette routes: safe redirects, origin checks, errors."""

from __future__ import annotations

import html
from urllib.parse import unquote, urlencode, urlsplit

from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from ._errors import OIDCError, StepUpRequired
from ._step_up import StepUp

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

_FRAME_ANCESTORS = "frame-ancestors 'none'"


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of ``url``, lower-cased as browsers send ``Origin``."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def is_same_origin(conn: HTTPConnection, app_origin: str) -> bool:
    """False when ``Sec-Fetch-Site`` or ``Origin`` shows a cross-site request.

    ``Sec-Fetch-Site``, set by the browser and unforgeable by pages, decides when present:
    ``Origin`` can be ``null`` on a genuine same-origin form post (a ``no-referrer`` policy
    does that), so it is only the fallback for browsers that do not send fetch metadata.
    Requests without either header (curl, scripts) pass: CSRF needs a browser, and every
    browser in use sends at least one of them on a POST.
    """
    site = conn.headers.get("sec-fetch-site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = conn.headers.get("origin")
    if origin is not None:
        return origin.lower() == app_origin
    return True


def safe_next_path(value: str | None) -> str:
    """``value`` if it is a same-origin relative path, else ``/`` (no open redirects).

    Refused: absolute URLs, scheme-relative ``//host``, backslashes (browsers read ``/\\host``
    as ``//host``), control characters, and the same tricks percent-encoded.
    """
    if not value or len(value) > 2048:
        return "/"
    decoded = unquote(value)
    for candidate in (value, decoded):
        if not candidate.startswith("/") or candidate.startswith("//"):
            return "/"
        if "\\" in candidate or any(ord(c) < 0x20 or ord(c) == 0x7F for c in candidate):
            return "/"
    # Nothing that passes the checks above has a scheme or a host: a single leading "/"
    # followed by no backslash or control character is a path on this origin.
    return value


def wants_json(conn: HTTPConnection, json_paths: tuple[str, ...]) -> bool:
    """Whether an error for this request should be JSON rather than an HTML page."""
    if any(conn.url.path.startswith(p) for p in json_paths):
        return True
    accept = conn.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def deny_framing(response: Response) -> Response:
    """``response``, which no other page may frame: CSP ``frame-ancestors 'none'`` (merged into
    the response's own policy, replacing any ``frame-ancestors`` there) and, for browsers
    without CSP level 2, ``X-Frame-Options: DENY``.

    Every page the kit serves goes through here: a framed logout confirmation lets a page of
    the same site (another port, a sibling subdomain) log the user out with one click.
    """
    policy = response.headers.get("content-security-policy", "")
    kept = [
        directive.strip()
        for directive in policy.split(";")
        if directive.strip() and directive.split()[0].lower() != "frame-ancestors"
    ]
    response.headers["Content-Security-Policy"] = "; ".join([*kept, _FRAME_ANCESTORS])
    response.headers["X-Frame-Options"] = "DENY"
    return response


def error_response(conn: HTTPConnection, exc: OIDCError, json_paths: tuple[str, ...]) -> Response:
    """The 4xx/5xx answer for ``exc``: JSON ``{"error", "error_description"}`` or a page."""
    if wants_json(conn, json_paths):
        response: Response = JSONResponse(exc.as_dict(), status_code=exc.status, headers=_NO_STORE)
    else:
        response = HTMLResponse(_error_page(exc), status_code=exc.status, headers=_NO_STORE)
    return deny_framing(response)


def step_up_response(
    request: Request, step_up: StepUp, json_paths: tuple[str, ...], provider: str | None = None
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
            f"/auth/login?{query}", status_code=303, headers={"Cache-Control": "no-store"}
        )
    description = "a more recent or stronger authentication is required"
    response = error_response(request, StepUpRequired(description), json_paths)
    response.headers["WWW-Authenticate"] = step_up.challenge(description)
    return response


def _error_page(exc: OIDCError) -> str:
    code = html.escape(exc.code)
    text = html.escape(exc.description)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign-in problem</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;
color:#1a2233}}code{{background:#eef1f6;padding:.1rem .35rem;border-radius:4px}}
a{{color:#0b3d91}}</style></head>
<body><h1>Sign-in problem</h1><p>{text}</p><p>Error code: <code>{code}</code></p>
<p><a href="/">Back to the start</a> · <a href="/auth/login">Log in again</a></p></body></html>
"""
