"""An operator's hand on a user's sessions, from outside the app: ``oidc-kit sessions``.

The command runs beside the app, in its environment, on the store the app uses (SQLite or
Redis; ``memory://`` lives inside the app's process and cannot be reached). It lists or ends
the live sessions of one ``sub`` at one issuer, as ``RelyingParty.revoke_user`` does inside the
app: every instance sharing the store sees them end at once.

Revoking the sessions' tokens at the provider needs what the app itself has: the provider's
settings (``OIDC_CLIENT_ID`` and the client's credentials, for the revocation endpoint) and
``SESSION_SECRET`` (the tokens are sealed with it). Without them the sessions end in the store
only, and the command says so: their refresh tokens then stay valid at the provider until they
expire or are revoked there.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx

from ._app_config import AppConfig
from ._audit import AuditJsonFormatter, Auditor
from ._clients import ProviderClients
from ._config import OIDCConfig
from ._errors import ConfigurationError
from ._provider_config import ProviderConfig
from ._session import Sessions
from ._user_sessions import SessionInfo, UserSessions
from .stores import SessionStore, open_store

__all__ = ["AdminSettings", "Revoked", "list_sessions", "revoke_sessions", "sessions_text"]

#: The provider settings of a command that will not talk to the provider: only the app's
#: half of the configuration is used (timeouts, secrets); never contacted.
_UNUSED_PROVIDER = ProviderConfig(issuer="https://provider.invalid", client_id="oidc-kit")


@dataclass(frozen=True)
class AdminSettings:
    """Whose sessions, in which store, and the app's environment."""

    store_url: str
    #: The issuer exactly as the sessions hold it (the ID token's ``iss``).
    issuer: str
    sub: str
    environ: Mapping[str, str]

    def config(self) -> tuple[OIDCConfig, str | None]:
        """The settings to open the store's sessions with (the app's timeouts and secrets),
        and why the provider cannot be asked to revoke tokens (``None``: it can)."""
        env = self.environ
        secret = env.get("SESSION_SECRET", "").strip()
        overrides: dict[str, object] = {"base_url": env.get("APP_BASE_URL") or "http://localhost"}
        if not secret:
            overrides["session_secrets"] = (secrets.token_urlsafe(32),)  # opens nothing
        app = AppConfig.from_env(env, **overrides)
        configured = env.get("OIDC_ISSUER", "").strip()
        if not secret:
            why = "SESSION_SECRET is not set, so the sessions' sealed tokens cannot be opened"
        elif not env.get("OIDC_CLIENT_ID", "").strip():
            why = "OIDC_CLIENT_ID is not set, so the provider cannot be called as the app"
        elif configured and configured != self.issuer:
            why = "OIDC_ISSUER is another provider than --issuer"
        else:
            return OIDCConfig.join(app, ProviderConfig.from_env(env, issuer=self.issuer)), None
        return OIDCConfig.join(app, _UNUSED_PROVIDER), why

    def store(self) -> SessionStore:
        if urlsplit(self.store_url).scheme == "memory":
            raise ConfigurationError(
                "memory:// lives inside the app's process: name the app's SQLite or Redis store"
            )
        return open_store(self.store_url)


@dataclass(frozen=True)
class Revoked:
    """The sessions a revocation ended (by handle), and why their tokens were not revoked at
    the provider (``None``: they were, best effort)."""

    handles: list[str]
    store_only: str | None

    def text(self, sub: str) -> str:
        """What the command prints: the handles ended, and where."""
        names = ", ".join(self.handles) or "none"
        lines = [f"Ended {len(self.handles)} session(s) of {sub}: {names}"]
        if self.store_only:
            lines.append(
                f"In the store only: {self.store_only}. Their refresh tokens stay valid at the "
                "provider until they expire: revoke the user's grants there too."
            )
        elif self.handles:
            lines.append("Their tokens were revoked at the provider (best effort).")
        return "\n".join(lines)


async def list_sessions(settings: AdminSettings) -> list[SessionInfo]:
    """The live sessions of ``settings.sub`` at ``settings.issuer``, newest first."""
    config, _ = settings.config()
    store = settings.store()
    try:
        users = UserSessions(Sessions(config, store), Auditor())
        return [SessionInfo.of(s) for s in await users.of_user(settings.issuer, settings.sub)]
    finally:
        await store.close()


async def revoke_sessions(
    settings: AdminSettings, transport: httpx.AsyncBaseTransport | None = None
) -> Revoked:
    """End every live session of ``settings.sub`` at ``settings.issuer`` (``session.revoked``,
    reason ``operator``), revoking their tokens at the provider when the environment allows."""
    config, why = settings.config()
    store = settings.store()
    auditor = Auditor()
    try:
        with _audit_written():
            return await _revoke_all(settings, config, why, store, auditor, transport)
    finally:
        await store.close()


@contextlib.contextmanager
def _audit_written() -> Iterator[None]:
    """An operator's revocations are audited wherever the command runs: the ``oidc_kit.audit``
    events go, as JSON lines, to the file ``OIDC_AUDIT_LOG`` names, else to standard error."""
    target = os.environ.get("OIDC_AUDIT_LOG", "").strip()
    handler: logging.Handler = (
        logging.FileHandler(target) if target and target != "-" else logging.StreamHandler()
    )
    handler.setFormatter(AuditJsonFormatter())
    logger = logging.getLogger("oidc_kit.audit")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        handler.close()


async def _revoke_all(
    settings: AdminSettings,
    config: OIDCConfig,
    why: str | None,
    store: SessionStore,
    auditor: Auditor,
    transport: httpx.AsyncBaseTransport | None,
) -> Revoked:
    """The revocations, tokens revoked at the provider unless ``why`` says they cannot be."""
    async with httpx.AsyncClient(transport=transport, timeout=config.http_timeout) as http:
        clients = None
        if why is None:
            clients = ProviderClients({"default": config}, store=store, http=http, auditor=auditor)
        users = UserSessions(Sessions(config, store), auditor, clients, http, time.time)
        ended = await users.revoke_all(settings.issuer, settings.sub, "operator")
    return Revoked([s.handle for s in ended], why)


def sessions_text(settings: AdminSettings, listed: Sequence[SessionInfo]) -> str:
    """The list as the command prints it: one line per session, by handle."""
    lines = [f"{len(listed)} live session(s) of {settings.sub} at {settings.issuer}"]
    for info in listed:
        when = f"logged in {_utc(info.created_at)}, last seen {_utc(info.last_seen)}"
        where = f"{info.user_agent or 'unknown browser'}, {info.network or 'unknown network'}"
        lines.append(f"  {info.handle}  {when}  {where}")
    return "\n".join(lines)


def _utc(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M UTC")
