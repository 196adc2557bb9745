"""The app behind the scale-out scenario (``bench/scaleout.py``), one per uvicorn worker.

``BENCH_KIND=kit``: oidc_kit's routes (``/auth``) and a protected JSON route ``GET /api/me``
that asks for the user's access token (so a due token is refreshed there, single-flight across
every worker and instance sharing the store) and answers the user's ``sub``. The provider and
the app's settings come from the environment (``OIDC_ISSUER`` ... as ``OIDCConfig.from_env``
reads them); the store from ``BENCH_STORE`` (a URL) with ``BENCH_STORE_KWARGS`` (JSON, passed
to the store class's constructor, e.g. a near-cache switch), so one scenario runs with any
store and any option of it. ``BENCH_KIND=bare``: the same route answering a constant, no kit.

With ``BENCH_PROBE_DIR`` set and a store whose near-cache is on, each process records when its
near-cache applied the notice of each probe key (``session:bench-probe-N``, written by the load
generator during the load) and appends ``{"pid", "key", "at"}`` lines to
``$BENCH_PROBE_DIR/probes-<pid>.jsonl`` every 0.2 s: the invalidation delay under load.

Either way an outermost middleware echoes the request's ``X-Bench-Id`` and adds when the
request reached this process (``X-Bench-In``), when its answer started (``X-Bench-Out``,
epoch seconds) and which process answered (``X-Bench-Pid``): the load generator needs them to
tell which session each answer was for and when it was served.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PID = str(os.getpid()).encode()


class Stamp:
    """Pure ASGI: copy ``x-bench-id`` to the answer, with arrival and answer times."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        arrived = f"{time.time():.6f}".encode()
        bench_id = next((v for k, v in scope["headers"] if k == b"x-bench-id"), b"")

        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [
                    (b"x-bench-id", bench_id),
                    (b"x-bench-in", arrived),
                    (b"x-bench-out", f"{time.time():.6f}".encode()),
                    (b"x-bench-pid", PID),
                ]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, stamped)


def create_app() -> Starlette:
    if os.environ.get("BENCH_APP_LOG"):  # the kit's log and audit events, for diagnosis
        import logging

        logging.basicConfig(
            level=logging.INFO, format="%(created).6f %(process)d %(name)s %(message)s"
        )
        logging.getLogger("httpx").setLevel(logging.WARNING)
    if os.environ.get("BENCH_KIND", "kit") == "bare":
        return _bare()
    return _kit()


def _bare() -> Starlette:
    async def me(request: Request) -> Response:
        return PlainTextResponse("sandbox-alice")

    return Starlette(routes=[Route("/api/me", me)], middleware=[Middleware(Stamp)])


def _store() -> Any:
    from oidc_kit.stores import open_store

    url = os.environ["BENCH_STORE"]
    kwargs = json.loads(os.environ.get("BENCH_STORE_KWARGS") or "{}")
    store: Any = open_store(url)
    if kwargs:  # the same class, built with the scenario's options
        store = type(store)(url, **kwargs)
    return store


def _kit() -> Starlette:
    from oidc_kit import OIDCConfig
    from oidc_kit.starlette import OIDCAuth, login_required

    store = _store()
    auth = OIDCAuth(OIDCConfig.from_env(), store=store)

    @login_required
    async def me(request: Request) -> Response:
        await auth.access_token(request)  # refreshed here when due; never shown
        return PlainTextResponse(request.user.identity)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        probes = _record_probes(store)
        try:
            yield
        finally:
            if probes is not None:
                probes.cancel()
            await auth.aclose()
            await store.close()

    return Starlette(
        routes=[auth.mount, Route("/api/me", me)],
        middleware=[Middleware(Stamp), auth.middleware],
        exception_handlers=auth.exception_handlers,
        lifespan=lifespan,
    )


PROBE = "session:bench-probe-"


def _record_probes(store: Any) -> asyncio.Task[None] | None:
    """Note when each probe key's notice is applied here (see the module docstring)."""
    directory = os.environ.get("BENCH_PROBE_DIR")
    cache = getattr(store, "_near", None)  # the store's NearCache, when on (bench only)
    if not directory or cache is None:
        return None
    seen: list[tuple[str, float]] = []

    def observe(key: str) -> None:
        if PROBE in key:
            seen.append((key.partition(PROBE)[2], time.time()))

    cache.observer = observe
    path = os.path.join(directory, f"probes-{os.getpid()}.jsonl")

    def flush() -> None:
        if seen:
            lines = [json.dumps({"pid": os.getpid(), "key": k, "at": t}) for k, t in seen]
            seen.clear()
            with open(path, "a") as out:
                out.write("\n".join(lines) + "\n")

    async def keep_flushing() -> None:
        try:
            while True:
                await asyncio.sleep(0.2)
                flush()
        finally:
            flush()

    return asyncio.get_running_loop().create_task(keep_flushing())
