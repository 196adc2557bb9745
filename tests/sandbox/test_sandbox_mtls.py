"""Mutual TLS (RFC 8705) end to end, over real TLS on loopback: the kit logs in with
``tls_client_auth`` (and ``self_signed_tls_client_auth``) at the sandbox's
``mtls_endpoint_aliases``, gets certificate-bound tokens, calls the sandbox ORCA over a
connection presenting the same certificate, refreshes and logs out; what the sandbox refuses
(a certificate of another CA, of another DN, none; a bound token without its certificate).

The provider and ORCA are served by :class:`MTLSServer` (uvicorn in a thread, the test CA);
the certificates are made here (:class:`TestCA`), nothing is read from disk but the CA file
this test writes for ``SSL_CERT_FILE``.
"""

from __future__ import annotations

import base64
import ssl
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route

from example_app.sandbox_orca import SandboxOrca
from oidc_kit import OIDCConfig
from oidc_kit._errors import ConfigurationError
from oidc_kit._mtls import load_client_certificate
from oidc_kit.starlette import OIDCAuth
from oidc_kit.testing import (
    Issued,
    MTLSServer,
    SandboxClient,
    SandboxProvider,
    TestCA,
    sandbox_login,
    self_signed_client,
)

APP = "https://app.test"
SCOPES = ("openid", "profile", "offline_access", "accounts:read")


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass(frozen=True)
class PKI:
    ca: TestCA
    server: Issued
    client: Issued  # CA-issued, the registered DN: tls_client_auth
    self_signed: Issued  # registered in the client's JWKS: self_signed_tls_client_auth
    other: Issued  # CA-issued, another DN
    foreign: Issued  # the registered DN, but from a CA the server does not trust


@pytest.fixture(scope="module")
def pki() -> PKI:
    ca = TestCA()
    client = ca.client("app")
    foreign = TestCA("foreign CA").client("app")
    return PKI(ca, ca.server(), client, self_signed_client(), ca.client("intruder"), foreign)


class Late:
    """An ASGI app set once the server knows its port (the issuer's URL)."""

    app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


def x5c_jwks(issued: Issued) -> dict[str, Any]:
    """A JWK Set with the certificate's public key and the certificate (``x5c``)."""
    from joserfc.jwk import ECKey

    public = issued.cert.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    key = ECKey.import_key(public).as_dict(private=False)
    der = issued.cert.public_bytes(serialization.Encoding.DER)
    return {"keys": [{**key, "x5c": [base64.b64encode(der).decode()]}]}


@dataclass
class Stack:
    op: SandboxProvider
    issuer: str
    clock: Clock
    ca_context: ssl.SSLContext


