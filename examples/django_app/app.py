"""The Django example: ``create_app()`` configures the project (settings in code, from the
environment as example_app reads it), starts the sandboxes when asked, and returns the ASGI
application.

What to keep when you copy it: ``"oidc_kit.django"`` in ``INSTALLED_APPS``, the middleware,
``OIDC_KIT`` (or nothing: the environment), the URLconf's include, ``login_required`` and the
ORCA call through the kit's loop (:mod:`examples.django_app.urls`). What to drop in
production: the sandboxes (they only run when ``OIDC_ISSUER`` / ``ORCA_API_BASE`` are unset).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import django
import httpx
from django.conf import settings as django_settings
from django.core.asgi import get_asgi_application

from example_app.orca import OrcaClient
from example_app.settings import Settings
from examples.flask_app.sandbox import start_sandbox

from . import urls

__all__ = ["create_app"]

log = logging.getLogger(__package__)


def create_app(environ: Mapping[str, str] | None = None, *, port: int = 8000) -> Any:
    """The ASGI application, configured from ``environ`` (default: ``os.environ``), as
    example_app is. Django's settings are process-wide: call it once per process.

    ``port`` only feeds the default ``APP_BASE_URL``, ``http://127.0.0.1:{port}``.
    """
    settings = Settings.from_env(environ, port=port)
    if settings.sandbox_provider or settings.sandbox_orca:
        settings = start_sandbox(settings, environ)
    config = settings.oidc_config(environ)
    django_settings.configure(
        DEBUG=False,
        SECRET_KEY="not-used-by-this-project",
        ALLOWED_HOSTS=["*"],  # the kit checks origins against APP_BASE_URL itself
        ROOT_URLCONF="examples.django_app.urls",
        INSTALLED_APPS=["oidc_kit.django"],
        MIDDLEWARE=["oidc_kit.django.middleware.OIDCMiddleware"],
        OIDC_KIT={"CONFIG": config},
        LOGGING_CONFIG=None,
    )
    django.setup()
    # example_app's ORCA client, async: it runs on the kit's event loop (oidc_kit.django.call),
    # where this client's connection pool serves every request of the process.
    orca = OrcaClient(settings.orca_api_base, httpx.AsyncClient(timeout=config.http_timeout))
    urls.configure(settings, orca, config.route_prefix)
    _log_start(settings)
    return get_asgi_application()


def _log_start(settings: Settings) -> None:
    log.info("%s (Django) at %s", settings.app_name, settings.base_url)
    provider = "sandbox at " + settings.issuer if settings.sandbox_provider else settings.issuer
    log.info("provider: %s", provider)
    log.info("ORCA: %s", settings.orca_api_base)
