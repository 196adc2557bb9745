"""oidc_kit's benchmarks: ``make bench`` (full, ~3 minutes) or ``make bench QUICK=1`` (seconds).

Prints one table and, in full mode, writes the same figures to docs/performance.md (between
the ``bench:begin``/``bench:end`` markers; the analysis around them is kept). Benchmarks are not
tests: nothing here fails on speed. See docs/performance.md for the method.

``python -m bench.run --only frameworks [--rounds N]`` measures only the sync frameworks' pairs
(and the bare Starlette route they are set against), prints their rows and writes nothing: a
check of those apps, not a run to publish.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime
import gc
import hashlib
import importlib.metadata
import json
import os
import platform
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "performance.md"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
SUB = "auth0|6543a1b2c3d4e5f6a7b8c9d0"


@dataclass
class Mode:
    quick: bool
    generator: str  # "wrk" or "python"
    rounds: int
    duration: float
    warmup: float
    concurrency: int
    idtoken_n: int
    sessions_n: int
    storm_sizes: tuple[int, ...] = (50, 500)
    token_delay: float = 0.020


@dataclass
class Row:
    measure: str
    value: str
    target: str = ""
    met: str = ""


@dataclass
class Results:
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)

    def add(self, measure: str, value: str, target: str = "", met: bool | None = None) -> None:
        flag = "" if met is None else ("yes" if met else "**no**")
        self.rows.append(Row(measure, value, target, flag))


# -- servers and load ----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class App:
    name: str
    url: str
    cookie: str
    process: subprocess.Popen[bytes]
    log: Path


#: The sync frameworks' app pairs (bench/sync_apps.py), each served as WSGI by the same
#: uvicorn as the Starlette apps: (framework, its bare view's kind, its protected view's kind,
#: the store the protected one uses). Another framework is one more entry (and its two kinds
#: in bench/sync_apps.py).
FRAMEWORK_PAIRS = (
    ("Flask", "flask-bare", "flask-kit", "memory://"),
    ("Django", "django-bare", "django-kit", "memory://"),
)
WSGI_KINDS = {kind for _, bare, kit, _ in FRAMEWORK_PAIRS for kind in (bare, kit)}


def start_app(
    name: str, env: dict[str, str], tmp: Path
) -> tuple[subprocess.Popen[bytes], str, Path, Path]:
    port = free_port()
    cookie_out, log = tmp / f"{name}.cookie", tmp / f"{name}.log"
    full_env = {**os.environ, **env, "BENCH_COOKIE_OUT": str(cookie_out), "PYTHONUNBUFFERED": "1"}
    wsgi = env["BENCH_KIND"] in WSGI_KINDS
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "bench.sync_apps:create_app" if wsgi else "bench.app:create_app",
        "--factory",
        *(["--interface", "wsgi"] if wsgi else []),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(
            cmd, cwd=ROOT, env=full_env, stdout=out, stderr=subprocess.STDOUT
        )
    return process, f"http://127.0.0.1:{port}/", cookie_out, log


def wait_ready(
    name: str, process: subprocess.Popen[bytes], url: str, cookie_out: Path, log: Path
) -> App:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited:\n{log.read_text(errors='replace')}")
        if cookie_out.exists():
            try:
                cookie = cookie_out.read_text()
                response = httpx.get(url, headers={"Cookie": cookie} if cookie else {}, timeout=2)
            except httpx.HTTPError:
                time.sleep(0.05)
                continue
            if response.status_code != 200 or response.text != SUB:
                raise RuntimeError(
                    f"{name} answered {response.status_code} {response.text[:200]!r}"
                )
            return App(name, url, cookie, process, log)
        time.sleep(0.05)
    raise RuntimeError(f"{name} did not start:\n{log.read_text(errors='replace')}")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def load(app: App, mode: Mode, duration: float) -> float:
    """Requests per second of ``app`` from a load generator in another process."""
    if mode.generator == "wrk":
        cmd = ["wrk", "-t1", f"-c{mode.concurrency}", f"-d{max(1, round(duration))}s", app.url]
        if app.cookie:
            cmd[1:1] = ["-H", f"Cookie: {app.cookie}"]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        if "Non-2xx" in out or "Socket errors" in out:
            raise RuntimeError(f"{app.name}: wrk saw errors:\n{out}")
        match = re.search(r"Requests/sec:\s+([0-9.]+)", out)
        assert match, out
        return float(match.group(1))
    cmd = [
        sys.executable,
        "-m",
        "bench.loadgen",
        app.url,
        "--cookie",
        app.cookie,
        "--concurrency",
        str(mode.concurrency),
        "--warmup",
        str(mode.warmup),
        "--duration",
        str(duration),
    ]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    result = json.loads(out)
    if result["errors"]:
        raise RuntimeError(f"{app.name}: {result['errors']} failed requests")
    return float(result["rps"])


def redis_url() -> str | None:
    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    try:
        import redis

        client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
        client.ping()
        client.close()
    except Exception:
        return None
    return url


def postgres_url() -> str | None:
    """PostgreSQL for the kit-postgres app (``POSTGRES_URL``, else 127.0.0.1:5432 as the
    ``postgres`` user), its tables under a bench prefix; ``None`` when none answers or asyncpg
    is missing."""
    url = os.environ.get("POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    try:
        import asyncio

        import asyncpg  # type: ignore[import-untyped]

        async def ping() -> None:
            connection = await asyncpg.connect(url, timeout=1)
            await connection.close()

        asyncio.run(ping())
    except Exception:
        return None
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}table_prefix=oidc_kit_bench_"


#: What each store's protected request must reach, as a share of the bare route (issue 17).
TARGETS = (("kit-memory", 0.90), ("kit-sqlite", 0.90), ("kit-redis", 0.85), ("kit-postgres", 0.80))


def throughput(mode: Mode, res: Results, only_frameworks: bool = False) -> None:
    """Requests per second of each app, interleaved; with ``only_frameworks``, only the bare
    Starlette route and the sync frameworks' pairs (their rows alone)."""
    kinds: dict[str, dict[str, str]] = {"bare": {"BENCH_KIND": "bare"}}
    with tempfile.TemporaryDirectory(prefix="oidc_kit_bench_") as tmpdir, ExitStack() as stack:
        tmp = Path(tmpdir)
        if not only_frameworks:
            _starlette_kinds(kinds, tmp, res)
        for _, bare_kind, kit_kind, store in FRAMEWORK_PAIRS:
            kinds[bare_kind] = {"BENCH_KIND": bare_kind}
            kinds[kit_kind] = {"BENCH_KIND": kit_kind, "BENCH_STORE": store}
        started = {name: start_app(name, env, tmp) for name, env in kinds.items()}
        for process, *_ in started.values():
            stack.callback(stop, process)
        apps = {name: wait_ready(name, *args) for name, args in started.items()}
        if mode.generator == "wrk":  # one untimed warm-up per app
            for app in apps.values():
                load(app, mode, 1)
        runs: dict[str, list[float]] = {name: [] for name in apps}
        collected = {name: gc_counts(app) for name, app in apps.items()}
        for _ in range(mode.rounds):  # interleaved: noise hits every app alike
            for name, app in apps.items():
                runs[name].append(load(app, mode, mode.duration))
        for name, app in apps.items():
            collected[name] = _delta(collected[name], gc_counts(app))
        res.raw["throughput_runs"] = runs
        med = {name: statistics.median(values) for name, values in runs.items()}
        cookies = {name: len(app.cookie) for name, app in apps.items()}
    res.add("bare Starlette route", f"{med['bare']:,.0f} req/s", "(baseline)")
    if not only_frameworks:
        starlette_rows(med, cookies, res)
        against_cache_headers(med, res)
        collections(collected, runs, mode, res)
    frameworks(med, res)


