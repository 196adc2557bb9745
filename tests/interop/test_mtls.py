"""Interop (issue 19, item 1): mutual TLS (RFC 8705) against oidc-provider.

oidc-provider runs with ``MTLS=1``: over node's own https server, asking clients for a
certificate, its clients registered for ``tls_client_auth`` (the DN of the certificate made
here) with certificate-bound access tokens, its ``mtls_endpoint_aliases`` on
``https://localhost:PORT``. The app is the kit in this process, served over TLS on loopback by
:class:`MTLSServer` together with the sandbox ORCA (which checks the token's ``cnf``). A login,
an ORCA call with the bound token, a refresh and logout's revocation all go to the aliases with
the certificate; a certificate with another DN is refused by the provider, and the bound token
without its certificate by ORCA. The test CA and every certificate are made at test time.
"""

from __future__ import annotations

import base64
import json
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route

from example_app.sandbox_orca import SandboxOrca
from oidc_kit import OIDCConfig
from oidc_kit._mtls import load_client_certificate
from oidc_kit.starlette import OIDCAuth
from oidc_kit.testing import Issued, MTLSServer, TestCA
from tests.interop.stack import (
    CLIENT_ID,
    ORCA_RESOURCE,
    SESSION_SECRET,
    Browser,
    OidcProvider,
    provider_env,
    run_provider,
    wait_until,
)
from tests.servers import free_port

#: Short, so that the refresh scenario waits little (the kit refreshes at half of it).
TTL = 4
SCOPES = ("openid", "email", "offline_access", "accounts:read")


@dataclass
class MTLSStack:
    provider: OidcProvider
    app_url: str
    ca: ssl.SSLContext
    client: Issued
    other: Issued
    auth: OIDCAuth

    @property
    def issuer(self) -> str:
        return self.provider.issuer

    def mark(self) -> int:
        return self.provider.mark()

    def lines(self, pattern: str, since: int = 0) -> list[str]:
        return self.provider.lines(pattern, since)


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def kit_app(config: OIDCConfig, ca_file: str, issuer: str) -> tuple[OIDCAuth, Starlette]:
    auth = OIDCAuth(config)
    orca = SandboxOrca(
        issuer,
        httpx.AsyncClient(verify=ssl.create_default_context(cafile=ca_file)),
        audience=ORCA_RESOURCE,
    )

    async def accounts(request: Request) -> Response:
        # The app's API client presents the certificate the token is bound to.
        async with httpx.AsyncClient(verify=config.tls_context() or True) as api:
            answer = await api.get(
                f"{config.base_url}/orca/accounts", auth=auth.httpx_auth(request)
            )
        return JSONResponse(answer.json(), status_code=answer.status_code)

    async def token(request: Request) -> Response:  # for this test only: never do this
        return PlainTextResponse(await auth.access_token(request))

    app = Starlette(
        routes=[
            Mount("/auth", routes=auth.routes),
            Route("/accounts", accounts),
            Route("/token", token),
            Mount("/orca", app=orca.app),
        ],
        middleware=[auth.middleware],
        exception_handlers=auth.exception_handlers,
    )
    return auth, app


@pytest.fixture(scope="module")
def stack(node: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MTLSStack]:
    tmp = tmp_path_factory.mktemp("mtls")
    ca = TestCA()
    server, client, other = ca.server(), ca.client(CLIENT_ID), ca.client("intruder")
    ca_file = ca.write(str(tmp))
    cert_file, key_file = server.write(str(tmp), "server")
    provider_port, app_port = free_port(), free_port()
    issuer, app_url = f"https://127.0.0.1:{provider_port}", f"https://127.0.0.1:{app_port}"
    env = provider_env(
        app_url,
        ttl=TTL,
        MTLS="1",
        PROVIDER_ISSUER=issuer,
        MTLS_CA_FILE=ca_file,
        MTLS_SERVER_CERT_FILE=cert_file,
        MTLS_SERVER_KEY_FILE=key_file,
        MTLS_CLIENT_DN=client.subject_dn,
    )
    ca_context = ssl.create_default_context(cafile=ca_file)
    with pytest.MonkeyPatch.context() as patch:
        # What httpx trusts (the kit's contexts, the browser's client): the test CA.
        patch.setenv("SSL_CERT_FILE", ca_file)
        with run_provider(node, provider_port, env, tmp / "provider.log", ca_context) as provider:
            config = OIDCConfig(
                issuer=issuer,
                client_id=CLIENT_ID,
                client_cert=client.cert_pem,
                client_cert_key=client.key_pem,
                token_endpoint_auth_method="tls_client_auth",
                mtls_bound_tokens=True,
                base_url=app_url,
                scopes=SCOPES,
                session_secrets=(SESSION_SECRET,),
                session_store="memory://",
            )
            auth, app = kit_app(config, ca_file, issuer)
            trusted = ca.cert_pem
            with MTLSServer(
                app,
                cert_pem=server.cert_pem,
                key_pem=server.key_pem,
                trusted=trusted,
                port=app_port,
            ):
                yield MTLSStack(provider, app_url, ca_context, client, other, auth)


