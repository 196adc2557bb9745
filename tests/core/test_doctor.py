"""``oidc-kit doctor``: against the sandbox provider, healthy and broken in every way it checks.

Most tests run the command (``oidc_kit.cli.main``) with a transport that proxies to an
in-process sandbox provider and alters what it answers; the JWKS rules are also tested on
their own; one TLS test uses a real TLS server; the last tests run the installed console script
against a real sandbox provider process. Every run asserts that neither the client secret nor
any token issued appears in the output.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import json
import os
import shutil
import ssl
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from joserfc.jwk import ECKey, OctKey, OKPKey, RSAKey

from oidc_kit import OIDCConfig
from oidc_kit._doctor import DoctorSettings, diagnose
from oidc_kit._doctor.discovery import check_fapi2
from oidc_kit._doctor.keys import judge_jwks
from oidc_kit._http import MAX_RESPONSE_BYTES
from oidc_kit._jwks import MAX_JWKS_BYTES, MAX_JWKS_KEYS
from oidc_kit.cli import main
from oidc_kit.testing import SandboxClient, SandboxProvider
from tests.servers import free_port, serve

ISSUER = "https://op.test"
CLIENT_ID = "doctor-app"
SECRET = "doctor-secret-0123456789-do-not-print"
REDIRECT = "https://app.test/auth/callback"
KIT_ALGS = frozenset({"RS256", "PS256", "ES256", "EdDSA"})

Doc = dict[str, Any]


class Tampered(httpx.AsyncBaseTransport):
    """Proxies to a sandbox provider, altering discovery, the JWKS, token answers or ``Date``.

    Every token the provider issues is kept in ``tokens``, so tests can prove none is printed.
    """

    def __init__(self, op: SandboxProvider) -> None:
        self._inner = httpx.ASGITransport(app=op.app)
        self.discovery: Callable[[Doc], Doc] = lambda doc: doc
        self.jwks: Callable[[Doc], Doc] = lambda jwks: jwks
        self.token: Callable[[httpx.Response], httpx.Response] = lambda response: response
        self.date_offset: float | None = 0.0  # None: no Date header
        self.error: Exception | None = None
        self.tokens: list[str] = []
        self.paths: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        if self.error is not None:
            raise self.error
        response = await self._inner.handle_async_request(request)
        content = await response.aread()
        path = request.url.path
        if path == "/.well-known/openid-configuration":
            response = httpx.Response(200, json=self.discovery(json.loads(content)))
        elif path == "/jwks":
            response = httpx.Response(200, json=self.jwks(json.loads(content)))
        elif path == "/token":
            body = json.loads(content)
            self.tokens += [v for k, v in body.items() if k.endswith("token")]
            response = self.token(httpx.Response(response.status_code, json=body))
        else:
            response = httpx.Response(response.status_code, content=content)
        if self.date_offset is not None:
            response.headers["Date"] = formatdate(time.time() + self.date_offset, usegmt=True)
        return response


@dataclass
class Run:
    code: int
    out: str
    err: str
    checks: dict[str, tuple[str, str]] = field(default_factory=dict)

    def status(self, name: str) -> str:
        return self.checks[name][0]

    def detail(self, name: str) -> str:
        return self.checks[name][1]


def sandbox(issuer: str = ISSUER, **client: Any) -> SandboxProvider:
    redirects = (REDIRECT, "http://127.0.0.1:8000/auth/callback")
    return SandboxProvider(issuer, [SandboxClient(CLIENT_ID, SECRET, redirects, **client)])


@pytest.fixture
def op() -> SandboxProvider:
    return sandbox()


@pytest.fixture
def proxy(op: SandboxProvider) -> Tampered:
    return Tampered(op)


@pytest.fixture
def doctor(
    proxy: Tampered, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> Callable[..., Run]:
    """Run ``oidc-kit doctor --json`` through ``proxy``; check no secret or token is shown."""

    def run(
        *extra: str, issuer: str = ISSUER, secret: str | None = SECRET, transport: Any = None
    ) -> Run:
        argv = ["doctor", "--issuer", issuer, "--client-id", CLIENT_ID, *extra]
        if secret is not None:
            argv += ["--client-secret", secret]
        code = main(argv, transport=transport or proxy)
        out, err = capsys.readouterr()
        for hidden in [SECRET, secret or SECRET, *proxy.tokens]:
            assert hidden not in out + err + caplog.text
        result = Run(code, out, err)
        if "--json" in extra and code in (0, 1):
            report = json.loads(out)
            assert set(report) == {"issuer", "ok", "checks"}
            assert report["ok"] is (code == 0)
            result.checks = {c["name"]: (c["status"], c["detail"]) for c in report["checks"]}
        return result

    return run


FULL = ("--json", "--redirect-uri", REDIRECT, "--client-credentials", "--scope", "accounts:read")


# -- the healthy sandbox ---------------------------------------------------------------------


def test_the_sandbox_passes_every_check(doctor: Callable[..., Run], proxy: Tampered) -> None:
    run = doctor(*FULL)
    assert run.code == 0, run.out
    assert list(run.checks) == [
        "discovery",
        "tls",
        "jwks",
        "algorithms",
        "pkce",
        "response_types",
        "response_modes",
        "iss_parameter",
        "end_session",
        "revocation",
        "endpoints",
        "token_auth_methods",
        "fapi2",
        "clock_skew",
        "redirect_uri",
        "client_credentials",
    ]
    statuses = {name: status for name, (status, _) in run.checks.items()}
    assert statuses == dict.fromkeys(run.checks, "ok") | {"fapi2": "skip"}
    detail = run.detail("client_credentials")
    assert "token_type Bearer" in detail
    assert "expires_in 3600" in detail
    assert "accounts:read" in detail
    assert proxy.tokens, "a token was issued (and, as checked, not printed)"


def test_the_text_report_has_one_line_per_check_and_a_summary(
    doctor: Callable[..., Run],
) -> None:
    run = doctor(*FULL[1:])
    assert run.code == 0
    lines = run.out.splitlines()
    assert lines[0] == f"oidc-kit doctor: issuer {ISSUER}, client {CLIENT_ID}"
    checks = [line.split() for line in lines if line.startswith("  ")]
    assert [words[0] for words in checks] == ["OK"] * 12 + ["SKIP"] + ["OK"] * 3
    assert lines[-1] == "16 checks: 15 ok, 0 warn, 0 fail, 1 skip. No check failed."


def test_json_output_shape(doctor: Callable[..., Run]) -> None:
    run = doctor("--json", secret=None)
    report = json.loads(run.out)
    assert report["issuer"] == ISSUER
    assert report["ok"] is True
    for check in report["checks"]:
        assert set(check) == {"name", "status", "detail"}
        assert check["status"] in ("ok", "warn", "fail", "skip")
        assert "\n" not in check["detail"]
    assert run.status("token_auth_methods") == "skip"
    assert run.status("client_credentials") == "skip"
    assert run.status("redirect_uri") == "skip"


def test_the_settings_do_not_show_the_secret() -> None:
    settings = DoctorSettings(issuer=ISSUER, client_id=CLIENT_ID, client_secret=SECRET)
    assert SECRET not in repr(settings)


def test_the_secret_can_come_from_the_environment(
    doctor: Callable[..., Run], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OIDC_CLIENT_SECRET", SECRET)
    run = doctor(*FULL, secret=None)
    assert run.code == 0
    assert run.status("client_credentials") == "ok"


def test_a_post_only_client_authenticates_in_the_body() -> None:
    op = sandbox(token_endpoint_auth_method="client_secret_post")
    proxy = Tampered(op)
    proxy.discovery = lambda doc: {
        **doc,
        "token_endpoint_auth_methods_supported": ["client_secret_post"],
    }
    code = main(
        [
            "doctor",
            "--issuer",
            ISSUER,
            "--client-id",
            CLIENT_ID,
            "--client-secret",
            SECRET,
            "--client-credentials",
            "--scope",
            "accounts:read",
        ],
        transport=proxy,
    )
    assert code == 0


def test_a_loopback_http_issuer_is_a_warning_when_allowed(doctor: Callable[..., Run]) -> None:
    issuer = "http://127.0.0.1:9000"
    transport = Tampered(sandbox(issuer))
    run = doctor(*FULL, "--allow-insecure-http", issuer=issuer, transport=transport)
    assert run.code == 0, run.out
    assert run.status("tls") == "warn"
    assert "--allow-insecure-http" in run.detail("tls")
    assert run.status("client_credentials") == "ok"
    assert run.status("redirect_uri") == "ok"


def test_a_loopback_http_issuer_fails_without_the_switch_and_gets_no_secret(
    doctor: Callable[..., Run],
) -> None:
    issuer = "http://127.0.0.1:9000"
    transport = Tampered(sandbox(issuer))
    run = doctor(*FULL, issuer=issuer, transport=transport)
    assert run.code == 1
    assert run.status("tls") == "fail"
    assert run.status("client_credentials") == "skip"
    assert "/token" not in transport.paths


# -- broken providers ------------------------------------------------------------------------


def edit(**changes: Any) -> Callable[[Doc], Doc]:
    """A discovery alteration: set fields, or drop those given as None."""

    def alter(doc: Doc) -> Doc:
        doc = {**doc, **changes}
        return {k: v for k, v in doc.items() if v is not None}

    return alter


def rsa(bits: int = 2048, **params: Any) -> Doc:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # joserfc warns about 1024 bits: that is the point
        key = RSAKey.generate_key(bits, parameters=params, private=True)
    return dict(key.as_dict(private=False))


def keys(*jwks: Doc) -> Callable[[Doc], Doc]:
    return lambda _: {"keys": list(jwks)}


_WEAK = rsa(1024, kid="weak", use="sig")
_STRONG = rsa(kid="strong", use="sig")
_PRIVATE = dict(RSAKey.generate_key(2048, parameters={"kid": "oops"}).as_dict(private=True))

BROKEN_DISCOVERY = {
    "issuer mismatch": (edit(issuer=ISSUER + "/"), "discovery", "fail", "'https://op.test/'"),
    "missing token endpoint": (edit(token_endpoint=None), "discovery", "fail", "token_endpoint"),
    "http endpoint": (edit(token_endpoint="http://op.test/token"), "tls", "fail", "token_"),
    "http loopback endpoint": (
        edit(jwks_uri="http://127.0.0.1/jwks"),
        "tls",
        "fail",
        "jwks_uri 'http://127.0.0.1/jwks'",
    ),
    "HS256 only": (
        edit(id_token_signing_alg_values_supported=["HS256"]),
        "algorithms",
        "fail",
        "signs with HS256",
    ),
    "none advertised": (
        edit(id_token_signing_alg_values_supported=["RS256", "none"]),
        "algorithms",
        "warn",
        "'none'",
    ),
    "algs not advertised": (
        edit(id_token_signing_alg_values_supported=None),
        "algorithms",
        "warn",
        "ID and logout tokens in RS256: no id_token_signing_alg_values_supported, RS256 assumed",
    ),
    "no S256": (edit(code_challenge_methods_supported=["plain"]), "pkce", "fail", "plain"),
    "no PKCE advertised": (edit(code_challenge_methods_supported=None), "pkce", "fail", "S256"),
    "no code flow": (
        edit(response_types_supported=["id_token"]),
        "response_types",
        "fail",
        "code not supported",
    ),
    "form_post only": (
        edit(response_modes_supported=["form_post"]),
        "response_modes",
        "warn",
        "OIDC_RESPONSE_MODE=form_post",
    ),
    "fragment only": (
        edit(response_modes_supported=["fragment"]),
        "response_modes",
        "fail",
        "neither",
    ),
    "no RFC 9207": (
        edit(authorization_response_iss_parameter_supported=False),
        "iss_parameter",
        "warn",
        "mix-up",
    ),
    "no end_session_endpoint": (
        edit(end_session_endpoint=None),
        "end_session",
        "warn",
        "ends the app's session only",
    ),
    "no revocation_endpoint": (edit(revocation_endpoint=None), "revocation", "warn", "stay valid"),
    "no secret-based auth": (
        edit(token_endpoint_auth_methods_supported=["private_key_jwt"]),
        "token_auth_methods",
        "fail",
        "private_key_jwt",
    ),
}


@pytest.mark.parametrize(
    ("alter", "name", "status", "fragment"),
    list(BROKEN_DISCOVERY.values()),
    ids=list(BROKEN_DISCOVERY),
)
def test_a_broken_discovery_document_is_caught(
    doctor: Callable[..., Run],
    proxy: Tampered,
    alter: Callable[[Doc], Doc],
    name: str,
    status: str,
    fragment: str,
) -> None:
    proxy.discovery = alter
    run = doctor(*FULL)
    assert run.status(name) == status, run.checks[name]
    assert fragment in run.detail(name)
    assert run.code == (1 if status == "fail" else 0)  # this check, and no other, fails


def test_an_issuer_mismatch_reports_both_issuers_and_keeps_the_secret(
    doctor: Callable[..., Run], proxy: Tampered
) -> None:
    proxy.discovery = edit(issuer="https://evil.test")
    run = doctor(*FULL)
    assert run.code == 1
    assert "'https://evil.test'" in run.detail("discovery")
    assert f"expected '{ISSUER}'" in run.detail("discovery")
    assert run.status("client_credentials") == "skip"
    assert "/token" not in proxy.paths


def test_a_plain_http_issuer_fails(doctor: Callable[..., Run]) -> None:
    issuer = "http://op.example.com"
    transport = Tampered(sandbox(issuer))
    for extra in ((), ("--allow-insecure-http",)):  # loopback only, switch or not
        run = doctor(*FULL, *extra, issuer=issuer, transport=transport)
        assert run.code == 1
        assert run.status("tls") == "fail"
        assert "the issuer is not https, nor are 7 of its endpoints" in run.detail("tls")
        assert run.status("client_credentials") == "skip"
    assert "/token" not in transport.paths


def test_an_endpoint_the_kit_would_not_call_fails_tls(
    doctor: Callable[..., Run], proxy: Tampered
) -> None:
    """The kit's own rule (``allowed_endpoint``) decides which endpoints pass: an https URL
    whose port is no number is refused by the kit, so the doctor fails it too."""
    bad = "https://op.test:notaport/userinfo"
    proxy.discovery = edit(userinfo_endpoint=bad)
    run = doctor(*FULL)
    assert run.code == 1
    assert run.status("tls") == "fail"
    assert f"userinfo_endpoint {bad!r}" in run.detail("tls")
    assert run.status("endpoints") == "skip"
    assert "discovery has no usable userinfo_endpoint" in run.detail("endpoints")


BROKEN_JWKS = {
    "1024-bit RSA only": (keys(_WEAK), "no usable keys", "RSA keys need at least 2048 bits"),
    "encryption keys only": (keys(rsa(kid="e", use="enc")), "no usable keys", "use 'enc'"),
    "empty": (keys(), "no usable keys", "the JWKS is empty"),
    "no keys array": (lambda _: {"kys": []}, "no keys array", ""),
    "duplicate kids": (keys(_STRONG, rsa(kid="strong", use="sig")), "duplicate kid", "strong"),
    "a private key": (keys(_STRONG, _PRIVATE), "private key material published", "'oops'"),
    "a symmetric key": (
        keys(_STRONG, dict(OctKey.generate_key(256, parameters={"kid": "k"}).as_dict())),
        "private key material published",
        "kid 'k'",
    ),
    "P-384 only": (
        keys(dict(ECKey.generate_key("P-384", parameters={"kid": "p384"}).as_dict(private=False))),
        "no usable keys",
        "fits none of",
    ),
    "more keys than the kit reads": (
        keys(*[{**_STRONG, "kid": f"k{i}"} for i in range(MAX_JWKS_KEYS + 1)]),
        f"{MAX_JWKS_KEYS + 1} keys",
        f"the kit refuses a JWKS of more than {MAX_JWKS_KEYS}",
    ),
    "more bytes than the kit reads": (
        keys({**_STRONG, "x5c": ["A" * MAX_JWKS_BYTES]}),
        "bytes",
        f"the kit refuses a JWKS of more than {MAX_JWKS_BYTES}",
    ),
}


@pytest.mark.parametrize(
    ("alter", "finding", "fragment"), list(BROKEN_JWKS.values()), ids=list(BROKEN_JWKS)
)
def test_a_broken_jwks_fails(
    doctor: Callable[..., Run],
    proxy: Tampered,
    alter: Callable[[Doc], Doc],
    finding: str,
    fragment: str,
) -> None:
    proxy.jwks = alter
    run = doctor(*FULL)
    assert run.code == 1
    assert run.status("jwks") == "fail"
    assert finding in run.detail("jwks")
    assert fragment in run.detail("jwks")
    if "private" in finding:
        assert '"d"' not in run.out and "'d'" not in run.out  # names the key, not its parts


# -- the algorithms the kit will accept (ID and logout tokens) ------------------------------------


@pytest.mark.parametrize(
    ("advertised", "extra", "status", "detail"),
    [
        (["RS256"], (), "ok", "ID and logout tokens in RS256 (the provider's RS256 ∩ RS256, "),
        (["ES256", "RS256", "HS256"], (), "ok", "ID and logout tokens in RS256, ES256 ("),
        (["RS256"], ("--fapi2",), "fail", "no algorithm in common: the provider signs with RS256"),
        (["PS256", "ES256"], ("--fapi2",), "ok", "ID and logout tokens in PS256, ES256 ("),
        (
            ["RS256", "ES256"],
            ("--id-token-alg", "ES256"),
            "ok",
            "ID and logout tokens in ES256 (registered id_token_signed_response_alg)",
        ),
        (["RS256"], ("--id-token-alg", "ES256"), "warn", "which the provider does not advertise"),
        (["RS256"], ("--id-token-alg", "none"), "fail", "--id-token-alg none: "),
        (["PS256"], ("--fapi2", "--id-token-alg", "RS256"), "fail", "fapi2 profile allows only"),
        # The app's allowlist (--id-token-algs, OIDC_ID_TOKEN_ALGS), as the kit takes it.
        (
            ["RS256", "ES256"],
            ("--id-token-algs", "ES256"),
            "ok",
            "ID and logout tokens in ES256 (the provider's RS256, ES256 ∩ ES256)",
        ),
        (["RS256"], ("--id-token-algs", "ES256,PS256"), "fail", "the kit accepts ES256, PS256"),
        (
            ["RS256"],
            ("--id-token-algs", "RS256 none"),
            "fail",
            "--id-token-algs RS256 none: ID token algorithm 'none' is not allowed",
        ),
        (["HS256", "RS256"], ("--id-token-algs", "HS256"), "ok", "ID and logout tokens in HS256"),
        (
            ["PS256"],
            ("--fapi2", "--id-token-algs", "RS256,PS256"),
            "fail",
            "--id-token-algs RS256 PS256: the fapi2 profile allows only PS256, ES256 and EdDSA",
        ),
        (
            ["RS256", "ES256"],
            ("--id-token-algs", "RS256", "--id-token-alg", "ES256"),
            "ok",
            "ID and logout tokens in ES256 (registered",
        ),
    ],
)
def test_the_algorithms_check_shows_the_effective_set(
    doctor: Callable[..., Run],
    proxy: Tampered,
    advertised: list[str],
    extra: tuple[str, ...],
    status: str,
    detail: str,
) -> None:
    """The kit's own rule (``_algorithms.effective_algs``): the registered alg when given,
    else the kit's allowlist (FAPI 2.0's with ``--fapi2``) ∩ what the provider advertises."""
    proxy.discovery = edit(id_token_signing_alg_values_supported=advertised)
    run = doctor("--json", *extra)
    assert run.status("algorithms") == status, run.detail("algorithms")
    assert detail in run.detail("algorithms")


def test_the_registered_alg_comes_from_oidc_id_token_alg(
    doctor: Callable[..., Run], proxy: Tampered, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OIDC_ID_TOKEN_ALG", "PS256")
    proxy.discovery = edit(id_token_signing_alg_values_supported=["RS256", "PS256"])
    run = doctor("--json")
    assert run.detail("algorithms").startswith("ID and logout tokens in PS256 (registered")


def test_the_allowlist_comes_from_oidc_id_token_algs_read_as_the_kit_reads_it(
    doctor: Callable[..., Run], proxy: Tampered, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Commas and spaces, as ``OIDCConfig.from_env`` reads the variable: the doctor's
    effective set is the app's."""
    raw = " ES256, PS256 "
    app = OIDCConfig.from_env(
        {"OIDC_ID_TOKEN_ALGS": raw, "SESSION_SECRET": "s" * 32},
        issuer=ISSUER,
        client_id=CLIENT_ID,
        base_url="https://app.test",
    )
    monkeypatch.setenv("OIDC_ID_TOKEN_ALGS", raw)
    proxy.discovery = edit(id_token_signing_alg_values_supported=["RS256", "PS256", "ES256"])
    run = doctor("--json")
    assert app.id_token_algs == ("ES256", "PS256")
    assert run.detail("algorithms") == (
        "ID and logout tokens in ES256, PS256 (the provider's RS256, PS256, ES256 ∩ ES256, PS256)"
    )
    # The sandbox's key is for RS256 only (its alg): the JWKS is judged for the app's set.
    assert run.status("jwks") == "fail"
    assert "(RSA 2048 bits): fits none of ES256, PS256" in run.detail("jwks")
    # The option wins over the variable.
    assert (
        doctor("--json", "--id-token-algs", "RS256")
        .detail("algorithms")
        .startswith("ID and logout tokens in RS256 (the provider's RS256, PS256, ES256 ∩ RS256)")
    )


