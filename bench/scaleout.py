"""Load and faults at scale: ``python -m bench.scaleout [--quick] [--store LABEL=URL[#JSON]]``.

Two app instances (``bench/scaleout_app.py``), each ``uvicorn --workers 2``, behind one port,
on one shared store, against one sandbox provider (``python -m oidc_kit.testing``, its own
process, with a short access-token lifetime so every session's token comes due during the
run). N users log in through the sandbox first (httpx, a browser's steps); then a load of
``GET /api/me`` rotating all N session cookies (wrk with ``bench/scaleout.lua``, else a Python
generator) runs while

- a refresh storm: no request comes until every session's token is due, so the first
  requests refresh them all at once, and again together half a lifetime later; each
  session's refresh is single-flight across all four processes (the store's lease);
- a logout storm ``POST /auth/logout``s a fifth of the sessions, half during the first
  refresh storm (logouts racing refreshes), half in the calm after it.

Reported per store: throughput (whole run, the calm between the storms, the slowest second)
and p99 latency; sessions lost (a refusal, 401/302/303, for a session not logged out, or for
one answered before its logout reached the app: must be 0) and other errors (a 503 when a
refresh could not reach the provider keeps the session); refresh grants and refresh-token
reuses at the provider (``GET /_sandbox/stats``: reuses must be 0); and, over all logouts,
the longest time from the logout's acknowledgement to that session's last 200 (when it was
answered: a request already past its store read when the logout landed counts too), and how
many logged-out sessions were served a request that arrived after the acknowledgement (a
stale read: 0 without a cache; with a near-cache, bounded by its invalidation window). The
same topology serving a bare route, before and after the stores, gives the baseline.

Where the store has a near-cache, the load generator also writes a probe key
(``session:bench-probe-N``) to the store every 50 ms during the load, and every worker
reports when its near-cache applied that key's notice (``bench/scaleout_app.py``): the
invalidation delay under load, from the moment the write was sent (so the writer's own round
trip is inside it), p50/p99/max over every (probe, worker) pair, and how many pairs never
arrived (a worker whose cache was off at that moment reads the store instead).

One port, two instances: ``SO_REUSEPORT``. Each instance (``bench/scaleout_serve.py``) binds
its own listening socket to the same port; the kernel spreads connections between the two
accept queues (by a hash of the connection's addresses, so the split is near even, not
exact: it is reported) and each instance's two workers share its own. A proxy in the bench
would be one more Python process copying every byte on a 2-core machine: it would measure the
proxy, and it adds latency that no real L4 balancer adds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import html
import inspect
import json
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
LUA = Path(__file__).with_name("scaleout.lua")
#: Statuses that mean "no session": the protected JSON route's 401 (a page's 303, 302).
REFUSED = ("401", "302", "303")
CLIENT_ID, CLIENT_SECRET = "bench-app", "bench-app-secret-0123456789abcdef"
SESSION_SECRET = "bench-scaleout-session-secret-0123456789abcdef"


@dataclass
class Plan:
    users: int
    duration: int  # seconds of load
    access_ttl: int  # the sandbox's access-token lifetime; due after half of it
    concurrency: int
    generator: str  # "wrk" or "python"
    quick: bool = False
    logout_fraction: float = 0.2
    workers: int = 2
    instances: int = 2


@dataclass
class Scenario:
    label: str
    store: str  # a URL, or "bare" for the baseline
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass
class Invalidation:
    """Near-cache invalidation delays under load, over every (probe, worker) pair."""

    from_sent: tuple[float, float, float]  # ms from the write being sent: p50, p99, max
    from_ack: tuple[float, float, float]  # ms from the store's acknowledgement of the write
    samples: int
    missing: int  # pairs never received (that worker's cache was off at that moment)


@dataclass
class Outcome:
    label: str
    rps: float
    p99_ms: float
    lost: int
    grants: int
    reuses: int
    logouts: int
    window_ms: float | None  # the longest (last 200 answered - logout acknowledged)
    late_ms: float | None  # the longest (last 200's request arrived - logout acknowledged)
    served_after: int
    split: list[int]
    steady_rps: float  # 200s a second between the refresh storms (median of whole seconds)
    storm_rps: float  # the slowest whole second
    errors: int  # answers neither 200 nor a refusal (a 503: a refresh that failed, say)
    #: Near-cache invalidation delays under load, or None where no worker had a near-cache.
    invalidation: Invalidation | None = None


def log(message: str) -> None:
    """Progress and diagnostics, on stderr (the table goes to stdout)."""
    print(f"scaleout: {message}", file=sys.stderr, flush=True)


def log_verbose(message: str) -> None:
    if os.environ.get("BENCH_VERBOSE"):
        log(message)


# -- processes ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def start_sandbox(port: int, front: str, ttl: int, log: Path) -> subprocess.Popen[bytes]:
    client = f"{CLIENT_ID}:{CLIENT_SECRET}:{front}/auth/callback:{front}/"
    cmd = [sys.executable, "-m", "oidc_kit.testing", "--port", str(port), "--client", client]
    cmd += ["--access-token-ttl", str(ttl)]
    with log.open("wb") as out:
        return subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)


def start_instances(
    scenario: Scenario, plan: Plan, port: int, issuer: str, tmp: Path
) -> list[subprocess.Popen[bytes]]:
    """``plan.instances`` uvicorn processes of ``plan.workers`` workers each, each with its own
    ``SO_REUSEPORT`` listening socket bound to ``port`` (``bench/scaleout_serve.py``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OIDC_", "SESSION_"))}
    env.update(
        PYTHONUNBUFFERED="1",
        BENCH_KIND="bare" if scenario.store == "bare" else "kit",
        BENCH_STORE=scenario.store,
        BENCH_STORE_KWARGS=json.dumps(scenario.kwargs),
        BENCH_PROBE_DIR=str(probe_dir(scenario, tmp)),
        OIDC_ISSUER=issuer,
        OIDC_CLIENT_ID=CLIENT_ID,
        OIDC_CLIENT_SECRET=CLIENT_SECRET,
        OIDC_ALLOW_INSECURE_HTTP="1",
        OIDC_SCOPES="openid profile offline_access",
        APP_BASE_URL=f"http://127.0.0.1:{port}",
        SESSION_SECRET=SESSION_SECRET,
    )
    processes = []
    for i in range(plan.instances):
        cmd = [sys.executable, "-m", "bench.scaleout_serve", str(port), str(plan.workers)]
        with (tmp / f"instance-{i}.log").open("ab") as out:
            processes.append(
                subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
            )
    return processes


def wait_ready(front: str, processes: list[subprocess.Popen[bytes]], want: int, tmp: Path) -> None:
    """Until every worker has answered (``X-Bench-Pid``), within 60 s."""
    seen: set[str] = set()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in processes):
            logs = "\n".join(p.read_text(errors="replace") for p in tmp.glob("instance-*.log"))
            raise RuntimeError(f"an instance exited:\n{logs}")
        try:
            with httpx.Client() as client:  # a new connection, so any worker may take it
                seen.add(client.get(f"{front}/api/me", timeout=2).headers["x-bench-pid"])
        except (httpx.HTTPError, KeyError):
            time.sleep(0.1)
            continue
        if len(seen) >= want:
            return
    if len(seen) < 2:
        raise RuntimeError(f"the instances did not start ({len(seen)} worker(s) answered)")


