"""The end-session endpoint (OpenID Connect RP-Initiated Logout 1.0).

Ending the OP session sends back-channel logout tokens to the session's clients (the
initiating one included) before the answer, so that a demo sees every app logged out at once.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ._op_authorize import COOKIE_NAME, redirect_with
from ._op_backchannel import Delivery, LogoutNotifier
from ._op_context import OAuthError, OPConfig, OPContext, request_params
from ._op_pages import error_page, render_page

__all__ = ["EndSessionEndpoint", "clear_session_cookie", "end_browser_session"]


def clear_session_cookie(response: Response, config: OPConfig) -> None:
    """Delete the OP session cookie with the attributes it was set with."""
    response.delete_cookie(
        COOKIE_NAME, path=config.cookie_path, secure=config.https, httponly=True, samesite="lax"
    )


async def end_browser_session(
    request: Request, ctx: OPContext, notifier: LogoutNotifier
) -> list[Delivery] | None:
    """End the OP session of this browser's cookie and notify its clients.

    Returns the deliveries, or None when the browser had no OP session.
    """
    session = ctx.store.end_session(request.cookies.get(COOKIE_NAME))
    if session is None:
        return None
    return await notifier.notify([session])


class EndSessionEndpoint:
    """``/logout`` (GET or POST): end the OP session, then redirect back or say so."""

    def __init__(self, ctx: OPContext, notifier: LogoutNotifier) -> None:
        self._ctx = ctx
        self._notifier = notifier

    async def end_session(self, request: Request) -> Response:
        """Refuse a bad hint or unregistered redirect (400 page); else log out."""
        try:
            params = await request_params(request)
            target = self._post_logout_redirect(params)
        except OAuthError as exc:
            return error_page(exc.error, exc.description)
        await end_browser_session(request, self._ctx, self._notifier)
        response: Response
        if target is None:
            response = render_page("logged_out.html")
        else:
            state = params.get("state")
            response = redirect_with(target, {"state": state} if state is not None else {})
        clear_session_cookie(response, self._ctx.config)
        return response

    def _post_logout_redirect(self, params: dict[str, str]) -> str | None:
        client_id = self._client_id(params)
        uri = params.get("post_logout_redirect_uri")
        if uri is None:
            return None
        if client_id is None:
            description = "post_logout_redirect_uri needs id_token_hint or client_id"
            raise OAuthError("invalid_request", description)
        if uri not in self._ctx.clients[client_id].post_logout_redirect_uris:
            description = "post_logout_redirect_uri is not registered for this client"
            raise OAuthError("invalid_request", description)
        return uri

    def _client_id(self, params: dict[str, str]) -> str | None:
        hinted = self._hinted_client(params.get("id_token_hint"))
        client_id = params.get("client_id")
        if client_id is not None and hinted is not None and client_id != hinted:
            raise OAuthError("invalid_request", "client_id is not the id_token_hint's audience")
        client_id = client_id or hinted
        if client_id is not None and client_id not in self._ctx.clients:
            raise OAuthError("invalid_request", "client_id is unknown")
        return client_id

    def _hinted_client(self, hint: str | None) -> str | None:
        """The audience of an ID token we issued (it may have expired)."""
        if hint is None:
            return None
        issuer = self._ctx.config.issuer
        claims = self._ctx.keys.verify(hint, issuer=issuer, typ="JWT", now=None)
        audience = claims.get("aud") if claims is not None else None
        if not isinstance(audience, str):
            raise OAuthError("invalid_request", "id_token_hint is not an ID token of this provider")
        return audience
