""":func:`diagnose`: every check, in the report's order, over one HTTP client."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from .._provider import discovery_url
from .algorithms import allowlist_config, check_algorithms, jwks_algs, kit_algorithms
from .client import check_client_credentials, check_redirect_uri, check_token_auth_methods
from .discovery import (
    check_clock_skew,
    check_discovery,
    check_end_session,
    check_fapi2,
    check_iss_parameter,
    check_pkce,
    check_response_modes,
    check_response_types,
    check_tls,
)
from .endpoints import Endpoints, check_endpoints, check_revocation, locate_endpoints
from .keys import check_jwks
from .mtls import check_mtls, wants_mtls
from .net import fetch_json
from .report import Check, Report, clean, secret_forms
from .requests import check_request_objects
from .settings import DoctorSettings

__all__ = ["diagnose"]

#: The checks of the discovery document's contents, skipped when there is none.
_OF_THE_DOCUMENT = (
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
)


async def diagnose(
    settings: DoctorSettings, http: httpx.AsyncClient, *, clock: Callable[[], float] = time.time
) -> Report:
    """Run every check against ``settings.issuer`` through ``http``."""
    discovery = await fetch_json(http, discovery_url(settings.issuer), clock)
    checks = [check_discovery(settings.issuer, discovery), check_tls(settings, discovery)]
    endpoints = None
    if discovery.body is None:
        names = [*_OF_THE_DOCUMENT, *_optional_checks(settings)]
        checks += [Check(name, "skip", "no discovery document") for name in names]
    else:
        endpoints = await locate_endpoints(http, settings, discovery.body)
        checks += await _document_checks(http, settings, discovery.body, endpoints, clock)
    checks.append(check_clock_skew(discovery))
    checks.append(check_redirect_uri(settings.redirect_uri, settings.allow_insecure_http))
    checks.append(await check_client_credentials(http, settings, endpoints, clock))
    hidden = [*secret_forms(settings.client_id, settings.client_secret), *_inline_keys(settings)]
    return Report(settings.issuer, tuple(clean(check, hidden) for check in checks))


async def _document_checks(
    http: httpx.AsyncClient,
    settings: DoctorSettings,
    doc: Mapping[str, Any],
    endpoints: Endpoints,
    clock: Callable[[], float],
) -> list[Check]:
    """The checks of the discovery document's contents, in :data:`_OF_THE_DOCUMENT`'s order."""
    algs = kit_algorithms(settings)
    return [
        await check_jwks(http, doc, clock, jwks_algs(doc, algs)),
        check_algorithms(doc, algs),
        check_pkce(doc),
        check_response_types(doc),
        check_response_modes(doc, settings, endpoints, allowlist_config(settings, algs)),
        check_iss_parameter(doc),
        check_end_session(doc),
        check_revocation(doc, endpoints),
        check_endpoints(endpoints),
        check_token_auth_methods(doc, settings),
        check_fapi2(doc, settings),
        # Only for a client that uses them: a row for every client would say "skip".
        *([check_request_objects(settings, endpoints)] if settings.signed_requests else []),
        *([check_mtls(doc, settings, clock())] if wants_mtls(settings) else []),
    ]


def _optional_checks(settings: DoctorSettings) -> list[str]:
    """The checks reported only for a client using what they check, in the report's order."""
    wanted = {"request_objects": settings.signed_requests, "mtls": wants_mtls(settings)}
    return [name for name, used in wanted.items() if used]


def _inline_keys(settings: DoctorSettings) -> list[str]:
    """The private keys given inline (a PEM or JWK, not a file's path), hidden like the
    secret: no check should show one, and none will."""
    keys = (settings.client_key, settings.client_cert_key)
    return [k for k in keys if k and ("\n" in k.strip() or k.lstrip().startswith("{"))]
