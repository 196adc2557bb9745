"""The provider's own session page: who is logged in here, and "log out of the provider".

``GET /session`` shows this browser's OP session; its form POSTs to ``/session/logout``, which
ends that session and sends back-channel logout tokens to the apps it logged in to. The POST is
refused (403) when ``Sec-Fetch-Site`` or ``Origin`` shows another origin, or when the form's
per-session ``csrf`` token is wrong: either defence alone stops a cross-site form.
"""

from __future__ import annotations

import hmac
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from ._op_authorize import COOKIE_NAME
from ._op_backchannel import LogoutNotifier, delivered
from ._op_context import OAuthError, OPContext, read_form
from ._op_logout import clear_session_cookie
from ._op_pages import error_page, render_page
from ._op_store import OPSession

__all__ = ["SessionPage"]

_SAME_ORIGIN_FETCH = frozenset({"same-origin", "none"})


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _cross_origin(request: Request, issuer: str) -> bool:
    """Whether the browser says that the request comes from another origin."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        # Decisive when present: with this page's no-referrer policy, Origin is "null".
        return site.lower() not in _SAME_ORIGIN_FETCH
    origin = request.headers.get("origin")
    return origin is not None and origin.lower() != _origin(issuer)


class SessionPage:
    """``GET /session`` and ``POST /session/logout``."""

    def __init__(self, ctx: OPContext, notifier: LogoutNotifier) -> None:
        self._ctx = ctx
        self._notifier = notifier

    async def show(self, request: Request) -> Response:
        """Who is logged in at the provider in this browser, with the log-out button."""
        session = self._ctx.store.session(request.cookies.get(COOKIE_NAME))
        if session is None:
            return render_page("session.html", session=None, **self._links([]))
        user = self._ctx.user_by_sub(session.sub)
        return render_page(
            "session.html",
            session=session,
            username=user.username if user else session.sub,
            apps=sorted(session.clients),
            action=self._ctx.config.url("/session/logout"),
            **self._links([]),
        )

    async def logout(self, request: Request) -> Response:
        """End this browser's OP session and notify its apps; refuse cross-site requests."""
        if _cross_origin(request, self._ctx.config.issuer):
            description = "The request came from another site: log out from the provider's page."
            return error_page("access_denied", description, status=403)
        try:
            form = await read_form(request)
        except OAuthError as exc:
            return error_page(exc.error, exc.description)
        store = self._ctx.store
        session = store.session(request.cookies.get(COOKIE_NAME))
        response: Response
        if session is None:
            response = render_page("session.html", session=None, **self._links([]))
        elif not hmac.compare_digest(form.get("csrf", "").encode(), session.csrf.encode()):
            description = "The form is stale or forged: reload the provider's session page."
            return error_page("access_denied", description, status=403)
        else:
            store.end_session(session.key)
            response = await self._logged_out(session)
        clear_session_cookie(response, self._ctx.config)
        return response

    async def _logged_out(self, session: OPSession) -> Response:
        deliveries = await self._notifier.notify([session])
        reached = {client_id for client_id, _ in deliveries}
        apps = sorted(session.clients)
        return render_page(
            "session_logged_out.html",
            notified=sum(1 for d in deliveries if delivered(d)),
            deliveries=[(c, o, delivered((c, o))) for c, o in deliveries],
            silent=[a for a in apps if a not in reached],
            **self._links(apps),
        )

    def _links(self, apps: list[str]) -> dict[str, Any]:
        """Where to go next: each app's post-logout page, and this session page."""
        clients = self._ctx.clients
        back = [
            (app, clients[app].post_logout_redirect_uris[0])
            for app in apps
            if app in clients and clients[app].post_logout_redirect_uris
        ]
        return {"back": back, "session_url": self._ctx.config.url("/session")}
