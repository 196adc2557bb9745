"""The OpenID Provider as the client sees it: discovery metadata and signing keys, cached.

Discovery is fetched once per ``discovery_ttl`` (concurrent callers share one fetch); the
discovered ``issuer`` must equal the configured one exactly. The JWKS is cached too; a token
whose ``kid`` is unknown triggers at most one refetch per ``jwks_refetch_interval`` (the
provider rotated its keys), never one per token, so forged ``kid`` values cannot make the
client hammer the provider.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OKPKey, RSAKey

from ._config import OIDCConfig, is_loopback
from ._dpop import DPoPNonces
from ._errors import DiscoveryError
from ._http import fetch, json_object

__all__ = ["Provider", "ProviderMetadata", "SigningKey"]

log = logging.getLogger("oidc_kit")

SigningKey = RSAKey | ECKey | OKPKey

_KEY_CLASSES: dict[str, type[RSAKey] | type[ECKey] | type[OKPKey]] = {
    "RSA": RSAKey,
    "EC": ECKey,
    "OKP": OKPKey,
}
_KTY_FOR_ALG_PREFIX = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}


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

    @property
    def token_auth_method(self) -> str:
        """``client_secret_basic`` unless the provider only offers ``client_secret_post``."""
        methods = self.token_endpoint_auth_methods
        if "client_secret_post" in methods and "client_secret_basic" not in methods:
            return "client_secret_post"
        return "client_secret_basic"


class Provider:
    """Discovery and JWKS for one configured issuer."""

    def __init__(
        self, config: OIDCConfig, http: httpx.AsyncClient, clock: Callable[[], float] = time.time
    ) -> None:
        self._config = config
        self._http = http
        self._clock = clock
        self._metadata: ProviderMetadata | None = None
        self._metadata_at = 0.0
        self._keys: list[SigningKey] = []
        self._keys_at = float("-inf")
        self._lock = asyncio.Lock()
        self._keys_lock = asyncio.Lock()
        #: The latest ``DPoP-Nonce`` of each server this process talked to (RFC 9449 8, 9).
        self.dpop_nonces = DPoPNonces()

    async def metadata(self) -> ProviderMetadata:
        """The provider's metadata, from cache while it is younger than ``discovery_ttl``."""
        if self._metadata is not None and self._fresh(
            self._metadata_at, self._config.discovery_ttl
        ):
            return self._metadata
        async with self._lock:
            if self._metadata is None or not self._fresh(
                self._metadata_at, self._config.discovery_ttl
            ):
                self._metadata = await self._discover()
                self._metadata_at = self._clock()
        return self._metadata

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
        found = _candidates(self._keys, kid, alg)
        interval = 0 if from_provider else self._config.jwks_refetch_interval
        if not found and kid is not None and not self._fresh(self._keys_at, interval):
            # An unknown kid: the provider may have rotated. One refetch.
            await self._refetch_keys(self._keys_at)
            found = _candidates(self._keys, kid, alg)
        return found

    def _fresh(self, fetched_at: float, ttl: float) -> bool:
        return self._clock() - fetched_at < ttl

    async def _refetch_keys(self, seen_at: float) -> None:
        meta = await self.metadata()
        async with self._keys_lock:
            if self._keys_at > seen_at:
                return  # another request refetched while this one waited
            response = await fetch(self._http, "GET", meta.jwks_uri, what="jwks_uri")
            if response.status_code != 200:
                raise DiscoveryError(f"jwks_uri answered {response.status_code}")
            body = json_object(response, DiscoveryError, "jwks_uri")
            self._keys = _import_keys(body)
            self._keys_at = self._clock()

    async def _discover(self) -> ProviderMetadata:
        url = self._config.issuer.rstrip("/") + "/.well-known/openid-configuration"
        response = await fetch(self._http, "GET", url, what="discovery")
        if response.status_code != 200:
            raise DiscoveryError(f"discovery answered {response.status_code}")
        doc = json_object(response, DiscoveryError, "discovery")
        return _parse_metadata(doc, self._config)


