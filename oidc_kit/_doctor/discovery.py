"""Checks on the discovery document: the issuer rule, TLS, the features the kit needs or
uses (PKCE, response types and modes, RFC 9207, logout, FAPI 2.0), the provider's clock."""

from __future__ import annotations

from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

from .._app_config import AppConfig
from .._client_key import MTLS_AUTH_METHODS
from .._dpop import DPOP_ALG
from .._errors import ConfigurationError, DiscoveryError
from .._jarm import check_jarm_support, response_algs, uses_jarm
from .._provider import discovery_url
from .._provider_config import FAPI2_ID_TOKEN_ALGS, ProviderConfig, allowed_endpoint
from .endpoints import Endpoints
from .mtls import BOUND_TOKENS, offers_bound_tokens
from .net import Fetched, strings
from .report import Check, Status, offered, verdict
from .settings import DoctorSettings

__all__ = [
    "CLOCK_LEEWAY",
    "CLOCK_OK",
    "check_clock_skew",
    "check_discovery",
    "check_end_session",
    "check_fapi2",
    "check_iss_parameter",
    "check_pkce",
    "check_response_modes",
    "check_response_types",
    "check_tls",
    "scheme_status",
]

#: The kit's default tolerance on ``iat``/``exp``: beyond it, ID tokens are refused.
CLOCK_LEEWAY: int = ProviderConfig.clock_leeway
#: Skew below this is ordinary (the ``Date`` header has one-second resolution).
CLOCK_OK = 5


def check_discovery(issuer: str, fetched: Fetched) -> Check:
    """The document is there, names exactly ``issuer``, and has the endpoints the kit needs."""
    url = discovery_url(issuer)
    if fetched.body is None:
        return Check("discovery", "fail", f"could not fetch {url}: {fetched.error}")
    found = fetched.body.get("issuer")
    if found != issuer:
        detail = f"issuer mismatch: the document says {found!r}, expected {issuer!r} (exact)"
        return Check("discovery", "fail", detail)
    required = ("authorization_endpoint", "token_endpoint", "jwks_uri")
    missing = [name for name in required if not isinstance(fetched.body.get(name), str)]
    if missing:
        return Check("discovery", "fail", "missing " + ", ".join(missing))
    return Check("discovery", "ok", f"{url}: issuer matches")


def check_tls(settings: DoctorSettings, fetched: Fetched) -> Check:
    """https for the issuer and every endpoint (plain http: loopback, explicitly allowed)."""
    if fetched.tls_error:
        return Check("tls", "fail", f"{settings.issuer}: {fetched.error}")
    doc = fetched.body or {}
    urls: dict[str, Any] = {"issuer": settings.issuer}
    urls |= {k: v for k, v in doc.items() if k.endswith("_endpoint") or k == "jwks_uri"}
    status = {name: scheme_status(url, settings.allow_insecure_http) for name, url in urls.items()}
    findings: list[tuple[Status, str]] = []
    if bad := [name for name, s in status.items() if s == "fail"]:
        rule = "plain http only on loopback, with --allow-insecure-http"
        if "issuer" in bad:
            also = f", nor are {len(bad) - 1} of its endpoints" if len(bad) > 1 else ""
            findings.append(("fail", f"the issuer is not https{also} ({rule})"))
        else:
            listed = ", ".join(f"{name} {urls[name]!r}" for name in bad)
            findings.append(("fail", f"not https: {listed} ({rule})"))
    if "warn" in status.values():
        findings.append(
            ("warn", "plain http on loopback (--allow-insecure-http): development only")
        )
    what = f"the issuer and {len(urls) - 1} endpoints" if doc else "the issuer"
    return verdict("tls", findings, f"https for {what}")


def scheme_status(url: Any, allow_insecure_http: bool) -> Status:
    """``ok`` for https, ``warn`` for the loopback http the switch allows, ``fail`` for
    anything else: the kit's own rule (:func:`allowed_endpoint`) decides what it calls."""
    if not isinstance(url, str) or not allowed_endpoint(url, allow_insecure_http):
        return "fail"
    return "ok" if urlsplit(url).scheme == "https" else "warn"


