"""What the sync bridge costs: ``python -m bench.bridge [--rounds 7] [--calls 4000]``.

One trivial coroutine, reached five ways, side by side in one run: awaited directly on one
loop (what an ASGI app pays), through ``CoreLoop.call`` from 1, 4 and 16 threads (a WSGI app's
request threads), through ``CoreLoop.acall`` from another loop (Django's async views), and, for
contrast, with ``asyncio.run`` per call (a loop per request, which the bridge exists to avoid),
and anyio's ``BlockingPortal.call`` from 1 and 16 threads on the bridge's own loop (what
``call()`` would cost through the portal, which hands off twice per call where ``call()``
hands off once). Each round runs every way once, in turn; the figures are the medians over the rounds, in µs.

"µs per call" is what one caller waits for one call (with T threads: each thread's time over
its own calls); "µs of wall per call" is the run's elapsed time over all the calls made (with
several threads, their calls overlap: the bridge's throughput).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from oidc_kit._bridge import CoreLoop

#: (per call as a caller waits, wall per call) in µs, for one way in one round.
Figures = tuple[float, float]


async def trivial() -> int:
    return 1


async def nothing() -> None:
    return None


def direct(calls: int) -> Figures:
    async def run() -> float:
        start = time.perf_counter()
        for _ in range(calls):
            await trivial()
        return time.perf_counter() - start

    elapsed = asyncio.run(run())
    return elapsed / calls * 1e6, elapsed / calls * 1e6


def threaded(call: Callable[[], object], threads: int, calls: int) -> Figures:
    per_thread = max(1, calls // threads)
    gate = threading.Barrier(threads + 1)

    def one() -> float:
        gate.wait()
        start = time.perf_counter()
        for _ in range(per_thread):
            call()
        return (time.perf_counter() - start) / per_thread

    with ThreadPoolExecutor(threads) as pool:
        futures = [pool.submit(one) for _ in range(threads)]
        gate.wait()
        start = time.perf_counter()
        waits = [f.result() for f in futures]
        wall = time.perf_counter() - start
    return statistics.mean(waits) * 1e6, wall / (per_thread * threads) * 1e6


def from_another_loop(core: CoreLoop[None], calls: int) -> Figures:
    async def run() -> float:
        start = time.perf_counter()
        for _ in range(calls):
            await core.acall(trivial)
        return time.perf_counter() - start

    elapsed = asyncio.run(run())
    return elapsed / calls * 1e6, elapsed / calls * 1e6


def loop_per_call(calls: int) -> Figures:
    start = time.perf_counter()
    for _ in range(calls):
        asyncio.run(trivial())
    elapsed = time.perf_counter() - start
    return elapsed / calls * 1e6, elapsed / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=4000, help="calls per way and round")
    args = parser.parse_args()
    calls: int = args.calls

    core: CoreLoop[None] = CoreLoop(nothing)
    core.call(trivial)  # started before timing: the first call's start-up is once per process
    portal = core._ensure().portal  # the bridge's own portal, for the comparison rows

    def bridged() -> object:
        return core.call(trivial)

    def through_portal() -> object:
        return portal.call(trivial)

    ways: dict[str, Callable[[], Figures]] = {
        "await on one loop (direct)": lambda: direct(calls * 10),
        "call() from 1 thread": lambda: threaded(bridged, 1, calls),
        "call() from 4 threads": lambda: threaded(bridged, 4, calls),
        "call() from 16 threads": lambda: threaded(bridged, 16, calls),
        "acall() from another loop": lambda: from_another_loop(core, calls),
        "asyncio.run per call (contrast)": lambda: loop_per_call(calls // 4),
        "BlockingPortal.call, 1 thread": lambda: threaded(through_portal, 1, calls),
        "BlockingPortal.call, 16 threads": lambda: threaded(through_portal, 16, calls),
    }
    results: dict[str, list[Figures]] = {name: [] for name in ways}
    for _ in range(args.rounds):
        for name, way in ways.items():
            results[name].append(way())
    core.close()

    print(f"{args.rounds} rounds, medians; {calls} calls per way and round")
    print(f"{'way':34} {'µs per call':>12} {'µs of wall per call':>20}")
    for name, figures in results.items():
        wait = statistics.median(f[0] for f in figures)
        wall = statistics.median(f[1] for f in figures)
        print(f"{name:34} {wait:12.2f} {wall:20.2f}")


if __name__ == "__main__":
    main()