def instance_of(pid: str, processes: list[subprocess.Popen[bytes]]) -> int | None:
    """Which instance a worker belongs to (its parent process)."""
    try:
        ppid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return next((i for i, p in enumerate(processes) if p.pid == ppid), None)


# -- logins and logouts ---------------------------------------------------------------------


async def login(front: str, user: str) -> str:
    """A browser's login through the sandbox; the session's ``Cookie`` header value."""
    async with httpx.AsyncClient(base_url=front, timeout=30) as client:
        start = await client.get("/auth/login", params={"next": "/api/me"})
        if "location" not in start.headers:  # say what came back instead of a KeyError
            raise RuntimeError(f"/auth/login answered {start.status_code}: {start.text[:300]}")
        page = await client.get(start.headers["location"])
        form = re.search(r'<form[^>]*action="([^"]+)"', page.text)
        assert form, page.text[:300]
        fields = {
            html.unescape(n): html.unescape(v)
            for n, v in re.findall(r'name="([^"]+)"\s+value="([^"]*)"', page.text)
        }
        fields.update(username=user, password=user, action="login")
        answer = await client.post(page.url.join(html.unescape(form.group(1))), data=fields)
        callback = await client.get(answer.headers["location"])
        if callback.status_code != 303:
            raise RuntimeError(f"login failed: {callback.status_code} {callback.text[:200]}")
        return "; ".join(f"{k}={v}" for k, v in callback.cookies.items() if v)


