"""A provider's settings: the issuer, this client's registration there, and how to talk to it.

What a client of the provider alone needs (the client credentials grant, ``oidc-kit doctor``),
and one half of :class:`~oidc_kit.OIDCConfig`. The FAPI 2.0 profile's effects are computed here
(``uses_par``, ``uses_dpop``, ``id_token_allowlist``), never written into the fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Self
from urllib.parse import urlsplit

from ._auth_params import AuthParams, check_auth_params, check_resource
from ._client_key import ClientKey
from ._env import ENV_NAMES, settings_from_env
from ._errors import ConfigurationError

__all__ = [
    "DEFAULT_ID_TOKEN_ALGS",
    "FAPI2_ID_TOKEN_ALGS",
    "ProviderConfig",
    "alg_refusal",
    "allowed_endpoint",
    "check_http_url",
    "is_loopback",
]

DEFAULT_ID_TOKEN_ALGS = ("RS256", "PS256", "ES256", "EdDSA")
#: What the FAPI 2.0 Security Profile (5.4.1) allows for signatures.
FAPI2_ID_TOKEN_ALGS = ("PS256", "ES256", "EdDSA")
_ASYMMETRIC_ALGS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
_HMAC_ALGS = frozenset({"HS256", "HS384", "HS512"})
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_PROFILES = (None, "fapi2")


def alg_refusal(alg: str, *, has_secret: bool) -> str | None:
    """Why the kit refuses ``alg`` for ID and logout tokens, or ``None`` when it may be used:
    ``none`` and unknown names never, ``HS*`` only with a client secret (its key)."""
    if alg in _HMAC_ALGS:
        return None if has_secret else f"{alg} ID tokens need a client secret"
    if alg not in _ASYMMETRIC_ALGS:
        return f"ID token algorithm {alg!r} is not allowed"
    return None


def is_loopback(url: str) -> bool:
    """Whether ``url``'s host is a loopback address (where plain http may be allowed)."""
    return (urlsplit(url).hostname or "") in _LOOPBACK_HOSTS


def allowed_endpoint(url: str, allow_insecure_http: bool) -> bool:
    """Whether the kit may talk to ``url``: https, or plain http on a loopback host when the
    insecure switch is on (loopback development only, endpoints included)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- a port that is no number raises here, not in httpx later
    except ValueError:  # an unbalanced IPv6 bracket, for one: not a URL to call
        return False
    if not parts.hostname or not url.isprintable() or " " in url:
        return False  # control characters and spaces: httpx would refuse it (InvalidURL)
    insecure_ok = allow_insecure_http and is_loopback(url)
    return parts.scheme == "https" or (parts.scheme == "http" and insecure_ok)


def check_http_url(name: str, url: str) -> None:
    """``url`` (the setting ``name``) is an absolute http(s) URL with no query or fragment."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigurationError(f"{name} must be an absolute http(s) URL")
    if parts.query or parts.fragment:
        raise ConfigurationError(f"{name} must not have a query or fragment")


