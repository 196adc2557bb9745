"""oidc_kit: OpenID Connect login for Starlette/FastAPI apps, and ORCA API calls for the user.

The public API is re-exported here; everything in ``oidc_kit._*`` modules is private.
``RedisStore`` is imported on first use: redis-py is the optional ``oidc_kit[redis]`` extra.
"""

from typing import TYPE_CHECKING

from ._config import DEFAULT_ID_TOKEN_ALGS, OIDCConfig
from ._errors import (
    AuthorizationFailed,
    ConfigurationError,
    CrossSiteRequest,
    DiscoveryError,
    InsufficientScope,
    InvalidCallback,
    InvalidIdToken,
    InvalidLoginRequest,
    InvalidLogoutToken,
    InvalidState,
    InvalidUserinfo,
    IssuerMismatch,
    LoginDenied,
    LoginError,
    LoginRequired,
    OIDCError,
    ProviderError,
    ProviderUnavailable,
    SessionEnded,
    SessionError,
    StepUpRequired,
    StoreUnavailable,
    TokenRequestFailed,
)
from ._redact import RedactTokens
from ._tokens import TokenSet
from .client_credentials import ClientCredentials, TokenRequestFormat
from .httpx_auth import BearerAuth, TokenSource
from .stores import MemoryStore, SessionStore, SQLiteStore, open_store

if TYPE_CHECKING:
    from .stores import RedisStore

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_ID_TOKEN_ALGS",
    "AuthorizationFailed",
    "BearerAuth",
    "ClientCredentials",
    "ConfigurationError",
    "CrossSiteRequest",
    "DiscoveryError",
    "InsufficientScope",
    "InvalidCallback",
    "InvalidIdToken",
    "InvalidLoginRequest",
    "InvalidLogoutToken",
    "InvalidState",
    "InvalidUserinfo",
    "IssuerMismatch",
    "LoginDenied",
    "LoginError",
    "LoginRequired",
    "MemoryStore",
    "OIDCConfig",
    "OIDCError",
    "ProviderError",
    "ProviderUnavailable",
    "RedactTokens",
    "RedisStore",
    "SQLiteStore",
    "SessionEnded",
    "SessionError",
    "SessionStore",
    "StepUpRequired",
    "StoreUnavailable",
    "TokenRequestFailed",
    "TokenRequestFormat",
    "TokenSet",
    "TokenSource",
    "open_store",
]


def __getattr__(name: str) -> object:
    # PEP 562: ``RedisStore`` (and redis-py with it) is imported on first access only.
    if name == "RedisStore":
        from .stores import _redis_store_class

        return _redis_store_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), "RedisStore"})
