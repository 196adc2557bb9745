"""The Python load generator, used when ``wrk`` is not installed: ``python -m bench.loadgen``.

Runs in its own process: ``CONCURRENCY`` keep-alive connections (httpx) sending ``GET`` for
``--warmup`` seconds (not counted), then ``--duration`` seconds (counted). Prints JSON.
It is slower than ``wrk``: on a small machine it can be the bottleneck, which pulls every
ratio towards 1. Quick mode uses it only to prove the bench runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import httpx


async def run(
    url: str, cookie: str, concurrency: int, warmup: float, duration: float
) -> dict[str, float]:
    headers = {"Cookie": cookie} if cookie else {}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    start = time.perf_counter()
    count_from, stop_at = start + warmup, start + warmup + duration
    ok = errors = 0

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal ok, errors
        while True:
            response = await client.get(url, headers=headers)
            now = time.perf_counter()
            if now >= stop_at:
                return
            if now >= count_from:
                if response.status_code == 200:
                    ok += 1
                else:
                    errors += 1

    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    return {"requests": ok, "errors": errors, "rps": ok / duration}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--cookie", default="")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--warmup", type=float, default=0.5)
    parser.add_argument("--duration", type=float, default=5.0)
    args = parser.parse_args()
    result = asyncio.run(run(args.url, args.cookie, args.concurrency, args.warmup, args.duration))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
