"""Mutual TLS (RFC 8705) in the core: the certificate settings and what they refuse, the
sender constraint the profile computes, the metadata's ``mtls_endpoint_aliases``, the
``tls_client_auth`` strategies, the kit's HTTP client, and the doctor's check. The real-TLS
flows are in tests/sandbox/test_sandbox_mtls.py."""

from __future__ import annotations

import datetime
import ssl
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from joserfc import jwk

from oidc_kit import ProviderConfig
from oidc_kit._client_auth import TlsClientAuth, client_authentication
from oidc_kit._doctor.mtls import check_mtls
from oidc_kit._doctor.runner import diagnose
from oidc_kit._doctor.settings import DoctorSettings
from oidc_kit._errors import ConfigurationError, DiscoveryError
from oidc_kit._kit_parts import check_http_client_choice, provider_http_client
from oidc_kit._mtls import cert_thumbprint
from oidc_kit._provider import _parse_metadata
from oidc_kit.testing import Issued, TestCA, self_signed_client

ISSUER = "https://op.test"
CA = TestCA()
CERT = CA.client("app")
OTHER = CA.client("other")
NOW = datetime.datetime.now(datetime.UTC)
EXPIRED = CA.client(
    "old", not_before=NOW - datetime.timedelta(days=10), not_after=NOW - datetime.timedelta(days=1)
)
NOT_YET = CA.client(
    "new", not_before=NOW + datetime.timedelta(days=1), not_after=NOW + datetime.timedelta(days=9)
)
SOON = CA.client("soon", not_after=NOW + datetime.timedelta(days=5))
#: Valid for a year: no expiry warning from the doctor.
LASTING = CA.client("app", not_after=NOW + datetime.timedelta(days=365))
CLIENT_KEY = jwk.ECKey.generate_key("P-256").as_pem(private=True).decode()


def config(issued: Issued | None = CERT, **more: Any) -> ProviderConfig:
    certs = (
        {}
        if issued is None
        else {"client_cert": issued.cert_pem, "client_cert_key": issued.key_pem}
    )
    return ProviderConfig(**({"issuer": ISSUER, "client_id": "app"} | certs | more))


# -- the settings ---------------------------------------------------------------------------


def test_a_pair_loads_from_pem_or_files_and_stays_out_of_repr(tmp_path: Path) -> None:
    cert_path, key_path = CERT.write(str(tmp_path), "client")
    for loaded in (config(), config(None, client_cert=cert_path, client_cert_key=key_path)):
        assert loaded.uses_mtls
        assert loaded.client_cert_thumbprint == cert_thumbprint(
            CERT.cert.public_bytes(serialization.Encoding.DER)
        )
        assert "PRIVATE" not in repr(loaded) and "CERTIFICATE" not in repr(loaded)
        assert isinstance(loaded.tls_context(), ssl.SSLContext)
    assert config(None).tls_context() is None and not config(None).uses_mtls


@pytest.mark.parametrize(
    ("more", "variable", "words"),
    [
        ({"client_cert_key": OTHER.key_pem}, "OIDC_CLIENT_CERT_KEY", "not the key"),
        (
            {"client_cert": EXPIRED.cert_pem, "client_cert_key": EXPIRED.key_pem},
            "OIDC_CLIENT_CERT",
            "validity",
        ),
        (
            {"client_cert": NOT_YET.cert_pem, "client_cert_key": NOT_YET.key_pem},
            "OIDC_CLIENT_CERT",
            "validity",
        ),
        ({"client_cert_key": None}, "OIDC_CLIENT_CERT_KEY", "both"),
        ({"client_cert": "/no/such/file.pem"}, "OIDC_CLIENT_CERT", "readable PEM file"),
        ({"client_cert_key": "-----BEGIN nonsense"}, "OIDC_CLIENT_CERT_KEY", "no unencrypted"),
        ({"client_cert": "-----BEGIN nonsense"}, "OIDC_CLIENT_CERT", "no PEM certificate"),
    ],
)
def test_a_bad_certificate_or_key_is_refused_at_load(
    more: dict[str, Any], variable: str, words: str
) -> None:
    with pytest.raises(ConfigurationError) as refused:
        config(**more)
    assert variable in str(refused.value) and words in str(refused.value)
    assert "PRIVATE KEY-----" not in str(refused.value)


def test_bound_tokens_need_a_certificate_and_exclude_dpop() -> None:
    with pytest.raises(ConfigurationError, match="OIDC_MTLS_BOUND_TOKENS"):
        config(None, mtls_bound_tokens=True)
    with pytest.raises(ConfigurationError, match="two sender constraints"):
        config(mtls_bound_tokens=True, dpop=True)


