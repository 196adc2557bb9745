"""Provider settings only: ``ClientCredentials.from_env`` and ``oidc-kit doctor`` run in a
batch job's environment, which has the provider's variables and none of the app's
(``APP_BASE_URL``, ``SESSION_SECRET``...): nothing asks for them, nothing warns about them.
"""

from __future__ import annotations

import io
import json
import logging
from contextlib import redirect_stderr

import httpx
import pytest

from oidc_kit import ClientCredentials, ConfigurationError
from oidc_kit.cli import main
from oidc_kit.testing import SandboxClient, SandboxProvider

ISSUER = "https://op.test"
CLIENT_ID = "batch-job"
CLIENT_SECRET = "batch-job-secret-0123456789"


class TokenServer:
    """Discovery and a token endpoint handing out numbered tokens; an API taking them."""

    def __init__(self) -> None:
        self.token_requests: list[httpx.Request] = []

    def token(self, n: int) -> str:
        return f"job-token-{n}-0123456789"

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/.well-known/openid-configuration":
            endpoints = {"token_endpoint": f"{ISSUER}/token", "jwks_uri": f"{ISSUER}/jwks"}
            discovery = {"issuer": ISSUER, "authorization_endpoint": f"{ISSUER}/authorize"}
            return httpx.Response(200, json=discovery | endpoints)
        if request.url.path.startswith("/.well-known/"):
            return httpx.Response(404)
        if request.url.path == "/token":
            self.token_requests.append(request)
            token = self.token(len(self.token_requests))
            return httpx.Response(200, json={"access_token": token, "token_type": "Bearer"})
        return httpx.Response(200, json={"data": []})


#: What a batch job's environment holds: the provider's settings, none of the app's.
JOB_ENV = {
    "OIDC_ISSUER": ISSUER,
    "OIDC_CLIENT_ID": CLIENT_ID,
    "OIDC_CLIENT_SECRET": CLIENT_SECRET,
    "OIDC_REFRESH_LEEWAY": "60",
}


async def test_client_credentials_from_the_provider_variables_alone(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = TokenServer()
    caplog.set_level(logging.DEBUG, logger="oidc_kit")
    async with httpx.AsyncClient(transport=httpx.MockTransport(server)) as http:
        source = ClientCredentials.from_env(JOB_ENV, scopes=["accounts:read"], http_client=http)
        assert await source.token() == server.token(1)
        answer = await http.get("https://api.test/orca/v1/accounts", auth=source.auth())
    assert answer.status_code == 200
    (request,) = server.token_requests
    assert request.headers["authorization"].startswith("Basic ")  # the variables' secret
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]  # no SESSION_SECRET


@pytest.mark.parametrize(
    "app_variable",
    [
        {"APP_BASE_URL": "not a URL"},
        {"SESSION_SECRET": "short"},
        {"SESSION_COOKIE_SAMESITE": "none"},
        {"OIDC_ROUTE_PREFIX": "/"},
    ],
)
async def test_the_apps_variables_are_not_read(app_variable: dict[str, str]) -> None:
    """An app's setting, even one the app would refuse, is not the job's business."""
    server = TokenServer()
    async with httpx.AsyncClient(transport=httpx.MockTransport(server)) as http:
        source = ClientCredentials.from_env(
            JOB_ENV | app_variable, scopes=["accounts:read"], http_client=http
        )
        assert await source.token() == server.token(1)


@pytest.mark.parametrize("missing", ["OIDC_ISSUER", "OIDC_CLIENT_ID"])
async def test_a_missing_provider_variable_is_named(missing: str) -> None:
    env = {k: v for k, v in JOB_ENV.items() if k != missing}
    async with httpx.AsyncClient() as http:
        with pytest.raises(ConfigurationError, match=f"{missing} is not set"):
            ClientCredentials.from_env(env, scopes=["a"], http_client=http)


async def test_the_provider_variables_are_checked_as_the_app_checks_them() -> None:
    no_secret = {k: v for k, v in JOB_ENV.items() if k != "OIDC_CLIENT_SECRET"}
    async with httpx.AsyncClient() as http:
        with pytest.raises(ConfigurationError, match="http:// issuer"):
            env = JOB_ENV | {"OIDC_ISSUER": "http://op.test"}
            ClientCredentials.from_env(env, scopes=["a"], http_client=http)
        with pytest.raises(ConfigurationError, match="client secret"):
            ClientCredentials.from_env(no_secret, scopes=["a"], http_client=http)


def test_the_doctor_reads_the_provider_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``oidc-kit doctor`` with no option: issuer, client and the insecure switch come from
    the job's variables, as the app's would; no APP_BASE_URL, no SESSION_SECRET."""
    issuer = "http://127.0.0.1:9000"
    callback = ("http://127.0.0.1:8000/auth/callback",)
    op = SandboxProvider(issuer, [SandboxClient("job", "job-secret-0123456789", callback)])
    for name in ("APP_BASE_URL", "SESSION_SECRET", "OIDC_PROFILE", "OIDC_ID_TOKEN_ALGS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OIDC_ISSUER", issuer)
    monkeypatch.setenv("OIDC_CLIENT_ID", "job")
    monkeypatch.setenv("OIDC_CLIENT_SECRET", "job-secret-0123456789")
    monkeypatch.setenv("OIDC_ALLOW_INSECURE_HTTP", "1")
    out = io.StringIO()
    monkeypatch.setattr("sys.stdout", out)
    status = main(["doctor", "--json"], transport=httpx.ASGITransport(app=op.app))
    report = json.loads(out.getvalue())
    assert report["issuer"] == issuer
    checks = {check["name"]: check["status"] for check in report["checks"]}
    assert checks["discovery"] == "ok"
    assert checks["tls"] == "warn"  # plain http allowed: OIDC_ALLOW_INSECURE_HTTP was read
    assert status == 0


@pytest.mark.parametrize("missing", ["OIDC_ISSUER", "OIDC_CLIENT_ID"])
def test_the_doctor_without_issuer_or_client_says_which(
    monkeypatch: pytest.MonkeyPatch, missing: str
) -> None:
    monkeypatch.setenv("OIDC_ISSUER", "https://op.test")
    monkeypatch.setenv("OIDC_CLIENT_ID", "job")
    monkeypatch.delenv(missing)
    err = io.StringIO()
    with redirect_stderr(err):
        assert main(["doctor"]) == 2
    assert missing in err.getvalue()
