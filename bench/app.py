"""The apps under load, one per process: ``uvicorn bench.app:create_app --factory``.

``BENCH_KIND`` picks the app: ``bare`` (a Starlette route, no middleware, sent a cookie of
the same size as the kit's), ``bare-headers`` (the same route, also sending the two headers
the kit adds to every answer to a request with a session cookie, ``Vary: Cookie`` and
``Cache-Control: no-store``: the bare cost of that security, apart from the kit's), ``kit`` (oidc_kit's
session middleware over ``BENCH_STORE``, a route returning ``request.user.identity``) or
``cookie`` (authlib's Starlette client pattern: Starlette's cookie ``SessionMiddleware``
holding the token dict, a route reading ``request.session["token"]``). At start-up the app
makes one logged-in session the way a login would (``Sessions.create`` with PortX-sized
tokens, cookie signed with the kit's ``CookieSigner``; for the cookie pattern, the signed
cookie ``SessionMiddleware`` would set) and writes the ``Cookie`` header to ``BENCH_COOKIE_OUT``.
"""

from __future__ import annotations

import gc
import json
import os
import secrets
import time
from base64 import b64encode
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from itsdangerous import TimestampSigner
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bench import tokens as portx

COOKIE_SECRET = "bench-cookie-session-secret-0123456789"


def create_app() -> Starlette:
    kind = os.environ["BENCH_KIND"]
    out = Path(os.environ["BENCH_COOKIE_OUT"])
    if kind == "bare":
        return _bare(out)
    if kind == "bare-headers":
        return _bare(out, cache_headers=True)
    if kind == "kit":
        return _kit(out, os.environ["BENCH_STORE"])
    if kind == "cookie":
        return _cookie(out)
    raise SystemExit(f"unknown BENCH_KIND {kind!r}")


#: What the kit's middleware appends to an answer to a request with a session cookie (when
#: the app set neither header): a shared cache must never keep one user's page for another.
KIT_CACHE_HEADERS = [(b"vary", b"Cookie"), (b"cache-control", b"no-store")]


async def gc_counts(request: Request) -> Response:
    """How many collections of each generation this process's garbage collector has run
    (the runner reads it before and after the measured runs: bench/run.py)."""
    return JSONResponse([generation["collections"] for generation in gc.get_stats()])


#: Not measured: read by the runner around the measured runs.
GC_ROUTE = Route("/__gc", gc_counts)


def publish_cookie(out: Path, header: str) -> None:
    """Hand the runner the ``Cookie`` header to send, all at once.

    The runner polls for the file and reads it as soon as it exists (bench/run.py
    ``wait_ready``): a plain ``write_text`` creates it empty first, and a runner that read it
    in that instant sent no cookie and saw the login redirect. A rename is atomic.
    """
    partial = out.with_name(out.name + ".partial")
    partial.write_text(header)
    partial.replace(out)


def _bare(out: Path, *, cache_headers: bool = False) -> Starlette:
    async def hello(request: Request) -> Response:
        return PlainTextResponse("auth0|6543a1b2c3d4e5f6a7b8c9d0")

    async def hello_uncached(request: Request) -> Response:
        response = PlainTextResponse("auth0|6543a1b2c3d4e5f6a7b8c9d0")
        response.raw_headers += KIT_CACHE_HEADERS  # the same bytes, in the same place
        return response

    # The browser sends its session cookie to every route, so the baseline gets a cookie of
    # the kit's shape and size too: the ratio then prices the kit's work, not h11 reading
    # 100 more bytes of request.
    publish_cookie(out, f"oidc_session={secrets.token_urlsafe(32)}.{secrets.token_urlsafe(32)}")
    return Starlette(routes=[Route("/", hello_uncached if cache_headers else hello), GC_ROUTE])


def _kit(out: Path, store_url: str) -> Starlette:
    from oidc_kit import RedisStore
    from oidc_kit.starlette import OIDCAuth, login_required

    store = (
        RedisStore(store_url, prefix="oidc_kit_bench:") if store_url.startswith("redis") else None
    )
    config = portx.config(store=store_url if store is None else None)  # one or the other
    auth = OIDCAuth(config, store=store)

    @login_required
    async def me(request: Request) -> Response:
        return PlainTextResponse(request.user.identity)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        tokens, claims = portx.portx_tokens(int(time.time()))
        session = await auth._sessions.create(tokens, claims, provider_sid=str(claims["sid"]))
        publish_cookie(out, f"{auth.session_cookie}={auth._cookies.sign_session(session.sid)}")
        try:
            yield
        finally:
            await auth._sessions.end(session)
            await auth.aclose()
            if store is not None:
                await store.close()

    return Starlette(
        routes=[Route("/", me), GC_ROUTE],
        middleware=[auth.middleware],
        exception_handlers=auth.exception_handlers,
        lifespan=lifespan,
    )


def cookie_session_token(now: int) -> dict[str, object]:
    """What authlib's ``authorize_access_token`` returns and apps put in ``request.session``.

    The PortX access token, the refresh token and the metadata: about 2 KB. The ID token is
    left out: with it the cookie would pass browsers' 4 KB limit.
    """
    tokens, _ = portx.portx_tokens(now)
    return {
        "access_token": tokens.access_token,
        "token_type": "Bearer",
        "expires_in": 3600,
        "expires_at": now + 3600,
        "refresh_token": tokens.refresh_token,
        "scope": tokens.scope,
    }


def _cookie(out: Path) -> Starlette:
    # The pattern from authlib's Starlette docs: an OAuth registry; the callback stores
    # ``token = await oauth.portx.authorize_access_token(request)`` in request.session.
    from authlib.integrations.starlette_client import OAuth

    oauth = OAuth()
    oauth.register(
        "portx",
        client_id=portx.CLIENT_ID,
        client_secret="bench-client-secret",
        server_metadata_url=portx.ISSUER + ".well-known/openid-configuration",
        client_kwargs={"scope": portx.SCOPES},
    )

    async def me(request: Request) -> Response:
        token = request.session.get("token")
        if not token:
            return PlainTextResponse("login required", status_code=401)
        return PlainTextResponse(str(token["userinfo"]["sub"]))

    session = {"token": cookie_session_token(int(time.time()))}
    session["token"]["userinfo"] = {"sub": "auth0|6543a1b2c3d4e5f6a7b8c9d0"}
    data = b64encode(json.dumps(session).encode("utf-8"))
    value = TimestampSigner(COOKIE_SECRET).sign(data).decode()
    publish_cookie(out, f"session={value}")
    return Starlette(
        routes=[Route("/", me), GC_ROUTE],
        middleware=[Middleware(SessionMiddleware, secret_key=COOKIE_SECRET, max_age=12 * 3600)],
    )
