"""One provider and the app in one frozen, validated object: what a single-provider app passes
to ``OIDCAuth``, and what each provider's login flow works from.

The two halves live apart: :class:`~oidc_kit.ProviderConfig` (``_provider_config.py``) and
:class:`~oidc_kit.AppConfig` (``_app_config.py``). ``OIDCConfig`` has every field of both, checks
both, and reads both from the environment; :meth:`OIDCConfig.join` builds one from the halves
(several providers: one ``AppConfig``, one ``ProviderConfig`` each).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Self

from ._app_config import AppConfig
from ._env import settings_from_env
from ._provider_config import ProviderConfig

__all__ = ["OIDCConfig"]


@dataclass(frozen=True, kw_only=True)
class OIDCConfig(AppConfig, ProviderConfig):
    """Everything the kit needs to log users of this app in at one provider: the provider's
    settings (:class:`ProviderConfig`) and the app's (:class:`AppConfig`), each checked as
    its own class checks it. ``.provider`` and ``.app`` give the halves back."""

    def __post_init__(self) -> None:
        self._check_provider()
        self._check_app()

    @property
    def provider(self) -> ProviderConfig:
        """The provider's half of these settings."""
        return ProviderConfig(**_values(self, ProviderConfig))

    @property
    def app(self) -> AppConfig:
        """The app's half of these settings."""
        return AppConfig(**_values(self, AppConfig))

    @classmethod
    def join(cls, app: AppConfig, provider: ProviderConfig) -> Self:
        """The app's settings with one provider's: each provider of a multi-provider app."""
        return cls(**_values(app, AppConfig), **_values(provider, ProviderConfig))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Self:
        """Settings from ``OIDC_*``/``SESSION_*``/``APP_BASE_URL`` variables.

        ``overrides`` win over the environment (the example app passes the sandbox's issuer
        this way). Without ``SESSION_SECRET`` a random one is made for this process, with a
        warning: sessions then do not survive a restart or work across processes.
        """
        return settings_from_env(
            cls, environ, overrides, required=("issuer", "client_id", "base_url")
        )


def _values(settings: object, part: type) -> dict[str, Any]:
    """The values of ``part``'s fields in ``settings``."""
    return {f.name: getattr(settings, f.name) for f in fields(part)}
