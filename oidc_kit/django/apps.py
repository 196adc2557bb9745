"""The kit as a Django app: ``INSTALLED_APPS = [..., "oidc_kit.django"]``."""

from __future__ import annotations

from django.apps import AppConfig
from django.core import checks

__all__ = ["OIDCKitConfig"]


class OIDCKitConfig(AppConfig):
    """oidc_kit's Django app: no models, no migrations; its checks for ``manage.py check``."""

    name = "oidc_kit.django"
    label = "oidc_kit"
    verbose_name = "OpenID Connect (oidc_kit)"

    def ready(self) -> None:
        """Register the kit's checks (the kit itself is built on first use)."""
        from ._checks import check_kit

        checks.register(check_kit, checks.Tags.urls)
