"""Serving the example app with uvicorn: one process, or several workers sharing sessions.

With ``--workers N`` every worker is a separate process, so everything a session needs must be
shared between them:

- the session store: ``SQLite`` (the default file) or Redis; ``memory://`` is refused;
- ``SESSION_SECRET``: when unset, one random secret is made here and handed to every worker;
- the provider: the embedded sandbox provider keeps its logins in memory, so with several
  workers it runs once, as its own process (``python -m oidc_kit.testing``) on a free port,
  and the workers use it as an external issuer.

The mutual-TLS demo (``OIDC_TOKEN_AUTH_METHOD=tls_client_auth`` or ``OIDC_MTLS_BOUND_TOKENS=1``
with ``OIDC_ISSUER`` unset) is refused with workers: its sandbox ORCA must see the client's
certificate, so it is served with the provider over TLS inside the app's process
(``sandbox_tls.py``); each worker would have a provider, a CA and an ORCA of its own, and a
login at one worker's provider would be unknown to the others.

Behind a reverse proxy, ``APP_BASE_URL`` is the app's external origin and the kit never reads
``X-Forwarded-*``, ``Forwarded`` or ``Host``. Only the client address (and scheme) that
uvicorn logs come from forwarded headers, and only when the connection comes from one of
``TRUSTED_PROXIES`` (comma-separated IP addresses or networks; by default none).

A port already taken (another demo still running, say) stops the start before anything runs,
with the port and how to pick another, rather than uvicorn's ``[Errno 98]`` after the app's
start-up.
"""

from __future__ import annotations

import atexit
import errno
import ipaddress
import logging
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from typing import Any

import httpx
import uvicorn

from .settings import (
    SANDBOX_CLIENT_ID,
    Settings,
    app_name,
    audit_log,
    sandbox_client_key,
)

__all__ = ["listen_problem", "log_config", "proxy_options", "serve"]

log = logging.getLogger(__package__)


