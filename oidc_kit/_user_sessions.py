"""Users' control of their sessions: where they are logged in, and ending one or all of them.

The store indexes sessions by subject (``Sessions.of_subject``), so a user's sessions on every
instance sharing it are one lookup away. A session is named by its handle
(:func:`~oidc_kit._audit.session_handle`), never its id: the id is the secret the cookie
carries, the handle a one-way hash of it that may go in a page, a URL or a log. A handle is
looked up only among the asking user's own live sessions: another user's handle names nothing,
exactly as a made-up one.

Each session ended here is ended as logout ends one: the record and its index entries go
(every instance sees it at once), its tokens are revoked at its provider (best effort), and a
``session.revoked`` audit event says why: ``user`` (one picked from the list), ``everywhere``
(logout everywhere) or ``operator`` (``revoke_user``, ``oidc-kit sessions revoke``).
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from ._audit import Auditor
from ._clients import ProviderClients
from ._errors import CrossSiteRequest, LoginRequired, OIDCError, SessionError, UnknownSession
from ._provider import ProviderMetadata
from ._provider_config import ProviderConfig
from ._session import Session, Sessions
from ._tokens import TokenSet, revoke_tokens

__all__ = ["Ended", "SessionInfo", "UserSessions"]

log = logging.getLogger("oidc_kit")

#: What :func:`~oidc_kit._audit.session_handle` makes: 16 bytes, base64url without padding.
_HANDLE = re.compile(r"[A-Za-z0-9_-]{22}")


@dataclass(frozen=True)
class SessionInfo:
    """One of a user's live sessions, as the user may see it (``GET {prefix}/sessions``): when
    and where from, never its id or its tokens."""

    #: The session's public name: what ``POST {prefix}/sessions/{handle}/revoke`` takes.
    handle: str
    #: The login, and the last request seen (written back at most once a minute): epoch seconds.
    created_at: float
    last_seen: float
    #: A summary of the browser (``Chrome 131 on Linux``) and the network (``203.0.113.x``)
    #: the login came from; ``None`` when unknown.
    user_agent: str | None
    network: str | None
    #: The session of the request asking (this browser).
    current: bool

    @classmethod
    def of(cls, session: Session, current: Session | None = None) -> SessionInfo:
        """What ``session`` shows its user; ``current``: the asking request's session."""
        return cls(
            handle=session.handle,
            created_at=session.created_at,
            last_seen=session.last_seen,
            user_agent=session.user_agent,
            network=session.network,
            current=current is not None and session.sid == current.sid,
        )

    def as_dict(self) -> dict[str, Any]:
        """The JSON of one session in ``GET {prefix}/sessions``: times in whole epoch seconds."""
        return {
            "handle": self.handle,
            "created_at": int(self.created_at),
            "last_seen": int(self.last_seen),
            "user_agent": self.user_agent,
            "network": self.network,
            "current": self.current,
        }


@dataclass(frozen=True)
class Ended:
    """A session ended here whose provider was reached: what an RP-initiated logout needs."""

    config: ProviderConfig
    meta: ProviderMetadata
    #: The session's tokens, ``None`` when they no longer open.
    tokens: TokenSet | None


class UserSessions:
    """A user's sessions in the app's store: list them, end one, end all.

    ``clients`` (with ``http``) are the providers whose tokens a session ending here revokes;
    without them sessions end in the store only (``oidc-kit sessions revoke`` without the
    provider's settings).
    """

    def __init__(
        self,
        sessions: Sessions,
        auditor: Auditor,
        clients: ProviderClients | None = None,
        http: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._sessions = sessions
        self._auditor = auditor
        self._clients = clients
        self._http = http
        self._clock = clock

    async def of_user(self, iss: str, sub: str) -> list[Session]:
        """The live sessions of ``sub`` at issuer ``iss``, newest first."""
        found = await self._sessions.of_subject(iss, sub)
        return sorted(found, key=lambda s: s.created_at, reverse=True)

    async def listing(self, current: Session) -> list[SessionInfo]:
        """The live sessions of ``current``'s user (at its provider), newest first."""
        return [SessionInfo.of(s, current) for s in await self.of_user(current.iss, current.sub)]

    async def revoke_one(self, current: Session | None, handle: str, *, same_origin: bool) -> bool:
        """End the session of ``current``'s user that ``handle`` names (reason ``user``);
        whether it was ``current`` itself. :class:`CrossSiteRequest` for a request from
        another site, :class:`LoginRequired` without a session, :class:`UnknownSession` when
        ``handle`` names none of the user's live sessions."""
        if not same_origin:
            raise CrossSiteRequest("cross-site session revocation refused")
        if current is None:
            raise LoginRequired("log in to manage your sessions")
        target = None
        if _HANDLE.fullmatch(handle):  # else nothing to look up (and nothing to echo)
            mine = await self._sessions.of_subject(current.iss, current.sub)
            target = next((s for s in mine if _same(s.handle, handle)), None)
        if target is None:
            raise UnknownSession("no live session of yours has that handle")
        await self.revoke(target, "user")
        return target.sid == current.sid

    async def revoke_all(
        self, iss: str, sub: str, reason: str, *, keep: str | None = None
    ) -> list[Session]:
        """End every live session of ``sub`` at ``iss`` but session ``keep`` (the one logging
        out, which ends as a logout), each recorded with ``reason``; those ended. All end in
        the store first, on every instance at once; their tokens are then revoked at the
        provider together, so a slow provider delays no session's end."""
        ended = []
        for session in await self.of_user(iss, sub):
            if session.sid != keep and (taken := await self._take(session, reason)):
                ended.append(taken)
        await asyncio.gather(*(self._revoke_tokens(session) for session in ended))
        return ended

    async def revoke(self, session: Session, reason: str) -> None:
        """End ``session`` and record ``session.revoked`` with ``reason`` (once, by whichever
        request ended it), then revoke its tokens at its provider."""
        taken = await self._take(session, reason)
        if taken is not None:
            await self._revoke_tokens(taken)

    async def _take(self, session: Session, reason: str) -> Session | None:
        """End ``session`` in the store and record it; ``None`` when it had ended already."""
        taken = await self._sessions.end(session)
        if taken is not None:
            await self._auditor.emit(
                "session.revoked", sub=taken.sub, iss=taken.iss, sid=taken.sid, reason=reason
            )
        return taken

    async def end(self, session: Session) -> Ended | None:
        """End ``session`` in the store, then revoke its tokens at its provider (RFC 7009,
        best effort); ``None`` when the provider was not reached (unconfigured, unavailable,
        or no providers given). The tokens revoked are the record's as it was taken: a
        refresh that rotated them after ``session`` was read is not missed."""
        taken = await self._sessions.end(session)
        return await self._revoke_tokens(taken or session)

    async def _revoke_tokens(self, session: Session) -> Ended | None:
        """Revoke ``session``'s tokens at its provider (best effort); what logout needs next."""
        try:
            tokens: TokenSet | None = self._sessions.tokens(session)
        except SessionError:
            tokens = None
        client = self._clients.by_issuer(session.iss) if self._clients is not None else None
        if client is None or self._http is None:
            return None
        try:
            meta = await client.provider.metadata()
        except OIDCError as exc:
            log.warning("provider unavailable (%s): a session ended here only", exc.code)
            return None
        if tokens is not None:
            await revoke_tokens(self._http, client.config, meta, tokens, self._clock())
        else:
            log.warning("a session's tokens do not open (SESSION_SECRET?): none revoked")
        return Ended(client.config, meta, tokens)


def _same(a: str, b: str) -> bool:
    return secrets.compare_digest(a.encode(), b.encode())
