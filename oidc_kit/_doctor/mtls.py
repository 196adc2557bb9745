"""The doctor's mutual TLS check (RFC 8705): the client's certificate and key, and what the
provider offers for them."""

from __future__ import annotations

import datetime
import ssl
from collections.abc import Mapping
from typing import Any

from .._errors import ConfigurationError
from .._mtls import load_client_certificate
from .._provider import MTLS_ALIASED
from .report import Check, Status
from .settings import DoctorSettings

__all__ = [
    "BOUND_TOKENS",
    "EXPIRY_WARNING",
    "check_mtls",
    "client_tls_context",
    "offers_bound_tokens",
    "wants_mtls",
]

#: A certificate expiring sooner than this is worth a warning: renewing one at a provider
#: (a new DN or JWKS registered) takes time.
EXPIRY_WARNING = datetime.timedelta(days=30)


#: RFC 8705 3.3: the provider's metadata saying it binds access tokens to certificates.
BOUND_TOKENS = "tls_client_certificate_bound_access_tokens"


def offers_bound_tokens(doc: Mapping[str, Any]) -> bool:
    """Whether the provider says it issues certificate-bound access tokens."""
    return doc.get(BOUND_TOKENS) is True


def wants_mtls(settings: DoctorSettings) -> bool:
    """Whether the client uses mutual TLS (a certificate, or bound tokens asked for)."""
    return settings.client_cert is not None or settings.mtls_bound_tokens


def client_tls_context(settings: DoctorSettings) -> ssl.SSLContext | None:
    """A TLS context presenting the client's certificate, as the kit's HTTP client to the
    provider does (a client-credentials grant by ``tls_client_auth`` is then a real one);
    None without a usable pair (the ``mtls`` check says why)."""
    if settings.client_cert is None or settings.client_cert_key is None:
        return None
    try:
        cert = load_client_certificate(settings.client_cert, settings.client_cert_key)
    except ConfigurationError:
        return None
    return cert.tls_context()


def check_mtls(doc: Mapping[str, Any], settings: DoctorSettings, now: float) -> Check:
    """The certificate/key pair (they match, the certificate is valid now and not about to
    expire), the provider's ``mtls_endpoint_aliases`` (without them the kit calls the plain
    endpoints, which may not ask for a certificate), and
    ``tls_client_certificate_bound_access_tokens`` when bound tokens are asked for."""
    if settings.client_cert is None or settings.client_cert_key is None:
        if settings.mtls_bound_tokens:
            return Check("mtls", "fail", "bound tokens asked for, but no client certificate")
        return Check("mtls", "skip", "no client certificate (OIDC_CLIENT_CERT)")
    at = datetime.datetime.fromtimestamp(now, datetime.UTC)
    try:
        cert = load_client_certificate(settings.client_cert, settings.client_cert_key, at)
    except ConfigurationError as exc:
        return Check("mtls", "fail", exc.description)
    findings: list[tuple[Status, str]] = []
    left = cert.not_after - at
    if left < EXPIRY_WARNING:
        findings.append(("warn", f"the client certificate expires in {left.days} days"))
    aliases = doc.get("mtls_endpoint_aliases")
    aliased = [n for n in MTLS_ALIASED if isinstance(aliases, dict) and n in aliases]
    if not aliased:
        findings.append(
            (
                "warn",
                "the provider names no mtls_endpoint_aliases: the kit presents its "
                "certificate at the plain endpoints, which must ask for one",
            )
        )
    if settings.mtls_bound_tokens and not offers_bound_tokens(doc):
        findings.append(("fail", f"the provider does not say {BOUND_TOKENS}"))
    if not findings:
        where = ", ".join(aliased)
        return Check(
            "mtls",
            "ok",
            f"{cert.subject_dn}, valid until {cert.not_after:%Y-%m-%d}; aliases: {where}",
        )
    worst: Status = "fail" if any(s == "fail" for s, _ in findings) else "warn"
    return Check("mtls", worst, "; ".join(detail for _, detail in findings))