@pytest.fixture
def stack(pki: PKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    # The kit's TLS contexts trust what httpx does: SSL_CERT_FILE, here the test CA.
    monkeypatch.setenv("SSL_CERT_FILE", pki.ca.write(str(tmp_path)))
    clock, late = Clock(), Late()
    trusted = pki.ca.cert_pem + pki.self_signed.cert_pem
    server = MTLSServer(
        late, cert_pem=pki.server.cert_pem, key_pem=pki.server.key_pem, trusted=trusted
    )
    redirect = (f"{APP}/auth/callback",)
    op = SandboxProvider(
        server.url,
        [
            SandboxClient(
                "app",
                None,
                redirect,
                token_endpoint_auth_method="tls_client_auth",
                tls_client_auth_subject_dn=pki.client.subject_dn,
                tls_client_certificate_bound_access_tokens=True,
            ),
            SandboxClient(  # a secret authenticates it; its tokens are bound all the same
                "secret",
                "secret-of-the-bound-client",
                redirect,
                tls_client_certificate_bound_access_tokens=True,
            ),
            SandboxClient(
                "self-signed",
                None,
                redirect,
                token_endpoint_auth_method="self_signed_tls_client_auth",
                jwks=x5c_jwks(pki.self_signed),
                tls_client_certificate_bound_access_tokens=True,
            ),
        ],
        clock=clock,
        mtls=True,
        introspection=True,
        access_token_ttl=120,
    )
    orca = SandboxOrca(
        server.url, httpx.AsyncClient(transport=httpx.ASGITransport(app=op.app)), clock=clock
    )
    late.app = Starlette(routes=[Mount("/orca", app=orca.app), Mount("/", app=op.app)])
    ca_context = ssl.create_default_context(cadata=pki.ca.cert_pem)
    with server:
        yield Stack(op, server.url, clock, ca_context)


def kit_app(
    stack: Stack, issued: Issued, client_id: str = "app", **config: Any
) -> tuple[OIDCAuth, Starlette]:
    settings = OIDCConfig(
        issuer=stack.issuer,
        client_id=client_id,
        client_cert=issued.cert_pem,
        client_cert_key=issued.key_pem,
        token_endpoint_auth_method=config.pop("method", "tls_client_auth"),
        mtls_bound_tokens=True,
        base_url=APP,
        scopes=SCOPES,
        session_secrets=("a-test-secret-of-32-characters!!",),
        session_store="memory://",
        **config,
    )
    auth = OIDCAuth(settings, clock=stack.clock)

    async def accounts(request: Request) -> Response:
        # The app's API client presents the kit's certificate: config.tls_context().
        async with httpx.AsyncClient(verify=settings.tls_context() or True) as api:
            answer = await api.get(f"{stack.issuer}/orca/accounts", auth=auth.httpx_auth(request))
        return JSONResponse(answer.json(), status_code=answer.status_code)

    async def token(request: Request) -> Response:  # for this test only: never do this
        return PlainTextResponse(await auth.access_token(request))

    async def introspect(request: Request) -> Response:
        answer = await auth.introspect(request)
        return JSONResponse({"active": answer.active, "client_id": answer.client_id})

    app = Starlette(
        routes=[
            Mount("/auth", routes=auth.routes),
            Route("/accounts", accounts),
            Route("/token", token),
            Route("/introspect", introspect),
        ],
        middleware=[auth.middleware],
        exception_handlers=auth.exception_handlers,
    )
    return auth, app


@pytest.fixture
async def browser_for() -> AsyncIterator[Any]:
    clients: list[httpx.AsyncClient] = []

    def make(app: Starlette) -> httpx.AsyncClient:
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=APP)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


def claims_of(token: str) -> dict[str, Any]:
    import json

    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


@pytest.mark.parametrize(
    ("client_id", "method", "which"),
    [
        ("app", "tls_client_auth", "client"),
        ("self-signed", "self_signed_tls_client_auth", "self_signed"),
    ],
)
async def test_login_orca_refresh_and_logout_over_mutual_tls(
    stack: Stack, pki: PKI, browser_for: Any, client_id: str, method: str, which: str
) -> None:
    issued: Issued = getattr(pki, which)
    auth, app = kit_app(stack, issued, client_id, method=method)
    async with auth:
        browser = browser_for(app)
        assert (await sandbox_login(browser, stack.op, "alice")).status_code == 303
        token = (await browser.get("/token")).text
        # Bound to the certificate the kit presented at the alias (RFC 8705 3.1).
        thumbprint = auth.config.client_cert_thumbprint
        assert claims_of(token)["cnf"] == {"x5t#S256": thumbprint}
        accounts = await browser.get("/accounts")
        assert accounts.status_code == 200, accounts.text
        assert accounts.json()["data"]

        stack.clock.now += 100  # within the refresh leeway: the next use refreshes
        assert (await browser.get("/accounts")).status_code == 200
        refreshed = (await browser.get("/token")).text
        assert refreshed != token
        assert claims_of(refreshed)["cnf"] == {"x5t#S256": thumbprint}
        assert stack.op.grant_counts["refresh_token"] == 1
        # The kit introspects its token too, authenticated by the certificate alone.
        active = await browser.get("/introspect")
        assert active.status_code == 200, active.text
        assert active.json() == {"active": True, "client_id": client_id}

        logout = await browser.post("/auth/logout", headers={"Origin": APP})
        assert logout.status_code == 303
        # Revoked at the revocation alias, authenticated by the certificate: the provider
        # says so at its introspection alias, to the same client and certificate.
        async with httpx.AsyncClient(verify=presenting(issued)) as http:
            status = await http.post(
                f"{stack.issuer}/mtls/introspect", data={"token": refreshed, "client_id": client_id}
            )
        assert status.status_code == 200, status.text
        assert status.json() == {"active": False}


