"""How the client proves who it is at the token, PAR and revocation endpoints.

One :class:`ClientAuthentication` per configured client, chosen once from its settings and the
provider's metadata: ``private_key_jwt`` when it has a key (RFC 7523, OpenID Connect Core 9),
else ``client_secret_basic``, or ``client_secret_post`` when that is all the provider offers,
else a public client that sends only its ``client_id``. :class:`ClientAuth` applies it to a
form request, afresh for every request sent (retries included).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import parse_qsl, quote_plus, urlencode

import httpx

from ._client_key import CLIENT_ASSERTION_TYPE, ClientKey
from ._provider import ProviderMetadata
from ._provider_config import ProviderConfig

__all__ = ["ClientAuth", "ClientAuthentication", "client_authentication"]


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
class PrivateKeyJwt:
    """A fresh assertion signed with the client's key; ``aud`` the issuer (FAPI 2.0 5.3.2.1)."""

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
    """The method ``config`` calls for at this provider (``meta`` ``None``: no discovery,
    so HTTP Basic for a secret, the method every provider must support, RFC 6749 2.3.1)."""
    if config.signing_key is not None:
        return PrivateKeyJwt(config.client_id, config.signing_key, config.issuer)
    if config.client_secret is None:
        return PublicClient(config.client_id)
    if meta is not None and meta.token_auth_method == "client_secret_post":
        return ClientSecretPost(config.client_id, config.client_secret)
    return ClientSecretBasic(config.client_id, config.client_secret)


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
