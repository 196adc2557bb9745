"""``oidc-kit doctor`` on the open-banking settings (issue 19): signed request objects (JAR),
JARM response modes, FAPI 2.0 with mutual TLS, and the command-line flags (each defaulting to
the app's variable) that pass the client's key, certificate and choices to the doctor.

Every test runs the command against the sandbox provider in process (an ``ASGITransport``),
its discovery document edited where a test needs a provider lacking something."""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from joserfc.jwk import ECKey

from oidc_kit._doctor import DoctorSettings
from oidc_kit._doctor.discovery import check_fapi2
from oidc_kit._env import ENV_NAMES
from oidc_kit.cli import main
from oidc_kit.testing import SandboxClient, SandboxProvider, TestCA

ISSUER = "https://op.test"
CLIENT_ID = "bank-app"
SECRET = "bank-app-secret-0123456789-0123456789-never-shown"
REDIRECT = "https://app.test/auth/callback"
#: The client's key: ES256 for its assertions and request objects.
CLIENT_KEY = ECKey.generate_key("P-256", private=True).as_pem(private=True).decode()
#: Valid for a year: no expiry warning.
CERT = TestCA().client(
    CLIENT_ID, not_after=datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=365)
)

Doc = dict[str, Any]


class Edited(httpx.AsyncBaseTransport):
    """The sandbox provider, its discovery document passed through ``edit``."""

    def __init__(self, op: SandboxProvider, edit: Callable[[Doc], Doc]) -> None:
        self._inner = httpx.ASGITransport(app=op.app)
        self._edit = edit

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        if request.url.path != "/.well-known/openid-configuration":
            return response
        return httpx.Response(200, json=self._edit(json.loads(await response.aread())))


def without(*names: str, **changes: Any) -> Callable[[Doc], Doc]:
    return lambda doc: {k: v for k, v in doc.items() if k not in names} | changes


def provider(**options: Any) -> SandboxProvider:
    client = SandboxClient(CLIENT_ID, SECRET, (REDIRECT,))
    return SandboxProvider(ISSUER, [client], **options)


@pytest.fixture(autouse=True)
def _no_app_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """The flags default to the app's variables: none set here unless a test sets it."""
    for variable in ENV_NAMES.values():
        monkeypatch.delenv(variable, raising=False)


@pytest.fixture(scope="module")
def op() -> SandboxProvider:
    return provider()


@pytest.fixture
def doctor(
    op: SandboxProvider, capsys: pytest.CaptureFixture[str]
) -> Callable[..., dict[str, tuple[str, str]]]:
    """``oidc-kit doctor --json`` with ``extra`` options; the checks by name. No key, secret or
    certificate key is ever in the output."""

    def run(*extra: str, edit: Callable[[Doc], Doc] = lambda doc: doc, on: Any = None) -> Any:
        argv = ["doctor", "--issuer", ISSUER, "--client-id", CLIENT_ID, "--json", *extra]
        code = main(argv, transport=Edited(on or op, edit))
        out, err = capsys.readouterr()
        for hidden in (SECRET, CLIENT_KEY, CERT.key_pem, *CLIENT_KEY.splitlines()[1:-1]):
            assert hidden not in out + err
        report = json.loads(out)
        assert report["ok"] is (code == 0)
        return {c["name"]: (c["status"], c["detail"]) for c in report["checks"]}

    return run


