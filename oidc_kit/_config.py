"""Frozen settings for one relying party, validated once at start-up."""

from __future__ import annotations

import logging
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from urllib.parse import parse_qsl, urlsplit

from ._auth_params import AuthParams, check_auth_params, check_resource
from ._client_key import ClientKey
from ._errors import ConfigurationError

__all__ = [
    "DEFAULT_ID_TOKEN_ALGS",
    "DEFAULT_SESSION_STORE",
    "FAPI2_ID_TOKEN_ALGS",
    "OIDCConfig",
    "alg_refusal",
]

log = logging.getLogger("oidc_kit")

DEFAULT_ID_TOKEN_ALGS = ("RS256", "PS256", "ES256", "EdDSA")
_ASYMMETRIC_ALGS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
_HMAC_ALGS = frozenset({"HS256", "HS384", "HS512"})
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_RESPONSE_MODES = (None, "query", "form_post")
#: What the FAPI 2.0 Security Profile (5.4.1) allows for signatures.
FAPI2_ID_TOKEN_ALGS = ("PS256", "ES256", "EdDSA")
_PROFILES = (None, "fapi2")
#: Where sessions live when neither ``session_store`` nor a store object says otherwise.
DEFAULT_SESSION_STORE = "sqlite:///.oidc_kit/sessions.db"


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