def test_the_jwks_is_judged_for_the_effective_algorithms(
    doctor: Callable[..., Run], proxy: Tampered
) -> None:
    """The sandbox's RSA key verifies RS256, but a client registered for ES256 needs an EC
    key: the JWKS check fails."""
    proxy.discovery = edit(id_token_signing_alg_values_supported=["RS256", "ES256"])
    assert doctor("--json").status("jwks") == "ok"
    run = doctor("--json", "--id-token-alg", "ES256")
    assert run.status("jwks") == "fail"
    assert "fits none of ES256" in run.detail("jwks")
    run = doctor("--json", "--id-token-algs", "ES256")
    assert run.status("jwks") == "fail"
    assert "fits none of ES256" in run.detail("jwks")


def test_the_jwks_unreachable_is_a_fail(doctor: Callable[..., Run], proxy: Tampered) -> None:
    proxy.discovery = edit(jwks_uri=ISSUER + "/missing-jwks")
    run = doctor("--json")
    assert run.code == 1
    assert run.status("jwks") == "fail"
    assert "HTTP 404" in run.detail("jwks")


def _jwk(key: Any, **params: Any) -> Doc:
    return {**key.as_dict(private=False), **params}


def test_jwks_rules_for_each_key_type() -> None:
    ed = _jwk(OKPKey.generate_key("Ed25519"), kid="ed")
    p256 = _jwk(ECKey.generate_key("P-256"), kid="p256")
    x25519 = _jwk(OKPKey.generate_key("X25519"), kid="x")
    assert judge_jwks({"keys": [ed]}, KIT_ALGS).status == "ok"
    assert "EdDSA" in judge_jwks({"keys": [ed]}, KIT_ALGS).detail
    assert judge_jwks({"keys": [p256]}, KIT_ALGS).status == "ok"
    # ES256 keys do not verify RS256 tokens: the provider's algs narrow what is usable.
    assert judge_jwks({"keys": [p256]}, frozenset({"RS256"})).status == "fail"
    assert "must be Ed25519" in judge_jwks({"keys": [x25519]}, KIT_ALGS).detail
    assert judge_jwks({"keys": [{"kty": "RSA", "kid": "bad", "n": 1}]}, KIT_ALGS).status == "fail"
    # A key's own alg must be one the kit accepts.
    assert judge_jwks({"keys": [{**_STRONG, "alg": "RS512"}]}, KIT_ALGS).status == "fail"
    assert judge_jwks({"keys": [{**_STRONG, "use": "sig"}]}, KIT_ALGS).status == "ok"


