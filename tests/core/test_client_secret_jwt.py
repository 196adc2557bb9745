"""``client_secret_jwt`` (RFC 7523 2.2, OpenID Connect Core 9) and the
``token_endpoint_auth_method`` setting (``OIDC_TOKEN_AUTH_METHOD``): the assertion the kit
sends, which method is in force, the settings refused at start-up, a provider that does not
offer the method (refused at first use, and by the doctor)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from joserfc import jws, jwt
from joserfc.errors import BadSignatureError
from joserfc.jwk import ECKey, OctKey

from oidc_kit import ConfigurationError, DiscoveryError, OIDCConfig
from oidc_kit._client_auth import (
    ClientAuth,
    ClientSecretBasic,
    ClientSecretJwt,
    ClientSecretPost,
    PrivateKeyJwt,
    PublicClient,
    Unsupported,
    client_authentication,
)
from oidc_kit._doctor import DoctorSettings
from oidc_kit._doctor.client import check_client_credentials, check_token_auth_methods
from oidc_kit._doctor.endpoints import Endpoints
from oidc_kit._doctor.settings import kit_config
from oidc_kit._dpop import DPoPKey, DPoPNonces
from oidc_kit._provider import ProviderMetadata, _parse_metadata
from oidc_kit._tokens import post_authenticated, revoke_token
from tests.conftest import make_config
from tests.fake_op import CLIENT_ID, ISSUER

SECRET = "a-client-secret-of-32-bytes-or-more"  # RFC 7518 3.2: 256 bits for HS256
TOKEN = f"{ISSUER}/token"
NOW = 1_800_000_000
EC_JWK = ECKey.generate_key("P-256", private=True).as_dict(private=True)


def _form(request: httpx.Request) -> dict[str, str]:
    return dict(parse_qsl(request.content.decode(), keep_blank_values=True))


def _config(**overrides: Any) -> OIDCConfig:
    values: dict[str, Any] = {"client_secret": SECRET, "token_endpoint_auth_method": None}
    return make_config(**(values | overrides))


def _meta(config: OIDCConfig, **discovery: Any) -> ProviderMetadata:
    doc = _discovery()
    doc.update(discovery)
    return _parse_metadata({k: v for k, v in doc.items() if v is not None}, config)


def _discovery() -> dict[str, Any]:
    return {
        "issuer": ISSUER,
        "authorization_endpoint": f"{ISSUER}/authorize",
        "token_endpoint": TOKEN,
        "jwks_uri": f"{ISSUER}/jwks",
        "revocation_endpoint": f"{ISSUER}/revoke",
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_jwt"],
    }


# --- the assertion ----------------------------------------------------------------------------


def test_the_assertion_is_hs256_keyed_by_the_secret_with_the_private_key_jwt_claims() -> None:
    """Header ``HS256``/``JWT`` (no ``kid``: the key is the secret); ``iss`` = ``sub`` = the
    client, ``aud`` the issuer, a ``jti``, ``exp`` 60 s after ``iat``; the secret never sent."""
    sent = ClientAuth(ClientSecretJwt(CLIENT_ID, SECRET, ISSUER), lambda: NOW).authenticate(
        httpx.Request("POST", TOKEN, data={"grant_type": "client_credentials"})
    )
    form = _form(sent)
    assert form.keys() == {"grant_type", "client_id", "client_assertion_type", "client_assertion"}
    assert form["client_id"] == CLIENT_ID
    assert form["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    assert "authorization" not in sent.headers
    assert SECRET not in sent.content.decode()
    token = form["client_assertion"]
    assert jws.extract_compact(token.encode()).protected == {"alg": "HS256", "typ": "JWT"}
    claims = jwt.decode(token, OctKey.import_key(SECRET.encode()), algorithms=["HS256"]).claims
    assert claims == {
        "iss": CLIENT_ID,
        "sub": CLIENT_ID,
        "aud": ISSUER,
        "jti": claims["jti"],
        "iat": NOW,
        "exp": NOW + 60,
    }
    assert isinstance(claims["jti"], str) and len(claims["jti"]) >= 32
    with pytest.raises(BadSignatureError):  # keyed by this secret, not another
        jwt.decode(token, OctKey.import_key(b"x" * 40), algorithms=["HS256"])


def test_every_request_sent_gets_a_new_assertion() -> None:
    auth = ClientAuth(ClientSecretJwt(CLIENT_ID, SECRET, ISSUER), lambda: NOW)
    request = httpx.Request("POST", TOKEN, data={"grant_type": "client_credentials"})
    tokens = [_form(auth.authenticate(request))["client_assertion"] for _ in range(3)]
    jtis = {jwt.decode(t, OctKey.import_key(SECRET.encode())).claims["jti"] for t in tokens}
    assert len(jtis) == 3
    assert request.content == b"grant_type=client_credentials"  # the template is kept


async def test_a_retry_sends_a_new_assertion() -> None:
    """The DPoP nonce retry (``post_authenticated``) is a new request: a new ``jti``, as the
    provider refuses a replayed one."""
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if len(seen) == 1:
            return httpx.Response(
                400, headers={"DPoP-Nonce": "n-1"}, json={"error": "use_dpop_nonce"}
            )
        return httpx.Response(200, json={"ok": True})

    config = _config(token_endpoint_auth_method="client_secret_jwt")
    async with httpx.AsyncClient(transport=httpx.MockTransport(handle)) as http:
        response = await post_authenticated(
            http,
            config,
            _meta(config),
            TOKEN,
            {"grant_type": "refresh_token", "refresh_token": "rt"},
            NOW,
            what="token endpoint",
            dpop=DPoPKey.generate(),
            nonces=DPoPNonces(),
        )
    assert response.status_code == 200 and len(seen) == 2
    key = OctKey.import_key(SECRET.encode())
    first, retry = (jwt.decode(_form(r)["client_assertion"], key).claims for r in seen)
    assert first["jti"] != retry["jti"]


# --- which method is in force --------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"token_endpoint_auth_method": "client_secret_jwt"}, ClientSecretJwt),
        (
            {"token_endpoint_auth_method": "client_secret_basic", "client_key": EC_JWK},
            ClientSecretBasic,
        ),
        ({"token_endpoint_auth_method": "client_secret_post"}, ClientSecretPost),
        ({"token_endpoint_auth_method": "private_key_jwt", "client_key": EC_JWK}, PrivateKeyJwt),
        ({"token_endpoint_auth_method": "none", "client_secret": None}, PublicClient),
        # Unset: the automatic choice, as before the setting existed.
        ({}, ClientSecretBasic),
        ({"client_key": EC_JWK}, PrivateKeyJwt),
        ({"client_secret": None}, PublicClient),
    ],
)
def test_the_configured_method_is_used_exactly(settings: dict[str, Any], expected: type) -> None:
    overrides = {k: json.dumps(v) if k == "client_key" else v for k, v in settings.items()}
    advertised = [
        "client_secret_basic",
        "client_secret_post",
        "client_secret_jwt",
        "private_key_jwt",
        "none",
    ]
    config = _config(**overrides)
    chosen = client_authentication(
        config, _meta(config, token_endpoint_auth_methods_supported=advertised)
    )
    assert type(chosen) is expected
    assert chosen.method == (settings.get("token_endpoint_auth_method") or chosen.method)


def test_client_secret_jwt_is_never_the_automatic_choice() -> None:
    config = _config()
    meta = _meta(config, token_endpoint_auth_methods_supported=["client_secret_jwt"])
    assert client_authentication(config, meta).method == "client_secret_basic"


# --- refused at start-up ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "says"),
    [
        ({"token_endpoint_auth_method": "client_secret_jwt", "client_secret": "short"}, "32 bytes"),
        (
            {"token_endpoint_auth_method": "client_secret_jwt", "client_secret": None},
            "needs client_secret",
        ),
        (
            {"token_endpoint_auth_method": "client_secret_basic", "client_secret": None},
            "needs client_secret",
        ),
        ({"token_endpoint_auth_method": "private_key_jwt"}, "needs client_key"),
        ({"token_endpoint_auth_method": "none"}, "public client"),
        (
            {"token_endpoint_auth_method": "none", "client_secret": None, "client_key": EC_JWK},
            "public client",
        ),
        ({"token_endpoint_auth_method": "client_secret"}, "not a client authentication method"),
        ({"token_endpoint_auth_method": "tls_client_auth"}, "OIDC_CLIENT_CERT"),
        ({"token_endpoint_auth_method": "self_signed_tls_client_auth"}, "OIDC_CLIENT_CERT"),
        (
            {
                "token_endpoint_auth_method": "client_secret_jwt",
                "profile": "fapi2",
                "client_key": EC_JWK,
            },
            "contradicts profile=fapi2",
        ),
        (
            {
                "token_endpoint_auth_method": "client_secret_basic",
                "profile": "fapi2",
                "client_key": EC_JWK,
            },
            "contradicts profile=fapi2",
        ),
    ],
)
def test_a_method_the_client_cannot_use_is_refused(settings: dict[str, Any], says: str) -> None:
    overrides = {k: json.dumps(v) if k == "client_key" else v for k, v in settings.items()}
    with pytest.raises(ConfigurationError, match=says) as caught:
        _config(**overrides)
    assert "OIDC_TOKEN_AUTH_METHOD" in caught.value.description


def test_fapi2_takes_private_key_jwt_set_or_unset() -> None:
    key = json.dumps(EC_JWK)
    for method in (None, "private_key_jwt"):
        config = _config(profile="fapi2", client_key=key, token_endpoint_auth_method=method)
        assert client_authentication(config, None).method == "private_key_jwt"


def test_the_variable_sets_it() -> None:
    env = {
        "OIDC_ISSUER": ISSUER,
        "OIDC_CLIENT_ID": CLIENT_ID,
        "OIDC_CLIENT_SECRET": SECRET,
        "OIDC_TOKEN_AUTH_METHOD": "client_secret_jwt",
        "APP_BASE_URL": "https://app.test",
        "SESSION_SECRET": "s" * 40,
    }
    config = OIDCConfig.from_env(env)
    assert config.token_endpoint_auth_method == "client_secret_jwt"
    assert client_authentication(config, None).method == "client_secret_jwt"
    with pytest.raises(ConfigurationError, match="OIDC_TOKEN_AUTH_METHOD"):
        OIDCConfig.from_env({**env, "OIDC_TOKEN_AUTH_METHOD": "basic"})


# --- a provider that does not offer it: refused at first use ------------------------------


@pytest.mark.parametrize(
    ("discovery", "says"),
    [
        ({"token_endpoint_auth_methods_supported": ["client_secret_basic"]}, "does not offer"),
        ({"token_endpoint_auth_signing_alg_values_supported": ["PS256", "ES256"]}, "HS256"),
    ],
)
async def test_a_method_the_provider_does_not_offer_fails_the_request_unsent(
    discovery: dict[str, Any], says: str
) -> None:
    """The token request fails with ``unsupported_auth_method`` (a 502, not a crash) before
    anything is sent; revocation, best effort, returns False (logout goes on)."""
    config = _config(token_endpoint_auth_method="client_secret_jwt")
    meta = _meta(config, **discovery)
    sent: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handle)) as http:
        with pytest.raises(DiscoveryError, match=says) as caught:
            await post_authenticated(
                http, config, meta, TOKEN, {"grant_type": "refresh_token"}, NOW, what="token"
            )
        assert await revoke_token(http, config, meta, "rt", "refresh_token", NOW) is False
    assert caught.value.code == "unsupported_auth_method" and caught.value.status == 502
    assert "OIDC_TOKEN_AUTH_METHOD" in caught.value.description
    assert sent == []


def test_without_the_lists_the_configured_method_is_trusted() -> None:
    config = _config(token_endpoint_auth_method="client_secret_post")
    meta = _meta(config, token_endpoint_auth_methods_supported=None)
    assert isinstance(client_authentication(config, meta), ClientSecretPost)
    assert isinstance(client_authentication(config, None), ClientSecretPost)
    unsupported = client_authentication(
        config, _meta(config, token_endpoint_auth_methods_supported=["client_secret_basic"])
    )
    assert isinstance(unsupported, Unsupported)


# --- the doctor ---------------------------------------------------------------------------


def _doctor(doc_extra: dict[str, Any], **settings: Any) -> tuple[str, str]:
    values: dict[str, Any] = {"issuer": ISSUER, "client_id": CLIENT_ID, "client_secret": SECRET}
    check = check_token_auth_methods(
        _discovery() | doc_extra, DoctorSettings(**(values | settings))
    )
    return check.status, check.detail


def test_the_doctor_reports_the_method_in_force() -> None:
    assert _doctor({}) == ("ok", "the kit will use client_secret_basic")
    set_jwt = {"token_endpoint_auth_method": "client_secret_jwt"}
    assert _doctor({}, **set_jwt) == (
        "ok",
        "the kit will use client_secret_jwt (OIDC_TOKEN_AUTH_METHOD)",
    )


@pytest.mark.parametrize(
    ("doc", "settings", "says"),
    [
        (
            {"token_endpoint_auth_methods_supported": ["client_secret_basic"]},
            {"token_endpoint_auth_method": "client_secret_jwt"},
            "does not offer client_secret_jwt",
        ),
        (
            {"token_endpoint_auth_signing_alg_values_supported": ["RS256"]},
            {"token_endpoint_auth_method": "client_secret_jwt"},
            "HS256",
        ),
        (
            {},
            {"token_endpoint_auth_method": "client_secret_jwt", "client_secret": "short"},
            "32 bytes",
        ),
        ({}, {"token_endpoint_auth_method": "client_secret_jwt", "fapi2": True}, "fapi2"),
        ({}, {"token_endpoint_auth_method": "tls_client_auth"}, "OIDC_CLIENT_CERT"),
    ],
)
def test_the_doctor_flags_a_method_that_cannot_work(
    doc: dict[str, Any], settings: dict[str, Any], says: str
) -> None:
    status, detail = _doctor(doc, **settings)
    assert status == "fail" and says in detail


async def test_the_doctor_does_not_attempt_a_grant_the_provider_would_refuse() -> None:
    settings = DoctorSettings(
        issuer=ISSUER,
        client_id=CLIENT_ID,
        client_secret=SECRET,
        client_credentials=True,
        token_endpoint_auth_method="client_secret_jwt",
    )
    config = kit_config(settings)
    meta = _meta(config, token_endpoint_auth_methods_supported=["client_secret_basic"])
    sent: list[httpx.Request] = []
    transport = httpx.MockTransport(lambda r: sent.append(r) or httpx.Response(500))
    async with httpx.AsyncClient(transport=transport) as http:
        check = await check_client_credentials(http, settings, Endpoints(config, meta), lambda: NOW)
    assert check.status == "skip" and "does not offer client_secret_jwt" in check.detail
    assert sent == []
