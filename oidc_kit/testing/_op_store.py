"""The sandbox provider's in-memory state, expired lazily.

A *grant* is what one code exchange starts: the refresh-token family and every access token
issued from it. Revoking the grant (code replay, refresh-token reuse, revocation of a refresh
token) invalidates all of them at once.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "PAR_URN_PREFIX",
    "AuthRequest",
    "CodeRecord",
    "Grant",
    "Interaction",
    "OPSession",
    "OPStore",
]

PAR_URN_PREFIX = "urn:ietf:params:oauth:request_uri:"


@dataclass(frozen=True)
class AuthRequest:
    """A validated authorization request, waiting for a login or turned into a code."""

    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    nonce: str
    code_challenge: str
    state: str | None = None
    response_mode: str = "query"
    prompt: frozenset[str] = frozenset()
    max_age: int | None = None
    login_hint: str | None = None
    #: RFC 9449 10: the DPoP key (thumbprint) the code is bound to, from the pushed request's
    #: proof or the ``dpop_jkt`` parameter; the code is then redeemed only with that key.
    dpop_jkt: str | None = None
    #: RAR (RFC 9396): the authorization details asked for, as a JSON array (checked).
    authorization_details: tuple[dict[str, Any], ...] = ()


@dataclass
class Interaction:
    """An authorization request shown as a login form; its id travels in a hidden field."""

    id: str
    request: AuthRequest
    expires_at: float


@dataclass
class OPSession:
    """A browser's login at the provider: ``key`` is the cookie value, ``sid`` is public.

    ``clients`` are the client_ids that received a code in it (the back-channel logout
    audience); ``csrf`` guards the provider's own "log out" form.
    """

    key: str
    sid: str
    sub: str
    auth_time: int
    clients: set[str] = field(default_factory=set)
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24), repr=False)


@dataclass
class CodeRecord:
    """An authorization code; ``used`` once redeemed, ``grant_id`` once tokens were issued."""

    request: AuthRequest
    sub: str
    sid: str
    auth_time: int
    expires_at: float
    used: bool = False
    grant_id: str | None = None


@dataclass
class Grant:
    """The tokens descended from one code exchange."""

    id: str
    client_id: str
    sub: str
    sid: str
    scopes: tuple[str, ...]
    auth_time: int
    expires_at: float
    revoked: bool = False
    #: The DPoP key (RFC 7638 thumbprint) the grant's tokens are bound to, if any.
    jkt: str | None = None
    #: RAR: the authorization details the user consented to (those asked for).
    authorization_details: tuple[dict[str, Any], ...] = ()


@dataclass
class _Pushed:
    request: AuthRequest
    expires_at: float


@dataclass
class _Refresh:
    grant_id: str
    expires_at: float
    rotated: bool = False


@dataclass
class _Access:
    grant_id: str
    expires_at: float
    revoked: bool = False


class OPStore:
    """Dicts of interactions, sessions, codes, grants and tokens, purged as they expire."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._interactions: dict[str, Interaction] = {}
        self._sessions: dict[str, OPSession] = {}
        self._codes: dict[str, CodeRecord] = {}
        self._grants: dict[str, Grant] = {}
        self._refresh: dict[str, _Refresh] = {}
        self._access: dict[str, _Access] = {}
        self._pushed: dict[str, _Pushed] = {}
        #: Rotated refresh tokens presented again (each revoked its family).
        self.refresh_reuses = 0

    # -- interactions and sessions -------------------------------------------------------

    def new_interaction(self, request: AuthRequest, ttl: int) -> Interaction:
        """Remember ``request`` while the user fills in the login form."""
        self.purge()
        interaction = Interaction(secrets.token_urlsafe(24), request, self._clock() + ttl)
        self._interactions[interaction.id] = interaction
        return interaction

    def interaction(self, interaction_id: str) -> Interaction | None:
        """The pending interaction, unless unknown or expired."""
        found = self._interactions.get(interaction_id)
        if found is None or found.expires_at <= self._clock():
            return None
        return found

    def end_interaction(self, interaction_id: str) -> None:
        """Forget an interaction (login done or cancelled)."""
        self._interactions.pop(interaction_id, None)

    def new_session(self, sub: str) -> OPSession:
        """Start an OP session for ``sub`` logged in now."""
        key, sid = secrets.token_urlsafe(32), secrets.token_urlsafe(16)
        session = OPSession(key=key, sid=sid, sub=sub, auth_time=int(self._clock()))
        self._sessions[key] = session
        return session

    def session(self, key: str | None) -> OPSession | None:
        """The OP session whose cookie value is ``key``."""
        return self._sessions.get(key) if key else None

    def end_session(self, key: str | None) -> OPSession | None:
        """End the OP session whose cookie value is ``key``; returns it if there was one."""
        return self._sessions.pop(key, None) if key else None

    def sessions_for(self, sub: str) -> list[OPSession]:
        """Every live OP session of ``sub``."""
        return [s for s in self._sessions.values() if s.sub == sub]

    def sessions_matching(self, *, sub: str | None, sid: str | None) -> list[OPSession]:
        """The live OP sessions with this ``sub`` and/or ``sid`` (None matches any)."""
        return [
            s
            for s in self._sessions.values()
            if (sub is None or s.sub == sub) and (sid is None or s.sid == sid)
        ]

    # -- pushed authorization requests (RFC 9126) -----------------------------------------

    def push(self, request: AuthRequest, ttl: int) -> str:
        """Keep a pushed authorization request for ``ttl`` seconds; its ``request_uri``."""
        self.purge()
        request_uri = PAR_URN_PREFIX + secrets.token_urlsafe(32)
        self._pushed[request_uri] = _Pushed(request, self._clock() + ttl)
        return request_uri

    def take_pushed(self, request_uri: str) -> AuthRequest | None:
        """The pushed request of ``request_uri``, forgotten at once (one use); None if unknown,
        used or expired."""
        pushed = self._pushed.pop(request_uri, None)
        if pushed is None or pushed.expires_at <= self._clock():
            return None
        return pushed.request

    # -- codes ---------------------------------------------------------------------------

    def new_code(self, request: AuthRequest, session: OPSession, ttl: int) -> str:
        """Issue an authorization code for ``request`` in ``session``."""
        self.purge()
        code = secrets.token_urlsafe(32)
        expires_at = self._clock() + ttl
        self._codes[code] = CodeRecord(
            request, session.sub, session.sid, session.auth_time, expires_at
        )
        session.clients.add(request.client_id)
        return code

    def redeem_code(self, code: str) -> CodeRecord | None:
        """Mark ``code`` used and return it; None if unknown, expired or already used.

        A second redemption revokes the grant the first one started (RFC 6749 4.1.2).
        """
        record = self._codes.get(code)
        if record is None:
            return None
        if record.used:
            if record.grant_id is not None:
                self.revoke_grant(record.grant_id)
            return None
        record.used = True
        return record if record.expires_at > self._clock() else None

    # -- grants and tokens ---------------------------------------------------------------

    def new_grant(
        self, record: CodeRecord, scopes: tuple[str, ...], jkt: str | None = None
    ) -> Grant:
        """Start the token family of a redeemed code, DPoP-bound to ``jkt`` if given."""
        grant = Grant(
            id=secrets.token_urlsafe(16),
            client_id=record.request.client_id,
            sub=record.sub,
            sid=record.sid,
            scopes=scopes,
            auth_time=record.auth_time,
            expires_at=self._clock(),
            jkt=jkt,
            authorization_details=record.request.authorization_details,
        )
        self._grants[grant.id] = grant
        record.grant_id = grant.id
        return grant

    def grant(self, grant_id: str) -> Grant | None:
        """The grant, unless unknown or revoked."""
        found = self._grants.get(grant_id)
        return None if found is None or found.revoked else found

    def add_access_token(self, grant: Grant, jti: str, ttl: int) -> None:
        """Record an access token issued from ``grant``."""
        self._access[jti] = _Access(grant.id, self._extend(grant, ttl))

    def new_refresh_token(self, grant: Grant, ttl: int) -> str:
        """Issue a refresh token of ``grant``'s family."""
        token = secrets.token_urlsafe(32)
        self._refresh[token] = _Refresh(grant.id, self._extend(grant, ttl))
        return token

    def refresh_token_grant(self, token: str) -> Grant | None:
        """The grant of a usable refresh token, without spending it."""
        record = self._refresh.get(token)
        if record is None or record.rotated or record.expires_at <= self._clock():
            return None
        return self.grant(record.grant_id)

    def rotate_refresh_token(self, token: str, client_id: str) -> Grant | None:
        """Spend ``token`` for ``client_id``; None if it cannot be used.

        Presenting an already rotated token revokes its whole family.
        """
        record = self._refresh.get(token)
        if record is None or record.expires_at <= self._clock():
            return None
        grant = self.grant(record.grant_id)
        if grant is None or grant.client_id != client_id:
            return None
        if record.rotated:
            self.refresh_reuses += 1
            self.revoke_grant(grant.id)
            return None
        record.rotated = True
        return grant

    def access_token_grant(self, jti: str) -> Grant | None:
        """The live grant of an unrevoked, unexpired access token; None otherwise."""
        record = self._access.get(jti)
        if record is None or record.revoked or record.expires_at <= self._clock():
            return None
        return self.grant(record.grant_id)

    def access_token_known(self, jti: str) -> bool:
        """Whether an access token of a grant was issued with ``jti`` (a client credentials
        token is in no grant)."""
        return jti in self._access

    def revoke_access_token(self, jti: str, client_id: str) -> None:
        """Revoke one access token, if ``client_id`` holds it."""
        record = self._access.get(jti)
        grant = self._grants.get(record.grant_id) if record else None
        if record is not None and grant is not None and grant.client_id == client_id:
            record.revoked = True

    def revoke_refresh_token(self, token: str, client_id: str) -> bool:
        """Revoke the family of a refresh token held by ``client_id``; False if not one."""
        record = self._refresh.get(token)
        grant = self._grants.get(record.grant_id) if record else None
        if grant is None or grant.client_id != client_id:
            return False
        self.revoke_grant(grant.id)
        return True

    def revoke_grant(self, grant_id: str) -> None:
        """Revoke a whole family: its refresh tokens and access tokens."""
        grant = self._grants.get(grant_id)
        if grant is not None:
            grant.revoked = True

    def revoke_all_for(self, sub: str) -> int:
        """Revoke every live grant of ``sub``; returns how many."""
        live = [g for g in self._grants.values() if g.sub == sub and not g.revoked]
        for grant in live:
            grant.revoked = True
        return len(live)

    def _extend(self, grant: Grant, ttl: int) -> float:
        expires_at = self._clock() + ttl
        grant.expires_at = max(grant.expires_at, expires_at)
        return expires_at

    # -- expiry --------------------------------------------------------------------------

    def purge(self) -> None:
        """Drop what has expired; used codes stay while their grant lives (replay check)."""
        now = self._clock()
        self._interactions = {k: v for k, v in self._interactions.items() if v.expires_at > now}
        self._grants = {k: v for k, v in self._grants.items() if v.expires_at > now}
        self._refresh = {k: v for k, v in self._refresh.items() if v.expires_at > now}
        self._access = {k: v for k, v in self._access.items() if v.expires_at > now}
        self._pushed = {k: v for k, v in self._pushed.items() if v.expires_at > now}
        self._codes = {
            k: v
            for k, v in self._codes.items()
            if v.expires_at > now or (v.grant_id is not None and v.grant_id in self._grants)
        }
