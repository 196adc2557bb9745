"""``private_key_jwt`` and ``client_secret_jwt`` client authentication (RFC 7523 2.2,
OpenID Connect Core 9).

The client signs a short-lived JWT with its own key; the provider checks it against the
client's registered JWKS (given inline, or fetched from its ``jwks_uri``, cached, refetched
when a ``kid`` is unknown at most once per ``refetch_interval``). With ``client_secret_jwt`` the
JWT is HMAC-signed with the client secret instead. Either way the same claims checks follow
(``iss``/``sub``, ``aud``, ``exp``, ``iat``/``nbf``, ``jti`` replay).
"""

from __future__ import annotations

import asyncio
import json
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import httpx
from joserfc import jwk, jws
from joserfc.errors import JoseError
from joserfc.jwk import OctKey

from ._op_context import OAuthError
from ._op_models import SandboxClient
from ._op_replay import ReplayCache

__all__ = [
    "ASSERTION_ALGS",
    "ASSERTION_TYPE",
    "HMAC_ASSERTION_ALGS",
    "MAX_ASSERTION_LIFETIME",
    "AssertionVerifier",
    "assertion_header",
    "invalid_client",
]

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: The algorithms FAPI 2.0 allows for client assertions; RS256, HS* and none are refused.
ASSERTION_ALGS: tuple[str, ...] = ("PS256", "ES256")
#: ``client_secret_jwt``'s algorithm; never accepted from a ``private_key_jwt`` client (nor
#: the asymmetric ones from a ``client_secret_jwt`` client): the registration decides.
HMAC_ASSERTION_ALGS: tuple[str, ...] = ("HS256",)
#: The furthest in the future an assertion's ``exp`` may be, in seconds.
MAX_ASSERTION_LIFETIME = 300
#: Clock skew tolerated on ``iat``, ``nbf`` and on the lifetime limit, in seconds.
_SKEW = 5

_CHALLENGE = {"WWW-Authenticate": 'Basic realm="sandbox"'}


def invalid_client(description: str) -> OAuthError:
    """``invalid_client`` (401), as every failed client authentication is answered."""
    return OAuthError("invalid_client", description, status=401, headers=_CHALLENGE)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class _ClientKeys:
    """One client's public keys: the registered JWKS, or its ``jwks_uri``'s, cached."""

    def __init__(self, client: SandboxClient, refetch_interval: float) -> None:
        self._client = client
        self._refetch_interval = refetch_interval
        self._keys: jwk.KeySet | None = (
            jwk.KeySet.import_key_set(dict(client.jwks)) if client.jwks is not None else None  # type: ignore[arg-type]
        )
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()

    async def get(self, kid: str | None, http: httpx.AsyncClient, now: float) -> jwk.KeySet | None:
        """The keys, refetched first if ``kid`` is unknown and the last fetch is old enough."""
        if self._keys is not None and (kid is None or _has_kid(self._keys, kid)):
            return self._keys
        uri = self._client.jwks_uri
        if uri is None:
            return self._keys
        async with self._lock:
            if self._keys is not None and (kid is None or _has_kid(self._keys, kid)):
                return self._keys
            if now - self._fetched_at < self._refetch_interval:
                return self._keys
            self._fetched_at = now
            try:
                response = await http.get(uri)
                response.raise_for_status()
                self._keys = jwk.KeySet.import_key_set(response.json())
            except (httpx.HTTPError, ValueError, TypeError, KeyError, JoseError):
                pass  # keep what we had: the assertion is refused, the next try refetches
        return self._keys


def _has_kid(keys: jwk.KeySet, kid: str) -> bool:
    return any(key.kid == kid for key in keys.keys)