async def bound_token(stack: Stack, pki: PKI, browser_for: Any) -> tuple[OIDCAuth, str]:
    auth, app = kit_app(stack, pki.client)
    await auth.__aenter__()
    browser = browser_for(app)
    assert (await sandbox_login(browser, stack.op, "alice")).status_code == 303
    return auth, (await browser.get("/token")).text


def presenting(issued: Issued) -> ssl.SSLContext:
    """A client context presenting ``issued`` (trusting SSL_CERT_FILE: the test CA)."""
    return load_client_certificate(issued.cert_pem, issued.key_pem).tls_context()


@pytest.mark.parametrize("presented", ["none", "other", "self_signed"])
async def test_orca_refuses_a_bound_token_without_its_certificate(
    stack: Stack, pki: PKI, browser_for: Any, presented: str
) -> None:
    auth, token = await bound_token(stack, pki, browser_for)
    try:
        context = stack.ca_context
        if presented != "none":
            context = presenting(getattr(pki, presented))
        async with httpx.AsyncClient(verify=context) as api:
            answer = await api.get(
                f"{stack.issuer}/orca/accounts", headers={"Authorization": f"Bearer {token}"}
            )
            userinfo = await api.get(
                f"{stack.issuer}/mtls/userinfo", headers={"Authorization": f"Bearer {token}"}
            )
        assert answer.status_code == 401
        assert 'error="invalid_token"' in answer.headers["www-authenticate"]
        assert userinfo.status_code == 401
        assert 'error="invalid_token"' in userinfo.headers["www-authenticate"]
    finally:
        await auth.__aexit__(None, None, None)


async def test_the_bound_token_works_at_userinfo_only_with_its_certificate(
    stack: Stack, pki: PKI, browser_for: Any
) -> None:
    auth, token = await bound_token(stack, pki, browser_for)
    try:
        async with httpx.AsyncClient(verify=auth.config.tls_context() or True) as api:
            at_alias = await api.get(
                f"{stack.issuer}/mtls/userinfo", headers={"Authorization": f"Bearer {token}"}
            )
            # The plain endpoint does not look at certificates: it cannot check the binding.
            plain = await api.get(
                f"{stack.issuer}/userinfo", headers={"Authorization": f"Bearer {token}"}
            )
        assert at_alias.status_code == 200 and at_alias.json()["sub"] == "sandbox-alice"
        assert plain.status_code == 401
    finally:
        await auth.__aexit__(None, None, None)


@pytest.mark.parametrize(
    ("which", "client_id", "error"),
    [
        ("other", "app", "subject DN"),  # the CA's, but not the registered DN
        ("self_signed", "app", "CA-issued"),  # trusted, but tls_client_auth needs a CA
        ("client", "self-signed", "registered JWKS"),  # not the registered certificate
    ],
)
async def test_the_token_endpoint_refuses_the_wrong_certificate(
    stack: Stack, pki: PKI, which: str, client_id: str, error: str
) -> None:
    async with httpx.AsyncClient(verify=presenting(getattr(pki, which))) as http:
        answer = await http.post(
            f"{stack.issuer}/mtls/token",
            data={
                "grant_type": "client_credentials",
                "client_id": client_id,
                "scope": "accounts:read",
            },
        )
    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_client"
    assert error in answer.json()["error_description"]


