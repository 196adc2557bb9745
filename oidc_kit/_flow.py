"""The authorization-code flow with PKCE: start a login, finish it at the callback.

A login transaction (state, nonce, PKCE verifier, where to go next) is kept in the store
under a hash of its ``state``, and bound to the browser that started it by a random binding id,
fresh at every start, which a short-lived signed cookie keeps with the browser's other recent
ones. At the callback it is read and checked against the browser's bindings first, and only
then taken (deleted in one atomic step, one winner), so it works once, and a callback from
another browser leaves it for the browser that started it. A callback from another browser, a
replay, or one arriving after ``login_timeout`` fails with ``invalid_state``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from ._algorithms import accepted_algs
from ._auth_params import checked_login_params
from ._config import OIDCConfig
from ._crypto import Sealer, SealError
from ._dpop import DPoPKey
from ._errors import (
    AuthorizationFailed,
    InvalidCallback,
    InvalidIdToken,
    InvalidState,
    InvalidUserinfo,
    IssuerMismatch,
    PushedRequestFailed,
)
from ._http import fetch, json_object
from ._id_token import VALIDATION_ONLY_CLAIMS, IdTokenChecks, validate_id_token
from ._provider import Provider, ProviderMetadata
from ._step_up import StepUp
from ._tokens import TokenSet, post_authenticated, token_request
from .stores import LOGIN_KEY_PREFIX, SessionStore

__all__ = ["PROTOCOL_CLAIMS", "LoginFlow", "LoginResult", "LoginTransaction"]

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
class LoginTransaction:
    """One login in progress, from the redirect to the provider until its callback."""

    state: str
    nonce: str
    code_verifier: str
    binding: str
    next_path: str
    created_at: float
    max_age: int | None = None
    #: Step-up: the ``acr`` values asked for (the ID token's ``acr`` must be one of them).
    acr_values: tuple[str, ...] = ()
    #: Step-up: ``"login"`` when the provider was told to authenticate the user again.
    prompt: str | None = None
    #: The name of the provider the login was started for (several providers in one app).
    provider: str = "default"
    #: DPoP: the session-to-be's key, sealed (URL-safe base64), so that the code is bound
    #: to it.
    dpop_key: str | None = None

    def encode(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":")).encode()

    @classmethod
    def decode(cls, raw: bytes) -> LoginTransaction:
        """Inverse of :meth:`encode`; :class:`InvalidState` for anything else (a store's
        contents are checked like any input: a wrong type is a 400, not a 500)."""
        try:
            data = json.loads(raw)
            acr_values = data.pop("acr_values", [])
            if not isinstance(acr_values, list) or not all(isinstance(v, str) for v in acr_values):
                raise ValueError("acr_values")
            txn = cls(**data, acr_values=tuple(acr_values))
        except (TypeError, ValueError, AttributeError):
            raise InvalidState("the login transaction is unreadable") from None
        if not txn._well_typed():
            raise InvalidState("the login transaction is unreadable")
        return txn

    def _well_typed(self) -> bool:
        strings = (self.state, self.nonce, self.code_verifier, self.binding, self.next_path)
        optional = (self.prompt, self.dpop_key)
        return (
            all(isinstance(v, str) for v in (*strings, self.provider))
            and all(v is None or isinstance(v, str) for v in optional)
            and isinstance(self.created_at, int | float)
            and (self.max_age is None or type(self.max_age) is int)
        )


@dataclass(frozen=True)
class LoginResult:
    """A finished login: validated tokens, the user's claims, where to go next."""

    tokens: TokenSet
    claims: dict[str, Any]
    next_path: str
    #: The provider's session id (``sid`` claim) for back-channel logout, when it sent one.
    provider_sid: str | None


