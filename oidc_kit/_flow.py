"""The authorization-code flow with PKCE: start a login, finish it at the callback.

A login starts with a new transaction (``_transaction``: state, nonce, PKCE verifier, kept for
the browser that started it) and the URL sending the browser to the provider (``_authorize``).
At the callback the transaction is taken, then the callback's ``iss`` checked, the code
exchanged, the ID token validated and userinfo fetched: a :class:`LoginResult`.
"""

from __future__ import annotations

import base64
import logging
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from ._algorithms import accepted_algs
from ._auth_params import checked_login_params
from ._authorization_details import checked_grant
from ._authorize import Authorizer
from ._config import OIDCConfig
from ._crypto import Sealer, SealError
from ._dpop import DPoPKey
from ._errors import (
    AuthorizationDetailsMismatch,
    AuthorizationFailed,
    InvalidCallback,
    InvalidIdToken,
    InvalidState,
    InvalidUserinfo,
    IssuerMismatch,
)
from ._http import fetch, json_object
from ._id_token import VALIDATION_ONLY_CLAIMS, IdTokenChecks, validate_id_token
from ._jarm import check_jarm_support, unverified_state, uses_jarm, verified_response
from ._provider import Provider, ProviderMetadata
from ._step_up import StepUp
from ._tokens import TokenSet, revoke_tokens, token_request
from ._transaction import LoginTransaction, save_transaction, take_transaction
from .stores import SessionStore

__all__ = ["PROTOCOL_CLAIMS", "LoginFlow", "LoginResult"]

log = logging.getLogger("oidc_kit")

#: Claims that describe the ID token itself: userinfo never overrides them.
PROTOCOL_CLAIMS = frozenset(
    {
        "iss",
        "sub",
        "aud",
        "exp",
        "iat",
        "nbf",
        "nonce",
        "azp",
        "auth_time",
        "at_hash",
        "sid",
        "jti",
        "acr",
        "amr",
    }
)


@dataclass(frozen=True)
class LoginResult:
    """A finished login: validated tokens, the user's claims, where to go next."""

    tokens: TokenSet
    claims: dict[str, Any]
    next_path: str
    #: The provider's session id (``sid`` claim) for back-channel logout, when it sent one.
    provider_sid: str | None
    #: RAR: the authorization details granted (canonical JSON), when the login asked for some.
    authorization_details: str | None = None