def check_pkce(doc: Mapping[str, Any]) -> Check:
    """``S256`` is a supported code challenge method: the kit always sends it."""
    methods = strings(doc, "code_challenge_methods_supported")
    if methods and "S256" in methods:
        return Check("pkce", "ok", "S256 supported")
    offered = ", ".join(methods) if methods else "none advertised"
    return Check("pkce", "fail", f"S256 not supported ({offered}); the kit always uses S256")


def check_response_types(doc: Mapping[str, Any]) -> Check:
    """``code`` is a supported response type: the kit's only flow."""
    types = strings(doc, "response_types_supported") or []
    if "code" in types:
        return Check("response_types", "ok", "code supported")
    offered = ", ".join(types) or "none"
    return Check("response_types", "fail", f"code not supported ({offered}); the kit needs it")


def check_response_modes(
    doc: Mapping[str, Any], settings: DoctorSettings, endpoints: Endpoints, jarm: ProviderConfig
) -> Check:
    """The ``response_mode`` the app sends (``OIDC_RESPONSE_MODE``), by the kit's rules: one
    it accepts at start-up; a JARM mode the provider advertises, with an algorithm of
    ``jarm``'s allowlist in ``authorization_signing_alg_values_supported`` (the check the
    login makes); ``query`` or ``form_post`` advertised. None set: ``query`` (the default),
    or at least ``form_post``."""
    name, mode = "response_modes", settings.response_mode
    try:  # the kit's start-up rule (fragment modes never reach a server)
        AppConfig(
            base_url="https://doctor.invalid", session_secrets=("-" * 16,), response_mode=mode
        )
    except ConfigurationError as exc:
        return Check(name, "fail", exc.description)
    if mode is not None and uses_jarm(mode):
        return _check_jarm(mode, endpoints, jarm)
    modes = strings(doc, "response_modes_supported")
    if mode is not None:
        return _check_chosen_mode(mode, modes)
    if modes is None:
        return Check(name, "ok", "not advertised: query (the default) assumed")
    if "query" in modes:
        post = "form_post also" if "form_post" in modes else "no form_post"
        return Check(name, "ok", f"query supported; {post}")
    if "form_post" in modes:
        detail = "no query; set OIDC_RESPONSE_MODE=form_post"
        return Check(name, "warn", detail)
    return Check(name, "fail", f"neither query nor form_post ({', '.join(modes)})")


def _check_chosen_mode(mode: str, modes: list[str] | None) -> Check:
    """``query`` or ``form_post``, set by the app: the provider must advertise it (without
    ``response_modes_supported`` only ``query`` is certain, RFC 8414 2)."""
    chosen = f"{mode} (OIDC_RESPONSE_MODE)"
    if (modes is None and mode == "query") or (modes is not None and mode in modes):
        return Check("response_modes", "ok", f"{chosen} supported")
    if modes is None:
        detail = f"{chosen} assumed: response_modes_supported is not advertised"
        return Check("response_modes", "warn", detail)
    detail = f"{chosen} is not advertised ({', '.join(modes)})"
    return Check("response_modes", "fail", detail)


def _check_jarm(mode: str, endpoints: Endpoints, config: ProviderConfig) -> Check:
    """A JARM mode: :func:`check_jarm_support`, as at the login's start."""
    name = "response_modes"
    if endpoints.meta is None:
        return Check(name, "skip", f"the kit refuses this provider: {endpoints.refusal}")
    try:
        check_jarm_support(mode, config, endpoints.meta)
        algs = response_algs(config, endpoints.meta)
    except DiscoveryError as exc:
        return Check(name, "fail", exc.description + offered(exc.actual))
    detail = f"{mode} (OIDC_RESPONSE_MODE) supported: response JWTs in {', '.join(algs)}"
    return Check(name, "ok", detail)


def check_iss_parameter(doc: Mapping[str, Any]) -> Check:
    """RFC 9207: the provider names itself in authorization responses (mix-up defence)."""
    if doc.get("authorization_response_iss_parameter_supported") is True:
        return Check("iss_parameter", "ok", "RFC 9207 iss parameter sent; the kit checks it")
    detail = "no RFC 9207 iss parameter: mix-up defence weaker (the ID token's iss remains)"
    return Check("iss_parameter", "warn", detail)


