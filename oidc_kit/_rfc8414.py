"""RFC 8414 authorization server metadata: a second source for endpoints discovery lacks.

Some providers publish their ``revocation_endpoint`` (and ``introspection_endpoint``) only in
``/.well-known/oauth-authorization-server``, not in OpenID discovery; without it the kit would
never revoke at logout. So when discovery has no revocation endpoint and none is configured,
the kit reads that document too, once per discovery, under the same rule as discovery: its
``issuer`` must equal the configured issuer exactly. Unlike discovery it is optional: missing,
unreachable or unreadable, it is skipped (logged at INFO); naming another issuer, it is ignored
with a warning, never trusted.

Where each endpoint came from is recorded (:data:`OPENID_CONFIGURATION`,
:data:`OAUTH_AUTHORIZATION_SERVER`, :data:`CONFIGURATION`); an endpoint set in the
configuration (``revocation_endpoint``, ``introspection_endpoint``) wins over both documents.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from ._errors import DiscoveryError, OIDCError
from ._http import fetch, json_object
from ._provider_config import ProviderConfig, allowed_endpoint

__all__ = [
    "CONFIGURATION",
    "OAUTH_AUTHORIZATION_SERVER",
    "OPENID_CONFIGURATION",
    "SECOND_SOURCE_ENDPOINTS",
    "OAuthMetadataRead",
    "fetch_oauth_metadata",
    "needs_oauth_metadata",
    "oauth_metadata_url",
    "optional_endpoint",
    "read_oauth_metadata",
]

log = logging.getLogger("oidc_kit")

#: The endpoint came from OpenID discovery (``/.well-known/openid-configuration``).
OPENID_CONFIGURATION = "openid-configuration"
#: The endpoint came from RFC 8414 metadata (``/.well-known/oauth-authorization-server``).
OAUTH_AUTHORIZATION_SERVER = "oauth-authorization-server"
#: The endpoint was set in the configuration.
CONFIGURATION = "configuration"
#: The endpoints that may come from RFC 8414 metadata or the configuration.
SECOND_SOURCE_ENDPOINTS = ("revocation_endpoint", "introspection_endpoint")


def oauth_metadata_url(issuer: str) -> str:
    """RFC 8414 3.1: the well-known suffix goes between the host and the issuer's path
    (``https://h/tenant`` → ``https://h/.well-known/oauth-authorization-server/tenant``)."""
    parts = urlsplit(issuer)
    path = "/.well-known/oauth-authorization-server" + parts.path.rstrip("/")
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def needs_oauth_metadata(discovery: Mapping[str, Any], config: ProviderConfig) -> bool:
    """Whether the kit reads RFC 8414 metadata after this discovery document: only when it
    lacks the revocation endpoint (the one the kit uses) and the configuration sets none.
    (A document naming another issuer is refused anyway: nothing more is fetched for it.)"""
    return (
        discovery.get("issuer") == config.issuer
        and config.revocation_endpoint is None
        and discovery.get("revocation_endpoint") is None
    )


@dataclass(frozen=True)
class OAuthMetadataRead:
    """One read of the issuer's RFC 8414 metadata: the document the kit uses, or why none."""

    #: Where it was looked for (:func:`oauth_metadata_url`).
    url: str
    #: The document, when it was read and names the configured issuer.
    doc: dict[str, Any] | None = None
    #: Why there is no document (``HTTP 404``, an error's description); None with one.
    problem: str | None = None
    #: The document names another issuer: ignored, and worth a warning.
    foreign: bool = False
    #: The ``issuer`` a foreign document names (any JSON value; shown, never trusted).
    foreign_issuer: Any = None


async def read_oauth_metadata(
    http: httpx.AsyncClient, config: ProviderConfig, deadline: float
) -> OAuthMetadataRead:
    """Read the issuer's RFC 8414 metadata within ``deadline`` seconds, under discovery's
    issuer rule (exactly the configured issuer). Never raises an :class:`OIDCError`, never
    logs: :func:`fetch_oauth_metadata` logs for the kit, ``oidc-kit doctor`` reports."""
    url = oauth_metadata_url(config.issuer)
    if deadline <= 0:
        return OAuthMetadataRead(url, problem="no time left to read it")
    try:
        response = await fetch(
            http,
            "GET",
            url,
            what="RFC 8414 metadata",
            kind="rfc8414",
            deadline=deadline,
            headers={"Accept": "application/json"},
        )
        if response.status_code != 200:
            return OAuthMetadataRead(url, problem=f"HTTP {response.status_code}")
        doc = json_object(response, DiscoveryError, "RFC 8414 metadata")
    except OIDCError as exc:  # unreachable, too large, not JSON: it is only a second source
        return OAuthMetadataRead(url, problem=exc.description)
    if doc.get("issuer") != config.issuer:
        return OAuthMetadataRead(url, foreign=True, foreign_issuer=doc.get("issuer"))
    return OAuthMetadataRead(url, doc)


async def fetch_oauth_metadata(
    http: httpx.AsyncClient, config: ProviderConfig, deadline: float
) -> dict[str, Any] | None:
    """The issuer's RFC 8414 metadata within ``deadline`` seconds, or ``None`` (logged) when it
    is missing, unreadable, or names another issuer. Never raises an :class:`OIDCError`."""
    read = await read_oauth_metadata(http, config, deadline)
    if read.foreign:
        log.warning(
            "ignoring the RFC 8414 metadata at %s: its issuer %.200r is not the configured %r",
            read.url,
            read.foreign_issuer,
            config.issuer,
        )
    elif read.doc is None:
        log.info("no RFC 8414 metadata at %s (%s)", read.url, read.problem)
    return read.doc


def optional_endpoint(
    doc: Mapping[str, Any] | None, name: str, config: ProviderConfig, where: str
) -> str | None:
    """Endpoint ``name`` of metadata ``doc``, checked like discovery's endpoints; an unusable
    one is ignored with a warning: an endpoint the kit can do without (from a second source, or
    one it never calls) must not fail discovery."""
    value = None if doc is None else doc.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not allowed_endpoint(value, config.allow_insecure_http):
        log.warning(
            "ignoring the %s's %s %.200r: not https (nor allowed loopback http)",
            where,
            name,
            value,
        )
        return None
    return value