@pytest.fixture
def browser(stack: MTLSStack) -> Iterator[Browser]:
    with Browser(stack.app_url, stack.issuer) as b:
        yield b


def presenting(issued: Issued) -> ssl.SSLContext:
    return load_client_certificate(issued.cert_pem, issued.key_pem).tls_context()


def test_discovery_names_the_aliases_and_bound_tokens(stack: MTLSStack) -> None:
    meta = httpx.get(f"{stack.issuer}/.well-known/openid-configuration", verify=stack.ca).json()
    assert meta["tls_client_certificate_bound_access_tokens"] is True
    assert meta["mtls_endpoint_aliases"]["token_endpoint"].startswith("https://localhost:")
    assert "tls_client_auth" in meta["token_endpoint_auth_methods_supported"]


def test_login_orca_refresh_and_logout_with_tls_client_auth(
    stack: MTLSStack, browser: Browser
) -> None:
    mark = stack.mark()
    assert browser.login("alice").status_code == 303
    # The code went to the token endpoint's alias, the client authenticated by its certificate.
    [exchange] = stack.lines(r"event=mtls\.request path=/token ", since=mark)
    assert "host=localhost" in exchange and "cert=1 authorized=1" in exchange
    assert "client_auth=tls_client_auth" in exchange and "status=200" in exchange
    thumbprint = stack.auth.config.client_cert_thumbprint
    [grant] = stack.lines(r"event=mtls\.grant grant_type=authorization_code", since=mark)
    assert f"token_type=Bearer cnf_x5t={thumbprint}" in grant
    token = browser.get("/token").text
    assert claims_of(token)["cnf"] == {"x5t#S256": thumbprint}

    accounts = browser.get("/accounts")
    assert accounts.status_code == 200, accounts.text
    assert accounts.json()["data"]

    wait_until(browser.expires_at() - TTL / 2 + 0.2)  # due: the kit refreshes
    assert browser.get("/accounts").status_code == 200
    [refresh] = stack.lines(r"event=mtls\.grant grant_type=refresh_token", since=mark)
    assert f"cnf_x5t={thumbprint}" in refresh
    refreshes = stack.lines(r"event=mtls\.request path=/token .*client_auth=tls_client_auth", mark)
    assert len(refreshes) == 2 and all("host=localhost" in line for line in refreshes)

    logout = browser.post("/auth/logout", headers={"Origin": stack.app_url})
    assert logout.status_code == 303, logout.text
    # The refresh token revoked (200; the JWT access token the provider cannot revoke, 400).
    [revocation] = stack.lines(r"event=mtls\.request path=/token/revocation .*status=200", mark)
    assert "host=localhost" in revocation and "client_auth=tls_client_auth" in revocation


def test_a_certificate_with_another_dn_is_refused(stack: MTLSStack) -> None:
    form = {"grant_type": "refresh_token", "refresh_token": "x", "client_id": CLIENT_ID}
    alias = stack.issuer.replace("127.0.0.1", "localhost") + "/token"
    with httpx.Client(verify=presenting(stack.other)) as http:
        wrong = http.post(alias, data=form)
    with httpx.Client(verify=presenting(stack.client)) as http:
        right = http.post(alias, data=form)
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    assert right.json()["error"] == "invalid_grant"  # authenticated; the token is junk


def test_orca_refuses_the_bound_token_without_its_certificate(
    stack: MTLSStack, browser: Browser
) -> None:
    assert browser.login("bob").status_code == 303
    token = browser.get("/token").text
    bearer = {"Authorization": f"Bearer {token}"}
    with httpx.Client(verify=stack.ca) as plain:
        refused = plain.get(f"{stack.app_url}/orca/accounts", headers=bearer)
    with httpx.Client(verify=presenting(stack.other)) as other:
        another = other.get(f"{stack.app_url}/orca/accounts", headers=bearer)
    with httpx.Client(verify=presenting(stack.client)) as own:
        accepted = own.get(f"{stack.app_url}/orca/accounts", headers=bearer)
    for answer in (refused, another):
        assert answer.status_code == 401
        assert 'error="invalid_token"' in answer.headers["www-authenticate"]
    assert accepted.status_code == 200
