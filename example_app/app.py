"""The example app: ``create_app()`` wires the kit, the pages, the JSON API and the sandboxes.

Start here when you copy this app. What to keep: the ``/auth`` mount, the middleware, the
exception handlers and a lifespan that enters ``auth``. What to drop in production: everything
named sandbox (it only runs when ``OIDC_ISSUER`` / ``ORCA_API_BASE`` are unset).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route, Router
from starlette.staticfiles import StaticFiles

from .deps import Deps
from .loopback import LoopbackTransport
from .orca import OrcaClient, OrcaError
from .sandbox_orca import SandboxOrca
from .settings import (
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SANDBOX_OP_PATH,
    SANDBOX_ORCA_PATH,
    Settings,
)
from .templating import make_templates, render

if TYPE_CHECKING:
    from oidc_kit import OIDCConfig

__all__ = ["create_app"]

log = logging.getLogger(__package__)  # the package's name: "example_app"

_STATIC = Path(__file__).parent / "static"


def create_app(environ: Mapping[str, str] | None = None, *, port: int = 8000) -> Starlette:
    """The ASGI app, configured from ``environ`` (default: ``os.environ``).

    ``port`` only feeds the default ``APP_BASE_URL``, ``http://127.0.0.1:{port}``.
    """
    # The kit is imported here, not at module level, so that the sandbox modules of this
    # package can be imported (and tested) on their own.
    from oidc_kit.starlette import OIDCAuth

    from .api import api_routes
    from .pages import page_routes
    from .payments import payment_routes

    settings = Settings.from_env(environ, port=port)
    config = settings.oidc_config(environ)

    # One HTTP client for ORCA and for the sandboxes; calls to our own /sandbox/ URLs are
    # answered in process (see loopback.py), everything else goes to the network.
    sandbox = Router()
    http = httpx.AsyncClient(
        transport=LoopbackTransport(settings.base_url, sandbox), timeout=config.http_timeout
    )
    sandbox.routes.extend(_sandbox_routes(settings, config, http))

    templates = make_templates(
        app_name=settings.app_name,
        sandbox_banner=_banner(settings),
        auth_prefix=config.route_prefix,
    )
    # Give the kit our client only when it must reach the embedded provider in process. Its
    # pages (a sign-in problem, the logout confirmation) come from templates/oidc_kit/, in this
    # app's layout: the kit renders them with our Jinja2 environment.
    auth = OIDCAuth(
        config,
        http_client=http if settings.sandbox_provider else None,
        templates=templates.env,
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            async with auth:  # opens the session store and the kit's HTTP client
                _log_start(settings)
                yield
        finally:
            await http.aclose()

    app = Starlette(
        routes=[
            auth.mount,  # the kit's routes, at OIDC_ROUTE_PREFIX (default /auth)
            *page_routes(),
            *payment_routes(),  # /payments/confirm: a step-up with RAR (RFC 9396)
            Mount("/api", routes=api_routes()),
            Mount("/static", app=StaticFiles(directory=_STATIC), name="static"),
            Route("/favicon.ico", favicon),  # asked for by browsers, whatever the page says
            *sandbox.routes,
        ],
        middleware=[auth.middleware],
        exception_handlers={
            **auth.exception_handlers,
            OrcaError: orca_error,
            404: not_found,
        },
        lifespan=lifespan,
    )
    app.state.deps = Deps(
        settings=settings,
        config=config,
        auth=auth,
        orca=OrcaClient(settings.orca_api_base, http),
        templates=templates,
    )
    return app


def _sandbox_routes(
    settings: Settings, config: OIDCConfig, http: httpx.AsyncClient
) -> list[BaseRoute]:
    """The embedded sandbox provider and/or sandbox ORCA, for what the environment leaves unset."""
    routes: list[BaseRoute] = []
    if settings.sandbox_provider:
        from oidc_kit.testing import SandboxClient, SandboxProvider

        client = SandboxClient(
            client_id=SANDBOX_CLIENT_ID,
            client_secret=None if settings.fapi2 else SANDBOX_CLIENT_SECRET,
            client_name=settings.app_name,  # the login page: "to continue to {APP_NAME}"
            redirect_uris=(settings.redirect_uri,),
            post_logout_redirect_uris=(config.post_logout_redirect_uri,),
            backchannel_logout_uri=settings.kit_url("/backchannel-logout"),
            **_sandbox_fapi2_client(settings, config),
        )
        # Logout tokens go through the app's client: /auth/backchannel-logout is not under
        # /sandbox/, so it is reached over the network, through the running (async) server.
        provider = SandboxProvider(
            settings.issuer,
            clients=[client],
            access_token_ttl=settings.sandbox_access_token_ttl,
            http_client=http,
            id_token_alg="PS256" if settings.fapi2 else "RS256",
            require_par=settings.fapi2,
            introspection=True,  # the profile page shows whether the token is active
        )
        routes.append(Mount(SANDBOX_OP_PATH, app=provider.app))
    if settings.sandbox_orca:
        orca = SandboxOrca(
            config.issuer, http, audience=settings.orca_audience, require_dpop=settings.fapi2
        )
        routes.append(Mount(SANDBOX_ORCA_PATH, app=orca.app))
    return routes


def _sandbox_fapi2_client(settings: Settings, config: OIDCConfig) -> dict[str, Any]:
    """FAPI 2.0: the client proves itself with its key and gets DPoP-bound tokens through
    pushed authorization requests only. The embedded sandbox is handed the public key
    directly (it runs in this process, and the app may not be reachable at its own
    ``APP_BASE_URL``, as in ``python -m example_app accounts``); with ``--workers`` the
    sandbox process fetches it from ``/auth/jwks``, as a real provider would."""
    if not settings.fapi2 or config.signing_key is None:
        return {}
    return {
        "token_endpoint_auth_method": "private_key_jwt",
        "jwks": config.signing_key.public_jwks(),
        "dpop_bound_access_tokens": True,
        "require_par": True,
    }


def _banner(settings: Settings) -> str | None:
    if settings.sandbox_provider:
        return "Sandbox mode — log in as alice/alice or bob/bob"
    if settings.sandbox_orca:
        return "Sandbox ORCA — the accounts and cards shown are made up"
    return None


def _log_start(settings: Settings) -> None:
    log.info("%s at %s", settings.app_name, settings.base_url)
    log.info("provider: %s", "embedded sandbox" if settings.sandbox_provider else settings.issuer)
    if settings.fapi2:
        log.info("profile: FAPI 2.0 (PAR, private_key_jwt, DPoP)")
    log.info("ORCA: %s", "sandbox" if settings.sandbox_orca else settings.orca_api_base)


async def favicon(request: Request) -> Response:
    """``/favicon.ico``: the app's icon (static/favicon.ico), cached for a day."""
    headers = {"Cache-Control": "public, max-age=86400"}
    return FileResponse(_STATIC / "favicon.ico", media_type="image/x-icon", headers=headers)


async def orca_error(request: Request, exc: Exception) -> Response:
    """ORCA said no: ``/api/*`` passes ORCA's answer through; pages explain it."""
    assert isinstance(exc, OrcaError)
    if request.url.path.startswith("/api/"):
        return JSONResponse(exc.body, status_code=exc.status, headers={"Cache-Control": "no-store"})
    status = exc.status if exc.status in (401, 403, 404) else 502
    settings = request.app.state.deps.settings
    context = {
        "title": "ORCA said no",
        "message": exc.message,
        "orca_status": exc.status,
        # Asked for at login but not granted: the provider declined it, not our settings.
        "scope_requested": exc.scope is not None and exc.scope in settings.scopes,
    }
    return render(request, "error.html", context, status_code=status)


async def not_found(request: Request, exc: Exception) -> Response:
    """Unknown routes: JSON under ``/api/``, a page elsewhere."""
    detail = exc.detail if isinstance(exc, HTTPException) else "Not Found"
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": "not_found", "error_description": detail}, status_code=404)
    context = {"title": "Page not found", "message": "There is nothing at this address."}
    return render(request, "error.html", context, status_code=404)