def test_jwks_oddities_next_to_a_usable_key() -> None:
    enc = rsa(kid="enc", use="enc")
    assert judge_jwks({"keys": [_STRONG, enc]}, KIT_ALGS).status == "ok"
    weak = judge_jwks({"keys": [_STRONG, _WEAK]}, KIT_ALGS)
    assert weak.status == "warn"
    assert "kid 'weak'" in weak.detail
    no_kid = judge_jwks({"keys": [rsa()]}, KIT_ALGS)
    assert no_kid.status == "warn"
    assert "without kid" in no_kid.detail


@pytest.mark.parametrize(
    ("offset", "status"), [(0, "ok"), (-15, "warn"), (20, "warn"), (-120, "fail"), (3600, "fail")]
)
def test_clock_skew(
    doctor: Callable[..., Run], proxy: Tampered, offset: float, status: str
) -> None:
    proxy.date_offset = offset
    run = doctor("--json")
    assert run.status("clock_skew") == status, run.detail("clock_skew")
    assert run.code == (1 if status == "fail" else 0)
    if status != "ok":
        assert ("ahead of" if offset > 0 else "behind") in run.detail("clock_skew")


def test_no_date_header_skips_the_clock_check(doctor: Callable[..., Run], proxy: Tampered) -> None:
    proxy.date_offset = None
    run = doctor("--json")
    assert run.status("clock_skew") == "skip"
    assert run.code == 0


