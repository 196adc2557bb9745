"""The PostgreSQL store's near-cache feed: ``LISTEN`` on a connection of its own.

A trigger on ``{prefix}kv`` (:func:`trigger_statements`, made with the tables) calls
``pg_notify('{prefix}kv', key)`` for every row of a ``session:`` key that is inserted, updated
or deleted, whoever writes it (the store's ``set``, ``delete``, ``take``, ``add``, ``replace``,
``delete_if``, its purge of expired rows, or any other tool), and ``pg_notify('{prefix}kv', '')``
(everything may have changed) after a ``TRUNCATE``. The triggers are ``ENABLE ALWAYS``, so a
session in ``session_replication_role = replica`` (a restore, a logical replication worker)
fires them too. One dedicated connection, opened by this module rather than taken from the
store's pool, runs ``LISTEN "{prefix}kv"``; the subscription and that connection share one
lifetime, so losing it cannot go unnoticed.

Delivery order, from PostgreSQL's source (``src/backend/commands/async.c``, the "Async
Notification Model" note at its top, and ``ProcessClientReadInterrupt`` in
``src/backend/tcop/postgres.c``):

- A writer's notices go into the shared queue before its commit record (``PreCommit_Notify``);
  after the commit it signals every listening backend of the database (``SignalBackends``,
  ``PROCSIG_NOTIFY_INTERRUPT``), and only then reports ``CommandComplete``/``ReadyForQuery``
  to its own client. The *delivery* to a listener is not part of that: the listener's backend
  sends ``NotificationResponse`` when the signal finds it idle, a few hundred microseconds
  later on an idle machine (tests/stores/test_postgres_near_cache.py prints the delay). So,
  unlike Redis, whose invalidation is written before the writer's reply, a writer's
  acknowledgement may reach its client before the notice reaches another instance: a read
  on that other instance in the interval can still be a hit on the old value.
- Notices are delivered in the order of their commits: one queue for the whole cluster,
  which each listening backend reads in order, sending its client the entries of the
  channels it listens on.

So the heartbeat is a notice of the link's own: the link also ``LISTEN``s on a channel only it
knows (``oidc_kit_hb_`` and random hex), and each heartbeat is one statement on the link's
connection, ``pg_notify`` on that channel plus a check that the three triggers are still
there and enabled (``pg_trigger``). The heartbeat is answered when its notice comes back on
the link, not when the statement returns: by then every notice committed before it has been
delivered here, including that of every write *acknowledged* before the heartbeat was sent.
That is the rule the near-cache's lease needs: a write acknowledged to anyone is seen here
within the notice's delay, and never later than ``LEASE`` after its acknowledgement, even if
the listener's backend is frozen or its network silently gone. It also proves the ``LISTEN``
is still in force where the notices come from: behind a transaction-mode pooler (PgBouncer),
where ``LISTEN`` and later statements can land on different server connections, or after an
``UNLISTEN``, no heartbeat comes back and the cache stays off (connect the store, or at least
its listener, to PostgreSQL directly or through a session-mode pool). A trigger dropped or
disabled (``ALTER TABLE ... DISABLE TRIGGER``, the table dropped and made again by an older
version) ends the subscription, and the cache is off until a new one finds the triggers
again.

A notice is applied as asyncpg parses it, in the socket's I/O callback. asyncpg hands
notifications to ``add_listener`` callbacks with ``loop.call_soon``, one round of the event
loop later; on a saturated process that round is milliseconds, and a hit served in it would
find the socket already read and the notice not yet applied. So the link's connection is a
subclass (``connect(connection_class=...)``, asyncpg's extension point) whose
``_process_notification``, the method asyncpg's protocol calls for every notification it
parses, hands it to the link first. That method is asyncpg's, not public: the link still
subscribes with the public ``add_listener`` and ignores those callbacks only once the direct
path has delivered, so an asyncpg that stopped calling it would cost the loop round, never a
notice (the tests would see the round, and the lease bounds any loss). A hit that finds bytes
waiting on the socket (:meth:`ListenLink.unread`) lets the loop read them before it looks
again (``_near_cache._next_io_round``).
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import select
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg  # type: ignore[import-untyped]

from ._near_cache import SESSION_KEYS, Feed, FeedRefused, FeedSink

__all__ = [
    "TRIGGERS",
    "ListenLink",
    "channel_name",
    "pg_feed",
    "trigger_statements",
    "triggers_present",
]

#: The three triggers on ``{prefix}kv``: new row values, old row values, ``TRUNCATE``.
TRIGGERS = ("oidc_kit_notify_new", "oidc_kit_notify_old", "oidc_kit_notify_all")

#: Whether the triggers are all there and fire in every session (``ENABLE ALWAYS``); ``$1`` is
#: the quoted table name, ``$2`` :data:`TRIGGERS`.
_TRIGGERS_PRESENT = (
    "SELECT count(*) = 3 FROM pg_catalog.pg_trigger"
    " WHERE tgrelid = to_regclass($1) AND tgname = ANY($2::text[]) AND tgenabled = 'A'"
)


def channel_name(table_prefix: str) -> str:
    """The ``NOTIFY`` channel of a table prefix's changes: its ``kv`` table's name."""
    return f"{table_prefix}kv"


def trigger_statements(table_prefix: str) -> tuple[str, ...]:
    """The DDL of the notify function and triggers (part of ``schema_statements``)."""
    kv, channel = f'"{table_prefix}kv"', channel_name(table_prefix)
    function = f'"{table_prefix}notify"'
    like = f"'{SESSION_KEYS}%'"
    new, old, everything = TRIGGERS
    return (
        f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$"
        " BEGIN"
        " IF TG_LEVEL = 'STATEMENT' THEN PERFORM pg_catalog.pg_notify(TG_ARGV[0], '');"
        " ELSIF TG_ARGV[1] = 'new' THEN PERFORM pg_catalog.pg_notify(TG_ARGV[0], NEW.key);"
        " ELSE PERFORM pg_catalog.pg_notify(TG_ARGV[0], OLD.key);"
        " END IF;"
        " RETURN NULL;"
        " END $$",
        # CREATE OR REPLACE TRIGGER needs PostgreSQL 14; the store supports 13.
        f"DROP TRIGGER IF EXISTS {new} ON {kv}",
        f"CREATE TRIGGER {new} AFTER INSERT OR UPDATE ON {kv} FOR EACH ROW"
        f" WHEN (NEW.key LIKE {like}) EXECUTE FUNCTION {function}('{channel}', 'new')",
        f"DROP TRIGGER IF EXISTS {old} ON {kv}",
        f"CREATE TRIGGER {old} AFTER UPDATE OR DELETE ON {kv} FOR EACH ROW"
        f" WHEN (OLD.key LIKE {like}) EXECUTE FUNCTION {function}('{channel}', 'old')",
        f"DROP TRIGGER IF EXISTS {everything} ON {kv}",
        f"CREATE TRIGGER {everything} AFTER TRUNCATE ON {kv} FOR EACH STATEMENT"
        f" EXECUTE FUNCTION {function}('{channel}', 'all')",
        f"ALTER TABLE {kv} ENABLE ALWAYS TRIGGER {new}",
        f"ALTER TABLE {kv} ENABLE ALWAYS TRIGGER {old}",
        f"ALTER TABLE {kv} ENABLE ALWAYS TRIGGER {everything}",
    )


async def triggers_present(conn: Any, table_prefix: str) -> bool:
    """Whether ``{prefix}kv`` has the notify triggers, all enabled always."""
    found = await conn.fetchval(_TRIGGERS_PRESENT, f'"{table_prefix}kv"', list(TRIGGERS))
    return found is True


def pg_feed(
    url: str, table_prefix: str, connect_timeout: float, prepare: Callable[[], Awaitable[object]]
) -> Feed:
    """The near-cache feed of the tables of ``table_prefix`` at ``url``; ``prepare`` makes the
    store's tables (and triggers) first, as the store's first call would."""

    async def open_link(sink: FeedSink) -> ListenLink:
        await prepare()
        return await ListenLink.open(url, table_prefix, connect_timeout, sink)

    return open_link


#: The heartbeat: its own notice, and whether the triggers are all there and enabled always
#: (``$1`` the quoted table name, ``$2`` :data:`TRIGGERS`, ``$3`` the link's heartbeat channel,
#: ``$4`` this heartbeat's number).
_BEAT = (
    "SELECT pg_catalog.pg_notify($3, $4),"
    " (SELECT count(*) = 3 FROM pg_catalog.pg_trigger"
    " WHERE tgrelid = to_regclass($1) AND tgname = ANY($2::text[]) AND tgenabled = 'A')"
)


class _Connection(asyncpg.Connection):  # type: ignore[misc]  # asyncpg has no types
    """asyncpg's connection, telling the link of each notification as it is parsed."""

    __slots__ = ("parsed",)

    def _process_notification(self, pid: int, channel: str, payload: str) -> None:
        parsed: Callable[[str, str], None] | None = getattr(self, "parsed", None)
        if parsed is not None:
            parsed(channel, payload)
        super()._process_notification(pid, channel, payload)


