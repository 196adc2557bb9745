"""The Flask example: ``create_app()`` wires the kit, a page, the JSON API and the sandboxes.

What to keep when you copy it: ``OIDC(app, config=...)``, ``login_required`` and the ORCA
call through the kit's bridge. What to drop in production: the sandboxes (they only run when
``OIDC_ISSUER`` / ``ORCA_API_BASE`` are unset).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import httpx
from flask import Flask, Response, jsonify, request
from markupsafe import escape

from example_app.orca import OrcaClient, OrcaError
from example_app.settings import Settings
from oidc_kit.flask import OIDC, current_user, login_required

from .sandbox import start_sandbox

__all__ = ["create_app"]

log = logging.getLogger(__package__)

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{name}</title></head>
<body><h1>{name}</h1>{body}</body></html>"""


def create_app(environ: Mapping[str, str] | None = None, *, port: int = 8000) -> Flask:
    """The WSGI app, configured from ``environ`` (default: ``os.environ``), as example_app is.

    ``port`` only feeds the default ``APP_BASE_URL``, ``http://127.0.0.1:{port}``.
    """
    settings = Settings.from_env(environ, port=port)
    if settings.sandbox_provider or settings.sandbox_orca:
        settings = start_sandbox(settings, environ)
    config = settings.oidc_config(environ)
    app = Flask(__name__)
    oidc = OIDC(app, config=config)
    # example_app's ORCA client, async: it runs on the kit's event loop (oidc.call), with the
    # user's token from oidc.async_auth(). This client is only ever used there.
    orca = OrcaClient(settings.orca_api_base, httpx.AsyncClient(timeout=config.http_timeout))

    @app.get("/")
    def home() -> str:
        """A small page: who is logged in, or a link to log in."""
        prefix = config.route_prefix
        if not current_user.is_authenticated:
            body = f'<p><a href="{prefix}/login">Log in</a></p>'
        else:
            body = (
                f"<p>Hello {escape(current_user.display_name)}</p>"
                '<p><a href="/api/accounts">Your accounts (JSON)</a></p>'
                f'<form method="post" action="{prefix}/logout"><button>Log out</button></form>'
            )
        return _PAGE.format(name=escape(settings.app_name), body=body)

    @app.get("/api/accounts")
    @login_required
    def accounts() -> Response:
        """ORCA's ``GET /accounts``, with the user's token (refreshed when due)."""
        return _no_store(jsonify(oidc.call(orca.list_accounts, oidc.async_auth())))

    @app.errorhandler(OrcaError)
    def orca_error(exc: OrcaError) -> tuple[Response, int]:
        """ORCA said no: ``/api/*`` passes its answer through."""
        return _no_store(jsonify(exc.body)), exc.status

    @app.errorhandler(404)
    def not_found(exc: Exception) -> tuple[Any, int]:
        if request.path.startswith("/api/"):
            return _no_store(jsonify(error="not_found")), 404
        return _PAGE.format(name="Not found", body="<p>No such page.</p>"), 404

    _log_start(settings)
    return app


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


def _log_start(settings: Settings) -> None:
    log.info("%s (Flask) at %s", settings.app_name, settings.base_url)
    provider = "sandbox at " + settings.issuer if settings.sandbox_provider else settings.issuer
    log.info("provider: %s", provider)
    log.info("ORCA: %s", settings.orca_api_base)