#: The apps counted under callgrind (bench/instructions.py), and its `server_kinds()`: the kit over
#: Redis and PostgreSQL where they answer.
COUNTED = ("bare", "bare-headers", "kit-memory", "kit-sqlite")


def counted(mode: Mode, res: Results) -> None:
    """The stores' targets again, by instructions per request (whole server, callgrind): a
    measure the machine's other tenants do not move, as timings on a shared 2-core machine
    are moved by more than the margin to the line. The Redis and PostgreSQL rows count the
    app's process only (not the store server's), heartbeats included: a bias against them
    (bench/instructions.py, ``server_kinds``)."""
    from bench import instructions

    if mode.quick:
        return
    missing = instructions.missing_tool()
    if missing is not None:
        res.notes.append(f"instructions per request not counted: {missing} is not installed")
        return
    kinds = {kind: instructions.KINDS[kind] for kind in COUNTED}
    per_request = instructions.per_request({**kinds, **instructions.server_kinds()}, seconds=10)
    res.raw["instructions_per_request"] = per_request
    bare = per_request["bare"][0]
    res.add("bare Starlette route, counted", f"{bare:,.0f} instructions/request", "(baseline)")
    headers = per_request["bare-headers"][0]
    res.add(
        "bare route + the kit's two cache headers, counted",
        f"{headers:,.0f} instructions/request = {bare / headers:.3f}x bare",
        "(reference)",
    )
    for name, minimum in TARGETS:
        if name in per_request:
            ratio = bare / per_request[name][0]
            res.add(
                f"oidc_kit, {name[4:]} store, counted",
                f"{per_request[name][0]:,.0f} instructions/request = {ratio:.3f}x bare",
                f">= {minimum:.2f}x bare",
                ratio >= minimum,
            )


