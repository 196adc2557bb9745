"""How the client proves who it is at the token, PAR and revocation endpoints.

One :class:`ClientAuthentication` per configured client, chosen from its settings and the
provider's metadata. ``token_endpoint_auth_method`` set: exactly that method (the
configuration has checked, at start-up, that the client has what it needs; a provider whose
``token_endpoint_auth_methods_supported`` leaves it out is refused at first use:
:class:`Unsupported`). Unset, the automatic choice: ``private_key_jwt`` when the client has a
key (RFC 7523, OpenID Connect Core 9), else ``client_secret_basic``, or ``client_secret_post``
when that is all the provider offers, else a public client that sends only its ``client_id``.
``client_secret_jwt`` is never chosen automatically. :class:`ClientAuth` applies the method to
a form request, afresh for every request sent (retries included).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qsl, quote_plus, urlencode

import httpx
from joserfc.jwk import OctKey

from ._client_key import (
    AUTH_SETTING,
    CLIENT_ASSERTION_TYPE,
    HMAC_ALG,
    MTLS_AUTH_METHODS,
    ClientKey,
    client_assertion,
)
from ._errors import ConfigurationError, DiscoveryError
from ._provider import ProviderMetadata
from ._provider_config import ProviderConfig

__all__ = [
    "ClientAuth",
    "ClientAuthentication",
    "ClientSecretJwt",
    "TlsClientAuth",
    "Unsupported",
    "auth_method_refusal",
    "client_authentication",
    "method_in_force",
]


def method_in_force(
    configured: str | None,
    *,
    has_secret: bool,
    has_key: bool,
    advertised: Sequence[str] | None,
) -> str:
    """The method the kit uses: ``configured``, else the automatic choice from the client's
    credentials and the provider's ``token_endpoint_auth_methods_supported`` (``advertised``,
    ``None`` when it does not say: then ``client_secret_basic``, which every provider must
    support, RFC 6749 2.3.1)."""
    if configured is not None:
        return configured
    if has_key:
        return "private_key_jwt"
    if not has_secret:
        return "none"
    offered = advertised or ()
    if "client_secret_post" in offered and "client_secret_basic" not in offered:
        return "client_secret_post"
    return "client_secret_basic"


def auth_method_refusal(
    method: str, advertised: Sequence[str] | None, signing_algs: Sequence[str] | None
) -> str | None:
    """Why a provider advertising ``advertised`` methods (``token_endpoint_auth_methods_supported``)
    and ``signing_algs`` (``token_endpoint_auth_signing_alg_values_supported``) would refuse
    ``method``; ``None`` when it does not say it would (a list it does not publish)."""
    if advertised is not None and method not in advertised:
        offered = ", ".join(advertised) or "nothing"
        return f"the provider does not offer {method} (it offers {offered})"
    if method == "client_secret_jwt" and signing_algs is not None and HMAC_ALG not in signing_algs:
        offered = ", ".join(signing_algs) or "nothing"
        return f"the provider does not take {HMAC_ALG} client assertions (it takes {offered})"
    return None


class ClientAuthentication(Protocol):
    """Adds the client's credentials to one request to the provider."""

    @property
    def method(self) -> str:
        """The ``token_endpoint_auth_method`` name (RFC 7591 2)."""
        ...

    def apply(self, form: dict[str, str], now: float) -> httpx.Auth | None:
        """Put the credentials in ``form`` or return them as an ``httpx.Auth``. Call it once
        per request sent: a client assertion is good for one request only."""
        ...


@dataclass(frozen=True)
class PublicClient:
    """No credentials: PKCE alone protects the code."""

    client_id: str
    method: str = "none"

    def apply(self, form: dict[str, str], now: float) -> httpx.Auth | None:
        form["client_id"] = self.client_id
        return None


@dataclass(frozen=True)
class ClientSecretBasic:
    """HTTP Basic; both parts form-urlencoded first, as RFC 6749 2.3.1 says."""

    client_id: str
    secret: str = field(repr=False)
    method: str = "client_secret_basic"

    def apply(self, form: dict[str, str], now: float) -> httpx.Auth | None:
        return httpx.BasicAuth(quote_plus(self.client_id), quote_plus(self.secret))


@dataclass(frozen=True)
class ClientSecretPost:
    """The secret in the form body, for providers that accept nothing else."""

    client_id: str
    secret: str = field(repr=False)
    method: str = "client_secret_post"

    def apply(self, form: dict[str, str], now: float) -> httpx.Auth | None:
        form["client_id"] = self.client_id
        form["client_secret"] = self.secret
        return None


@dataclass(frozen=True)
class ClientSecretJwt:
    """A fresh assertion per request (RFC 7523 2.2, OpenID Connect Core 9), HMAC-signed with
    the client secret (its UTF-8 octets, OpenID Connect Core 16.19), which never travels;
    ``aud`` the issuer, as :class:`PrivateKeyJwt`'s."""

    client_id: str
    secret: str = field(repr=False)
    issuer: str
    alg: str = HMAC_ALG
    method: str = "client_secret_jwt"

    def apply(self, form: dict[str, str], now: float) -> httpx.Auth | None:
        key = OctKey.import_key(self.secret.encode())
        form["client_id"] = self.client_id
        form["client_assertion_type"] = CLIENT_ASSERTION_TYPE
        form["client_assertion"] = client_assertion(key, self.alg, self.client_id, self.issuer, now)
        return None


