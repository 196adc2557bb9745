"""RFC 8414 metadata as a second source of endpoints, and the endpoint settings (issue 13, 3).

The fake provider publishes no ``revocation_endpoint`` in OpenID discovery; :class:`SecondSource`
adds its ``/.well-known/oauth-authorization-server`` document, which does, and a revocation
endpoint found only there.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from oidc_kit import ConfigurationError, MemoryStore, OIDCConfig
from oidc_kit._rfc8414 import fetch_oauth_metadata, oauth_metadata_url, read_oauth_metadata
from oidc_kit.starlette import OIDCAuth
from tests.conftest import SECRET, Clock, make_config
from tests.fake_op import CLIENT_ID, DROP, ISSUER, FakeOP

APP = "https://app.test"
WELL_KNOWN = "/.well-known/oauth-authorization-server"
RFC8414_REVOKE = f"{ISSUER}/oauth2/revoke"
CONFIGURED_REVOKE = f"{ISSUER}/configured/revoke"


class SecondSource:
    """The fake provider, plus RFC 8414 metadata (``doc``; ``None``: 404) and the revocation
    endpoints it may name."""

    def __init__(self, op: FakeOP) -> None:
        self.op = op
        self.doc: dict[str, Any] | None = {
            "issuer": ISSUER,
            "authorization_endpoint": f"{ISSUER}/authorize",
            "token_endpoint": f"{ISSUER}/token",
            "revocation_endpoint": RFC8414_REVOKE,
            "introspection_endpoint": f"{ISSUER}/oauth2/introspect",
        }
        self.answer: Callable[[], httpx.Response] | None = None  # replaces the document
        self.requests: list[httpx.Request] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path.startswith(WELL_KNOWN):
            if self.answer is not None:
                return self.answer()
            return httpx.Response(404) if self.doc is None else httpx.Response(200, json=self.doc)
        if request.url.path in ("/oauth2/revoke", "/configured/revoke"):
            return httpx.Response(200)
        return self.op.handle(request)

    def at(self, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path == path]


@pytest.fixture
def source(op: FakeOP) -> SecondSource:
    op.discovery["revocation_endpoint"] = DROP
    return SecondSource(op)


@pytest.fixture
def transport(source: SecondSource) -> httpx.AsyncBaseTransport:
    """Overrides conftest's: kits talk to the provider through ``source``."""
    return httpx.MockTransport(source.handle)


async def login_and_logout(kit: OIDCAuth, op: FakeOP) -> httpx.Response:
    """A browser logs in at the fake provider, then logs out: the logout's answer."""
    app = Starlette(routes=[Mount("/auth", routes=kit.routes)], middleware=[kit.middleware])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=APP) as browser:
        start = await browser.get("/auth/login")
        callback = await browser.get(
            "/auth/callback", params=op.authorize(start.headers["location"])
        )
        assert callback.status_code == 303, callback.text
        headers = {"Origin": APP, "Sec-Fetch-Site": "same-origin"}
        return await browser.post("/auth/logout", headers=headers)


def hints(requests: list[httpx.Request]) -> list[str]:
    return [parse_qs(r.content.decode())["token_type_hint"][0] for r in requests]


# -- where the document is -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("issuer", "url"),
    [
        ("https://op.test", "https://op.test/.well-known/oauth-authorization-server"),
        ("https://op.test/", "https://op.test/.well-known/oauth-authorization-server"),
        ("https://op.test/tenant", "https://op.test/.well-known/oauth-authorization-server/tenant"),
        (
            "https://op.test:8443/oauth2/default/",
            "https://op.test:8443/.well-known/oauth-authorization-server/oauth2/default",
        ),
    ],
)
def test_the_well_known_suffix_goes_before_the_issuers_path(issuer: str, url: str) -> None:
    """RFC 8414 3.1: inserted between the host and the path, the path's final ``/`` removed."""
    assert oauth_metadata_url(issuer) == url


async def test_an_issuer_with_a_path_is_looked_up_at_the_inserted_path(clock: Clock) -> None:
    issuer = "https://op.test/tenant"
    seen: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        if request.url.path == "/tenant/.well-known/openid-configuration":
            doc = FakeOP().metadata() | {"issuer": issuer}
            del doc["revocation_endpoint"]
            return httpx.Response(200, json=doc)
        if request.url.path == WELL_KNOWN + "/tenant":
            return httpx.Response(
                200, json={"issuer": issuer, "revocation_endpoint": RFC8414_REVOKE}
            )
        return httpx.Response(404)

    http = httpx.AsyncClient(transport=httpx.MockTransport(handle))
    kit = OIDCAuth(make_config(issuer=issuer), http_client=http, store=MemoryStore(), clock=clock)
    meta = await kit._provider.metadata()
    await http.aclose()
    assert seen == ["/tenant/.well-known/openid-configuration", WELL_KNOWN + "/tenant"]
    assert meta.revocation_endpoint == RFC8414_REVOKE


