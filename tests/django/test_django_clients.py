"""The Django adapter with Django's own test clients (``Client``: the WSGI-style handler,
``AsyncClient``: the ASGI one), the checks, and a Django user per subject
(``OIDC_KIT["USER_BACKEND"]``). (A body read bounded from the WSGI input is tested for Flask and
Django at once, in tests/sync_adapters.)"""

from __future__ import annotations

from collections.abc import Iterator

import anyio.to_thread
import httpx
import pytest
from django.core.checks import run_checks
from django.core.management import call_command
from django.test import AsyncClient, Client, override_settings

from oidc_kit.testing import SandboxProvider, sandbox_login
from tests.django.conftest import kit_options, session_cookie, transport
from tests.flask.conftest import APP, FlakyStore


async def logged_in_cookie(op: SandboxProvider, mode: str = "wsgi") -> str:
    async with httpx.AsyncClient(transport=transport(mode), base_url=APP) as browser:
        await sandbox_login(browser, op, "alice")
        return browser.cookies[session_cookie()]


async def test_djangos_client_and_async_client(kit: None, op: SandboxProvider) -> None:
    cookie = await logged_in_cookie(op)
    client = Client(headers={"Origin": APP})
    assert client.get("/").status_code == 303  # anonymous: to log in
    assert client.get("/api/me").json()["error"] == "login_required"
    client.cookies[session_cookie()] = cookie
    assert client.get("/").content.startswith(b"hello ")
    assert client.get("/api/me").json()["sub"] == "sandbox-alice"
    # An async view under WSGI (Django's async_to_sync: not from the test's own loop).
    async_view = await anyio.to_thread.run_sync(client.get, "/api/async/me")
    assert async_view.json()["async"] is True
    asynchronous = AsyncClient()
    assert (await asynchronous.get("/api/async/me")).status_code == 401
    asynchronous.cookies[session_cookie()] = cookie
    assert (await asynchronous.get("/api/async/me")).json()["async"] is True
    assert (await asynchronous.get("/")).status_code == 200  # a sync view under ASGI
    done = await asynchronous.post("/auth/logout", headers={"Origin": APP})
    assert done.status_code == 303
    assert client.get("/api/me").status_code == 401  # the session ended in the store


def test_the_checks_find_the_routes_and_the_middleware(kit: None) -> None:
    assert [m for m in run_checks() if m.id.startswith("oidc_kit")] == []
    with override_settings(MIDDLEWARE=[]):
        assert "oidc_kit.E002" in {m.id for m in run_checks()}
    with override_settings(ROOT_URLCONF="tests.django.misplaced_urls"):
        assert "oidc_kit.E004" in {m.id for m in run_checks()}


@pytest.fixture
def with_auth(op: SandboxProvider, store: FlakyStore) -> Iterator[None]:
    """django.contrib.auth installed, its tables made, and the subject backend chosen."""
    apps = ["django.contrib.auth", "django.contrib.contenttypes", "oidc_kit.django"]
    options = kit_options(op, store, USER_BACKEND="oidc_kit.django.backends.SubjectBackend")
    with override_settings(INSTALLED_APPS=apps, OIDC_KIT=options):
        call_command("migrate", verbosity=0)
        yield


@pytest.mark.parametrize("mode", ["asgi"])
async def test_a_django_user_per_subject(with_auth: None, op: SandboxProvider, mode: str) -> None:
    async with httpx.AsyncClient(transport=transport(mode), base_url=APP) as browser:
        assert (await browser.get("/django-user")).json()["type"].endswith(".AnonymousUser")
        await sandbox_login(browser, op, "alice")
        user = (await browser.get("/django-user")).json()
        assert user["type"] == "django.contrib.auth.models.User"
        assert user["username"] == "sandbox-alice" and user["pk"] is not None
        assert user["email"]  # filled from the claims at first sight
        again = (await browser.get("/async/django-user")).json()  # request.auser()
        assert again == {"username": "sandbox-alice", "pk": user["pk"]}  # the same user
