"""The sandbox provider and sandbox ORCA for the Flask example, when the environment leaves
``OIDC_ISSUER`` / ``ORCA_API_BASE`` unset.

They are example_app's own (its ``_sandbox_routes``: the same clients, users, ORCA data and
FAPI 2.0 switch), ASGI apps: a WSGI app cannot mount them, so they are served by uvicorn on a
free loopback port, from a daemon thread of this process (no network, no second process to
manage), and the kit is pointed at them there. Their calls to each other (the provider's
keys, for the sandbox ORCA) stay in process (``example_app.loopback``); the provider's
back-channel logout reaches the Flask app over loopback.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import replace

import httpx
from starlette.applications import Starlette
from starlette.routing import Router

from example_app.app import _sandbox_routes
from example_app.loopback import LoopbackTransport
from example_app.settings import SANDBOX_OP_PATH, SANDBOX_ORCA_PATH, Settings

__all__ = ["start_sandbox"]

#: How long the sandbox server may take to start listening.
_START_TIMEOUT = 10.0


def start_sandbox(settings: Settings, environ: Mapping[str, str] | None = None) -> Settings:
    """Serve the sandboxes ``settings`` asks for on a loopback port; the settings pointing at
    them (the issuer and ORCA's base at that port)."""
    try:
        import uvicorn
    except ModuleNotFoundError as exc:  # pragma: no cover - the demo extra brings it
        raise SystemExit("the sandboxes need uvicorn: pip install 'oidc_kit[server]'") from exc
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))  # loopback only: the sandbox logs anyone in as alice
    origin = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = replace(
        settings,
        issuer=origin + SANDBOX_OP_PATH if settings.sandbox_provider else settings.issuer,
        orca_api_base=(
            origin + SANDBOX_ORCA_PATH if settings.sandbox_orca else settings.orca_api_base
        ),
    )
    config = settings.oidc_config(environ)
    router = Router()
    http = httpx.AsyncClient(
        transport=LoopbackTransport(origin, router), timeout=config.http_timeout
    )
    router.routes.extend(_sandbox_routes(settings, config, http))
    app = Starlette(routes=router.routes)
    server = uvicorn.Server(
        uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False)
    )
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="sandbox", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + _START_TIMEOUT
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the sandbox server did not start")
        time.sleep(0.01)
    return settings