def gc_counts(app: App) -> list[int] | None:
    """The collections each generation of ``app``'s garbage collector has run (the Starlette
    apps' ``/__gc``; ``None`` for the others)."""
    response = httpx.get(app.url + "__gc", timeout=5)
    return [int(n) for n in response.json()] if response.status_code == 200 else None


def _delta(before: list[int] | None, after: list[int] | None) -> list[int] | None:
    if before is None or after is None:
        return None
    return [b - a for a, b in zip(before, after, strict=True)]


def collections(
    collected: dict[str, list[int] | None], runs: dict[str, list[float]], mode: Mode, res: Results
) -> None:
    """Garbage collections while each Starlette app was measured, per 10,000 requests: the
    young ones are cheap, a full one walks every object the process holds (a pause)."""
    for name, counts in collected.items():
        if counts is None:
            continue
        served = sum(runs[name]) * mode.duration
        young, middle, full = (10_000 * n / served for n in counts)
        res.add(
            f"garbage collections per 10,000 requests under load, {name} (young / middle / full)",
            f"{young:.1f} / {middle:.2f} / {full:.2f}",
            "(reference)",
        )


def _starlette_kinds(kinds: dict[str, dict[str, str]], tmp: Path, res: Results) -> None:
    """The Starlette apps (bench/app.py): the bare routes, the kit over each store reachable
    here, and the cookie pattern."""
    kinds["bare-headers"] = {"BENCH_KIND": "bare-headers"}
    kinds["kit-memory"] = {"BENCH_KIND": "kit", "BENCH_STORE": "memory://"}
    kinds["kit-sqlite"] = {"BENCH_KIND": "kit", "BENCH_STORE": f"sqlite:///{tmp}/sessions.db"}
    # The same store reading the file on every request: what its near-cache saves.
    kinds["kit-sqlite-uncached"] = {
        "BENCH_KIND": "kit",
        "BENCH_STORE": f"sqlite:///{tmp}/uncached.db",
        "SESSION_STORE_NEAR_CACHE": "0",
    }
    url = redis_url()
    if url is None:
        res.notes.append("Redis unreachable (REDIS_URL or 127.0.0.1:6379): kit-redis skipped.")
    else:
        kinds["kit-redis"] = {"BENCH_KIND": "kit", "BENCH_STORE": url}
    pg_url = postgres_url()
    if pg_url is None:
        res.notes.append("PostgreSQL unreachable (POSTGRES_URL or 127.0.0.1:5432): skipped.")
    else:
        kinds["kit-postgres"] = {"BENCH_KIND": "kit", "BENCH_STORE": pg_url}
    kinds["cookie"] = {"BENCH_KIND": "cookie"}


