"""Several providers in one app: ``OIDCAuth({"portx": ..., "corp": ...})``.

Two sandbox providers with their own clients, served in process behind one HTTP client (each
on its own host). Each test checks that a session's refresh, logout and back-channel logout
go to the provider it came from, and that a login started with one provider cannot be
finished with another's answer (mix-up, RFC 9700 4.4).
"""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from oidc_kit import ConfigurationError, IssuerMismatch, OIDCConfig
from oidc_kit._body import MAX_BODY
from oidc_kit.starlette import OIDCAuth
from oidc_kit.stores.memory import MemoryStore
from oidc_kit.testing import SandboxClient, SandboxProvider, sandbox_login
from tests.conftest import Clock

APP = "https://app.test"
PORTX, CORP = "https://portx.test", "https://corp.test"
TTL = 300


@dataclass
class Stack:
    portx: SandboxProvider
    corp: SandboxProvider
    auth: OIDCAuth
    browser: httpx.AsyncClient
    clock: Clock


def _provider(
    issuer: str, client_id: str, secret: str, callback: str, clock: Clock
) -> SandboxProvider:
    client = SandboxClient(
        client_id,
        secret,
        (f"{APP}{callback}",),
        post_logout_redirect_uris=(f"{APP}/",),
    )
    return SandboxProvider(issuer, [client], clock=clock, access_token_ttl=TTL)


def _configs() -> dict[str, OIDCConfig]:
    portx = OIDCConfig(
        issuer=PORTX,
        client_id="portx-app",
        client_secret="portx-secret-123",
        base_url=APP,
        session_secrets=("a-test-secret-of-32-characters!!",),
        scopes=("openid", "offline_access"),
    )
    corp = dataclasses.replace(
        portx, issuer=CORP, client_id="corp-app", client_secret="corp-secret-1234"
    )
    return {"portx": portx, "corp": corp}


@pytest.fixture
async def stack() -> AsyncIterator[Stack]:
    clock = Clock()
    portx = _provider(PORTX, "portx-app", "portx-secret-123", "/auth/callback", clock)
    corp = _provider(CORP, "corp-app", "corp-secret-1234", "/auth/callback/corp", clock)
    http = httpx.AsyncClient(
        mounts={
            f"{PORTX}/": httpx.ASGITransport(app=portx.app),
            f"{CORP}/": httpx.ASGITransport(app=corp.app),
        }
    )
    auth = OIDCAuth(_configs(), http_client=http, store=MemoryStore(), clock=clock)
    app = Starlette(
        routes=[Mount("/auth", routes=auth.routes)],
        middleware=[auth.middleware],
        exception_handlers=auth.exception_handlers,
    )
    transport = httpx.ASGITransport(app=app)
    async with auth, http, httpx.AsyncClient(transport=transport, base_url=APP) as browser:
        yield Stack(portx, corp, auth, browser, clock)


async def _session(browser: httpx.AsyncClient) -> dict[str, object]:
    body: dict[str, object] = (await browser.get("/auth/session")).json()
    return body


async def test_each_provider_logs_in_with_its_own_client_and_redirect_uri(stack: Stack) -> None:
    start = await stack.browser.get("/auth/login", params={"provider": "corp"})
    query = parse_qs(urlsplit(start.headers["location"]).query)
    assert start.headers["location"].startswith(f"{CORP}/")
    assert query["client_id"] == ["corp-app"]
    assert query["redirect_uri"] == [f"{APP}/auth/callback/corp"]

    default = await stack.browser.get("/auth/login")
    assert default.headers["location"].startswith(f"{PORTX}/")
    assert parse_qs(urlsplit(default.headers["location"]).query)["redirect_uri"] == [
        f"{APP}/auth/callback"
    ]

    done = await sandbox_login(stack.browser, stack.corp, "alice", provider="corp")
    assert done.status_code == 303
    session = await _session(stack.browser)
    assert session["authenticated"] is True
    assert session["claims"]["iss"] == CORP  # type: ignore[index]
    assert stack.corp.token_requests == 1 and stack.portx.token_requests == 0


