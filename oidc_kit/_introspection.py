"""Token introspection (RFC 7662): whether the provider still holds an access token active.

An opaque access token says nothing about itself; only its provider knows whether it was
revoked. :class:`Introspector` asks the provider's ``introspection_endpoint`` (discovered, or
the ``introspection_endpoint`` setting), authenticated as the client authenticates at the token
endpoint (``_client_auth``: one implementation, the same method under DPoP and FAPI 2.0), and
returns a :class:`TokenIntrospection`. A resource server or a batch job uses it with a
:class:`~oidc_kit.ProviderConfig` alone; an app asks about a user's session through
``RelyingParty.introspect`` (and each adapter's ``introspect``).

What the kit checks of an answer (each refusal :class:`~oidc_kit.IntrospectionFailed`):

- JSON object with a boolean ``active`` (RFC 7662 2.2: the one required member); the members
  RFC 7662 2.2 names have their types (``exp`` a number, ``aud`` a string or a list of them...);
- ``iss``, when present, is the provider's issuer: the endpoint speaks for one issuer, and an
  answer about another's token is a mix-up (as RFC 9701 5 requires of signed answers);
- ``client_id``, when the caller says whose token it must be (``expected_client_id``: a
  session's token was issued to this client), is that client; the ``cnf.jkt`` of a token the
  caller knows is DPoP-bound (``expected_jkt``, RFC 9449 6.2) is that key's thumbprint.

An answer saying ``active`` for a token whose ``exp`` has passed, or whose ``nbf`` has not
come (beyond the clock leeway), is taken as inactive: the token cannot be used either way.

Caching (RFC 7662 4 lets a protected resource cache answers, trading freshness for load): each
answer is kept under a SHA-256 of the token, never the token itself, for at most
``introspection_cache_ttl`` seconds (0: not at all). An active answer never outlives the token:
it goes at its ``exp`` or at the expiry the caller knows, whichever comes first; an inactive
one stays the TTL (a token never becomes active again). The cache is bounded (least recently
used answers go first), and concurrent introspections of one token share one request.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from ._client_key import MTLS_AUTH_METHODS
from ._errors import ConfigurationError, IntrospectionFailed
from ._http import json_object
from ._provider import Provider, ProviderMetadata
from ._provider_config import ProviderConfig
from ._single_flight import SingleFlight
from ._tokens import post_authenticated

__all__ = ["DEFAULT_CACHE_SIZE", "Introspector", "TokenIntrospection"]

log = logging.getLogger("oidc_kit")

#: Answers kept at most (about 300 bytes each): far above one process's live tokens.
DEFAULT_CACHE_SIZE = 10_000

_STRINGS = ("scope", "client_id", "username", "token_type", "sub", "iss", "jti")
_NUMBERS = ("exp", "iat", "nbf")
#: The members :class:`TokenIntrospection` has fields for; the rest go to ``extra``.
_FIELDS = frozenset({"active", "scope", "client_id", "sub", "exp", "iat", "token_type", "aud"})


@dataclass(frozen=True)
class TokenIntrospection:
    """The provider's answer about one token (RFC 7662 2.2); never the token itself.

    An inactive token has ``active`` ``False`` and nothing else: RFC 7662 2.2 tells the
    provider to say no more about it, and the kit keeps nothing else of such an answer.
    """

    active: bool
    #: The token's scopes, space-separated, as granted.
    scope: str | None = None
    #: The client the token was issued to.
    client_id: str | None = None
    #: The user (or client) the token is about.
    sub: str | None = None
    #: When the token expires and was issued (epoch seconds).
    exp: float | None = None
    iat: float | None = None
    #: ``Bearer``, ``DPoP``... as the provider names the token's type.
    token_type: str | None = None
    #: The audiences the token is for (a single ``aud`` string as a 1-tuple).
    aud: tuple[str, ...] = ()
    #: The issuer, when the provider says (it was checked to be the provider's).
    iss: str | None = None
    #: Every other member of the answer (``username``, ``nbf``, ``jti``, ``cnf``...).
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def scopes(self) -> frozenset[str]:
        """``scope`` as a set."""
        return frozenset((self.scope or "").split())

    def as_dict(self) -> dict[str, Any]:
        """The answer as JSON-ready values (for a page or an API response)."""
        fields = {
            "active": self.active,
            "scope": self.scope,
            "client_id": self.client_id,
            "sub": self.sub,
            "exp": self.exp,
            "iat": self.iat,
            "token_type": self.token_type,
            "aud": list(self.aud),
            "iss": self.iss,
        }
        return {**self.extra, **{k: v for k, v in fields.items() if v not in (None, [])}}


#: What every inactive answer becomes.
INACTIVE = TokenIntrospection(active=False)


class Introspector:
    """Asks one provider whether tokens are active (RFC 7662), caching its answers.

    ``config`` gives the issuer, the client's credentials (``client_secret``, ``client_key``,
    or a certificate with ``tls_client_auth``: introspection needs an authenticated client),
    ``http_timeout``, ``clock_leeway``, ``introspection_cache_ttl`` and
    ``introspection_endpoint``; ``http_client`` reaches the provider (with mutual TLS, one
    presenting the certificate: ``verify=config.tls_context()``; the provider's
    ``mtls_endpoint_aliases`` are then used); ``cache_size`` bounds the cache::

        introspector = Introspector(config, http_client=http)
        answer = await introspector.introspect(token)
        if not answer.active or "accounts:read" not in answer.scopes: ...

    A resource server also checks that the token is meant for it (``aud``) and carries the
    scope the call needs: the answer says; the decision is the server's.
    """

    def __init__(
        self,
        config: ProviderConfig,
        *,
        http_client: httpx.AsyncClient,
        cache_size: int = DEFAULT_CACHE_SIZE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        certificate = config.token_endpoint_auth_method in MTLS_AUTH_METHODS
        if not config.client_secret and config.signing_key is None and not certificate:
            raise ConfigurationError(
                "token introspection needs a client secret (OIDC_CLIENT_SECRET), a client "
                "key (OIDC_CLIENT_KEY) or a client certificate (OIDC_TOKEN_AUTH_METHOD="
                "tls_client_auth): the endpoint answers authenticated clients only"
            )
        if cache_size < 1:
            raise ConfigurationError("cache_size must be at least 1", actual=cache_size)
        self._config = config
        self._http = http_client
        self._provider = Provider(config, http_client, clock)
        self._clock = clock
        self._cache_size = cache_size
        #: SHA-256 of a token -> (until when the answer may be used, the answer).
        self._cache: OrderedDict[bytes, tuple[float, TokenIntrospection]] = OrderedDict()
        self._flight: SingleFlight[TokenIntrospection] = SingleFlight()

    @classmethod
    def _for_provider(
        cls,
        config: ProviderConfig,
        provider: Provider,
        http_client: httpx.AsyncClient,
        clock: Callable[[], float],
    ) -> Introspector:
        """One sharing ``provider``'s discovery (a relying party's, for its sessions)."""
        introspector = cls(config, http_client=http_client, clock=clock)
        introspector._provider = provider
        return introspector

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        http_client: httpx.AsyncClient,
        cache_size: int = DEFAULT_CACHE_SIZE,
        clock: Callable[[], float] = time.time,
    ) -> Introspector:
        """One configured from the provider's variables only (``OIDC_ISSUER``,
        ``OIDC_CLIENT_ID``, ``OIDC_CLIENT_SECRET`` or ``OIDC_CLIENT_KEY``,
        ``OIDC_INTROSPECTION_CACHE_TTL``...; ``environ`` default ``os.environ``)."""
        config = ProviderConfig.from_env(environ)
        return cls(config, http_client=http_client, cache_size=cache_size, clock=clock)

    def __repr__(self) -> str:
        return f"Introspector(issuer={self._config.issuer!r}, cached={len(self._cache)})"

    async def introspect(
        self,
        token: str,
        *,
        expires_at: float | None = None,
        expected_client_id: str | None = None,
        expected_jkt: str | None = None,
    ) -> TokenIntrospection:
        """The provider's answer about ``token`` (an access token), from the cache when fresh.

        ``expires_at``: the token's expiry as the caller knows it (a token past it is inactive
        without asking, and no answer is cached beyond it); ``expected_client_id``: the
        client it must have been issued to; ``expected_jkt``: the DPoP key it must be bound
        to. :class:`~oidc_kit.IntrospectionFailed` for an answer that fails a check or none
        at all, :class:`~oidc_kit.ProviderUnavailable` when the provider cannot be reached.
        """
        now = self._clock()
        if expires_at is not None and expires_at <= now:
            return INACTIVE
        key = hashlib.sha256(token.encode()).digest()
        answer = self._cached(key, now)
        if answer is None:
            answer = await self._flight.run(key, lambda: self._ask(token, key, expires_at))
        if answer.active:
            _check_expected(answer, expected_client_id, expected_jkt)
        return answer

    def forget(self, token: str) -> None:
        """Drop the cached answer about ``token`` (this app just revoked it, say)."""
        self._cache.pop(hashlib.sha256(token.encode()).digest(), None)

    def _cached(self, key: bytes, now: float) -> TokenIntrospection | None:
        entry = self._cache.get(key)
        if entry is None:
            return None
        until, answer = entry
        if now >= until:
            del self._cache[key]
            return None
        self._cache.move_to_end(key)  # least recently used goes first
        return answer

    async def _ask(self, token: str, key: bytes, expires_at: float | None) -> TokenIntrospection:
        """One request to the endpoint; its checked answer, cached as long as it may be."""
        meta = await self._provider.metadata()
        body = await self._request(meta, token)
        now = self._clock()
        answer = self._parse(body, now)
        self._remember(key, answer, now, expires_at)
        log.debug("token introspection at %s: active=%s", self._config.issuer, answer.active)
        return answer

    async def _request(self, meta: ProviderMetadata, token: str) -> dict[str, Any]:
        url = meta.introspection_endpoint
        if url is None:
            raise IntrospectionFailed(
                "the provider has no introspection endpoint (set introspection_endpoint, "
                "OIDC_INTROSPECTION_ENDPOINT, if it has one it does not publish)",
                code="introspection_unsupported",
            )
        form = {"token": token, "token_type_hint": "access_token"}
        response = await post_authenticated(
            self._http,
            self._config,
            meta,
            url,
            form,
            self._clock(),
            what="introspection",
            kind="introspection",
        )
        if response.status_code != 200:
            raise IntrospectionFailed(
                f"the introspection endpoint refused the request ({response.status_code})",
                code="introspection_failed",
            )
        return json_object(response, IntrospectionFailed, "the introspection endpoint")

    def _parse(self, body: Mapping[str, Any], now: float) -> TokenIntrospection:
        """RFC 7662 2.2's answer, typed and checked; inactive when it cannot be used now."""
        active = body.get("active")
        if not isinstance(active, bool):
            raise IntrospectionFailed(
                "the introspection answer has no boolean active member",
                actual=type(active).__name__,
            )
        if not active:
            return INACTIVE
        _check_types(body)
        iss = body.get("iss")
        if iss is not None and iss != self._config.issuer:
            raise IntrospectionFailed(
                "the introspection answer is about another issuer's token",
                expected=self._config.issuer,
                actual=iss,
            )
        leeway = self._config.clock_leeway
        exp, nbf = body.get("exp"), body.get("nbf")
        if (exp is not None and exp + leeway <= now) or (nbf is not None and nbf - leeway > now):
            log.info("token introspection: an active answer outside exp/nbf, taken as inactive")
            return INACTIVE
        aud = body.get("aud")
        return TokenIntrospection(
            active=True,
            scope=body.get("scope"),
            client_id=body.get("client_id"),
            sub=body.get("sub"),
            exp=exp,
            iat=body.get("iat"),
            token_type=body.get("token_type"),
            aud=(aud,) if isinstance(aud, str) else tuple(aud or ()),
            iss=iss,
            extra={k: v for k, v in body.items() if k not in _FIELDS and k != "iss"},
        )

    def _remember(
        self, key: bytes, answer: TokenIntrospection, now: float, expires_at: float | None
    ) -> None:
        """Cache ``answer`` until the TTL, and an active one no later than the token's
        expiry (its ``exp``, the caller's ``expires_at``)."""
        until = now + self._config.introspection_cache_ttl
        if answer.active:
            for expiry in (answer.exp, expires_at):
                if expiry is not None:
                    until = min(until, expiry)
        if until <= now:
            return
        self._cache[key] = (until, answer)
        self._cache.move_to_end(key)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)


