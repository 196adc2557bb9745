"""The sync frameworks' apps under load, as WSGI apps: ``uvicorn bench.sync_apps:create_app
--factory --interface wsgi``.

One pair per framework, so that the ratio prices the kit in that framework: the same view,
bare and protected, behind the same server. ``BENCH_KIND`` picks the app:

- ``flask-bare``: a Flask view returning the user's ``sub`` as text, no extension, sent a
  random cookie of the kit's size (as ``bench/app.py``'s bare route is);
- ``flask-kit``: the same view under ``oidc_kit.flask``'s ``login_required`` with ``OIDC(app)``
  over ``BENCH_STORE``, returning ``current_user.identity``. At start-up it makes one logged-in
  session the way ``bench/app.py``'s kit apps do (``Sessions.create`` with PortX-sized tokens,
  the cookie signed with the kit's ``CookieSigner``), here through the kit's bridge, so the
  measured request is a logged-in one: one crossing to the kit's loop (the session step).

Both write the ``Cookie`` header to send to ``BENCH_COOKIE_OUT``. A Django pair is one more
``django-bare``/``django-kit`` case here and one more entry in ``bench/run.py``'s
``FRAMEWORK_PAIRS``.
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path
from typing import Any

from bench import tokens as portx

SUB = "auth0|6543a1b2c3d4e5f6a7b8c9d0"


def create_app() -> Any:
    """The WSGI app ``BENCH_KIND`` names."""
    kind = os.environ["BENCH_KIND"]
    out = Path(os.environ["BENCH_COOKIE_OUT"])
    if kind == "flask-bare":
        return _flask_bare(out)
    if kind == "flask-kit":
        return _flask_kit(out, os.environ["BENCH_STORE"])
    raise SystemExit(f"unknown BENCH_KIND {kind!r}")


def random_cookie() -> str:
    """A cookie of the kit's shape and size (100 B), as a browser sends it to every route."""
    return f"oidc_session={secrets.token_urlsafe(32)}.{secrets.token_urlsafe(32)}"


def _flask_bare(out: Path) -> Any:
    from flask import Flask

    app = Flask(__name__)

    @app.get("/")
    def me() -> str:
        return SUB

    out.write_text(random_cookie())
    return app


def _flask_kit(out: Path, store_url: str) -> Any:
    from flask import Flask

    from oidc_kit._session import Session
    from oidc_kit.flask import OIDC, current_user, login_required

    app = Flask(__name__)
    oidc = OIDC(app, config=portx.config(store=store_url))

    @app.get("/")
    @login_required
    def me() -> str:
        return str(current_user.identity)

    kit = app.extensions["oidc_kit"]
    rp = kit.parts.rp  # starts the kit's loop and builds the parts on it

    async def login() -> Session:
        tokens, claims = portx.portx_tokens(int(time.time()))
        session: Session = await rp._sessions.create(
            tokens, claims, provider_sid=str(claims["sid"])
        )
        return session

    session = kit.call(login)
    out.write_text(f"{rp.session_cookie}={rp._cookies.sign_session(session.sid)}")
    app.extensions["bench_oidc"] = oidc  # kept alive with the app
    return app
