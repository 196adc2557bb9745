"""Provider settings only: a configuration for a client of the provider alone.

The client credentials grant (a batch job) and ``oidc-kit doctor`` log no user in and keep no
session: they need the provider's settings (issuer, client, key, profile, timeouts), never the
app's (base URL, session secrets and store, cookies, routes). Here those are told apart, and a
configuration is read from the provider's variables alone.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping

from ._config import OIDCConfig, _env_values, _require

__all__ = ["APP_FIELDS", "app_stand_ins", "provider_config_from_env"]

#: The app's settings, as opposed to a provider's: every provider of one app shares them
#: (``OIDCAuth`` checks), and a client of the provider alone (the client credentials grant,
#: the doctor: no login, no session) has no use for them.
APP_FIELDS = (
    "base_url",
    "session_secrets",
    "session_store",
    "session_idle_timeout",
    "session_absolute_timeout",
    "login_timeout",
    "response_mode",
    "cookie_name",
    "login_cookie_name",
    "route_prefix",
    "cookie_domain",
    "cookie_path",
    "cookie_samesite",
    "post_logout_path",
)


def provider_config_from_env(
    environ: Mapping[str, str] | None = None, **overrides: object
) -> OIDCConfig:
    """A configuration for the provider alone, from its variables (``OIDC_ISSUER``,
    ``OIDC_CLIENT_ID``...): the app's (``APP_BASE_URL``, ``SESSION_*``...) are neither read
    nor required, and no warning is given about sessions, which such a client never keeps.
    Inert stand-ins fill the app's settings (see :func:`app_stand_ins`)."""
    read = _env_values(environ)
    values = {name: value for name, value in read.items() if name not in APP_FIELDS}
    values.update(overrides)
    _require(values, ("issuer", "client_id"))
    return OIDCConfig(**(app_stand_ins() | values))  # type: ignore[arg-type]


def app_stand_ins() -> dict[str, object]:
    """Values for the app's required settings where nothing reads them: a base URL that
    cannot resolve and a random secret."""
    return {
        "base_url": "https://provider-only.invalid",
        "session_secrets": (secrets.token_urlsafe(32),),
    }