@pytest.mark.parametrize(
    ("uri", "extra", "status", "fragment"),
    [
        ("https://app.test/auth/callback#x", (), "fail", "fragment"),
        ("http://app.test/auth/callback", ("--allow-insecure-http",), "fail", "not https"),
        ("http://127.0.0.1:8000/auth/callback", (), "fail", "not https"),
        ("http://127.0.0.1:8000/auth/callback", ("--allow-insecure-http",), "warn", "loopback"),
        ("https://app.test/callback", (), "warn", "{APP_BASE_URL}/auth/callback"),
        ("/auth/callback", (), "fail", "not an absolute"),
    ],
)
def test_redirect_uri(
    doctor: Callable[..., Run], uri: str, extra: tuple[str, ...], status: str, fragment: str
) -> None:
    run = doctor("--json", "--redirect-uri", uri, *extra)
    assert run.status("redirect_uri") == status
    assert fragment in run.detail("redirect_uri")
    assert run.code == (1 if status == "fail" else 0)


# -- the client credentials grant ------------------------------------------------------------


def test_a_wrong_secret_is_refused(doctor: Callable[..., Run], proxy: Tampered) -> None:
    run = doctor(*FULL, secret="not-the-secret-4242")
    assert run.code == 1
    assert run.status("client_credentials") == "fail"
    assert "the provider refused the client's credentials" in run.detail("client_credentials")
    assert "invalid_client" in run.detail("client_credentials")
    assert "/token" in proxy.paths