@pytest.fixture
def keyed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The client's key from the app's variable, as an app passes it."""
    monkeypatch.setenv("OIDC_CLIENT_KEY", CLIENT_KEY)


# -- signed request objects (JAR) -------------------------------------------------------------


@pytest.mark.usefixtures("keyed")
def test_signed_requests_by_value_and_pushed_pass(doctor: Callable[..., Any]) -> None:
    by_value = doctor("--signed-requests")["request_objects"]
    assert by_value == (
        "ok",
        "authorization requests signed with ES256, sent by value (request_parameter_supported)",
    )
    pushed = doctor("--signed-requests", "--par", edit=without("request_parameter_supported"))
    assert pushed["request_objects"][0] == "ok"
    assert "pushed (PAR)" in pushed["request_objects"][1]


@pytest.mark.usefixtures("keyed")
def test_a_provider_without_the_keys_algorithm_fails(doctor: Callable[..., Any]) -> None:
    edit = without(request_object_signing_alg_values_supported=["PS256"])
    status, detail = doctor("--signed-requests", edit=edit)["request_objects"]
    assert status == "fail"
    assert "does not advertise ES256" in detail and "(it advertises PS256)" in detail


@pytest.mark.usefixtures("keyed")
def test_by_value_needs_request_parameter_supported(doctor: Callable[..., Any]) -> None:
    edit = without("request_parameter_supported")
    status, detail = doctor("--signed-requests", edit=edit)["request_objects"]
    assert status == "fail" and "request_parameter_supported" in detail
    # A provider that requires PAR gets the request pushed: no by-value support needed.
    required = without("request_parameter_supported", require_pushed_authorization_requests=True)
    assert doctor("--signed-requests", edit=required)["request_objects"][0] == "ok"


def test_signed_requests_without_a_key_fail(doctor: Callable[..., Any]) -> None:
    status, detail = doctor("--signed-requests")["request_objects"]
    assert status == "fail" and "client_key" in detail


@pytest.mark.usefixtures("keyed")
def test_no_request_objects_row_without_signed_requests(doctor: Callable[..., Any]) -> None:
    assert "request_objects" not in doctor()


# -- JARM --------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["query.jwt", "form_post.jwt", "jwt"])
def test_jarm_modes_pass_against_the_sandbox(doctor: Callable[..., Any], mode: str) -> None:
    status, detail = doctor("--response-mode", mode)["response_modes"]
    assert (status, detail) == (
        "ok",
        f"{mode} (OIDC_RESPONSE_MODE) supported: response JWTs in RS256",
    )


def test_jarm_shows_the_algorithms_the_kit_will_accept(doctor: Callable[..., Any]) -> None:
    """The app's allowlist ∩ what the provider advertises, in the allowlist's order."""
    edit = without(authorization_signing_alg_values_supported=["HS256", "ES256", "RS256"])
    detail = doctor("--response-mode", "jwt", edit=edit)["response_modes"][1]
    assert detail.endswith("response JWTs in RS256, ES256")
    ordered = doctor("--response-mode", "jwt", "--id-token-algs", "ES256 RS256", edit=edit)
    assert ordered["response_modes"][1].endswith("response JWTs in ES256, RS256")
    fapi2 = doctor("--response-mode", "jwt", "--fapi2", edit=edit)  # PS256, ES256, EdDSA only
    assert fapi2["response_modes"][1].endswith("response JWTs in ES256")


def test_a_jarm_mode_the_provider_does_not_advertise_fails(doctor: Callable[..., Any]) -> None:
    edit = without(response_modes_supported=["query", "form_post"])
    status, detail = doctor("--response-mode", "query.jwt", edit=edit)["response_modes"]
    assert status == "fail" and "response_mode query.jwt" in detail


@pytest.mark.parametrize(
    ("edit", "extra"),
    [
        (without("authorization_signing_alg_values_supported"), ()),
        (without(authorization_signing_alg_values_supported=["HS256"]), ()),
        (lambda doc: doc, ("--id-token-algs", "ES256")),  # the sandbox signs RS256
    ],
    ids=["none-advertised", "none-accepted", "outside-the-allowlist"],
)
def test_jarm_without_an_algorithm_the_kit_accepts_fails(
    doctor: Callable[..., Any], edit: Callable[[Doc], Doc], extra: tuple[str, ...]
) -> None:
    status, detail = doctor("--response-mode", "jwt", *extra, edit=edit)["response_modes"]
    assert status == "fail" and "authorization_signing_alg_values_supported" in detail


def test_a_fragment_mode_is_refused_as_the_kit_refuses_it(doctor: Callable[..., Any]) -> None:
    """Even where the provider offers them: the kit will not start with these."""
    edit = without(response_modes_supported=["query", "fragment.jwt", "fragmentary"])
    status, detail = doctor("--response-mode", "fragment.jwt", edit=edit)["response_modes"]
    assert status == "fail" and "which browsers never send to the server" in detail
    status, detail = doctor("--response-mode", "fragmentary", edit=edit)["response_modes"]
    assert status == "fail" and "response_mode must be" in detail


def test_a_chosen_plain_mode_must_be_advertised(doctor: Callable[..., Any]) -> None:
    assert doctor("--response-mode", "form_post")["response_modes"][0] == "ok"
    edit = without(response_modes_supported=["query", "query.jwt"])
    status, detail = doctor("--response-mode", "form_post", edit=edit)["response_modes"]
    assert status == "fail" and "form_post (OIDC_RESPONSE_MODE) is not advertised" in detail
    unlisted = doctor("--response-mode", "form_post", edit=without("response_modes_supported"))
    assert unlisted["response_modes"][0] == "warn"


# -- FAPI 2.0 with mutual TLS -------------------------------------------------------------------

FAPI2_MTLS: Doc = {
    "pushed_authorization_request_endpoint": "https://op.test/par",
    "token_endpoint_auth_methods_supported": ["tls_client_auth"],
    "tls_client_certificate_bound_access_tokens": True,
    "authorization_response_iss_parameter_supported": True,
    "id_token_signing_alg_values_supported": ["PS256"],
}
MTLS_CLIENT = DoctorSettings(
    ISSUER,
    CLIENT_ID,
    fapi2=True,
    token_endpoint_auth_method="tls_client_auth",
    client_cert=CERT.cert_pem,
    client_cert_key=CERT.key_pem,
    mtls_bound_tokens=True,
)


def test_fapi2_takes_mtls_bound_tokens_and_tls_client_auth_instead() -> None:
    """FAPI 2.0 allows mutual TLS both as the sender constraint and as the client's
    authentication: no DPoP, no private_key_jwt needed then."""
    check = check_fapi2(FAPI2_MTLS, MTLS_CLIENT)
    assert check.status == "ok", check.detail
    assert "tls_client_auth" in check.detail and "certificate-bound tokens" in check.detail


@pytest.mark.parametrize(
    ("member", "named"),
    [
        ("tls_client_certificate_bound_access_tokens", "certificate-bound tokens"),
        ("token_endpoint_auth_methods_supported", "tls_client_auth"),
    ],
)
def test_fapi2_over_mtls_names_what_the_provider_lacks(member: str, named: str) -> None:
    check = check_fapi2({k: v for k, v in FAPI2_MTLS.items() if k != member}, MTLS_CLIENT)
    assert check.status == "fail" and named in check.detail


def test_fapi2_still_asks_for_dpop_and_private_key_jwt_otherwise() -> None:
    """Bound tokens are one choice: without them the mTLS provider's document lacks DPoP;
    without a mutual TLS method, private_key_jwt."""
    plain = DoctorSettings(ISSUER, CLIENT_ID, fapi2=True, client_key=CLIENT_KEY)
    detail = check_fapi2(FAPI2_MTLS, plain).detail
    assert "DPoP with ES256" in detail and "private_key_jwt" in detail


def test_the_cli_checks_an_mtls_fapi2_client_end_to_end(
    doctor: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The certificate's flags default to the app's variables; the sandbox serving mutual TLS
    passes the fapi2 and mtls checks, and the kit's endpoints (introspection included) are
    shown at their mtls_endpoint_aliases, where the kit will call them."""
    monkeypatch.setenv("OIDC_CLIENT_CERT", CERT.cert_pem)
    monkeypatch.setenv("OIDC_CLIENT_CERT_KEY", CERT.key_pem)
    monkeypatch.setenv("OIDC_MTLS_BOUND_TOKENS", "1")
    monkeypatch.setenv("OIDC_TOKEN_AUTH_METHOD", "tls_client_auth")
    op = provider(mtls=True, introspection=True, id_token_alg="PS256")
    checks = doctor("--fapi2", on=op)
    assert checks["fapi2"][0] == "ok", checks["fapi2"]
    assert checks["mtls"][0] == "ok", checks["mtls"]
    assert checks["token_auth_methods"] == (
        "ok",
        "the kit will use tls_client_auth (OIDC_TOKEN_AUTH_METHOD)",
    )
    assert "introspection from mtls_endpoint_aliases" in checks["endpoints"][1]
    # Bound tokens at a provider that does not bind them: both checks say so.
    unbound = doctor("--fapi2", on=op, edit=without("tls_client_certificate_bound_access_tokens"))
    assert unbound["fapi2"][0] == unbound["mtls"][0] == "fail"


