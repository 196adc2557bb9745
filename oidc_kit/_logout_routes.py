"""The logout routes: RP-initiated logout (and its return), and back-channel logout.

- ``GET /auth/logout`` (and ``HEAD``) shows a confirmation page with the POST form, which no
  other page may frame; it never logs out.
- ``POST /auth/logout`` (same-origin only, a body of at most ``_body.MAX_BODY``, unread) ends
  the session here, revokes its tokens at the
  provider (RFC 7009, best effort), and redirects to the provider's ``end_session_endpoint``
  with ``id_token_hint``, ``post_logout_redirect_uri``, ``client_id`` and ``state``.
- The provider sends the browser back to ``{APP_BASE_URL}/?state=…``: the state is compared
  with the one in a short-lived signed cookie; a wrong or missing one is harmless and logged.
- ``POST /auth/backchannel-logout`` takes a provider's ``logout_token`` and ends the matching
  sessions in every instance sharing the store.
"""

from __future__ import annotations

import base64
import contextlib
import html
import json
import logging
import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from ._body import client_gone, read_body, read_form
from ._clients import ProviderClient
from ._config import OIDCConfig
from ._errors import (
    CrossSiteRequest,
    InvalidLogoutToken,
    OIDCError,
    RequestTooLarge,
    SessionError,
    StoreUnavailable,
    UnsupportedMediaType,
)
from ._logout import validate_logout_token
from ._middleware import SCOPE_KEY
from ._provider import ProviderMetadata
from ._session import Session
from ._tokens import TokenSet, revoke_token
from ._web import deny_framing, error_response, is_same_origin, origin_of

if TYPE_CHECKING:
    from .starlette import OIDCAuth

__all__ = ["LogoutRoutes"]

log = logging.getLogger("oidc_kit")

_NO_STORE = {"Cache-Control": "no-store"}

#: Refusals of the request's body itself, answered with their own status (413, 415).
_BODY_ERRORS = (RequestTooLarge, UnsupportedMediaType)


#: Far above any real logout token (a few hundred bytes of claims, one signature); anyone
#: can post to the endpoint, so nothing larger is parsed.
MAX_LOGOUT_TOKEN = 16 * 1024


