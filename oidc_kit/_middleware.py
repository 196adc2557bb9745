"""The pure-ASGI middleware that puts the session (or none) into the scope.

Per request: read the session cookie, check its signature, load the record, and set
``scope["oidc_session"]``, ``scope["user"]`` and ``scope["auth"]`` (``authenticated`` and the
scopes the access token was granted, so Starlette's ``requires("authenticated")`` and
``requires("accounts:read")`` work), ``scope["oidc_kit"]`` (the :class:`~._web_kit.WebKit`
it was given, for ``login_required``'s step-up and claims checks) and ``scope["oidc_auth"]``
(its ``owner``, the ``OIDCAuth``, for the FastAPI dependencies; never looked into here). On
the way out it adds ``Vary: Cookie``, ``Cache-Control: no-store`` on answers that depended on
a session, and deletes a cookie that names no live session. Tokens are not opened here: only
a handler that needs one pays for it.

A WebSocket handshake gets the same session, with two differences: a cross-site handshake
gets none (browsers send cookies with a WebSocket handshake from any page of the same site,
and no CORS stands in the way: cross-site WebSocket hijacking), and a store outage closes the
connection with 1011 (the 503 of HTTP). There is nothing to add on the way out: the
handshake's answer is the server's, with no cookies or headers of ours.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Mapping
from typing import TypeVar

from starlette.authentication import AuthCredentials, UnauthenticatedUser
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection, Request, cookie_parser
from starlette.status import WS_1011_INTERNAL_ERROR
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocketClose

from ._audit import bind_request, unbind_request
from ._errors import StoreUnavailable
from ._session import Session
from ._starlette_user import OIDCUser, SessionCredentials
from ._web import is_same_origin, read_request_context
from ._web_kit import WebKit

__all__ = [
    "AUTH_KEY",
    "KIT_KEY",
    "SCOPE_KEY",
    "SIGNED_OUT_KEY",
    "OIDCSessionMiddleware",
]

#: Where the loaded :class:`Session` (or ``None``) sits in the ASGI scope.
SCOPE_KEY = "oidc_session"
#: True on the request that lands on ``post_logout_path`` right after a logout.
SIGNED_OUT_KEY = "oidc_signed_out"
#: Where the :class:`WebKit` that loaded it sits (for ``@login_required``'s step-up checks).
KIT_KEY = "oidc_kit"
#: Where the middleware's ``owner`` (the ``OIDCAuth``) sits, for the FastAPI dependencies.
AUTH_KEY = "oidc_auth"

log = logging.getLogger("oidc_kit")


def read_cookies(scope: Scope) -> dict[str, str]:
    """The request's cookies from the raw headers (no Request object on the hot path).

    Starlette's lenient parser, as browsers are: one malformed cookie does not hide the rest.
    """
    cookies: dict[str, str] = {}
    for key, value in scope["headers"]:
        if key == b"cookie":
            for name, found in _parse_cookie_header(value).items():
                cookies.setdefault(name, found)
    return cookies


def _parse_cookie_header(value: bytes) -> dict[str, str]:
    """One ``Cookie`` header's cookies (Starlette's parser: a repeated name, the last)."""
    return cookie_parser(value.decode("latin-1"))


#: What a request's cookies say (:meth:`OIDCSessionMiddleware._our_cookies`): a session
#: cookie came; the session id it names (``None``: none, or a bad signature); whether it was
#: signed with the newest secret; the logout cookie.
_OurCookies = tuple[bool, str | None, bool, str | None]
_NO_COOKIES: _OurCookies = (False, None, True, None)

#: What a middleware remembers of each table (:func:`_remember`): ``Cookie`` headers' parses
#: (the browsers active right now) and the users of the sessions they name. The longest
#: header remembered: a browser's is well under it, and a flood of made-up long headers then
#: costs at most ~4 MB.
_REMEMBERED = 1024
_REMEMBERED_HEADER_MAX = 4096

_K = TypeVar("_K")
_V = TypeVar("_V")


def _remember(table: dict[_K, _V], key: _K, value: _V) -> None:
    """``table[key] = value``; a new key makes the oldest entry go when the table holds
    :data:`_REMEMBERED`."""
    if key not in table and len(table) >= _REMEMBERED:
        del table[next(iter(table))]
    table[key] = value


class OIDCSessionMiddleware:
    """Loads the session named by the signed cookie into the scope."""

    def __init__(self, app: ASGIApp, kit: WebKit, owner: object = None) -> None:
        """``owner`` goes into every scope as it is (``scope["oidc_auth"]``), for code that
        needs more of the app's kit than this middleware does; it is never looked into here."""
        self.app = app
        self.kit = kit
        self.owner = owner
        #: ``Cookie`` header -> what it says (:meth:`_our_cookies`): a browser sends the same
        #: header on every request, so it is parsed and its signature checked once (a pure
        #: function of its bytes).
        self._seen_headers: dict[bytes, _OurCookies] = {}
        #: Session id -> the user and credentials made for its record (:meth:`_enter`).
        self._users: dict[str, tuple[OIDCUser, SessionCredentials]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """An HTTP request: the session its cookie names, and the cookie kept current (here,
        not in a coroutine of its own: one coroutine less on every request). A WebSocket
        handshake: :meth:`_websocket`."""
        kind = scope["type"]
        if kind != "http":
            await (self._websocket if kind == "websocket" else self.app)(scope, receive, send)
            return
        # Every audit event of this request (an expired session, a refresh...) says where
        # the request came from.
        token = bind_request(read_request_context, scope)
        try:
            has_cookie, sid, current, logout_cookie = self._our_cookies(scope)
            # The usual request has no logout cookie: no call for it.
            logout_return, signed_out = (
                (False, False)
                if logout_cookie is None
                else self._logout_return(scope, logout_cookie)
            )
            try:
                session = None if sid is None else await self.kit.rp.load_session_id(sid)
            except StoreUnavailable as exc:
                # Outside the app's exception handlers: answer here, 503 and no session lost.
                response = self.kit.error_response(HTTPConnection(scope), exc)
                await response(scope, receive, send)
                return
            self._enter(scope, session)
            #: True on the post-logout landing page, right after a logout: a page may say so.
            scope[SIGNED_OUT_KEY] = signed_out
            no_store = has_cookie
            stale_cookie = has_cookie and session is None
            # A cookie signed with an older secret is re-issued under the newest one.
            resign = session if session is not None and not current else None
            # What the answer's cookies need (rare: the usual answer needs nothing).
            repairs = (
                (resign, stale_cookie, logout_return)
                if stale_cookie or logout_return or resign is not None
                else None
            )

            # Not a coroutine function: it hands back the server's own ``send`` awaitable, so
            # that each message costs one coroutine, not two (an ASGI ``send`` returns an
            # awaitable).
            def send_wrapper(message: Message) -> Awaitable[None]:
                if message["type"] == "http.response.start":
                    _add_cache_headers(message, no_store=no_store)
                    if repairs is not None:
                        self._fix_cookies(message, *repairs)
                return send(message)

            await self.app(scope, receive, send_wrapper)
        finally:
            unbind_request(token)

    def _our_cookies(self, scope: Scope) -> _OurCookies:
        """Whether the request carries a session cookie, the session id it names (``None``:
        none, or a bad signature) and whether it was signed with the newest secret, and the
        logout cookie (``None``: absent).

        The usual request has one ``Cookie`` header, seen before: what it says is remembered
        (bounded, and only for headers of a browser's size), the signature check with it (a
        pure function of the cookie: ``RelyingParty.read_session_cookie``). Several ``Cookie``
        headers (HTTP/2 may split them) are read as :func:`read_cookies` reads them, each time.
        """
        header: bytes | None = None
        for key, value in scope["headers"]:
            if key == b"cookie":
                if header is not None:
                    return self._read(read_cookies(scope))
                header = value
        if header is None:
            return _NO_COOKIES
        found = self._seen_headers.get(header)
        if found is None:
            found = self._read(_parse_cookie_header(header))
            if len(header) <= _REMEMBERED_HEADER_MAX:
                _remember(self._seen_headers, header, found)
        return found

    def _read(self, cookies: Mapping[str, str]) -> _OurCookies:
        rp = self.kit.rp
        cookie, logout_cookie = cookies.get(rp.session_cookie), cookies.get(rp.logout_cookie)
        if cookie is None:
            return False, None, True, logout_cookie
        sid, current = rp.read_session_cookie(cookie) if cookie else (None, True)
        return True, sid, current, logout_cookie

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A WebSocket handshake: the session, unless the handshake is cross-site."""
        token = bind_request(read_request_context, scope)
        try:
            _, sid, _, _ = self._our_cookies(scope)
            session = None
            if sid is not None and is_same_origin(HTTPConnection(scope), self.kit.origin):
                try:
                    session = await self.kit.rp.load_session_id(sid)
                except StoreUnavailable:
                    # Refused rather than let through as anonymous: the user is not logged out.
                    log.warning("session store unavailable: WebSocket %s closed", scope["path"])
                    await WebSocketClose(WS_1011_INTERNAL_ERROR)(scope, receive, send)
                    return
            self._enter(scope, session)
            await self.app(scope, receive, send)
        finally:
            unbind_request(token)

    def _enter(self, scope: Scope, session: Session | None) -> None:
        """Put ``session`` (or none) into the scope, as the session and as Starlette's user.

        A logged-in request gets the user and credentials made for the very record it loaded
        (the store returns one ``Session`` object while the record is unchanged): both are
        read-only, so sharing them is invisible (``_starlette_user``)."""
        scope[SCOPE_KEY] = session
        scope[KIT_KEY] = self.kit
        scope[AUTH_KEY] = self.owner
        if session is None:
            scope["user"], scope["auth"] = UnauthenticatedUser(), AuthCredentials()
            return
        found = self._users.get(session.sid)
        if found is None or found[0].session is not session:
            found = OIDCUser(session), SessionCredentials(_scopes(session.granted_scope))
            _remember(self._users, session.sid, found)
        scope["user"], scope["auth"] = found

    def _fix_cookies(
        self, message: Message, resign: Session | None, stale_cookie: bool, logout_return: bool
    ) -> None:
        """Expire a cookie naming no live session, re-sign ``resign``'s cookie (signed with an
        older secret), and expire the logout-state cookie once it has served: the lines every
        adapter adds (``WebAnswers.cookie_repairs``)."""
        headers = MutableHeaders(scope=message)
        cookie_name = self.kit.rp.session_cookie
        sets = (stale_cookie or resign is not None) and _sets_cookie(headers, cookie_name)
        for line in self.kit.cookie_repairs(
            sets_session_cookie=sets,
            stale=stale_cookie,
            resign=resign,
            logout_return=logout_return,
        ):
            headers.append("Set-Cookie", line)

    def _logout_return(self, scope: Scope, cookie: str) -> tuple[bool, bool]:
        """Whether this is the browser's return from logout (its cookie, ``cookie``, then
        expires), and whether it brought back the logout's state
        (``WebAnswers.logout_return``, the rule every adapter applies)."""
        return self.kit.logout_return(
            scope["path"], cookie, lambda: Request(scope).query_params.get("state")
        )


@functools.lru_cache(maxsize=64)
def _scopes(granted: str | None) -> tuple[str, ...]:
    """``authenticated`` and the scopes the session's access token was granted (a record
    written before ``granted_scope`` existed: ``authenticated`` only; its tokens are not
    opened here, the hot path)."""
    # Cached: an app's sessions share a handful of grants, and this runs on every request.
    return ("authenticated", *(granted.split() if granted else ()))


def _add_cache_headers(message: Message, *, no_store: bool) -> None:
    """``Vary: Cookie`` always, ``Cache-Control: no-store`` when the answer may depend on a
    session. On the raw header list: this runs on every response (the hot path)."""
    headers = message.get("headers", ())
    # ASGI header names are lower-case bytes: compare them as they are.
    for name, _ in headers:
        if name == b"vary" or name == b"cache-control":
            _merge_cache_headers(message, no_store=no_store)  # the app set its own (rare)
            return
    # A new list: the app's may be the raw headers of a Response it sends again.
    if no_store:
        message["headers"] = [*headers, (b"vary", b"Cookie"), (b"cache-control", b"no-store")]
    else:
        message["headers"] = [*headers, (b"vary", b"Cookie")]


def _merge_cache_headers(message: Message, *, no_store: bool) -> None:
    """:func:`_add_cache_headers` for an answer with a ``Vary`` or ``Cache-Control`` of its
    own: ``Cookie`` joins its ``Vary``, and its ``Cache-Control`` is kept."""
    raw = message["headers"] = list(message.get("headers", ()))
    names = [name for name, _ in raw]
    if b"vary" in names:
        MutableHeaders(raw=raw).add_vary_header("Cookie")
    else:
        raw.append((b"vary", b"Cookie"))
    if no_store and b"cache-control" not in names:
        raw.append((b"cache-control", b"no-store"))


def _sets_cookie(headers: MutableHeaders, name: str) -> bool:
    prefix = f"{name}="
    return any(v.startswith(prefix) for v in headers.getlist("set-cookie"))