# -- the second source at work -----------------------------------------------------------------


async def test_logout_revokes_at_the_endpoint_only_rfc8414_names(
    kit: OIDCAuth, op: FakeOP, source: SecondSource
) -> None:
    meta = await kit._provider.metadata()
    assert meta.revocation_endpoint == RFC8414_REVOKE
    assert meta.introspection_endpoint == f"{ISSUER}/oauth2/introspect"
    assert meta.endpoint_sources["revocation_endpoint"] == "oauth-authorization-server"
    assert meta.endpoint_sources["introspection_endpoint"] == "oauth-authorization-server"
    assert meta.endpoint_sources["token_endpoint"] == "openid-configuration"

    response = await login_and_logout(kit, op)

    assert response.status_code == 303
    assert hints(source.at("/oauth2/revoke")) == ["refresh_token", "access_token"]
    assert len(source.at(WELL_KNOWN)) == 1  # once per discovery


async def test_rfc8414_metadata_naming_another_issuer_is_ignored(
    kit: OIDCAuth, op: FakeOP, source: SecondSource, caplog: pytest.LogCaptureFixture
) -> None:
    assert source.doc is not None
    source.doc["issuer"] = "https://evil.test"
    caplog.set_level(logging.INFO, logger="oidc_kit")

    meta = await kit._provider.metadata()

    assert meta.revocation_endpoint is None and meta.introspection_endpoint is None
    assert "revocation_endpoint" not in meta.endpoint_sources
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "'https://evil.test' is not the configured" in warning.getMessage()
    await login_and_logout(kit, op)
    assert source.at("/oauth2/revoke") == []


async def test_rfc8414_metadata_naming_the_issuer_with_a_slash_is_ignored(
    kit: OIDCAuth, source: SecondSource
) -> None:
    assert source.doc is not None
    source.doc["issuer"] = ISSUER + "/"  # exactly the configured issuer, as for discovery
    assert (await kit._provider.metadata()).revocation_endpoint is None


async def test_an_unusable_rfc8414_endpoint_is_ignored_not_fatal(
    kit: OIDCAuth, source: SecondSource, caplog: pytest.LogCaptureFixture
) -> None:
    assert source.doc is not None
    source.doc["revocation_endpoint"] = "http://op.test/revoke"  # not https, not loopback
    meta = await kit._provider.metadata()
    assert meta.revocation_endpoint is None
    assert meta.token_endpoint == f"{ISSUER}/token"  # discovery itself still works
    assert "not https" in caplog.text


async def test_an_unusable_introspection_endpoint_in_discovery_is_ignored(
    kit: OIDCAuth, op: FakeOP, caplog: pytest.LogCaptureFixture
) -> None:
    """The kit never calls it: a plain-http one must not fail every login."""
    op.discovery["revocation_endpoint"] = f"{ISSUER}/revoke"
    op.discovery["introspection_endpoint"] = "http://op.test/introspect"
    meta = await kit._provider.metadata()
    assert meta.introspection_endpoint is None
    assert "ignoring the discovery document's introspection_endpoint" in caplog.text


BROKEN = {
    "404": lambda: httpx.Response(404),
    "500": lambda: httpx.Response(500),
    "not JSON": lambda: httpx.Response(200, text="<html>"),
    "not an object": lambda: httpx.Response(200, json=["issuer"]),
    "too large": lambda: httpx.Response(200, json={"x": "y" * (2 * 1024 * 1024)}),
}


@pytest.mark.parametrize("answer", list(BROKEN.values()), ids=list(BROKEN))
async def test_a_missing_or_broken_rfc8414_document_is_not_an_error(
    kit: OIDCAuth,
    source: SecondSource,
    caplog: pytest.LogCaptureFixture,
    answer: Callable[[], httpx.Response],
) -> None:
    source.answer = answer
    caplog.set_level(logging.DEBUG, logger="oidc_kit")
    meta = await kit._provider.metadata()
    assert meta.revocation_endpoint is None
    assert "no RFC 8414 metadata at" in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_an_unreachable_rfc8414_document_is_not_an_error(
    kit: OIDCAuth, source: SecondSource
) -> None:
    def unreachable() -> httpx.Response:
        raise httpx.ConnectError("refused")

    source.answer = unreachable
    assert (await kit._provider.metadata()).revocation_endpoint is None


async def test_no_time_left_means_no_request(source: SecondSource) -> None:
    """Discovery and RFC 8414 share one ``http_timeout``: with none left, nothing is sent."""
    async with httpx.AsyncClient(transport=httpx.MockTransport(source.handle)) as http:
        assert await fetch_oauth_metadata(http, make_config(), 0) is None
    assert source.requests == []


