"""The app's say in the kit's steps: the events it is told about and the hooks that hear them.

All hooks are optional and async; the app passes them as ``OIDCAuth(hooks=Hooks(...))``.
``on_login`` runs before a session is made and may change it or refuse it; ``on_logout`` and
``on_refresh_failed`` are told after the fact and cannot change the outcome. No event carries a
token: only who (the provider's name, the ``sub``) and what happened (a stable code).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from ._audit import AuditHook
from ._errors import LoginDenied
from ._flow import PROTOCOL_CLAIMS

__all__ = [
    "Hooks",
    "LoginEvent",
    "LoginHook",
    "LogoutEvent",
    "LogoutHook",
    "RefreshFailedEvent",
    "RefreshFailedHook",
    "claims_after_login",
    "notify",
]

log = logging.getLogger("oidc_kit")


@dataclass
class LoginEvent:
    """A login about to become a session: ``claims`` may be changed (say, a customer number
    added); raising :class:`~oidc_kit.LoginDenied` refuses the user (no session)."""

    provider: str
    sub: str
    claims: dict[str, Any]


@dataclass(frozen=True)
class LogoutEvent:
    """A session that ended: by the user (``"user"``) or by the provider (``"backchannel"``)."""

    provider: str
    sub: str
    reason: str


@dataclass(frozen=True)
class RefreshFailedEvent:
    """A refresh of a session's access token that failed.

    ``reason`` is the failure's stable code: ``"invalid_grant"`` (the provider no longer
    honours the login: revoked, expired, reused) and ``"invalid_id_token"`` (the refreshed ID
    token failed validation) end the session, ``session_ended`` ``True`` (the request gets 401
    ``login_required``). Any other code is the provider's failure, the session kept and
    ``session_ended`` ``False``: ``"provider_unavailable"`` (unreachable, timed out, 5xx: the
    request gets 503) or another :class:`~oidc_kit.ProviderError` code (``"refresh_failed"``,
    say, when the provider refuses our client: 502).
    """

    #: The configured provider's name (``"default"`` with one provider).
    provider: str
    #: The provider's subject identifier of the session's user.
    sub: str
    reason: str
    session_ended: bool


LoginHook = Callable[[LoginEvent], Awaitable[None]]
LogoutHook = Callable[[LogoutEvent], Awaitable[None]]
RefreshFailedHook = Callable[[RefreshFailedEvent], Awaitable[None]]


@dataclass(frozen=True)
class Hooks:
    """The app's say in the kit's steps (all optional, all async)."""

    #: Called before the session is made: add claims to ``event.claims`` (the provider's own
    #: stay as they are), or raise ``LoginDenied``. Any other exception refuses the login too.
    on_login: LoginHook | None = None
    #: Called after a session ended at logout: by the user (``reason`` ``"user"``), or by the
    #: provider (``"backchannel"``, once per session ended). What it raises is logged.
    on_logout: LogoutHook | None = None
    #: Called once per failed refresh (not once per request waiting on it), in the process
    #: that sent the grant, before the request that needed it is answered. What it raises is
    #: logged and ignored: the refresh's outcome (401 or 503) stands.
    on_refresh_failed: RefreshFailedHook | None = None
    #: Called with every audit event (``login.succeeded``, ``session.revoked``...: see
    #: ``oidc_kit.AuditEvent``), after it is logged on ``oidc_kit.audit``. What it raises is
    #: logged and ignored.
    on_audit: AuditHook | None = None


_Event = TypeVar("_Event", LogoutEvent, RefreshFailedEvent)


async def notify(hook: Callable[[_Event], Awaitable[None]] | None, event: _Event) -> None:
    """Tell ``hook`` (``on_logout``, ``on_refresh_failed``) about ``event``, after the fact; an
    exception it raises is logged (WARNING, its type only: the app's message could say
    anything) and goes no further: the outcome it was told about stands."""
    if hook is None:
        return
    try:
        await hook(event)
    except Exception as exc:  # the app's code: any failure of it must not become a 500
        name = "on_logout" if isinstance(event, LogoutEvent) else "on_refresh_failed"
        log.warning(
            "the %s hook raised %s for sub=%s (%s); ignored",
            name,
            type(exc).__name__,
            event.sub,
            event.reason,
        )


async def claims_after_login(
    hook: LoginHook | None, provider: str, claims: dict[str, Any]
) -> dict[str, Any]:
    """The session's claims once the app's ``on_login`` has seen them: the provider's as they
    are, plus what the hook added that the provider did not say and that is none of
    ``PROTOCOL_CLAIMS`` (who, when, how strongly: a step-up trusts them). A ``LoginDenied``
    refuses the login; any other exception refuses it too (fail closed), without a 500."""
    if hook is None:
        return claims
    event = LoginEvent(provider, str(claims["sub"]), dict(claims))
    try:
        await hook(event)
    except LoginDenied:
        raise  # the app refuses the user: no session
    except Exception as exc:  # the app's code failing: refuse, and say only its type
        log.warning("the on_login hook raised %s; login refused", type(exc).__name__)
        raise LoginDenied("Signing in is not possible right now; try again later.") from None
    added = {
        name: value
        for name, value in event.claims.items()
        if name not in claims and name not in PROTOCOL_CLAIMS
    }
    return {**claims, **added}