def test_a_bare_401_is_a_refusal_of_the_credentials(
    doctor: Callable[..., Run], proxy: Tampered
) -> None:
    proxy.token = lambda _: httpx.Response(401, text="Unauthorized")
    run = doctor(*FULL)
    assert run.status("client_credentials") == "fail"
    assert "refused the client's credentials (no error code, HTTP 401)" in run.detail(
        "client_credentials"
    )


def test_another_refusal_says_what_the_provider_said(doctor: Callable[..., Run]) -> None:
    run = doctor("--json", "--client-credentials")  # no scope: the sandbox wants one
    assert run.code == 1
    detail = run.detail("client_credentials")
    assert "refused the grant (invalid_scope, HTTP 400): scope is required" in detail


def test_the_secret_is_scrubbed_even_when_the_provider_echoes_it(
    doctor: Callable[..., Run], proxy: Tampered
) -> None:
    body = {"error": "invalid_request", "error_description": f"bad secret {SECRET}\n\x1b[31m"}
    proxy.token = lambda _: httpx.Response(400, json=body)
    run = doctor(*FULL)
    detail = run.detail("client_credentials")
    assert "bad secret [redacted]" in detail
    assert "\x1b" not in run.out and "\\x1b" in detail


def test_an_unusable_token_response_is_a_fail(doctor: Callable[..., Run], proxy: Tampered) -> None:
    proxy.token = lambda _: httpx.Response(200, json={"token_type": "Bearer"})
    run = doctor(*FULL)
    assert run.status("client_credentials") == "fail"
    assert "no access_token" in run.detail("client_credentials")


