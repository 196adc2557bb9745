"""Sending logout tokens (OpenID Connect Back-Channel Logout 1.0).

When an OP session ends, every client that received a code in it and registered a
``backchannel_logout_uri`` gets a ``logout_token`` POSTed to that URI, all of them at once.
The caller waits for the answers, never longer than the timeout; a client that fails, answers
an error or is too slow is recorded and logged, and the logout goes on regardless.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Iterable
from typing import Any

import httpx

from ._op_context import OPContext
from ._op_models import SandboxClient
from ._op_store import OPSession

__all__ = ["LOGOUT_EVENT", "LOGOUT_TOKEN_TTL", "Delivery", "LogoutNotifier", "delivered"]

log = logging.getLogger("oidc_kit.testing")

LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
LOGOUT_TOKEN_TTL = 120

Delivery = tuple[str, int | str]
"""``(client_id, outcome)``: the HTTP status the client answered, or what went wrong
(the exception's class name, or ``"timeout"`` when the wait ran out)."""


def delivered(delivery: Delivery) -> bool:
    """Whether the client accepted the logout token (a 2xx answer)."""
    outcome = delivery[1]
    return isinstance(outcome, int) and 200 <= outcome < 300


class LogoutNotifier:
    """Mints and delivers logout tokens; keeps every outcome in ``deliveries``."""

    def __init__(
        self, ctx: OPContext, http_client: httpx.AsyncClient | None, timeout: float
    ) -> None:
        self._ctx = ctx
        self._http = http_client
        self._owns_http = http_client is None
        self._timeout = timeout
        self.deliveries: list[Delivery] = []

    def claims(self, client_id: str, *, sub: str | None, sid: str | None) -> dict[str, Any]:
        """The logout token claims for ``client_id``: never a nonce; ``sub``/``sid`` if given."""
        config = self._ctx.config
        now = config.now()
        claims: dict[str, Any] = {
            "iss": config.issuer,
            "aud": client_id,
            "iat": now,
            "exp": now + LOGOUT_TOKEN_TTL,
            "jti": secrets.token_urlsafe(16),
            "events": {LOGOUT_EVENT: {}},
        }
        if sid is not None:
            claims["sid"] = sid
        if sub is not None:
            claims["sub"] = sub
        return claims

    def audience(self, sessions: Iterable[OPSession]) -> list[tuple[SandboxClient, OPSession]]:
        """Each (client with a back-channel URI, session it got a code in), sorted by client."""
        pairs = [
            (self._ctx.clients[client_id], session)
            for session in sessions
            for client_id in session.clients
            if client_id in self._ctx.clients
        ]
        pairs = [(c, s) for c, s in pairs if c.backchannel_logout_uri]
        return sorted(pairs, key=lambda pair: (pair[0].client_id, pair[1].sid))

    async def notify(self, sessions: Iterable[OPSession]) -> list[Delivery]:
        """Deliver logout tokens for the ended ``sessions``; returns this round's outcomes."""
        audience = self.audience(sessions)
        if not audience:
            return []
        tasks = [asyncio.create_task(self._deliver(c, s)) for c, s in audience]
        done, pending = await asyncio.wait(tasks, timeout=self._timeout)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        outcomes = [
            task.result() if task in done else self._failed(client, "timeout")
            for task, (client, _) in zip(tasks, audience, strict=True)
        ]
        self.deliveries.extend(outcomes)
        return outcomes

    async def aclose(self) -> None:
        """Close the HTTP client if the notifier made it."""
        if self._owns_http and self._http is not None:
            http, self._http = self._http, None
            await http.aclose()

    async def _deliver(self, client: SandboxClient, session: OPSession) -> Delivery:
        uri = str(client.backchannel_logout_uri)
        claims = self.claims(client.client_id, sub=session.sub, sid=session.sid)
        token = self._ctx.keys.sign(claims, typ="logout+jwt")
        try:
            response = await self._client().post(
                uri, data={"logout_token": token}, timeout=self._timeout
            )
        except Exception as exc:  # any failure is the client's problem, never the logout's
            return self._failed(client, type(exc).__name__)
        if not 200 <= response.status_code < 300:
            log.warning(
                "back-channel logout of %s answered %s", client.client_id, response.status_code
            )
        return client.client_id, response.status_code

    def http_client(self) -> httpx.AsyncClient:
        """The HTTP client of the provider's outgoing calls (made on first use if not given)."""
        return self._client()

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=self._timeout)
        return self._http

    @staticmethod
    def _failed(client: SandboxClient, error: str) -> Delivery:
        log.warning("back-channel logout of %s failed: %s", client.client_id, error)
        return client.client_id, error
