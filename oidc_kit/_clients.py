"""Several OpenID Providers in one app: each named provider's own client settings, discovery,
login flow and refreshes, over the app's one session store.

The first provider is the default: its redirect URI is ``{base_url}/auth/callback``; each other
provider NAME gets ``{base_url}/auth/callback/NAME``. Distinct redirect URIs are RFC 9700
4.4.2's defence against mix-up attacks that works even with providers that do not send the
RFC 9207 ``iss`` parameter: a response arriving at provider A's URI for a login started with B
is refused before any code is sent anywhere. A session belongs to the provider whose ``iss``
it holds, so issuers must differ.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, fields
from typing import Any

import httpx

from ._app_config import AppConfig
from ._audit import Auditor
from ._config import OIDCConfig
from ._errors import ConfigurationError, InvalidState, IssuerMismatch, SessionEnded
from ._flow import LoginFlow
from ._hooks import RefreshFailedHook
from ._provider import Provider
from ._refresh import TokenManager
from ._session import Session, Sessions
from ._transaction import LoginTransaction
from .stores import SessionStore

__all__ = ["DEFAULT_NAME", "ProviderClient", "ProviderClients", "named_configs"]

#: The name of the provider when the app has only one.
DEFAULT_NAME = "default"

_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")

#: Settings of the app, not of a provider: every provider's configuration must agree on them
#: (build each with ``OIDCConfig.join(app, provider)`` from one ``AppConfig``).
APP_WIDE_FIELDS = tuple(f.name for f in fields(AppConfig))


@dataclass(frozen=True)
class ProviderClient:
    """One configured provider, as the app talks to it."""

    name: str
    config: OIDCConfig
    provider: Provider
    sessions: Sessions
    flow: LoginFlow
    tokens: TokenManager

    @classmethod
    def build(
        cls,
        name: str,
        config: OIDCConfig,
        *,
        default: bool,
        store: SessionStore,
        http: httpx.AsyncClient,
        clock: Callable[[], float] = time.time,
        on_refresh_failed: RefreshFailedHook | None = None,
        auditor: Auditor | None = None,
    ) -> ProviderClient:
        provider = Provider(config, http, clock)
        sessions = Sessions(config, store, clock, auditor)
        redirect_uri = config.redirect_uri if default else f"{config.redirect_uri}/{name}"
        flow = LoginFlow(config, provider, store, http, clock, name=name, redirect_uri=redirect_uri)
        tokens = TokenManager(
            config,
            provider,
            sessions,
            http,
            clock,
            name=name,
            on_failure=on_refresh_failed,
            auditor=auditor,
        )
        return cls(name, config, provider, sessions, flow, tokens)


class ProviderClients(Mapping[str, ProviderClient]):
    """The app's providers by name, the default first; which one a session, a login or a
    callback belongs to."""

    def __init__(
        self,
        configs: Mapping[str, OIDCConfig],
        *,
        store: SessionStore,
        http: httpx.AsyncClient,
        clock: Callable[[], float] = time.time,
        on_refresh_failed: RefreshFailedHook | None = None,
        auditor: Auditor | None = None,
    ) -> None:
        self._clients = {
            name: ProviderClient.build(
                name,
                config,
                default=i == 0,
                store=store,
                http=http,
                clock=clock,
                on_refresh_failed=on_refresh_failed,
                auditor=auditor,
            )
            for i, (name, config) in enumerate(configs.items())
        }
        if auditor is not None:
            auditor.provider_names = {c.config.issuer: n for n, c in self._clients.items()}
        self._by_issuer = {client.config.issuer: client for client in self._clients.values()}
        #: The first provider: ``/auth/login`` without ``provider=`` and ``/auth/callback``.
        self.default = next(iter(self._clients.values()))

    def __getitem__(self, name: str) -> ProviderClient:
        return self._clients[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._clients)

    def __len__(self) -> int:
        return len(self._clients)

    def by_issuer(self, issuer: str) -> ProviderClient | None:
        """The provider whose issuer this is, if configured."""
        return self._by_issuer.get(issuer)

    def for_session(self, session: Session) -> ProviderClient:
        """The provider a session came from (by its issuer)."""
        client = self._by_issuer.get(session.iss)
        if client is None:
            raise SessionEnded("the session's provider is no longer configured")
        return client

    def login_name(self, client: ProviderClient) -> str | None:
        """``provider=`` for a login at ``client`` (``None``: the default needs none)."""
        return None if client is self.default else client.name

    def at_redirect_uri(self, name: str | None) -> ProviderClient:
        """The provider owning ``/auth/callback/{name}`` (``/auth/callback``: the default)."""
        return self._clients.get(name, self.default) if name else self.default

    def for_transaction(self, txn: LoginTransaction, arrived_at: str | None) -> ProviderClient:
        """The provider a login was started with, which must be the one whose redirect URI
        the response came back to: else it is a mix-up (RFC 9700 4.4), refused before the
        code goes to any token endpoint."""
        client = self._clients.get(txn.provider)
        if client is None:
            raise InvalidState("the login's provider is no longer configured")
        arrived = arrived_at or self.default.name
        if arrived != client.name:
            raise IssuerMismatch(
                "the authorization response came back for another provider than the login's",
                expected=client.name,
                actual=arrived,
            )
        return client

    def public_jwks(self) -> dict[str, Any] | None:
        """Every provider's client key, each once (``None`` when no provider has one)."""
        keys: dict[str, dict[str, Any]] = {}
        for client in self._clients.values():
            key = client.config.signing_key
            if key is not None:
                keys[key.kid] = key.public_jwks()["keys"][0]
        return {"keys": list(keys.values())} if keys else None


def named_configs(config: OIDCConfig | Mapping[str, OIDCConfig]) -> dict[str, OIDCConfig]:
    """One configuration as ``{"default": config}``; several checked: names usable in a URL,
    distinct issuers, the same app-wide settings."""
    if isinstance(config, OIDCConfig):
        return {DEFAULT_NAME: config}
    configs = dict(config)
    if not configs:
        raise ConfigurationError("at least one provider must be configured")
    first = next(iter(configs.values()))
    issuers: set[str] = set()
    for name, each in configs.items():
        if not _NAME.fullmatch(name):
            raise ConfigurationError(
                "a provider name is 1 to 32 lower-case letters, digits, - or _", actual=name
            )
        if each.issuer in issuers:
            raise ConfigurationError("two providers have the same issuer", actual=each.issuer)
        issuers.add(each.issuer)
        for field in APP_WIDE_FIELDS:
            if getattr(each, field) != getattr(first, field):
                raise ConfigurationError(
                    f"provider {name!r} differs from the first in {field}, an app-wide setting"
                )
    return configs
