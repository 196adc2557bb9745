"""One test app per sync adapter, behind one fixture: ``adapter``, parametrized over
:data:`ADAPTERS`.

- ``flask``: tests/flask/conftest.py's app, each request on a worker thread as a WSGI server
  serves it;
- ``django-wsgi`` / ``django-asgi``: tests/django's project (its views in tests/django/urls.py)
  through Django's WSGI or ASGI handler.

Both apps have the same routes (the kit's under ``/auth``, ``/``, ``/public``, ``/api/me``,
``/api/write``, ``/mfa``, ``/api/accounts``) on the same provider, store, API and audit
recorder (tests/flask/conftest.py's fixtures); Django's also has async twins of its views
under ``/async`` (``/api/async/me``, ``/async/mfa``, ...), which tests of the views run
through :data:`ADAPTER_VIEWS`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from django.core.wsgi import get_wsgi_application

from oidc_kit._answers import WebAnswers
from oidc_kit._sync_kit import SyncKit
from oidc_kit.django._kit import get_kit
from oidc_kit.testing import SandboxProvider
from tests.django.conftest import kit, transport  # (configures Django)
from tests.flask.conftest import (  # the provider, store, API and recorder both apps share
    APP,
    AsyncWSGITransport,
    FlakyStore,
    Recorder,
    Seen,
    api,
    app,
    oidc,
    op,
    recorder,
    seen,
    store,
)

__all__ = ["api", "app", "kit", "oidc", "op", "recorder", "seen", "store"]

#: Every adapter the shared tests run on.
ADAPTERS = ("flask", "django-wsgi", "django-asgi")
#: The adapters a WSGI server runs: a test can write their ``environ`` by hand.
WSGI_ADAPTERS = ("flask", "django-wsgi")
#: Each adapter with each set of views its app has: the sync ones (``""``) and Django's async
#: twins (``"/async"``), each under both of Django's handlers.
ADAPTER_VIEWS = [
    ("flask", ""),
    ("django-wsgi", ""),
    ("django-wsgi", "/async"),
    ("django-asgi", ""),
    ("django-asgi", "/async"),
]

#: A WSGI application (``environ``, ``start_response``).
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


@dataclass(frozen=True, slots=True)
class Adapter:
    """One adapter's test app, as a test drives it, and what it shares with the test."""

    name: str
    #: The test's browser on the app (``sandbox_login`` drives it).
    browser: httpx.AsyncClient
    op: SandboxProvider
    store: FlakyStore
    recorder: Recorder
    #: What the test API saw: each request's Authorization header.
    seen: Seen
    #: The app's kit, for what its answers must look like (cookie names, cookie lines).
    kit: SyncKit
    #: The app as a WSGI server calls it; ``None`` under ASGI.
    wsgi: WSGIApp | None

    @property
    def web(self) -> WebAnswers:
        """The kit's answers on the web: its cookies' names and lines."""
        return self.kit.web

    @property
    def session_cookie(self) -> str:
        """The name of the kit's session cookie."""
        return self.web.rp.session_cookie


@pytest.fixture(params=ADAPTERS)
async def adapter(
    request: pytest.FixtureRequest,
    op: SandboxProvider,
    store: FlakyStore,
    recorder: Recorder,
    seen: Seen,
) -> AsyncIterator[Adapter]:
    name: str = request.param
    wsgi: WSGIApp | None
    if name == "flask":
        flask_app = request.getfixturevalue("app")
        sync_kit: SyncKit = flask_app.extensions["oidc_kit"]
        to_app: httpx.AsyncBaseTransport = AsyncWSGITransport(flask_app)
        wsgi = flask_app
    else:
        request.getfixturevalue("kit")  # OIDC_KIT set for the test, the kit closed after it
        mode = name.removeprefix("django-")
        sync_kit = get_kit().sync
        to_app = transport(mode)
        wsgi = get_wsgi_application() if mode == "wsgi" else None
    async with httpx.AsyncClient(transport=to_app, base_url=APP) as browser:
        yield Adapter(name, browser, op, store, recorder, seen, sync_kit, wsgi)
