"""Session stores: the ``SessionStore`` Protocol and its memory, SQLite and Redis backends."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from .._errors import ConfigurationError
from ._base import LOGIN_KEY_PREFIX, SessionStore
from .memory import MemoryStore
from .redis import RedisStore
from .sqlite import SQLiteStore

__all__ = [
    "LOGIN_KEY_PREFIX",
    "MemoryStore",
    "RedisStore",
    "SQLiteStore",
    "SessionStore",
    "open_store",
]


def open_store(url: str) -> SessionStore:
    """A store from a URL.

    ``memory://``, ``sqlite:///relative/or//absolute/path.db``, or
    ``redis://[:password@]host:port/db`` and ``rediss://...`` (TLS). Error messages never
    repeat the URL, which may carry a password.
    """
    parts = urlsplit(url)
    if parts.scheme == "memory":
        return MemoryStore()
    if parts.scheme == "sqlite":
        path = unquote(parts.path[1:] if parts.path.startswith("/") else parts.path)
        if not path:
            raise ConfigurationError("sqlite:/// needs a file path, e.g. sqlite:///sessions.db")
        return SQLiteStore(path)
    if parts.scheme in ("redis", "rediss"):
        return RedisStore(url)
    raise ConfigurationError(f"unsupported SESSION_STORE scheme {parts.scheme!r}")
