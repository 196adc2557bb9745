"""An embedded store: one SQLite file, shared by every process of the app on one machine.

Each call is a single statement on a local file in WAL mode (readers never wait for the writer,
writers hold the lock for microseconds), so calls run directly on the event loop. A thread hop
per call (``asyncio.to_thread``) would cost more than the statement itself; bench/ measures
this. The price is that a call waiting on another process's lock blocks the loop for up to
``busy_timeout`` (one second), which only a pathologically busy file ever reaches; past it,
and on any other SQLite error, a call raises ``StoreUnavailable`` (a 503, never a 500).

Session records are served from process memory while the file's version slots
(``_versions.py``) show no write to them since they were read: a write through the kit in any
process changes its key's slot before it returns, so the next read everywhere sees it. A
record read from the file is trusted for the near-cache's lease (250 ms) at most, which bounds
what the slots cannot see: a hand edit of the file, or a writer killed between its commit and
its change of the slot. ``near_cache=False``, or ``SESSION_STORE_NEAR_CACHE=0`` when
``near_cache`` is left unset, reads the file every time (writes still change the slots, for
the processes that cache).
"""

from __future__ import annotations

import functools
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

from .._errors import StoreUnavailable
from ._near_cache import LEASE, MAX_ENTRIES, SESSION_KEYS, leased_session, near_cache_enabled
from ._versions import VersionSlots

__all__ = ["SQLiteStore"]

log = logging.getLogger("oidc_kit")