def test_under_fapi2_mtls_replaces_dpop_when_chosen() -> None:
    default = config(profile="fapi2", client_key=CLIENT_KEY)
    assert default.uses_dpop and not default.mtls_bound_tokens
    chosen = config(profile="fapi2", client_key=CLIENT_KEY, mtls_bound_tokens=True)
    assert not chosen.uses_dpop and chosen.mtls_bound_tokens
    assert chosen.dpop is None  # computed, never written
    # dpop=False is no contradiction when mTLS constrains the tokens, and is one otherwise.
    assert not config(
        profile="fapi2", client_key=CLIENT_KEY, mtls_bound_tokens=True, dpop=False
    ).uses_dpop
    with pytest.raises(ConfigurationError, match="contradicts profile=fapi2"):
        config(profile="fapi2", client_key=CLIENT_KEY, dpop=False)


def test_fapi2_takes_tls_client_auth_instead_of_a_key() -> None:
    loaded = config(
        profile="fapi2", token_endpoint_auth_method="tls_client_auth", mtls_bound_tokens=True
    )
    assert loaded.signing_key is None
    with pytest.raises(ConfigurationError, match="tls_client_auth"):
        config(None, profile="fapi2")


@pytest.mark.parametrize("method", ["tls_client_auth", "self_signed_tls_client_auth"])
def test_the_mtls_methods_need_a_certificate(method: str) -> None:
    with pytest.raises(ConfigurationError, match="OIDC_CLIENT_CERT"):
        config(None, token_endpoint_auth_method=method)
    assert config(token_endpoint_auth_method=method).token_endpoint_auth_method == method


def test_the_settings_come_from_the_environment(tmp_path: Path) -> None:
    cert_path, key_path = CERT.write(str(tmp_path), "client")
    loaded = ProviderConfig.from_env(
        {
            "OIDC_ISSUER": ISSUER,
            "OIDC_CLIENT_ID": "app",
            "OIDC_CLIENT_CERT": cert_path,
            "OIDC_CLIENT_CERT_KEY": key_path,
            "OIDC_MTLS_BOUND_TOKENS": "1",
        }
    )
    assert loaded.mtls_bound_tokens and loaded.uses_mtls


# -- the metadata's aliases -----------------------------------------------------------------


def doc(**more: Any) -> dict[str, Any]:
    return {
        "issuer": ISSUER,
        "authorization_endpoint": f"{ISSUER}/authorize",
        "token_endpoint": f"{ISSUER}/token",
        "jwks_uri": f"{ISSUER}/jwks",
        "userinfo_endpoint": f"{ISSUER}/userinfo",
        "revocation_endpoint": f"{ISSUER}/revoke",
        "pushed_authorization_request_endpoint": f"{ISSUER}/par",
        "mtls_endpoint_aliases": {
            "token_endpoint": "https://mtls.op.test/token",
            "revocation_endpoint": "https://mtls.op.test/revoke",
            "pushed_authorization_request_endpoint": "https://mtls.op.test/par",
            "userinfo_endpoint": "https://mtls.op.test/userinfo",
        },
        **more,
    }


def test_with_a_certificate_the_kit_calls_the_aliases() -> None:
    meta = _parse_metadata(doc(), config())
    assert meta.token_endpoint == "https://mtls.op.test/token"
    assert meta.par_endpoint == "https://mtls.op.test/par"
    assert meta.revocation_endpoint == "https://mtls.op.test/revoke"
    assert meta.userinfo_endpoint == "https://mtls.op.test/userinfo"
    assert meta.authorization_endpoint == f"{ISSUER}/authorize"  # the browser's: never aliased
    assert meta.endpoint_sources["token_endpoint"] == "mtls_endpoint_aliases"


def test_without_a_certificate_or_against_the_configuration_the_plain_endpoints_stay() -> None:
    plain = _parse_metadata(doc(), config(None, client_secret="s"))
    assert plain.token_endpoint == f"{ISSUER}/token"
    assert plain.mtls_endpoint_aliases["token_endpoint"] == "https://mtls.op.test/token"
    configured = _parse_metadata(doc(), config(revocation_endpoint="https://op.test/mine"))
    assert configured.revocation_endpoint == "https://op.test/mine"


@pytest.mark.parametrize(
    "aliases",
    [
        ["https://mtls.op.test/token"],
        {"token_endpoint": "http://mtls.op.test/token"},
        {"token_endpoint": 7},
    ],
)
def test_unusable_aliases_are_refused(aliases: Any) -> None:
    with pytest.raises(DiscoveryError, match="mtls_endpoint_aliases"):
        _parse_metadata(doc(mtls_endpoint_aliases=aliases), config())


# -- client authentication and the HTTP client ----------------------------------------------