def starlette_rows(med: dict[str, float], cookies: dict[str, int], res: Results) -> None:
    """The Starlette rows: each store against the bare route (issue 17's targets) and
    against the cookie pattern, and the cookies' sizes."""
    bare = med["bare"]
    for name, minimum in TARGETS:
        if name in med:
            ratio = med[name] / bare
            res.add(
                f"oidc_kit, {name[4:]} store",
                f"{med[name]:,.0f} req/s = {ratio:.2f}x bare",
                f">= {minimum:.2f}x bare",
                ratio >= minimum,
            )
    if "kit-sqlite-uncached" in med:
        res.add(
            "oidc_kit, sqlite store, near-cache off (a SELECT per request)",
            f"{med['kit-sqlite-uncached']:,.0f} req/s = {med['kit-sqlite-uncached'] / bare:.2f}x bare",
            "(reference)",
        )
    cookie = med["cookie"]
    res.add(
        "authlib + cookie SessionMiddleware (~2 KB tokens)",
        f"{cookie:,.0f} req/s = {cookie / bare:.2f}x bare",
        "(reference)",
    )
    for name, _ in TARGETS:
        if name in med:
            ratio = med[name] / cookie
            target = name in ("kit-memory", "kit-sqlite")
            res.add(
                f"oidc_kit {name[4:]} vs cookie pattern",
                f"{ratio:.2f}x",
                ">= 1.7x" if target else "(its share of bare is its target)",
                ratio >= 1.7 if target else None,
            )
    res.add("Cookie header bytes per request, oidc_kit", f"{cookies['kit-memory']} B")
    res.add(
        "Cookie header bytes per request, cookie pattern",
        f"{cookies['cookie']} B ({cookies['cookie'] / cookies['kit-memory']:.0f}x)",
    )


def against_cache_headers(med: dict[str, float], res: Results) -> None:
    """Each store against a bare route that also sends the two headers every answer to a
    request with a session cookie carries (``Vary: Cookie``, ``Cache-Control: no-store``):
    the kit's cost apart from what that security costs any app. Information only: issue 17's
    targets are against the plain bare route (the rows above)."""
    headers = med["bare-headers"]
    res.add(
        "bare Starlette route + the kit's cache headers (Vary, Cache-Control)",
        f"{headers:,.0f} req/s = {headers / med['bare']:.3f}x bare",
        "(reference)",
    )
    for name, _ in TARGETS:
        if name in med:
            res.add(
                f"oidc_kit, {name[4:]} store vs bare + cache headers",
                f"{med[name] / headers:.3f}x",
                "(reference)",
            )


def frameworks(med: dict[str, float], res: Results) -> None:
    """Each sync framework's protected view against its own bare view, both as WSGI behind
    the same uvicorn: what the kit, its bridge crossing included, costs in that framework."""
    for framework, bare_kind, kit_kind, store in FRAMEWORK_PAIRS:
        if bare_kind not in med or kit_kind not in med:
            continue
        bare, kit = med[bare_kind], med[kit_kind]
        res.add(
            f"bare {framework} view (uvicorn, WSGI)",
            f"{bare:,.0f} req/s = {bare / med['bare']:.2f}x the bare Starlette route",
            "(baseline)",
        )
        res.add(
            f"oidc_kit, {framework} ({store.split(':')[0]} store)",
            f"{kit:,.0f} req/s = {kit / bare:.2f}x a bare {framework} view",
            "(reference)",
        )


# -- ID-token validation ----------------------------------------------------------------------


