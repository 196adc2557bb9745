"""The provider's JWKS: capped in size and key count, imported once per fetch (issue 13, item 11).

A JWKS of 20,000 keys (about 8 MB) used to stall the event loop for seconds on every login
that fetched it. The kit now reads at most ``MAX_JWKS_BYTES`` of it and at most
``MAX_JWKS_KEYS`` keys, refusing more with a 502-class error before importing anything, and
imports the keys once per fetch, indexed by ``kid``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from joserfc.jwk import ECKey, RSAKey

from oidc_kit import DiscoveryError
from oidc_kit._errors import ResponseTooLarge
from oidc_kit._jwks import MAX_JWKS_BYTES, MAX_JWKS_KEYS
from oidc_kit.starlette import OIDCAuth
from tests.conftest import login
from tests.fake_op import FakeOP
from tests.web.test_starlette import APP, build_app


@pytest.fixture
def imports(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How many times joserfc imported a key, by key type."""
    counted: Counter[str] = Counter()
    for cls in (RSAKey, ECKey):
        original = cls.import_key

        def counting(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
            key = _original(*args, **kwargs)
            counted[key.key_type] += 1
            return key

        monkeypatch.setattr(cls, "import_key", counting)
    return counted


@pytest.fixture
async def client(kit: OIDCAuth) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=build_app(kit))
    async with httpx.AsyncClient(transport=transport, base_url=APP) as app_client:
        yield app_client


async def failed_callback(client: httpx.AsyncClient, op: FakeOP) -> httpx.Response:
    """A login whose callback fails: its answer (JSON)."""
    start = await client.get("/auth/login")
    assert start.status_code == 303
    params = op.authorize(start.headers["location"])
    json = {"Accept": "application/json"}
    return await client.get("/auth/callback", params=params, headers=json)


def copies_of(op: FakeOP, count: int) -> list[dict[str, Any]]:
    """``count`` public JWKs (the provider's key under other kids), then its real one."""
    public = dict(op.key.as_dict(private=False))
    return [{**public, "kid": f"copy-{i}"} for i in range(count - 1)] + [public]


def padded_jwks(op: FakeOP, size: int) -> list[dict[str, Any]]:
    """The provider's one key, padded with an unknown member so the body is ``size`` bytes."""
    public = dict(op.key.as_dict(private=False))
    bare = len(httpx.Response(200, json={"keys": [{**public, "pad": ""}]}).content)
    return [{**public, "pad": "x" * (size - bare)}]


async def test_a_jwks_of_20000_keys_fails_the_login_with_a_502(
    client: httpx.AsyncClient, op: FakeOP, imports: Counter[str]
) -> None:
    """About 8 MB: refused once 512 KiB have been read, nothing imported, a 502 (not a hang
    or a 500), and no session."""
    public = dict(op.key.as_dict(private=False))
    op.jwks_raw = [{**public, "kid": f"k{i}"} for i in range(20_000)]
    response = await failed_callback(client, op)
    assert response.status_code == 502
    assert response.json()["error"] == "response_too_large"
    assert sum(imports.values()) == 0
    assert (await client.get("/auth/session")).status_code == 401


async def test_a_jwks_over_the_key_cap_fails_the_login_with_invalid_discovery(
    client: httpx.AsyncClient, op: FakeOP, imports: Counter[str]
) -> None:
    """One key more than the cap, small enough in bytes: refused before any import."""
    op.jwks_raw = copies_of(op, MAX_JWKS_KEYS + 1)
    response = await failed_callback(client, op)
    assert response.status_code == 502
    assert response.json()["error"] == "invalid_discovery"
    assert "more keys than the kit reads" in response.json()["error_description"]
    assert sum(imports.values()) == 0


async def test_a_jwks_at_the_key_cap_is_used(kit: OIDCAuth, op: FakeOP) -> None:
    op.jwks_raw = copies_of(op, MAX_JWKS_KEYS)
    assert (await login(kit, op)).claims["sub"] == "user-1"


async def test_a_jwks_just_over_the_byte_cap_is_refused(kit: OIDCAuth, op: FakeOP) -> None:
    op.jwks_raw = padded_jwks(op, MAX_JWKS_BYTES + 1)
    with pytest.raises(ResponseTooLarge) as info:
        await login(kit, op)
    assert info.value.status == 502
    assert "jwks_uri" in info.value.description


async def test_a_jwks_at_the_byte_cap_is_used(kit: OIDCAuth, op: FakeOP) -> None:
    op.jwks_raw = padded_jwks(op, MAX_JWKS_BYTES)
    assert (await login(kit, op)).claims["sub"] == "user-1"


async def test_logins_work_again_once_the_jwks_is_small_again(kit: OIDCAuth, op: FakeOP) -> None:
    """A provider whose JWKS is too large is refused; once it is fixed, logins work (the
    failed fetch is not cached)."""
    op.jwks_raw = copies_of(op, MAX_JWKS_KEYS + 1)
    with pytest.raises(DiscoveryError):
        await login(kit, op)
    op.jwks_raw = None
    assert (await login(kit, op)).claims["sub"] == "user-1"


async def test_keys_are_imported_once_per_fetch(
    kit: OIDCAuth, op: FakeOP, imports: Counter[str]
) -> None:
    """Many validations, one fetch: each key is imported once, not once per token."""
    ec = ECKey.generate_key("P-256", parameters={"kid": "ec-1", "use": "sig"})
    op.jwks_raw = [*copies_of(op, 50), dict(ec.as_dict(private=False))]
    imports.clear()
    for _ in range(5):
        assert (await login(kit, op)).claims["sub"] == "user-1"
    for _ in range(20):
        assert len(await kit._provider.keys("copy-7", "RS256")) == 1
        assert len(await kit._provider.keys("ec-1", "ES256")) == 1
        assert len(await kit._provider.keys(None, "RS256")) == 50
    assert op.calls["/jwks"] == 1
    assert imports == {"RSA": 50, "EC": 1}
