"""Server-side sessions: the record, its encoding, its store indexes, its timeouts.

The browser holds only a signed, opaque session id. The record lives in the store; its tokens
are sealed with AES-GCM bound to the session id, so a record copied under another id does not
open. A record the kit cannot read (tampered, or written by another version) is treated as no
session: the user logs in again; nothing raises.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

from ._audit import Auditor, coarse_ip, current_request, session_handle
from ._config import OIDCConfig
from ._crypto import Sealer, SealError
from ._errors import SessionEnded
from ._tokens import TokenSet
from .stores import SessionStore

__all__ = ["Session", "Sessions", "new_id"]

log = logging.getLogger("oidc_kit")

_FORMAT = 2
#: ``last_seen`` is written back at most this often: idle timeouts do not need per-request
#: precision, and a write per request would double the store traffic on the hot path.
_TOUCH_INTERVAL = 60.0
#: A session's key in the store (``Sessions.key``).
_KEY_PREFIX = "session:"
#: Decoded records kept (about 4 KB each): the sessions active right now.
_DECODED_CACHE = 1024


def new_id() -> str:
    """A random opaque identifier of 256 bits."""
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Session:
    """One logged-in browser (``request.user.session``): who (``iss``, ``sub``, ``claims``)
    and until when. Its tokens stay sealed (AES-GCM) in ``sealed_tokens``: the kit opens them
    only to use them (``OIDCAuth.httpx_auth``, ``RelyingParty.token_source``)."""

    sid: str
    iss: str
    sub: str
    claims: dict[str, Any]
    sealed_tokens: bytes = field(repr=False)
    access_expires_at: float | None
    created_at: float
    last_seen: float
    #: The provider's session id (``sid`` claim), for back-channel logout.
    provider_sid: str | None = None
    #: The scopes the access token was granted (space-separated), kept in the clear so that
    #: a scope check need not open the tokens. ``None`` in records written before it existed.
    granted_scope: str | None = None
    #: Where the login came from, for the user's list of their sessions: a summary of the
    #: browser (``Chrome 131 on Linux``) and the network (``203.0.113.x``), never the
    #: exact address. ``None`` in older records, or when no adapter said.
    user_agent: str | None = None
    network: str | None = None
    #: RAR (RFC 9396): the authorization details granted at login (canonical JSON text), in
    #: the clear like ``granted_scope``; ``None`` when the login asked for none.
    authorization_details: str | None = None

    @property
    def handle(self) -> str:
        """The session's public name (in audit events, the user's list of sessions, revoke
        URLs): stable, and no way back to the id, which stays secret."""
        return session_handle(self.sid)

    def encode(self) -> bytes:
        """The stored form: a JSON header with a format number, a newline, the sealed tokens."""
        header = {
            "v": _FORMAT,
            "iss": self.iss,
            "sub": self.sub,
            "claims": self.claims,
            "exp": self.access_expires_at,
            "created": self.created_at,
            "seen": self.last_seen,
            "psid": self.provider_sid,
            "scope": self.granted_scope,
            "ua": self.user_agent,
            "net": self.network,
            "rar": self.authorization_details,
        }
        # A JSON header line, then the sealed tokens as raw bytes: base64 in the JSON would
        # add a third to the largest part of the record.
        return json.dumps(header, separators=(",", ":")).encode() + b"\n" + self.sealed_tokens

    @classmethod
    def decode(cls, sid: str, raw: bytes) -> Session:
        """Inverse of :meth:`encode`; ``ValueError`` for anything else."""
        try:
            header, newline, sealed = raw.partition(b"\n")
            data = json.loads(header)
            if not newline or not sealed or data["v"] != _FORMAT:
                raise ValueError("unknown session format")
            return cls(
                sid=sid,
                iss=str(data["iss"]),
                sub=str(data["sub"]),
                claims=dict(data["claims"]),
                sealed_tokens=sealed,
                access_expires_at=_opt_float(data["exp"]),
                created_at=float(data["created"]),
                last_seen=float(data["seen"]),
                provider_sid=data.get("psid"),
                granted_scope=_opt_str(data.get("scope")),
                user_agent=_opt_str(data.get("ua")),
                network=_opt_str(data.get("net")),
                authorization_details=_opt_str(data.get("rar")),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError("not a session record of this version") from exc


def _index_key(kind: str, iss: str, value: str) -> str:
    # Hashed: the values come from the provider and may be long or hold any character.
    return f"{kind}:" + hashlib.sha256(f"{iss}|{value}".encode()).hexdigest()


def _indexes(session: Session) -> list[str]:
    """The store indexes a session is listed in: by subject, and by provider session."""
    keys = [_index_key("sub", session.iss, session.sub)]
    if session.provider_sid is not None:
        keys.append(_index_key("psid", session.iss, session.provider_sid))
    return keys


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _opt_str(value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ValueError("not a string")
    return value


class _Decoded(NamedTuple):
    """A decoded record, remembered with what every request asks of it (all fixed by its
    bytes, the configured timeouts and the sealing keys, none of which change in a process)."""

    #: The record's bytes as read: the entry serves only a read returning these again.
    raw: bytes
    session: Session
    #: When the session ends (epoch seconds): :meth:`Sessions.ends_at`, whichever first.
    ends: float
    #: Whether its tokens are sealed with the newest key (else re-sealed on load).
    current_key: bool


#: Seconds a session's record stays in the store after the session ran out: a browser coming
#: back within them is told its session expired, and the audit log says so (``session.expired``,
#: idle or absolute); later the store has dropped the record. The record is never used again.
EXPIRED_RECORD_GRACE = 15 * 60


class Sessions:
    """Session records in a store: create, load (with timeouts), save, delete, open tokens."""

    def __init__(
        self,
        config: OIDCConfig,
        store: SessionStore,
        clock: Callable[[], float] = time.time,
        auditor: Auditor | None = None,
    ) -> None:
        self._config = config
        self.store = store
        self._auditor = auditor or Auditor(clock=clock)
        self._sealer = Sealer(config.session_secrets)
        self._clock = clock
        self._decoded: OrderedDict[str, _Decoded] = OrderedDict()

    @staticmethod
    def key(sid: str) -> str:
        return _KEY_PREFIX + sid

    async def create(
        self,
        tokens: TokenSet,
        claims: dict[str, Any],
        provider_sid: str | None,
        authorization_details: str | None = None,
    ) -> Session:
        """A new session with a fresh id (never reuse a pre-login id: session fixation)."""
        now = self._clock()
        sid = new_id()
        context = current_request()
        session = Session(
            sid=sid,
            iss=str(claims["iss"]),
            sub=str(claims["sub"]),
            claims=claims,
            sealed_tokens=self._seal(sid, tokens),
            access_expires_at=tokens.expires_at,
            created_at=now,
            last_seen=now,
            provider_sid=provider_sid,
            granted_scope=self.granted_scope(tokens),
            user_agent=context.user_agent if context else None,
            network=coarse_ip(context.client_ip) if context else None,
            authorization_details=authorization_details,
        )
        ttl = self._remaining(session, now) + EXPIRED_RECORD_GRACE
        await self.store.set(self.key(sid), session.encode(), ttl)
        for index in _indexes(session):
            await self.store.index_add(index, sid, self._config.session_absolute_timeout)
        return session

    async def end(self, session: Session) -> Session | None:
        """End ``session``: take its record (atomically: of several requests ending it at once,
        one gets it) and drop its index entries. The record as taken, with its latest tokens
        (a refresh may have rotated them since ``session`` was read); ``None`` when it had
        ended already."""
        raw = await self.store.take(self.key(session.sid))
        for index in _indexes(session):
            await self.store.index_discard(index, session.sid)
        if raw is None:
            return None
        return self._decode(session.sid, raw) or session

    async def end_matching(
        self, iss: str, sub: str | None, provider_sid: str | None
    ) -> list[Session]:
        """End the sessions of provider session ``provider_sid`` (else of ``sub``); those ended.

        With both, only sessions of that provider session whose subject is ``sub`` end.
        """
        if provider_sid is not None:
            index = _index_key("psid", iss, provider_sid)
        elif sub is not None:
            index = _index_key("sub", iss, sub)
        else:
            return []
        ended: list[Session] = []
        for sid in await self.store.index_members(index):
            session = await self.load(sid)
            if session is None:
                await self.store.index_discard(index, sid)
                continue
            if sub is not None and session.sub != sub:
                continue
            if await self.end(session) is not None:  # else another request ended it
                ended.append(session)
        return ended

    async def of_subject(self, iss: str, sub: str) -> list[Session]:
        """The live sessions of ``sub`` at ``iss``, every instance's, as stored: reading them
        touches none (each keeps its own browser's ``last_seen``) and reports no expiry."""
        index, now, found = _index_key("sub", iss, sub), self._clock(), []
        for sid in await self.store.index_members(index):
            raw = await self.store.get(self.key(sid))
            session = None if raw is None else self._decode(sid, raw)
            if session is None or self._remaining(session, now) <= 0:
                await self.store.index_discard(index, sid)  # ended, expired or unreadable
            elif (session.iss, session.sub) == (iss, sub):  # never trust an index alone
                found.append(session)
        return found

    async def load(self, sid: str) -> Session | None:
        """The live session ``sid``; ``None`` when absent, unreadable or timed out."""
        # Every protected request comes here: ``key`` and ``_decode_entry``'s usual case are
        # written out, not called (a miss decodes without looking again).
        raw = await self.store.get(_KEY_PREFIX + sid)
        if raw is None:
            return None
        decoded = self._decoded.get(sid)
        if decoded is not None and decoded.raw == raw:  # unchanged since it was decoded
            self._decoded.move_to_end(sid)
        else:
            decoded = self._decode_new(sid, raw)
            if decoded is None:
                return None
        session = decoded.session
        now = self._clock()
        if decoded.ends <= now:
            if await self.store.take(self.key(sid)) is not None:  # one request says so
                await self._expired(session, now)
            return None
        if not decoded.current_key:
            # Sealed under an older secret: re-seal with the newest while we are here.
            try:
                session = self.with_tokens(session, self.tokens(session))
            except SessionEnded:
                log.warning("dropping a session whose tokens do not open (secret removed?)")
                await self.delete(sid)
                return None
        elif now - session.last_seen < _TOUCH_INTERVAL:
            return session  # the usual request: nothing to write back
        session = replace(session, last_seen=now)
        if not await self.save(session):
            return None  # ended by another request meanwhile
        return session

    def _decode(self, sid: str, raw: bytes) -> Session | None:
        """The session a record holds; ``None`` when it is unreadable."""
        decoded = self._decode_entry(sid, raw)
        return None if decoded is None else decoded.session

    def _decode_entry(self, sid: str, raw: bytes) -> _Decoded | None:
        """Decode a record, remembering the last few: most requests find it unchanged, and
        decoding (JSON, dataclass) is the larger part of a protected request's cost. The
        store is still read every time, so a logout elsewhere is seen at once: a remembered
        record serves only a read that returned the very same bytes.

        Keyed by the session id, the bytes compared rather than hashed: a store that hands
        out a fresh copy per read (SQLite) would otherwise hash ~3.5 KB on every request."""
        decoded = self._decoded.get(sid)
        if decoded is not None and decoded.raw == raw:
            self._decoded.move_to_end(sid)
            return decoded
        return self._decode_new(sid, raw)

    def _decode_new(self, sid: str, raw: bytes) -> _Decoded | None:
        """Decode a record not remembered (or changed since), and remember it."""
        try:
            session = Session.decode(sid, raw)
        except ValueError:
            # Logged without its content: it holds sealed tokens.
            log.warning("ignoring an unreadable session record (%d bytes)", len(raw))
            return None
        decoded = _Decoded(
            raw=raw,
            session=session,
            ends=min(self.ends_at(session)),
            current_key=self._sealer.is_current(session.sealed_tokens),
        )
        self._decoded[sid] = decoded
        self._decoded.move_to_end(sid)
        if len(self._decoded) > _DECODED_CACHE:
            self._decoded.popitem(last=False)
        return decoded

    async def save(self, session: Session) -> bool:
        """Write back a changed session; ``False`` if it ended meanwhile (then nothing is
        written: a logout in another request or process is never undone)."""
        ttl = self._remaining(session, self._clock())
        if ttl <= 0:
            await self.delete(session.sid)
            return False
        ttl += EXPIRED_RECORD_GRACE
        return await self.store.replace(self.key(session.sid), session.encode(), ttl)

    async def delete(self, sid: str) -> None:
        await self.store.delete(self.key(sid))

    def tokens(self, session: Session) -> TokenSet:
        """Open the session's sealed tokens; :class:`SessionEnded` if they do not open."""
        try:
            return TokenSet.from_bytes(
                self._sealer.open(session.sealed_tokens, session.sid.encode())
            )
        except (SealError, ValueError):
            # Sealed under a secret no longer configured, or tampered with: log in again.
            raise SessionEnded("the session's tokens cannot be read; log in again") from None

    def with_tokens(self, session: Session, tokens: TokenSet) -> Session:
        return replace(
            session,
            sealed_tokens=self._seal(session.sid, tokens),
            access_expires_at=tokens.expires_at,
            granted_scope=self.granted_scope(tokens),
        )

    def granted_scope(self, tokens: TokenSet) -> str:
        """The scopes ``tokens`` were granted; RFC 6749 5.1: a token response without
        ``scope`` grants exactly what was asked for."""
        return tokens.scope if tokens.scope is not None else " ".join(self._config.scopes)

    def _seal(self, sid: str, tokens: TokenSet) -> bytes:
        return self._sealer.seal(tokens.to_bytes(), sid.encode())

    async def _expired(self, session: Session, now: float) -> None:
        """Say that ``session`` ran out (its browser came back within the record's
        :data:`EXPIRED_RECORD_GRACE`)."""
        absolute = session.created_at + self._config.session_absolute_timeout
        reason = "absolute" if absolute <= now else "idle"
        await self._auditor.emit(
            "session.expired", sub=session.sub, iss=session.iss, sid=session.sid, reason=reason
        )

    def _remaining(self, session: Session, now: float) -> float:
        return min(self.ends_at(session)) - now

    def ends_at(self, session: Session) -> tuple[float, float]:
        """When ``session`` ends, epoch seconds: ``(idle, absolute)``, whichever comes first.

        ``idle`` is ``last_seen`` + the idle timeout: every request carrying the session's
        cookie counts as activity, but :meth:`load` writes ``last_seen`` back at most every
        :data:`_TOUCH_INTERVAL` seconds, so the idle end may be up to that much earlier than
        the last request + the timeout (:meth:`touch` moves it on at once). ``absolute`` is
        the login + the absolute timeout, which nothing moves.
        """
        idle = session.last_seen + self._config.session_idle_timeout
        absolute = session.created_at + self._config.session_absolute_timeout
        return idle, absolute

    async def touch(self, sid: str) -> Session | None:
        """Session ``sid`` seen now, written back at once whenever it was last written (a
        "Stay signed in" button restarts the idle timeout); ``None`` when it has ended.

        Re-read from the store first: writing back the copy a request loaded earlier could
        undo a refresh another request stored meanwhile (its rotated refresh token).
        """
        session = await self.load(sid)
        if session is None:
            return None
        touched = replace(session, last_seen=self._clock())
        return touched if await self.save(touched) else None