def _mock_provider(
    delay: float, token_body: dict[str, Any], calls: list[float]
) -> httpx.MockTransport:
    from bench import tokens as portx

    jwks = {"keys": [portx.signing_key().as_dict(private=False)]}
    discovery = portx.discovery()

    async def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/.well-known/openid-configuration"):
            return httpx.Response(200, json=discovery)
        if path.endswith("/jwks"):
            return httpx.Response(200, json=jwks)
        if path.endswith("/token"):
            calls.append(time.perf_counter())
            await asyncio.sleep(delay)
            return httpx.Response(200, json=token_body)
        return httpx.Response(404)

    return httpx.MockTransport(handler)


def _at_hash(access_token: str) -> str:
    digest = hashlib.sha256(access_token.encode()).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()


def _per_call(fn: Any, n: int) -> float:
    """Best of three batches of ``n`` calls, seconds per call."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - start) / n)
    return best


async def _per_call_async(fn: Any, n: int) -> float:
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(n):
            await fn()
        best = min(best, (time.perf_counter() - start) / n)
    return best


async def id_token_validation(mode: Mode, res: Results) -> None:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    from joserfc import jws

    from bench import tokens as portx
    from oidc_kit._id_token import IdTokenChecks, validate_id_token
    from oidc_kit._provider import Provider

    now = int(time.time())
    access = portx.access_token(now)
    claims = {**portx.id_claims(now), "at_hash": _at_hash(access)}
    token = portx.id_token(claims)
    config = portx.config()
    http = httpx.AsyncClient(transport=_mock_provider(0, {}, []))
    provider = Provider(config, http)
    checks = IdTokenChecks(nonce=claims["nonce"], access_token=access)
    await validate_id_token(token, config, provider, checks, time.time())  # primes JWKS

    public = portx.signing_key().public_key  # cryptography RSAPublicKey
    signing_input, _, signature = token.rpartition(".")

    def raw() -> None:
        sig = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
        public.verify(sig, signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())

    jose_key = portx.signing_key()

    def joserfc_jws() -> None:
        jws.deserialize_compact(token, jose_key, algorithms=["RS256"])

    async def kit() -> None:
        await validate_id_token(token, config, provider, checks, time.time())

    t_raw = _per_call(raw, mode.idtoken_n)
    t_jws = _per_call(joserfc_jws, mode.idtoken_n)
    t_kit = await _per_call_async(kit, mode.idtoken_n)
    await http.aclose()
    res.raw["idtoken_us"] = {"raw": t_raw * 1e6, "joserfc_jws": t_jws * 1e6, "kit": t_kit * 1e6}
    res.add("raw RS256 verify (cryptography, same key)", f"{t_raw * 1e6:.1f} µs", "(baseline)")
    res.add(
        "joserfc jws.deserialize_compact alone", f"{t_jws * 1e6:.1f} µs = {t_jws / t_raw:.2f}x raw"
    )
    ratio = t_kit / t_raw
    res.add(
        "validate_id_token (primed JWKS, all checks)",
        f"{t_kit * 1e6:.1f} µs = {ratio:.2f}x raw",
        "<= 1.5x raw",
        ratio <= 1.5,
    )


# -- refresh storm ----------------------------------------------------------------------------


async def refresh_storm(mode: Mode, res: Results) -> None:
    from bench import tokens as portx
    from oidc_kit import MemoryStore
    from oidc_kit._provider import Provider
    from oidc_kit._refresh import TokenManager
    from oidc_kit._session import Sessions

    now = int(time.time())
    body = {
        "access_token": portx.access_token(now),
        "token_type": "Bearer",
        "expires_in": 3600,
        "refresh_token": "v1." + "r" * 128,
        "scope": portx.SCOPES,
    }
    calls: list[float] = []
    http = httpx.AsyncClient(transport=_mock_provider(mode.token_delay, body, calls))
    config = portx.config()
    provider = Provider(config, http)
    sessions = Sessions(config, MemoryStore())
    manager = TokenManager(config, provider, sessions, http)
    meta = await provider.metadata()  # a warm process has discovery cached

    start = time.perf_counter()
    rounds = 5
    for _ in range(rounds):
        await http.post(
            meta.token_endpoint, data={"grant_type": "refresh_token", "refresh_token": "x"}
        )
    round_trip = (time.perf_counter() - start) / rounds
    res.add(
        f"one token round trip (mock endpoint, {mode.token_delay * 1000:.0f} ms delay)",
        f"{round_trip * 1000:.1f} ms",
        "(baseline)",
    )

    for n in (1, *mode.storm_sizes):
        # Issued an hour ago, 10 s left: due (inside the 30 s leeway).
        tokens, claims = portx.portx_tokens(now - 3590)
        session = await sessions.create(tokens, claims, provider_sid=None)
        calls.clear()
        before = manager.refresh_count
        t0 = time.perf_counter()
        finished: list[float] = []

        async def one() -> str:
            result = await manager.tokens(session)
            finished.append(time.perf_counter() - t0)
            return result.access_token

        got = await asyncio.gather(*(one() for _ in range(n)))
        assert all(a == body["access_token"] for a in got)
        grants = manager.refresh_count - before
        worst = max(finished)
        if n == 1:
            single = worst
            res.add(
                "one refresh through TokenManager.tokens (1 caller)",
                f"{worst * 1000:.1f} ms (+{(worst - round_trip) * 1000:.1f} ms)",
            )
            continue
        res.add(
            f"refresh storm, {n} concurrent callers: token calls",
            str(len(calls)),
            "exactly 1",
            len(calls) == 1 and grants == 1,
        )
        res.add(
            f"refresh storm, {n}: latency p50 / max",
            f"{statistics.median(finished) * 1000:.1f} / {worst * 1000:.1f} ms "
            f"(+{(worst - round_trip) * 1000:.1f} ms over one round trip)",
        )
    res.raw["storm_single_ms"] = single * 1000
    await http.aclose()


# -- sessions at rest -------------------------------------------------------------------------


async def sessions_at_rest(mode: Mode, res: Results) -> None:
    from bench import tokens as portx
    from oidc_kit import MemoryStore
    from oidc_kit._session import Sessions

    now = int(time.time())
    tokens, claims = portx.portx_tokens(now)
    store = MemoryStore(max_entries=max(100_000, mode.sessions_n))
    sessions = Sessions(portx.config(), store)
    one = await sessions.create(tokens, claims, provider_sid=str(claims["sid"]))
    record = await store.get(Sessions.key(one.sid))
    assert record is not None
    size = len(record)
    res.add("session record at rest (PortX-sized tokens)", f"{size:,} B", "<= 4096 B", size <= 4096)
    await store.close()

    # Distinct subjects and provider sessions, as real users would have.
    variants = [
        {**claims, "sub": f"user-{i}", "sid": f"op-session-{i}"} for i in range(mode.sessions_n)
    ]
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    for variant in variants:
        await sessions.create(tokens, variant, provider_sid=variant["sid"])
    gc.collect()
    used = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    assert len(store) == mode.sessions_n
    per = used / mode.sessions_n
    label = f"{mode.sessions_n:,}"
    res.add(
        f"memory store, {label} sessions (tracemalloc, incl. indexes)",
        f"{used / 2**20:,.0f} MiB = {per:,.0f} B per session"
        + (
            ""
            if mode.sessions_n == 100_000
            else f" (~{per * 100_000 / 2**20:,.0f} MiB per 100,000)"
        ),
    )
    await store.close()


async def anonymous_logins(mode: Mode, res: Results) -> None:
    """What a flood of anonymous logins costs (bench/logins.py)."""
    from bench import logins

    for measure, value in await logins.measure(200 if mode.quick else 5000, redis_url()):
        res.add(measure, value)


def sender_constraints(res: Results) -> None:
    """Bearer, DPoP and mTLS per ORCA call, JAR per login, client assertions per provider
    request, side by side in one run (bench/sender.py)."""
    from bench import sender

    costs, sizes = sender.measure()
    res.raw["sender"] = dict(costs)
    for measure, value in sender.rows(costs, sizes):
        res.add(measure, value)


def scale_out(mode: Mode, res: Results) -> None:
    """Two instances x two workers on shared stores, with logout and refresh storms
    (bench/scaleout.py)."""
    from bench import scaleout

    plan = scaleout.quick_plan(mode.generator) if mode.quick else scaleout.full_plan(mode.generator)
    outcomes = scaleout.run(plan, None, res.notes)
    res.raw["scale_out"] = [vars(o) for o in outcomes]
    for measure, value, target, met in scaleout.rows(outcomes):
        res.add(measure, value, target, met)


# -- report -----------------------------------------------------------------------------------


def versions() -> str:
    names = [
        "oidc_kit",
        "starlette",
        "flask",
        "werkzeug",
        "django",
        "uvicorn",
        "httpx",
        "authlib",
        "joserfc",
        "cryptography",
        "itsdangerous",
        "redis",
    ]
    found = []
    for name in names:
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            pass
    found.append(f"SQLite {sqlite3.sqlite_version}")
    url = redis_url()
    if url:
        import redis

        client = redis.Redis.from_url(url)
        found.append(f"Redis server {client.info('server')['redis_version']}")
        client.close()
    if shutil.which("wrk"):
        out = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout  # noqa: S607
        found.append(out.split(" [")[0].strip() or "wrk")
    return ", ".join(found)


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), {model}, {platform.platform()}"


def table(res: Results) -> str:
    lines = ["| measure | result | target | target met? |", "|---|---|---|---|"]
    lines += [f"| {r.measure} | {r.value} | {r.target} | {r.met} |" for r in res.rows]
    return "\n".join(lines)


def wsgi_adapter() -> str:
    """Which WSGI-to-ASGI adapter uvicorn's ``--interface wsgi`` uses here: its own
    (deprecated) one, or a2wsgi's when that is installed."""
    import importlib.util

    if importlib.util.find_spec("a2wsgi") is not None:  # uvicorn prefers it when installed
        return "a2wsgi's WSGIMiddleware, each request run on its thread pool"
    return "uvicorn's own WSGIMiddleware, each request run on a pool of 10 threads"


