"""A shared store: PostgreSQL, for deployments whose platform is a database rather than Redis.

Selected with ``SESSION_STORE=postgresql://USER[:PASSWORD]@HOST[:PORT]/DBNAME`` (or
``postgres://``); it needs the ``oidc_kit[postgres]`` extra and PostgreSQL 13 or later.

The driver is asyncpg, not psycopg 3. Every protected request reads the store, so the
driver's cost per statement is the kit's cost per request: asyncpg speaks the binary protocol
from Cython, keeps each statement prepared per connection (parsed and planned once, then run
by name; about 0.1 ms a ``get`` on loopback here, pool checkout included) and was written for
asyncio, with no thread hop. Its bounded pool comes in the same package, where psycopg needs
``psycopg-pool`` beside ``psycopg[binary]``, and both are well kept and widely used. What
asyncpg lacks is type information, so this module keeps its few asyncpg calls to itself.

Two tables, created on first use when missing (``table_prefix``, ``oidc_kit_`` by default):
``{prefix}kv`` (key, value, expiry) and ``{prefix}idx`` (the indexes' members). Expiry is a
timestamp taken from the database's clock, so every instance agrees on it whatever the app
hosts' clocks say, and every read checks it: an expired row is never returned, whether or
not it has been purged yet. Each method is one statement, so every guarantee of the Protocol
holds across processes: ``take`` is a ``DELETE ... RETURNING``; ``add`` an
``INSERT ... ON CONFLICT DO UPDATE ... WHERE`` the old row has expired; ``replace`` an
``UPDATE`` of a live row; ``delete_if`` a ``DELETE`` matching key and value. Expired rows are
purged every ``_PURGE_EVERY`` writes,
in the background, a batch of rows at a time locked with ``FOR UPDATE SKIP LOCKED``: never a
table lock, never waiting on a row someone else holds.

Session records are served from a near-cache (``_near_cache.py``, on by default; ``near_cache=``
or ``SESSION_STORE_NEAR_CACHE``) while the database provably tells this process about every
change to them: triggers on ``{prefix}kv`` ``NOTIFY`` each change of a ``session:`` row,
whoever makes it, and a connection of the cache's own ``LISTEN``s (``_pg_feed.py``, which
also says what PostgreSQL guarantees about the order of notices and replies). The store's
own writes drop its cached copy at once. Tables made by an earlier version get the triggers
on first use; a database user that may not add them gets a warning and no near-cache.

Faults are bounded. Each call (waiting for a pooled connection, connecting if need be, and
its statement) has ``connect_timeout + command_timeout`` seconds; past that, and on any
driver or server error, it raises :class:`~oidc_kit.StoreUnavailable`, and the connection it
used is closed rather than returned to the pool in an unknown state. Statements are never
retried: a retried ``take`` or ``add`` whose first attempt reached the server would lose the
value or report a lease as held by someone else. The pool (``pool_size`` connections at
most) opens connections as calls need them and replaces broken ones, so the store works
again as soon as the server is back. Neither the URL nor its password appears in a message.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg  # type: ignore[import-untyped]

from .._errors import ConfigurationError, StoreUnavailable
from .._tasks import detached_task
from ._near_cache import SESSION_KEYS, NearCache, leased_session, near_cache_enabled
from ._pg_feed import pg_feed, trigger_statements, triggers_present

__all__ = ["PostgresStore", "schema_statements"]

log = logging.getLogger("oidc_kit")

_T = TypeVar("_T")

#: TTLs are capped (about 31 years) so that ``inf`` or a huge number still makes a timestamp.
_MAX_TTL_SECONDS = 1e9
#: Expired rows are purged every this many writes, at most ``_PURGE_LIMIT`` per table, so
#: purging outpaces writing (each write adds at most one row) and one batch stays short.
_PURGE_EVERY = 100
_PURGE_LIMIT = 1000
#: Seconds ``close`` waits for calls in flight before it drops their connections.
_CLOSE_TIMEOUT = 5.0
#: Table names are built from the prefix, so it must be a plain identifier.
_TABLE_PREFIX = re.compile(r"[a-z_][a-z0-9_]{0,50}")
#: Serializes first-use table creation across processes (``CREATE TABLE IF NOT EXISTS``
#: run concurrently can fail on the catalog's unique index); any fixed number will do.
_SCHEMA_LOCK = 0x6F6964635F6B6974  # "oidc_kit"
#: The URL's query options that are the store's own, not the driver's.
_OWN_OPTIONS = ("table_prefix", "pool_size", "connect_timeout", "command_timeout")

#: Everything a call can raise when PostgreSQL is down, slow or refusing us.
_UNAVAILABLE = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    OSError,
    TimeoutError,
)


#: Every statement the store runs, by name. ``{kv}`` and ``{idx}`` stand for the two tables'
#: quoted names (the prefix is a checked identifier); every value is a bind parameter.
_STATEMENTS = {
    "get": "SELECT value FROM {kv} WHERE key = $1 AND expires_at > now()",
    # The near-cache's read: the value and its remaining lifetime, by the database's clock.
    "fill": "SELECT value, extract(epoch FROM expires_at - now())::float8 FROM {kv}"
    " WHERE key = $1 AND expires_at > now()",
    "set": "INSERT INTO {kv} (key, value, expires_at) VALUES ($1, $2, {expiry})"
    " ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at",
    "delete": "DELETE FROM {kv} WHERE key = $1",
    "take": "DELETE FROM {kv} WHERE key = $1 RETURNING value, expires_at > now()",
    # The conflicting row is locked and read again before the WHERE is judged, so of racing
    # callers one inserts (or takes over an expired row) and the others see its row.
    "add": "INSERT INTO {kv} (key, value, expires_at) VALUES ($1, $2, {expiry})"
    " ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at"
    " WHERE {kv}.expires_at <= now() RETURNING 1",
    "replace": "UPDATE {kv} SET value = $2, expires_at = {expiry}"
    " WHERE key = $1 AND expires_at > now() RETURNING 1",
    "remove_live": "DELETE FROM {kv} WHERE key = $1 RETURNING expires_at > now()",
    "delete_if": "DELETE FROM {kv} WHERE key = $1 AND value = $2 RETURNING expires_at > now()",
    "index_add": "INSERT INTO {idx} (key, member, expires_at) VALUES ($1, $2, {expiry})"
    " ON CONFLICT (key, member) DO UPDATE SET expires_at = excluded.expires_at",
    "index_members": "SELECT member FROM {idx} WHERE key = $1 AND expires_at > now()",
    "index_discard": "DELETE FROM {idx} WHERE key = $1 AND member = $2",
    # One batch of expired rows, skipping any row another transaction holds: no table lock,
    # no waiting. The outer test of expiry spares a row renewed meanwhile.
    "purge_kv": "DELETE FROM {kv} WHERE ctid = ANY(ARRAY(SELECT ctid FROM {kv}"
    " WHERE expires_at <= now() LIMIT $1 FOR UPDATE SKIP LOCKED)) AND expires_at <= now()",
    "purge_idx": "DELETE FROM {idx} WHERE ctid = ANY(ARRAY(SELECT ctid FROM {idx}"
    " WHERE expires_at <= now() LIMIT $1 FOR UPDATE SKIP LOCKED)) AND expires_at <= now()",
}

#: ``ttl`` seconds from now by the database's clock (``$3``, a float).
_EXPIRY = "now() + $3::float8 * interval '1 second'"


def _statements(prefix: str) -> dict[str, str]:
    """:data:`_STATEMENTS` for the tables of ``prefix``."""
    return {
        name: sql.replace("{expiry}", _EXPIRY)
        .replace("{kv}", f'"{prefix}kv"')
        .replace("{idx}", f'"{prefix}idx"')
        for name, sql in _STATEMENTS.items()
    }


def schema_statements(table_prefix: str = "oidc_kit_") -> tuple[str, ...]:
    """The DDL of the store's tables, their expiry indexes (which the purge uses) and the
    near-cache's notify triggers, as run on first use when any is missing, or by a DBA
    beforehand (as the tables' owner)."""
    kv, idx = f"{table_prefix}kv", f"{table_prefix}idx"
    return (
        f'CREATE TABLE IF NOT EXISTS "{kv}" ('
        " key text PRIMARY KEY, value bytea NOT NULL, expires_at timestamptz NOT NULL)",
        f'CREATE INDEX IF NOT EXISTS "{kv}_expires_at" ON "{kv}" (expires_at)',
        f'CREATE TABLE IF NOT EXISTS "{idx}" ('
        " key text NOT NULL, member text NOT NULL, expires_at timestamptz NOT NULL,"
        " PRIMARY KEY (key, member))",
        f'CREATE INDEX IF NOT EXISTS "{idx}_expires_at" ON "{idx}" (expires_at)',
        *trigger_statements(table_prefix),
    )


@dataclass(frozen=True)
class _Options:
    url: str
    table_prefix: str
    pool_size: int
    connect_timeout: float
    command_timeout: float


class PostgresStore:
    """A :class:`~oidc_kit.stores.SessionStore` in PostgreSQL (asyncpg and its pool).

    ``url`` is a ``postgresql://`` or ``postgres://`` URL; its query may set the store's own
    options (``table_prefix``, ``pool_size``, ``connect_timeout``, ``command_timeout``, which
    then win over the keyword arguments) besides asyncpg's (``sslmode``...), and any other
    parameter is sent to the server as a setting (``?search_path=auth``).

    Session records are served from a near-cache while ``LISTEN``/``NOTIFY`` provably reaches
    this process (see the module docstring); ``near_cache=False``, or
    ``SESSION_STORE_NEAR_CACHE=0`` when ``near_cache`` is left unset, reads the database every
    time.

    No connection is made until the first call, which creates the tables if they are missing
    (a database user without ``CREATE`` rights works with tables made beforehand). A ``ttl``
    that is not positive stores nothing, as on every backend.
    """

    def __init__(
        self,
        url: str,
        *,
        table_prefix: str = "oidc_kit_",
        pool_size: int = 10,
        connect_timeout: float = 1.0,
        command_timeout: float = 1.0,
        near_cache: bool | None = None,
    ) -> None:
        defaults = {
            "table_prefix": table_prefix,
            "pool_size": pool_size,
            "connect_timeout": connect_timeout,
            "command_timeout": command_timeout,
        }
        self._options = _parse_options(url, defaults)
        prefix = self._options.table_prefix
        self._sql = _statements(prefix)
        self._deadline = self._options.connect_timeout + self._options.command_timeout
        self._pool: Any = None
        self._opening = asyncio.Lock()
        self._writes = 0
        self._purger: asyncio.Task[None] | None = None
        self._near: NearCache | None = None
        if near_cache_enabled(near_cache):
            feed = pg_feed(self._options.url, prefix, self._options.connect_timeout, self._open)
            self._near = NearCache(feed, self._read, self._fill, self._deadline, "PostgreSQL")

    @property
    def table_prefix(self) -> str:
        """What the names of the store's two tables start with."""
        return self._options.table_prefix

    @property
    def pool_size(self) -> int:
        """The most connections the store opens at once."""
        return self._options.pool_size

    async def get(self, key: str) -> bytes | None:
        """The value under ``key``, or ``None`` when absent or expired."""
        if self._near is not None and key.startswith(SESSION_KEYS):
            return await self._near.get(key)
        return await self._read(key)

    async def _read(self, key: str) -> bytes | None:
        return _as_bytes(await self._fetchval("get", key))

    async def _fill(self, key: str) -> tuple[bytes | None, float]:
        """The near-cache's read: the value and when it expires, on the monotonic clock."""
        started = time.monotonic()
        row = await self._fetchrow("fill", key)
        if row is None:
            return None, math.inf  # nothing to cache
        value, remaining = _as_bytes(row[0]), row[1]
        if not isinstance(remaining, float):
            raise StoreUnavailable("the session store answered with an unexpected type")
        # Counted from before the statement was sent, so never later than the row's expiry.
        return value, started + remaining

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        """Store ``value`` under ``key`` for ``ttl`` seconds, replacing any old value."""
        if not ttl > 0:
            await self.delete(key)
            return
        await self._write(key, "set", bytes(value), _seconds(ttl))
        self._count_write()

    async def delete(self, key: str) -> None:
        """Remove ``key``; absent keys are fine."""
        await self._write(key, "delete")

    async def take(self, key: str) -> bytes | None:
        """Read and remove ``key`` in one ``DELETE ... RETURNING``; an expired value is
        removed, not returned."""
        row = await self._write(key, "take", row=True)
        return _as_bytes(row[0]) if row is not None and row[1] else None

    async def add(self, key: str, value: bytes, ttl: float) -> bool:
        """Store ``value`` only if ``key`` is absent or expired; whether it was stored."""
        if not ttl > 0:
            return False
        stored = await self._write(key, "add", bytes(value), _seconds(ttl))
        self._count_write()
        session = leased_session(key)
        if stored is not None and session is not None and self._near is not None:
            self._near.written(session)  # the holder re-reads from the database
        return stored is not None

    async def replace(self, key: str, value: bytes, ttl: float) -> bool:
        """Store ``value`` only if ``key`` holds a live value; one statement, so atomic."""
        if not ttl > 0:
            return bool(await self._write(key, "remove_live"))
        return await self._write(key, "replace", bytes(value), _seconds(ttl)) is not None

    async def delete_if(self, key: str, value: bytes) -> bool:
        """Delete ``key`` only if it holds ``value`` and has not expired; whether it did.

        A matching row that has expired is deleted too, but reported as not found.
        """
        return bool(await self._write(key, "delete_if", bytes(value)))

    async def _write(self, key: str, name: str, *args: object, row: bool = False) -> Any:
        """A write of ``key``: this process's cached copy goes once the database has answered,
        or the call failed (it may still have reached the database)."""
        try:
            if row:
                return await self._fetchrow(name, key, *args)
            return await self._fetchval(name, key, *args)
        finally:
            if self._near is not None:
                self._near.written(key)

    async def index_add(self, key: str, member: str, ttl: float) -> None:
        """Add ``member`` to the set ``key`` until ``ttl`` seconds from now (an upsert)."""
        if not ttl > 0:
            return
        await self._execute("index_add", key, member, _seconds(ttl))
        self._count_write()

    async def index_members(self, key: str) -> list[str]:
        """The live members of the set ``key``."""
        rows = await self._run(lambda conn: conn.fetch(self._sql["index_members"], key))
        return [str(row[0]) for row in rows]

    async def index_discard(self, key: str, member: str) -> None:
        """Remove ``member`` from the set ``key``."""
        await self._execute("index_discard", key, member)

    async def ping(self) -> None:
        """``SELECT 1`` on a pooled connection (opening one, and the tables, if need be)."""
        await self._run(lambda conn: conn.fetchval("SELECT 1"))

    async def close(self) -> None:
        """Stop the near-cache and the purge and close the pool; a later call opens a new
        one."""
        if self._near is not None:
            await self._near.close()
        purger, self._purger = self._purger, None
        if purger is not None:
            purger.cancel()
            await asyncio.gather(purger, return_exceptions=True)
        pool, self._pool = self._pool, None
        if pool is None:
            return
        try:
            async with asyncio.timeout(_CLOSE_TIMEOUT):
                await pool.close()
        except _UNAVAILABLE:
            # Calls still in flight past the timeout, or a connection already broken (asyncpg
            # terminates the pool itself when close() is cancelled).
            pool.terminate()

    # -- one statement on a pooled connection, bounded -------------------------------------

    async def _execute(self, name: str, *args: object) -> None:
        await self._run(lambda conn: conn.execute(self._sql[name], *args))

    async def _fetchval(self, name: str, *args: object) -> object:
        return await self._run(lambda conn: conn.fetchval(self._sql[name], *args))

    async def _fetchrow(self, name: str, *args: object) -> Any:
        return await self._run(lambda conn: conn.fetchrow(self._sql[name], *args))

    async def _run(self, statement: Callable[[Any], Awaitable[_T]]) -> _T:
        try:
            async with asyncio.timeout(self._deadline):
                pool = await self._open() if self._pool is None else self._pool
                conn = await pool.acquire()
                try:
                    return await statement(conn)
                except BaseException:
                    # Cancelled or failed halfway: the connection's state is unknown, so it
                    # is dropped, at once, rather than reset (which would wait on the server).
                    conn.terminate()
                    raise
                finally:
                    await pool.release(conn)
        except _UNAVAILABLE as exc:
            log.warning("the PostgreSQL session store failed: %s", type(exc).__name__)
            raise StoreUnavailable("the session store did not answer") from None

    async def _open(self) -> Any:
        """The pool, created with the tables on the first call (and again after a failure)."""
        async with self._opening:
            if self._pool is not None:
                return self._pool
            options = self._options
            pool = await asyncpg.create_pool(
                options.url,
                min_size=0,
                max_size=options.pool_size,
                timeout=options.connect_timeout,
                command_timeout=None,  # each call's deadline covers its statement
                max_inactive_connection_lifetime=300,
                reset=_keep_as_is,
                server_settings={"application_name": "oidc_kit"},
            )
            try:
                async with pool.acquire() as conn:
                    await self._create_tables(conn)
            except BaseException:
                pool.terminate()
                raise
            self._pool = pool
            return pool

    async def _create_tables(self, conn: Any) -> None:
        prefix = self._options.table_prefix
        present = await self._tables_present(conn)
        if present and await triggers_present(conn, prefix):
            return  # made beforehand (perhaps by a DBA): CREATE rights are not needed
        try:
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1)", _SCHEMA_LOCK)
                if await self._tables_present(conn) and await triggers_present(conn, prefix):
                    return  # another instance made them while we waited for the lock
                for statement in schema_statements(prefix):
                    await conn.execute(statement)
        except asyncpg.PostgresError as exc:
            if not present:
                raise
            # Tables of an earlier version (or a DBA's) without the notify triggers, and a
            # user that may not add them: the store works, its near-cache stays off.
            log.warning(
                "the PostgreSQL session store could not add its notify triggers (%s): the"
                " near-cache stays off until the tables' owner runs schema_statements()",
                type(exc).__name__,
            )

    async def _tables_present(self, conn: Any) -> bool:
        prefix = self._options.table_prefix
        present = await conn.fetchval(
            "SELECT to_regclass($1) IS NOT NULL AND to_regclass($2) IS NOT NULL",
            f'"{prefix}kv"',
            f'"{prefix}idx"',
        )
        return present is True

    # -- purging expired rows --------------------------------------------------------------

    def _count_write(self) -> None:
        self._writes += 1
        if self._writes % _PURGE_EVERY == 0 and (self._purger is None or self._purger.done()):
            # In the background: the request that happened to be the hundredth write does not
            # wait for it, and one purge at a time per store.
            self._purger = detached_task(self._purge_expired(), name="oidc_kit purge")

    async def _purge_expired(self) -> None:
        try:
            await self._execute("purge_kv", _PURGE_LIMIT)
            await self._execute("purge_idx", _PURGE_LIMIT)
        except StoreUnavailable:
            pass  # logged by _run; the next purge will try again


