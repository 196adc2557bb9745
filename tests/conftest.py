"""Shared fixtures: a scriptable fake provider and a kit wired to it (no network)."""

from __future__ import annotations

import itertools
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
from joserfc import jwk

from oidc_kit import MemoryStore, OIDCConfig
from oidc_kit._flow import LoginResult
from oidc_kit.starlette import OIDCAuth
from oidc_kit.testing import _op_keys
from tests.fake_op import CLIENT_ID, CLIENT_SECRET, ISSUER, FakeOP

SECRET = "test-session-secret-0123456789abcdef"


#: RSA key material for the sandbox providers the tests start in this process, by the hundred:
#: a 2048-bit key takes ~50 ms to generate, about a tenth of the quick loop. Eight are made,
#: each once, and handed out in turn, each time with a ``kid`` of its own, so two keys made one
#: after the other still differ, as a rotation's do. (A test of weak or foreign keys makes its
#: own; a provider in a subprocess generates as the product does.)
_RSA_POOL_SIZE = 8


@pytest.fixture(autouse=True, scope="session")
def _pooled_sandbox_keys() -> Iterator[None]:
    generate = _op_keys._new_key
    pool: list[Any] = []
    turn = itertools.count()

    def new_key(alg: str) -> jwk.RSAKey | jwk.ECKey:
        if alg == "ES256":
            return generate(alg)  # an EC key is made in microseconds
        index = next(turn) % _RSA_POOL_SIZE
        if index == len(pool):
            pool.append(generate(alg).raw_value)
        params: Any = {"kid": f"sandbox-{secrets.token_hex(8)}", "use": "sig", "alg": alg}
        return jwk.RSAKey(pool[index], pool[index], params)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_op_keys, "_new_key", new_key)
        yield


class Clock:
    """A clock tests move by hand: nothing sleeps to wait for an expiry."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make_config(**overrides: Any) -> OIDCConfig:
    values: dict[str, Any] = {
        "issuer": ISSUER,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "base_url": "https://app.test",
        "scopes": ("openid", "profile", "offline_access", "accounts:read"),
        "session_secrets": (SECRET,),
        # No session_store: the kits of these tests get a store object (store=MemoryStore()).
    }
    values.update(overrides)
    return OIDCConfig(**values)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def op(clock: Clock) -> FakeOP:
    fake = FakeOP()
    fake.clock = clock
    return fake


@pytest.fixture
def transport(op: FakeOP) -> httpx.AsyncBaseTransport:
    """How kits reach the provider: the fake one (a test module may wrap it)."""
    return op.transport()


@pytest.fixture
async def kit_factory(
    transport: httpx.AsyncBaseTransport, clock: Clock
) -> AsyncIterator[Callable[..., OIDCAuth]]:
    made: list[OIDCAuth] = []

    def make(**overrides: Any) -> OIDCAuth:
        http = httpx.AsyncClient(transport=transport)
        auth = OIDCAuth(
            make_config(**overrides), http_client=http, store=MemoryStore(), clock=clock
        )
        made.append(auth)
        return auth

    yield make
    for auth in made:
        await auth.http.aclose()


@pytest.fixture
def kit(kit_factory: Callable[..., OIDCAuth]) -> OIDCAuth:
    return kit_factory()  # closed by kit_factory


async def login(kit: OIDCAuth, op: FakeOP, **tamper: str) -> LoginResult:
    """Run one login through the fake provider; ``tamper`` replaces callback parameters."""
    url = await kit._flow.start("browser-1", "/next")
    params = op.authorize(url)
    params.update(tamper)
    clean = {k: [v] for k, v in params.items() if v is not None}
    return await kit._flow.finish(clean, "browser-1")


# The markers (slow, redis, browser, interop), set at collection: see tests/markers.py.
from tests.markers import (  # noqa: E402
    pytest_collection_modifyitems as pytest_collection_modifyitems,
)

# A real Redis for the store tests (session-scoped; see tests/redis_server.py).
from tests.redis_server import redis_url as redis_url  # noqa: E402
