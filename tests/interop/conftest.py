"""Fixtures of the interop tests: panva's oidc-provider and the real example_app, on loopback.

``node`` and ``tests/interop/node_modules/oidc-provider`` (``make node``, which runs
``npm ci`` here) must be present: without them these tests skip with a one-line reason, and
fail under ``CI=true``. The provider and the app run once per module; each test is its own
browser (cookie jar), so sessions do not leak between tests.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.interop.stack import (
    ACCESS_TOKEN_TTL,
    NOCARDS_CLIENT_ID,
    Browser,
    RotationStack,
    Stack,
    provider_env,
    run_provider,
    signing_key,
    start_app,
)
from tests.servers import Server, free_port

HERE = Path(__file__).resolve().parent
OIDC_PROVIDER = HERE / "node_modules" / "oidc-provider" / "package.json"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: the interop tests may not skip)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def node() -> str:
    """The ``node`` binary, once oidc-provider is installed in tests/interop/node_modules."""
    found = shutil.which("node")
    if found is None:
        _unavailable("node is not installed: the oidc-provider interop tests need Node.js")
    if not OIDC_PROVIDER.is_file():
        _unavailable("oidc-provider is not installed: run `make node` (npm ci in tests/interop)")
    assert found is not None
    version = json.loads(OIDC_PROVIDER.read_text())["version"]
    assert version.startswith("9."), f"oidc-provider {version} is installed, the tests pin 9.x"
    return found


@pytest.fixture(scope="module")
def stack(node: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("interop")
    provider_port, app_port, nocards_port = free_port(), free_port(), free_port()
    env = provider_env(
        f"http://127.0.0.1:{app_port}",
        ttl=ACCESS_TOKEN_TTL,
        NOCARDS_CLIENT_ID=NOCARDS_CLIENT_ID,
        NOCARDS_APP_BASE_URL=f"http://127.0.0.1:{nocards_port}",
    )
    with (
        run_provider(node, provider_port, env, tmp / "provider.log") as provider,
        start_app(provider.issuer, app_port, tmp) as app,
    ):
        yield Stack(provider, app, tmp, nocards_port)


@pytest.fixture(scope="module")
def nocards_app(stack: Stack) -> Iterator[Server]:
    """A second example app whose client the provider never grants ``cards:read``."""
    with start_app(
        stack.provider.issuer,
        stack.nocards_port,
        stack.tmp,
        client_id=NOCARDS_CLIENT_ID,
        name="nocards-app",
    ) as app:
        yield app


@pytest.fixture
def browser(stack: Stack) -> Iterator[Browser]:
    with stack.browser() as b:
        yield b


# --- the key-rotation scenario: a provider of its own, restarted with new keys ----------------


@pytest.fixture
def rotation_stack(node: str, tmp_path: Path) -> Iterator[RotationStack]:
    """oidc-provider signing with ``old-key``, its state in a file so a restart keeps the
    sessions, grants and refresh tokens, and an app logging in there."""
    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_text(json.dumps({"keys": [signing_key("old-key")]}))
    provider_port, app_port = free_port(), free_port()
    env = provider_env(
        f"http://127.0.0.1:{app_port}",
        ttl=5,
        PROVIDER_JWKS_FILE=str(jwks_file),
        PROVIDER_STATE_FILE=str(tmp_path / "provider-state.json"),
        PROVIDER_COOKIE_KEYS="interop-cookie-key-0123456789",
    )
    with (
        run_provider(node, provider_port, env, tmp_path / "provider.log") as provider,
        start_app(provider.issuer, app_port, tmp_path) as app,
    ):
        yield RotationStack(provider, app, tmp_path, 0, jwks_file)