class ListenLink:
    """The listener's connection, as a :class:`~oidc_kit.stores._near_cache.Subscription`."""

    def __init__(self, sink: FeedSink, table_prefix: str) -> None:
        self._sink = sink
        self._prefix = table_prefix
        self._channel = channel_name(table_prefix)
        #: The channel of this link's heartbeats, which no one else listens on.
        self._beat_channel = f"oidc_kit_hb_{secrets.token_hex(8)}"
        self._beats = itertools.count()
        #: The number of the heartbeat in flight, whose notice will answer it.
        self._awaited = ""
        self._conn: Any = None
        self._poll = select.poll()
        #: When the heartbeat in flight was sent (one at a time); ``None``: none in flight.
        self._ping_sent: float | None = None
        #: Set once a notice came through the connection's direct path (:meth:`parsed`):
        #: asyncpg's listener callbacks (:meth:`notified`) are then duplicates.
        self._direct = False
        self._heartbeat: asyncio.Task[None] | None = None
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.subscribed_at = 0.0

    @classmethod
    async def open(
        cls, url: str, table_prefix: str, connect_timeout: float, sink: FeedSink
    ) -> ListenLink:
        """Connect, ``LISTEN``, and check the triggers; :class:`FeedRefused` without them."""
        link = cls(sink, table_prefix)
        conn = await asyncpg.connect(
            url,
            timeout=connect_timeout,
            command_timeout=None,  # the lease bounds the heartbeat
            server_settings={"application_name": "oidc_kit_near_cache"},
            connection_class=_Connection,
        )
        conn.parsed = link.parsed
        link._conn = conn
        conn.add_termination_listener(link.ended_by)
        sock = conn._transport.get_extra_info("socket")
        if sock is not None:
            link._poll.register(sock.fileno(), select.POLLIN)
        try:
            # Notices committed after the LISTEN's own commit are delivered: the first lease
            # counts from before it was sent.
            link.subscribed_at = time.monotonic()
            await conn.add_listener(link._channel, link.notified)
            await conn.add_listener(link._beat_channel, link.notified)
            if not await triggers_present(conn, table_prefix):
                raise FeedRefused(
                    f"LISTEN: table {table_prefix}kv has no notify triggers (see schema_statements)"
                )
        except BaseException:
            link.close()
            raise
        return link

    # -- Subscription -------------------------------------------------------------------------

    def ping(self, now: float) -> None:
        """Send a heartbeat, unless one is still unanswered (its answer will extend the
        lease from its own send time)."""
        if self._ping_sent is not None:
            return
        if self._conn is None or self._conn.is_closed():
            raise ConnectionError("the near-cache connection is closed")
        self._ping_sent, self._awaited = now, str(next(self._beats))
        self._heartbeat = asyncio.ensure_future(self._beat(self._awaited))

    def oldest_unanswered(self, now: float) -> float:
        return now if self._ping_sent is None else self._ping_sent

    def unread(self) -> bool:
        """Whether bytes have arrived that asyncpg has not parsed yet (one ``poll``)."""
        return bool(self._poll.poll(0))

    def close(self) -> None:
        if self._conn is not None:
            self._conn.terminate()
        self.ended()

    # -- from the connection ------------------------------------------------------------------

    def parsed(self, channel: str, payload: str) -> None:
        """A notification, as asyncpg parses it (the direct path, :class:`_Connection`)."""
        self._direct = True
        self._apply(channel, payload)

    def notified(self, conn: object, pid: int, channel: str, payload: str) -> None:
        """A notification, a loop round after it was parsed (asyncpg's listener callback):
        applied only while the direct path has delivered nothing."""
        if not self._direct:
            self._apply(channel, payload)

    def _apply(self, channel: str, payload: str) -> None:
        """This link's heartbeat coming back, a session key, or anything else for "every key
        may have changed" (a ``TRUNCATE``)."""
        if channel == self._beat_channel:
            if self._ping_sent is not None and payload == self._awaited:
                sent_at, self._ping_sent = self._ping_sent, None
                self._sink.on_pong(self, sent_at)
            return
        if channel != self._channel:
            return
        self._sink.on_invalidate([payload] if payload.startswith(SESSION_KEYS) else None)

    def ended_by(self, conn: object) -> None:
        """asyncpg's termination listener: the server or the network closed the connection."""
        self.ended()

    def ended(self) -> None:
        """The connection is closed (by us, the server or the network)."""
        if self._heartbeat is not None and not self._heartbeat.done():
            self._heartbeat.cancel()
        if not self.lost.done():
            self.lost.set_result(None)
            self._sink.on_lost(self)

    async def _beat(self, number: str) -> None:
        """Send heartbeat ``number``; it is answered when its notice arrives (:meth:`notified`)."""
        table = f'"{self._prefix}kv"'
        try:
            row = await self._conn.fetchrow(
                _BEAT, table, list(TRIGGERS), self._beat_channel, number
            )
        except Exception:  # asyncpg's errors, or the connection gone: start over
            self.close()
            return
        if row is None or row[1] is not True:
            self.close()  # the triggers were dropped or disabled: notices may have stopped