def report(mode: Mode, res: Results, command: str, elapsed: float) -> str:
    gen = "wrk, 1 thread" if mode.generator == "wrk" else "Python (httpx, bench/loadgen.py)"
    kinds = list(res.raw.get("throughput_runs", {}))
    frameworks = ", ".join(framework for framework, *_ in FRAMEWORK_PAIRS)
    method = (
        f"Each app runs in its own uvicorn process (one worker, asyncio loop, h11) on a free "
        f"loopback port; the load generator ({gen}, {mode.concurrency} keep-alive connections) "
        f"runs in another process. Runs of {mode.duration:g} s are interleaved "
        f"({', '.join(kinds)}) for {mode.rounds} round(s) after a "
        f"warm-up; the table gives the median. Sessions are made at start-up with "
        f"`Sessions.create` and PortX-sized tokens (RS256 JWTs, 2048-bit key); each app checks "
        f"its cookie answers 200 with the user's `sub` before it is measured. The bare route "
        f"is sent a random cookie of the kit's size (100 B), as a browser would send it; "
        f"bare-headers is that route also sending `Vary: Cookie` and `Cache-Control: no-store`, "
        f"as the kit does. Each sync framework's pair ({frameworks}; bench/sync_apps.py: a "
        f"bare view, and the same view under the adapter's `login_required`, memory store, "
        f"the session made at start-up through the bridge; Django's both with the middleware "
        f"of a new project that needs no database: security, common, CSRF, X-Frame-Options, "
        f"the kit's added after CSRF) is served by the same uvicorn "
        f"through its WSGI interface (`--interface wsgi`: {wsgi_adapter()}), the kit's core on its own event-loop thread "
        f"(`oidc_kit._bridge.CoreLoop`)."
    )
    if "instructions_per_request" in res.raw:
        method += (
            f" The rows marked counted run {', '.join(res.raw['instructions_per_request'])} "
            f"again under callgrind (`python -m bench.instructions`: wrk, 4 connections, 10 s "
            f"after a warm-up): instructions per request of the whole server process, which "
            f"other tenants of a shared machine do not move (for Redis and PostgreSQL, the "
            f"app's process only, its near-cache's heartbeats included)."
        )
    out = [
        f"- Date: {datetime.datetime.now(datetime.UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- Machine: {machine()}",
        f"- Python {platform.python_version()}; {versions()}",
        f"- Command: `{command}` ({elapsed:.0f} s)",
        f"- Method: {method}",
        "",
        table(res),
    ]
    if res.notes:
        out += ["", *[f"- {n}" for n in res.notes]]
    out += ["", "Raw runs (req/s):", "", "```", json.dumps(res.raw, indent=1, default=str), "```"]
    return "\n".join(out)