async def login_all(front: str, n: int) -> list[str]:
    gate = asyncio.Semaphore(16)

    async def one(i: int) -> str:
        async with gate:
            return await login(front, ("alice", "bob")[i % 2])

    return list(await asyncio.gather(*(one(i) for i in range(n))))


async def logout(client: httpx.AsyncClient, front: str, cookie: str) -> tuple[float, float]:
    """``POST /auth/logout`` for ``cookie``: when it reached the app (the app's stamp, so
    comparable with the load's stamps) and when its answer came back (epoch s)."""
    sent = time.time()
    response = await client.post(
        f"{front}/auth/logout", headers={"Cookie": cookie, "Origin": front}
    )
    acked = time.time()
    if response.status_code != 303:
        raise RuntimeError(f"logout answered {response.status_code}")
    served = (response.headers["x-bench-in"], response.headers["x-bench-out"])
    log_verbose(f"logout: sent {sent:.6f} in {served[0]} out {served[1]} ack {acked:.6f}")
    return float(served[0]), acked


async def logout_wave(
    front: str, cookies: list[str], ids: list[int], at: float, done: dict[int, tuple[float, float]]
) -> None:
    await asyncio.sleep(max(0.0, at - time.time()))
    async with httpx.AsyncClient(timeout=30) as client:
        results = await asyncio.gather(*(logout(client, front, cookies[i - 1]) for i in ids))
    done.update(zip(ids, results, strict=True))


# -- near-cache invalidation probes --------------------------------------------------------------

PROBE = "session:bench-probe-"


def probe_dir(scenario: Scenario, tmp: Path) -> Path:
    path = tmp / ("probes-" + re.sub(r"[^a-z0-9]+", "-", scenario.label.lower()))
    path.mkdir(parents=True, exist_ok=True)
    return path


async def write_probes(scenario: Scenario, seconds: float) -> dict[str, tuple[float, float]]:
    """Write a probe key every 50 ms for ``seconds``; when each write was sent and when the
    store acknowledged it (epoch s)."""
    from oidc_kit.stores import open_store

    store: Any = open_store(scenario.store)
    sent: dict[str, tuple[float, float]] = {}
    try:
        end = time.time() + seconds
        i = 0
        while time.time() < end:
            began = time.time()
            await store.set(f"{PROBE}{i}", b"probe", 30)
            sent[str(i)] = (began, time.time())
            i += 1
            await asyncio.sleep(0.05)
    finally:
        await store.close()
    return sent


