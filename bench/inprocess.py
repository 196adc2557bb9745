"""Per-request cost without a server: ``python -m bench.inprocess [--profile KIND]``.

Drives the bench apps (``bench/app.py``) as ASGI callables with a fixed scope: 10,000 requests,
best of 3, in µs per request; the Flask pair (``bench/sync_apps.py``, kinds ``flask-bare`` and
``flask-kit``) as WSGI callables from one thread, and, next to ``flask-kit``, one bridge crossing
of a trivial coroutine in the same process (``SyncKit.call``). With ``--profile kit-memory`` (or
``kit-sqlite``, ``bare``), it prints a cProfile of 20,000 requests instead. With ``--count
kit-memory,bare`` (needs valgrind), it counts each app's instructions per request under
callgrind: the count of 4,000 requests less that of 1,000, each counted from after a warm-up
(start-up, whose RSA key generation alone varies by ~10^8 instructions, is not counted), with
a fresh scope and fresh header bytes per request, as a server makes them. Repeated counts
agree within ~0.5k. This is the analysis tool behind docs/performance.md; the throughput
figures come from ``bench/run.py`` under uvicorn, the whole server's count from
``bench/instructions.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from bench import app as bench_app
from bench import sync_apps
from bench.instructions import callgrind_control

KINDS = {
    "bare": {"BENCH_KIND": "bare"},
    "bare-headers": {"BENCH_KIND": "bare-headers"},
    "kit-memory": {"BENCH_KIND": "kit", "BENCH_STORE": "memory://"},
    "kit-sqlite": {"BENCH_KIND": "kit", "BENCH_STORE": "sqlite:///{tmp}/sessions.db"},
    # REDIS_URL, else the local server; leave it out with --kinds.
    "kit-redis": {
        "BENCH_KIND": "kit",
        "BENCH_STORE": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
    },
}
#: WSGI apps (bench/sync_apps.py), driven from one thread.
WSGI_KINDS = {
    "flask-bare": {"BENCH_KIND": "flask-bare"},
    "flask-kit": {"BENCH_KIND": "flask-kit", "BENCH_STORE": "memory://"},
}


def get_scope(path: str = "/", query: bytes = b"", cookie: str = "") -> dict[str, Any]:
    """An ASGI scope for ``GET path?query`` from 127.0.0.1, with ``cookie`` when given."""
    headers = [(b"host", b"127.0.0.1")]
    if cookie:
        headers.append((b"cookie", cookie.encode()))
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }


async def drive(
    app: Any, n: int, scope: dict[str, Any], status: int = 200, *, fresh: bool = False
) -> None:
    """Send the request ``scope`` describes ``n`` times; each answer must be ``status``.
    ``fresh``: new header bytes each time, as a server parses them (a ``bytes`` object
    caches its hash, so reusing them would spare the kit's look-ups their hashing)."""
    statuses: set[int] = set()

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.add(message["status"])

    for _ in range(n):
        if fresh:
            headers = [(name, bytes(memoryview(value))) for name, value in scope["headers"]]
            await app({**scope, "headers": headers}, receive, send)
        else:
            await app(dict(scope), receive, send)
    if statuses != {status}:
        raise RuntimeError(f"the app answered {statuses}")


@asynccontextmanager
async def started(kind: str, tmp: str, warm_up: int) -> AsyncIterator[tuple[Any, dict[str, Any]]]:
    """``kind``'s app, started (its lifespan) and sent ``warm_up`` requests, and the scope of
    its logged-in request."""
    os.environ.update({k: v.format(tmp=tmp) for k, v in KINDS[kind].items()})
    os.environ["BENCH_COOKIE_OUT"] = f"{tmp}/{kind}.cookie"
    app = bench_app.create_app()
    async with app.router.lifespan_context(app):
        scope = get_scope(cookie=Path(f"{tmp}/{kind}.cookie").read_text())
        await drive(app, warm_up, scope)
        yield app, scope


async def measure(kind: str, tmp: str, profile: bool) -> None:
    async with started(kind, tmp, warm_up=2_000) as (app, scope):
        if profile:
            profiler = cProfile.Profile()
            profiler.enable()
            await drive(app, 20_000, scope)
            profiler.disable()
            pstats.Stats(profiler).sort_stats("tottime").print_stats(20)
            return
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            await drive(app, 10_000, scope)
            best = min(best, (time.perf_counter() - start) / 10_000)
        print(f"{kind:12} {best * 1e6:6.1f} µs per request")


async def counted_run(kind: str, tmp: str, requests: int) -> None:
    """Under callgrind (:func:`count`): 500 requests, then counting on, then ``requests``."""
    async with started(kind, tmp, warm_up=500) as (app, scope):
        # Blocking on purpose: counting must be on before the first counted request.
        callgrind_control("--instr=on", os.getpid())
        await drive(app, requests, scope, fresh=True)


def count(kind: str) -> int:
    """``kind``'s instructions per request, in process (:func:`counted_run`)."""
    totals = []
    for requests in (1_000, 4_000):
        with tempfile.TemporaryDirectory() as tmp:
            done = subprocess.run(
                [  # noqa: S607 (found on PATH, as bench/instructions.py finds it)
                    "valgrind",
                    "--tool=callgrind",
                    "--instr-atstart=no",
                    f"--callgrind-out-file={tmp}/out",
                    sys.executable,
                    "-m",
                    "bench.inprocess",
                    "--counted-run",
                    kind,
                    "--requests",
                    str(requests),
                ],
                env={**os.environ, "PYTHONHASHSEED": "0"},
                check=True,
                capture_output=True,
                text=True,
            )
            match = re.search(r"Collected : (\d+)", done.stderr)
            assert match, done.stderr
            totals.append(int(match.group(1)))
    return (totals[1] - totals[0]) // 3_000


def wsgi_environ(cookie: str) -> dict[str, Any]:
    """A WSGI environ for ``GET /`` from 127.0.0.1 with ``cookie``."""
    return {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1",
        "HTTP_COOKIE": cookie,
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.errors": None,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }


def drive_wsgi(app: Any, n: int, environ: dict[str, Any]) -> None:
    """Call the WSGI ``app`` ``n`` times with ``environ``; each answer must be 200."""
    statuses: set[str] = set()

    def start_response(status: str, headers: Any, exc_info: Any = None) -> None:
        statuses.add(status)

    for _ in range(n):
        env = dict(environ)
        env["wsgi.input"] = io.BytesIO()
        body = app(env, start_response)
        b"".join(body)
        getattr(body, "close", lambda: None)()
    if statuses != {"200 OK"}:
        raise RuntimeError(f"the app answered {statuses}")


def best_of_3(fn: Any, n: int) -> float:
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        fn(n)
        best = min(best, (time.perf_counter() - start) / n)
    return best


def measure_wsgi(kind: str, tmp: str) -> None:
    os.environ.update(WSGI_KINDS[kind])
    os.environ["BENCH_COOKIE_OUT"] = f"{tmp}/{kind}.cookie"
    app = sync_apps.create_app()
    environ = wsgi_environ(Path(f"{tmp}/{kind}.cookie").read_text())
    drive_wsgi(app, 2_000, environ)
    best = best_of_3(lambda n: drive_wsgi(app, n, environ), 10_000)
    print(f"{kind:12} {best * 1e6:6.1f} µs per request")
    kit = app.extensions.get("oidc_kit")
    if kit is not None:

        async def trivial() -> None:
            return None

        def crossings(n: int) -> None:
            for _ in range(n):
                kit.call(trivial)

        crossing = best_of_3(crossings, 10_000)
        print(f"{'  crossing':12} {crossing * 1e6:6.1f} µs per SyncKit.call (trivial coroutine)")
        kit.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=sorted(KINDS))
    parser.add_argument("--kinds", default=",".join(KINDS), help="comma-separated")
    parser.add_argument("--count", help="comma-separated kinds: instructions per request")
    parser.add_argument("--counted-run", help=argparse.SUPPRESS)
    parser.add_argument("--requests", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.counted_run:
        with tempfile.TemporaryDirectory() as tmp:
            asyncio.run(counted_run(args.counted_run, tmp, args.requests))
        return
    if args.count:
        kinds = args.count.split(",")
        with ThreadPoolExecutor(max_workers=2) as pool:  # counts do not depend on the load
            for kind, per_request in zip(kinds, pool.map(count, kinds), strict=True):
                print(f"{kind:12} {per_request:,} instructions per request, in process")
        return
    with tempfile.TemporaryDirectory() as tmp:
        for kind in [args.profile] if args.profile else args.kinds.split(","):
            if kind in WSGI_KINDS:
                measure_wsgi(kind, tmp)
            else:
                asyncio.run(measure(kind, tmp, profile=args.profile is not None))


if __name__ == "__main__":
    main()