class LogoutRoutes:
    """The endpoints behind ``/auth/logout`` and ``/auth/backchannel-logout``."""

    def __init__(self, auth: OIDCAuth, clock: Callable[[], float] = time.time) -> None:
        self._auth = auth
        self._clock = clock
        self._origin = origin_of(auth.config.base_url)

    async def confirm(self, request: Request) -> Response:
        """``GET /auth/logout``: a page with the POST form (a GET must never log out)."""
        return deny_framing(HTMLResponse(_CONFIRM_PAGE, headers=_NO_STORE))

    async def logout(self, request: Request) -> Response:
        """``POST /auth/logout``: end the session here and at the provider."""
        auth = self._auth
        if not is_same_origin(request, self._origin):
            refusal = CrossSiteRequest("cross-site logout refused")
            return error_response(request, refusal, auth.json_paths)
        try:
            await read_body(request)  # nothing in it is used, but it is never read unbounded
        except ClientDisconnect:
            return client_gone(request)
        except OIDCError as exc:
            return error_response(request, exc, auth.json_paths)
        session: Session | None = request.scope.get(SCOPE_KEY)
        location, state = "/", None
        if session is not None:
            location, state = await self._end(session)
        response = RedirectResponse(location, status_code=303, headers=_NO_STORE)
        auth.delete_cookie(response, auth.session_cookie)
        if state is not None:
            auth.set_cookie(
                response,
                auth.logout_cookie,
                auth.cookies.sign_login(state),
                max_age=auth.config.login_timeout,
            )
        return response

    async def backchannel(self, request: Request) -> Response:
        """``POST /auth/backchannel-logout``: 200 when the token is valid, else 400 (413 or 415
        for a body too large or not form-encoded, refused unread)."""
        auth = self._auth
        try:
            tokens = (await read_form(request)).get("logout_token", [])
            if len(tokens) != 1:
                raise InvalidLogoutToken("exactly one logout_token is required")
            if len(tokens[0]) > MAX_LOGOUT_TOKEN:
                raise InvalidLogoutToken("the logout token is too large")
            client = self._client_named_in(tokens[0])
            logout = await validate_logout_token(
                tokens[0], client.config, client.provider, auth.store, self._clock()
            )
        except ClientDisconnect:
            return client_gone(request)
        except OIDCError as exc:
            log.warning("back-channel logout refused: %s", exc.description)
            body = {"error": exc.code, "error_description": exc.description}
            status = exc.status if exc.status >= 500 or isinstance(exc, _BODY_ERRORS) else 400
            return JSONResponse(body, status_code=status, headers=_NO_STORE)
        try:
            ended = await client.sessions.end_matching(client.config.issuer, logout.sub, logout.sid)
        except StoreUnavailable as exc:
            # Let the provider retry: forget the jti if the store lets us (best effort).
            with contextlib.suppress(StoreUnavailable):
                await auth.store.delete(logout.jti_key)
            body = {"error": exc.code, "error_description": exc.description}
            return JSONResponse(body, status_code=exc.status, headers=_NO_STORE)
        log.info("back-channel logout ended %d session(s)", ended)
        return Response(status_code=200, headers=_NO_STORE)

    def _client_named_in(self, token: str) -> ProviderClient:
        """The provider a logout token says it comes from: only to pick whose keys and rules
        validate it, which then check everything, ``iss`` included."""
        clients = self._auth.clients
        if len(clients) == 1:
            return clients.default
        client = clients.by_issuer(_unverified_issuer(token) or "")
        if client is None:
            raise InvalidLogoutToken("the logout token comes from no configured provider")
        return client

    def check_return(self, request: Request, cookie: str) -> None:
        """The browser is back from the provider's logout: compare ``state`` (log only)."""
        expected = self._auth.cookies.login_binding(cookie)
        got = request.query_params.get("state")
        if (
            expected is not None
            and got is not None
            and secrets.compare_digest(expected.encode(), got.encode())
        ):
            log.info("returned from the provider's logout")
        else:
            # Harmless: the session already ended here. Worth a line in the log all the same.
            log.warning("return from the provider's logout with a wrong or missing state")

    async def _end(self, session: Session) -> tuple[str, str | None]:
        """End ``session`` here, revoke its tokens; the provider's logout URL and its state."""
        auth = self._auth
        await auth.sessions.end(session)
        try:
            tokens: TokenSet | None = auth.sessions.tokens(session)
        except SessionError:
            tokens = None
        try:
            client = auth.client_for(session)
        except SessionError:
            return "/", None  # its provider is no longer configured
        try:
            meta = await client.provider.metadata()
        except OIDCError as exc:
            log.warning("logout: provider unavailable (%s); local session ended", exc.code)
            return "/", None
        if tokens is not None:
            await self._revoke(client.config, meta, tokens)
        if meta.end_session_endpoint is None:
            return "/", None
        state = secrets.token_urlsafe(16)
        params = {
            "client_id": client.config.client_id,
            "post_logout_redirect_uri": f"{auth.config.base_url}/",
            "state": state,
        }
        if tokens is not None and tokens.id_token:
            params["id_token_hint"] = tokens.id_token
        separator = "&" if "?" in meta.end_session_endpoint else "?"
        return meta.end_session_endpoint + separator + urlencode(params), state

    async def _revoke(self, config: OIDCConfig, meta: ProviderMetadata, tokens: TokenSet) -> None:
        """Revoke the refresh token (the whole grant, at most providers) and the access token."""
        http = self._auth.http
        if tokens.refresh_token:
            await revoke_token(
                http, config, meta, tokens.refresh_token, "refresh_token", self._clock()
            )
        await revoke_token(http, config, meta, tokens.access_token, "access_token", self._clock())


_CONFIRM_PAGE = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Log out</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:30rem;margin:4rem auto;padding:0 1rem;
color:#1a2233}}button{{font:inherit;padding:.5rem 1.2rem;border-radius:6px;border:0;
background:#0b3d91;color:#fff;cursor:pointer}}a{{color:#0b3d91}}</style></head>
<body><h1>Log out?</h1>
<p>This ends your session here and at your identity provider.</p>
<form method="post" action="/auth/logout"><button type="submit">Log out</button></form>
<p><a href="/">{html.escape("Stay logged in")}</a></p></body></html>
"""


def _unverified_issuer(token: str) -> str | None:
    """The ``iss`` of a compact JWT's payload, unverified (for routing only)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, RecursionError):  # deep JSON nesting: RecursionError
        return None
    iss = claims.get("iss") if isinstance(claims, dict) else None
    return iss if isinstance(iss, str) else None