def invalidation_delays(
    scenario: Scenario, tmp: Path, sent: dict[str, tuple[float, float]], workers: int
) -> Invalidation | None:
    """The delays over every (probe, worker), or None when no worker recorded any (no
    near-cache)."""
    from_sent: list[float] = []
    from_ack: list[float] = []
    for path in probe_dir(scenario, tmp).glob("probes-*.jsonl"):
        for line in path.read_text().splitlines():
            seen = json.loads(line)
            if seen["key"] in sent:
                began, acked = sent[seen["key"]]
                from_sent.append((seen["at"] - began) * 1000)
                from_ack.append(max(0.0, seen["at"] - acked) * 1000)
    if not from_sent:
        return None
    return Invalidation(
        _percentiles(from_sent),
        _percentiles(from_ack),
        len(from_sent),
        len(sent) * workers - len(from_sent),
    )


def _percentiles(values: list[float]) -> tuple[float, float, float]:
    """(p50, p99, max)."""
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered), p99, ordered[-1]


# -- load -------------------------------------------------------------------------------------


async def load_wrk(front: str, cookie_file: Path, plan: Plan, tmp: Path) -> dict[str, Any]:
    out = tmp / "wrk.json"
    env = {**os.environ, "BENCH_WRK_COOKIES": str(cookie_file), "BENCH_WRK_OUT": str(out)}
    cmd = ["wrk", "-t1", f"-c{plan.concurrency}", f"-d{plan.duration}s", "--latency"]
    cmd += ["-s", str(LUA), f"{front}/api/me"]
    process = await asyncio.create_subprocess_exec(
        *cmd, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    text = (await process.communicate())[0].decode()
    if process.returncode != 0 or not out.exists():
        raise RuntimeError(f"wrk failed:\n{text}")
    return dict(json.loads(out.read_text()))


async def load_python(front: str, cookies: list[str], plan: Plan) -> dict[str, Any]:
    """What the Lua script gathers, from httpx (slower than wrk: it proves the bench runs)."""
    last_in: dict[str, float] = {}
    last_out: dict[str, float] = {}
    bad: dict[str, int] = {}
    first_bad: dict[str, float] = {}
    by_pid: dict[str, int] = {}
    statuses: dict[str, int] = {}
    per_second: dict[str, int] = {}
    latencies: list[float] = []
    counter = random.randrange(len(cookies))
    stop_at = time.perf_counter() + plan.duration
    limits = httpx.Limits(max_connections=plan.concurrency)

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal counter
        while time.perf_counter() < stop_at:
            counter = counter % len(cookies) + 1
            key = str(counter)
            t0 = time.perf_counter()
            r = await client.get(
                f"{front}/api/me", headers={"Cookie": cookies[counter - 1], "X-Bench-Id": key}
            )
            latencies.append(time.perf_counter() - t0)
            pid = r.headers.get("x-bench-pid", "?")
            by_pid[pid] = by_pid.get(pid, 0) + 1
            statuses[str(r.status_code)] = statuses.get(str(r.status_code), 0) + 1
            arrived = float(r.headers["x-bench-in"])
            answered = float(r.headers["x-bench-out"])
            if r.status_code == 200:
                second = str(int(answered))
                per_second[second] = per_second.get(second, 0) + 1
                last_in[key] = max(last_in.get(key, 0.0), arrived)
                last_out[key] = max(last_out.get(key, 0.0), answered)
            elif str(r.status_code) in REFUSED:
                bad[key] = bad.get(key, 0) + 1
                first_bad[key] = min(first_bad.get(key, float("inf")), answered)

    start = time.perf_counter()
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        await asyncio.gather(*(worker(client) for _ in range(plan.concurrency)))
    latencies.sort()
    return {
        "requests": len(latencies),
        "duration_us": (time.perf_counter() - start) * 1e6,
        "socket_errors": 0,
        "p50_us": statistics.median(latencies) * 1e6,
        "p99_us": latencies[int(len(latencies) * 0.99) - 1] * 1e6,
        "last_in": last_in,
        "last_out": last_out,
        "bad": bad,
        "first_bad": first_bad,
        "by_pid": by_pid,
        "statuses": statuses,
        "per_second": per_second,
    }


async def sandbox_stats(issuer: str) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=10) as client:
        return dict((await client.get(f"{issuer}/_sandbox/stats")).json())


