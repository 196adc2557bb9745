"""The offline demo's modes of issue 19 (mutual TLS, client_secret_jwt, JAR and JARM under
FAPI 2.0), as real processes.

``OIDC_TOKEN_AUTH_METHOD=tls_client_auth`` with ``OIDC_ISSUER`` unset: the app serves its
sandbox provider and sandbox ORCA over real TLS on loopback (a test CA made at start-up), the
kit authenticates with the CA's client certificate and gets tokens bound to it, and the app's
ORCA client presents it. The tests read the session's token from the store (they know its
secret) to play the thief who has the token but not the certificate.
"""

from __future__ import annotations

import asyncio
import os
import re
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from joserfc import jwt
from joserfc.jwk import KeySet

from example_app.settings import SANDBOX_CLIENT_ID, sandbox_client_key
from oidc_kit import OIDCConfig
from oidc_kit._cookie_signer import CookieSigner
from oidc_kit._mtls import cert_thumbprint
from oidc_kit._session import Sessions
from oidc_kit._tokens import TokenSet
from oidc_kit.stores import open_store
from tests.servers import ROOT, Server, free_port, sandbox_login, serve

SECRET = "mtls-demo-test-secret-of-32-chars!!"
_STARTED = re.compile(r"mutual TLS: the sandboxes at (https://\S+), .* in (\S+) \(ca\.pem")


def _demo_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {"SESSION_STORE": f"sqlite:///{tmp_path}/s.db", "SESSION_SECRET": SECRET, **extra}
    for name in ("OIDC_ISSUER", "ORCA_API_BASE", "APP_BASE_URL", "OIDC_CLIENT_SECRET"):
        env.setdefault(name, "")
    for name in ("OIDC_PROFILE", "OIDC_CLIENT_KEY", "OIDC_CLIENT_CERT", "OIDC_CLIENT_CERT_KEY"):
        env.setdefault(name, "")
    return env


@pytest.fixture
def mtls_demo(tmp_path: Path) -> Iterator[Server]:
    port = free_port()
    env = _demo_env(tmp_path, OIDC_TOKEN_AUTH_METHOD="tls_client_auth")
    with serve(["-m", "example_app", "--port", str(port)], port, env, tmp_path / "app.log") as app:
        yield app


async def _stored_tokens(app: Server, store_url: str, cookie: str, issuer: str) -> TokenSet:
    config = OIDCConfig(
        issuer=issuer,
        client_id=SANDBOX_CLIENT_ID,
        base_url=app.base_url,
        session_secrets=(SECRET,),
        session_store=store_url,
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


def test_the_mtls_demo_logs_alice_in_and_orca_wants_the_certificate(
    mtls_demo: Server, tmp_path: Path
) -> None:
    started = _STARTED.search(mtls_demo.log())
    assert started is not None, mtls_demo.log()
    origin, directory = started.group(1), Path(started.group(2))
    assert origin.startswith("https://127.0.0.1:")
    # A browser that trusts the test CA (a person accepts the warning instead).
    trust = ssl.create_default_context(cafile=str(directory / "ca.pem"))
    with httpx.Client(base_url=mtls_demo.base_url, timeout=10, verify=trust) as browser:
        start = browser.get("/auth/login")
        assert start.headers["location"].startswith(f"{origin}/sandbox/op/authorize?")
        assert sandbox_login(browser, "alice").status_code == 303
        assert browser.get("/api/accounts").status_code == 200  # over the app's certificate
        assert "mutual TLS" in browser.get("/").text  # the banner says which demo this is
        profile = browser.get("/profile")
        assert profile.status_code == 200
        # The kit introspects at the alias, authenticated by its certificate alone.
        assert 'id="token-introspection"' in profile.text and ">active<" in profile.text
        cookie = browser.cookies["oidc_session"]
        discovery = browser.get(f"{origin}/sandbox/op/.well-known/openid-configuration").json()

    # The token is bound to the client certificate the app was given (RFC 8705 3.1).
    store = f"sqlite:///{tmp_path}/s.db"
    tokens = asyncio.run(_stored_tokens(mtls_demo, store, cookie, f"{origin}/sandbox/op"))
    keys = KeySet.import_key_set(httpx.get(discovery["jwks_uri"], verify=trust).json())
    claims = jwt.decode(tokens.access_token, keys).claims
    cert = x509.load_pem_x509_certificate((directory / "client.pem").read_bytes())
    der = cert.public_bytes(serialization.Encoding.DER)
    assert claims["cnf"] == {"x5t#S256": cert_thumbprint(der)}

    url = f"{origin}/sandbox/orca/v1/accounts"
    headers = {"Authorization": f"Bearer {tokens.access_token}"}
    # The stolen token alone, over TLS without the certificate: refused.
    assert httpx.get(url, headers=headers, verify=trust).status_code == 401
    # Over a connection presenting the certificate: accepted.
    trust.load_cert_chain(directory / "client.pem", directory / "client.key")
    assert httpx.get(url, headers=headers, verify=trust).status_code == 200


def test_the_client_secret_jwt_demo_logs_in(tmp_path: Path) -> None:
    port = free_port()
    env = _demo_env(tmp_path, OIDC_TOKEN_AUTH_METHOD="client_secret_jwt")
    args = ["-m", "example_app", "--port", str(port)]
    with serve(args, port, env, tmp_path / "app.log") as app:
        with httpx.Client(base_url=app.base_url, timeout=10) as browser:
            discovery = browser.get("/sandbox/op/.well-known/openid-configuration").json()
            # Advertised only when the client is registered for it (its only method then).
            assert "client_secret_jwt" in discovery["token_endpoint_auth_methods_supported"]
            assert sandbox_login(browser, "alice").status_code == 303
            assert browser.get("/api/accounts").status_code == 200
        assert "mutual TLS" not in app.log()  # plain http, as the default demo


def test_the_fapi2_demo_signs_requests_and_takes_signed_responses(tmp_path: Path) -> None:
    """JAR pushed with PAR, JARM ``query.jwt``: the callback carries the response JWT only."""
    port = free_port()
    env = _demo_env(
        tmp_path,
        OIDC_PROFILE="fapi2",
        OIDC_CLIENT_KEY=str(sandbox_client_key(str(tmp_path / "client-key.pem"))),
        OIDC_RESPONSE_MODE="query.jwt",
        OIDC_SIGNED_REQUESTS="1",
    )
    args = ["-m", "example_app", "--port", str(port)]
    with serve(args, port, env, tmp_path / "app.log") as app:
        with httpx.Client(base_url=app.base_url, timeout=10) as browser:
            assert sandbox_login(browser, "alice").status_code == 303
            assert browser.get("/api/accounts").status_code == 200
        callbacks = re.findall(r'"GET /auth/callback\?([^ ]*)', app.log())
    assert callbacks and all(set(parse_qs(q)) == {"response"} for q in callbacks)


def test_the_mtls_demo_refuses_workers_and_says_why(tmp_path: Path) -> None:
    env = _demo_env(tmp_path, OIDC_MTLS_BOUND_TOKENS="1")
    args = [sys.executable, "-m", "example_app", "--port", str(free_port()), "--workers", "2"]
    done = subprocess.run(  # noqa: S603 - our own interpreter and module
        args, cwd=ROOT, env={**os.environ, **env}, capture_output=True, timeout=30
    )
    assert done.returncode != 0
    assert b"mutual-TLS demo" in done.stderr and b"--workers" in done.stderr
