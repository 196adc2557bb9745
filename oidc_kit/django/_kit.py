"""A Django project's kit: built from its settings once per process, on first use.

``settings.OIDC_KIT`` (optional) is a dict of the kit's options, by the names below; without
it the configuration is ``OIDCConfig.from_env()`` (``OIDC_ISSUER``, ``OIDC_CLIENT_ID``...),
the same environment contract as the Starlette and Flask adapters. Building the kit opens
nothing: the store and the kit's event loop start with the first request that needs them,
in each process (``_bridge.CoreLoop``), and close at interpreter exit.

A change of ``OIDC_KIT`` (``override_settings`` in tests) closes the kit and builds a new one
on next use.
"""

from __future__ import annotations

import atexit
import dataclasses
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.utils.module_loading import import_string

from .._config import OIDCConfig
from .._redact import REDACTED_LOGGERS, redact_server_logs
from .._session import Session
from .._sync_kit import SyncKit

__all__ = ["SETTING", "DjangoKit", "UserBackend", "get_kit", "reset_kit"]

#: The settings' name of the kit's options.
SETTING = "OIDC_KIT"

#: Each option: a value, or (for objects) the dotted path of one.
_OPTIONS = {
    # An OIDCConfig, or several by provider name (the default first): else from_env().
    "CONFIG": "config",
    # A SessionStore object (the project closes it), or a store URL (replaces session_store).
    "STORE": "store",
    # A factory of the kit's httpx.AsyncClient, called on the kit's event loop.
    "HTTP_CLIENT": "http_client",
    "HOOKS": "hooks",
    # A callable giving epoch seconds (time.time): tests share one they move by hand.
    "CLOCK": "clock",
    "JSON_PATHS": "json_paths",
    "TEMPLATE_DIRS": "template_dirs",
    "TEMPLATES": "templates",
    # A class with user_for/auser_for (oidc_kit.django.backends.SubjectBackend): request.user
    # a Django user (django.contrib.auth), rather than the kit's unsaved OIDCUser.
    "USER_BACKEND": "user_backend",
}

#: Django's development server logs each request's URL: the callback's ``code`` too.
_REDACTED = ("django.server", *REDACTED_LOGGERS)


class UserBackend(Protocol):
    """What ``OIDC_KIT["USER_BACKEND"]`` gives ``request.user``: a user for a session."""

    def user_for(self, session: Session | None) -> Any:
        """The user of ``session`` (an anonymous one for ``None``), from a sync caller."""

    async def auser_for(self, session: Session | None) -> Any:
        """:meth:`user_for`, from an async caller."""


@dataclass(frozen=True, slots=True)
class DjangoKit:
    """The project's kit: the sync kit, and the user backend when the settings name one."""

    sync: SyncKit
    backend: UserBackend | None = None


_lock = threading.Lock()
_current: DjangoKit | None = None


def get_kit() -> DjangoKit:
    """The project's kit, built from the settings on first use."""
    global _current
    kit = _current
    if kit is not None:
        return kit  # the hot path: no lock
    with _lock:
        if _current is None:
            _current = _build(getattr(settings, SETTING, None) or {})
        return _current


def reset_kit() -> None:
    """Close the kit (its store and event loop, if started); the next use builds it again."""
    global _current
    with _lock:
        kit, _current = _current, None
    if kit is not None:
        kit.sync.close()


def _on_setting_changed(*, setting: str, **_: Any) -> None:
    if setting == SETTING:
        reset_kit()


setting_changed.connect(_on_setting_changed, dispatch_uid="oidc_kit.django.reset_kit")


def _build(options: Mapping[str, Any]) -> DjangoKit:
    unknown = sorted(set(options) - set(_OPTIONS))
    if unknown:
        known = ", ".join(sorted(_OPTIONS))
        raise ImproperlyConfigured(f"{SETTING}: unknown option(s) {unknown}; known: {known}")
    values = {_OPTIONS[name]: _loaded(value) for name, value in options.items()}
    config = values.pop("config", None)
    if config is None:
        config = OIDCConfig.from_env()
    store = values.pop("store", None)
    if isinstance(store, str):  # a URL: where sessions live, as SESSION_STORE says it
        config, store = _with_store(config, store), None
    backend_class = values.pop("user_backend", None)
    redact_server_logs(_REDACTED)
    kit = SyncKit(config, store=store, owner=SETTING, **values)
    atexit.register(kit.close)  # the store's connections and the loop's thread
    return DjangoKit(kit, backend_class() if backend_class is not None else None)


def _loaded(value: Any) -> Any:
    """An option's value: a dotted path (``"myproject.oidc.hooks"``) imported."""
    if isinstance(value, str) and "." in value and "://" not in value:
        return import_string(value)
    return value


def _with_store(
    config: OIDCConfig | Mapping[str, OIDCConfig], url: str
) -> OIDCConfig | dict[str, OIDCConfig]:
    """``config`` with its sessions at ``url`` (the default provider's holds the app's)."""
    if isinstance(config, OIDCConfig):
        return dataclasses.replace(config, session_store=url)
    configs = dict(config)
    first = next(iter(configs))
    configs[first] = dataclasses.replace(configs[first], session_store=url)
    return configs