def _txn_key(state: str) -> str:
    return LOGIN_KEY_PREFIX + hashlib.sha256(state.encode()).hexdigest()


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

    async def start(
        self,
        binding: str,
        next_path: str = "/",
        *,
        max_age: int | None = None,
        acr_values: tuple[str, ...] = (),
        prompt: str | None = None,
        login_params: Mapping[str, str] | None = None,
    ) -> str:
        """Record a new transaction for the browser ``binding``; the authorization URL.

        ``max_age``, ``acr_values`` and ``prompt`` (step-up) are sent to the provider and
        remembered: the ID token must then satisfy them. ``login_params`` are the login URL's
        hints (``login_hint``, ``ui_locales``, ``claims_locales``, ``display``), sent as they
        are; any other name or a malformed value is :class:`InvalidLoginRequest`.
        """
        hints = checked_login_params(login_params or {})
        meta = await self._provider.metadata()
        # A provider whose ID tokens the client could never accept fails here, before the
        # user is sent to log in there for nothing.
        accepted_algs(self._config, meta)
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
        )
        await self._store.set(_txn_key(txn.state), txn.encode(), self._config.login_timeout)
        params = self._auth_params(txn, hints)
        resource = self._config.resource  # RFC 8707: one parameter per indicator
        if self._config.uses_par or meta.require_par:
            params, resource = await self._push(meta, params, dpop), ()
        elif dpop is not None:
            params["dpop_jkt"] = dpop.thumbprint
        query = urlencode([*params.items(), *(("resource", uri) for uri in resource)])
        separator = "&" if "?" in meta.authorization_endpoint else "?"
        return meta.authorization_endpoint + separator + query

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

    async def _push(
        self, meta: ProviderMetadata, params: dict[str, str], dpop: DPoPKey | None
    ) -> dict[str, str]:
        """RFC 9126: POST the request's parameters, authenticated; the browser then carries
        only ``client_id`` and the ``request_uri`` standing for them. With DPoP, a proof of
        the session's key binds the code to it (RFC 9449 10.1)."""
        if meta.par_endpoint is None:
            raise PushedRequestFailed("the provider has no pushed_authorization_request_endpoint")
        response = await post_authenticated(
            self._http,
            self._config,
            meta,
            meta.par_endpoint,
            params,
            self._clock(),
            what="pushed authorization request",
            dpop=dpop,
            nonces=self._provider.dpop_nonces,
            resource=self._config.resource,
        )
        body = json_object(response, PushedRequestFailed, "the PAR endpoint")
        if response.status_code not in (200, 201):
            error = body.get("error")
            raise PushedRequestFailed(
                f"the provider refused the pushed authorization request ({response.status_code}"
                + (f", {error})" if isinstance(error, str) else ")")
            )
        request_uri = body.get("request_uri")
        if not isinstance(request_uri, str) or not request_uri:
            raise PushedRequestFailed("the PAR response has no request_uri")
        return {"client_id": self._config.client_id, "request_uri": request_uri}

    def _auth_params(self, txn: LoginTransaction, hints: Mapping[str, str]) -> dict[str, str]:
        """The authorization request's parameters for ``txn`` (but ``resource``)."""
        params = {
            # First the provider's extra parameters, then the login URL's hints: the kit's
            # own below always win (the settings refuse them anyway).
            **self._config.auth_params,
            **({"audience": self._config.audience} if self._config.audience else {}),
            **hints,
            "response_type": "code",
            "client_id": self._config.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": " ".join(self._config.scopes),
            "state": txn.state,
            "nonce": txn.nonce,
            "code_challenge": create_s256_code_challenge(txn.code_verifier),
            "code_challenge_method": "S256",
        }
        if self._config.response_mode:
            params["response_mode"] = self._config.response_mode
        # The step-up parameters, spelled as the step-up redirect to /auth/login spells them.
        step_up = StepUp(txn.max_age, txn.acr_values, "login" if txn.prompt == "login" else None)
        params.update(step_up.login_params())
        return params

    def satisfies(self, claims: Mapping[str, Any], step_up: StepUp) -> bool:
        """Whether a session with these claims meets a route's step-up requirements, now."""
        return step_up.satisfied_by(claims, self._clock(), self._config.clock_leeway)

    async def finish(
        self, params: Mapping[str, Sequence[str]], binding: str | Sequence[str] | None
    ) -> LoginResult:
        """Validate a callback's parameters, exchange the code, validate the ID token."""
        return await self.complete(await self.take(params, binding), params)

    async def take(
        self, params: Mapping[str, Sequence[str]], binding: str | Sequence[str] | None
    ) -> LoginTransaction:
        """The transaction a callback's ``state`` names, checked to belong to this browser,
        then taken (it works once), then checked to be recent.

        ``binding`` is the browser's binding, or its recent bindings (the login cookie's):
        the transaction must have been started with one of them. A callback with an unknown
        state, or from another browser, takes nothing: whoever learns a victim's ``state``
        cannot end the victim's login with it."""
        return await self._take_transaction(_single(params, "state"), _bindings(binding))

    async def complete(
        self, txn: LoginTransaction, params: Mapping[str, Sequence[str]]
    ) -> LoginResult:
        """The rest of :meth:`finish`, for a transaction this flow started."""
        if txn.provider != self.name:
            # Its code belongs to another provider: never send it to this one's token endpoint.
            raise IssuerMismatch("this login was started for another provider")
        meta = await self._provider.metadata()
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
        tokens, _ = await token_request(
            self._http,
            self._config,
            meta,
            form,
            self._clock(),
            dpop=dpop,
            nonces=self._provider.dpop_nonces,
        )
        if tokens.id_token is None:
            raise InvalidIdToken("the token response has no id_token")
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
        return LoginResult(tokens, merged, txn.next_path, provider_sid)

    async def _take_transaction(
        self, state: str | None, bindings: Sequence[str]
    ) -> LoginTransaction:
        if not state:
            raise InvalidState("the callback has no state")
        key = _txn_key(state)
        raw = await self._store.get(key)  # read, not taken: it may not be this browser's
        if raw is None:
            raise InvalidState("unknown, expired or already used state")
        txn = LoginTransaction.decode(raw)
        if not _is_one_of(txn.binding, bindings):
            raise InvalidState("this login was not started by this browser")
        if not secrets.compare_digest(state.encode(), txn.state.encode()):
            raise InvalidState("state mismatch")
        # Now taken, atomically: of callbacks racing with the same state, one gets it, and it
        # must be the very record checked above.
        if await self._store.take(key) != raw:
            raise InvalidState("unknown, expired or already used state")
        if self._clock() - txn.created_at > self._config.login_timeout:
            raise InvalidState("the login took too long; start again")
        return txn

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


def _bindings(binding: str | Sequence[str] | None) -> tuple[str, ...]:
    """One binding or several, as a tuple (a ``str`` is itself a sequence of characters)."""
    if binding is None:
        return ()
    if isinstance(binding, str):
        return (binding,)
    return tuple(binding)


def _is_one_of(expected: str, candidates: Sequence[str]) -> bool:
    """Whether ``expected`` is among ``candidates``: every one compared in constant time."""
    found = False
    for candidate in candidates:
        found |= secrets.compare_digest(candidate.encode(), expected.encode())
    return found


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
