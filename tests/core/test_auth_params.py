"""Extra authorization parameters (issue 13, item 4): ``audience``, RFC 8707 ``resource``,
per-provider ``auth_params``, and the login URL's allowlisted hints.

Each parameter is checked where the provider receives it: the authorization URL, the pushed
request (PAR), and for ``resource`` the token endpoint's code and refresh grants too.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from oidc_kit import ConfigurationError, InvalidLoginRequest, OIDCConfig
from oidc_kit._auth_params import ELSEWHERE, KIT_OWNED
from oidc_kit.starlette import OIDCAuth
from tests.conftest import SECRET, login, make_config
from tests.fake_op import CLIENT_ID, ISSUER, FakeOP

APP = "https://app.test"
AUDIENCE = "https://orca.portx.io/v1"
RESOURCES = ("https://orca.test/", "urn:portx:orca")
CLAIMS = json.dumps({"id_token": {"acr": {"essential": True}}})


class WithPar:
    """The fake provider plus a PAR endpoint that keeps each pushed form."""

    def __init__(self, op: FakeOP) -> None:
        self.op = op
        self.pushed: list[dict[str, list[str]]] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/par":
            self.pushed.append(parse_qs(request.content.decode()))
            return httpx.Response(201, json={"request_uri": "urn:par:1", "expires_in": 60})
        return self.op.handle(request)


@pytest.fixture
def par(op: FakeOP) -> WithPar:
    return WithPar(op)


@pytest.fixture
def transport(par: WithPar) -> httpx.AsyncBaseTransport:
    """Overrides conftest's: kits talk to the provider through ``par``."""
    return httpx.MockTransport(par.handle)


EXTRAS: dict[str, Any] = {
    "audience": AUDIENCE,
    "resource": RESOURCES,
    "auth_params": {"prompt": "consent", "ui_locales": "de", "claims": CLAIMS},
}


def query_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def token_forms(op: FakeOP, grant_type: str) -> list[dict[str, list[str]]]:
    forms = [parse_qs(r.content.decode()) for r in op.requests if r.url.path == "/token"]
    return [form for form in forms if form["grant_type"] == [grant_type]]


# -- at the authorization endpoint, in PAR, at the token endpoint ----------------------------


async def test_each_parameter_reaches_the_authorization_endpoint(
    kit_factory: Callable[..., OIDCAuth],
) -> None:
    kit = kit_factory(**EXTRAS)
    query = query_of(await kit._flow.start("browser-1"))
    assert query["audience"] == [AUDIENCE]
    assert query["resource"] == list(RESOURCES)  # one parameter per indicator
    assert query["prompt"] == ["consent"]
    assert query["ui_locales"] == ["de"]
    assert json.loads(query["claims"][0]) == {"id_token": {"acr": {"essential": True}}}
    assert query["client_id"] == [CLIENT_ID] and query["code_challenge_method"] == ["S256"]


async def test_each_parameter_goes_into_the_pushed_request(
    kit_factory: Callable[..., OIDCAuth], op: FakeOP, par: WithPar
) -> None:
    op.discovery["pushed_authorization_request_endpoint"] = f"{ISSUER}/par"
    kit = kit_factory(par=True, **EXTRAS)
    url = await kit._flow.start("browser-1")
    assert query_of(url) == {"client_id": [CLIENT_ID], "request_uri": ["urn:par:1"]}
    [pushed] = par.pushed
    assert pushed["audience"] == [AUDIENCE]
    assert pushed["resource"] == list(RESOURCES)
    assert pushed["prompt"] == ["consent"] and pushed["ui_locales"] == ["de"]
    assert pushed["claims"] == [CLAIMS]
    assert pushed["state"] and pushed["code_challenge_method"] == ["S256"]