def test_a_token_endpoint_out_of_reach_is_a_fail(
    doctor: Callable[..., Run], proxy: Tampered
) -> None:
    def down(_: httpx.Response) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    proxy.token = down
    run = doctor(*FULL)
    assert run.status("client_credentials") == "fail"
    assert "ConnectError" in run.detail("client_credentials")


# -- the network -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "fragment"),
    [
        (httpx.ConnectError("All connection attempts failed"), "ConnectError"),
        (httpx.ReadTimeout("read timed out"), "timed out"),
        (httpx.ProxyError("proxy said no"), "ProxyError"),
    ],
)
def test_network_errors_are_fails_not_tracebacks(
    doctor: Callable[..., Run], proxy: Tampered, error: Exception, fragment: str
) -> None:
    proxy.error = error
    run = doctor(*FULL)
    assert run.code == 1
    assert run.status("discovery") == "fail"
    assert fragment in run.detail("discovery")
    assert run.status("jwks") == "skip"
    assert run.status("clock_skew") == "skip"
    assert "Traceback" not in run.out + run.err


def test_a_discovery_document_that_is_not_json_is_a_fail(doctor: Callable[..., Run]) -> None:
    page = httpx.MockTransport(lambda request: httpx.Response(200, text="<html>login</html>"))
    run = doctor("--json", transport=page)
    assert run.code == 1
    assert "did not answer JSON" in run.detail("discovery")


def _self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    encoding, fmt = serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8
    key_path.write_bytes(key.private_bytes(encoding, fmt, serialization.NoEncryption()))
    return cert_path, key_path


async def test_an_untrusted_certificate_is_a_readable_tls_fail(tmp_path: Path) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*_self_signed(tmp_path))

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    settings = DoctorSettings(issuer=f"https://127.0.0.1:{port}", client_id=CLIENT_ID)
    async with server, httpx.AsyncClient(timeout=5) as http:
        report = await diagnose(settings, http)
    checks = {check.name: check for check in report.checks}
    assert not report.ok
    assert checks["tls"].status == "fail"
    assert "TLS certificate verification failed: self-signed certificate" in checks["tls"].detail
    assert checks["discovery"].status == "fail"