@dataclass(frozen=True, kw_only=True)
class OIDCConfig:
    """Everything the kit needs to know about the provider, the client and the sessions.

    Every field has a matching environment variable read by :meth:`from_env`; the docs'
    configuration page lists them. Secrets are never part of ``repr``.
    """

    #: The provider's issuer URL, compared exactly with the discovered ``issuer``.
    issuer: str
    #: The client id registered at the provider.
    client_id: str
    #: The client secret (``client_secret_basic``, or ``_post`` when that is all it supports).
    client_secret: str | None = field(default=None, repr=False)
    #: The app's external origin; ``redirect_uri`` is ``{base_url}/auth/callback``.
    base_url: str
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
    #: Key material for cookie signing and token sealing, each at least 16 characters,
    #: newest first: new cookies and records use the first; older ones still open until
    #: their secret is removed. Unset: a random secret per process, with a warning.
    session_secrets: tuple[str, ...] = field(repr=False)
    #: Where sessions live: ``memory://`` (one process), ``sqlite:///PATH`` (processes on one
    #: host; ``sqlite:////abs/path`` for an absolute path), ``redis://HOST:PORT/DB`` or
    #: ``rediss://`` (many hosts; ``pip install 'oidc_kit[redis]'``). Unset: the store object
    #: given to ``OIDCAuth(store=...)``, else ``sqlite:///.oidc_kit/sessions.db``; set, it
    #: cannot be combined with ``store=`` (which of the two would hold the sessions?).
    session_store: str | None = None
    #: A session unused for this many seconds ends.
    session_idle_timeout: int = 30 * 60
    #: A session ends this many seconds after login, used or not.
    session_absolute_timeout: int = 12 * 3600
    #: A login must come back from the provider within this many seconds.
    login_timeout: int = 600
    #: How long discovery metadata is cached.
    discovery_ttl: int = 3600
    #: At most one JWKS refetch for an unknown ``kid`` per this many seconds.
    jwks_refetch_interval: int = 60
    #: Deadline of each HTTP call to the provider, in seconds: connect, send and every read
    #: together (a provider trickling its answer is cut off), and the longest any request
    #: waits behind another's discovery or JWKS fetch. A refresh grant is abandoned after
    #: three times as long. Each provider's own, whatever the timeout of the HTTP client.
    http_timeout: float = 10.0
    #: ``response_mode`` sent at login: ``form_post`` (the callback is a POST), ``query``, or
    #: ``None`` (none sent: the provider's default, the query string).
    response_mode: str | None = None
    #: Name of the session cookie (``__Host-`` is prefixed on https).
    cookie_name: str = "oidc_session"
    #: Name of the short-lived cookie that binds a login to the browser that started it.
    login_cookie_name: str = "oidc_login"
    #: Where the kit's routes are mounted (``{route_prefix}/login``, ``/callback``...): a path
    #: such as ``/auth`` or ``/sso``. The redirect URI is ``{base_url}{route_prefix}/callback``.
    route_prefix: str = "/auth"
    #: The cookies' ``Domain`` (unset: the app's host only, the safest). Set, the cookies
    #: lose the ``__Host-`` prefix for ``__Secure-`` on https: every subdomain then sees them.
    cookie_domain: str | None = None
    #: The cookies' ``Path`` (``/``: the whole app). Another path costs the ``__Host-`` prefix.
    cookie_path: str = "/"
    #: ``SameSite`` of the session cookie: ``lax`` or ``strict``. (The login cookie stays
    #: ``Lax``: it must come back with the provider's redirect.) With ``strict`` the callback
    #: answers with a small page that moves the browser on, same-site, to where it was going: a
    #: redirect would arrive without the Strict cookie and send it to log in again, forever.
    cookie_samesite: str = "lax"
    #: Where the browser lands after logout (a path of this app): the provider sends it to
    #: ``{base_url}{post_logout_path}``, which must be registered as a post-logout redirect URI.
    post_logout_path: str = "/"
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
    #: ``/auth/jwks``.
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
        self._check_urls()
        self._check_profile()
        self._check_algs()
        if "openid" not in self.scopes:
            object.__setattr__(self, "scopes", ("openid", *self.scopes))
        if not self.session_secrets or any(len(s) < 16 for s in self.session_secrets):
            raise ConfigurationError("session secrets must each be at least 16 characters")
        if self.refresh_leeway < 0 or self.clock_leeway < 0:
            raise ConfigurationError("leeways cannot be negative")
        if self.response_mode not in _RESPONSE_MODES:
            raise ConfigurationError(
                "response_mode must be query or form_post (OIDC_RESPONSE_MODE)",
                expected=["query", "form_post"],
                actual=self.response_mode,
            )
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

    def _check_urls(self) -> None:
        for name in ("issuer", "base_url"):
            parts = urlsplit(getattr(self, name))
            if parts.scheme not in ("https", "http") or not parts.hostname:
                raise ConfigurationError(f"{name} must be an absolute http(s) URL")
            if parts.query or parts.fragment:
                raise ConfigurationError(f"{name} must not have a query or fragment")
        if urlsplit(self.issuer).scheme == "http" and not (
            self.allow_insecure_http and is_loopback(self.issuer)
        ):
            raise ConfigurationError(
                "refusing an http:// issuer; only a loopback issuer with allow_insecure_http "
                "(OIDC_ALLOW_INSECURE_HTTP=1) may use http, for local development",
                expected="https",
                actual=self.issuer,
            )
        self._check_paths()
        if self.base_url.endswith("/"):
            object.__setattr__(self, "base_url", self.base_url.rstrip("/"))

    def _check_paths(self) -> None:
        prefix = self.route_prefix.rstrip("/")
        object.__setattr__(self, "route_prefix", prefix)
        for name, path in (
            ("route_prefix", prefix or "/"),
            ("post_logout_path", self.post_logout_path),
            ("cookie_path", self.cookie_path),
        ):
            if not _PATH.fullmatch(path):
                raise ConfigurationError(
                    f"{name} must be a path such as /auth (letters, digits, - _ . / only)",
                    actual=path,
                )
        if not prefix:
            raise ConfigurationError("route_prefix cannot be / (the kit's routes need a prefix)")
        if self.cookie_samesite not in ("lax", "strict"):
            raise ConfigurationError(
                "cookie_samesite must be lax or strict (SESSION_COOKIE_SAMESITE)",
                expected=["lax", "strict"],
                actual=self.cookie_samesite,
            )
        if self.cookie_domain is not None:
            self._check_cookie_domain(self.cookie_domain)

    def _check_cookie_domain(self, domain: str) -> None:
        """A host name, and ``base_url``'s host or a parent of it (else browsers drop the
        cookie, or the app would set cookies for a site it is not)."""
        host = (urlsplit(self.base_url).hostname or "").lower()
        wanted = domain.lower().removeprefix(".")
        if not _DOMAIN.fullmatch(wanted) or not (host == wanted or host.endswith("." + wanted)):
            raise ConfigurationError(
                "cookie_domain (SESSION_COOKIE_DOMAIN) must be APP_BASE_URL's host or a parent "
                "domain of it",
                expected=host,
                actual=domain,
            )

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
                    f"{name}=False ({_ENV_NAMES[name]}=0) contradicts profile=fapi2 "
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
    def session_store_url(self) -> str:
        """``session_store`` when set, else the default SQLite file."""
        return self.session_store or DEFAULT_SESSION_STORE

    @property
    def signing_key(self) -> ClientKey | None:
        """The loaded ``client_key``: ``private_key_jwt`` is used when it is set."""
        key: ClientKey | None = self.__dict__["_signing_key"]
        return key

    @property
    def redirect_uri(self) -> str:
        """``{base_url}{route_prefix}/callback``, the redirect URI this client uses."""
        return f"{self.base_url}{self.route_prefix}/callback"

    @property
    def post_logout_redirect_uri(self) -> str:
        """``{base_url}{post_logout_path}``: where the provider sends the browser after logout."""
        return f"{self.base_url}{self.post_logout_path}"

    @property
    def cookie_prefix(self) -> str:
        """``__Host-`` on https with no ``Domain`` and ``Path=/`` (the strongest: no subdomain
        can set or see it), ``__Secure-`` on https otherwise, nothing on http."""
        if not self.secure_cookies:
            return ""
        if self.cookie_domain is None and self.cookie_path == "/":
            return "__Host-"
        return "__Secure-"

    @property
    def secure_cookies(self) -> bool:
        """True when the app is served over https: cookies get ``Secure`` and ``__Host-``."""
        return self.base_url.startswith("https://")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> OIDCConfig:
        """Settings from ``OIDC_*``/``SESSION_*``/``APP_BASE_URL`` variables.

        ``overrides`` win over the environment (the example app passes the sandbox's issuer
        this way). Without ``SESSION_SECRET`` a random one is made for this process, with a
        warning: sessions then do not survive a restart or work across processes.
        """
        values: dict[str, object] = {**_env_values(environ), **overrides}
        if "session_secrets" not in values:
            log.warning(
                "SESSION_SECRET is not set: using a random secret for this process; "
                "sessions will not survive a restart"
            )
            values["session_secrets"] = (secrets.token_urlsafe(32),)
        _require(values, ("issuer", "client_id", "base_url"))
        return cls(**values)  # type: ignore[arg-type]


