"""Per-request cost without a server: ``python -m bench.inprocess [--profile KIND]``.

Drives the bench apps (``bench/app.py``) as ASGI callables with a fixed scope: 10,000 requests,
best of 3, in µs per request. With ``--profile kit-memory`` (or ``kit-sqlite``, ``bare``), it
prints a cProfile of 20,000 requests instead. This is the analysis tool behind
docs/performance.md; the throughput figures come from ``bench/run.py`` under uvicorn.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import app as bench_app

KINDS = {
    "bare": {"BENCH_KIND": "bare"},
    "kit-memory": {"BENCH_KIND": "kit", "BENCH_STORE": "memory://"},
    "kit-sqlite": {"BENCH_KIND": "kit", "BENCH_STORE": "sqlite:///{tmp}/sessions.db"},
    # REDIS_URL, else the local server; leave it out with --kinds.
    "kit-redis": {
        "BENCH_KIND": "kit",
        "BENCH_STORE": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
    },
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


async def drive(app: Any, n: int, scope: dict[str, Any], status: int = 200) -> None:
    """Send the request ``scope`` describes ``n`` times; each answer must be ``status``."""
    statuses: set[int] = set()

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.add(message["status"])

    for _ in range(n):
        await app(dict(scope), receive, send)
    if statuses != {status}:
        raise RuntimeError(f"the app answered {statuses}")


async def measure(kind: str, tmp: str, profile: bool) -> None:
    os.environ.update({k: v.format(tmp=tmp) for k, v in KINDS[kind].items()})
    os.environ["BENCH_COOKIE_OUT"] = f"{tmp}/{kind}.cookie"
    app = bench_app.create_app()
    async with app.router.lifespan_context(app):
        cookie = Path(f"{tmp}/{kind}.cookie").read_text()
        await drive(app, 2_000, get_scope(cookie=cookie))
        if profile:
            profiler = cProfile.Profile()
            profiler.enable()
            await drive(app, 20_000, get_scope(cookie=cookie))
            profiler.disable()
            pstats.Stats(profiler).sort_stats("tottime").print_stats(20)
            return
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            await drive(app, 10_000, get_scope(cookie=cookie))
            best = min(best, (time.perf_counter() - start) / 10_000)
        print(f"{kind:12} {best * 1e6:6.1f} µs per request")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=sorted(KINDS))
    parser.add_argument("--kinds", default=",".join(KINDS), help="comma-separated")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for kind in [args.profile] if args.profile else args.kinds.split(","):
            asyncio.run(measure(kind, tmp, profile=args.profile is not None))


if __name__ == "__main__":
    main()