# -- robustness: whatever a provider answers, a report ---------------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)
_FIELDS = [
    "issuer",
    "jwks_uri",
    "token_endpoint",
    "id_token_signing_alg_values_supported",
    "code_challenge_methods_supported",
    "response_types_supported",
    "response_modes_supported",
    "token_endpoint_auth_methods_supported",
    "end_session_endpoint",
]
_key_member = st.sampled_from(["kty", "kid", "use", "alg", "crv", "n", "e", "x", "y", "d", "k"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    doc=st.fixed_dictionaries({}, optional={name: _json for name in _FIELDS}),
    jwks=st.dictionaries(st.just("keys"), st.lists(st.dictionaries(_key_member, _json))),
    date=st.one_of(st.none(), st.text(max_size=30)),
)
def test_any_answer_gives_a_report(doc: Doc, jwks: Doc, date: str | None) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        headers = (
            {"Date": date} if date is not None and date.isascii() and date.isprintable() else {}
        )
        body = jwks if request.url.path == "/jwks" else {"jwks_uri": ISSUER + "/jwks", **doc}
        if request.url.path == "/token":
            body = {"error": doc.get("issuer")}
        return httpx.Response(200 if request.method == "GET" else 400, json=body, headers=headers)

    settings_ = DoctorSettings(
        issuer=ISSUER, client_id=CLIENT_ID, client_secret=SECRET, client_credentials=True
    )

    async def run() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
            report = await diagnose(settings_, http)
        assert len(report.checks) == 16
        assert all("\n" not in check.detail for check in report.checks)

    asyncio.run(run())


# -- usage -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["doctor"],
        ["doctor", "--client-id", CLIENT_ID],
        ["doctor", "--issuer", "op.test", "--client-id", CLIENT_ID],
        ["doctor", "--issuer", ISSUER + "?x=1", "--client-id", CLIENT_ID],
        ["doctor", "--issuer", ISSUER, "--client-id", CLIENT_ID, "--client-credentials"],
        ["doctor", "--issuer", ISSUER, "--client-id", CLIENT_ID, "--scope", "accounts:read"],
        ["doctor", "--issuer", ISSUER, "--client-id", CLIENT_ID, "--timeout", "soon"],
        ["doctor", "--issuer", ISSUER, "--client-id", CLIENT_ID, "--timeout", "0"],
        ["doctor", "--issuer", ISSUER, "--client-id", CLIENT_ID, "--id-token-algs", " , "],
        ["frobnicate"],
    ],
)
def test_usage_errors_exit_2(
    argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OIDC_CLIENT_SECRET", raising=False)
    assert main(argv) == 2
    assert "usage:" in capsys.readouterr().err


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor", "--help"]) == 0
    assert "--client-credentials" in capsys.readouterr().out


# -- the console script, against a real sandbox provider process -----------------------------


@pytest.fixture(scope="module")
def sandbox_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    client = f"{CLIENT_ID}:{SECRET}:http://127.0.0.1:8000/auth/callback"
    args = ["-m", "oidc_kit.testing", "--port", str(port), "--client", client]
    log = tmp_path_factory.mktemp("doctor") / "provider.log"
    with serve(args, port, {}, log, "/.well-known/openid-configuration") as server:
        yield server.base_url


def _script(issuer: str, secret: str) -> subprocess.CompletedProcess[str]:
    script = shutil.which("oidc-kit", path=Path(sys.executable).parent)
    assert script is not None, "run: .venv/bin/pip install -e . --no-deps"
    argv = [script, "doctor", "--issuer", issuer, "--client-id", CLIENT_ID, "--json"]
    argv += ["--allow-insecure-http", "--client-credentials", "--scope", "accounts:read"]
    argv += ["--redirect-uri", "http://127.0.0.1:8000/auth/callback"]
    env = {**os.environ, "OIDC_CLIENT_SECRET": secret}
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)  # noqa: S603


def test_the_console_script_passes_against_a_real_sandbox(sandbox_process: str) -> None:
    done = _script(sandbox_process, SECRET)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] is True
    statuses = {check["name"]: check["status"] for check in report["checks"]}
    assert statuses["tls"] == "warn"
    assert statuses["client_credentials"] == "ok"
    assert statuses["clock_skew"] in ("ok", "warn")  # a real Date header, from uvicorn
    assert SECRET not in done.stdout + done.stderr


def test_the_console_script_fails_with_a_wrong_secret(sandbox_process: str) -> None:
    wrong = "wrong-secret-0123456789"
    done = _script(sandbox_process, wrong)
    assert done.returncode == 1, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] is False
    (grant,) = [check for check in report["checks"] if check["name"] == "client_credentials"]
    assert grant["status"] == "fail"
    assert "refused the client's credentials" in grant["detail"]
    assert wrong not in done.stdout + done.stderr


# -- FAPI 2.0 ----------------------------------------------------------------------------------

FAPI2_DOC = {
    "pushed_authorization_request_endpoint": "https://op.test/par",
    "token_endpoint_auth_methods_supported": ["private_key_jwt"],
    "dpop_signing_alg_values_supported": ["ES256", "PS256"],
    "authorization_response_iss_parameter_supported": True,
    "id_token_signing_alg_values_supported": ["PS256"],
}


@pytest.mark.parametrize(
    ("member", "named"),
    [
        ("pushed_authorization_request_endpoint", "PAR"),
        ("token_endpoint_auth_methods_supported", "private_key_jwt"),
        ("dpop_signing_alg_values_supported", "DPoP with ES256"),
        ("authorization_response_iss_parameter_supported", "iss parameter"),
        ("id_token_signing_alg_values_supported", "ID tokens in PS256, ES256, EdDSA"),
    ],
)
def test_fapi2_names_what_the_provider_lacks(member: str, named: str) -> None:
    fapi2 = DoctorSettings(ISSUER, CLIENT_ID, fapi2=True)
    assert check_fapi2(FAPI2_DOC, fapi2).status == "ok"
    lacking = {k: v for k, v in FAPI2_DOC.items() if k != member}
    check = check_fapi2(lacking, fapi2)
    assert check.status == "fail"
    assert named in check.detail
    assert check_fapi2(lacking, DoctorSettings(ISSUER, CLIENT_ID)).status == "skip"