def write_doc(body: str) -> None:
    block = f"{BEGIN}\n{body}\n{END}"
    if DOC.exists() and BEGIN in (text := DOC.read_text()) and END in text:
        head, _, rest = text.partition(BEGIN)
        _, _, tail = rest.partition(END)
        DOC.write_text(head + block + tail)
    else:
        DOC.write_text(f"# Performance\n\n{block}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", default=os.environ.get("QUICK") == "1")
    parser.add_argument("--generator", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--no-doc", action="store_true", help="do not write docs/performance.md")
    parser.add_argument(
        "--only",
        choices=["frameworks"],
        help="measure only the sync frameworks' pairs (and the bare Starlette route); writes "
        "nothing",
    )
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default: the mode's)")
    args = parser.parse_args()
    gen = args.generator
    if gen == "auto":
        gen = "python" if args.quick or not shutil.which("wrk") else "wrk"
    if args.quick:
        mode = Mode(
            True,
            gen,
            rounds=1,
            duration=0.5,
            warmup=0.2,
            concurrency=8,
            idtoken_n=20,
            sessions_n=1000,
        )
    else:
        mode = Mode(
            False,
            gen,
            rounds=3,
            duration=8 if gen == "wrk" else 6,
            warmup=1.0,
            concurrency=32 if gen == "wrk" else 16,
            idtoken_n=500,
            sessions_n=100_000,
        )
    if args.rounds is not None:
        mode.rounds = args.rounds
    started = time.perf_counter()
    res = Results()
    if args.only == "frameworks":  # a check of those apps: their rows, nothing written
        throughput(mode, res, only_frameworks=True)
        print(table(res))
        print(f"runs (req/s): {json.dumps(res.raw['throughput_runs'])}")
        print(f"load generator: {mode.generator}; {time.perf_counter() - started:.1f} s")
        return
    throughput(mode, res)
    counted(mode, res)
    asyncio.run(id_token_validation(mode, res))
    asyncio.run(refresh_storm(mode, res))
    asyncio.run(sessions_at_rest(mode, res))
    asyncio.run(anonymous_logins(mode, res))
    sender_constraints(res)
    scale_out(mode, res)
    elapsed = time.perf_counter() - started
    command = "make bench" + (" QUICK=1" if args.quick else "")
    if args.generator != "auto" or args.rounds is not None:
        command = f"python -m bench.run --generator {args.generator}" + (
            " --quick" if args.quick else ""
        )
        command += "" if args.rounds is None else f" --rounds {args.rounds}"
    print(table(res))
    for note in res.notes:
        print(f"note: {note}")
    print(f"load generator: {mode.generator}; {elapsed:.1f} s")
    if not args.quick and not args.no_doc:
        write_doc(report(mode, res, command, elapsed))
        print(f"wrote {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
