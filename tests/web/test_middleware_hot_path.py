"""The session middleware's per-request shortcuts answer exactly as the long way did.

A ``Cookie`` header's parse is remembered (bounded), the cache headers are added to a new
list, several ``Cookie`` headers are still read as one browser's, and the requests that load
the same session record share its user and credentials, which no request can change: these
tests hold each shortcut to the answer it replaced.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.authentication import requires
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from oidc_kit import MemoryStore, OIDCConfig, RelyingParty, TokenSet
from oidc_kit._cookie_signer import CookieSigner
from oidc_kit._cookies import CookieWriter
from oidc_kit._middleware import (
    _REMEMBERED,
    _REMEMBERED_HEADER_MAX,
    OIDCSessionMiddleware,
    read_cookies,
)
from oidc_kit._pages import KitPages
from oidc_kit._web_kit import WebKit
from tests.conftest import SECRET, Clock, make_config
from tests.fake_op import ISSUER

APP = "https://app.test"
NEW_SECRET = "a-newer-session-secret-0123456789abcdef"
#: One response object sent again and again: the middleware must not grow its headers.
_SHARED = PlainTextResponse("shared", headers={"Vary": "Accept-Encoding"})
_SHARED_PLAIN = PlainTextResponse("shared")
#: What ``/identity`` saw: each request's ``request.user`` and ``request.auth``.
SEEN: list[tuple[Any, Any]] = []


@pytest.fixture
async def web_kit(clock: Clock) -> AsyncIterator[WebKit]:
    async with _web_kit(make_config(), clock) as kit:
        yield kit


@pytest.fixture
async def rotated_kit(clock: Clock) -> AsyncIterator[WebKit]:
    """A kit whose session secret was rotated: a new one first, the old one still accepted."""
    async with _web_kit(make_config(session_secrets=(NEW_SECRET, SECRET)), clock) as kit:
        yield kit


@asynccontextmanager
async def _web_kit(config: OIDCConfig, clock: Clock) -> AsyncIterator[WebKit]:
    async with httpx.AsyncClient() as http:
        rp = RelyingParty({"default": config}, store=MemoryStore(), http=http, clock=clock)
        yield WebKit(
            rp=rp,
            cookies=CookieWriter(config, rp.session_cookie),
            pages=KitPages(prefix="/auth"),
            json_paths=("/api/",),
            prefix="/auth",
            origin=APP,
            post_logout_path="/",
        )


def _app(kit: WebKit) -> Starlette:
    async def whoami(request: Request) -> Response:
        user = request.user
        return JSONResponse({"sub": user.identity if user.is_authenticated else None})

    async def cached(request: Request) -> Response:
        return PlainTextResponse("ok", headers={"Cache-Control": "max-age=60", "Vary": "Accept"})

    async def shared(request: Request) -> Response:
        return _SHARED

    async def shared_plain(request: Request) -> Response:
        return _SHARED_PLAIN

    @requires("accounts:read")
    async def accounts(request: Request) -> Response:
        return PlainTextResponse("accounts")

    async def identity(request: Request) -> Response:
        SEEN.append((request.user, request.auth))
        return PlainTextResponse("ok")

    routes = [Route("/whoami", whoami), Route("/cached", cached), Route("/shared", shared)]
    return Starlette(
        routes=[
            *routes,
            Route("/shared-plain", shared_plain),
            Route("/accounts", accounts),
            Route("/identity", identity),
        ],
        middleware=[Middleware(OIDCSessionMiddleware, kit=kit)],
    )


def _middleware(app: Starlette) -> OIDCSessionMiddleware:
    layer: Any = app.middleware_stack
    while not isinstance(layer, OIDCSessionMiddleware):
        layer = layer.app
    return layer


async def _cookie(kit: WebKit, clock: Clock) -> str:
    """A fresh session's cookie value."""
    now = clock()
    tokens = TokenSet("at-1", "Bearer", now + 3600, now, refresh_token="rt-1")
    claims = {"iss": ISSUER, "sub": "sandbox-alice", "auth_time": now}
    session = await kit.rp._sessions.create(tokens, claims, None)
    return kit.rp._cookies.sign_session(session.sid)