def test_fapi2_against_the_default_sandbox_names_its_rs256_id_tokens(
    doctor: Callable[..., Run], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``OIDC_PROFILE=fapi2`` turns the check on; the default sandbox signs RS256 only."""
    monkeypatch.setenv("OIDC_PROFILE", "fapi2")
    run = doctor("--json")
    status, detail = run.checks["fapi2"]
    assert (status, run.code) == ("fail", 1)
    assert "ID tokens in PS256" in detail
    assert "PAR" not in detail and "private_key_jwt" not in detail


def test_fapi2_passes_against_a_fapi2_sandbox(capsys: pytest.CaptureFixture[str]) -> None:
    op = SandboxProvider(
        ISSUER, [SandboxClient(CLIENT_ID, SECRET, (REDIRECT,))], id_token_alg="PS256"
    )
    code = main(
        ["doctor", "--issuer", ISSUER, "--client-id", CLIENT_ID, "--json", "--fapi2"],
        transport=httpx.ASGITransport(app=op.app),
    )
    checks = {c["name"]: c for c in json.loads(capsys.readouterr().out)["checks"]}
    assert checks["fapi2"]["status"] == "ok", checks["fapi2"]
    assert code in (0, 1)


# -- endpoints: OpenID discovery, RFC 8414 metadata, the settings (issue 13, item 3) ----------

OAUTH_WELL_KNOWN = "/.well-known/oauth-authorization-server"


class WithOauthMetadata(httpx.AsyncBaseTransport):
    """``inner``, plus an RFC 8414 document at the issuer's well-known location."""

    def __init__(self, inner: httpx.AsyncBaseTransport, doc: Doc) -> None:
        self.inner = inner
        self.doc = doc

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == OAUTH_WELL_KNOWN:
            return httpx.Response(200, json=self.doc)
        return await self.inner.handle_async_request(request)


def test_each_endpoints_source_is_shown(doctor: Callable[..., Run], proxy: Tampered) -> None:
    run = doctor(*FULL)
    assert run.status("endpoints") == "ok"
    detail = run.detail("endpoints")
    assert "authorization, token, jwks_uri, userinfo, end_session" in detail
    assert "revocation from openid-configuration" in detail
    assert "no introspection" in detail
    assert run.detail("revocation").endswith("(from openid-configuration)")
    assert OAUTH_WELL_KNOWN not in proxy.paths  # discovery has the revocation endpoint


def test_a_revocation_endpoint_only_in_rfc8414_metadata_is_found(
    doctor: Callable[..., Run], proxy: Tampered
) -> None:
    proxy.discovery = edit(revocation_endpoint=None)
    doc = {"issuer": ISSUER, "revocation_endpoint": f"{ISSUER}/oauth2/revoke"}
    run = doctor(*FULL, transport=WithOauthMetadata(proxy, doc))
    assert run.status("revocation") == "ok", run.checks["revocation"]
    assert run.detail("revocation") == (
        f"logout revokes tokens at {ISSUER}/oauth2/revoke (from oauth-authorization-server)"
    )
    assert run.status("endpoints") == "ok"
    assert "revocation from oauth-authorization-server" in run.detail("endpoints")


def test_rfc8414_metadata_of_another_issuer_is_a_warning_and_ignored(
    doctor: Callable[..., Run], proxy: Tampered
) -> None:
    proxy.discovery = edit(revocation_endpoint=None)
    doc = {"issuer": "https://evil.test", "revocation_endpoint": "https://evil.test/revoke"}
    run = doctor(*FULL, transport=WithOauthMetadata(proxy, doc))
    assert run.status("revocation") == "warn"
    assert "stay valid" in run.detail("revocation")
    assert run.status("endpoints") == "warn"
    assert "ignored: its issuer 'https://evil.test' is not the issuer" in run.detail("endpoints")
    assert run.code == 0


def test_no_rfc8414_metadata_is_said_not_failed(
    doctor: Callable[..., Run], proxy: Tampered
) -> None:
    proxy.discovery = edit(revocation_endpoint=None)
    run = doctor(*FULL)
    assert OAUTH_WELL_KNOWN in proxy.paths
    assert run.status("endpoints") == "ok"
    assert f"no RFC 8414 metadata at {ISSUER}{OAUTH_WELL_KNOWN} (HTTP 404)" in run.detail(
        "endpoints"
    )


def test_rfc8414_metadata_the_kit_would_not_read_is_not_used(
    doctor: Callable[..., Run], proxy: Tampered
) -> None:
    """The doctor reads RFC 8414 metadata with the kit's own reader: a document larger than
    the kit reads is reported, not used (an endpoint in it is no endpoint the kit knows)."""
    proxy.discovery = edit(revocation_endpoint=None)
    doc = {"issuer": ISSUER, "revocation_endpoint": f"{ISSUER}/oauth2/revoke"}
    doc["padding"] = "x" * (MAX_RESPONSE_BYTES + 1)
    run = doctor(*FULL, transport=WithOauthMetadata(proxy, doc))
    assert run.status("revocation") == "warn", run.checks["revocation"]
    assert run.status("endpoints") == "ok"
    assert f"no RFC 8414 metadata at {ISSUER}{OAUTH_WELL_KNOWN} (RFC 8414 metadata answered " in (
        run.detail("endpoints")
    )


def test_the_configured_revocation_endpoint_is_shown_as_such(
    doctor: Callable[..., Run], proxy: Tampered, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy.discovery = edit(revocation_endpoint=None)
    monkeypatch.setenv("OIDC_INTROSPECTION_ENDPOINT", f"{ISSUER}/introspect")
    run = doctor(*FULL, "--revocation-endpoint", f"{ISSUER}/configured/revoke")
    assert run.detail("revocation") == (
        f"logout revokes tokens at {ISSUER}/configured/revoke (from configuration)"
    )
    assert "revocation, introspection from configuration" in run.detail("endpoints")
    assert OAUTH_WELL_KNOWN not in proxy.paths  # the setting wins: nothing more to read
