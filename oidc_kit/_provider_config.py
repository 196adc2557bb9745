"""A provider's settings: the issuer, this client's registration there, and how to talk to it.

What a client of the provider alone needs (the client credentials grant, ``oidc-kit doctor``),
and one half of :class:`~oidc_kit.OIDCConfig`. The FAPI 2.0 profile's effects are computed here
(``uses_par``, ``uses_dpop``, ``id_token_allowlist``), never written into the fields.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Self
from urllib.parse import urlsplit

from ._auth_params import AuthParams, check_auth_params, check_resource
from ._client_key import MTLS_AUTH_METHODS, ClientKey, check_auth_method
from ._env import ENV_NAMES, settings_from_env
from ._errors import ConfigurationError
from ._mtls import ClientCertificate, load_client_certificate

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
    #: ``"fapi2"``: the FAPI 2.0 Security Profile. Turns on ``par``; a sender constraint, DPoP
    #: (``dpop``) unless ``mtls_bound_tokens``; and a client authentication FAPI 2.0 allows:
    #: ``private_key_jwt`` (``client_key``) or, with ``client_cert``, ``tls_client_auth`` /
    #: ``self_signed_tls_client_auth``. Allows only PS256, ES256 and EdDSA ID tokens with
    #: ``aud`` exactly this client, and requires the RFC 9207 ``iss`` parameter on every
    #: authorization response. Its effects are computed (``uses_par``, ``uses_dpop``,
    #: ``id_token_allowlist``), never written into the other settings; a setting that
    #: contradicts it (``par=False``, ``dpop=False``, another algorithm) is refused.
    profile: str | None = None
    #: The client's private key for ``private_key_jwt`` (RSA of 2048 bits or more: PS256;
    #: P-256: ES256): a PEM or JWK file's path, or the PEM or JWK itself. When set, the client
    #: authenticates with it instead of a secret, and publishes its public key at
    #: ``{route_prefix}/jwks``.
    client_key: str | None = field(default=None, repr=False)
    #: Mutual TLS (RFC 8705): the client's certificate (a PEM file's path or the PEM itself,
    #: the client's certificate first, then any intermediates). When set, with
    #: ``client_cert_key``, the kit presents it on every connection to the provider and calls
    #: the endpoints the provider's ``mtls_endpoint_aliases`` names instead of the plain ones.
    #: Checked at load: the key must be its key, the certificate within its validity period.
    client_cert: str | None = field(default=None, repr=False)
    #: The private key of ``client_cert`` (unencrypted PEM, or its file's path).
    client_cert_key: str | None = field(default=None, repr=False)
    #: Certificate-bound access tokens (RFC 8705 3): the provider binds them to
    #: ``client_cert``; calls to the API must then present the same certificate
    #: (``tls_context()``), the token still sent as ``Bearer``. Needs ``client_cert``. One
    #: sender constraint at a time: under ``fapi2`` it replaces DPoP (``uses_dpop`` is then
    #: false), and ``dpop=True`` with it is refused.
    mtls_bound_tokens: bool = False
    #: How the client authenticates at the token, PAR and revocation endpoints:
    #: ``client_secret_basic``, ``client_secret_post``, ``client_secret_jwt`` (an HS256
    #: assertion keyed by ``client_secret``, of 32 bytes or more), ``private_key_jwt`` (needs
    #: ``client_key``) or ``none`` (a public client: neither). Unset: the automatic choice,
    #: ``private_key_jwt`` with a key, else ``client_secret_basic`` (``_post`` when that is
    #: all the provider offers), else ``none``. ``tls_client_auth`` and
    #: ``self_signed_tls_client_auth`` (RFC 8705) need ``client_cert``. Under ``fapi2`` only
    #: ``private_key_jwt`` and the two mTLS methods. A
    #: method the provider's ``token_endpoint_auth_methods_supported`` leaves out fails at
    #: first use with ``unsupported_auth_method`` (``oidc-kit doctor`` says so beforehand).
    token_endpoint_auth_method: str | None = None
    #: Pushed Authorization Requests (RFC 9126): the login's parameters go to the provider
    #: by a back-channel POST; the browser carries only a ``request_uri``. Also used whenever
    #: the provider says ``require_pushed_authorization_requests``. Unset: on under ``fapi2``
    #: (where off is refused), else off; ``uses_par`` is the value in force.
    par: bool | None = None
    #: DPoP (RFC 9449): bind access tokens to a key pair of the session's own; the provider
    #: must then issue ``DPoP`` tokens (a ``Bearer`` token is refused). Unset: on under
    #: ``fapi2`` (where off is refused), else off; ``uses_dpop`` is the value in force.
    dpop: bool | None = None
    #: Signed request objects (JAR, RFC 9101; the FAPI 2.0 Message Signing profile): every
    #: login's parameters go in a JWT signed with ``client_key`` (PS256 or ES256, as its client
    #: assertions), pushed as PAR's ``request`` when PAR is in use, else sent by value in the
    #: authorization URL. The provider must list the key's algorithm in
    #: ``request_object_signing_alg_values_supported`` (without PAR also say
    #: ``request_parameter_supported``), or the login fails with ``invalid_discovery``. Off
    #: unless set, under ``fapi2`` too (its Security Profile does not ask for it); needs
    #: ``client_key``.
    signed_requests: bool = False
    #: The revocation endpoint (RFC 7009) logout revokes at, instead of the one the provider's
    #: metadata names (OpenID discovery, else RFC 8414 metadata). https, or loopback http with
    #: ``allow_insecure_http``.
    revocation_endpoint: str | None = None
    #: The introspection endpoint (RFC 7662), instead of the provider's metadata's: where
    #: ``RelyingParty.introspect`` and ``Introspector`` ask whether a token is active.
    introspection_endpoint: str | None = None
    #: Seconds an introspection answer is reused for the same token (0: never cached). An
    #: active answer never outlives the token: at most until its ``exp`` or the expiry the kit
    #: knows; an inactive one is kept this long (a token never becomes active again).
    introspection_cache_ttl: int = 60
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
        self._check_mtls()
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
        if self.signed_requests and self.client_key is None:
            raise ConfigurationError(
                "signed_requests (OIDC_SIGNED_REQUESTS) signs request objects with the "
                "client's key: set client_key (OIDC_CLIENT_KEY)"
            )
        if self.introspection_cache_ttl < 0:
            raise ConfigurationError(
                "introspection_cache_ttl (OIDC_INTROSPECTION_CACHE_TTL) cannot be negative",
                actual=self.introspection_cache_ttl,
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
        check_auth_method(
            self.token_endpoint_auth_method,
            self.client_secret,
            has_key=key is not None,
            fapi2=self.profile == "fapi2",
            has_cert=self.client_cert is not None,
        )
        if self.profile != "fapi2":
            return
        if key is None and self.token_endpoint_auth_method not in MTLS_AUTH_METHODS:
            raise ConfigurationError(
                "the fapi2 profile authenticates the client with private_key_jwt: "
                "set client_key (OIDC_CLIENT_KEY), or choose tls_client_auth or "
                "self_signed_tls_client_auth (OIDC_TOKEN_AUTH_METHOD) with client_cert"
            )
        for name in ("par", "dpop"):
            if name == "dpop" and self.mtls_bound_tokens:
                continue  # the sender constraint is mutual TLS; DPoP is off, not contradicted
            if getattr(self, name) is False:
                raise ConfigurationError(
                    f"{name}=False ({ENV_NAMES[name]}=0) contradicts profile=fapi2 "
                    f"(OIDC_PROFILE), which requires {name}: leave {name} unset",
                    expected=True,
                    actual=False,
                )
        self._check_fapi2_algs()

    def _check_mtls(self) -> None:
        """The client certificate loaded and checked (``_mtls.load_client_certificate``), and
        exactly one sender constraint."""
        cert = None
        if (self.client_cert is None) != (self.client_cert_key is None):
            raise ConfigurationError(
                "mutual TLS needs both client_cert (OIDC_CLIENT_CERT) and client_cert_key "
                "(OIDC_CLIENT_CERT_KEY)"
            )
        if self.client_cert is not None and self.client_cert_key is not None:
            cert = load_client_certificate(self.client_cert, self.client_cert_key)
        object.__setattr__(self, "_client_certificate", cert)  # derived, like _signing_key
        if self.mtls_bound_tokens and cert is None:
            raise ConfigurationError(
                "mtls_bound_tokens (OIDC_MTLS_BOUND_TOKENS) binds tokens to the client's "
                "certificate: set client_cert (OIDC_CLIENT_CERT) and client_cert_key"
            )
        if self.mtls_bound_tokens and self.dpop:
            raise ConfigurationError(
                "dpop (OIDC_DPOP) and mtls_bound_tokens (OIDC_MTLS_BOUND_TOKENS) are two "
                "sender constraints: choose one"
            )

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
        """Whether tokens are DPoP-bound: ``dpop`` when set, else the profile's choice (DPoP
        under ``fapi2``, unless ``mtls_bound_tokens`` chooses mutual TLS instead)."""
        if self.dpop is None:
            return self.fapi2 and not self.mtls_bound_tokens
        return self.dpop

    @property
    def uses_mtls(self) -> bool:
        """Whether the client presents a certificate (``client_cert``) to the provider and
        calls its ``mtls_endpoint_aliases``."""
        return self._certificate is not None

    @property
    def client_cert_thumbprint(self) -> str | None:
        """RFC 8705's ``x5t#S256`` of ``client_cert``: what a certificate-bound access token's
        ``cnf`` carries (``None`` without a certificate)."""
        cert = self._certificate
        return None if cert is None else cert.thumbprint

    @property
    def _certificate(self) -> ClientCertificate | None:
        """The loaded and checked ``client_cert`` and its key."""
        cert: ClientCertificate | None = self.__dict__["_client_certificate"]
        return cert

    def tls_context(self) -> ssl.SSLContext | None:
        """A new client TLS context presenting ``client_cert`` (``None`` without one), for
        the app's HTTP client to an API that takes certificate-bound tokens:
        ``httpx.AsyncClient(verify=config.tls_context())``. It trusts what httpx trusts by
        default (``SSL_CERT_FILE``, else certifi's bundle)."""
        cert = self._certificate
        return None if cert is None else cert.tls_context()

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