async def test_resource_goes_with_the_code_and_refresh_grants(
    kit_factory: Callable[..., OIDCAuth], op: FakeOP
) -> None:
    """RFC 8707 2.2; ``audience`` is an authorization-request parameter only."""
    kit = kit_factory(**EXTRAS)
    result = await login(kit, op)
    session = await kit._sessions.create(result.tokens, result.claims, result.provider_sid)
    await kit._tokens.refresh(session)

    [code] = token_forms(op, "authorization_code")
    [refresh] = token_forms(op, "refresh_token")
    for form in (code, refresh):
        assert form["resource"] == list(RESOURCES)
        assert "audience" not in form and "prompt" not in form


async def test_nothing_extra_is_sent_by_default(kit: OIDCAuth, op: FakeOP) -> None:
    query = query_of(await kit._flow.start("browser-1"))
    assert not {"audience", "resource", "prompt", "ui_locales", "claims"} & query.keys()
    await login(kit, op)
    assert "resource" not in token_forms(op, "authorization_code")[0]


async def test_a_step_up_prompt_replaces_the_configured_one(
    kit_factory: Callable[..., OIDCAuth],
) -> None:
    kit = kit_factory(**EXTRAS)
    query = query_of(await kit._flow.start("browser-1", prompt="login"))
    assert query["prompt"] == ["login"]


