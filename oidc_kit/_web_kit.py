"""The Starlette adapter's view of one app's kit: the relying party, and how its answers look
on the web (the kit's pages, its cookies' attributes, JSON for ``json_paths``).

:class:`~oidc_kit.starlette.OIDCAuth` builds one :class:`WebKit`, gives it to its routes
(:class:`~oidc_kit._routes.KitRoutes`), which render their outcomes with it, and to its session
middleware, which puts it in every request's scope (``scope["oidc_kit"]``) for
``login_required``. None of those sees the whole ``OIDCAuth``: they depend on this (and the
routes on the few other parts they call) and nothing more, so each can be built and tested
alone, and ``OIDCAuth``'s internals stay its own.

Everything but the Starlette types is :class:`~oidc_kit._answers.WebAnswers`'s
(framework-neutral): this adds the answers made from, and as, Starlette objects.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import HTTPConnection, Request
from starlette.responses import Response

from ._answers import WebAnswers
from ._errors import OIDCError
from ._session import Session
from ._step_up import StepUp
from ._web import error_response, step_up_response

__all__ = ["WebKit"]


@dataclass(frozen=True, slots=True)
class WebKit(WebAnswers):
    """One app's relying party, with how its answers look on the web (on Starlette)."""

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
