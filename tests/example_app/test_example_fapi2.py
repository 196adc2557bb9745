"""The demo in FAPI 2.0 mode (``OIDC_PROFILE=fapi2``), as real processes.

One setting: the app makes its own client key, the embedded sandbox provider fetches its public
half from ``/auth/jwks`` and requires PAR, ``private_key_jwt`` and DPoP; the sandbox ORCA
refuses a DPoP-bound token without a proof of the session's key. The tests read the session's
tokens from the store (they know its secret) to play the thief who has the token but not the key.
"""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from example_app.settings import SANDBOX_CLIENT_ID, sandbox_client_key
from oidc_kit import OIDCConfig
from oidc_kit._cookie_signer import CookieSigner
from oidc_kit._dpop import DPoPKey
from oidc_kit._session import Sessions
from oidc_kit._tokens import TokenSet
from oidc_kit.stores import open_store
from tests.servers import Server, free_port, sandbox_login, serve

SECRET = "fapi2-demo-test-secret-of-32-chars!"


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Server]:
    port = free_port()
    env = {
        "OIDC_PROFILE": "fapi2",
        "OIDC_CLIENT_KEY": str(sandbox_client_key(str(tmp_path / "client-key.pem"))),
        "SESSION_STORE": f"sqlite:///{tmp_path}/s.db",
        "SESSION_SECRET": SECRET,
    }
    for name in ("OIDC_ISSUER", "ORCA_API_BASE", "APP_BASE_URL", "OIDC_CLIENT_SECRET"):
        env[name] = ""
    with serve(["-m", "example_app", "--port", str(port)], port, env, tmp_path / "app.log") as app:
        yield app


async def _stored_tokens(app: Server, store_url: str, cookie: str) -> TokenSet:
    config = OIDCConfig(
        issuer=f"{app.base_url}/sandbox/op",
        client_id=SANDBOX_CLIENT_ID,
        base_url=app.base_url,
        session_secrets=(SECRET,),
        session_store=store_url,
        allow_insecure_http=True,
    )
    sid = CookieSigner(config.session_secrets, config.login_timeout).session_id(cookie)
    assert sid is not None
    store = open_store(store_url)
    try:
        session = await Sessions(config, store).load(sid)
        assert session is not None
        return Sessions(config, store).tokens(session)
    finally:
        await store.close()


def test_the_fapi2_demo_logs_in_through_par_and_orca_wants_the_sessions_key(
    demo: Server, tmp_path: Path
) -> None:
    with httpx.Client(base_url=demo.base_url, timeout=10) as browser:
        start = browser.get("/auth/login")
        query = parse_qs(urlsplit(start.headers["location"]).query)
        # PAR: the browser carries only the client id and the request_uri.
        assert set(query) == {"client_id", "request_uri"}
        assert sandbox_login(browser, "alice").status_code == 303
        profile = browser.get("/profile").text
        assert "FAPI 2.0" in profile and "<strong>DPoP</strong>" in profile
        assert browser.get("/api/accounts").status_code == 200
        cookie = browser.cookies["oidc_session"]

    tokens = asyncio.run(_stored_tokens(demo, f"sqlite:///{tmp_path}/s.db", cookie))
    assert tokens.token_type == "DPoP" and tokens.dpop_key is not None
    url = f"{demo.base_url}/sandbox/orca/v1/accounts"
    key, thief = DPoPKey.from_json(tokens.dpop_key), DPoPKey.generate()
    token = tokens.access_token

    def orca(scheme: str, proof: str | None) -> httpx.Response:
        headers = {"Authorization": f"{scheme} {token}"} | ({"DPoP": proof} if proof else {})
        return httpx.get(url, headers=headers)

    assert orca("Bearer", None).status_code == 401  # a stolen token alone
    assert orca("DPoP", None).status_code == 401
    assert orca("DPoP", thief.proof("GET", url, access_token=token)).status_code == 401
    wrong_ath = key.proof("GET", url, access_token=token + "x")
    assert orca("DPoP", wrong_ath).status_code == 401
    proof = key.proof("GET", url, access_token=token)
    assert orca("DPoP", proof).status_code == 200
    assert orca("DPoP", proof).status_code == 401  # the same proof again: jti replay


def test_the_fapi2_demo_with_workers_runs_the_sandbox_in_fapi2_mode(tmp_path: Path) -> None:
    """``--workers 2``: the sandbox provider is its own process (``--fapi2``) and fetches the
    client's key from the app; both workers use the one key file."""
    port = free_port()
    env = {
        "OIDC_PROFILE": "fapi2",
        "OIDC_CLIENT_KEY": str(tmp_path / "client-key.pem"),
        "SESSION_STORE": f"sqlite:///{tmp_path}/s.db",
        "SESSION_SECRET": SECRET,
    }
    sandbox_client_key(env["OIDC_CLIENT_KEY"])
    for name in ("OIDC_ISSUER", "ORCA_API_BASE", "APP_BASE_URL", "OIDC_CLIENT_SECRET"):
        env[name] = ""
    args = ["-m", "example_app", "--port", str(port), "--workers", "2"]
    with serve(args, port, env, tmp_path / "app.log") as app:
        with httpx.Client(base_url=app.base_url, timeout=10) as browser:
            start = browser.get("/auth/login")
            assert set(parse_qs(urlsplit(start.headers["location"]).query)) == {
                "client_id",
                "request_uri",
            }
            assert sandbox_login(browser, "alice").status_code == 303
            cookies = httpx.Cookies(browser.cookies)
        for _ in range(10):
            with httpx.Client(base_url=app.base_url, cookies=cookies) as client:
                assert client.get("/api/accounts").status_code == 200


def test_the_sandbox_client_key_is_made_once_and_private(tmp_path: Path) -> None:
    path = str(tmp_path / "keys" / "client.pem")
    first = sandbox_client_key(path)
    content = first.read_bytes()
    assert b"PRIVATE KEY" in content
    assert stat.S_IMODE(os.stat(first).st_mode) == 0o600
    assert sandbox_client_key(path).read_bytes() == content  # reused, not replaced
    assert os.listdir(first.parent) == ["client.pem"]  # no temporary file left behind