# -- the flags ----------------------------------------------------------------------------------


def test_each_flag_reaches_the_doctor(doctor: Callable[..., Any]) -> None:
    checks = doctor(
        "--client-key", CLIENT_KEY,
        "--token-auth-method", "private_key_jwt",
        "--signed-requests",
        "--response-mode", "form_post.jwt",
        "--client-cert", CERT.cert_pem,
        "--client-cert-key", CERT.key_pem,
    )  # fmt: skip
    assert checks["token_auth_methods"][1].startswith("the kit will use private_key_jwt")
    assert checks["request_objects"][0] == "ok"
    assert checks["response_modes"][1].startswith("form_post.jwt")
    assert checks["mtls"][0] == "warn"  # the default sandbox names no mtls_endpoint_aliases


def test_each_variable_is_the_flags_default(
    doctor: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {
        "OIDC_CLIENT_KEY": CLIENT_KEY,
        "OIDC_TOKEN_AUTH_METHOD": "client_secret_jwt",
        "OIDC_CLIENT_SECRET": SECRET,
        "OIDC_SIGNED_REQUESTS": "1",
        "OIDC_PAR": "true",
        "OIDC_RESPONSE_MODE": "query.jwt",
    }.items():
        monkeypatch.setenv(name, value)
    checks = doctor(edit=without("request_parameter_supported"))
    assert checks["token_auth_methods"][1].startswith("the kit will use client_secret_jwt")
    assert checks["request_objects"][1].endswith("sent pushed (PAR)")
    assert checks["response_modes"][1].startswith("query.jwt")


def test_a_key_a_provider_echoes_is_not_shown(doctor: Callable[..., Any]) -> None:
    """An inline key is hidden like the secret, whatever a provider sends back."""
    edit = without(response_modes_supported=[CLIENT_KEY, CERT.key_pem])
    status, detail = doctor(
        "--client-key",
        CLIENT_KEY,
        "--client-cert-key",
        CERT.key_pem,
        "--client-cert",
        CERT.cert_pem,
        edit=edit,
    )["response_modes"]
    assert status == "fail" and detail.count("[redacted]") == 2


def test_the_keys_are_not_in_the_settings_repr() -> None:
    assert CLIENT_KEY not in repr(DoctorSettings(ISSUER, CLIENT_ID, client_key=CLIENT_KEY))
    assert CERT.key_pem not in repr(MTLS_CLIENT)


def test_help_shows_no_key_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OIDC_CLIENT_KEY", CLIENT_KEY)
    monkeypatch.setenv("OIDC_CLIENT_CERT_KEY", CERT.key_pem)
    assert main(["doctor", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--client-cert-key" in out
    assert CLIENT_KEY.splitlines()[1] not in out and CERT.key_pem.splitlines()[1] not in out