#: Expired rows are purged every this many writes, at most ``_PURGE_LIMIT`` at a time, so one
#: purge never stalls the loop and purging still outpaces writing (each write adds one row).
_PURGE_EVERY = 100
_PURGE_LIMIT = 1000
#: Statements hold the write lock for microseconds: a second of waiting means trouble, and
#: the loop is blocked meanwhile, so answer 503 rather than wait longer.
_BUSY_TIMEOUT_MS = 1000

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _guarded(
    method: Callable[_P, Coroutine[Any, Any, _R]],
) -> Callable[_P, Coroutine[Any, Any, _R]]:
    """SQLite errors (a file locked past the busy timeout, a full disk, a corrupt file)
    become :class:`StoreUnavailable`: a 503 for the request, never a 500."""

    @functools.wraps(method)
    async def guarded(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return await method(*args, **kwargs)
        except sqlite3.Error as exc:
            log.warning("the SQLite session store failed: %s", type(exc).__name__)
            raise StoreUnavailable("the session store did not answer") from None

    return guarded


#: The typeof() test makes a non-numeric expiry (a hand edit, a foreign writer) count as
#: expired, as in take(); SQLite would otherwise sort text after every number.
_GET = (
    "SELECT value, expires_at FROM kv WHERE key = ? AND expires_at > ?"
    " AND typeof(expires_at) IN ('real', 'integer')"
)

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS kv ("
    " key TEXT PRIMARY KEY, value BLOB NOT NULL, expires_at REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS kv_expires_at ON kv (expires_at)",
    "CREATE TABLE IF NOT EXISTS idx ("
    " key TEXT NOT NULL, member TEXT NOT NULL, expires_at REAL NOT NULL,"
    " PRIMARY KEY (key, member))",
    "CREATE INDEX IF NOT EXISTS idx_expires_at ON idx (expires_at)",
)


class SQLiteStore:
    """A :class:`~oidc_kit.stores.SessionStore` in a SQLite file (``sqlite:///PATH``).

    Several processes may open the same file: every write is one autocommitted statement,
    :meth:`take` is a single ``DELETE ... RETURNING`` and :meth:`add` a single conditional
    upsert, so of racing processes one wins. A ``ttl`` that is not positive stores nothing.
    The connection is opened on first use; the directory is created (``0700``) if missing and a
    new database file is made ``0600``, since it holds (sealed) tokens.

    Session records are served from memory while the version slots beside the file
    (``PATH-versions``) show no write since they were read (see the module docstring);
    ``near_cache=False``, or ``SESSION_STORE_NEAR_CACHE=0`` when ``near_cache`` is left
    unset, reads the file every time.
    """

    def __init__(
        self,
        path: str,
        *,
        clock: Callable[[], float] = time.time,
        near_cache: bool | None = None,
    ) -> None:
        # Wall-clock time, unlike MemoryStore: expiry times are shared between processes and
        # outlive restarts and reboots, which a monotonic clock does not survive.
        self._path = path
        self._clock = clock
        self._conn: sqlite3.Connection | None = None
        self._get_cursor: sqlite3.Cursor | None = None
        self._writes = 0
        self._near_cache = near_cache_enabled(near_cache)
        self._versions: VersionSlots | None = None
        #: key -> (value, slot, the slot's version before the read, trusted until
        #: (time.monotonic()), the row's expiry (the store's clock)).
        self._cached: dict[str, tuple[bytes, int, int, float, float]] = {}

    @property
    def path(self) -> str:
        """The database file, as given."""
        return self._path

    async def get(self, key: str) -> bytes | None:
        """The value under ``key``, or ``None`` when absent or expired."""
        # Every protected request comes here: a session record read before is served from
        # memory while its slot is unchanged, its lease fresh and the row not expired.
        entry = self._cached.get(key)
        if entry is not None:
            value, slot, version, trusted_until, expires_at = entry
            if (
                self._versions is not None
                and self._versions.slots[slot] == version
                and time.monotonic() < trusted_until
                and self._clock() < expires_at
            ):
                return value
            del self._cached[key]
        return self._read(key)

    def _read(self, key: str) -> bytes | None:
        # Kept lean: one cursor kept for it rather than a new one per call, and _guarded's
        # mapping inline rather than another coroutine around it. The kept cursor holds no
        # snapshot between calls: the single-row SELECT is stepped to its end by fetchone()
        # (the primary key allows one row), which resets it and ends its read transaction,
        # so the next call sees every other process's writes.
        try:
            if self._get_cursor is None:
                self._get_cursor = self._db().cursor()
            versions = self._versions if self._near_cache else None
            if versions is not None and key.startswith(SESSION_KEYS):
                # Noted before the SELECT: a write that lands during it changes the slot
                # after this, so whatever the SELECT returns is read again next time.
                slot = VersionSlots.slot(key)
                version = versions.slots[slot]
                trusted_until = time.monotonic() + LEASE
            else:
                versions = None
            row = self._get_cursor.execute(_GET, (key, self._clock())).fetchone()
        except sqlite3.Error as exc:
            log.warning("the SQLite session store failed: %s", type(exc).__name__)
            raise StoreUnavailable("the session store did not answer") from None
        if row is None:
            return None
        value = row[0] if type(row[0]) is bytes else _as_bytes(row[0])
        if versions is not None and value is not None:
            if len(self._cached) >= MAX_ENTRIES:
                del self._cached[next(iter(self._cached))]  # the oldest read
            self._cached[key] = (value, slot, version, trusted_until, float(row[1]))
        return value

    def _changed(self, key: str) -> None:
        """A write to ``key`` has run (committed, or failed: either way, assume a change):
        every process's next read of it goes to the file."""
        if self._versions is not None and key.startswith(SESSION_KEYS):
            self._cached.pop(key, None)
            self._versions.changed(VersionSlots.slot(key))

    @_guarded
    async def set(self, key: str, value: bytes, ttl: float) -> None:
        """Store ``value`` under ``key`` for ``ttl`` seconds, replacing any old value.

        A ``ttl`` that is not positive stores nothing: the old value is removed.
        """
        if not ttl > 0:
            await self.delete(key)
            return
        try:
            self._db().execute(
                "INSERT INTO kv (key, value, expires_at) VALUES (?, ?, ?)"
                " ON CONFLICT (key) DO UPDATE"
                " SET value = excluded.value, expires_at = excluded.expires_at",
                (key, bytes(value), self._clock() + ttl),
            )
        finally:
            self._changed(key)
        self._count_write()

    @_guarded
    async def delete(self, key: str) -> None:
        """Remove ``key``; absent keys are fine."""
        try:
            self._db().execute("DELETE FROM kv WHERE key = ?", (key,))
        finally:
            self._changed(key)

    @_guarded
    async def take(self, key: str) -> bytes | None:
        """Read and remove ``key`` in one statement; an expired value is removed, not returned."""
        # fetchall() steps the statement to its end: only then does the autocommit transaction
        # commit and release the write lock (a half-read RETURNING cursor would keep it).
        try:
            rows = (
                self._db()
                .execute("DELETE FROM kv WHERE key = ? RETURNING value, expires_at", (key,))
                .fetchall()
            )
        finally:
            self._changed(key)
        if not rows:
            return None
        value, expires_at = rows[0]
        return _as_bytes(value) if _is_live(expires_at, self._clock()) else None

    @_guarded
    async def add(self, key: str, value: bytes, ttl: float) -> bool:
        """Store ``value`` only if ``key`` is absent or expired; whether it was stored.

        One upsert statement whose update applies only over an expired row: SQLite's write
        lock makes it atomic across every connection to the file, so of racing processes
        exactly one stores its value. A ``ttl`` that is not positive stores nothing (``False``).
        """
        if not ttl > 0:
            return False
        now = self._clock()
        try:
            rows = (
                self._db()
                .execute(
                    "INSERT INTO kv (key, value, expires_at) VALUES (?, ?, ?)"
                    " ON CONFLICT (key) DO UPDATE"
                    " SET value = excluded.value, expires_at = excluded.expires_at"
                    " WHERE kv.expires_at <= ?"
                    " OR typeof(kv.expires_at) NOT IN ('real', 'integer')"
                    " RETURNING 1",
                    (key, bytes(value), now + ttl, now),
                )
                .fetchall()  # steps to the end, so the statement commits (see take())
            )
        finally:
            self._changed(key)
        self._count_write()
        session = leased_session(key)
        if rows and session is not None:
            # A new refresh lease: its holder re-reads the session from the file, whatever
            # this process kept, as on every store with a near-cache (_near_cache.py).
            self._cached.pop(session, None)
        return bool(rows)

    @_guarded
    async def replace(self, key: str, value: bytes, ttl: float) -> bool:
        """Store ``value`` only if ``key`` holds a live value; one ``UPDATE``, so atomic."""
        now = self._clock()
        try:
            if not ttl > 0:
                rows = (
                    self._db()
                    .execute(
                        "DELETE FROM kv WHERE key = ? AND expires_at > ? RETURNING 1", (key, now)
                    )
                    .fetchall()
                )
                return bool(rows)
            rows = (
                self._db()
                .execute(
                    "UPDATE kv SET value = ?, expires_at = ? WHERE key = ? AND expires_at > ?"
                    " AND typeof(expires_at) IN ('real', 'integer') RETURNING 1",
                    (bytes(value), now + ttl, key, now),
                )
                .fetchall()
            )
        finally:
            self._changed(key)
        self._count_write()
        return bool(rows)

    @_guarded
    async def delete_if(self, key: str, value: bytes) -> bool:
        """Delete ``key`` only if it holds ``value`` and has not expired; whether it did.

        One ``DELETE`` matching key and value, so atomic across processes. A matching row
        that has expired is deleted too, but reported as not found (``False``).
        """
        try:
            rows = (
                self._db()
                .execute(
                    "DELETE FROM kv WHERE key = ? AND value = ? RETURNING expires_at",
                    (key, bytes(value)),
                )
                .fetchall()
            )
        finally:
            self._changed(key)
        return bool(rows) and _is_live(rows[0][0], self._clock())

    @_guarded
    async def index_add(self, key: str, member: str, ttl: float) -> None:
        """Add ``member`` to the set ``key`` until ``ttl`` seconds from now (an upsert)."""
        if not ttl > 0:
            return
        self._db().execute(
            "INSERT INTO idx (key, member, expires_at) VALUES (?, ?, ?)"
            " ON CONFLICT (key, member) DO UPDATE SET expires_at = excluded.expires_at",
            (key, member, self._clock() + ttl),
        )
        self._count_write()

    @_guarded
    async def index_members(self, key: str) -> list[str]:
        """The live members of the set ``key``."""
        rows = (
            self._db()
            .execute(
                "SELECT member FROM idx WHERE key = ? AND expires_at > ?", (key, self._clock())
            )
            .fetchall()
        )
        return [m.decode() if isinstance(m, bytes) else str(m) for (m,) in rows]

    @_guarded
    async def index_discard(self, key: str, member: str) -> None:
        """Remove ``member`` from the set ``key``."""
        self._db().execute("DELETE FROM idx WHERE key = ? AND member = ?", (key, member))

    @_guarded
    async def ping(self) -> None:
        """One read of the file (opening it first if need be): a health check's round trip."""
        self._db().execute("SELECT 1 FROM kv LIMIT 1").fetchall()

    async def close(self) -> None:
        """Close the connection; a later call opens it again."""
        self._get_cursor = None
        self._cached.clear()
        if self._versions is not None:
            self._versions.close()
            self._versions = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = self._connect()
            self._versions = self._open_versions()
        return self._conn

    def _open_versions(self) -> VersionSlots | None:
        if self._path == ":memory:":
            return None  # no other process can open it: nothing to tell
        try:
            return VersionSlots(self._path)
        except (OSError, ValueError) as exc:
            # Off, not wrong: every read then goes to the file.
            log.warning("session near-cache off: the SQLite version slots: %s", type(exc).__name__)
            return None

    def _connect(self) -> sqlite3.Connection:
        if self._path != ":memory:":
            _prepare_file(self._path)
        # isolation_level=None: autocommit, every statement is its own transaction, so no
        # lock is ever held between two awaits. check_same_thread=False: the connection opens
        # on whichever thread first uses it, and an app may run a later loop, or its shutdown,
        # on another; calls never overlap, since each runs to completion on the loop.
        conn = sqlite3.connect(
            self._path,
            timeout=_BUSY_TIMEOUT_MS / 1000,
            isolation_level=None,
            check_same_thread=False,
        )
        # TEXT comes back as raw bytes: a value some other writer stored as (possibly invalid
        # UTF-8) text must reach the caller's unsealing, not fail to decode in here.
        conn.text_factory = bytes
        try:
            # busy_timeout first: switching to WAL needs a lock another process may hold.
            conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA journal_mode = WAL")
            # NORMAL is durable across application crashes in WAL mode; only an OS crash can
            # lose the last writes, which for sessions means a user logs in again.
            conn.execute("PRAGMA synchronous = NORMAL")
            for statement in _SCHEMA:
                conn.execute(statement)
        except BaseException:
            conn.close()
            raise
        return conn

    def _count_write(self) -> None:
        self._writes += 1
        if self._writes % _PURGE_EVERY == 0:
            self._purge_expired()

    def _purge_expired(self) -> None:
        now = self._clock()
        self._db().execute(
            "DELETE FROM kv WHERE key IN (SELECT key FROM kv WHERE expires_at <= ? LIMIT ?)",
            (now, _PURGE_LIMIT),
        )
        self._db().execute(
            "DELETE FROM idx WHERE rowid IN (SELECT rowid FROM idx WHERE expires_at <= ? LIMIT ?)",
            (now, _PURGE_LIMIT),
        )


def _prepare_file(path: str) -> None:
    """Create the parent directory (0700) and the database file (0600) when they are missing.

    The file is created here rather than by SQLite so that it never exists, even for an
    instant, with the umask's usual world-readable mode. SQLite gives its ``-wal`` and
    ``-shm`` files the database file's mode. Existing files and directories are left as the
    operator made them.
    """
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        os.makedirs(parent, mode=0o700, exist_ok=True)
        os.chmod(parent, 0o700)  # makedirs' mode is filtered by the umask
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    try:
        os.fchmod(fd, 0o600)  # an unusual umask could have removed bits we need
    finally:
        os.close(fd)


def _is_live(expires_at: object, now: float) -> bool:
    """Whether a row's expiry is still ahead; a non-numeric one counts as expired."""
    return isinstance(expires_at, int | float) and expires_at > now


def _as_bytes(value: object) -> bytes | None:
    """The stored value as bytes, whatever an older version or a hand edit put in the column.

    Callers treat the bytes as untrusted (they unseal and decode them), so a value of the
    wrong type is handed on for them to reject cleanly rather than crashing here.
    """
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape")
    if value is None:
        return None
    return str(value).encode()
