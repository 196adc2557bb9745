"""Session stores: the ``SessionStore`` Protocol and its memory, SQLite, Redis and PostgreSQL
backends.

:class:`RedisStore` needs redis-py, the optional ``oidc_kit[redis]`` extra, so it is imported
on first use (``oidc_kit.stores.RedisStore``, ``open_store("redis://...")``) and never by
``import oidc_kit``: an app on the memory or SQLite store does not need redis-py installed.
:class:`PostgresStore` (asyncpg, the ``oidc_kit[postgres]`` extra) is imported the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from .._errors import ConfigurationError
from ._base import LOGIN_KEY_PREFIX, SessionStore
from .memory import MemoryStore
from .sqlite import SQLiteStore

if TYPE_CHECKING:
    from .postgres import PostgresStore
    from .redis import RedisStore

__all__ = [
    "LOGIN_KEY_PREFIX",
    "MemoryStore",
    "PostgresStore",
    "RedisStore",
    "SQLiteStore",
    "SessionStore",
    "open_store",
]


def open_store(url: str) -> SessionStore:
    """A store from a URL.

    ``memory://``, ``sqlite:///relative/or//absolute/path.db``, or
    ``redis://[[user]:password@]host:port/db`` and ``rediss://...`` (TLS), with
    ``redis+sentinel://`` and ``redis+cluster://`` (and their ``rediss+`` TLS forms) for
    Sentinel and Cluster, or ``postgresql://user[:password]@host[:port]/dbname`` (also
    ``postgres://``). Error messages never repeat the URL, which may carry a password.
    """
    parts = urlsplit(url)
    if parts.scheme == "memory":
        return MemoryStore()
    if parts.scheme == "sqlite":
        path = unquote(parts.path[1:] if parts.path.startswith("/") else parts.path)
        if not path:
            raise ConfigurationError("sqlite:/// needs a file path, e.g. sqlite:///sessions.db")
        return SQLiteStore(path)
    if parts.scheme in _REDIS_SCHEMES:
        try:
            redis_store = _redis_store_class()
        except ImportError as exc:
            raise ConfigurationError(str(exc)) from None
        return redis_store(url)
    if parts.scheme in ("postgresql", "postgres"):
        try:
            postgres_store = _postgres_store_class()
        except ImportError as exc:
            raise ConfigurationError(str(exc)) from None
        return postgres_store(url)
    raise ConfigurationError(f"unsupported SESSION_STORE scheme {parts.scheme!r}")


#: The schemes of oidc_kit/stores/_redis_connect.py (kept here so redis-py is imported lazily).
_REDIS_SCHEMES = frozenset(
    {"redis", "rediss", "redis+sentinel", "rediss+sentinel", "redis+cluster", "rediss+cluster"}
)

#: What the message of a missing redis-py says to do.
_REDIS_HINT = "the Redis store needs redis-py: pip install 'oidc_kit[redis]'"


def _redis_store_class() -> type[RedisStore]:
    """:class:`RedisStore`, importing redis-py now; ``ImportError`` naming the extra without it."""
    try:
        from .redis import RedisStore
    except ModuleNotFoundError as exc:
        # Only redis-py's own absence is ours to explain; any other missing module is a bug.
        if (exc.name or "").partition(".")[0] != "redis":
            raise
        raise ImportError(_REDIS_HINT, name=exc.name) from exc
    return RedisStore


#: What the message of a missing asyncpg says to do.
_POSTGRES_HINT = "the PostgreSQL store needs asyncpg: pip install 'oidc_kit[postgres]'"


def _postgres_store_class() -> type[PostgresStore]:
    """:class:`PostgresStore`, importing asyncpg now; without it, ``ImportError`` naming the
    extra."""
    try:
        from .postgres import PostgresStore
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] != "asyncpg":
            raise
        raise ImportError(_POSTGRES_HINT, name=exc.name) from exc
    return PostgresStore


def __getattr__(name: str) -> object:
    # PEP 562: ``RedisStore`` and ``PostgresStore`` are imported on first access, not with the
    # package.
    if name == "RedisStore":
        return _redis_store_class()
    if name == "PostgresStore":
        return _postgres_store_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), "PostgresStore", "RedisStore"})
