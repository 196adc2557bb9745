"""Instructions per request, whole server: ``python -m bench.instructions`` (needs valgrind).

Throughput on a shared 2-core machine drifts by tens of percent from one minute to the next
(other tenants), so two apps measured a minute apart can differ more than the kit costs.
Counting instructions does not drift: each app of ``bench/app.py`` runs in uvicorn under
callgrind (the same command ``bench/run.py`` starts, so the same server, h11 included), wrk
loads it, and callgrind counts only while wrk's measured run lasts. The count divided by the
requests wrk completed is the whole server's work per request: uvicorn, h11, the event loop,
Starlette and the kit. Repeated runs agree within about 0.3%.

The ratio of two apps' counts predicts their throughput ratio when neither stalls on memory or
I/O: the tree of the Intel Xeon ``make bench`` runs of 2026-12-05 (commit 344b2ed) counts
0.891 for the memory store, and those runs measured 0.886-0.895x. It is a companion to
``make bench``'s timings, not a replacement: it cannot see a cache miss, a lock or a round trip
to a store. ``make bench`` runs it too (:func:`per_request`), for the rows marked counted, when
valgrind is installed; the kit over Redis and PostgreSQL (:func:`server_kinds`) is counted in
the app's process only, its near-cache's heartbeats included.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from bench.run import ROOT, SUB, free_port, postgres_url, redis_url

KINDS = {
    "bare": {"BENCH_KIND": "bare"},
    "bare-headers": {"BENCH_KIND": "bare-headers"},
    "kit-memory": {"BENCH_KIND": "kit", "BENCH_STORE": "memory://"},
    "kit-sqlite": {"BENCH_KIND": "kit", "BENCH_STORE": "sqlite:///{tmp}/sessions.db"},
}


def server_kinds() -> dict[str, dict[str, str]]:
    """The kit over Redis and over PostgreSQL, for each that answers here (as ``make bench``
    finds them). Their near-caches' heartbeats (ten a second) are work by the clock: under
    callgrind's slow request rate they weigh on each request far more than at real speed
    (``--idle`` measures them)."""
    kinds = {}
    if (url := redis_url()) is not None:
        kinds["kit-redis"] = {"BENCH_KIND": "kit", "BENCH_STORE": url}
    if (url := postgres_url()) is not None:
        kinds["kit-postgres"] = {"BENCH_KIND": "kit", "BENCH_STORE": url}
    return kinds


def count(
    kind: str, settings: dict[str, str], tmp: Path, seconds: int, *, idle: bool = False
) -> tuple[int, int]:
    """(instructions, requests) of ``kind``'s server (``settings``: its environment, as
    :data:`KINDS` gives it) while wrk loaded it for ``seconds``; with ``idle``, while nothing
    loaded it (the work it does by the clock: uvicorn's tick, a near-cache's heartbeat)."""
    port = free_port()
    cookie_out, out_file = tmp / f"{kind}.cookie", tmp / f"{kind}.callgrind"
    env = {
        **os.environ,
        **{k: v.format(tmp=tmp) for k, v in settings.items()},
        "BENCH_COOKIE_OUT": str(cookie_out),
        "PYTHONHASHSEED": "0",  # the same dict layouts every run
    }
    server = subprocess.Popen(
        [  # noqa: S607 (found on PATH, as wrk is)
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",  # start-up (imports, key generation) is not counted
            f"--callgrind-out-file={out_file}",
            sys.executable,
            "-m",
            "uvicorn",
            "bench.app:create_app",
            "--factory",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}/"
        cookie = _wait_ready(server, url, cookie_out)
        wrk = ["wrk", "-t1", "-c4", "-H", f"Cookie: {cookie}", url]
        subprocess.run([*wrk, "-d3s"], check=True, capture_output=True)  # warm
        callgrind_control("--instr=on", server.pid)
        if idle:
            time.sleep(seconds)
            report = "0 requests in"
        else:
            run = [*wrk, f"-d{seconds}s"]
            report = subprocess.run(run, check=True, capture_output=True, text=True).stdout
        callgrind_control("--instr=off", server.pid)
    finally:
        server.terminate()
        server.wait(timeout=120)
    if "Non-2xx" in report:
        raise RuntimeError(f"{kind}: wrk saw errors:\n{report}")
    match = re.search(r"(\d+) requests in", report)
    assert match, report
    totals = [
        int(line.split()[1])
        for path in tmp.glob(f"{kind}.callgrind*")
        for line in path.read_text().splitlines()
        if line.startswith("totals:")
    ]
    return sum(totals), int(match.group(1))


def _wait_ready(server: subprocess.Popen[bytes], url: str, cookie_out: Path) -> str:
    deadline = time.monotonic() + 600  # under valgrind, start-up takes tens of seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"{url}: the server exited")
        if cookie_out.exists():
            cookie = cookie_out.read_text()
            try:
                response = httpx.get(url, headers={"Cookie": cookie}, timeout=30)
            except httpx.HTTPError:
                time.sleep(0.5)
                continue
            if response.status_code != 200 or response.text != SUB:
                raise RuntimeError(f"{url} answered {response.status_code}")
            return cookie
        time.sleep(0.5)
    raise RuntimeError(f"{url} did not start")


def callgrind_control(option: str, pid: int) -> None:
    """Tell the callgrind running process ``pid`` to do ``option`` (``--instr=on``, ...)."""
    subprocess.run(["callgrind_control", option, str(pid)], check=True, capture_output=True)  # noqa: S607


def missing_tool() -> str | None:
    """The first tool the count needs that is not installed, else ``None``."""
    return next(
        (tool for tool in ("valgrind", "callgrind_control", "wrk") if shutil.which(tool) is None),
        None,
    )


def _counts(
    kinds: dict[str, dict[str, str]], seconds: int, idle: bool
) -> dict[str, tuple[int, int]]:
    with tempfile.TemporaryDirectory(prefix="oidc_kit_instr_") as tmpdir:
        tmp = Path(tmpdir)
        with ThreadPoolExecutor(max_workers=2) as pool:  # counts do not depend on the load
            done = pool.map(lambda k: count(k, kinds[k], tmp, seconds, idle=idle), kinds)
            return dict(zip(kinds, done, strict=True))


def per_request(kinds: dict[str, dict[str, str]], seconds: int) -> dict[str, tuple[float, int]]:
    """Each kind's instructions per request and the requests counted, two kinds at a time
    (``kinds``: name -> environment, as :data:`KINDS`)."""
    counted = _counts(kinds, seconds, idle=False)
    return {kind: (total / requests, requests) for kind, (total, requests) in counted.items()}


def idle_per_second(kinds: dict[str, dict[str, str]], seconds: int) -> dict[str, float]:
    """Each kind's instructions per second with no request coming, after a warm-up."""
    counted = _counts(kinds, seconds, idle=True)
    return {kind: total / seconds for kind, (total, _) in counted.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--kinds",
        default=",".join(KINDS),
        help="comma-separated, of these and kit-redis, kit-postgres",
    )
    parser.add_argument("--seconds", type=int, default=10, help="wrk's measured run")
    parser.add_argument(
        "--idle", action="store_true", help="count each server with no load: the clock's work"
    )
    args = parser.parse_args()
    missing = missing_tool()
    if missing is not None:
        raise SystemExit(f"{missing} is not installed (apt-get install valgrind wrk)")
    known = {**KINDS, **server_kinds()}
    kinds = {kind: known[kind] for kind in args.kinds.split(",")}
    if args.idle:
        for kind, rate in idle_per_second(kinds, args.seconds).items():
            print(f"{kind}: {rate:,.0f} instructions per second, idle")
        return
    counted = per_request(kinds, args.seconds)
    base = counted["bare"][0] if "bare" in counted else None
    print("| app | instructions per request | bare / app |")
    print("|---|---|---|")
    for kind, (value, requests) in counted.items():
        ratio = f"{base / value:.3f}" if base else ""
        print(f"| {kind} | {value:,.0f} ({requests:,} requests) | {ratio} |")


if __name__ == "__main__":
    main()
