"""The Starlette adapter's view of one app's kit: the relying party, and how its answers look
on the web (the kit's pages, its cookies' attributes, JSON for ``json_paths``).

:class:`~oidc_kit.starlette.OIDCAuth` builds one :class:`WebKit`, gives it to its routes
(:class:`~oidc_kit._routes.KitRoutes`), which render their outcomes with it, and to its session
middleware, which puts it in every request's scope (``scope["oidc_kit"]``) for
``login_required``. None of those sees the whole ``OIDCAuth``: they depend on this (and the
routes on the few other parts they call) and nothing more, so each can be built and tested
alone, and ``OIDCAuth``'s internals stay its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from ._cookies import CookieWriter
from ._errors import OIDCError
from ._outcome import CookieChange, Outcome
from ._pages import KitPages
from ._relying_party import RelyingParty
from ._session import Session
from ._step_up import StepUp
from ._web import error_response, step_up_response

__all__ = ["WebKit"]


@dataclass(frozen=True, slots=True)
class WebKit:
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

    def respond(self, request: Request, outcome: Outcome) -> Response:
        """The Starlette response for a relying-party step's outcome: JSON or a page for an
        error, else the kit page, the redirect or the bare status; never cached, with the
        outcome's cookies set or cleared."""
        error = outcome.error
        response: Response
        if error is not None and outcome.machine:
            response = JSONResponse(error.as_dict(), status_code=outcome.status)
        elif error is not None:
            response = self.error_response(request, error)
        elif outcome.page is not None:
            response = self.pages.render(outcome.page, outcome.status, outcome.context)
        elif outcome.location is not None:
            response = RedirectResponse(outcome.location, status_code=outcome.status)
        else:
            response = Response(status_code=outcome.status)
        response.headers["Cache-Control"] = "no-store"
        for cookie in outcome.cookies:
            self.cookies.apply(response, cookie)
        return response

    def session_cookie_header(self, sid: str) -> str:
        """A ``Set-Cookie`` value naming session ``sid``, signed with the newest secret."""
        return self.cookies.header(self.rp.session_cookie_change(sid))

    def expired_cookie_header(self, name: str) -> str:
        """A ``Set-Cookie`` value deleting cookie ``name``."""
        return self.cookies.header(CookieChange(name, None))

    def error_response(self, conn: HTTPConnection, exc: OIDCError) -> Response:
        """The 4xx/5xx answer for ``exc``: JSON, or the kit's error page."""
        return error_response(conn, exc, self.json_paths, self.pages)

    def step_up_response(
        self, request: Request, step_up: StepUp, session: Session | None
    ) -> Response:
        """The answer to a request whose ``session`` does not satisfy ``step_up``: a browser
        logs in again with it, at the session's provider; other clients get the 401."""
        return step_up_response(
            request,
            step_up,
            self.json_paths,
            provider=self.rp.login_provider(session),
            prefix=self.prefix,
            pages=self.pages,
        )