@pytest.mark.parametrize("method", ["tls_client_auth", "self_signed_tls_client_auth"])
def test_tls_client_auth_sends_only_the_client_id(method: str) -> None:
    meta = _parse_metadata(doc(token_endpoint_auth_methods_supported=[method]), config())
    strategy = client_authentication(config(token_endpoint_auth_method=method), meta)
    assert isinstance(strategy, TlsClientAuth) and strategy.method == method
    form: dict[str, str] = {}
    assert strategy.apply(form, 0.0) is None
    assert form == {"client_id": "app"}


async def test_the_kits_client_presents_the_one_certificate() -> None:
    http = provider_http_client([config()], 5.0)
    await http.aclose()
    plain = provider_http_client([config(None, client_secret="s")], 5.0)
    await plain.aclose()
    with pytest.raises(ConfigurationError, match="different client certificates"):
        provider_http_client([config(), config(OTHER, issuer="https://op2.test")], 5.0)
    with pytest.raises(ConfigurationError, match="leave http_client out"):
        check_http_client_choice([config()], httpx.AsyncClient())
    check_http_client_choice([config(None, client_secret="s")], httpx.AsyncClient())


# -- the doctor ------------------------------------------------------------------------------


def doctor(issued: Issued | None = LASTING, **more: Any) -> DoctorSettings:
    certs = (
        {}
        if issued is None
        else {"client_cert": issued.cert_pem, "client_cert_key": issued.key_pem}
    )
    return DoctorSettings(issuer=ISSUER, client_id="app", **(certs | more))


def test_the_doctor_checks_the_pair_the_aliases_and_bound_tokens() -> None:
    now = NOW.timestamp()
    bound_doc = doc(tls_client_certificate_bound_access_tokens=True)
    assert check_mtls(bound_doc, doctor(mtls_bound_tokens=True), now).status == "ok"
    assert check_mtls(doc(), doctor(None), now).status == "skip"
    mismatch = check_mtls(doc(), doctor(client_cert_key=OTHER.key_pem), now)
    assert OTHER.key_pem not in mismatch.detail
    assert mismatch.status == "fail" and "not the key" in mismatch.detail
    expired = check_mtls(doc(), doctor(EXPIRED), now)
    assert expired.status == "fail" and "validity" in expired.detail
    soon = check_mtls(doc(), doctor(SOON), now)
    assert soon.status == "warn" and "expires in" in soon.detail
    no_aliases = check_mtls(doc(mtls_endpoint_aliases=None), doctor(), now)
    assert no_aliases.status == "warn" and "mtls_endpoint_aliases" in no_aliases.detail
    unbound = check_mtls(doc(), doctor(mtls_bound_tokens=True), now)
    assert unbound.status == "fail" and "tls_client_certificate_bound" in unbound.detail
    assert check_mtls(doc(), doctor(None, mtls_bound_tokens=True), now).status == "fail"


def test_a_self_signed_certificate_loads_too() -> None:
    issued = self_signed_client()
    assert config(issued, token_endpoint_auth_method="self_signed_tls_client_auth").uses_mtls


async def test_the_doctor_reports_mtls_only_for_a_client_that_uses_it() -> None:
    bound_doc = doc(tls_client_certificate_bound_access_tokens=True, jwks_uri=f"{ISSUER}/jwks")

    def answer(request: httpx.Request) -> httpx.Response:
        body = {"keys": []} if request.url.path == "/jwks" else bound_doc
        return httpx.Response(200, json=body)

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        with_cert = await diagnose(doctor(mtls_bound_tokens=True), http)
        without = await diagnose(doctor(None), http)
    checks = {check.name: check for check in with_cert.checks}
    assert checks["mtls"].status == "ok", checks["mtls"]
    assert "mtls" not in {check.name for check in without.checks}


async def test_the_sandbox_command_serves_mtls_with_certificates_written_for_the_app(
    tmp_path: Path,
) -> None:
    from oidc_kit.testing.__main__ import build_provider

    argv = ["--client", "app::http://127.0.0.1:8000/auth/callback", "--mtls", str(tmp_path)]
    provider, _ = build_provider(argv)
    assert provider.issuer.startswith("https://")
    written = ProviderConfig(
        issuer=provider.issuer,
        client_id="app",
        client_cert=str(tmp_path / "client.pem"),
        client_cert_key=str(tmp_path / "client.key"),
        token_endpoint_auth_method="tls_client_auth",
        mtls_bound_tokens=True,
    )
    assert written.uses_mtls and (tmp_path / "ca.pem").is_file()
    transport = httpx.ASGITransport(app=provider.app)
    async with httpx.AsyncClient(transport=transport, base_url=provider.issuer) as http:
        meta = (await http.get("/.well-known/openid-configuration")).json()
    assert meta["mtls_endpoint_aliases"]["token_endpoint"] == f"{provider.issuer}/mtls/token"
    assert "tls_client_auth" in meta["token_endpoint_auth_methods_supported"]
