"""``ClientCredentials``: the app's own tokens for server-to-server calls.

First against a scripted token endpoint on ``httpx.MockTransport`` (request shape, caching,
single flight, refresh on a 401, error mapping, no leaks), then against the real sandbox
provider for both body formats, then ``python -m example_app accounts`` end to end.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import httpx
import pytest
from joserfc import jwk, jwt
from joserfc.jwk import ECKey

import oidc_kit
from example_app import __main__ as example_main
from example_app.cli import accounts_command, format_table, token_request_format
from example_app.seed import data_for
from example_app.settings import SANDBOX_CLIENT_ID, sandbox_client_key
from oidc_kit import (
    BearerAuth,
    ClientCredentials,
    ConfigurationError,
    OIDCConfig,
    ProviderError,
    ProviderUnavailable,
    TokenRequestFailed,
    TokenSource,
)
from oidc_kit._dpop import DPoPKey
from oidc_kit.testing import SandboxClient, SandboxProvider

ISSUER = "https://op.test"
TOKEN_URL = ISSUER + "/token"
API = "https://api.test/orca/v1/accounts"
CLIENT_ID = "svc/backoffice"  # characters that Basic credentials must form-encode
CLIENT_SECRET = "s3cr/t+:x%"
REPO = Path(__file__).resolve().parent.parent.parent


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


class TokenServer:
    """A scripted provider: discovery, a token endpoint handing out numbered tokens, an API."""

    def __init__(self) -> None:
        self.ttl: int | None = 3600
        self.auth_methods = ["client_secret_basic", "client_secret_post"]
        self.token_requests: list[httpx.Request] = []
        self.answer: httpx.Response | None = None  # instead of a token, when set
        self.down = False  # the token endpoint's connection fails
        self.gate: asyncio.Event | None = None  # holds token requests until set
        self.rejected: set[str] = set()  # tokens the API answers 401 to
        self.api_tokens: list[str] = []

    def token(self, n: int) -> str:
        return f"cc-token-{n}-0123456789"

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/.well-known/openid-configuration":
            return httpx.Response(200, json=self.discovery())
        if request.url.path.startswith("/.well-known/"):
            return httpx.Response(404)  # no RFC 8414 metadata (read: discovery has no revocation)
        if request.url.path == "/token":
            self.token_requests.append(request)
            if self.gate is not None:
                await self.gate.wait()
            if self.down:
                raise httpx.ConnectError("connection refused", request=request)
            if self.answer is not None:
                return self.answer
            body: dict[str, Any] = {
                "access_token": self.token(len(self.token_requests)),
                "token_type": "Bearer",
                "scope": "accounts:read",
            }
            if self.ttl is not None:
                body["expires_in"] = self.ttl
            return httpx.Response(200, json=body)
        token = request.headers["authorization"].removeprefix("Bearer ")
        self.api_tokens.append(token)
        if token in self.rejected:
            return httpx.Response(401, json={"error": "unauthorized"})
        return httpx.Response(200, json={"data": []})

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": ISSUER,
            "authorization_endpoint": ISSUER + "/authorize",
            "token_endpoint": TOKEN_URL,
            "jwks_uri": ISSUER + "/jwks",
            "token_endpoint_auth_methods_supported": self.auth_methods,
        }


def make_config(**overrides: Any) -> OIDCConfig:
    values: dict[str, Any] = {
        "issuer": ISSUER,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "base_url": "https://app.test",
        "session_secrets": ("test-session-secret-0123456789",),
        "refresh_leeway": 30,
    }
    return OIDCConfig(**{**values, **overrides})


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def server() -> TokenServer:
    return TokenServer()


@pytest.fixture
async def http(server: TokenServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.MockTransport(server)) as client:
        yield client


def source_for(http: httpx.AsyncClient, clock: Clock, **kwargs: Any) -> ClientCredentials:
    kwargs.setdefault("token_endpoint", TOKEN_URL)
    scopes = kwargs.pop("scopes", ["accounts:read", "cards:read"])
    config = kwargs.pop("config", make_config())
    return ClientCredentials(config, scopes=scopes, http_client=http, clock=clock, **kwargs)


def form_of(request: httpx.Request) -> dict[str, str]:
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    return dict(httpx.QueryParams(request.content.decode()))


# -- the request -----------------------------------------------------------------------------


def test_public_api() -> None:
    assert {"ClientCredentials", "TokenRequestFormat"} <= set(oidc_kit.__all__)
    http = httpx.AsyncClient(transport=httpx.MockTransport(TokenServer()))
    cc = ClientCredentials(make_config(), scopes=["accounts:read"], http_client=http)
    source: TokenSource = cc  # the one Protocol BearerAuth takes, met with no adapter
    assert isinstance(cc, TokenSource) and isinstance(source.auth(), BearerAuth)
    assert cc.expires_at is None and cc.body_format == "form"


async def test_form_body_and_basic_by_default(
    http: httpx.AsyncClient, server: TokenServer, clock: Clock
) -> None:
    assert await source_for(http, clock).token() == server.token(1)
    (request,) = server.token_requests
    assert request.method == "POST" and str(request.url) == TOKEN_URL
    assert form_of(request) == {
        "grant_type": "client_credentials",
        "scope": "accounts:read cards:read",
    }
    # RFC 6749 2.3.1: each part form-encoded, then Basic.
    basic = base64.b64encode(f"{quote_plus(CLIENT_ID)}:{quote_plus(CLIENT_SECRET)}".encode())
    assert request.headers["authorization"] == f"Basic {basic.decode()}"
    assert request.headers["accept"] == "application/json"


@pytest.mark.parametrize(
    ("methods", "basic"),
    [
        (["client_secret_basic", "client_secret_post"], True),
        (["client_secret_post"], False),
    ],
)
async def test_discovers_the_token_endpoint_and_auth_method(
    http: httpx.AsyncClient, server: TokenServer, clock: Clock, methods: list[str], basic: bool
) -> None:
    server.auth_methods = methods
    source = source_for(http, clock, token_endpoint=None)
    await source.token()
    (request,) = server.token_requests
    form = form_of(request)
    assert ("authorization" in request.headers) is basic
    if not basic:
        assert (form["client_id"], form["client_secret"]) == (CLIENT_ID, CLIENT_SECRET)


async def test_json_body_when_configured(
    http: httpx.AsyncClient, server: TokenServer, clock: Clock
) -> None:
    source = source_for(http, clock, body_format="json", scopes=["accounts:read", "accounts:write"])
    assert await source.token() == server.token(1)
    (request,) = server.token_requests
    assert request.headers["content-type"] == "application/json"
    assert "authorization" not in request.headers
    assert json.loads(request.content) == {
        "grant_type": "client_credentials",
        "scope": "accounts:read accounts:write",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
    }


async def test_no_scope_parameter_without_scopes(
    http: httpx.AsyncClient, server: TokenServer, clock: Clock
) -> None:
    await source_for(http, clock, scopes=[]).token()
    assert form_of(server.token_requests[0]) == {"grant_type": "client_credentials"}


def test_configuration_refusals() -> None:
    http = httpx.AsyncClient(transport=httpx.MockTransport(TokenServer()))
    with pytest.raises(ConfigurationError, match="client secret"):
        ClientCredentials(make_config(client_secret=None), scopes=["a"], http_client=http)
    with pytest.raises(ConfigurationError, match="form or json"):
        bad: Any = "xml"
        ClientCredentials(make_config(), scopes=["a"], http_client=http, body_format=bad)
    with pytest.raises(ConfigurationError, match="not a string"):
        ClientCredentials(make_config(), scopes="accounts:read", http_client=http)
    with pytest.raises(ConfigurationError, match="https"):
        ClientCredentials(
            make_config(), scopes=["a"], http_client=http, token_endpoint="http://op.test/token"
        )


# -- caching and single flight ---------------------------------------------------------------


async def test_cached_until_due(http: httpx.AsyncClient, server: TokenServer, clock: Clock) -> None:
    source = source_for(http, clock)
    first = await source.token()
    assert source.expires_at == clock.now + 3600
    clock.now += 3600 - 30 - 1  # one second before the leeway
    assert await source.token() == first
    assert len(server.token_requests) == 1
    clock.now += 1
    assert await source.token() == server.token(2)
    assert len(server.token_requests) == 2


async def test_leeway_is_capped_at_half_the_lifetime(
    http: httpx.AsyncClient, server: TokenServer, clock: Clock
) -> None:
    server.ttl = 40  # leeway 30 > 40 / 2: refreshed after 20 s, not after 10
    source = source_for(http, clock)
    first = await source.token()
    clock.now += 19
    assert await source.token() == first
    clock.now += 1
    assert await source.token() != first
    assert len(server.token_requests) == 2


async def test_a_token_without_expiry_is_kept_until_refused(
    http: httpx.AsyncClient, server: TokenServer, clock: Clock
) -> None:
    server.ttl = None
    source = source_for(http, clock)
    first = await source.token()
    clock.now += 10 * 86400
    assert await source.token() == first
    assert source.expires_at is None


async def test_concurrent_callers_share_one_fetch(
    http: httpx.AsyncClient, server: TokenServer, clock: Clock
) -> None:
    server.gate = asyncio.Event()
    source = source_for(http, clock)
    calls = [asyncio.create_task(source.token()) for _ in range(50)]
    await asyncio.sleep(0.01)
    assert len(server.token_requests) == 1
    server.gate.set()
    assert set(await asyncio.gather(*calls)) == {server.token(1)}
    assert len(server.token_requests) == 1


async def test_a_cancelled_caller_does_not_cancel_the_fetch(
    http: httpx.AsyncClient, server: TokenServer, clock: Clock
) -> None:
    server.gate = asyncio.Event()
    source = source_for(http, clock)
    first, second = asyncio.create_task(source.token()), asyncio.create_task(source.token())
    await asyncio.sleep(0.01)
    first.cancel()
    server.gate.set()
    assert await second == server.token(1)
    assert first.cancelled() and len(server.token_requests) == 1


# -- refresh on a 401 ------------------------------------------------------------------------


async def test_a_401_fetches_one_new_token_and_retries_once(
    http: httpx.AsyncClient, server: TokenServer, clock: Clock
) -> None:
    source = source_for(http, clock)
    server.rejected.add(server.token(1))  # revoked at the API before it expired
    response = await http.get(API, auth=source.auth())
    assert response.status_code == 200
    assert server.api_tokens == [server.token(1), server.token(2)]
    assert len(server.token_requests) == 2
    assert (await http.get(API, auth=source.auth())).status_code == 200
    assert len(server.token_requests) == 2  # the new token is cached


async def test_a_second_401_is_the_apis_answer(
    http: httpx.AsyncClient, server: TokenServer, clock: Clock
) -> None:
    source = source_for(http, clock)
    server.rejected.update({server.token(1), server.token(2)})
    response = await http.get(API, auth=source.auth())
    assert response.status_code == 401
    assert len(server.api_tokens) == 2 and len(server.token_requests) == 2


async def test_concurrent_401s_share_one_new_token(
    http: httpx.AsyncClient, server: TokenServer, clock: Clock
) -> None:
    source = source_for(http, clock)
    await source.token()
    server.rejected.add(server.token(1))
    responses = await asyncio.gather(*(http.get(API, auth=source.auth()) for _ in range(20)))
    assert {r.status_code for r in responses} == {200}
    assert len(server.token_requests) == 2


async def test_refresh_keeps_a_token_that_already_differs(
    http: httpx.AsyncClient, server: TokenServer, clock: Clock
) -> None:
    source = source_for(http, clock)
    refreshed = source.refreshed
    assert (await refreshed("some-older-token")).access_token == server.token(1)  # none cached
    assert (await refreshed("some-older-token")).access_token == server.token(1)
    assert len(server.token_requests) == 1
    assert (await refreshed(server.token(1))).access_token == server.token(2)


# -- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_5xx_is_provider_unavailable(
    http: httpx.AsyncClient, server: TokenServer, clock: Clock, status: int
) -> None:
    server.answer = httpx.Response(status, text="upstream trouble")
    with pytest.raises(ProviderUnavailable) as caught:
        await source_for(http, clock).token()
    assert caught.value.code == "provider_unavailable" and caught.value.status == 503


async def test_network_failure_is_provider_unavailable_and_retried_later(
    http: httpx.AsyncClient, server: TokenServer, clock: Clock
) -> None:
    source = source_for(http, clock)
    server.down = True
    with pytest.raises(ProviderUnavailable, match="ConnectError"):
        await source.token()
    server.down = False
    assert await source.token() == server.token(2)


async def test_an_unexpired_token_outlives_a_failed_early_refresh(
    http: httpx.AsyncClient, server: TokenServer, clock: Clock
) -> None:
    source = source_for(http, clock)
    first = await source.token()
    server.down = True
    clock.now += 3590  # due (leeway 30), not expired
    assert await source.token() == first
    clock.now += 10  # expired
    with pytest.raises(ProviderUnavailable):
        await source.token()


@pytest.mark.parametrize(
    ("error", "code"),
    [
        ("invalid_client", "invalid_client"),
        ("invalid_scope", "invalid_scope"),
        ("unauthorized_client", "unauthorized_client"),
        ("made_up", "token_request_failed"),
    ],
)
async def test_4xx_is_token_request_failed_with_the_providers_code(
    http: httpx.AsyncClient, server: TokenServer, clock: Clock, error: str, code: str
) -> None:
    status = 401 if error == "invalid_client" else 400
    server.answer = httpx.Response(status, json={"error": error, "error_description": "no"})
    with pytest.raises(TokenRequestFailed) as caught:
        await source_for(http, clock).token()
    assert caught.value.code == code


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(200, text="not json"),
        httpx.Response(200, json={"token_type": "Bearer"}),
        httpx.Response(200, json={"access_token": "x", "token_type": "mac"}),
    ],
)
async def test_an_unusable_answer_is_a_provider_error(
    http: httpx.AsyncClient, server: TokenServer, clock: Clock, answer: httpx.Response
) -> None:
    server.answer = answer
    with pytest.raises(ProviderError):
        await source_for(http, clock).token()


async def test_the_token_and_secret_never_show(
    http: httpx.AsyncClient,
    server: TokenServer,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    source = source_for(http, clock)
    token = await source.token()
    shown = [repr(source), str(source)]
    for error in ("invalid_client", None):
        server.answer = (
            httpx.Response(401, json={"error": error, "error_description": token})
            if error
            else httpx.Response(503, text=token)
        )
        clock.now += 4000
        with pytest.raises(oidc_kit.OIDCError) as caught:
            await source.token()
        shown += [str(caught.value), repr(caught.value), caught.value.description]
    assert caplog.records  # the kit did log (at DEBUG), just never a token
    shown += [record.getMessage() for record in caplog.records]
    assert "ClientCredentials(client_id='svc/backoffice'" in shown[0]
    for text in shown:
        assert token not in text and CLIENT_SECRET not in text


# -- against the sandbox provider ------------------------------------------------------------

SANDBOX_ISSUER = "https://op.test"


@pytest.fixture
def op(clock: Clock) -> SandboxProvider:
    client = SandboxClient("backoffice", "bo-secret", ("https://app.test/auth/callback",))
    return SandboxProvider(SANDBOX_ISSUER, [client], clock=clock)


@pytest.mark.parametrize("body_format", ["form", "json"])
async def test_against_the_sandbox_provider(
    op: SandboxProvider, clock: Clock, body_format: Any
) -> None:
    config = make_config(issuer=SANDBOX_ISSUER, client_id="backoffice", client_secret="bo-secret")
    transport = httpx.ASGITransport(app=op.app)
    async with httpx.AsyncClient(transport=transport) as http:
        source = ClientCredentials(
            config,
            scopes=["accounts:read", "openid", "cards:read"],
            http_client=http,
            body_format=body_format,
            clock=clock,
        )
        token = await source.token()
        assert await source.token() == token
        keys = jwk.KeySet.import_key_set((await http.get(SANDBOX_ISSUER + "/jwks")).json())
    assert op.grant_counts == {"client_credentials": 1}
    decoded = jwt.decode(token, keys, algorithms=["RS256"])
    assert decoded.header["typ"] == "at+jwt"
    claims = decoded.claims
    assert (claims["iss"], claims["aud"]) == (SANDBOX_ISSUER, "orca")
    assert (claims["sub"], claims["client_id"]) == ("backoffice", "backoffice")
    assert claims["scope"] == "accounts:read cards:read"  # openid is not for a client alone
    assert source.expires_at == clock.now + 3600


@pytest.mark.parametrize("body_format", ["form", "json"])
async def test_sandbox_refusals_map_onto_the_error_tree(
    op: SandboxProvider, clock: Clock, body_format: Any
) -> None:
    transport = httpx.ASGITransport(app=op.app)
    async with httpx.AsyncClient(transport=transport) as http:
        wrong = make_config(issuer=SANDBOX_ISSUER, client_id="backoffice", client_secret="nope")
        source = ClientCredentials(
            wrong, scopes=["accounts:read"], http_client=http, body_format=body_format
        )
        with pytest.raises(TokenRequestFailed) as caught:
            await source.token()
        assert caught.value.code == "invalid_client"
        right = make_config(
            issuer=SANDBOX_ISSUER, client_id="backoffice", client_secret="bo-secret"
        )
        source = ClientCredentials(
            right, scopes=["payments:write"], http_client=http, body_format=body_format
        )
        with pytest.raises(TokenRequestFailed) as caught:
            await source.token()
        assert caught.value.code == "invalid_scope"


# -- python -m example_app accounts ----------------------------------------------------------

CLEAN = {name: "" for name in ("OIDC_ISSUER", "ORCA_API_BASE", "APP_BASE_URL")}


def expected_rows() -> list[str]:
    return [account["id"] for account in data_for(SANDBOX_CLIENT_ID).accounts]


@pytest.mark.parametrize("body_format", ["form", "json"])
def test_accounts_command_in_process(body_format: str) -> None:
    out, err = io.StringIO(), io.StringIO()
    env = {**CLEAN, "OIDC_TOKEN_REQUEST_FORMAT": body_format}
    assert accounts_command(env, out=out, err=err) == 0, err.getvalue()
    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["ID", "NAME", "TYPE", "CURRENCY", "BALANCE", "AVAILABLE"]
    ids = [line.split()[0] for line in lines[1:]]
    assert ids == expected_rows() and ids
    assert "eyJ" not in out.getvalue() + err.getvalue()


def test_accounts_command_in_fapi2_mode(tmp_path: Path) -> None:
    """``OIDC_PROFILE=fapi2``: the app's own token comes by private_key_jwt, no secret, and
    is DPoP-bound; the sandbox ORCA, which then refuses unbound tokens, answers."""
    key = sandbox_client_key(str(tmp_path / "client-key.pem"))
    out, err = io.StringIO(), io.StringIO()
    env = {**CLEAN, "OIDC_PROFILE": "fapi2", "OIDC_CLIENT_KEY": str(key)}
    assert accounts_command(env, out=out, err=err) == 0, err.getvalue()
    assert [line.split()[0] for line in out.getvalue().splitlines()[1:]] == expected_rows()


async def test_a_fapi2_client_gets_dpop_bound_tokens_with_private_key_jwt(clock: Clock) -> None:
    key = ECKey.generate_key("P-256", private=True)
    client = SandboxClient(
        "backoffice",
        None,
        ("https://app.test/auth/callback",),
        token_endpoint_auth_method="private_key_jwt",
        jwks={"keys": [key.as_dict(private=False)]},
        dpop_bound_access_tokens=True,
    )
    op = SandboxProvider(SANDBOX_ISSUER, [client], clock=clock, dpop_nonce=True)
    config = make_config(
        issuer=SANDBOX_ISSUER,
        client_id="backoffice",
        client_key=json.dumps(key.as_dict(private=True)),
        dpop=True,
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=op.app)) as http:
        source = ClientCredentials(
            config, scopes=["accounts:read"], http_client=http, dpop=True, clock=clock
        )
        tokens = await source.tokens()
    assert tokens.token_type == "DPoP" and tokens.dpop_key is not None
    claims = json.loads(base64.urlsafe_b64decode(tokens.access_token.split(".")[1] + "=="))
    assert claims["cnf"]["jkt"] == DPoPKey.from_json(tokens.dpop_key).thumbprint
    # Two token requests: the nonce challenge, then the grant, each with its own assertion.
    assert op.grant_counts == {"client_credentials": 2}


async def test_dpop_for_user_logins_leaves_service_tokens_bearer_unless_asked() -> None:
    """``dpop`` in a config shared with the user logins does not switch the app's own tokens
    (an API may take Bearer service tokens only); ``profile="fapi2"`` or ``dpop=True`` does."""
    issued: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        issued.append(request.headers.get("dpop", "-"))
        kind = "DPoP" if "dpop" in request.headers else "Bearer"
        return httpx.Response(200, json={"access_token": "svc", "token_type": kind})

    config = make_config(dpop=True)
    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        plain = ClientCredentials(config, scopes=["a"], http_client=http, token_endpoint=TOKEN_URL)
        assert (await plain.tokens()).token_type == "Bearer"
        bound = ClientCredentials(
            config, scopes=["a"], http_client=http, token_endpoint=TOKEN_URL, dpop=True
        )
        assert (await bound.tokens()).token_type == "DPoP"
    assert issued[0] == "-" and issued[1] != "-"


def test_main_dispatches_accounts(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in (*CLEAN, "OIDC_TOKEN_REQUEST_FORMAT", "SESSION_STORE"):
        monkeypatch.delenv(name, raising=False)
    assert example_main.main(["accounts"]) == 0
    assert expected_rows()[0] in capsys.readouterr().out


def test_main_still_serves_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    served: list[tuple[str, int, int]] = []
    # Imported when serving only (uvicorn is an extra): patched where main finds it.
    monkeypatch.setattr("example_app.serve.serve", lambda *args: served.append(args))
    assert example_main.main(["--host", "127.0.0.2", "--port", "8123"]) == 0
    assert example_main.main([]) == 0
    assert example_main.main(["--workers", "3"]) == 0
    assert served == [("127.0.0.2", 8123, 1), ("127.0.0.1", 8000, 1), ("127.0.0.1", 8000, 3)]


def test_accounts_command_as_a_subprocess_with_a_clean_env(tmp_path: Path) -> None:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "example_app", "accounts"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].startswith("ID")
    assert expected_rows()[0] in done.stdout
    assert "Traceback" not in done.stderr


def test_accounts_command_errors_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    env = {**CLEAN, "OIDC_TOKEN_REQUEST_FORMAT": "xml"}
    assert accounts_command(env) == 1
    assert capsys.readouterr().err.startswith("error: configuration_error: OIDC_TOKEN_REQUEST")
    unreachable = {
        **CLEAN,
        "OIDC_ISSUER": "http://127.0.0.1:9",
        "OIDC_CLIENT_ID": "svc",
        "OIDC_CLIENT_SECRET": "secret-value",
        "OIDC_ALLOW_INSECURE_HTTP": "1",
    }
    assert accounts_command(unreachable) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: provider_unavailable") and "secret-value" not in err


def test_table_and_format_setting() -> None:
    rows = [{"id": "a1", "name": "Main", "type": "current", "currency": "EUR", "balance": "5.00"}]
    table = format_table(rows).splitlines()
    assert table[1].split() == ["a1", "Main", "current", "EUR", "5.00"]
    assert format_table([]) == "No accounts."
    assert token_request_format({}) == "form"
    assert token_request_format({"OIDC_TOKEN_REQUEST_FORMAT": " JSON "}) == "json"