@dataclass(frozen=True)
class TlsClientAuth:
    """Mutual TLS (RFC 8705 2): the certificate the connection presents is the credential,
    checked by the provider against the registration (``tls_client_auth``: its subject DN
    under a trusted CA; ``self_signed_tls_client_auth``: the certificate in the client's
    JWKS). The form carries only ``client_id``; the kit's HTTP client presents the
    certificate (``_kit_parts.provider_http_client``) to the ``mtls_endpoint_aliases``."""

    client_id: str
    method: str = "tls_client_auth"

    def apply(self, form: dict[str, str], now: float) -> httpx.Auth | None:
        form["client_id"] = self.client_id
        return None


@dataclass(frozen=True)
class Unsupported:
    """A configured method the provider says it does not take: every request is refused
    before it is sent (``unsupported_auth_method``, 502), so a login fails with that code while
    logout still ends the session (its revocation is best effort). ``oidc-kit doctor`` flags
    the same mismatch ahead of time."""

    method: str
    reason: str

    def apply(self, form: dict[str, str], now: float) -> httpx.Auth | None:
        raise DiscoveryError(
            f"{self.reason}; {AUTH_SETTING} names it", code="unsupported_auth_method"
        )


@dataclass(frozen=True)
class PrivateKeyJwt:
    """A fresh assertion signed with the client's key; ``aud`` the issuer (FAPI 2.0 5.3.2.1,
    RFC 9126 2: the issuer identifies the provider at every endpoint the assertion goes to)."""

    client_id: str
    key: ClientKey
    issuer: str
    method: str = "private_key_jwt"

    def apply(self, form: dict[str, str], now: float) -> httpx.Auth | None:
        form["client_id"] = self.client_id
        form["client_assertion_type"] = CLIENT_ASSERTION_TYPE
        form["client_assertion"] = self.key.assertion(self.client_id, self.issuer, now)
        return None


def client_authentication(
    config: ProviderConfig, meta: ProviderMetadata | None
) -> ClientAuthentication:
    """The method ``config`` calls for at this provider (``meta`` ``None``: no discovery):
    :func:`method_in_force`; a configured one the provider's metadata leaves out is
    :class:`Unsupported`."""
    advertised, signing_algs = _advertised(meta)
    configured = config.token_endpoint_auth_method
    method = method_in_force(
        configured,
        has_secret=bool(config.client_secret),
        has_key=config.signing_key is not None,
        advertised=advertised,
    )
    if configured is not None and (
        refusal := auth_method_refusal(method, advertised, signing_algs)
    ):
        return Unsupported(method, refusal)
    return _strategy(method, config)


def _advertised(meta: ProviderMetadata | None) -> tuple[list[str] | None, list[str] | None]:
    """The provider's ``token_endpoint_auth_methods_supported`` and
    ``token_endpoint_auth_signing_alg_values_supported``, each ``None`` when not published."""
    raw: dict[str, Any] = meta.raw if meta is not None else {}
    lists = []
    for name in ("methods", "signing_alg_values"):
        value = raw.get(f"token_endpoint_auth_{name}_supported")
        lists.append([v for v in value if isinstance(v, str)] if isinstance(value, list) else None)
    return lists[0], lists[1]


def _strategy(method: str, config: ProviderConfig) -> ClientAuthentication:
    """The strategy of ``method``, whose credentials the configuration made sure of."""
    client_id, secret, key = config.client_id, config.client_secret, config.signing_key
    if method == "private_key_jwt" and key is not None:
        return PrivateKeyJwt(client_id, key, config.issuer)
    if method == "client_secret_jwt" and secret:
        return ClientSecretJwt(client_id, secret, config.issuer)
    if method == "client_secret_post" and secret:
        return ClientSecretPost(client_id, secret)
    if method == "client_secret_basic" and secret:
        return ClientSecretBasic(client_id, secret)
    if method == "none":
        return PublicClient(client_id)
    if method in MTLS_AUTH_METHODS and config.uses_mtls:
        return TlsClientAuth(client_id, method)
    raise ConfigurationError(f"{AUTH_SETTING}={method}: the client lacks its credential")


class ClientAuth(httpx.Auth):
    """An ``httpx.Auth`` that adds the client's credentials to a form POST: to its fields, or
    as HTTP Basic. Each request sent gets them anew from :meth:`authenticate`, so a retry
    never resends a client assertion, which is good for one request only (RFC 7523 3)."""

    requires_request_body = True  # the form is read to add the credentials to it

    def __init__(self, authentication: ClientAuthentication, clock: Callable[[], float]) -> None:
        self._authentication = authentication
        self._clock = clock

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        yield self.authenticate(request)

    def authenticate(self, request: httpx.Request) -> httpx.Request:
        """A copy of ``request`` (a form POST, left as it is) with new credentials."""
        fields: dict[str, str] = {}
        basic = self._authentication.apply(fields, self._clock())
        form = parse_qsl(request.content.decode("ascii"), keep_blank_values=True)
        form = [(k, v) for k, v in form if k not in fields]  # e.g. a pushed request's client_id
        headers = [
            (k, v) for k, v in request.headers.multi_items() if k.lower() != "content-length"
        ]
        sent = httpx.Request(
            request.method,
            request.url,
            headers=headers,
            content=urlencode([*form, *fields.items()]),
            extensions=request.extensions,
        )
        return sent if basic is None else next(basic.auth_flow(sent))