def check_end_session(doc: Mapping[str, Any]) -> Check:
    """An ``end_session_endpoint`` for RP-initiated logout."""
    if isinstance(url := doc.get("end_session_endpoint"), str):
        return Check("end_session", "ok", f"logout redirects to {url}")
    detail = "no end_session_endpoint: logout ends the app's session only, not the provider's"
    return Check("end_session", "warn", detail)


def check_fapi2(doc: Mapping[str, Any], settings: DoctorSettings) -> Check:
    """What ``profile="fapi2"`` needs of the provider: PAR; client authentication by
    ``private_key_jwt``, or the mutual TLS method ``OIDC_TOKEN_AUTH_METHOD`` names; a sender
    constraint: DPoP with ES256 (the kit's proofs), or certificate-bound tokens with
    ``OIDC_MTLS_BOUND_TOKENS`` (FAPI 2.0 allows either); the RFC 9207 ``iss`` parameter; and
    a FAPI 2.0 ID-token algorithm."""
    if not settings.fapi2:
        return Check("fapi2", "skip", "not asked for (--fapi2, or OIDC_PROFILE=fapi2)")
    missing = []
    if not isinstance(doc.get("pushed_authorization_request_endpoint"), str):
        missing.append("a pushed_authorization_request_endpoint (PAR)")
    method = settings.token_endpoint_auth_method
    if method not in MTLS_AUTH_METHODS:
        method = "private_key_jwt"  # the profile's other method (the kit refuses the rest)
    if method not in (strings(doc, "token_endpoint_auth_methods_supported") or []):
        missing.append(method)
    # ProviderConfig.uses_dpop: under fapi2, DPoP unless bound tokens choose mutual TLS.
    if settings.mtls_bound_tokens:
        constraint = "certificate-bound tokens"
        if not offers_bound_tokens(doc):
            missing.append(f"{constraint} ({BOUND_TOKENS})")
    else:
        constraint = f"DPoP ({DPOP_ALG})"
        if DPOP_ALG not in (strings(doc, "dpop_signing_alg_values_supported") or []):
            missing.append(f"DPoP with {DPOP_ALG}")
    if doc.get("authorization_response_iss_parameter_supported") is not True:
        missing.append("the RFC 9207 iss parameter")
    advertised = strings(doc, "id_token_signing_alg_values_supported") or []
    if not set(FAPI2_ID_TOKEN_ALGS) & set(advertised):
        missing.append("ID tokens in " + ", ".join(FAPI2_ID_TOKEN_ALGS))
    if missing:
        return Check("fapi2", "fail", "the provider does not offer " + "; ".join(missing))
    detail = f"PAR, {method}, {constraint}, iss and FAPI 2.0 algorithms"
    return Check("fapi2", "ok", detail)


def check_clock_skew(fetched: Fetched) -> Check:
    """The provider's ``Date`` against the local clock, within the kit's leeway."""
    if fetched.received_at is None:
        return Check("clock_skew", "skip", "no answer from the provider")
    if fetched.date is None:
        return Check("clock_skew", "skip", "the provider sent no Date header")
    try:
        sent = parsedate_to_datetime(fetched.date).timestamp() + 0.5  # Date drops fractions
    except (TypeError, ValueError):
        return Check("clock_skew", "skip", f"unreadable Date header {fetched.date!r}")
    skew = sent - fetched.received_at
    if round(skew) == 0:
        return Check("clock_skew", "ok", "the provider's clock agrees with this machine's")
    where = "ahead of" if skew > 0 else "behind"
    detail = f"the provider's clock is {round(abs(skew))} s {where} this machine's"
    if abs(skew) <= CLOCK_OK:
        return Check("clock_skew", "ok", f"{detail} (within {CLOCK_OK} s)")
    if abs(skew) <= CLOCK_LEEWAY:
        return Check("clock_skew", "warn", f"{detail} (the kit tolerates {CLOCK_LEEWAY} s)")
    detail += f": beyond the kit's {CLOCK_LEEWAY} s leeway, ID tokens will be refused"
    return Check("clock_skew", "fail", detail)
