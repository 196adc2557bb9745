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
    SANDBOX_OP_PATH,
    SANDBOX_ORCA_PATH,
    Settings,
)
from .templating import make_templates, render

if TYPE_CHECKING:
    from oidc_kit import OIDCConfig

    from .sandbox_tls import SandboxTLS

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
    # The mutual-TLS demo serves the sandboxes over real TLS (sandbox_tls.py); otherwise calls
    # to our own /sandbox/ URLs are answered in process (loopback.py), the rest go to the
    # network, through one HTTP client for ORCA and for the sandboxes.
    sandbox = Router()
    tls = _sandbox_tls(settings, sandbox)
    if tls is not None:
        settings = settings.served_over_tls(tls.origin)
    try:
        config = settings.oidc_config(environ, client_cert=tls.client if tls else None)
    except Exception:
        if tls is not None:
            tls.discard()  # no certificates left behind by a start that failed
        raise
    http = httpx.AsyncClient(
        transport=LoopbackTransport(settings.base_url, sandbox), timeout=config.http_timeout
    )
    sandbox.routes.extend(_sandbox_routes(settings, config, http, tls))

    templates = make_templates(
        app_name=settings.app_name,
        sandbox_banner=_banner(settings),
        auth_prefix=config.route_prefix,
    )
    # Give the kit our client only when it must reach the embedded provider in process. Its
    # pages (a sign-in problem, the logout confirmation) come from templates/oidc_kit/, in this
    # app's layout: the kit renders them with our Jinja2 environment. With a client
    # certificate the kit makes its own client, which presents it.
    auth = OIDCAuth(
        config,
        http_client=http if settings.sandbox_provider and tls is None else None,
        templates=templates.env,
    )
    # Certificate-bound tokens reach ORCA over a client presenting the certificate.
    orca = OrcaClient.for_config(settings.orca_api_base, http, config)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            if tls is not None:
                await tls.start()  # before the kit: it may discover the provider at once
            async with auth:  # opens the session store and the kit's HTTP client
                _log_start(settings, tls)
                yield
        finally:
            await orca.aclose()
            await http.aclose()
            if tls is not None:
                await tls.stop()

    app = Starlette(
        routes=[
            auth.mount,  # the kit's routes, at OIDC_ROUTE_PREFIX (default /auth)
            *page_routes(),
            *payment_routes(),  # /payments/confirm: a step-up with RAR (RFC 9396)
            Mount("/api", routes=api_routes()),
            Mount("/static", app=StaticFiles(directory=_STATIC), name="static"),
            Route("/favicon.ico", favicon),  # asked for by browsers, whatever the page says
            *([] if tls else sandbox.routes),  # over TLS, the sandboxes are not under /sandbox/
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
        settings=settings, config=config, auth=auth, orca=orca, templates=templates
    )
    return app


def _sandbox_tls(settings: Settings, sandbox: Router) -> SandboxTLS | None:
    """The mutual-TLS server of the sandboxes (``sandbox``), in that demo only."""
    if not settings.mtls:
        return None
    if settings.token_auth_method == "self_signed_tls_client_auth":
        from oidc_kit import ConfigurationError

        raise ConfigurationError(
            "the sandbox provider shows mutual TLS with tls_client_auth "
            "(OIDC_TOKEN_AUTH_METHOD): its test CA issues the client's certificate"
        )
    if not settings.sandbox_orca or not _is_loopback(settings.base_url):
        from oidc_kit import ConfigurationError

        # Bound tokens of the sandbox mean nothing to a real ORCA; the TLS server listens on
        # 127.0.0.1 only, where another machine's browser cannot log in.
        raise ConfigurationError(
            "the mutual-TLS demo (OIDC_TOKEN_AUTH_METHOD=tls_client_auth or "
            "OIDC_MTLS_BOUND_TOKENS=1 with OIDC_ISSUER unset) runs the sandbox provider and "
            "the sandbox ORCA on loopback: unset ORCA_API_BASE, and keep APP_BASE_URL on "
            "127.0.0.1 or localhost"
        )
    from .sandbox_tls import SandboxTLS

    return SandboxTLS.create(sandbox)


def _is_loopback(url: str) -> bool:
    return httpx.URL(url).host in ("127.0.0.1", "localhost", "::1")


def _sandbox_routes(
    settings: Settings,
    config: OIDCConfig,
    http: httpx.AsyncClient,
    tls: SandboxTLS | None = None,
) -> list[BaseRoute]:
    """The embedded sandbox provider and/or sandbox ORCA, for what the environment leaves unset.

    Over mutual TLS (``tls``), they run in its server's thread and event loop: the provider
    gets a client of its own, without keep-alive so that no connection outlives that loop,
    and ORCA reaches the provider in process.
    """
    routes: list[BaseRoute] = []
    if settings.sandbox_provider:
        from oidc_kit.testing import SandboxClient, SandboxProvider

        client = SandboxClient(
            client_id=SANDBOX_CLIENT_ID,
            client_secret=settings.sandbox_client_secret,
            client_name=settings.app_name,  # the login page: "to continue to {APP_NAME}"
            redirect_uris=(settings.redirect_uri,),
            post_logout_redirect_uris=(config.post_logout_redirect_uri,),
            backchannel_logout_uri=settings.kit_url("/backchannel-logout"),
            **_sandbox_client_auth(settings, config, tls),
        )
        # Logout tokens go through the app's client: /auth/backchannel-logout is not under
        # /sandbox/, so it is reached over the network, through the running (async) server.
        provider_http = http
        if tls is not None:
            no_keep_alive = httpx.Limits(max_keepalive_connections=0)
            provider_http = httpx.AsyncClient(limits=no_keep_alive, timeout=config.http_timeout)
            tls.http_clients.append(provider_http)
        provider = SandboxProvider(
            settings.issuer,
            clients=[client],
            access_token_ttl=settings.sandbox_access_token_ttl,
            http_client=provider_http,
            id_token_alg="PS256" if settings.fapi2 else "RS256",
            require_par=settings.fapi2,
            introspection=True,  # the profile page shows whether the token is active
            mtls=settings.mtls,
        )
        routes.append(Mount(SANDBOX_OP_PATH, app=provider.app))
    if settings.sandbox_orca:
        orca_http = http
        if tls is not None:
            orca_http = httpx.AsyncClient(transport=httpx.ASGITransport(app=tls.app))
            tls.http_clients.append(orca_http)
        orca = SandboxOrca(
            config.issuer, orca_http, audience=settings.orca_audience, require_dpop=settings.fapi2
        )
        routes.append(Mount(SANDBOX_ORCA_PATH, app=orca.app))
    return routes


def _sandbox_client_auth(
    settings: Settings, config: OIDCConfig, tls: SandboxTLS | None
) -> dict[str, Any]:
    """How the sandbox registers the app's client: as the kit's settings authenticate it
    (FAPI 2.0's key, ``client_secret_jwt``, ``tls_client_auth``), and with mutual TLS its
    tokens bound to the certificate."""
    fields = _sandbox_fapi2_client(settings, config)
    if settings.token_auth_method == "client_secret_jwt":
        fields["token_endpoint_auth_method"] = "client_secret_jwt"
    if tls is not None:
        fields["tls_client_certificate_bound_access_tokens"] = True
        fields.pop("dpop_bound_access_tokens", None)  # one sender constraint: the certificate
        if settings.token_auth_method == "tls_client_auth":
            fields["token_endpoint_auth_method"] = "tls_client_auth"
            fields["tls_client_auth_subject_dn"] = tls.client.subject_dn
    return fields


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
    if settings.mtls:
        return (
            "Sandbox mode, mutual TLS — log in as alice/alice or bob/bob; your browser will "
            "warn about the sandbox's test certificate, made at start-up"
        )
    if settings.sandbox_provider:
        return "Sandbox mode — log in as alice/alice or bob/bob"
    if settings.sandbox_orca:
        return "Sandbox ORCA — the accounts and cards shown are made up"
    return None


def _log_start(settings: Settings, tls: SandboxTLS | None) -> None:
    log.info("%s at %s", settings.app_name, settings.base_url)
    log.info("provider: %s", "embedded sandbox" if settings.sandbox_provider else settings.issuer)
    if settings.fapi2:
        log.info("profile: FAPI 2.0 (PAR, private_key_jwt, DPoP)")
    if tls is not None:
        log.info(
            "mutual TLS: the sandboxes at %s, certificate-bound tokens; test CA and client "
            "certificate in %s (ca.pem, client.pem, client.key)",
            tls.origin,
            tls.directory,
        )
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
