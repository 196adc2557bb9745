"""The endpoints the kit would use and where each comes from, found by the kit's own code:
its configuration, its RFC 8414 reader (:func:`read_oauth_metadata`, the issuer rule
included) and its metadata parser (:func:`_parse_metadata`), in the order the kit calls them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from .._errors import OIDCError
from .._provider import ProviderMetadata, _parse_metadata
from .._provider_config import ProviderConfig
from .._rfc8414 import (
    OPENID_CONFIGURATION,
    SECOND_SOURCE_ENDPOINTS,
    OAuthMetadataRead,
    needs_oauth_metadata,
    read_oauth_metadata,
)
from .report import Check
from .settings import DoctorSettings, kit_config

__all__ = ["Endpoints", "check_endpoints", "check_revocation", "locate_endpoints"]


@dataclass(frozen=True)
class Endpoints:
    """The endpoints as the kit would find them, or why it would refuse the provider; and
    what became of RFC 8414 metadata if it was read."""

    #: The kit's configuration for this client; None when the kit refuses the settings.
    config: ProviderConfig | None
    meta: ProviderMetadata | None
    refusal: str | None = None
    #: RFC 8414 metadata, read when discovery has no revocation endpoint (nor the settings).
    oauth: OAuthMetadataRead | None = None


async def locate_endpoints(
    http: httpx.AsyncClient, settings: DoctorSettings, doc: Mapping[str, Any]
) -> Endpoints:
    """Read RFC 8414 metadata where the kit would, and combine it with discovery and the
    settings as the kit does (the same functions ``Provider`` calls)."""
    try:
        config = kit_config(settings)
    except OIDCError as exc:
        return Endpoints(None, None, exc.description)
    oauth = None
    if needs_oauth_metadata(doc, config):
        oauth = await read_oauth_metadata(http, config, config.http_timeout)
    try:
        meta = _parse_metadata(dict(doc), config, oauth.doc if oauth else None)
    except OIDCError as exc:
        return Endpoints(config, None, exc.description, oauth)
    return Endpoints(config, meta, None, oauth)


def check_revocation(doc: Mapping[str, Any], endpoints: Endpoints) -> Check:
    """A ``revocation_endpoint`` (RFC 7009), where logout revokes the tokens: from discovery,
    RFC 8414 metadata or the settings, as the kit finds it."""
    meta = endpoints.meta
    if meta is None:  # the kit refuses the provider (other checks say why): discovery's
        url, source = doc.get("revocation_endpoint"), OPENID_CONFIGURATION
    else:
        url = meta.revocation_endpoint
        source = meta.endpoint_sources.get("revocation_endpoint", "")
    if isinstance(url, str):
        return Check("revocation", "ok", f"logout revokes tokens at {url} (from {source})")
    detail = "no revocation_endpoint in discovery, RFC 8414 metadata or the settings: "
    detail += "tokens stay valid after logout until they expire"
    return Check("revocation", "warn", detail)


def check_endpoints(endpoints: Endpoints) -> Check:
    """Where each endpoint the kit would use comes from: ``openid-configuration``,
    ``oauth-authorization-server`` (RFC 8414) or ``configuration``; a warning when RFC 8414
    metadata names another issuer (the kit ignores it)."""
    if endpoints.meta is None:
        return Check("endpoints", "skip", f"the kit refuses this provider: {endpoints.refusal}")
    by_source: dict[str, list[str]] = {}
    for name, source in endpoints.meta.endpoint_sources.items():
        by_source.setdefault(source, []).append(_label(name))
    parts = [f"{', '.join(names)} from {source}" for source, names in by_source.items()]
    missing = [n for n in SECOND_SOURCE_ENDPOINTS if n not in endpoints.meta.endpoint_sources]
    if missing:
        parts.append("no " + ", ".join(_label(n) for n in missing))
    oauth = endpoints.oauth
    if oauth is not None and oauth.foreign:
        parts.append(
            f"RFC 8414 metadata at {oauth.url} ignored: "
            f"its issuer {oauth.foreign_issuer!r} is not the issuer"
        )
    elif oauth is not None and oauth.doc is None:
        parts.append(f"no RFC 8414 metadata at {oauth.url} ({oauth.problem})")
    warn = oauth is not None and oauth.foreign
    return Check("endpoints", "warn" if warn else "ok", "; ".join(parts))


def _label(name: str) -> str:
    """``revocation`` for ``revocation_endpoint``; ``par`` for the PAR endpoint's long name."""
    if name == "pushed_authorization_request_endpoint":
        return "par"
    return name.removesuffix("_endpoint")
