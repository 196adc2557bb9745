"""oidc_kit: OpenID Connect login for Starlette, FastAPI, Flask and Django apps, and ORCA API
calls for the user.

The public API is re-exported here; everything in ``oidc_kit._*`` modules is private.

- configuration: :class:`OIDCConfig` (and its :class:`ClientKey`), the error tree
  (:class:`OIDCError` and its subclasses, each with a stable ``code``);
- the app's say in logins: :class:`Hooks` and its events;
- API calls: :class:`BearerAuth` over a :class:`TokenSource` (a user's session,
  :class:`ClientCredentials`, or the app's own), yielding :class:`TokenSet` values;
- token introspection (RFC 7662): :class:`Introspector`, answering :class:`TokenIntrospection`;
- session stores: :class:`SessionStore` and its backends, :func:`open_store`;
- for adapter authors (a web framework's integration, docs/architecture.md):
  :class:`RelyingParty`, its :class:`Outcome` and :class:`CookieChange`, the :class:`Session`
  (and :class:`SessionInfo`, what a user sees of each of their sessions).

The Starlette integration is ``oidc_kit.starlette``, FastAPI's ``oidc_kit.fastapi``, the
sandbox provider ``oidc_kit.testing``. ``RedisStore`` is imported on first use: redis-py is the
optional ``oidc_kit[redis]`` extra.
"""

from typing import TYPE_CHECKING

from ._app_config import AppConfig
from ._audit import AuditEvent, AuditJsonFormatter
from ._client_key import ClientKey
from ._config import OIDCConfig
from ._errors import (
    AuthorizationDetailsMismatch,
    AuthorizationFailed,
    ConfigurationError,
    CrossSiteRequest,
    DiscoveryError,
    InsufficientClaims,
    InsufficientScope,
    IntrospectionFailed,
    InvalidCallback,
    InvalidIdToken,
    InvalidLoginRequest,
    InvalidLogoutToken,
    InvalidResponseJwt,
    InvalidState,
    InvalidUserinfo,
    IssuerMismatch,
    LoginDenied,
    LoginError,
    LoginRequired,
    MethodNotAllowed,
    OIDCError,
    ProviderError,
    ProviderUnavailable,
    PushedRequestFailed,
    RequestTooLarge,
    ResponseTooLarge,
    SessionEnded,
    SessionError,
    StepUpRequired,
    StoreUnavailable,
    TokenRequestFailed,
    UnboundToken,
    UnknownSession,
    UnsupportedMediaType,
)
from ._hooks import Hooks, LoginEvent, LogoutEvent, RefreshFailedEvent
from ._introspection import Introspector, TokenIntrospection
from ._outcome import CookieChange, Outcome
from ._provider_config import DEFAULT_ID_TOKEN_ALGS, ProviderConfig
from ._redact import RedactTokens
from ._relying_party import RelyingParty
from ._session import Session
from ._step_up import StepUp
from ._tokens import TokenSet
from ._user_sessions import SessionInfo
from .client_credentials import ClientCredentials, TokenRequestFormat
from .httpx_auth import BearerAuth, TokenSource
from .stores import MemoryStore, SessionStore, SQLiteStore, open_store

if TYPE_CHECKING:
    from .stores import RedisStore as RedisStore  # re-exported lazily: see __getattr__

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_ID_TOKEN_ALGS",
    "AppConfig",
    "AuditEvent",
    "AuditJsonFormatter",
    "AuthorizationDetailsMismatch",
    "AuthorizationFailed",
    "BearerAuth",
    "ClientCredentials",
    "ClientKey",
    "ConfigurationError",
    "CookieChange",
    "CrossSiteRequest",
    "DiscoveryError",
    "Hooks",
    "InsufficientClaims",
    "InsufficientScope",
    "IntrospectionFailed",
    "Introspector",
    "InvalidCallback",
    "InvalidIdToken",
    "InvalidLoginRequest",
    "InvalidLogoutToken",
    "InvalidResponseJwt",
    "InvalidState",
    "InvalidUserinfo",
    "IssuerMismatch",
    "LoginDenied",
    "LoginError",
    "LoginEvent",
    "LoginRequired",
    "LogoutEvent",
    "MemoryStore",
    "MethodNotAllowed",
    "OIDCConfig",
    "OIDCError",
    "Outcome",
    "ProviderConfig",
    "ProviderError",
    "ProviderUnavailable",
    "PushedRequestFailed",
    "RedactTokens",
    "RefreshFailedEvent",
    "RelyingParty",
    "RequestTooLarge",
    "ResponseTooLarge",
    "SQLiteStore",
    "Session",
    "SessionEnded",
    "SessionError",
    "SessionInfo",
    "SessionStore",
    "StepUp",
    "StepUpRequired",
    "StoreUnavailable",
    "TokenIntrospection",
    "TokenRequestFailed",
    "TokenRequestFormat",
    "TokenSet",
    "TokenSource",
    "UnboundToken",
    "UnknownSession",
    "UnsupportedMediaType",
    "open_store",
]


# ``RedisStore`` is public but not in ``__all__``: ``from oidc_kit import *`` must work without
# the redis extra, and a star import would load it.


def __getattr__(name: str) -> object:
    # PEP 562: ``RedisStore`` (and redis-py with it) is imported on first access only.
    if name == "RedisStore":
        from . import stores

        return stores.RedisStore  # stores' own lazy attribute: one place explains the extra
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), "RedisStore"})