async def test_a_certificate_of_an_untrusted_ca_ends_the_handshake(
    stack: Stack, pki: PKI, browser_for: Any
) -> None:
    auth, app = kit_app(stack, pki.foreign)
    async with auth:
        browser = browser_for(app)
        # The kit presents its certificate on every connection to this provider, discovery
        # included: refused in the handshake, the provider is unreachable for it.
        start = await browser.get("/auth/login", headers={"Accept": "application/json"})
        assert start.status_code == 503
        assert (await browser.get("/auth/session")).json()["authenticated"] is False


async def test_without_the_aliases_the_kit_gets_no_bound_token(
    stack: Stack, pki: PKI, browser_for: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A provider without mtls_endpoint_aliases: the plain token endpoint ignores certificates,
    # so tls_client_auth fails there (the kit calls the aliases, and only those present them).
    from oidc_kit.testing import _op_app

    real = _op_app.discovery_document

    def without_aliases(*args: Any) -> dict[str, Any]:
        document = real(*args)
        document.pop("mtls_endpoint_aliases")
        return document

    monkeypatch.setattr(_op_app, "discovery_document", without_aliases)
    auth, app = kit_app(stack, pki.client)
    async with auth:
        answer = await sandbox_login(browser_for(app), stack.op, "alice")
        # The provider's invalid_client, on the kit's error page: no session made.
        assert answer.status_code == 400 and "invalid_client" in answer.text


def test_an_app_http_client_is_refused_with_a_client_certificate(pki: PKI) -> None:
    config = OIDCConfig(
        issuer="https://op.test",
        client_id="app",
        client_cert=pki.client.cert_pem,
        client_cert_key=pki.client.key_pem,
        base_url=APP,
        session_secrets=("a-test-secret-of-32-characters!!",),
        session_store="memory://",
    )
    with pytest.raises(ConfigurationError, match="leave http_client out"):
        OIDCAuth(config, http_client=httpx.AsyncClient())


async def test_bound_tokens_need_a_certificate_at_the_alias(stack: Stack, pki: PKI) -> None:
    form = {"grant_type": "client_credentials", "scope": "accounts:read"}
    basic = httpx.BasicAuth("secret", "secret-of-the-bound-client")
    async with httpx.AsyncClient(verify=presenting(pki.other)) as http:
        plain = await http.post(f"{stack.issuer}/token", data=form, auth=basic)
        at_alias = await http.post(f"{stack.issuer}/mtls/token", data=form, auth=basic)
    async with httpx.AsyncClient(verify=stack.ca_context) as http:
        no_cert = await http.post(f"{stack.issuer}/mtls/token", data=form, auth=basic)
    for refused in (plain, no_cert):
        assert refused.status_code == 400 and refused.json()["error"] == "invalid_request"
    assert at_alias.status_code == 200, at_alias.text
    thumbprint = load_client_certificate(pki.other.cert_pem, pki.other.key_pem).thumbprint
    assert claims_of(at_alias.json()["access_token"])["cnf"] == {"x5t#S256": thumbprint}
    assert at_alias.json()["token_type"] == "Bearer"  # RFC 8705 3: still a Bearer token


async def test_the_example_apps_orca_client_presents_the_certificate(
    stack: Stack, pki: PKI, browser_for: Any
) -> None:
    from example_app.orca import OrcaClient, OrcaError

    auth, token = await bound_token(stack, pki, browser_for)
    bearer = httpx.Headers({"Authorization": f"Bearer {token}"})

    class Fixed(httpx.Auth):
        def auth_flow(self, request: httpx.Request) -> Any:
            request.headers.update(bearer)
            yield request

    try:
        async with httpx.AsyncClient(verify=stack.ca_context) as shared:
            orca = OrcaClient.for_config(f"{stack.issuer}/orca", shared, auth.config)
            try:
                assert (await orca.list_accounts(Fixed()))["data"]
            finally:
                await orca.aclose()
            plain = OrcaClient(f"{stack.issuer}/orca", shared)  # no certificate presented
            with pytest.raises(OrcaError) as refused:
                await plain.list_accounts(Fixed())
            assert refused.value.status == 401
    finally:
        await auth.__aexit__(None, None, None)
