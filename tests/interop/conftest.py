"""Fixtures of the interop tests: panva's oidc-provider and a real example app, on loopback.

``stack`` and ``fapi_stack`` run once per framework (``framework``: the Starlette demo, the
Flask example, the Django example); a test of what only the demo has takes
:data:`tests.interop.stack.demo_only`. The other stacks run the demo.

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
from joserfc.jwk import ECKey, RSAKey

from tests.interop.stack import (
    ACCESS_TOKEN_TTL,
    NOCARDS_CLIENT_ID,
    Browser,
    FapiStack,
    RotationStack,
    Stack,
    fapi_env,
    provider_env,
    public_jwks_file,
    run_provider,
    signing_key,
    start_app,
)
from tests.servers import EXAMPLES, Server, free_port

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


@pytest.fixture(scope="module", params=list(EXAMPLES))
def framework(request: pytest.FixtureRequest) -> str:
    """Whose example app the module's ``stack`` and ``fapi_stack`` run."""
    name: str = request.param
    return name


@pytest.fixture(scope="module")
def stack(node: str, framework: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp(f"interop-{framework}")
    provider_port, app_port, nocards_port = free_port(), free_port(), free_port()
    env = provider_env(
        f"http://127.0.0.1:{app_port}",
        ttl=ACCESS_TOKEN_TTL,
        NOCARDS_CLIENT_ID=NOCARDS_CLIENT_ID,
        NOCARDS_APP_BASE_URL=f"http://127.0.0.1:{nocards_port}",
    )
    with (
        run_provider(node, provider_port, env, tmp / "provider.log") as provider,
        start_app(provider.issuer, app_port, tmp, framework=framework) as app,
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


# --- FAPI 2.0: the provider requiring PAR, private_key_jwt and DPoP; the app's fapi2 profile ----


@pytest.fixture(scope="module")
def fapi_stack(
    node: str, framework: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FapiStack]:
    """An RSA client key (PS256) in a PEM file; the provider fetches the app's public key from
    its ``/auth/jwks``; JWT access tokens for ORCA, DPoP-bound."""
    tmp = tmp_path_factory.mktemp(f"fapi2-{framework}")
    key = RSAKey.generate_key(2048, private=True)
    provider_port, app_port = free_port(), free_port()
    env = provider_env(f"http://127.0.0.1:{app_port}", ttl=ACCESS_TOKEN_TTL, FAPI2="1")
    with (
        run_provider(node, provider_port, env, tmp / "provider.log") as provider,
        start_app(
            provider.issuer,
            app_port,
            tmp,
            extra_env=fapi_env(key, tmp, inline=False),
            framework=framework,
        ) as app,
    ):
        yield FapiStack(provider, app, tmp, 0, key, "PS256")


@pytest.fixture(scope="module")
def fapi_nonce_stack(node: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FapiStack]:
    """The provider demands a DPoP nonce in every proof; an EC client key (ES256) given to the
    app as an inline JWK and registered at the provider inline; the provider's own opaque
    access tokens, which its userinfo answers."""
    tmp = tmp_path_factory.mktemp("fapi2-nonce")
    key = ECKey.generate_key("P-256", private=True)
    provider_port, app_port = free_port(), free_port()
    env = provider_env(
        f"http://127.0.0.1:{app_port}",
        ttl=ACCESS_TOKEN_TTL,
        FAPI2="1",
        DPOP_NONCE="1",
        USERINFO_TOKENS="1",
        CLIENT_JWKS_FILE=str(public_jwks_file(key, "ES256", tmp)),
        CLIENT_AUTH_ALG="ES256",
    )
    with (
        run_provider(node, provider_port, env, tmp / "provider.log") as provider,
        start_app(provider.issuer, app_port, tmp, extra_env=fapi_env(key, tmp, inline=True)) as app,
    ):
        yield FapiStack(provider, app, tmp, 0, key, "ES256")