async def run_load(
    scenario: Scenario, plan: Plan, front: str, issuer: str, tmp: Path
) -> tuple[dict[str, Any], dict[int, tuple[float, float]], int, int]:
    """Log in, wait until every token is due, then load with the storms; the load's figures
    (with ``start``), the logouts, refresh grants and refresh-token reuses."""
    t_login = time.time()
    if scenario.store == "bare":  # no kit: cookies of the kit's shape, never read
        cookies = [f"oidc_session={os.urandom(32).hex()}.{i}" for i in range(plan.users)]
    else:
        cookies = await login_all(front, plan.users)
        log(f"{scenario.label}: {len(cookies)} logins took {time.time() - t_login:.1f} s")
        # The refresh storm: no request comes until every session's token is due (the
        # leeway is half the lifetime: OIDC_REFRESH_LEEWAY's default of 30 s is capped
        # there), so the load's first requests refresh them all at once, however long the
        # logins took; and again, together, half a lifetime later.
        await asyncio.sleep(plan.access_ttl / 2)
    cookie_file = tmp / "cookies.txt"
    cookie_file.write_text("\n".join(cookies) + "\n")
    before = await sandbox_stats(issuer)
    # The logout storm: a fifth of the sessions (ids are 1-based, as in Lua), half during
    # the refresh storm (logouts racing refreshes), half in the calm after it.
    chosen = random.sample(
        range(1, plan.users + 1), max(2, round(plan.users * plan.logout_fraction))
    )
    half = len(chosen) // 2
    start = time.time()
    logouts: dict[int, tuple[float, float]] = {}
    waves = [
        logout_wave(front, cookies, chosen[:half], start + 0.3, logouts),
        logout_wave(front, cookies, chosen[half:], start + plan.access_ttl / 4, logouts),
    ]
    if scenario.store == "bare":
        for wave in waves:
            wave.close()  # never started
        waves = []
    if plan.generator == "wrk":
        load = load_wrk(front, cookie_file, plan, tmp)
    else:
        load = load_python(front, cookies, plan)
    probes = None
    if scenario.store != "bare":  # ends before the load does, so every worker has flushed
        probes = asyncio.ensure_future(write_probes(scenario, max(0.5, plan.duration - 1.5)))
    figures, *_ = await asyncio.gather(load, *waves)
    figures["start"] = start
    figures["probes"] = {} if probes is None else await probes
    after = await sandbox_stats(issuer)
    grants = after["grant_counts"].get("refresh_token", 0) - before["grant_counts"].get(
        "refresh_token", 0
    )
    return figures, logouts, grants, after["refresh_reuses"] - before["refresh_reuses"]


