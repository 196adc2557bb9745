"""Settings from environment variables: each field's variable, and how its text is parsed.

One table for the provider's settings (``OIDC_*``) and the app's (``APP_BASE_URL``,
``SESSION_*``, the app's ``OIDC_*``): each settings class reads the variables of its own fields.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Mapping
from dataclasses import fields
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from ._auth_params import AuthParams
from ._errors import ConfigurationError

__all__ = ["ENV_NAMES", "default_secret", "parse", "settings_from_env"]

log = logging.getLogger("oidc_kit")

T = TypeVar("T")

#: Each setting's environment variable.
ENV_NAMES = {
    "issuer": "OIDC_ISSUER",
    "client_id": "OIDC_CLIENT_ID",
    "client_secret": "OIDC_CLIENT_SECRET",
    "base_url": "APP_BASE_URL",
    "scopes": "OIDC_SCOPES",
    "id_token_algs": "OIDC_ID_TOKEN_ALGS",
    "id_token_alg": "OIDC_ID_TOKEN_ALG",
    "clock_leeway": "OIDC_CLOCK_LEEWAY",
    "refresh_leeway": "OIDC_REFRESH_LEEWAY",
    "allow_insecure_http": "OIDC_ALLOW_INSECURE_HTTP",
    "session_secrets": "SESSION_SECRET",
    "session_store": "SESSION_STORE",
    "session_idle_timeout": "SESSION_IDLE_TIMEOUT",
    "session_absolute_timeout": "SESSION_ABSOLUTE_TIMEOUT",
    "login_timeout": "OIDC_LOGIN_TIMEOUT",
    "discovery_ttl": "OIDC_DISCOVERY_TTL",
    "jwks_refetch_interval": "OIDC_JWKS_REFETCH_INTERVAL",
    "http_timeout": "OIDC_HTTP_TIMEOUT",
    "response_mode": "OIDC_RESPONSE_MODE",
    "route_prefix": "OIDC_ROUTE_PREFIX",
    "cookie_domain": "SESSION_COOKIE_DOMAIN",
    "cookie_path": "SESSION_COOKIE_PATH",
    "cookie_samesite": "SESSION_COOKIE_SAMESITE",
    "post_logout_path": "OIDC_POST_LOGOUT_PATH",
    "profile": "OIDC_PROFILE",
    "client_key": "OIDC_CLIENT_KEY",
    "client_cert": "OIDC_CLIENT_CERT",
    "client_cert_key": "OIDC_CLIENT_CERT_KEY",
    "mtls_bound_tokens": "OIDC_MTLS_BOUND_TOKENS",
    "token_endpoint_auth_method": "OIDC_TOKEN_AUTH_METHOD",
    "par": "OIDC_PAR",
    "dpop": "OIDC_DPOP",
    "signed_requests": "OIDC_SIGNED_REQUESTS",
    "revocation_endpoint": "OIDC_REVOCATION_ENDPOINT",
    "introspection_endpoint": "OIDC_INTROSPECTION_ENDPOINT",
    "introspection_cache_ttl": "OIDC_INTROSPECTION_CACHE_TTL",
    "audience": "OIDC_AUDIENCE",
    "resource": "OIDC_RESOURCE",
    "auth_params": "OIDC_AUTH_PARAMS",
}

_INT_FIELDS = frozenset(
    {
        "clock_leeway",
        "refresh_leeway",
        "session_idle_timeout",
        "session_absolute_timeout",
        "login_timeout",
        "discovery_ttl",
        "jwks_refetch_interval",
        "introspection_cache_ttl",
    }
)


def settings_from_env(
    cls: type[T],
    environ: Mapping[str, str] | None,
    overrides: Mapping[str, object],
    *,
    required: tuple[str, ...],
) -> T:
    """``cls`` (a settings dataclass) from the variables of its fields, ``overrides`` winning;
    a ``required`` setting that is neither is a :class:`ConfigurationError` naming its
    variable. A missing ``session_secrets`` field is given a random secret, with a warning."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for f in fields(cls):  # type: ignore[arg-type]
        raw = env.get(ENV_NAMES.get(f.name, ""), "").strip()
        if raw:
            values[f.name] = parse(f.name, raw)
    values.update(overrides)
    if "session_secrets" in {f.name for f in fields(cls)}:  # type: ignore[arg-type]
        default_secret(values)
    for name in required:
        if name not in values:
            raise ConfigurationError(f"{ENV_NAMES[name]} is not set")
    return cls(**values)


def default_secret(values: dict[str, Any]) -> None:
    """Without ``SESSION_SECRET``, a random secret for this process, with a warning."""
    if "session_secrets" not in values:
        log.warning(
            "SESSION_SECRET is not set: using a random secret for this process; "
            "sessions will not survive a restart"
        )
        values["session_secrets"] = (secrets.token_urlsafe(32),)


def parse(name: str, raw: str) -> object:
    """Turn one environment value into the field's type, with a clear error."""
    if name == "resource":
        return tuple(raw.split())  # URIs may contain commas: spaces only
    if name == "auth_params":
        try:
            return AuthParams(parse_qsl(raw, keep_blank_values=True, strict_parsing=True))
        except ValueError:
            raise ConfigurationError(
                "OIDC_AUTH_PARAMS must be a URL query string (name=value&name=value)"
            ) from None
    try:
        if name in ("scopes", "id_token_algs", "session_secrets"):
            # Lists: comma- or space-separated; secrets newest first (rotation).
            return tuple(raw.replace(",", " ").split())
        if name in _INT_FIELDS:
            return int(raw)
        if name == "http_timeout":
            return float(raw)
        if name in ("allow_insecure_http", "par", "dpop", "signed_requests", "mtls_bound_tokens"):
            return raw.lower() in ("1", "true", "yes", "on")
    except ValueError:
        raise ConfigurationError(f"{ENV_NAMES[name]} must be a number") from None
    return raw