def log_config(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Logging for every worker: INFO to stderr, with tokens redacted from every line.

    Access-log lines hold whole URLs, and the logout redirect to the (embedded) provider carries
    ``id_token_hint``: the kit's ``RedactTokens`` filter sits on the handler. With
    ``OIDC_AUDIT_LOG`` the kit's audit events are also written as JSON lines to that file
    (appended to by every worker, a line each), or to stderr instead of the plain lines (``-``).
    """
    config = _base_log_config()
    target = audit_log(environ)
    if target is not None:
        config["formatters"]["audit"] = {"()": "oidc_kit.AuditJsonFormatter"}
        handler: dict[str, Any] = {"formatter": "audit", "filters": ["redact"]}
        if target == "-":
            handler.update({"class": "logging.StreamHandler", "stream": "ext://sys.stderr"})
        else:
            handler.update(
                {"class": "logging.FileHandler", "filename": target, "encoding": "utf-8"}
            )
        config["handlers"]["audit"] = handler
        # On stderr, JSON replaces the plain lines; a file comes in addition to them.
        config["loggers"]["oidc_kit.audit"] = {
            "level": "INFO",
            "handlers": ["audit"],
            "propagate": target != "-",
        }
    return config


def _base_log_config() -> dict[str, Any]:
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": "oidc_kit.RedactTokens"}},
        "formatters": {"plain": {"format": "%(levelname)s:     %(name)s: %(message)s"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "plain",
                "filters": ["redact"],
            }
        },
        # uvicorn's loggers propagate here; INFO shows the app's own outgoing HTTP calls too
        # (method and URL, never a header or a body), so a refresh can be watched.
        "root": {"level": "INFO", "handlers": ["stderr"]},
        "loggers": {
            "uvicorn": {"level": "INFO", "handlers": [], "propagate": True},
            "uvicorn.error": {"level": "INFO", "handlers": [], "propagate": True},
            "uvicorn.access": {"level": "INFO", "handlers": [], "propagate": True},
        },
    }


def proxy_options(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """uvicorn's proxy settings from ``TRUSTED_PROXIES``; ``ValueError`` for a bad entry.

    Without it, uvicorn's proxy-headers middleware is off (uvicorn would otherwise trust
    ``X-Forwarded-For``/``-Proto`` from 127.0.0.1, or from ``FORWARDED_ALLOW_IPS``): a client
    cannot choose the address written in the logs.
    """
    env = os.environ if environ is None else environ
    entries = [e.strip() for e in env.get("TRUSTED_PROXIES", "").split(",") if e.strip()]
    for entry in entries:
        parse = ipaddress.ip_network if "/" in entry else ipaddress.ip_address
        try:
            parse(entry)
        except ValueError:
            raise ValueError(
                f"TRUSTED_PROXIES: {entry!r} is not an IP address or network"
            ) from None
    if not entries:
        return {"proxy_headers": False, "forwarded_allow_ips": []}
    return {"proxy_headers": True, "forwarded_allow_ips": entries}


def listen_problem(host: str, port: int) -> str | None:
    """Why the app cannot listen on ``host:port``, for a person to read; ``None`` if it can.

    The port is bound and released at once, the way uvicorn binds it (``SO_REUSEADDR``), so
    a port that uvicorn could take is never reported taken.
    """
    try:
        _bind(host, port).close()
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            return f"cannot listen on {host}:{port}: {exc.strerror or exc}"
        free = _free_port_after(host, port)
        # The same command again, on the free port (make's variables or the module's options).
        make_args, cli_args = f"PORT={free}", f"--port {free}"
        if host != "127.0.0.1":
            make_args, cli_args = f"HOST={host} {make_args}", f"--host {host} {cli_args}"
        return (
            f"port {port} on {host} is already in use (is the app already running?)\n"
            f"Pick another port: make demo {make_args}, or python -m {__package__} {cli_args}"
        )
    return None


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def _free_port_after(host: str, port: int) -> int:
    """The first free port after ``port`` (a neighbour is easy to remember), else any."""
    for candidate in range(port + 1, min(port + 100, 65535) + 1):
        try:
            _bind(host, candidate).close()
        except OSError:
            continue
        return candidate
    with _bind(host, 0) as sock:
        return int(sock.getsockname()[1])


def serve(host: str, port: int, workers: int) -> None:
    """Run the app; with ``workers > 1``, prepare the shared environment first."""
    problem = listen_problem(host, port)
    if problem:
        sys.exit(problem)  # before the sandbox provider or a worker starts
    # The app is built by uvicorn (in each worker): it learns its port from APP_BASE_URL.
    if not os.environ.get("APP_BASE_URL", "").strip():
        os.environ["APP_BASE_URL"] = f"http://127.0.0.1:{port}"
    try:
        proxies = proxy_options()
    except ValueError as exc:
        sys.exit(str(exc))
    if workers > 1:
        _prepare_workers(host, port)
    uvicorn.run(
        f"{__package__}.app:create_app",  # the package's own name: a renamed copy just works
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=log_config(),
        **proxies,
    )


def _prepare_workers(host: str, port: int) -> None:
    env = os.environ
    if env.get("SESSION_STORE", "").strip().startswith("memory:"):
        sys.exit("SESSION_STORE=memory:// cannot be shared by several workers: use sqlite or redis")
    if not env.get("SESSION_SECRET", "").strip():
        print("SESSION_SECRET is not set: using one random secret for all workers", file=sys.stderr)
        env["SESSION_SECRET"] = secrets.token_urlsafe(32)
    base_url = env["APP_BASE_URL"]
    if not env.get("OIDC_ISSUER", "").strip():
        settings = Settings.from_env(env, port=port)
        if settings.mtls:
            sys.exit(
                "the mutual-TLS demo (OIDC_TOKEN_AUTH_METHOD=tls_client_auth or "
                "OIDC_MTLS_BOUND_TOKENS=1 with OIDC_ISSUER unset) runs in one process: its "
                "sandbox provider and ORCA are served over TLS inside it, and several workers "
                "would each have their own. Leave out --workers, or run the sandbox yourself "
                "(python -m oidc_kit.testing --mtls DIR) and set OIDC_ISSUER"
            )
        issuer = _start_sandbox_provider(host, base_url, app_port=port, settings=settings)
        env.update(
            OIDC_ISSUER=issuer,
            OIDC_CLIENT_ID=SANDBOX_CLIENT_ID,
            OIDC_ALLOW_INSECURE_HTTP="1",
        )
        secret = settings.sandbox_client_secret
        if secret is None:
            env.pop("OIDC_CLIENT_SECRET", None)
            env.setdefault("OIDC_CLIENT_KEY", str(sandbox_client_key()))
        else:
            env["OIDC_CLIENT_SECRET"] = secret


def _start_sandbox_provider(host: str, base_url: str, *, app_port: int, settings: Settings) -> str:
    """Start the sandbox provider as its own process; its issuer URL."""
    op_port = app_port
    # The app's own port is not bound yet (uvicorn binds it after this): the kernel may hand
    # it out as a free port, and then the provider would take the app's address.
    while op_port == app_port:
        with socket.socket() as sock:
            sock.bind((host, 0))
            op_port = sock.getsockname()[1]
    fapi2 = settings.fapi2
    secret = settings.sandbox_client_secret or ""
    prefix = os.environ.get("OIDC_ROUTE_PREFIX", "/auth").strip().rstrip("/") or "/auth"
    landing = os.environ.get("OIDC_POST_LOGOUT_PATH", "/").strip() or "/"
    client = f"{SANDBOX_CLIENT_ID}:{secret}:{base_url}{prefix}/callback:{base_url}{landing}"
    args = [sys.executable, "-m", "oidc_kit.testing", "--host", host, "--port", str(op_port)]
    if fapi2:
        # The provider fetches the client's public key from the app, as a real one would.
        args += ["--fapi2", "--client-jwks-uri", f"{base_url}{prefix}/jwks"]
    if settings.token_auth_method == "client_secret_jwt":
        args.append("--client-secret-jwt")  # the secret is long enough for HS256
    ttl = os.environ.get("SANDBOX_ACCESS_TOKEN_TTL", "").strip() or "60"
    args += ["--client-name", f"{SANDBOX_CLIENT_ID}={app_name()}"]
    process = subprocess.Popen([*args, "--client", client, "--access-token-ttl", ttl])  # noqa: S603
    atexit.register(process.terminate)
    issuer = f"http://{host}:{op_port}"
    _wait_for(f"{issuer}/.well-known/openid-configuration", process)
    print(f"sandbox provider (own process, shared by the workers): {issuer}", file=sys.stderr)
    return issuer


def _wait_for(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and process.poll() is None:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    sys.exit("the sandbox provider did not start")