def judge(
    scenario: Scenario,
    plan: Plan,
    figures: dict[str, Any],
    logouts: dict[int, tuple[float, float]],
    grants: int,
    reuses: int,
    processes: list[subprocess.Popen[bytes]],
) -> Outcome:
    """The figures of one run: sessions lost, and how long logged-out sessions were served."""
    bad = {int(k): int(v) for k, v in figures["bad"].items()}
    first_bad = {int(k): float(v) for k, v in figures["first_bad"].items()}
    last_in = {int(k): float(v) for k, v in figures["last_in"].items()}
    last_out = {int(k): float(v) for k, v in figures["last_out"].items()}
    errors = sum(int(n) for k, n in figures["statuses"].items() if k not in (*REFUSED, "200"))
    lost = 0
    if scenario.store != "bare":
        lost = sum(n for i, n in bad.items() if i not in logouts)
        # A logged-out session may be refused once its logout has reached the app: a
        # refusal answered before that cannot be the logout's doing. (Not compared with
        # the refused request's arrival: under load a request can wait in its worker's
        # loop for hundreds of ms between arriving and reading the store.)
        lost += sum(1 for i, (sent, _) in logouts.items() if first_bad.get(i, sent) < sent)
    if lost:
        log(f"{scenario.label}: lost {lost}; answers by status {figures.get('statuses')}")
        for i, n in bad.items():
            sent, ack = logouts.get(i, (None, None))
            log(f"  session {i}: {n} refused from {first_bad[i]:.6f}; logout in {sent} ack {ack}")
    windows = [max(0.0, last_out.get(i, 0.0) - ack) for i, (_, ack) in logouts.items()]
    late = [max(0.0, last_in.get(i, 0.0) - ack) for i, (_, ack) in logouts.items()]
    served_after = sum(1 for i, (_, ack) in logouts.items() if last_in.get(i, 0.0) > ack)
    # Whole seconds of 200s; "steady" is the calm between the two refresh storms (at the
    # start and half a lifetime later), "storm" the slowest second of the run.
    seconds = sorted((int(k), int(v)) for k, v in figures["per_second"].items())[1:-1]
    calm = (figures["start"] + 1.5, figures["start"] + plan.access_ttl / 2 - 0.5)
    steady = [n for t, n in seconds if calm[0] <= t and t + 1 <= calm[1]]
    steady = steady or [n for _, n in seconds] or [0]
    split = [0] * len(processes)
    for pid, count in figures["by_pid"].items():
        where = instance_of(str(pid), processes)
        if where is not None:
            split[where] += int(count)
    return Outcome(
        label=scenario.label,
        rps=figures["requests"] / (figures["duration_us"] / 1e6),
        p99_ms=figures["p99_us"] / 1000,
        lost=lost,
        grants=grants,
        reuses=reuses,
        logouts=len(logouts),
        window_ms=max(windows) * 1000 if windows else None,
        late_ms=max(late) * 1000 if late else None,
        errors=errors,
        served_after=served_after,
        split=split,
        steady_rps=statistics.median(steady),
        storm_rps=min((n for _, n in seconds), default=0),
    )


async def one_scenario(
    scenario: Scenario, plan: Plan, port: int, issuer: str, tmp: Path
) -> Outcome:
    front = f"http://127.0.0.1:{port}"
    t0 = time.perf_counter()
    processes = start_instances(scenario, plan, port, issuer, tmp)
    try:
        await asyncio.to_thread(wait_ready, front, processes, plan.instances * plan.workers, tmp)
        await asyncio.to_thread(wait_sandbox, issuer, tmp)
        log(f"{scenario.label}: instances ready in {time.perf_counter() - t0:.1f} s")
        figures, logouts, grants, reuses = await run_load(scenario, plan, front, issuer, tmp)
        log(f"{scenario.label}: done in {time.perf_counter() - t0:.1f} s")
        if figures.get("socket_errors"):
            raise RuntimeError(f"{scenario.label}: {figures['socket_errors']} socket errors")
        outcome = judge(scenario, plan, figures, logouts, grants, reuses, processes)
        workers = plan.instances * plan.workers
        outcome.invalidation = invalidation_delays(scenario, tmp, figures["probes"], workers)
        return outcome
    finally:
        for process in processes:
            stop(process)


# -- the scenarios ----------------------------------------------------------------------------


def _reachable(url: str) -> bool:
    try:
        import redis

        client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
        client.ping()
        client.close()
    except Exception:
        return False
    return True


def near_cache_switch() -> str | None:
    """The name of ``RedisStore``'s near-cache switch, if this tree has one."""
    try:
        from oidc_kit.stores.redis import RedisStore
    except ImportError:
        return None
    names = inspect.signature(RedisStore.__init__).parameters
    return next((n for n in names if "cache" in n), None)