@dataclass(frozen=True, kw_only=True)
class ProviderConfig:
    """One OpenID Provider and this client's registration there: what the kit needs to talk
    to it, whether or not users log in (``ClientCredentials`` and the doctor need only this).

    Every field has a matching environment variable read by :meth:`from_env`; the docs'
    configuration page lists them. Secrets are never part of ``repr``.
    """

    #: The provider's issuer URL, compared exactly with the discovered ``issuer``.
    issuer: str
    #: The client id registered at the provider.
    client_id: str
    #: The client secret (``client_secret_basic``, or ``_post`` when that is all it supports).
    client_secret: str | None = field(default=None, repr=False)
    #: Scopes asked for at login; ``openid`` is always among them.
    scopes: tuple[str, ...] = ("openid",)
    #: The ID-token (and logout-token) signature algorithms the client allows, decided by the
    #: client, never by the token; of these, those the provider advertises are accepted.
    #: Unset: the profile's list, ``RS256 PS256 ES256 EdDSA`` (``PS256 ES256 EdDSA`` under
    #: ``fapi2``, where naming another algorithm is refused). ``id_token_allowlist`` is the
    #: list in force.
    id_token_algs: tuple[str, ...] | None = None
    #: The client's registered ``id_token_signed_response_alg``. Set: ID tokens and logout
    #: tokens must use exactly this algorithm, and ``id_token_algs`` is not used. Unset: those
    #: of ``id_token_algs`` that the provider advertises (``id_token_signing_alg_values_supported``;
    #: RS256 when it advertises none, OpenID Connect Registration's default).
    id_token_alg: str | None = None
    #: Seconds of clock skew tolerated on ``exp``/``iat``/``auth_time``.
    clock_leeway: int = 30
    #: Seconds before expiry at which an access token is refreshed (at most half its life).
    refresh_leeway: int = 30
    #: Allow an ``http://`` issuer. Loopback development and the sandbox only.
    allow_insecure_http: bool = False
    #: How long discovery metadata is cached.
    discovery_ttl: int = 3600
    #: At most one JWKS refetch for an unknown ``kid`` per this many seconds.
    jwks_refetch_interval: int = 60
    #: Deadline of each HTTP call to the provider, in seconds: connect, send and every read
    #: together (a provider trickling its answer is cut off), and the longest any request
    #: waits behind another's discovery or JWKS fetch. A refresh grant is abandoned after
    #: three times as long. Each provider's own, whatever the timeout of the HTTP client.
    http_timeout: float = 10.0
    #: ``"fapi2"``: the FAPI 2.0 Security Profile. Turns on ``par``, ``dpop`` and
    #: ``private_key_jwt`` (``client_key`` is then required), allows only PS256, ES256 and
    #: EdDSA ID tokens with ``aud`` exactly this client, and requires the RFC 9207 ``iss``
    #: parameter on every authorization response. Its effects are computed (``uses_par``,
    #: ``uses_dpop``, ``id_token_allowlist``), never written into the other settings; a
    #: setting that contradicts it (``par=False``, ``dpop=False``, another algorithm) is refused.
    profile: str | None = None
    #: The client's private key for ``private_key_jwt`` (RSA of 2048 bits or more: PS256;
    #: P-256: ES256): a PEM or JWK file's path, or the PEM or JWK itself. When set, the client
    #: authenticates with it instead of a secret, and publishes its public key at
    #: ``{route_prefix}/jwks``.
    client_key: str | None = field(default=None, repr=False)
    #: Pushed Authorization Requests (RFC 9126): the login's parameters go to the provider
    #: by a back-channel POST; the browser carries only a ``request_uri``. Also used whenever
    #: the provider says ``require_pushed_authorization_requests``. Unset: on under ``fapi2``
    #: (where off is refused), else off; ``uses_par`` is the value in force.
    par: bool | None = None
    #: DPoP (RFC 9449): bind access tokens to a key pair of the session's own; the provider
    #: must then issue ``DPoP`` tokens (a ``Bearer`` token is refused). Unset: on under
    #: ``fapi2`` (where off is refused), else off; ``uses_dpop`` is the value in force.
    dpop: bool | None = None
    #: The revocation endpoint (RFC 7009) logout revokes at, instead of the one the provider's
    #: metadata names (OpenID discovery, else RFC 8414 metadata). https, or loopback http with
    #: ``allow_insecure_http``.
    revocation_endpoint: str | None = None
    #: The introspection endpoint (RFC 7662), instead of the provider's metadata's. The kit
    #: does not call it: it is recorded in ``ProviderMetadata`` for the app, and the doctor.
    introspection_endpoint: str | None = None
    #: The ``audience`` parameter sent with every authorization request (and PAR): the API
    #: whose access token the login asks for, as Auth0-shaped providers (PortX) take it.
    audience: str | None = None
    #: RFC 8707 resource indicators, absolute URIs without a fragment (space-separated in the
    #: variable): sent with every authorization request (and PAR), and with the code and
    #: refresh grants.
    resource: tuple[str, ...] = ()
    #: More parameters for every authorization request at this provider (``prompt``,
    #: ``ui_locales``, ``claims``...); in the variable as a URL query string,
    #: ``prompt=consent&ui_locales=de``. The kit's own parameters (``state``, ``nonce``,
    #: ``redirect_uri``...) and those with a setting of their own (``scope``, ``audience``,
    #: ``resource``, ``max_age``, ``acr_values``) are refused.
    auth_params: Mapping[str, str] = field(default_factory=AuthParams)

    def __post_init__(self) -> None:
        self._check_provider()

    def _check_provider(self) -> None:
        """Every provider setting, alone and against the profile."""
        check_http_url("issuer", self.issuer)
        if urlsplit(self.issuer).scheme == "http" and not (
            self.allow_insecure_http and is_loopback(self.issuer)
        ):
            raise ConfigurationError(
                "refusing an http:// issuer; only a loopback issuer with allow_insecure_http "
                "(OIDC_ALLOW_INSECURE_HTTP=1) may use http, for local development",
                expected="https",
                actual=self.issuer,
            )
        self._check_profile()
        self._check_algs()
        if "openid" not in self.scopes:
            object.__setattr__(self, "scopes", ("openid", *self.scopes))
        if self.refresh_leeway < 0 or self.clock_leeway < 0:
            raise ConfigurationError("leeways cannot be negative")
        self._check_extras()

    def _check_extras(self) -> None:
        """The endpoint overrides and the extra authorization parameters (item by item, so
        that the error names the setting)."""
        for name in ("revocation_endpoint", "introspection_endpoint"):
            url = getattr(self, name)
            if url is not None and not allowed_endpoint(url, self.allow_insecure_http):
                raise ConfigurationError(
                    f"{name} must be an https URL (loopback http with allow_insecure_http)",
                    actual=url,
                )
        if self.audience is not None and not (self.audience and self.audience.isprintable()):
            raise ConfigurationError("audience (OIDC_AUDIENCE) must be printable and non-empty")
        object.__setattr__(self, "resource", check_resource(self.resource))
        object.__setattr__(self, "auth_params", check_auth_params(self.auth_params))

    def _check_algs(self) -> None:
        if self.id_token_algs is not None and not self.id_token_algs:
            raise ConfigurationError("id_token_algs cannot be empty")
        # `none` and anything unknown are refused outright; HS* need the secret (their key).
        for alg in self.id_token_allowlist:
            if refusal := alg_refusal(alg, has_secret=bool(self.client_secret)):
                raise ConfigurationError(refusal)
        if self.id_token_alg is not None:
            refusal = alg_refusal(self.id_token_alg, has_secret=bool(self.client_secret))
            if refusal:
                raise ConfigurationError(f"{refusal} (OIDC_ID_TOKEN_ALG)")

    def _check_profile(self) -> None:
        """The profile's own requirements, and no setting contradicting it. Nothing is
        written: ``replace(config, profile=None)`` leaves no trace of the profile."""
        key = ClientKey.load(self.client_key) if self.client_key else None
        object.__setattr__(self, "_signing_key", key)  # derived, like a property's cache
        if self.profile not in _PROFILES:
            raise ConfigurationError(
                "profile must be fapi2 or unset (OIDC_PROFILE)",
                expected=["fapi2"],
                actual=self.profile,
            )
        if self.profile != "fapi2":
            return
        if key is None:
            raise ConfigurationError(
                "the fapi2 profile authenticates the client with private_key_jwt: "
                "set client_key (OIDC_CLIENT_KEY)"
            )
        for name in ("par", "dpop"):
            if getattr(self, name) is False:
                raise ConfigurationError(
                    f"{name}=False ({ENV_NAMES[name]}=0) contradicts profile=fapi2 "
                    f"(OIDC_PROFILE), which requires {name}: leave {name} unset",
                    expected=True,
                    actual=False,
                )
        self._check_fapi2_algs()

    def _check_fapi2_algs(self) -> None:
        refused = [alg for alg in self.id_token_allowlist if alg not in FAPI2_ID_TOKEN_ALGS]
        named = ["id_token_algs (OIDC_ID_TOKEN_ALGS)"] if refused else []
        if self.id_token_alg is not None and self.id_token_alg not in FAPI2_ID_TOKEN_ALGS:
            refused.append(self.id_token_alg)
            named.append("id_token_alg (OIDC_ID_TOKEN_ALG)")
        if refused:
            raise ConfigurationError(
                "the fapi2 profile allows only PS256, ES256 and EdDSA ID tokens; "
                f"{' and '.join(named)} {'contradict' if len(named) > 1 else 'contradicts'} "
                "profile=fapi2 (OIDC_PROFILE)",
                expected=list(FAPI2_ID_TOKEN_ALGS),
                actual=refused,
            )

    @property
    def fapi2(self) -> bool:
        """Whether the FAPI 2.0 Security Profile's rules apply."""
        return self.profile == "fapi2"

    @property
    def uses_par(self) -> bool:
        """Whether logins are pushed (PAR): ``par`` when set, else the profile's choice."""
        return self.fapi2 if self.par is None else self.par

    @property
    def uses_dpop(self) -> bool:
        """Whether tokens are DPoP-bound: ``dpop`` when set, else the profile's choice."""
        return self.fapi2 if self.dpop is None else self.dpop

    @property
    def id_token_allowlist(self) -> tuple[str, ...]:
        """The ID-token algorithms in force: ``id_token_algs`` when set, else the profile's."""
        if self.id_token_algs is not None:
            return self.id_token_algs
        return FAPI2_ID_TOKEN_ALGS if self.fapi2 else DEFAULT_ID_TOKEN_ALGS

    @property
    def signing_key(self) -> ClientKey | None:
        """The loaded ``client_key``: ``private_key_jwt`` is used when it is set."""
        key: ClientKey | None = self.__dict__["_signing_key"]
        return key

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Self:
        """The provider's settings from its variables (``OIDC_ISSUER``, ``OIDC_CLIENT_ID``...),
        ``overrides`` winning. The app's (``APP_BASE_URL``, ``SESSION_*``) are not read."""
        return settings_from_env(cls, environ, overrides, required=("issuer", "client_id"))
