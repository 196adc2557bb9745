"""Fresh access tokens for a session, refreshed at most once at a time per session.

Many requests of one browser often find the access token due at the same moment (a dashboard
loading accounts, cards and transactions), in several processes. Within a process they share
one refresh task. Across processes, the task takes a lease in the store (``add``, atomic) before
it sends the grant; the others poll the session until the new tokens are stored. Every pass
re-reads the session first, so a request that arrives after a refresh finished uses the stored
tokens and never replays a rotated refresh token (which would make the provider revoke the
whole token family).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import httpx

from ._audit import Auditor
from ._authorization_details import checked_grant
from ._dpop import DPoPKey, load_key
from ._errors import (
    AuthorizationDetailsMismatch,
    InvalidIdToken,
    ProviderError,
    ProviderUnavailable,
    SessionEnded,
    TokenRequestFailed,
)
from ._hooks import RefreshFailedEvent, RefreshFailedHook, notify
from ._id_token import VALIDATION_ONLY_CLAIMS, IdTokenChecks, audience_list, validate_id_token
from ._provider import Provider
from ._provider_config import ProviderConfig
from ._session import Session, Sessions, new_id
from ._single_flight import SingleFlight
from ._telemetry import record_refresh, refresh_span
from ._tokens import TokenSet, revoke_token, token_request

__all__ = ["TokenManager"]

log = logging.getLogger("oidc_kit")

#: How often a process waiting on another's refresh re-reads the session (seconds).
_LEASE_POLL = 0.05
#: A refresh holding the lease, in ``http_timeout`` units. Until the grant has an answer
#: (discovery, the token request and its DPoP-nonce retry) it is cut off after
#: ``_GRANT_CALLS``, counted from taking the lease: no grant is ever sent late. After a grant
#: the new tokens are kept whatever happens, through at most ``_AFTER_GRANT_CALLS`` bounded
#: calls (JWKS refetches for the new ID token, a revocation). The lease outlives both, by a
#: margin for the store's own reads and writes: two processes never send one refresh token.
_GRANT_CALLS = 3
_AFTER_GRANT_CALLS = 3
_LEASE_MARGIN = 2.0


class TokenManager:
    """Hands out usable access tokens and performs single-flight refreshes."""

    def __init__(
        self,
        config: ProviderConfig,
        provider: Provider,
        sessions: Sessions,
        http: httpx.AsyncClient,
        clock: Callable[[], float] = time.time,
        *,
        name: str = "default",
        on_failure: RefreshFailedHook | None = None,
        auditor: Auditor | None = None,
    ) -> None:
        """``name``: the provider's, for :class:`RefreshFailedEvent`; ``on_failure``: the
        app's ``on_refresh_failed`` hook; ``auditor``: where ``refresh.*`` events go."""
        self._config = config
        self._name = name
        self._on_failure = on_failure
        self._auditor = auditor or Auditor(clock=clock)
        self._provider = provider
        self._sessions = sessions
        self._http = http
        self._clock = clock
        self._flights: SingleFlight[TokenSet] = SingleFlight()
        #: How long after taking the lease a grant may still be sent and answered.
        self.grant_deadline = _GRANT_CALLS * config.http_timeout
        #: The cross-process lease: it outlives the grant and the work after it.
        self.lease_ttl = (_GRANT_CALLS + _AFTER_GRANT_CALLS) * config.http_timeout + _LEASE_MARGIN
        #: Token-endpoint refresh grants sent by this process (benchmarks and tests read it).
        self.refresh_count = 0

    def source(self, session: Session) -> _SessionTokens:
        """``session``'s tokens as a :class:`~oidc_kit.TokenSource` (for ``BearerAuth``)."""
        return _SessionTokens(self, session)

    async def tokens(self, session: Session) -> TokenSet:
        """The session's tokens, refreshed first when the access token is due."""
        tokens = self._sessions.tokens(session)
        if not tokens.due(self._clock(), self._config.refresh_leeway):
            return tokens
        return await self._single_flight(session.sid, rejected=None)

    async def refresh(self, session: Session, rejected: str | None = None) -> TokenSet:
        """Refresh now. ``rejected`` is an access token the API refused (a 401): if the
        session already holds a different one, that one is returned without a new grant."""
        tokens = self._sessions.tokens(session)
        return await self._single_flight(session.sid, rejected=rejected or tokens.access_token)

    async def _single_flight(self, sid: str, rejected: str | None) -> TokenSet:
        result = await self._join(sid, rejected)
        if rejected is not None and result.access_token == rejected:
            # We joined a refresh started for another reason, which kept the token the API
            # just refused: start (or join) one that replaces it.
            result = await self._join(sid, rejected)
        return result

    async def _join(self, sid: str, rejected: str | None) -> TokenSet:
        # One waiter going away (a client closed the tab) does not cancel the refresh the
        # others wait for.
        return await self._flights.run(sid, lambda: self._refresh(sid, rejected))

    async def _refresh(self, sid: str, rejected: str | None) -> TokenSet:
        """Refresh under a lease in the store, so one process at a time sends the grant.

        Without the lease, a waiter polls the session until the holder's result is stored (or
        the session ends); a holder that died leaves a lease that expires, and a waiter takes
        over. Every pass re-reads the session first, so a rotated refresh token is never sent
        again.
        """
        owner = new_id().encode()
        lease = f"lease:{sid}"
        give_up = time.monotonic() + 2 * self.lease_ttl
        while True:
            session, tokens = await self._current(sid)
            if self._settled(tokens, rejected):
                return tokens
            deadline = asyncio.get_running_loop().time() + self.grant_deadline
            if await self._sessions.store.add(lease, owner, self.lease_ttl):
                try:
                    # Re-read under the lease: another process may have just finished.
                    session, tokens = await self._current(sid)
                    if self._settled(tokens, rejected):
                        return tokens
                    with refresh_span(self._name):  # oidc_kit.refresh: span, metrics
                        return await self._refresh_held(session, tokens, rejected, deadline)
                finally:
                    await self._sessions.store.delete_if(lease, owner)
            if time.monotonic() > give_up:
                raise ProviderUnavailable("another process's refresh did not finish in time")
            await asyncio.sleep(_LEASE_POLL)

    async def _current(self, sid: str) -> tuple[Session, TokenSet]:
        session = await self._sessions.load(sid)
        if session is None:
            raise SessionEnded("the session ended")
        return session, self._sessions.tokens(session)

    def _settled(self, tokens: TokenSet, rejected: str | None) -> bool:
        """True when ``tokens`` need no refresh (for a due token, or a token the API refused)."""
        if rejected is not None:
            return tokens.access_token != rejected
        return not tokens.due(self._clock(), self._config.refresh_leeway)

    async def _refresh_held(
        self, session: Session, tokens: TokenSet, rejected: str | None, deadline: float
    ) -> TokenSet:
        """The grant itself, sent while holding the session's lease, answered by ``deadline``
        (event-loop time)."""
        sid, now = session.sid, self._clock()
        if tokens.refresh_token is None:
            if tokens.expires_at is not None and now < tokens.expires_at and rejected is None:
                return tokens  # no way to refresh early: use it while it lasts
            await self._sessions.delete(sid)
            raise SessionEnded("the access token expired and there is no refresh token")
        try:
            async with asyncio.timeout_at(deadline):
                fresh, body = await self._grant(tokens, tokens.refresh_token, now)
        except TokenRequestFailed as exc:
            return await self._refused(session, tokens.refresh_token, exc)
        except TimeoutError:
            late = ProviderUnavailable(
                f"the refresh grant had no answer within {self.grant_deadline:g} s"
            )
            await self._report(session, late.code, ended=False)
            raise late from None
        except ProviderError as exc:
            # Unreachable (503), or an answer we cannot use (502): the session is kept.
            await self._report(session, exc.code, ended=False)
            raise
        await self._check_details(session, tokens, fresh, body)
        return await self._keep(session, tokens, fresh)

    async def _check_details(
        self, session: Session, tokens: TokenSet, fresh: TokenSet, body: dict[str, Any]
    ) -> None:
        """RFC 9396 7: a refresh response may carry ``authorization_details`` again; they must
        still be the login's (:func:`checked_grant`'s rule). If not, the new tokens carry a
        grant the app never accepted: they are revoked and the session ends (log in again).
        A response without them leaves the session's as they were."""
        if session.authorization_details is None or "authorization_details" not in body:
            return
        try:
            checked_grant(session.authorization_details, body)
        except AuthorizationDetailsMismatch:
            await self._revoke(tokens.updated(fresh))
            await self._sessions.delete(session.sid)
            await self._report(session, "authorization_details_mismatch", ended=True)
            raise SessionEnded(
                "the refresh granted other authorization_details than the login's"
            ) from None

    async def _keep(self, session: Session, tokens: TokenSet, fresh: TokenSet) -> TokenSet:
        """Store a grant's answer. Its refresh token may have replaced the one sent (rotation),
        so it is stored even when its ID token cannot be checked now (the provider's keys out of
        reach): then without that ID token, the session's claims unchanged."""
        merged = tokens.updated(fresh)
        try:
            claims = await self._refreshed_claims(session, fresh)
        except ProviderError as exc:
            log.warning("refreshed sub=%s without its new ID token (%s)", session.sub, exc.code)
            merged, claims = replace(merged, id_token=tokens.id_token), None
        session = self._sessions.with_tokens(session, merged)
        if claims is not None:
            session = _with_claims(session, claims)
        if not await self._sessions.save(session):
            # Logged out while the grant was in flight: do not bring the session back.
            await self._revoke(merged)
            raise SessionEnded("the session ended during the refresh")
        log.info("refreshed the access token of sub=%s", session.sub)
        await self._auditor.emit(
            "refresh.succeeded", sub=session.sub, provider=self._name, sid=session.sid
        )
        return merged

    async def _grant(
        self, tokens: TokenSet, refresh_token: str, now: float
    ) -> tuple[TokenSet, dict[str, Any]]:
        """The refresh grant: the new tokens and the token endpoint's raw answer."""
        meta = await self._provider.metadata()
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        self.refresh_count += 1
        return await self._provider.observed(
            token_request(
                self._http,
                self._config,
                meta,
                form,
                now,
                dpop=self._dpop_key(tokens),
                nonces=self._provider.dpop_nonces,
            )
        )

    def _dpop_key(self, tokens: TokenSet) -> DPoPKey | None:
        """The session's DPoP key; a new one for a session made before DPoP was turned on."""
        if tokens.dpop_key is not None:
            return load_key(tokens.dpop_key)
        return DPoPKey.generate() if self._config.uses_dpop else None

    async def _refused(self, session: Session, sent: str, exc: TokenRequestFailed) -> TokenSet:
        """The provider refused the refresh token we sent."""
        sid = session.sid
        if exc.code != "invalid_grant":
            refusal = ProviderError(f"refresh refused: {exc.code}", code="refresh_failed")
            await self._report(session, refusal.code, ended=False)
            raise refusal from None
        current = await self._sessions.load(sid)
        if current is not None:
            stored = self._sessions.tokens(current)
            if stored.refresh_token != sent:
                # Another process rotated it meanwhile and saved the result: use that.
                return stored
        # The provider no longer honours this login (revoked, expired, reused).
        await self._sessions.delete(sid)
        await self._report(session, "invalid_grant", ended=True)
        raise SessionEnded("the provider refused the refresh token") from None

    async def _report(self, session: Session, reason: str, *, ended: bool) -> None:
        """Tell the app's ``on_refresh_failed`` (once per refresh: this runs in the flight
        that every waiting request shares)."""
        event = RefreshFailedEvent(self._name, session.sub, reason, session_ended=ended)
        await self._auditor.emit(
            "refresh.failed",
            outcome="failure",
            sub=session.sub,
            provider=self._name,
            sid=session.sid,
            error=reason,
            reason="session_ended" if ended else "session_kept",
        )
        record_refresh("failure", self._name, error_code=reason)
        await notify(self._on_failure, event)

    async def _revoke(self, tokens: TokenSet) -> None:
        if tokens.refresh_token is not None:
            meta = await self._provider.metadata()
            await revoke_token(
                self._http, self._config, meta, tokens.refresh_token, "refresh_token", self._clock()
            )

    async def _refreshed_claims(
        self, session: Session, fresh: TokenSet
    ) -> dict[str, object] | None:
        """Validate a refresh response's ID token: same issuer and subject as the session, the
        same audience and authorized party as the login's (OpenID Connect Core 12.2)."""
        if fresh.id_token is None:
            return None
        checks = IdTokenChecks(sub=session.sub, access_token=fresh.access_token)
        try:
            claims = await validate_id_token(
                fresh.id_token, self._config, self._provider, checks, self._clock()
            )
            _check_same_login(session.claims, claims)
        except InvalidIdToken as exc:
            log.warning("ending a session: the refreshed ID token is invalid (%s)", exc)
            await self._sessions.delete(session.sid)
            await self._report(session, InvalidIdToken.code, ended=True)
            raise SessionEnded("the provider's refreshed ID token is invalid") from None
        return claims