# -- the settings ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(KIT_OWNED | ELSEWHERE.keys()))
def test_a_parameter_the_kit_owns_or_sets_elsewhere_is_refused(name: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        make_config(auth_params={"ui_locales": "de", name: "attacker"})
    assert name in info.value.description
    assert info.value.actual == [name]


def test_every_refused_parameter_is_named_at_once() -> None:
    with pytest.raises(ConfigurationError) as info:
        make_config(auth_params={"state": "x", "nonce": "y", "scope": "z"})
    description = info.value.description
    assert "nonce, state: the kit sets them itself" in description
    assert "scope: use scopes (OIDC_SCOPES)" in description


@pytest.mark.parametrize(
    "params",
    [{"bad name": "x"}, {"": "x"}, {"prompt": "consent\r\nX-Injected: 1"}, {"prompt": 1}],
)
def test_malformed_auth_params_are_refused(params: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        make_config(auth_params=params)


@pytest.mark.parametrize(
    "resource",
    [("orca",), ("/orca",), ("https://orca.test/#frag",), ("https://orca.test/ x",), ("",)],
)
def test_a_resource_must_be_an_absolute_uri_without_fragment(resource: tuple[str, ...]) -> None:
    with pytest.raises(ConfigurationError) as info:
        make_config(resource=resource)
    assert "absolute URI without a fragment" in info.value.description


@pytest.mark.parametrize("audience", ["", "orca\napi"])
def test_a_blank_or_multiline_audience_is_refused(audience: str) -> None:
    with pytest.raises(ConfigurationError):
        make_config(audience=audience)


def env(**extra: str) -> dict[str, str]:
    base = {
        "OIDC_ISSUER": ISSUER,
        "OIDC_CLIENT_ID": CLIENT_ID,
        "APP_BASE_URL": APP,
        "SESSION_SECRET": SECRET,
    }
    return base | extra


def test_the_settings_come_from_the_environment() -> None:
    config = OIDCConfig.from_env(
        env(
            OIDC_AUDIENCE=AUDIENCE,
            OIDC_RESOURCE="https://orca.test/  urn:portx:orca",
            OIDC_AUTH_PARAMS="prompt=consent&ui_locales=de%20en&claims=" + CLAIMS,
        )
    )
    assert config.audience == AUDIENCE
    assert config.resource == RESOURCES
    assert dict(config.auth_params) == {
        "prompt": "consent",
        "ui_locales": "de en",
        "claims": CLAIMS,
    }
    params = {"prompt": "consent", "ui_locales": "de en", "claims": CLAIMS}
    assert hash(config.auth_params) == hash(make_config(auth_params=params).auth_params)
    hash(config)  # frozen settings stay hashable


@pytest.mark.parametrize("raw", ["prompt", "prompt=consent&prompt=login", "state=x"])
def test_a_bad_auth_params_variable_is_refused(raw: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        OIDCConfig.from_env(env(OIDC_AUTH_PARAMS=raw))
    assert "OIDC_AUTH_PARAMS" in info.value.description or "auth_params" in info.value.description


def test_auth_params_are_immutable_and_the_config_stays_hashable() -> None:
    source = {"prompt": "consent"}
    config = make_config(auth_params=source)
    source["prompt"] = "none"  # the caller's dict changing later changes nothing
    assert dict(config.auth_params) == {"prompt": "consent"}
    assert not hasattr(config.auth_params, "__setitem__")
    assert hash(config) == hash(make_config(auth_params={"prompt": "consent"}))
    assert config == make_config(auth_params={"prompt": "consent"})


# -- the login URL -----------------------------------------------------------------------------


@pytest.fixture
async def browser(kit: OIDCAuth) -> AsyncIterator[httpx.AsyncClient]:
    app = Starlette(routes=[Mount("/auth", routes=kit.routes)], middleware=[kit.middleware])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=APP) as client:
        yield client


async def test_the_allowlisted_login_url_parameters_pass(browser: httpx.AsyncClient) -> None:
    params = {
        "login_hint": "alice@example.com",
        "ui_locales": "de-CH de en",
        "claims_locales": "de",
        "display": "popup",
    }
    response = await browser.get("/auth/login", params=params)
    assert response.status_code == 303
    query = query_of(response.headers["location"])
    assert {name: query[name] for name in params} == {k: [v] for k, v in params.items()}


async def test_other_login_url_parameters_are_ignored(browser: httpx.AsyncClient) -> None:
    hostile = {
        "state": "attacker",
        "nonce": "attacker",
        "redirect_uri": "https://evil.test/cb",
        "code_challenge": "attacker",
        "client_id": "other",
        "id_token_hint": "eyJ.x.y",
        "audience": "https://evil.test",
        "resource": "https://evil.test",
        "claims": "{}",
        "utm_source": "newsletter",
    }
    response = await browser.get("/auth/login", params=hostile)
    assert response.status_code == 303
    query = query_of(response.headers["location"])
    for name in ("id_token_hint", "audience", "resource", "claims", "utm_source"):
        assert name not in query
    for name in ("state", "nonce", "code_challenge"):
        assert query[name] != ["attacker"]
    assert query["redirect_uri"] == [f"{APP}/auth/callback"]
    assert query["client_id"] == [CLIENT_ID]


async def test_the_login_url_wins_over_the_configured_value(
    kit_factory: Callable[..., OIDCAuth],
) -> None:
    kit = kit_factory(auth_params={"ui_locales": "de"})
    query = query_of(await kit._flow.start("b", login_params={"ui_locales": "fr"}))
    assert query["ui_locales"] == ["fr"]


BAD_LOGIN_PARAMS = {
    "control character": {"login_hint": "alice\r\nSet-Cookie: x=1"},
    "NUL": {"login_hint": "alice\x00"},
    "too long": {"login_hint": "a" * 257},
    "locale with markup": {"ui_locales": "de<script>"},
    "double space": {"ui_locales": "de  en"},
    "claims locale with a quote": {"claims_locales": "de'"},
    "unknown display": {"display": "fullscreen"},
    "repeated": {"login_hint": ["alice", "bob"]},
}


@pytest.mark.parametrize("params", list(BAD_LOGIN_PARAMS.values()), ids=list(BAD_LOGIN_PARAMS))
async def test_a_bad_login_url_parameter_is_a_400(
    browser: httpx.AsyncClient, op: FakeOP, params: dict[str, Any]
) -> None:
    response = await browser.get(
        "/auth/login", params=params, headers={"Accept": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_login_request"
    assert "set-cookie" not in response.headers  # nothing stored, no login started
    assert "alice" not in response.text  # the value is not echoed
    assert op.calls["/.well-known/openid-configuration"] == 0


async def test_the_flow_refuses_other_parameters_from_code(kit: OIDCAuth) -> None:
    """``LoginFlow.start`` enforces the allowlist itself, whoever calls it."""
    with pytest.raises(InvalidLoginRequest):
        await kit._flow.start("b", login_params={"state": "attacker"})
    with pytest.raises(InvalidLoginRequest):
        await kit._flow.start("b", login_params={"login_hint": "x\n"})