def _parse_metadata(doc: dict[str, Any], config: OIDCConfig) -> ProviderMetadata:
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
        if not isinstance(value, str) or not _acceptable_url(value, config):
            raise DiscoveryError(f"discovery has no usable {name}", actual=value)
        return value

    methods = doc.get("token_endpoint_auth_methods_supported", ["client_secret_basic"])
    return ProviderMetadata(
        issuer=config.issuer,
        authorization_endpoint=endpoint("authorization_endpoint", True) or "",
        token_endpoint=endpoint("token_endpoint", True) or "",
        jwks_uri=endpoint("jwks_uri", True) or "",
        userinfo_endpoint=endpoint("userinfo_endpoint", False),
        revocation_endpoint=endpoint("revocation_endpoint", False),
        end_session_endpoint=endpoint("end_session_endpoint", False),
        token_endpoint_auth_methods=tuple(m for m in methods if isinstance(m, str)),
        iss_parameter_supported=doc.get("authorization_response_iss_parameter_supported") is True,
        raw=doc,
        par_endpoint=endpoint("pushed_authorization_request_endpoint", False),
        require_par=doc.get("require_pushed_authorization_requests") is True,
    )


def _acceptable_url(url: str, config: OIDCConfig) -> bool:
    parts = urlsplit(url)
    if not parts.hostname:
        return False
    # The insecure switch covers loopback development only, endpoints included.
    insecure_ok = config.allow_insecure_http and is_loopback(url)
    return parts.scheme == "https" or (parts.scheme == "http" and insecure_ok)


def _import_keys(jwks: dict[str, Any]) -> list[SigningKey]:
    """The JWKS's usable signing keys; encryption keys and unknown types are skipped."""
    raw_keys = jwks.get("keys")
    if not isinstance(raw_keys, list):
        raise DiscoveryError("the JWKS has no keys array")
    keys: list[SigningKey] = []
    for raw in raw_keys:
        if not isinstance(raw, dict) or raw.get("use", "sig") != "sig":
            continue
        key_class = _KEY_CLASSES.get(str(raw.get("kty")))
        if key_class is None:
            continue
        try:
            key = key_class.import_key(raw)
        except (JoseError, ValueError, TypeError):
            log.warning("skipping an unusable key in the provider's JWKS (kid=%r)", raw.get("kid"))
            continue
        if key_weakness(key) is not None:
            # joserfc only warns about a short RSA key; a token it signs must not verify.
            log.warning("skipping a weak key in the provider's JWKS (kid=%r)", raw.get("kid"))
            continue
        keys.append(key)
    return keys


_MIN_RSA_BITS = 2048
_CURVES = {"EC": frozenset({"P-256", "P-384", "P-521"}), "OKP": frozenset({"Ed25519", "Ed448"})}


def key_weakness(key: SigningKey) -> str | None:
    """Why the kit will not verify signatures with ``key``, or ``None`` when it will: RSA
    needs at least 2048 bits (RFC 7518 3.3); EC and OKP keys a curve the allowed algs use."""
    if isinstance(key, RSAKey):
        if key.public_key.key_size < _MIN_RSA_BITS:
            return f"RSA keys need at least {_MIN_RSA_BITS} bits"
        return None
    curves = _CURVES[key.key_type]
    if key.curve_name not in curves:
        return f"{key.key_type} keys must be {' or '.join(sorted(curves))}"
    return None


def _candidates(keys: list[SigningKey], kid: str | None, alg: str) -> list[SigningKey]:
    kty = _KTY_FOR_ALG_PREFIX.get(alg[:2])
    found = []
    for key in keys:
        if kid is not None and key.kid != kid:
            continue
        if key.key_type != kty:
            continue
        key_alg = key.get("alg")
        if key_alg is not None and key_alg != alg:
            continue
        found.append(key)
    return found
