"""Session stores: the ``SessionStore`` Protocol and its memory and SQLite backends."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from .._errors import ConfigurationError
from ._base import SessionStore
from .memory import MemoryStore
from .sqlite import SQLiteStore

__all__ = ["MemoryStore", "SQLiteStore", "SessionStore", "open_store"]


def open_store(url: str) -> SessionStore:
    """A store from a URL: ``memory://`` or ``sqlite:///relative/or//absolute/path.db``."""
    parts = urlsplit(url)
    if parts.scheme == "memory":
        return MemoryStore()
    if parts.scheme == "sqlite":
        path = unquote(parts.path[1:] if parts.path.startswith("/") else parts.path)
        if not path:
            raise ConfigurationError("sqlite:/// needs a file path, e.g. sqlite:///sessions.db")
        return SQLiteStore(path)
    raise ConfigurationError(f"unsupported SESSION_STORE scheme {parts.scheme!r}")