def postgres_available(url: str) -> str | None:
    """Why the PostgreSQL scenario cannot run, or None."""
    from oidc_kit.stores import open_store

    try:
        store = open_store(url)
    except Exception as exc:  # an unknown scheme before the store exists
        return f"no PostgreSQL store in this tree ({type(exc).__name__}: {exc})"
    asyncio.run(_ping_close(store))
    return None


async def _ping_close(store: Any) -> None:
    try:
        await store.ping()
    finally:
        await store.close()


def default_scenarios(tmp: Path, quick: bool, notes: list[str]) -> list[Scenario]:
    found: list[Scenario] = []
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    if _reachable(redis_url):
        switch = near_cache_switch()
        if switch is None:
            found.append(Scenario("Redis (no near-cache in this tree)", redis_url))
        else:
            found.append(Scenario("Redis, near-cache on", redis_url, {switch: True}))
            if not quick:
                found.append(Scenario("Redis, near-cache off", redis_url, {switch: False}))
    else:
        notes.append("scale-out: Redis unreachable (REDIS_URL or 127.0.0.1:6379): skipped")
    if quick:
        return found or [Scenario("SQLite, one shared file", f"sqlite:///{tmp}/scaleout.db")]
    pg_url = os.environ.get("POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    pg_url += ("&" if "?" in pg_url else "?") + "table_prefix=oidc_kit_bench_"
    try:
        why = postgres_available(pg_url)
    except Exception as exc:
        why = f"PostgreSQL at {pg_url.rpartition('@')[2]} did not answer ({type(exc).__name__})"
    if why is None:
        found.append(Scenario("PostgreSQL", pg_url))
    else:
        notes.append(f"scale-out: {why}: PostgreSQL skipped")
    found.append(Scenario("SQLite, one shared file", f"sqlite:///{tmp}/scaleout.db"))
    return found


def parse_store(spec: str) -> Scenario:
    """``LABEL=URL[#JSON]``: a store for the scenario, with constructor options."""
    label, _, rest = spec.partition("=")
    url, _, options = rest.partition("#")
    return Scenario(label, url, json.loads(options) if options else {})


@contextlib.contextmanager
def sandbox(plan: Plan, port: int, tmp: Path) -> Iterator[str]:
    """The provider, started; its issuer. Not waited for: the first scenario's instances
    start meanwhile (``wait_sandbox``)."""
    op_port = free_port()
    process = start_sandbox(op_port, f"http://127.0.0.1:{port}", plan.access_ttl, tmp / "op.log")
    try:
        yield f"http://127.0.0.1:{op_port}"
    finally:
        stop(process)


def wait_sandbox(issuer: str, tmp: Path) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"{issuer}/.well-known/openid-configuration", timeout=1)
            return
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise RuntimeError((tmp / "op.log").read_text(errors="replace")) from None
            time.sleep(0.05)


def run(plan: Plan, stores: list[Scenario] | None, notes: list[str]) -> list[Outcome]:
    """The baseline, each store, and the baseline again; outcomes in that order."""
    keep = os.environ.get("BENCH_KEEP")  # a directory to keep the logs in
    with tempfile.TemporaryDirectory(prefix="oidc_kit_scaleout_") as tmpdir:
        if keep:
            tmpdir = keep
            Path(keep).mkdir(parents=True, exist_ok=True)
        tmp = Path(tmpdir)
        scenarios = stores if stores is not None else default_scenarios(tmp, plan.quick, notes)
        bare = Scenario("bare route, same topology", "bare")
        # Quick mode only proves the scenario runs: one store, no baseline.
        order = scenarios[:1] if plan.quick else [bare, *scenarios, bare]
        port = free_port()
        outcomes = []
        with sandbox(plan, port, tmp) as issuer:
            for scenario in order:
                outcomes.append(asyncio.run(one_scenario(scenario, plan, port, issuer, tmp)))
        return outcomes


def quick_plan(generator: str) -> Plan:
    return Plan(users=12, duration=2, access_ttl=2, concurrency=8, generator=generator, quick=True)