async def test_the_shared_reader_says_why_and_logs_nothing(
    source: SecondSource, caplog: pytest.LogCaptureFixture
) -> None:
    """``read_oauth_metadata`` is the reader the kit and ``oidc-kit doctor`` share (the kit's
    ``fetch_oauth_metadata`` logs its outcome, the doctor reports it): the document only when
    it names the issuer exactly, else why not."""
    caplog.set_level(logging.DEBUG, logger="oidc_kit")
    assert source.doc is not None
    async with httpx.AsyncClient(transport=httpx.MockTransport(source.handle)) as http:
        read = await read_oauth_metadata(http, make_config(), 5)
        assert (read.url, read.doc, read.problem) == (ISSUER + WELL_KNOWN, source.doc, None)
        source.doc["issuer"] = ISSUER + "/"
        read = await read_oauth_metadata(http, make_config(), 5)
        assert (read.doc, read.foreign, read.foreign_issuer) == (None, True, ISSUER + "/")
        source.answer = lambda: httpx.Response(404)
        read = await read_oauth_metadata(http, make_config(), 5)
        assert (read.doc, read.foreign, read.problem) == (None, False, "HTTP 404")
    assert caplog.records == []


async def test_rfc8414_is_read_once_per_discovery(
    kit: OIDCAuth, source: SecondSource, clock: Clock
) -> None:
    await kit._provider.metadata()
    await kit._provider.metadata()
    assert len(source.at(WELL_KNOWN)) == 1
    clock.advance(kit.config.discovery_ttl + 1)
    await kit._provider.metadata()
    assert len(source.at(WELL_KNOWN)) == 2


async def test_rfc8414_is_not_read_when_discovery_has_a_revocation_endpoint(
    kit: OIDCAuth, op: FakeOP, source: SecondSource
) -> None:
    op.discovery["revocation_endpoint"] = f"{ISSUER}/revoke"
    meta = await kit._provider.metadata()
    assert meta.revocation_endpoint == f"{ISSUER}/revoke"
    assert meta.endpoint_sources["revocation_endpoint"] == "openid-configuration"
    assert meta.introspection_endpoint is None  # the kit does not call it: not worth a fetch
    assert source.at(WELL_KNOWN) == []


# -- the settings ------------------------------------------------------------------------------


async def test_the_configured_revocation_endpoint_wins(
    kit_factory: Callable[..., OIDCAuth], op: FakeOP, source: SecondSource
) -> None:
    op.discovery["revocation_endpoint"] = f"{ISSUER}/revoke"  # discovery has one too
    kit = kit_factory(
        revocation_endpoint=CONFIGURED_REVOKE, introspection_endpoint=f"{ISSUER}/introspect"
    )
    meta = await kit._provider.metadata()
    assert meta.revocation_endpoint == CONFIGURED_REVOKE
    assert meta.introspection_endpoint == f"{ISSUER}/introspect"
    assert meta.endpoint_sources["revocation_endpoint"] == "configuration"
    assert meta.endpoint_sources["introspection_endpoint"] == "configuration"

    await login_and_logout(kit, op)

    assert hints(source.at("/configured/revoke")) == ["refresh_token", "access_token"]
    assert op.calls["/revoke"] == 0
    assert source.at(WELL_KNOWN) == []


@pytest.mark.parametrize(
    ("url", "insecure"),
    [
        ("http://op.test/revoke", False),
        ("http://op.test/revoke", True),  # the switch covers loopback hosts only
        ("http://127.0.0.1:9000/revoke", False),
        ("/revoke", False),
        ("https://[::1/revoke", False),
        ("ftp://op.test/revoke", False),
    ],
)
@pytest.mark.parametrize("name", ["revocation_endpoint", "introspection_endpoint"])
def test_configured_endpoints_are_checked_like_discovered_ones(
    name: str, url: str, insecure: bool
) -> None:
    with pytest.raises(ConfigurationError) as info:
        make_config(**{name: url, "allow_insecure_http": insecure})
    assert name in info.value.description


def test_a_loopback_http_endpoint_is_allowed_with_the_switch() -> None:
    config = make_config(
        revocation_endpoint="http://127.0.0.1:9000/revoke", allow_insecure_http=True
    )
    assert config.revocation_endpoint == "http://127.0.0.1:9000/revoke"


def test_the_endpoints_come_from_the_environment() -> None:
    env = {
        "OIDC_ISSUER": ISSUER,
        "OIDC_CLIENT_ID": CLIENT_ID,
        "APP_BASE_URL": APP,
        "SESSION_SECRET": SECRET,
        "OIDC_REVOCATION_ENDPOINT": CONFIGURED_REVOKE,
        "OIDC_INTROSPECTION_ENDPOINT": f"{ISSUER}/introspect",
    }
    config = OIDCConfig.from_env(env)
    assert config.revocation_endpoint == CONFIGURED_REVOKE
    assert config.introspection_endpoint == f"{ISSUER}/introspect"
