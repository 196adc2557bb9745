"""oidc_kit: OpenID Connect login for Starlette/FastAPI apps, and ORCA API calls for the user.

The public API is re-exported here; everything in ``oidc_kit._*`` modules is private.
"""

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
from .stores import MemoryStore, RedisStore, SessionStore, SQLiteStore, open_store

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
