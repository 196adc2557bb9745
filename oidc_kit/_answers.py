"""How the kit's answers look on the web, in no web framework's terms: an
:class:`~oidc_kit.Outcome`, an error or a step-up made into a
:class:`~oidc_kit._exchange.WebResponse` (framework-neutral).

:class:`WebAnswers` is one app's relying party with its pages, its cookies' attributes, its
JSON paths and its origin. The kit's routes (``_handlers.py``) answer through it; the Starlette
adapter's :class:`~oidc_kit._web_kit.WebKit` is one, with the Starlette conversions added, and
a Flask or Django adapter builds one the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

from ._claims import ClaimsRequirement
from ._cookies import CookieWriter
from ._errors import (
    InsufficientClaims,
    InsufficientScope,
    LoginDenied,
    LoginRequired,
    OIDCError,
    SessionError,
    StepUpRequired,
)
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
from ._session import Session
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

log = logging.getLogger("oidc_kit")

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

    # -- the per-request session step, shared by every adapter's middleware ---------------

    def logout_return(
        self, path: str, cookie: str | None, state: Callable[[], str | None]
    ) -> tuple[bool, bool]:
        """Whether a request to ``path`` carrying the logout cookie ``cookie`` is the browser's
        return from logout (the cookie then expires), and whether it brought back the
        logout's state (``state()``: the query's ``state``, read only then)."""
        if cookie is None or path != self.post_logout_path:
            return False, False
        return True, self.rp.check_logout_return(state(), cookie)

    def cookie_repairs(
        self,
        *,
        sets_session_cookie: bool,
        stale: bool,
        resign: Session | None,
        logout_return: bool,
    ) -> list[str]:
        """The ``Set-Cookie`` lines an answer gets on its way out: a session cookie naming no
        live session (``stale``) expired, or ``resign``'s (signed with an older secret)
        signed again, unless the answer sets the session cookie itself; the logout cookie
        expired once it has served (``logout_return``)."""
        lines: list[str] = []
        if stale and not sets_session_cookie:
            lines.append(self.expired_cookie_header(self.rp.session_cookie))
        elif resign is not None and not sets_session_cookie:
            lines.append(self.session_cookie_header(resign.sid))
        if logout_return:
            lines.append(self.expired_cookie_header(self.rp.logout_cookie))
        return lines

    # -- an app's views: what a kit error or a route's requirement answers -----------------

    def raised(self, request: WebRequest, target: str, exc: OIDCError) -> WebResponse:
        """The answer to a kit error an app's view raised (``target``: the request's path and
        query, to come back to). A session error sends a browser ``GET`` to log in again
        where the session came from (others get the error) and clears the session cookie; a
        step-up raised with the route's requirements is answered as :meth:`step_up`."""
        session = request.session
        if isinstance(exc, SessionError):
            if request.method in ("GET", "HEAD") and not self.wants_json(request):
                response = login_answer(self.prefix, target, self.rp.login_provider(session))
            else:
                response = self.error(request, exc)
            if session is not None:
                response = self.with_cookies(response, [CookieChange(self.rp.session_cookie, None)])
            return response
        if isinstance(exc, StepUpRequired) and exc.requirements:
            step_up = StepUp.for_route(
                max_age=exc.max_age, acr_values=exc.acr_values, prompt=exc.prompt
            )
            return self.step_up(request, target, step_up)
        if exc.status >= 500:
            log.warning("request failed: %s", exc)
        return self.error(request, exc)

    def step_up(self, request: WebRequest, target: str, step_up: StepUp) -> WebResponse:
        """The answer to a request whose session does not satisfy ``step_up``: a browser
        logs in again with it, at the session's provider; other clients get the 401."""
        return step_up_answer(
            request.method,
            target,
            self.wants_json(request),
            step_up,
            prefix=self.prefix,
            provider=self.rp.login_provider(request.session),
            pages=self.pages,
        )

    def session_refusal(
        self,
        request: WebRequest,
        target: str,
        rules: ClaimsRequirement,
        scopes: Sequence[str] = (),
    ) -> WebResponse | None:
        """What a route needing a session answers before any step-up check (``None``: go
        on): no session is ``login_required`` (a browser sent to log in, JSON 401), a scope
        the login was not granted 403 ``insufficient_scope``, unmet claims 403
        ``insufficient_claims``: the decisions of the Starlette ``login_required`` and the
        FastAPI dependencies, with no I/O (a step-up needs :meth:`RelyingParty.needs_step_up`,
        awaited by the adapter)."""
        session = request.session
        if session is None:
            return self.raised(request, target, LoginRequired("log in to continue"))
        try:
            self.rp.require_scopes(session, scopes)
            rules.check(session.claims, session.sub)
        except (InsufficientScope, InsufficientClaims) as exc:
            return self.error(request, exc)
        return None
