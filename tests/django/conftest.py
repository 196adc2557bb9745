"""A Django project on the kit (tests/django/settings.py), served through Django's own
handlers, WSGI and ASGI, and logged in to through the sandbox provider.

The ``browser`` fixture is an ``httpx.AsyncClient`` (what ``sandbox_login`` drives) on
``get_wsgi_application()`` (each request on a worker thread, as a WSGI server serves it) or
``get_asgi_application()`` (on the test's event loop, as uvicorn would): the headers as
Django's handlers write them, ``Set-Cookie`` lines included.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import django
import httpx
import pytest
from django.conf import settings

from tests.django import settings as test_settings

if not settings.configured:  # not DJANGO_SETTINGS_MODULE: the processes tests start keep theirs
    settings.configure(**{k: v for k, v in vars(test_settings).items() if k.isupper()})
    django.setup()

from django.core.asgi import get_asgi_application
from django.core.wsgi import get_wsgi_application
from django.test import override_settings

from oidc_kit import Hooks
from oidc_kit.django._kit import get_kit
from oidc_kit.testing import SandboxProvider
from tests.django import urls
from tests.flask.conftest import (  # the same provider, store, API and recorder
    APP,
    CLIENT_IP,
    AsyncWSGITransport,
    FlakyStore,
    Recorder,
    api,
    make_config,
    op,
    recorder,
    seen,
    store,
)

__all__ = ["api", "op", "recorder", "seen", "store"]


def kit_options(
    op: SandboxProvider, store: FlakyStore, recorder: Recorder | None = None, **more: Any
) -> dict[str, Any]:
    """``OIDC_KIT`` for the test project: the sandbox provider in process, the test's store."""
    options: dict[str, Any] = {
        "CONFIG": make_config(session_secrets=("django-test-secret-0123456789abcdef",)),
        "STORE": store,
        "HTTP_CLIENT": lambda: httpx.AsyncClient(transport=httpx.ASGITransport(app=op.app)),
    }
    if recorder is not None:
        options["HOOKS"] = Hooks(on_audit=recorder)
    return {**options, **more}


@pytest.fixture
def kit(
    op: SandboxProvider, store: FlakyStore, recorder: Recorder, api: httpx.MockTransport
) -> Iterator[None]:
    """The kit configured for the test (closed after it, by the setting's change)."""
    urls.API["api"] = api
    with override_settings(OIDC_KIT=kit_options(op, store, recorder)):
        yield
    urls.API.clear()


def transport(mode: str) -> httpx.AsyncBaseTransport:
    """Django's WSGI or ASGI handler, as a transport."""
    if mode == "wsgi":
        return AsyncWSGITransport(get_wsgi_application())
    return httpx.ASGITransport(app=get_asgi_application(), client=(CLIENT_IP, 50123))


@pytest.fixture(params=["wsgi", "asgi"])
def mode(request: pytest.FixtureRequest) -> str:
    mode: str = request.param
    return mode


@pytest.fixture
async def browser(kit: None, mode: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=transport(mode), base_url=APP) as client:
        yield client


def session_cookie() -> str:
    return get_kit().sync.web.rp.session_cookie
