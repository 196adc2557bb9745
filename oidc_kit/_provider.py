"""The OpenID Provider as the client sees it: discovery metadata and signing keys, cached.

Discovery is fetched once per ``discovery_ttl`` (concurrent callers share one fetch); the
discovered ``issuer`` must equal the configured one exactly. The JWKS is cached too; a token
whose ``kid`` is unknown triggers at most one refetch per ``jwks_refetch_interval`` (the
provider rotated its keys), never one per token, so forged ``kid`` values cannot make the
client hammer the provider.

The JWKS is read up to :data:`MAX_JWKS_BYTES` and :data:`MAX_JWKS_KEYS` keys (a hostile or
broken provider must not stall every login importing thousands of keys); its keys are imported
once per fetch and indexed by ``kid``, so finding a token's key costs a dictionary look-up.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import httpx

from ._dpop import DPoPNonces
from ._errors import DiscoveryError, ProviderUnavailable
from ._http import fetch, json_object
from ._jwks import MAX_JWKS_BYTES, KeyIndex, SigningKey, import_keys
from ._provider_config import ProviderConfig, allowed_endpoint
from ._rfc8414 import (
    CONFIGURATION,
    OAUTH_AUTHORIZATION_SERVER,
    OPENID_CONFIGURATION,
    fetch_oauth_metadata,
    needs_oauth_metadata,
    optional_endpoint,
)
from ._single_flight import SingleFlight

__all__ = ["MTLS_ALIASED", "Provider", "ProviderHealth", "ProviderMetadata"]

log = logging.getLogger("oidc_kit")

_T = TypeVar("_T")


@dataclass(frozen=True)
class ProviderMetadata:
    """The discovery fields the kit uses; ``raw`` keeps the whole document."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None
    revocation_endpoint: str | None
    end_session_endpoint: str | None
    token_endpoint_auth_methods: tuple[str, ...]
    iss_parameter_supported: bool
    raw: dict[str, Any]
    #: RFC 9126's ``pushed_authorization_request_endpoint``, when the provider has one.
    par_endpoint: str | None = None
    #: ``require_pushed_authorization_requests``: the provider refuses logins without PAR.
    require_par: bool = False
    #: RFC 7662's ``introspection_endpoint`` (``Introspector`` and ``introspect`` call it).
    introspection_endpoint: str | None = None
    #: Where each endpoint present came from: ``"openid-configuration"`` (discovery),
    #: ``"oauth-authorization-server"`` (RFC 8414 metadata) or ``"configuration"``.
    endpoint_sources: Mapping[str, str] = field(default_factory=dict)
    #: RFC 8705 5's ``mtls_endpoint_aliases`` (each https), by endpoint name. With a client
    #: certificate configured the kit calls these instead: the token, PAR, revocation,
    #: introspection and userinfo endpoints above already hold the alias, when there is one.
    mtls_endpoint_aliases: Mapping[str, str] = field(default_factory=dict)


@dataclass
class ProviderHealth:
    """How this process's latest calls to the provider (discovery, JWKS) ended.

    Health checks (``_health.py``) judge the provider from it, so a probe costs the provider
    no request. Times are the :class:`Provider`'s clock; ``None`` before any such call.
    """

    last_success: float | None = None
    last_failure: float | None = None
    #: Calls that failed since the last one that succeeded.
    consecutive_failures: int = 0

    def record(self, ok: bool, at: float) -> None:
        """Note one call's outcome, made at ``at``."""
        if ok:
            self.last_success, self.consecutive_failures = at, 0
        else:
            self.last_failure = at
            self.consecutive_failures += 1


