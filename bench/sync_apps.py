"""The sync frameworks' apps under load, as WSGI apps: ``uvicorn bench.sync_apps:create_app
--factory --interface wsgi``.

One pair per framework, so that the ratio prices the kit in that framework: the same view,
bare and protected, behind the same server. ``BENCH_KIND`` picks the app:

- ``flask-bare``: a Flask view returning the user's ``sub`` as text, no extension, sent a
  random cookie of the kit's size (as ``bench/app.py``'s bare route is);
- ``flask-kit``: the same view under ``oidc_kit.flask``'s ``login_required`` with ``OIDC(app)``
  over ``BENCH_STORE``, returning ``current_user.identity``;
- ``django-bare``: a Django view returning the ``sub`` as text, sent the same random cookie;
  settings in code, no database, ``DEBUG`` off, and the middleware of a new project
  (``startproject``) that needs no database (:data:`DJANGO_MIDDLEWARE`);
- ``django-kit``: the same view under ``oidc_kit.django``'s ``login_required``, with the kit's
  app, its URLconf and its middleware (where ``AuthenticationMiddleware`` would be) added,
  ``OIDC_KIT = {"CONFIG": ...}`` over ``BENCH_STORE``, returning ``request.user.identity``.

Each kit app makes one logged-in session at start-up the way ``bench/app.py``'s kit apps do
(``Sessions.create`` with PortX-sized tokens, the cookie signed with the kit's
``CookieSigner``), here through the kit's bridge (:func:`write_login_cookie`), so the measured
request is a logged-in one: one crossing to the kit's loop (the session step).

All write the ``Cookie`` header to send to ``BENCH_COOKIE_OUT``. Another framework is one more
pair of cases here and one more entry in ``bench/run.py``'s ``FRAMEWORK_PAIRS``.
"""

from __future__ import annotations

import os
import secrets
import time
import types
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import tokens as portx
from bench.app import publish_cookie

if TYPE_CHECKING:
    from oidc_kit._session import Session
    from oidc_kit._sync_kit import SyncKit

SUB = "auth0|6543a1b2c3d4e5f6a7b8c9d0"

#: Both Django kinds' middleware: ``startproject``'s, less the three that need a database or
#: ``django.contrib`` apps (sessions, auth, messages: the kit replaces the first two, and with
#: no cookie of theirs they would do little). The kit's goes where ``AuthenticationMiddleware``
#: was, after CSRF (:func:`_django_kit`).
DJANGO_MIDDLEWARE = (
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
)


def create_app() -> Any:
    """The WSGI app ``BENCH_KIND`` names."""
    kind = os.environ["BENCH_KIND"]
    out = Path(os.environ["BENCH_COOKIE_OUT"])
    if kind == "flask-bare":
        return _flask_bare(out)
    if kind == "flask-kit":
        return _flask_kit(out, os.environ["BENCH_STORE"])
    if kind == "django-bare":
        return _django_bare(out)
    if kind == "django-kit":
        return _django_kit(out, os.environ["BENCH_STORE"])
    raise SystemExit(f"unknown BENCH_KIND {kind!r}")


def random_cookie() -> str:
    """A cookie of the kit's shape and size (100 B), as a browser sends it to every route."""
    return f"oidc_session={secrets.token_urlsafe(32)}.{secrets.token_urlsafe(32)}"


def write_login_cookie(kit: SyncKit, out: Path) -> None:
    """Make one logged-in session (PortX-sized tokens, ``Sessions.create``) on ``kit``'s loop,
    through its bridge (which starts the loop and builds the kit's parts), and write the
    ``Cookie`` header that carries it to ``out``."""
    rp = kit.parts.rp

    async def login() -> Session:
        tokens, claims = portx.portx_tokens(int(time.time()))
        session: Session = await rp._sessions.create(
            tokens, claims, provider_sid=str(claims["sid"])
        )
        return session

    session = kit.call(login)
    publish_cookie(out, f"{rp.session_cookie}={rp._cookies.sign_session(session.sid)}")


def _flask_bare(out: Path) -> Any:
    from flask import Flask

    app = Flask(__name__)

    @app.get("/")
    def me() -> str:
        return SUB

    publish_cookie(out, random_cookie())
    return app


def _flask_kit(out: Path, store_url: str) -> Any:
    from flask import Flask

    from oidc_kit.flask import OIDC, current_user, login_required

    app = Flask(__name__)
    oidc = OIDC(app, config=portx.config(store=store_url))

    @app.get("/")
    @login_required
    def me() -> str:
        return str(current_user.identity)

    write_login_cookie(app.extensions["oidc_kit"], out)
    app.extensions["bench_oidc"] = oidc  # kept alive with the app
    return app


def _django_bare(out: Path) -> Any:
    from django.http import HttpRequest, HttpResponse
    from django.urls import path

    def me(request: HttpRequest) -> HttpResponse:
        return HttpResponse(SUB, content_type="text/plain")

    app = _django_app([path("", me)], installed_apps=[], middleware=list(DJANGO_MIDDLEWARE))
    publish_cookie(out, random_cookie())
    return app


def _django_kit(out: Path, store_url: str) -> Any:
    from django.http import HttpRequest, HttpResponse
    from django.urls import include, path

    from oidc_kit.django import login_required

    @login_required
    def me(request: HttpRequest) -> HttpResponse:
        user: Any = request.user  # the kit's OIDCUser (Django's stubs know only theirs)
        return HttpResponse(str(user.identity), content_type="text/plain")

    middleware = list(DJANGO_MIDDLEWARE)
    # Where startproject's AuthenticationMiddleware is: after CSRF, before X-Frame-Options.
    middleware.insert(3, "oidc_kit.django.middleware.OIDCMiddleware")
    app = _django_app(
        [path("auth/", include("oidc_kit.django.urls")), path("", me)],
        installed_apps=["oidc_kit.django"],
        middleware=middleware,
        OIDC_KIT={"CONFIG": portx.config(store=store_url)},
    )
    from oidc_kit.django._kit import get_kit  # after settings.configure

    write_login_cookie(get_kit().sync, out)
    return app


def _django_app(
    urlpatterns: list[Any], *, installed_apps: list[str], middleware: list[str], **extra: Any
) -> Any:
    """Django configured in code (settings are per process: one app per process) and its WSGI
    handler. No database, ``DEBUG`` off; the URLconf a module made here."""
    import django
    from django.conf import settings
    from django.core.wsgi import get_wsgi_application

    urls = types.ModuleType("bench_django_urls")
    urls.urlpatterns = urlpatterns  # type: ignore[attr-defined]
    settings.configure(
        DEBUG=False,
        SECRET_KEY=secrets.token_urlsafe(32),
        ALLOWED_HOSTS=["*"],
        ROOT_URLCONF=urls,
        INSTALLED_APPS=installed_apps,
        MIDDLEWARE=middleware,
        DATABASES={},
        **extra,
    )
    django.setup()
    return get_wsgi_application()