async def _get(
    app: Starlette, path: str, cookie_headers: list[bytes]
) -> tuple[int, dict[str, Any]]:
    """``GET path`` straight through ASGI, with these raw ``Cookie`` headers."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "https",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"app.test"), *((b"cookie", h) for h in cookie_headers)],
        "client": ("127.0.0.1", 1),
        "server": ("app.test", 443),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent[0]["status"], {"headers": sent[0]["headers"], "body": sent[1]["body"]}


async def test_a_cookie_header_seen_again_is_read_from_memory(
    web_kit: WebKit, clock: Clock
) -> None:
    app = _app(web_kit)
    header = f"theme=dark; {web_kit.rp.session_cookie}={await _cookie(web_kit, clock)}".encode()
    first = await _get(app, "/whoami", [header])
    again = await _get(app, "/whoami", [header])
    assert first == again and b"sandbox-alice" in again[1]["body"]
    sid = web_kit.rp.read_session_cookie(header.split(b"=", 2)[2].decode())[0]
    assert sid is not None
    # Parsed and its signature checked once: the session id it names, signed with the newest.
    assert _middleware(app)._seen_headers == {header: (True, sid, True, None)}


async def test_a_forged_cookie_seen_again_is_still_refused_and_expired(
    web_kit: WebKit, clock: Clock
) -> None:
    # The remembered verdict on a bad signature is "no session", every time it comes back.
    app = _app(web_kit)
    name, good = web_kit.rp.session_cookie, await _cookie(web_kit, clock)
    forged = f"{name}={good[:-2]}xx".encode()
    for _ in range(2):
        status, answer = await _get(app, "/whoami", [forged])
        assert status == 200 and answer["body"] == b'{"sub":null}'
        expired = dict(answer["headers"])[b"set-cookie"]
        assert expired.startswith(f'{name}="";'.encode()) and b"Max-Age=0" in expired
    assert _middleware(app)._seen_headers[forged] == (True, None, False, None)


async def test_a_cookie_signed_with_an_older_secret_is_re_signed_each_time_it_comes(
    rotated_kit: WebKit, clock: Clock
) -> None:
    # Remembered as "not the newest secret": each answer re-issues it until the browser
    # sends the new one.
    app = _app(rotated_kit)
    name, newest = rotated_kit.rp.session_cookie, await _cookie(rotated_kit, clock)
    sid, current = rotated_kit.rp.read_session_cookie(newest)
    assert sid is not None and current
    old = CookieSigner([SECRET], 600).sign_session(sid)
    header = f"{name}={old}".encode()
    for _ in range(2):
        status, answer = await _get(app, "/whoami", [header])
        assert status == 200 and b"sandbox-alice" in answer["body"]
        assert dict(answer["headers"])[b"set-cookie"].startswith(f"{name}={newest};".encode())
    assert _middleware(app)._seen_headers[header] == (True, sid, False, None)
    status, answer = await _get(app, "/whoami", [f"{name}={newest}".encode()])
    assert b"sandbox-alice" in answer["body"] and b"set-cookie" not in dict(answer["headers"])


async def test_a_logged_out_cookie_seen_again_is_still_refused(
    web_kit: WebKit, clock: Clock
) -> None:
    # Remembering the header's parse remembers no session: the store is read every time.
    app = _app(web_kit)
    cookie = await _cookie(web_kit, clock)
    header = f"{web_kit.rp.session_cookie}={cookie}".encode()
    assert b"sandbox-alice" in (await _get(app, "/whoami", [header]))[1]["body"]
    sid, _ = web_kit.rp._cookies.read_session(cookie)
    assert sid is not None
    await web_kit.rp._sessions.delete(sid)  # a logout, in this process or another
    status, answer = await _get(app, "/whoami", [header])
    assert status == 200
    assert answer["body"] == b'{"sub":null}'
    set_cookie = dict(answer["headers"])[b"set-cookie"]
    assert set_cookie.startswith(f"{web_kit.rp.session_cookie}=".encode())


async def test_several_cookie_headers_read_as_one_browser(web_kit: WebKit, clock: Clock) -> None:
    # The first header's cookie wins, as read_cookies has it; within one header, the last.
    app = _app(web_kit)
    name, good = web_kit.rp.session_cookie, await _cookie(web_kit, clock)
    good_first = [f"{name}={good}".encode(), f"{name}=forged".encode()]
    forged_first = [f"{name}=forged".encode(), f"{name}={good}".encode()]
    assert read_cookies({"headers": [(b"cookie", h) for h in good_first]})[name] == good
    assert b"sandbox-alice" in (await _get(app, "/whoami", good_first))[1]["body"]
    assert (await _get(app, "/whoami", forged_first))[1]["body"] == b'{"sub":null}'
    last_in_one = f"{name}=forged; {name}={good}".encode()
    assert b"sandbox-alice" in (await _get(app, "/whoami", [last_in_one]))[1]["body"]
    assert last_in_one in _middleware(app)._seen_headers
    assert not any(h in _middleware(app)._seen_headers for h in good_first + forged_first)


async def test_the_remembered_headers_are_bounded(web_kit: WebKit) -> None:
    app = _app(web_kit)
    for i in range(_REMEMBERED + 10):
        await _get(app, "/whoami", [f"other={i}".encode()])
    seen = _middleware(app)._seen_headers
    assert len(seen) == _REMEMBERED
    assert b"other=0" not in seen and f"other={_REMEMBERED + 9}".encode() in seen
    long = b"other=" + b"x" * _REMEMBERED_HEADER_MAX
    assert (await _get(app, "/whoami", [long]))[0] == 200
    assert long not in seen


async def test_the_apps_own_cache_headers_are_kept_and_merged(web_kit: WebKit) -> None:
    app = _app(web_kit)
    _, answer = await _get(app, "/cached", [f"{web_kit.rp.session_cookie}=x".encode()])
    headers = answer["headers"]
    assert (b"cache-control", b"max-age=60") in headers
    assert [v for k, v in headers if k == b"cache-control"] == [b"max-age=60"]
    assert [v for k, v in headers if k == b"vary"] == [b"Accept, Cookie"]
    _, plain = await _get(app, "/whoami", [f"{web_kit.rp.session_cookie}=x".encode()])
    assert (b"vary", b"Cookie") in plain["headers"]
    assert (b"cache-control", b"no-store") in plain["headers"]
    _, anonymous = await _get(app, "/whoami", [])
    assert (b"vary", b"Cookie") in anonymous["headers"]
    assert b"cache-control" not in dict(anonymous["headers"])


async def test_a_response_sent_again_does_not_collect_headers(web_kit: WebKit) -> None:
    app = _app(web_kit)
    for _ in range(3):
        _, answer = await _get(app, "/shared", [b"theme=dark"])
    assert [v for k, v in answer["headers"] if k == b"vary"] == [b"Accept-Encoding, Cookie"]
    assert [k for k, _ in _SHARED.raw_headers].count(b"vary") == 1
    cookie = f"{web_kit.rp.session_cookie}=x".encode()
    for _ in range(3):
        _, answer = await _get(app, "/shared-plain", [cookie])
    assert [v for k, v in answer["headers"] if k == b"vary"] == [b"Cookie"]
    assert [v for k, v in answer["headers"] if k == b"cache-control"] == [b"no-store"]
    assert b"vary" not in dict(_SHARED_PLAIN.raw_headers)


async def _identity(app: Starlette, header: bytes) -> tuple[Any, Any]:
    """The ``request.user`` and ``request.auth`` that ``/identity`` saw for ``header``."""
    SEEN.clear()
    assert (await _get(app, "/identity", [header]))[0] == 200
    return SEEN[0]


async def test_a_sessions_requests_share_its_user_until_its_record_changes(
    web_kit: WebKit, clock: Clock
) -> None:
    app = _app(web_kit)
    sessions, name = web_kit.rp._sessions, web_kit.rp.session_cookie
    alice = f"{name}={await _cookie(web_kit, clock)}".encode()
    user, auth = await _identity(app, alice)
    assert user.identity == "sandbox-alice" and auth.scopes[0] == "authenticated"
    assert await _identity(app, alice) == (user, auth)  # the very same objects
    other_user, _ = await _identity(app, f"{name}={await _cookie(web_kit, clock)}".encode())
    assert other_user is not user and other_user.session.sid != user.session.sid

    # The record changes (a refresh's new grant): the next request sees it, not the old pair.
    await sessions.save(replace(user.session, granted_scope="openid accounts:read"))
    new_user, new_auth = await _identity(app, alice)
    assert new_user is not user and new_auth is not auth
    assert new_auth.scopes == ["authenticated", "openid", "accounts:read"]
    assert new_user.session.granted_scope == "openid accounts:read"
    assert (await _get(app, "/accounts", [alice]))[0] == 200

    # Ended: no remembered user stands in for the session the store no longer has.
    await sessions.delete(new_user.session.sid)
    anonymous, anonymous_auth = await _identity(app, alice)
    assert not anonymous.is_authenticated and anonymous_auth.scopes == []
    assert (await _get(app, "/accounts", [alice]))[0] == 403


async def test_request_user_cannot_be_changed(web_kit: WebKit, clock: Clock) -> None:
    # Shared by a session's requests: a change would outlive the request that made it.
    app = _app(web_kit)
    header = f"{web_kit.rp.session_cookie}={await _cookie(web_kit, clock)}".encode()
    user, _ = await _identity(app, header)
    session = user.session
    with pytest.raises(AttributeError, match=r"request\.user is read-only"):
        user.role = "admin"
    with pytest.raises(AttributeError, match=r"request\.user is read-only"):
        user.session = None
    with pytest.raises(AttributeError, match=r"request\.user is read-only"):
        del user.session
    again, _ = await _identity(app, header)
    assert again is user and again.session is session and not hasattr(again, "role")


@pytest.mark.parametrize(
    "change",
    [
        lambda s: s.append("admin"),
        lambda s: s.extend(["admin"]),
        lambda s: s.insert(0, "admin"),
        lambda s: s.remove("authenticated"),
        lambda s: s.pop(),
        lambda s: s.clear(),
        lambda s: s.sort(),
        lambda s: s.reverse(),
        lambda s: s.__setitem__(0, "admin"),
        lambda s: s.__delitem__(0),
        lambda s: s.__iadd__(["admin"]),
        lambda s: s.__imul__(2),
    ],
)
async def test_request_auth_scopes_cannot_be_changed(
    web_kit: WebKit, clock: Clock, change: Callable[[list[str]], object]
) -> None:
    app = _app(web_kit)
    cookie = await _cookie(web_kit, clock)
    sid, _ = web_kit.rp._cookies.read_session(cookie)
    assert sid is not None
    session = await web_kit.rp._sessions.load(sid)
    assert session is not None
    await web_kit.rp._sessions.save(replace(session, granted_scope="accounts:read openid"))
    header = f"{web_kit.rp.session_cookie}={cookie}".encode()
    _, auth = await _identity(app, header)
    assert auth.scopes == ["authenticated", "accounts:read", "openid"]  # a list, as Starlette's
    with pytest.raises(TypeError, match=r"request\.auth\.scopes is read-only"):
        change(auth.scopes)
    with pytest.raises(AttributeError, match=r"request\.auth is read-only"):
        auth.scopes = ["authenticated", "admin"]
    with pytest.raises(AttributeError, match=r"request\.auth is read-only"):
        del auth.scopes
    _, again = await _identity(app, header)
    assert again is auth and again.scopes == ["authenticated", "accounts:read", "openid"]


async def test_the_remembered_users_are_bounded(web_kit: WebKit, clock: Clock) -> None:
    app = _app(web_kit)
    name = web_kit.rp.session_cookie
    first = f"{name}={await _cookie(web_kit, clock)}".encode()
    first_user, _ = await _identity(app, first)
    for _ in range(_REMEMBERED):
        await _identity(app, f"{name}={await _cookie(web_kit, clock)}".encode())
    users = _middleware(app)._users
    assert len(users) == _REMEMBERED and first_user.session.sid not in users
    again, _ = await _identity(app, first)  # made afresh: the same user, a new object
    assert again is not first_user and again.identity == "sandbox-alice"
    # A record that changes replaces its own entry: nobody else's goes.
    kept = set(users)
    await web_kit.rp._sessions.save(replace(again.session, granted_scope="openid"))
    changed, _ = await _identity(app, first)
    assert changed is not again and set(users) == kept and users[changed.session.sid][0] is changed