def _check_types(body: Mapping[str, Any]) -> None:
    """The members RFC 7662 2.2 defines, when present, have its types."""
    wrong = [name for name in _STRINGS if not isinstance(body.get(name, ""), str)]
    wrong += [name for name in _NUMBERS if not _is_number(body.get(name, 0))]
    aud = body.get("aud", "")
    if not (
        isinstance(aud, str) or (isinstance(aud, list) and all(isinstance(a, str) for a in aud))
    ):
        wrong.append("aud")
    if wrong:
        raise IntrospectionFailed(
            "the introspection answer has members of the wrong type", actual=wrong
        )


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_expected(answer: TokenIntrospection, client_id: str | None, jkt: str | None) -> None:
    """The caller's own knowledge of the token, against an active answer."""
    if client_id is not None and answer.client_id is not None and answer.client_id != client_id:
        # A session's token issued to another client: a substituted token, not ours to use.
        raise IntrospectionFailed(
            "the introspected token was issued to another client",
            expected=client_id,
            actual=answer.client_id,
        )
    cnf = answer.extra.get("cnf")
    bound = cnf.get("jkt") if isinstance(cnf, Mapping) else None
    if jkt is not None and bound is not None and bound != jkt:
        raise IntrospectionFailed(
            "the introspected token is bound to another DPoP key", expected=jkt, actual=bound
        )
