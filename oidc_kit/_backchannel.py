"""``POST {prefix}/backchannel-logout`` as the relying party answers it (Back-Channel Logout 1.0).

The logout token is validated by :mod:`oidc_kit._logout` with the rules and keys of the provider
it says it comes from; the sessions it names end through the store's indexes, in every
instance sharing the store. The answer is for the provider, never a browser: 200, 400 for an
invalid token, 503 when the store fails (the token's ``jti`` is then forgotten again, so that
the provider's retry is not refused as a replay).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence

from ._audit import Auditor
from ._clients import ProviderClient, ProviderClients
from ._errors import InvalidLogoutToken, OIDCError, StoreUnavailable
from ._logout import logout_token_in, unverified_issuer, validate_logout_token
from ._outcome import Outcome
from ._session import Session
from .stores import SessionStore

__all__ = ["backchannel_logout"]

log = logging.getLogger("oidc_kit")


async def backchannel_logout(
    form: Mapping[str, Sequence[str]],
    clients: ProviderClients,
    store: SessionStore,
    auditor: Auditor,
    now: float,
    ended: Callable[[Session], Awaitable[None]],
) -> Outcome:
    """200 when the form's logout token is valid (``ended`` is told of each session it
    ended), else 400 (503 when the store fails)."""
    try:
        token = logout_token_in(form)
        client = _client_named_in(token, clients)
        logout = await validate_logout_token(token, client.config, client.provider, store, now)
    except OIDCError as exc:
        log.warning("back-channel logout refused: %s", exc.description)
        await auditor.emit("backchannel_logout", outcome="failure", error=exc.code)
        status = exc.status if exc.status >= 500 else 400
        return Outcome(status, error=exc, machine=True)
    try:
        sessions = await client.sessions.end_matching(client.config.issuer, logout.sub, logout.sid)
        for session in sessions:
            await ended(session)
    except StoreUnavailable as exc:
        # Let the provider retry: forget the jti if the store lets us (best effort).
        with contextlib.suppress(StoreUnavailable):
            await store.delete(logout.jti_key)
        return Outcome(exc.status, error=exc, machine=True)
    if sessions:
        log.info("back-channel logout ended %d session(s)", len(sessions))
    else:
        # The usual case after the user's own logout: the provider tells every client,
        # this one too, of a session this app has already ended. Nothing to say.
        log.debug("back-channel logout: no session left to end")
    return Outcome(200)


def _client_named_in(token: str, clients: ProviderClients) -> ProviderClient:
    """The provider a logout token says it comes from: only to pick whose keys and rules
    validate it, which then check everything, ``iss`` included."""
    if len(clients) == 1:
        return clients.default
    client = clients.by_issuer(unverified_issuer(token) or "")
    if client is None:
        raise InvalidLogoutToken("the logout token comes from no configured provider")
    return client