async def _keep_as_is(conn: object) -> None:
    """The pool's reset hook: nothing. The store never changes a connection's session state
    (no ``LISTEN``, ``SET`` or advisory lock outlives a statement), so asyncpg's default reset
    query would be a wasted round trip on every call."""


def _parse_options(url: str, defaults: Mapping[str, object]) -> _Options:
    """The store's options (from the URL's query, else ``defaults``) and the URL for asyncpg,
    without them. Messages name the option, never the URL."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError on a port that is not a number)
    except ValueError:
        raise ConfigurationError("SESSION_STORE is not a valid PostgreSQL URL") from None
    if parts.scheme not in ("postgresql", "postgres"):
        raise ConfigurationError("a PostgreSQL URL starts with postgresql:// or postgres://")
    query = parse_qsl(parts.query, keep_blank_values=True)
    given = {name: value for name, value in query if name in _OWN_OPTIONS}
    rest = [(name, value) for name, value in query if name not in _OWN_OPTIONS]
    values = {name: given.get(name, defaults[name]) for name in _OWN_OPTIONS}
    prefix = str(values["table_prefix"])
    if not _TABLE_PREFIX.fullmatch(prefix):
        raise ConfigurationError(
            "table_prefix must be lower-case letters, digits and underscores, e.g. oidc_kit_"
        )
    return _Options(
        url=urlunsplit(parts._replace(query=urlencode(rest))),
        table_prefix=prefix,
        pool_size=int(_positive("pool_size", values["pool_size"], integer=True)),
        connect_timeout=_positive("connect_timeout", values["connect_timeout"]),
        command_timeout=_positive("command_timeout", values["command_timeout"]),
    )


def _positive(name: str, value: object, *, integer: bool = False) -> float:
    try:
        number = int(str(value)) if integer else float(str(value))
    except ValueError:
        number = 0
    if not 0 < number < float("inf"):
        kind = "a positive whole number" if integer else "a positive number of seconds"
        raise ConfigurationError(f"the PostgreSQL store's {name} must be {kind}")
    return number


def _seconds(ttl: float) -> float:
    """A positive TTL, capped so that the expiry timestamp stays in range."""
    return min(ttl, _MAX_TTL_SECONDS)


def _as_bytes(value: object) -> bytes | None:
    # bytea comes back as bytes; anything else is a table some other writer changed.
    if value is None or isinstance(value, bytes):
        return value
    raise StoreUnavailable("the session store answered with an unexpected type")
