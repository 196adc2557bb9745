"""Where sessions live, and how long a provider is waited for: no setting silently loses.

``OIDCAuth(store=...)`` and ``session_store`` both answer "where do sessions live": given
both, the kit refuses to start rather than ignore one. Each provider's ``http_timeout`` is
its own: the HTTP client the providers share (made with the first's timeout, or the app's
own) does not cut another provider's calls short of their deadline.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from oidc_kit import ConfigurationError, MemoryStore, SQLiteStore
from oidc_kit._app_config import DEFAULT_SESSION_STORE
from oidc_kit.starlette import OIDCAuth
from tests.conftest import make_config

CORP = "https://corp.test"


def test_a_store_object_with_a_session_store_is_refused() -> None:
    config = make_config(session_store="redis://:hunter2-password@cache.internal:6379/0")
    with pytest.raises(ConfigurationError) as info:
        OIDCAuth(config, store=MemoryStore())
    assert "store=" in info.value.description
    assert "SESSION_STORE" in info.value.description
    assert "hunter2" not in str(info.value)  # a Redis URL's password is never shown


async def test_a_store_object_alone_is_the_store() -> None:
    store = MemoryStore()
    async with OIDCAuth(make_config(), store=store) as auth:
        assert auth.store is store


async def test_an_unset_session_store_opens_the_default_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = make_config()
    assert config.session_store is None
    assert config.session_store_url == DEFAULT_SESSION_STORE
    async with OIDCAuth(config) as auth:
        assert isinstance(auth.store, SQLiteStore)


async def test_each_provider_waits_its_own_http_timeout() -> None:
    """The shared client has the first provider's timeout (5 s); the second provider's
    calls carry its own 30 s, phase by phase, not the client's."""
    seen: dict[str, Any] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen[request.url.host] = request.extensions["timeout"]
        return httpx.Response(503)

    portx = make_config(http_timeout=5.0)
    corp = dataclasses.replace(portx, issuer=CORP, http_timeout=30.0)
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler), timeout=portx.http_timeout)
    auth = OIDCAuth({"portx": portx, "corp": corp}, http_client=http, store=MemoryStore())
    app = Starlette(
        routes=[Mount("/auth", routes=auth.routes)],
        middleware=[auth.middleware],
        exception_handlers=auth.exception_handlers,
    )
    browser = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=portx.base_url)
    async with http, auth, browser:
        for name in ("portx", "corp"):  # each login starts with its provider's discovery
            answer = await browser.get("/auth/login", params={"provider": name})
            assert answer.status_code == 503
    assert set(seen["corp.test"].values()) == {30.0}
    assert set(seen[httpx.URL(portx.issuer).host].values()) == {5.0}