#: Claims naming who logged in, for whom: a refreshed ID token must repeat them (Core 12.2).
_SAME_AS_LOGIN = ("iss", "sub", "aud", "azp")
#: Claims describing the login itself. Core 12.2: a refreshed ID token's ``auth_time`` is the
#: original authentication's; some providers put the user's latest login anywhere there, which
#: would make this session (a stolen one too) look freshly authenticated to ``max_age`` step-up.
#: The session keeps its login's values.
_LOGIN_EVENT = ("auth_time", "acr", "amr")


def _check_same_login(login: dict[str, object], refreshed: dict[str, object]) -> None:
    """:class:`InvalidIdToken` when ``refreshed`` names another party than the login's."""
    for name in _SAME_AS_LOGIN:
        before, after = login.get(name), refreshed.get(name)
        if name == "aud":  # a string and a one-element list name the same audience
            before, after = frozenset(audience_list(before)), frozenset(audience_list(after))
        if before != after:
            raise InvalidIdToken(
                f"the refreshed ID token's {name} differs from the login's",
                expected=before,
                actual=after,
            )


def _change(name: str, before: object, after: object) -> str:
    """``name (before -> after)``, each value cut short: the provider's values are unbounded."""
    return f"{name} ({before!r:.100} -> {after!r:.100})"


def _with_claims(session: Session, id_claims: dict[str, object]) -> Session:
    """The session with a refreshed ID token's claims, its login's authentication kept."""
    moved = [n for n in _LOGIN_EVENT if n in id_claims and id_claims[n] != session.claims.get(n)]
    if moved:
        log.info(
            "the refreshed ID token of sub=%s changes %s; the session keeps its login's",
            session.sub,
            # The provider's values, cut short: a log line is no place for an unbounded claim.
            ", ".join(
                f"{n} ({session.claims.get(n)!r:.100} -> {id_claims[n]!r:.100})" for n in moved
            ),
        )
    dropped = VALIDATION_ONLY_CLAIMS.union(_LOGIN_EVENT)
    kept = {k: v for k, v in id_claims.items() if k not in dropped}
    return replace(session, claims={**session.claims, **kept})


class _SessionTokens:
    """One session's tokens as a :class:`~oidc_kit.TokenSource`."""

    def __init__(self, manager: TokenManager, session: Session) -> None:
        self._manager = manager
        self._session = session

    async def tokens(self) -> TokenSet:
        return await self._manager.tokens(self._session)

    async def refreshed(self, rejected: str) -> TokenSet:
        return await self._manager.refresh(self._session, rejected)