async def test_an_unknown_provider_name_is_a_400(stack: Stack) -> None:
    response = await stack.browser.get(
        "/auth/login", params={"provider": "nope"}, headers={"Accept": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_login_request"


async def test_mix_up_a_login_for_corp_answered_at_portx_redirect_uri_is_refused(
    stack: Stack,
) -> None:
    """The user started with corp; the answer arrives at portx's redirect URI (where an
    attacker's provider would send it). No code is sent to any token endpoint."""
    start = await stack.browser.get("/auth/login", params={"provider": "corp"})
    state = parse_qs(urlsplit(start.headers["location"]).query)["state"][0]
    response = await stack.browser.get(
        "/auth/callback",
        params={"code": "stolen-code", "state": state},
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_issuer"
    assert stack.corp.token_requests == 0 and stack.portx.token_requests == 0
    assert (await _session(stack.browser))["authenticated"] is False


async def test_mix_up_is_refused_even_when_the_provider_sends_no_iss(stack: Stack) -> None:
    """The distinct redirect URI alone stops the mix-up, for providers without RFC 9207."""
    corp = stack.auth._clients["corp"].provider
    meta = await corp.metadata()
    # As a provider that does not advertise (or send) the iss parameter would look.
    corp._metadata = dataclasses.replace(meta, iss_parameter_supported=False)
    start = await stack.browser.get("/auth/login", params={"provider": "corp"})
    state = parse_qs(urlsplit(start.headers["location"]).query)["state"][0]
    response = await stack.browser.get(
        "/auth/callback",
        params={"code": "stolen-code", "state": state},
        headers={"Accept": "application/json"},
    )
    assert response.json()["error"] == "invalid_issuer"
    assert stack.corp.token_requests == 0 and stack.portx.token_requests == 0


async def test_mix_up_another_issuers_iss_at_the_right_redirect_uri_is_refused(
    stack: Stack,
) -> None:
    """RFC 9207: an answer naming portx as its issuer, for a login started with corp."""
    start = await stack.browser.get("/auth/login", params={"provider": "corp"})
    state = parse_qs(urlsplit(start.headers["location"]).query)["state"][0]
    response = await stack.browser.get(
        "/auth/callback/corp",
        params={"code": "some-code", "state": state, "iss": PORTX},
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_issuer"
    assert stack.corp.token_requests == 0


async def test_refresh_goes_to_the_sessions_provider(stack: Stack) -> None:
    await sandbox_login(stack.browser, stack.corp, "alice", provider="corp")
    stack.clock.advance(TTL + 1)
    auth, browser = stack.auth, stack.browser
    sid_cookie = browser.cookies.get(auth.session_cookie)
    assert sid_cookie is not None
    sid = auth._cookies.session_id(sid_cookie)
    assert sid is not None
    session = await auth._sessions.load(sid)
    assert session is not None
    client = auth._client_for(session)
    assert client.name == "corp"
    await client.tokens.tokens(session)
    assert stack.corp.grant_counts["refresh_token"] == 1
    assert stack.portx.grant_counts["refresh_token"] == 0


async def test_logout_goes_to_the_sessions_provider(stack: Stack) -> None:
    await sandbox_login(stack.browser, stack.corp, "alice", provider="corp")
    response = await stack.browser.post("/auth/logout", headers={"Origin": APP})
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith(f"{CORP}/")
    assert parse_qs(urlsplit(location).query)["client_id"] == ["corp-app"]
    assert (await _session(stack.browser))["authenticated"] is False


async def test_backchannel_logout_is_validated_by_the_provider_it_names(stack: Stack) -> None:
    await sandbox_login(stack.browser, stack.corp, "alice", provider="corp")
    sub = (await _session(stack.browser))["sub"]
    assert isinstance(sub, str)

    # portx logging alice out must not end her corp session (same sub, other issuer)...
    portx_token = stack.portx.sign_logout_token(
        stack.portx.logout_token_claims("portx-app", sub=sub)
    )
    answer = await stack.browser.post(
        "/auth/backchannel-logout", data={"logout_token": portx_token}
    )
    assert answer.status_code == 200
    assert (await _session(stack.browser))["authenticated"] is True

    # ...a token claiming to be corp's but signed by portx is refused...
    forged_claims = stack.corp.logout_token_claims("corp-app", sub=sub)
    forged = stack.portx.sign_logout_token(forged_claims)
    refused = await stack.browser.post("/auth/backchannel-logout", data={"logout_token": forged})
    assert refused.status_code == 400
    assert (await _session(stack.browser))["authenticated"] is True

    # ...and corp's own ends it.
    corp_token = stack.corp.sign_logout_token(stack.corp.logout_token_claims("corp-app", sub=sub))
    ended = await stack.browser.post("/auth/backchannel-logout", data={"logout_token": corp_token})
    assert ended.status_code == 200
    assert (await _session(stack.browser))["authenticated"] is False


async def test_a_logout_token_from_an_unconfigured_issuer_is_refused(stack: Stack) -> None:
    claims = stack.corp.logout_token_claims("corp-app", sub="x") | {"iss": "https://evil.test"}
    token = stack.corp.sign_logout_token(claims)
    response = await stack.browser.post("/auth/backchannel-logout", data={"logout_token": token})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_logout_token"


@pytest.mark.parametrize(
    "payload",
    [b"[" * 5_000, b"[" * 100_000, b"not json", b'"a string"', b'{"iss": 1}'],
    ids=["deep", "huge", "garbage", "string", "number-iss"],
)
async def test_a_malformed_logout_token_is_a_400_with_several_providers(
    stack: Stack, payload: bytes
) -> None:
    """The issuer is read before verification, only to pick the provider: nothing anyone
    can post makes that a 500. (A body over 64 KiB is refused before it is read: 413.)"""
    body = base64.urlsafe_b64encode(payload).rstrip(b"=").decode()
    token = f"eyJhbGciOiJSUzI1NiJ9.{body}.c2ln"
    response = await stack.browser.post("/auth/backchannel-logout", data={"logout_token": token})
    status, code = (
        (413, "request_too_large") if len(token) > MAX_BODY else (400, "invalid_logout_token")
    )
    assert response.status_code == status
    assert response.json()["error"] == code


def test_providers_must_have_distinct_issuers_and_share_app_settings() -> None:
    configs = _configs()
    with pytest.raises(ConfigurationError, match="same issuer"):
        OIDCAuth({"a": configs["portx"], "b": configs["portx"]}, store=MemoryStore())
    other_app = dataclasses.replace(configs["corp"], base_url="https://other.test")
    with pytest.raises(ConfigurationError, match="base_url"):
        OIDCAuth({"portx": configs["portx"], "corp": other_app}, store=MemoryStore())
    with pytest.raises(ConfigurationError, match="provider name"):
        OIDCAuth({"Bad Name": configs["portx"]}, store=MemoryStore())
    with pytest.raises(ConfigurationError, match="at least one"):
        OIDCAuth({}, store=MemoryStore())


def _bare_app(auth: OIDCAuth) -> httpx.AsyncClient:
    app = Starlette(
        routes=[Mount("/auth", routes=auth.routes)],
        middleware=[auth.middleware],
        exception_handlers=auth.exception_handlers,
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=APP)


async def test_a_form_post_answer_is_reposted_to_the_redirect_uri_it_arrived_at() -> None:
    """form_post without the login cookie (cross-site on http): the same-origin re-post must
    go back to corp's redirect URI, not the default one (else it reads as a mix-up)."""
    configs = {
        name: dataclasses.replace(config, response_mode="form_post")
        for name, config in _configs().items()
    }
    auth = OIDCAuth(configs, store=MemoryStore())
    async with auth, _bare_app(auth) as browser:
        page = await browser.post("/auth/callback/corp", data={"code": "c", "state": "s"})
    assert page.status_code == 200
    assert f'action="{APP}/auth/callback/corp"' in page.text


async def test_jwks_publishes_the_key_of_every_provider_once() -> None:
    from joserfc.jwk import ECKey

    def key() -> str:
        return json.dumps(ECKey.generate_key("P-256", private=True).as_dict(private=True))

    first, second = key(), key()
    configs = _configs()
    configs = {
        "portx": dataclasses.replace(configs["portx"], client_key=first),
        "corp": dataclasses.replace(configs["corp"], client_key=second),
        "staging": dataclasses.replace(
            configs["corp"], issuer="https://staging.test", client_key=first
        ),
    }
    auth = OIDCAuth(configs, store=MemoryStore())
    async with auth, _bare_app(auth) as browser:
        keys = (await browser.get("/auth/jwks")).json()["keys"]
    expected = {c.signing_key.kid for c in configs.values() if c.signing_key is not None}
    assert len(expected) == 2
    assert sorted(k["kid"] for k in keys) == sorted(expected)
    assert all("d" not in k for k in keys)


async def test_a_flow_completes_only_its_own_providers_logins(stack: Stack) -> None:
    """Defence in depth below the routes: corp's transaction handed to portx's flow."""
    start = await stack.browser.get("/auth/login", params={"provider": "corp"})
    state = parse_qs(urlsplit(start.headers["location"]).query)["state"][0]
    binding = stack.auth._cookies.login_binding(stack.browser.cookies[stack.auth.login_cookie])
    params = {"state": [state], "code": ["c"], "iss": [PORTX]}
    txn = await stack.auth._flow.take(params, binding)
    with pytest.raises(IssuerMismatch):
        await stack.auth._clients["portx"].flow.complete(txn, params)
    assert stack.portx.token_requests == 0 and stack.corp.token_requests == 0