class LoginFlow:
    """Builds authorization URLs and turns callbacks into validated logins."""

    def __init__(
        self,
        config: OIDCConfig,
        provider: Provider,
        store: SessionStore,
        http: httpx.AsyncClient,
        clock: Callable[[], float] = time.time,
        *,
        name: str = "default",
        redirect_uri: str | None = None,
    ) -> None:
        self._config = config
        self._provider = provider
        self._store = store
        self._http = http
        self._clock = clock
        #: The provider's name, recorded in each transaction this flow starts.
        self.name = name
        #: Where the provider sends the browser back (a distinct one per provider).
        self.redirect_uri = redirect_uri or config.redirect_uri
        self._sealer = Sealer(config.session_secrets, purpose="login-dpop-key")
        self._authorizer = Authorizer(config, provider, http, clock)

    async def start(
        self,
        binding: str,
        next_path: str = "/",
        *,
        max_age: int | None = None,
        acr_values: tuple[str, ...] = (),
        prompt: str | None = None,
        login_params: Mapping[str, str] | None = None,
        authorization_details: str | None = None,
    ) -> str:
        """Record a new transaction for the browser ``binding``; the authorization URL.

        ``max_age``, ``acr_values`` and ``prompt`` (step-up) are sent to the provider and
        remembered: the ID token must then satisfy them. ``login_params`` are the login URL's
        hints (``login_hint``, ``ui_locales``, ``claims_locales``, ``display``), sent as they
        are; any other name or a malformed value is :class:`InvalidLoginRequest`.
        ``authorization_details`` (RFC 9396, canonical JSON: ``StepUp.from_query`` checked
        them) are sent too, and the token response must grant exactly them.
        """
        hints = checked_login_params(login_params or {})
        meta = await self._provider.metadata()
        # A provider whose ID tokens the client could never accept fails here, before the
        # user is sent to log in there for nothing.
        accepted_algs(self._config, meta)
        check_jarm_support(self._config.response_mode, self._config, meta)
        state = secrets.token_urlsafe(32)
        # DPoP: the session's key is made now, so that the code is bound to it too (RFC 9449
        # 10): a stolen code is then useless without the key, as its tokens will be.
        dpop = DPoPKey.generate() if self._config.uses_dpop else None
        txn = LoginTransaction(
            state=state,
            nonce=secrets.token_urlsafe(32),
            code_verifier=secrets.token_urlsafe(64),
            binding=binding,
            next_path=next_path,
            created_at=self._clock(),
            max_age=max_age,
            acr_values=acr_values,
            prompt=prompt,
            provider=self.name,
            dpop_key=self._seal_key(dpop, state),
            authorization_details=authorization_details,
        )
        await save_transaction(self._store, txn, self._config.login_timeout)
        return await self._authorizer.url(
            meta, txn, hints, redirect_uri=self.redirect_uri, dpop=dpop
        )

    def _seal_key(self, key: DPoPKey | None, state: str) -> str | None:
        """The DPoP key as the (stored, unencrypted) transaction may hold it: sealed, bound
        to this login (its state and provider), so it opens for no other."""
        if key is None:
            return None
        sealed = self._sealer.seal(key.to_json().encode(), self._key_binding(state))
        return base64.urlsafe_b64encode(sealed).decode()

    def _open_key(self, txn: LoginTransaction) -> DPoPKey | None:
        """The key :meth:`_seal_key` sealed (``None`` without DPoP)."""
        if txn.dpop_key is None:
            if self._config.uses_dpop:
                # Started before DPoP was turned on: its code is bound to no key.
                raise InvalidState("this login started without DPoP; start it again")
            return None
        try:
            sealed = base64.urlsafe_b64decode(txn.dpop_key.encode())
            plain = self._sealer.open(sealed, self._key_binding(txn.state))
            return DPoPKey.from_json(plain.decode())
        except (ValueError, SealError):
            raise InvalidState("the login transaction is unreadable") from None

    def _key_binding(self, state: str) -> bytes:
        return f"{self.name}|{state}".encode()

    def satisfies(
        self, claims: Mapping[str, Any], step_up: StepUp, granted_details: str | None = None
    ) -> bool:
        """Whether a session with these claims (and granted authorization details) meets a
        route's step-up requirements, now."""
        return step_up.satisfied_by(
            claims, self._clock(), self._config.clock_leeway, granted_details
        )

    async def finish(
        self, params: Mapping[str, Sequence[str]], binding: str | Sequence[str] | None
    ) -> LoginResult:
        """Validate a callback's parameters, exchange the code, validate the ID token."""
        return await self.complete(await self.take(params, binding), params)

    async def take(
        self, params: Mapping[str, Sequence[str]], binding: str | Sequence[str] | None
    ) -> LoginTransaction:
        """The transaction a callback's ``state`` names, taken (once) for the browser whose
        binding, or recent bindings (the login cookie's), it was started with: see
        :func:`~oidc_kit._transaction.take_transaction`."""
        # JARM: the state inside the response JWT, verified once the login is known (_jarm).
        jarm = uses_jarm(self._config.response_mode)
        return await take_transaction(
            self._store,
            unverified_state(params) if jarm else _single(params, "state"),
            binding,
            clock=self._clock,
            lifetime=self._config.login_timeout,
        )

    async def complete(
        self, txn: LoginTransaction, params: Mapping[str, Sequence[str]]
    ) -> LoginResult:
        """The rest of :meth:`finish`, for a transaction this flow started."""
        if txn.provider != self.name:
            # Its code belongs to another provider: never send it to this one's token endpoint.
            raise IssuerMismatch("this login was started for another provider")
        meta = await self._provider.metadata()
        if uses_jarm(self._config.response_mode):
            # From here on the response is the verified JWT's claims, nothing else.
            params = await verified_response(params, self._config, self._provider, self._clock())
        self._check_issuer_parameter(_single(params, "iss"), meta)
        error = _single(params, "error")
        if error is not None:
            raise _authorization_error(error, _single(params, "error_description"))
        code = _single(params, "code")
        if not code:
            raise InvalidCallback("the callback has no code")
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_uri,
            "code_verifier": txn.code_verifier,
        }
        dpop = self._open_key(txn)  # the key the code is bound to, and now the tokens
        tokens, body = await self._provider.observed(
            token_request(
                self._http,
                self._config,
                meta,
                form,
                self._clock(),
                dpop=dpop,
                nonces=self._provider.dpop_nonces,
            )
        )
        if tokens.id_token is None:
            raise InvalidIdToken("the token response has no id_token")
        # RFC 9396 7: the details granted, refused unless they are those asked for; the
        # tokens of a grant the app will not act on are revoked, not just dropped.
        try:
            details = checked_grant(txn.authorization_details, body)
        except AuthorizationDetailsMismatch:
            await revoke_tokens(self._http, self._config, meta, tokens, self._clock())
            raise
        checks = IdTokenChecks(
            nonce=txn.nonce,
            max_age=txn.max_age,
            access_token=tokens.access_token,
            acr_values=txn.acr_values,
            auth_not_before=txn.created_at if txn.prompt == "login" else None,
        )
        claims = await validate_id_token(
            tokens.id_token, self._config, self._provider, checks, self._clock()
        )
        userinfo = await self._userinfo(meta, tokens, claims["sub"])
        merged = {k: v for k, v in claims.items() if k not in VALIDATION_ONLY_CLAIMS}
        merged.update({k: v for k, v in userinfo.items() if k not in PROTOCOL_CLAIMS})
        provider_sid = claims.get("sid") if isinstance(claims.get("sid"), str) else None
        return LoginResult(tokens, merged, txn.next_path, provider_sid, details)

    def _check_issuer_parameter(self, iss: str | None, meta: ProviderMetadata) -> None:
        """RFC 9207: ``iss`` must be ours when present, and present when advertised (and
        always under the FAPI 2.0 profile, which requires it of providers)."""
        if iss is None:
            if meta.iss_parameter_supported or self._config.fapi2:
                raise IssuerMismatch(
                    "the callback has no iss parameter (RFC 9207), which this provider or "
                    "the FAPI 2.0 profile requires",
                    expected=self._config.issuer,
                    actual=None,
                )
            return
        if iss != self._config.issuer:
            raise IssuerMismatch(
                "the callback comes from another issuer", expected=self._config.issuer, actual=iss
            )

    async def _userinfo(self, meta: ProviderMetadata, tokens: TokenSet, sub: str) -> dict[str, Any]:
        url = meta.userinfo_endpoint
        if url is None:
            return {}
        response = await fetch(
            self._http,
            "GET",
            url,
            what="userinfo",
            kind="userinfo",
            deadline=self._config.http_timeout,
            headers={"Accept": "application/json"},
            auth=tokens.auth(self._provider.dpop_nonces, self._clock),
        )
        if response.status_code in (401, 403):
            # Some providers bind access tokens to the API's audience and refuse them here.
            log.warning(
                "userinfo refused the access token (%s); using ID token claims",
                response.status_code,
            )
            return {}
        if response.status_code != 200:
            raise InvalidUserinfo(f"userinfo answered {response.status_code}")
        body = json_object(response, InvalidUserinfo, "userinfo")
        if body.get("sub") != sub:
            raise InvalidUserinfo(
                "the userinfo sub differs from the ID token's", expected=sub, actual=body.get("sub")
            )
        return body


def _single(params: Mapping[str, Sequence[str]], name: str) -> str | None:
    """A parameter that must appear at most once (RFC 6749 3.1)."""
    values = params.get(name, ())
    if len(values) > 1:
        raise InvalidCallback(f"the callback repeats the {name} parameter")
    return values[0] if values else None


def _authorization_error(error: str, description: str | None) -> AuthorizationFailed:
    code = error if error in AuthorizationFailed.KNOWN_CODES else "access_denied"
    text = (description or "the provider refused the login")[:200]
    return AuthorizationFailed(text, code=code)
