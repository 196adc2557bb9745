"""How the kit's answers look on the web, in no web framework's terms: an
:class:`~oidc_kit.Outcome`, an error or a step-up made into a
:class:`~oidc_kit._exchange.WebResponse` (framework-neutral).

:class:`WebAnswers` is one app's relying party with its pages, its cookies' attributes, its
JSON paths and its origin. The kit's routes (``_handlers.py``) answer through it; the Starlette
adapter's :class:`~oidc_kit._web_kit.WebKit` is one, with the Starlette conversions added, and
a Flask or Django adapter builds one the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

from ._cookies import CookieWriter
from ._errors import LoginDenied, OIDCError, StepUpRequired
from ._exchange import (
    WebRequest,
    WebResponse,
    empty_response,
    json_response,
    redirect_response,
)
from ._outcome import CookieChange, Outcome
from ._pages import KitPages, deny_framing
from ._relying_party import RelyingParty
from ._step_up import StepUp
from ._urls import is_same_origin

__all__ = [
    "NO_STORE",
    "WebAnswers",
    "error_answer",
    "login_answer",
    "login_location",
    "step_up_answer",
    "wants_json",
]

#: The header on every answer about a user or a login: never cached.
NO_STORE = ("Cache-Control", "no-store")

#: The kit's own templates, for an error answered outside an app's kit.
_PAGES = KitPages()


def wants_json(path: str, accept: str | None, json_paths: tuple[str, ...]) -> bool:
    """Whether an error for a request to ``path`` with this ``Accept`` should be JSON rather
    than an HTML page: under one of ``json_paths``, or asking for JSON and not for HTML."""
    if any(path.startswith(p) for p in json_paths):
        return True
    accept = accept or ""
    return "application/json" in accept and "text/html" not in accept


def error_answer(exc: OIDCError, as_json: bool, pages: KitPages | None = None) -> WebResponse:
    """The 4xx/5xx answer for ``exc``: JSON ``{"error", "error_description"}``, or the kit's
    error page (``pages``: the app's templates first)."""
    if as_json:
        return deny_framing(json_response(exc.as_dict(), exc.status, [NO_STORE]))
    context = {"code": exc.code, "description": exc.description, "status": exc.status}
    if isinstance(exc, LoginDenied):
        return (pages or _PAGES).render(exc.page, exc.status, {**exc.context, **context})
    return (pages or _PAGES).render("error", exc.status, context)


def login_location(
    prefix: str,
    target: str,
    provider: str | None = None,
    params: Mapping[str, str] | None = None,
) -> str:
    """The kit's login (at ``prefix``) with ``params``, at ``provider`` (``None``: the
    default), coming back to ``target`` (a path and its query) afterwards (``next``)."""
    query = {"next": target, **(params or {})}
    if provider is not None:
        query["provider"] = provider
    return f"{prefix}/login?{urlencode(query)}"


def login_answer(
    prefix: str,
    target: str,
    provider: str | None = None,
    params: Mapping[str, str] | None = None,
) -> WebResponse:
    """303 to :func:`login_location`, never cached."""
    return redirect_response(login_location(prefix, target, provider, params), 303, [NO_STORE])


def step_up_answer(
    method: str,
    target: str,
    as_json: bool,
    step_up: StepUp,
    *,
    prefix: str = "/auth",
    provider: str | None = None,
    pages: KitPages | None = None,
) -> WebResponse:
    """The answer to a request whose session does not satisfy ``step_up`` (RFC 9470).

    A browser ``GET`` goes to log in again with the route's requirements (at ``provider``, the
    session's); anything else gets 401 ``insufficient_user_authentication`` with the
    ``WWW-Authenticate`` challenge.
    """
    if method in ("GET", "HEAD") and not as_json:
        return login_answer(prefix, target, provider, step_up.login_params())
    description = "a more recent or stronger authentication is required"
    response = error_answer(StepUpRequired(description), as_json, pages)
    return response.with_header("WWW-Authenticate", step_up.challenge(description))


@dataclass(frozen=True, slots=True)
class WebAnswers:
    """One app's relying party, with how its answers look on the web."""

    #: The framework-neutral relying party (sessions, cookies' names, step-up decisions).
    rp: RelyingParty
    #: Gives the kit's cookies their attributes.
    cookies: CookieWriter
    #: The kit's pages, the app's templates first.
    pages: KitPages
    #: Path prefixes whose errors are JSON, never a page or a redirect to log in.
    json_paths: tuple[str, ...]
    #: Where the kit's routes are mounted (``OIDC_ROUTE_PREFIX``).
    prefix: str
    #: ``APP_BASE_URL``'s origin: what same-origin checks compare with (never ``Host``).
    origin: str
    #: Where the provider sends the browser back after logout.
    post_logout_path: str

    def respond(self, request: WebRequest, outcome: Outcome) -> WebResponse:
        """The answer to a relying-party step's outcome: JSON or a page for an error, else the
        kit page, the redirect or the bare status; never cached, with the outcome's cookies
        set or cleared."""
        error = outcome.error
        if error is not None and outcome.machine:
            response = json_response(error.as_dict(), outcome.status)
        elif error is not None:
            response = self.error(request, error)
        elif outcome.page is not None:
            response = self.pages.render(outcome.page, outcome.status, outcome.context)
        elif outcome.location is not None:
            response = redirect_response(outcome.location, outcome.status)
        else:
            response = empty_response(outcome.status)
        return self.with_cookies(response.with_header(*NO_STORE), outcome.cookies)

    def error(self, request: WebRequest, exc: OIDCError) -> WebResponse:
        """The 4xx/5xx answer for ``exc``: JSON, or the kit's error page."""
        return error_answer(exc, self.wants_json(request), self.pages)

    def wants_json(self, request: WebRequest) -> bool:
        """Whether an error for ``request`` is JSON (``json_paths``, ``Accept``)."""
        return wants_json(request.path, request.headers.get("accept"), self.json_paths)

    def is_same_origin(self, request: WebRequest) -> bool:
        """False when the request's ``Sec-Fetch-Site`` or ``Origin`` shows a cross-site
        request, compared with ``APP_BASE_URL``'s origin (:func:`oidc_kit._urls.is_same_origin`)."""
        headers = request.headers
        return is_same_origin(headers.get("sec-fetch-site"), headers.get("origin"), self.origin)

    def with_cookies(self, response: WebResponse, cookies: Iterable[CookieChange]) -> WebResponse:
        """``response`` with a ``Set-Cookie`` line for each of ``cookies``, in order."""
        for cookie in cookies:
            response = response.with_added("Set-Cookie", self.cookies.header(cookie))
        return response

    def session_cookie_header(self, sid: str) -> str:
        """A ``Set-Cookie`` value naming session ``sid``, signed with the newest secret."""
        return self.cookies.header(self.rp.session_cookie_change(sid))

    def expired_cookie_header(self, name: str) -> str:
        """A ``Set-Cookie`` value deleting cookie ``name``."""
        return self.cookies.header(CookieChange(name, None))