def full_plan(generator: str) -> Plan:
    return Plan(users=100, duration=10, access_ttl=12, concurrency=32, generator=generator)


def rows(outcomes: list[Outcome]) -> list[tuple[str, str, str, bool | None]]:
    """(measure, result, target, met) rows for bench/run.py's table."""
    bares = [o.rps for o in outcomes if o.label.startswith("bare")]
    bare = statistics.mean(bares) if bares else None
    steadies = [o.steady_rps for o in outcomes if o.label.startswith("bare")]
    bare_steady = statistics.mean(steadies) if steadies else None
    out: list[tuple[str, str, str, bool | None]] = []
    if bares:
        out.append(
            (
                "scale-out, bare route (2 instances x 2 workers)",
                " / ".join(f"{b:,.0f}" for b in bares)
                + " req/s (before / after the stores; median second "
                + " / ".join(f"{b:,.0f}" for b in steadies)
                + ")",
                "(baseline)",
                None,
            )
        )
    for o in outcomes:
        if o.label.startswith("bare"):
            continue
        name = f"scale-out, {o.label}"
        split = "/".join(str(s) for s in o.split)
        ratio = "" if bare is None else f" = {o.rps / bare:.2f}x bare"
        steady = "" if bare_steady is None else f" = {o.steady_rps / bare_steady:.2f}x bare"
        out.append(
            (
                f"{name}: throughput, p99",
                f"{o.rps:,.0f} req/s{ratio}; p99 {o.p99_ms:.1f} ms; {o.steady_rps:,.0f} req/s "
                f"between the refresh storms{steady}, {o.storm_rps:,.0f} in the slowest "
                f"second (requests per instance {split})",
                "",
                None,
            )
        )
        out.append(
            (
                f"{name}: sessions lost; other errors; refresh grants; refresh-token reuses",
                f"{o.lost}; {o.errors}; {o.grants}; {o.reuses}",
                "0 lost, 0 reuses",
                o.lost == 0 and o.reuses == 0,
            )
        )
        if o.window_ms is not None and o.late_ms is not None:
            out.append(
                (
                    f"{name}: {o.logouts} logouts: longest served after the logout's ack",
                    f"{o.window_ms:.1f} ms (requests in flight at the logout included); "
                    f"{o.served_after} sessions served a request that arrived after the ack "
                    f"(longest {o.late_ms:.1f} ms after)",
                    "",
                    None,
                )
            )
        if o.invalidation is not None:
            inv = o.invalidation
            (p50, p99, worst), (a50, a99, aworst) = inv.from_sent, inv.from_ack
            out.append(
                (
                    f"{name}: near-cache invalidation applied on every worker, under this load",
                    f"from the write's acknowledgement: p50 {a50:.2f} ms, p99 {a99:.2f} ms, "
                    f"max {aworst:.1f} ms; from its sending: p50 {p50:.2f}, p99 {p99:.2f}, "
                    f"max {worst:.1f} ms ({inv.samples} probe x worker pairs; {inv.missing} "
                    "not received: that worker's cache was off then)",
                    "p99 <= 10 ms",
                    a99 <= 10,
                )
            )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--generator", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument(
        "--store",
        action="append",
        type=parse_store,
        help="LABEL=URL[#JSON constructor options]; repeat; default: every store found",
    )
    args = parser.parse_args()
    gen = args.generator
    if gen == "auto":
        gen = "wrk" if shutil.which("wrk") else "python"
    plan = quick_plan(gen) if args.quick else full_plan(gen)
    notes: list[str] = []
    started = time.perf_counter()
    outcomes = run(plan, args.store, notes)
    for measure, value, target, met in rows(outcomes):
        flag = "" if met is None else ("yes" if met else "NO")
        print(f"{measure}: {value} {target} {flag}")
    for note in notes:
        print(f"note: {note}")
    print(f"{time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
