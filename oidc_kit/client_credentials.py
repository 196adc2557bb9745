"""Access tokens for the app itself: the OAuth 2.0 client credentials grant (RFC 6749 4.4).

Server-to-server calls (a nightly job, a back-office command) use the app's own credentials
rather than a user's session. :class:`ClientCredentials` is a :class:`~oidc_kit.TokenSource`,
and :meth:`~ClientCredentials.auth` is :class:`~oidc_kit.BearerAuth` over it:

    source = ClientCredentials(config, scopes=["accounts:read"], http_client=http)
    response = await http.get(f"{orca}/accounts", auth=source.auth())

The token is cached until ``refresh_leeway`` before its expiry (capped at half its lifetime);
at most one token request is in flight at a time, and every caller waiting shares its result
(or its error). On a 401 from the API, :class:`~oidc_kit.BearerAuth` asks for a new token once
and retries once.

Two request formats (``body_format``):

- ``"form"`` (the default): RFC 6749's ``application/x-www-form-urlencoded`` body with
  ``client_secret_basic``, or ``client_secret_post`` when the provider offers only that;
- ``"json"``: the body of the ORCA documentation's own example, a JSON object carrying
  ``client_id``, ``client_secret``, ``grant_type`` and ``scope``, for an authorization server
  that insists on it. A compatibility setting only.

With a ``client_key`` in the configuration the client authenticates with ``private_key_jwt``
(no secret needed), and with ``dpop`` (both are on under ``profile="fapi2"``) its tokens are
DPoP-bound to a key this source makes and keeps in memory: :meth:`ClientCredentials.auth`
then sends a proof with every call, as a user's calls do.

The token never appears in ``repr``, log lines or exception messages.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, get_args

import httpx

from ._dpop import DPoPAuth, DPoPKey, DPoPNonces
from ._errors import ConfigurationError, ProviderError, ProviderUnavailable
from ._http import fetch, json_object
from ._provider import Provider, ProviderMetadata
from ._provider_config import ProviderConfig, allowed_endpoint
from ._single_flight import SingleFlight
from ._tokens import TokenSet, _token_error, parse_token_response, post_authenticated
from .httpx_auth import BearerAuth

__all__ = ["ClientCredentials", "TokenRequestFormat"]

log = logging.getLogger("oidc_kit")

TokenRequestFormat = Literal["form", "json"]
"""How the token request is encoded: RFC 6749's form (default) or the ORCA example's JSON."""

_FORMATS: tuple[str, ...] = get_args(TokenRequestFormat)

#: No auth at all, rather than the client's default (which might be this very source's).
_NO_AUTH = httpx.Auth()


class ClientCredentials:
    """A token source for the app's own access tokens (``grant_type=client_credentials``).

    ``config`` gives the issuer, ``client_id``, ``client_secret`` or ``client_key`` (one is
    required: a public client cannot use this grant; a key means ``private_key_jwt``, with or
    without discovery), ``refresh_leeway`` and ``allow_insecure_http``. ``dpop`` binds the
    tokens to a key of this source's (default: on under ``profile="fapi2"``); they are then
    useless without :meth:`auth`'s proofs.
    ``token_endpoint`` skips discovery (the client then authenticates with HTTP Basic, or in
    the JSON body with ``body_format="json"``; a client key still means ``private_key_jwt``).
    ``http_client`` reaches the provider; do not
    give it a default ``auth`` that uses this source.
    """

    def __init__(
        self,
        config: ProviderConfig,
        *,
        scopes: Sequence[str],
        http_client: httpx.AsyncClient,
        token_endpoint: str | None = None,
        body_format: TokenRequestFormat = "form",
        dpop: bool | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not config.client_secret and config.signing_key is None:
            raise ConfigurationError(
                "the client credentials grant needs a client secret (OIDC_CLIENT_SECRET) "
                "or a client key (OIDC_CLIENT_KEY)"
            )
        if body_format == "json" and not config.client_secret:
            raise ConfigurationError("the json token request format sends a client secret")
        if body_format not in _FORMATS:
            raise ConfigurationError(
                "the token request format must be form or json",
                expected=_FORMATS,
                actual=body_format,
            )
        if isinstance(scopes, str):
            raise ConfigurationError("scopes must be a sequence of scope names, not a string")
        if token_endpoint is not None and not allowed_endpoint(
            token_endpoint, config.allow_insecure_http
        ):
            raise ConfigurationError(
                "token_endpoint must be an https URL (http only with allow_insecure_http)",
                actual=token_endpoint,
            )
        self._config = config
        self._client_secret = config.client_secret or ""
        # DPoP: this source's own key, for its whole life (never stored anywhere). On under
        # the FAPI 2.0 profile; a config with dpop for its users' logins does not switch the
        # app's own tokens (an API may take Bearer service tokens only): say dpop=True.
        bound = config.fapi2 if dpop is None else dpop
        self._dpop = DPoPKey.generate() if bound else None
        self._provider_nonces = DPoPNonces()
        self._api_nonces = DPoPNonces()
        self.scopes: tuple[str, ...] = tuple(dict.fromkeys(scopes))
        self.body_format: TokenRequestFormat = body_format
        self._http = http_client
        self._token_endpoint = token_endpoint
        self._provider = None if token_endpoint else Provider(config, http_client, clock)
        self._clock = clock
        self._tokens: TokenSet | None = None
        self._flight: SingleFlight[TokenSet] = SingleFlight()

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        scopes: Sequence[str],
        http_client: httpx.AsyncClient,
        token_endpoint: str | None = None,
        body_format: TokenRequestFormat = "form",
        dpop: bool | None = None,
        clock: Callable[[], float] = time.time,
    ) -> ClientCredentials:
        """A source configured from the provider's variables only (``OIDC_ISSUER``,
        ``OIDC_CLIENT_ID``, ``OIDC_CLIENT_SECRET`` or ``OIDC_CLIENT_KEY``, ``OIDC_PROFILE``,
        ``OIDC_REFRESH_LEEWAY``, ``OIDC_HTTP_TIMEOUT``...; ``environ`` default ``os.environ``):
        a batch job needs no ``APP_BASE_URL`` nor ``SESSION_SECRET``, and gets no warning
        about sessions. The other arguments are the constructor's."""
        return cls(
            ProviderConfig.from_env(environ),
            scopes=scopes,
            http_client=http_client,
            token_endpoint=token_endpoint,
            body_format=body_format,
            dpop=dpop,
            clock=clock,
        )

    def __repr__(self) -> str:
        return (
            f"ClientCredentials(client_id={self._config.client_id!r}, scopes={self.scopes!r}, "
            f"body_format={self.body_format!r}, expires_at={self.expires_at!r})"
        )

    def auth(self) -> BearerAuth:
        """:class:`~oidc_kit.BearerAuth` over this source: it sends the token (with a DPoP
        proof when bound) and, on a 401, gets a new one and retries once."""
        return BearerAuth(self, nonces=self._api_nonces, clock=self._clock)

    @property
    def expires_at(self) -> float | None:
        """When the cached token expires (epoch seconds); ``None`` before the first fetch."""
        return self._tokens.expires_at if self._tokens else None

    async def token(self) -> str:
        """The access token of :meth:`tokens`, for a client other than httpx (a bound token
        is useless without :meth:`auth`'s proofs)."""
        return (await self.tokens()).access_token

    async def tokens(self) -> TokenSet:
        """The cached token, or a new one when there is none or it is due
        (:class:`~oidc_kit.TokenSource`)."""
        tokens = self._tokens
        if tokens is not None and not tokens.due(self._clock(), self._config.refresh_leeway):
            return tokens
        try:
            return await self._fetch_once()
        except ProviderUnavailable:
            if tokens is None or not self._unexpired(tokens):
                raise
            # Refreshing early is a courtesy: a token that has not expired still works.
            log.warning("client credentials: provider unavailable, using the unexpired token")
            return tokens

    async def refreshed(self, rejected: str) -> TokenSet:
        """A token other than ``rejected``, which the API refused: the cached one if it
        already differs, else a new one (:class:`~oidc_kit.TokenSource`)."""
        tokens = self._tokens
        if (
            not self._flight.running("token")
            and tokens is not None
            and tokens.access_token != rejected
            and not tokens.due(self._clock(), self._config.refresh_leeway)
        ):
            return tokens
        # Joins a request already in flight: it was sent after `rejected` was handed out.
        return await self._fetch_once()

    def _unexpired(self, tokens: TokenSet) -> bool:
        return tokens.expires_at is None or self._clock() < tokens.expires_at

    async def _fetch_once(self) -> TokenSet:
        """Start a token request, or join the one in flight; a cancelled caller leaves it be."""
        return await self._flight.run("token", self._fetch)

    async def _fetch(self) -> TokenSet:
        now = self._clock()  # before the request: the token's lifetime counts from here
        tokens = parse_token_response(await self._request(now), now, self._dpop)
        self._tokens = tokens
        log.debug(
            "client credentials token for %s, expires in %s s",
            self._config.client_id,
            None if tokens.expires_at is None else round(tokens.expires_at - now),
        )
        return tokens

    async def _request(self, now: float) -> dict[str, Any]:
        """POST the grant; the successful response body, or the error it maps to."""
        url, meta = await self._endpoint()
        params = {"grant_type": "client_credentials"}
        if self.scopes:
            params["scope"] = " ".join(self.scopes)

        if self.body_format == "json":
            response = await self._json_request(url, params, now)
        else:
            response = await post_authenticated(
                self._http,
                self._config,
                meta,
                url,
                params,
                now,
                what="token endpoint",
                kind="token",
                dpop=self._dpop,
                nonces=self._provider_nonces,
            )
        if response.status_code != 200:
            raise _token_error(response)
        return json_object(response, ProviderError, "token endpoint")

    async def _json_request(self, url: str, params: dict[str, str], now: float) -> httpx.Response:
        """The ORCA example's JSON body, the secret inside it (a compatibility format)."""
        body = {**params, "client_id": self._config.client_id, "client_secret": self._client_secret}
        auth = _NO_AUTH
        if self._dpop is not None:
            auth = DPoPAuth(self._dpop, self._provider_nonces, lambda: now)
        return await fetch(
            self._http,
            "POST",
            url,
            what="token endpoint",
            kind="token",
            deadline=self._config.http_timeout,
            json=body,
            headers={"Accept": "application/json"},
            auth=auth,
        )

    async def _endpoint(self) -> tuple[str, ProviderMetadata | None]:
        if self._provider is None:
            assert self._token_endpoint is not None
            return self._token_endpoint, None
        meta = await self._provider.metadata()
        return meta.token_endpoint, meta