class AssertionVerifier:
    """Checks ``client_assertion`` JWTs; one per provider (it keeps the ``jti`` cache).

    ``http`` returns the client used to fetch a ``jwks_uri``.
    """

    def __init__(
        self,
        issuer: str,
        clock: Callable[[], float],
        http: Callable[[], httpx.AsyncClient],
        refetch_interval: float = 5.0,
    ) -> None:
        self._issuer = issuer
        self._clock = clock
        self._http = http
        self._refetch_interval = refetch_interval
        self._keys: dict[str, _ClientKeys] = {}
        self._replay = ReplayCache(clock)

    async def verify(self, client: SandboxClient, form: Mapping[str, str]) -> None:
        """Check the form's ``client_assertion`` for ``client``, or raise ``invalid_client``."""
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            raise invalid_client(f"client_assertion_type must be {ASSERTION_TYPE}")
        assertion = form.get("client_assertion")
        if assertion is None:
            raise invalid_client("client_assertion is required")
        header = assertion_header(assertion)
        alg = header.get("alg")
        secret_jwt = "client_secret_jwt" in client.auth_methods
        algs = HMAC_ASSERTION_ALGS if secret_jwt else ASSERTION_ALGS
        if alg not in algs:
            allowed = " or ".join(algs)
            raise invalid_client(f"the client assertion's alg must be {allowed}, not {alg}")
        if secret_jwt:
            claims = _secret_signed_claims(client, assertion, str(alg))
        else:
            claims = await self._signed_claims(client, assertion, header)
        self._check_claims(client, claims)

    async def signed_claims(
        self, client: SandboxClient, token: str, header: Mapping[str, Any]
    ) -> dict[str, Any]:
        """The claims of a JWT signed with one of ``client``'s registered keys (also its
        request objects: one key cache per client); ``invalid_client`` when none verifies."""
        return await self._signed_claims(client, token, header)

    async def _signed_claims(
        self, client: SandboxClient, assertion: str, header: Mapping[str, Any]
    ) -> dict[str, Any]:
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise invalid_client("the client assertion's kid must be text")
        holder = self._keys.get(client.client_id)
        if holder is None:
            holder = self._keys[client.client_id] = _ClientKeys(client, self._refetch_interval)
        keys = await holder.get(kid, self._http(), self._clock())
        if keys is None:
            raise invalid_client("the client's JWKS could not be fetched")
        candidates = [k for k in keys.keys if kid is None or k.kid == kid]
        if not candidates:
            raise invalid_client(f"no key with kid {kid!r} in the client's JWKS")
        for key in candidates:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    verified = jws.deserialize_compact(assertion, key, algorithms=[header["alg"]])
                claims = json.loads(verified.payload)
            except (JoseError, ValueError, TypeError):
                continue
            if isinstance(claims, dict):
                return claims
        raise invalid_client("the client assertion's signature does not verify")

    def _check_claims(self, client: SandboxClient, claims: Mapping[str, Any]) -> None:
        client_id = client.client_id
        if claims.get("iss") != client_id or claims.get("sub") != client_id:
            raise invalid_client("the client assertion's iss and sub must both be the client_id")
        aud = claims.get("aud")
        if not (aud == self._issuer or (isinstance(aud, list) and self._issuer in aud)):
            raise invalid_client(f"the client assertion's aud must be the issuer {self._issuer}")
        now = self._clock()
        exp = claims.get("exp")
        if not _is_int(exp):
            raise invalid_client("the client assertion needs exp")
        assert isinstance(exp, int)
        if exp <= now:
            raise invalid_client("the client assertion has expired")
        if exp > now + MAX_ASSERTION_LIFETIME + _SKEW:
            limit = MAX_ASSERTION_LIFETIME
            raise invalid_client(f"the client assertion's exp is more than {limit} s away")
        for name in ("iat", "nbf"):
            value = claims.get(name)
            if value is not None and (not _is_int(value) or value > now + _SKEW):
                raise invalid_client(f"the client assertion's {name} is in the future")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            raise invalid_client("the client assertion needs a jti")
        if not self._replay.first_use(f"{client_id}:{jti}", exp + 1):
            raise invalid_client("this client assertion (its jti) was already used")


def _secret_signed_claims(client: SandboxClient, assertion: str, alg: str) -> dict[str, Any]:
    """The claims of an assertion HMAC-signed with the client's secret (its UTF-8 octets)."""
    key = OctKey.import_key((client.client_secret or "").encode())
    try:
        claims = json.loads(jws.deserialize_compact(assertion, key, algorithms=[alg]).payload)
    except (JoseError, ValueError, TypeError):
        raise invalid_client("the client assertion's signature does not verify") from None
    if not isinstance(claims, dict):
        raise invalid_client("the client assertion's payload is not a claims set")
    return claims


def assertion_header(assertion: str) -> dict[str, Any]:
    """The assertion's protected header (unverified: to choose how to verify it)."""
    try:
        return dict(jws.extract_compact(assertion.encode("ascii")).protected)
    except (JoseError, ValueError, TypeError, UnicodeEncodeError) as exc:
        raise invalid_client("client_assertion is not a compact JWS") from exc
