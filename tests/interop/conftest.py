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
    Browser,
    FapiStack,
    RotationStack,
    Stack,
    fapi_stack_for,
    public_jwks_file,
    signing_key,
    stack_for,
)
from tests.servers import EXAMPLES, Server

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
    with stack_for(node, tmp, framework=framework, second_client=True) as s:
        yield s


@pytest.fixture(scope="module")
def nocards_app(stack: Stack) -> Iterator[Server]:
    """A second example app whose client the provider never grants ``cards:read``."""
    with stack.second_app("nocards-app") as app:
        yield app


@pytest.fixture
def browser(stack: Stack) -> Iterator[Browser]:
    """The test's own browser at the ``stack`` it sees (a module's own, where it has one)."""
    with stack.browser() as b:
        yield b


# --- the key-rotation scenario: a provider of its own, restarted with new keys ----------------


@pytest.fixture
def rotation_stack(node: str, tmp_path: Path) -> Iterator[RotationStack]:
    """oidc-provider signing with ``old-key``, its state in a file so a restart keeps the
    sessions, grants and refresh tokens, and an app logging in there."""
    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_text(json.dumps({"keys": [signing_key("old-key")]}))
    settings = {
        "PROVIDER_JWKS_FILE": str(jwks_file),
        "PROVIDER_STATE_FILE": str(tmp_path / "provider-state.json"),
        "PROVIDER_COOKIE_KEYS": "interop-cookie-key-0123456789",
    }
    with stack_for(node, tmp_path, provider_settings=settings, ttl=5) as s:
        yield RotationStack(s.provider, s.app, s.tmp, s.nocards_port, jwks_file)


# --- FAPI 2.0: the provider requiring PAR, private_key_jwt and DPoP; the app's fapi2 profile ----


@pytest.fixture(scope="module")
def fapi_stack(
    node: str, framework: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FapiStack]:
    """An RSA client key (PS256) in a PEM file; the provider fetches the app's public key from
    its ``/auth/jwks``; JWT access tokens for ORCA, DPoP-bound."""
    tmp = tmp_path_factory.mktemp(f"fapi2-{framework}")
    key = RSAKey.generate_key(2048, private=True)
    with fapi_stack_for(node, tmp, key, "PS256", inline=False, framework=framework) as s:
        yield s


@pytest.fixture(scope="module")
def fapi_nonce_stack(node: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FapiStack]:
    """The provider demands a DPoP nonce in every proof; an EC client key (ES256) given to the
    app as an inline JWK and registered at the provider inline; the provider's own opaque
    access tokens, which its userinfo answers."""
    tmp = tmp_path_factory.mktemp("fapi2-nonce")
    key = ECKey.generate_key("P-256", private=True)
    settings = {
        "DPOP_NONCE": "1",
        "USERINFO_TOKENS": "1",
        "CLIENT_JWKS_FILE": str(public_jwks_file(key, "ES256", tmp)),
    }
    with fapi_stack_for(node, tmp, key, "ES256", provider_settings=settings) as s:
        yield s