def _env_values(environ: Mapping[str, str] | None) -> dict[str, object]:
    """Every setting whose variable is set (and not blank), parsed."""
    env = os.environ if environ is None else environ
    values: dict[str, object] = {}
    for f in fields(OIDCConfig):
        raw = env.get(_ENV_NAMES.get(f.name, ""), "").strip()
        if raw:
            values[f.name] = _parse(f.name, raw)
    return values


def _require(values: Mapping[str, object], names: tuple[str, ...]) -> None:
    for required in names:
        if required not in values:
            raise ConfigurationError(f"{_ENV_NAMES[required]} is not set")


#: A URL path: segments of unreserved characters, none starting with a dot (nothing to
#: escape, nothing to inject, no ``..``).
_PATH = re.compile(r"/(?:[A-Za-z0-9_~-][A-Za-z0-9._~-]*/?)*")
#: A host name for ``Domain``: letters, digits, dots and hyphens, no leading or trailing dot.
_DOMAIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")

_ENV_NAMES = {
    "issuer": "OIDC_ISSUER",
    "client_id": "OIDC_CLIENT_ID",
    "client_secret": "OIDC_CLIENT_SECRET",
    "base_url": "APP_BASE_URL",
    "scopes": "OIDC_SCOPES",
    "id_token_algs": "OIDC_ID_TOKEN_ALGS",
    "id_token_alg": "OIDC_ID_TOKEN_ALG",
    "clock_leeway": "OIDC_CLOCK_LEEWAY",
    "refresh_leeway": "OIDC_REFRESH_LEEWAY",
    "allow_insecure_http": "OIDC_ALLOW_INSECURE_HTTP",
    "session_secrets": "SESSION_SECRET",
    "session_store": "SESSION_STORE",
    "session_idle_timeout": "SESSION_IDLE_TIMEOUT",
    "session_absolute_timeout": "SESSION_ABSOLUTE_TIMEOUT",
    "login_timeout": "OIDC_LOGIN_TIMEOUT",
    "discovery_ttl": "OIDC_DISCOVERY_TTL",
    "jwks_refetch_interval": "OIDC_JWKS_REFETCH_INTERVAL",
    "http_timeout": "OIDC_HTTP_TIMEOUT",
    "response_mode": "OIDC_RESPONSE_MODE",
    "route_prefix": "OIDC_ROUTE_PREFIX",
    "cookie_domain": "SESSION_COOKIE_DOMAIN",
    "cookie_path": "SESSION_COOKIE_PATH",
    "cookie_samesite": "SESSION_COOKIE_SAMESITE",
    "post_logout_path": "OIDC_POST_LOGOUT_PATH",
    "profile": "OIDC_PROFILE",
    "client_key": "OIDC_CLIENT_KEY",
    "par": "OIDC_PAR",
    "dpop": "OIDC_DPOP",
    "revocation_endpoint": "OIDC_REVOCATION_ENDPOINT",
    "introspection_endpoint": "OIDC_INTROSPECTION_ENDPOINT",
    "audience": "OIDC_AUDIENCE",
    "resource": "OIDC_RESOURCE",
    "auth_params": "OIDC_AUTH_PARAMS",
}

_INT_FIELDS = frozenset(
    {
        "clock_leeway",
        "refresh_leeway",
        "session_idle_timeout",
        "session_absolute_timeout",
        "login_timeout",
        "discovery_ttl",
        "jwks_refetch_interval",
    }
)


def _parse(name: str, raw: str) -> object:
    """Turn one environment value into the field's type, with a clear error."""
    if name == "resource":
        return tuple(raw.split())  # URIs may contain commas: spaces only
    if name == "auth_params":
        try:
            return AuthParams(parse_qsl(raw, keep_blank_values=True, strict_parsing=True))
        except ValueError:
            raise ConfigurationError(
                "OIDC_AUTH_PARAMS must be a URL query string (name=value&name=value)"
            ) from None
    try:
        if name in ("scopes", "id_token_algs", "session_secrets"):
            # Lists: comma- or space-separated; secrets newest first (rotation).
            return tuple(raw.replace(",", " ").split())
        if name in _INT_FIELDS:
            return int(raw)
        if name == "http_timeout":
            return float(raw)
        if name in ("allow_insecure_http", "par", "dpop"):
            return raw.lower() in ("1", "true", "yes", "on")
    except ValueError:
        raise ConfigurationError(f"{_ENV_NAMES[name]} must be a number") from None
    return raw