class Provider:
    """Discovery and JWKS for one configured issuer."""

    def __init__(
        self,
        config: ProviderConfig,
        http: httpx.AsyncClient,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._config = config
        self._http = http
        self._clock = clock
        self._metadata: ProviderMetadata | None = None
        self._metadata_at = 0.0
        self._keys = KeyIndex()
        self._keys_at = float("-inf")
        # Discovery and JWKS fetches, each shared by the requests that need it meanwhile.
        self._discovery: SingleFlight[ProviderMetadata] = SingleFlight()
        self._jwks: SingleFlight[None] = SingleFlight()
        #: The latest ``DPoP-Nonce`` of each server this process talked to (RFC 9449 8, 9).
        self.dpop_nonces = DPoPNonces()
        #: How the latest discovery and JWKS fetches ended, for health checks.
        self.health = ProviderHealth()

    @property
    def has_metadata(self) -> bool:
        """Whether discovery has succeeded at least once in this process."""
        return self._metadata is not None

    async def metadata(self) -> ProviderMetadata:
        """The provider's metadata, from cache while it is younger than ``discovery_ttl``."""
        if self._metadata is not None and self._fresh(
            self._metadata_at, self._config.discovery_ttl
        ):
            return self._metadata
        return await self._shared(self._discovery, "discovery", self._discover_and_cache)

    async def _shared(
        self, flight: SingleFlight[_T], what: str, call: Callable[[], Awaitable[_T]]
    ) -> _T:
        """``call`` run once for every request that needs it meanwhile. Nobody waits longer
        than ``http_timeout`` behind it, however long it takes (it is bounded by the same
        deadline per HTTP call, and goes on for whoever asks next)."""
        try:
            return await flight.run(
                what, lambda: self._recorded(call), wait=self._config.http_timeout
            )
        except TimeoutError:
            raise ProviderUnavailable(
                f"{what}: no answer within {self._config.http_timeout:g} s"
            ) from None

    async def observed(self, call: Awaitable[_T]) -> _T:
        """A call to the provider's token endpoint (a code exchange, a refresh), its outcome
        noted in :attr:`health`: unreachable (``ProviderUnavailable``) is a failure; any
        answer, a refusal too, shows the provider is there."""
        try:
            result = await call
        except ProviderUnavailable:
            self.health.record(False, self._clock())
            raise
        except Exception:
            self.health.record(True, self._clock())
            raise
        self.health.record(True, self._clock())
        return result

    async def _recorded(self, call: Callable[[], Awaitable[_T]]) -> _T:
        """``call``, its outcome noted in :attr:`health` (once per fetch, not per caller)."""
        try:
            result = await call()
        except Exception:
            self.health.record(False, self._clock())
            raise
        self.health.record(True, self._clock())
        return result

    async def _discover_and_cache(self) -> ProviderMetadata:
        meta = await self._discover()
        self._metadata, self._metadata_at = meta, self._clock()
        return meta

    async def keys(
        self, kid: str | None, alg: str, *, from_provider: bool = False
    ) -> list[SigningKey]:
        """Candidate verification keys for a token header's ``kid`` and ``alg``.

        With a ``kid``: the keys carrying it, after one refetch when none does. Without: every
        signing key whose ``kty``, ``alg`` and ``use`` fit ``alg``.

        The refetch is rate-limited (one per ``jwks_refetch_interval``) for tokens anyone can
        send (logout tokens), so forged ``kid`` values cannot make us hammer the provider.
        ``from_provider`` tokens came straight from the token endpoint over TLS: their new
        ``kid`` means the provider has just rotated, so they may refetch at once — otherwise a
        rotation right after a fetch would fail every login and end every refreshed session
        for a minute.
        """
        if not self._fresh(self._keys_at, self._config.discovery_ttl):
            await self._refetch_keys(self._keys_at)
        found = self._keys.candidates(kid, alg)
        interval = 0 if from_provider else self._config.jwks_refetch_interval
        if not found and kid is not None and not self._fresh(self._keys_at, interval):
            # An unknown kid: the provider may have rotated. One refetch.
            await self._refetch_keys(self._keys_at)
            found = self._keys.candidates(kid, alg)
        return found

    def _fresh(self, fetched_at: float, ttl: float) -> bool:
        return self._clock() - fetched_at < ttl

    async def _refetch_keys(self, seen_at: float) -> None:
        if self._keys_at > seen_at and not self._jwks.running("jwks_uri"):
            return  # another request refetched since this one looked
        await self._shared(self._jwks, "jwks_uri", self._fetch_keys)

    async def _fetch_keys(self) -> None:
        meta = await self.metadata()
        response = await fetch(
            self._http,
            "GET",
            meta.jwks_uri,
            what="jwks_uri",
            kind="jwks",
            deadline=self._config.http_timeout,
            max_bytes=MAX_JWKS_BYTES,
        )
        if response.status_code != 200:
            raise DiscoveryError(f"jwks_uri answered {response.status_code}")
        body = json_object(response, DiscoveryError, "jwks_uri")
        self._keys = import_keys(body)
        self._keys_at = self._clock()

    async def _discover(self) -> ProviderMetadata:
        # Discovery and its RFC 8414 complement share one http_timeout: still one bounded wait.
        deadline = time.monotonic() + self._config.http_timeout
        url = discovery_url(self._config.issuer)
        response = await fetch(
            self._http,
            "GET",
            url,
            what="discovery",
            kind="discovery",
            deadline=self._config.http_timeout,
        )
        if response.status_code != 200:
            raise DiscoveryError(f"discovery answered {response.status_code}")
        doc = json_object(response, DiscoveryError, "discovery")
        oauth = None
        if needs_oauth_metadata(doc, self._config):
            remaining = deadline - time.monotonic()
            oauth = await fetch_oauth_metadata(self._http, self._config, remaining)
        return _parse_metadata(doc, self._config, oauth)


def discovery_url(issuer: str) -> str:
    """``{issuer}/.well-known/openid-configuration``: where the kit reads discovery."""
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


#: The endpoints read from discovery only.
_DISCOVERED = (
    "authorization_endpoint",
    "token_endpoint",
    "jwks_uri",
    "userinfo_endpoint",
    "end_session_endpoint",
    "pushed_authorization_request_endpoint",
)


def _parse_metadata(
    doc: dict[str, Any], config: ProviderConfig, oauth: Mapping[str, Any] | None = None
) -> ProviderMetadata:
    """What the kit uses of discovery ``doc``, completed by RFC 8414 metadata ``oauth``
    (already checked to name the issuer) and by the endpoints the configuration sets."""
    if doc.get("issuer") != config.issuer:
        raise DiscoveryError(
            "the discovered issuer is not the configured one",
            code="invalid_issuer",
            expected=config.issuer,
            actual=doc.get("issuer"),
        )

    def endpoint(name: str, required: bool) -> str | None:
        value = doc.get(name)
        if value is None and not required:
            return None
        if not isinstance(value, str) or not allowed_endpoint(value, config.allow_insecure_http):
            raise DiscoveryError(f"discovery has no usable {name}", actual=value)
        return value

    sources = {name: OPENID_CONFIGURATION for name in _DISCOVERED if doc.get(name) is not None}

    def located(name: str, *, strict: bool = True) -> str | None:
        """Configured, else discovered, else from RFC 8414: the first source wins. Not
        ``strict``: an unusable discovered one is ignored (an optional endpoint: without it
        ``introspect`` answers ``introspection_unsupported``)."""
        url: str | None = getattr(config, name)
        source = CONFIGURATION
        if url is None:
            if strict:
                url = endpoint(name, False)
            else:
                url = optional_endpoint(doc, name, config, "discovery document")
            source = OPENID_CONFIGURATION
        if url is None:
            url = optional_endpoint(oauth, name, config, "RFC 8414 metadata")
            source = OAUTH_AUTHORIZATION_SERVER
        if url is not None:
            sources[name] = source
        return url

    methods = doc.get("token_endpoint_auth_methods_supported", ["client_secret_basic"])
    aliases = _mtls_aliases(doc, config)
    meta = ProviderMetadata(
        issuer=config.issuer,
        authorization_endpoint=endpoint("authorization_endpoint", True) or "",
        token_endpoint=endpoint("token_endpoint", True) or "",
        jwks_uri=endpoint("jwks_uri", True) or "",
        userinfo_endpoint=endpoint("userinfo_endpoint", False),
        revocation_endpoint=located("revocation_endpoint"),
        end_session_endpoint=endpoint("end_session_endpoint", False),
        token_endpoint_auth_methods=tuple(m for m in methods if isinstance(m, str)),
        iss_parameter_supported=doc.get("authorization_response_iss_parameter_supported") is True,
        raw=doc,
        par_endpoint=endpoint("pushed_authorization_request_endpoint", False),
        require_par=doc.get("require_pushed_authorization_requests") is True,
        introspection_endpoint=located("introspection_endpoint", strict=False),
        endpoint_sources=sources,  # completed by located() above
        mtls_endpoint_aliases=aliases,
    )
    return _aliased(meta, config) if config.uses_mtls else meta


#: The endpoints a client presenting a certificate calls at their RFC 8705 5 alias, and the
#: metadata field holding each (the authorization endpoint is the browser's: never aliased).
#: RFC 8705 5: the endpoints whose ``mtls_endpoint_aliases`` entry the kit calls instead, with
#: its certificate (metadata name: the ``ProviderMetadata`` field holding it).
MTLS_ALIASED = {
    "token_endpoint": "token_endpoint",
    "pushed_authorization_request_endpoint": "par_endpoint",
    "revocation_endpoint": "revocation_endpoint",
    "introspection_endpoint": "introspection_endpoint",
    "userinfo_endpoint": "userinfo_endpoint",
}


def _mtls_aliases(doc: Mapping[str, Any], config: ProviderConfig) -> dict[str, str]:
    """``mtls_endpoint_aliases``, each URL checked like the endpoints it stands for (https, or
    loopback http with ``allow_insecure_http``); an unusable one is a ``DiscoveryError``."""
    raw = doc.get("mtls_endpoint_aliases")
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise DiscoveryError("discovery's mtls_endpoint_aliases is not an object")
    aliases: dict[str, str] = {}
    for name, url in raw.items():
        if not isinstance(url, str) or not allowed_endpoint(url, config.allow_insecure_http):
            raise DiscoveryError(
                f"discovery has no usable mtls_endpoint_aliases.{name}", actual=url
            )
        aliases[name] = url
    return aliases


def _aliased(meta: ProviderMetadata, config: ProviderConfig) -> ProviderMetadata:
    """``meta`` with the aliased endpoints in place of the plain ones (RFC 8705 5: a client
    using mutual TLS uses the alias where there is one), except an endpoint the configuration
    sets, which the app chose."""
    changes: dict[str, Any] = {}
    sources = dict(meta.endpoint_sources)
    for name, attribute in MTLS_ALIASED.items():
        alias = meta.mtls_endpoint_aliases.get(name)
        if alias is not None and sources.get(name) != CONFIGURATION:
            changes[attribute] = alias
            sources[name] = "mtls_endpoint_aliases"
    return replace(meta, **changes, endpoint_sources=sources) if changes else meta
