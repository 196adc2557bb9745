"""The Redis store's near-cache feed: ``CLIENT TRACKING`` over a connection of its own.

One dedicated connection, opened by this module rather than taken from redis-py's pool, does
``CLIENT ID``, ``CLIENT TRACKING ON REDIRECT <its own id> BCAST PREFIX <prefix>session:`` and
``SUBSCRIBE __redis__:invalidate``: Redis then publishes the name of every session key that is
written, deleted or expired, by anyone, on that connection, before it answers the writer. The
tracking and the subscription share that connection's one lifetime, so losing it cannot go
unnoticed (redis-py's own PubSub reconnects silently, which would lose invalidations). Its
heartbeat is ``PING``, whose ``PONG`` Redis sends after every invalidation it queued before.

The connection is an :class:`asyncio.Protocol` speaking RESP2: an invalidation is applied in
``data_received``, the moment its bytes are parsed, rather than after a hop to a task
(redis-py's parsers read from a stream in a task, so this module has a small parser of its
own). It speaks only what the listener needs: ``AUTH``, ``CLIENT``, ``SUBSCRIBE`` and ``PING``.

Which node a link goes to (one server; the master the sentinels name; each Cluster primary),
and how the feeds check that it is still the right one, is ``_redis_feeds.py``.
"""

from __future__ import annotations

import asyncio
import select
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from redis.asyncio.cluster import ClusterNode
from redis.asyncio.connection import ConnectionPool, SSLConnection, UnixDomainSocketConnection

from ._near_cache import FeedRefused, FeedSink

__all__ = [
    "CHANNEL",
    "RespError",
    "TrackingLink",
    "encode_command",
    "parse_replies",
]

#: Bytes of one reply that may wait for the rest of it before the link gives up (a larger
#: invalidation flushes the cache instead: see ``TrackingLink.data_received``).
MAX_PENDING = 256 * 1024

#: Where Redis publishes invalidations for a client that redirects them to a RESP2 connection.
CHANNEL = b"__redis__:invalidate"


class TrackingLink(asyncio.Protocol):
    """The listener's connection: a minimal RESP2 client that applies invalidations as they
    are parsed."""

    def __init__(self, owner: FeedSink) -> None:
        self._owner = owner
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None
        #: What to do with each expected reply, in order (Redis answers in order).
        self._expect: deque[Callable[[object], None]] = deque()
        self._pings: deque[float] = deque()
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.subscribed_at = 0.0
        self._poll = select.poll()

    @classmethod
    async def open(
        cls,
        pool: ConnectionPool | ClusterNode,
        owner: FeedSink,
        key_prefix: str,
        address: Any = None,
    ) -> TrackingLink:
        """Connect where ``pool`` (a connection pool, or a Cluster node) connects (TCP, TLS or
        a Unix socket), or to ``address`` (host, port) with ``pool``'s settings, authenticate
        and subscribe."""
        kwargs, loop = pool.connection_kwargs, asyncio.get_running_loop()
        link = cls(owner)
        if pool.connection_class is UnixDomainSocketConnection:
            await loop.create_unix_connection(lambda: link, kwargs["path"])
        else:
            # Never connected: only its TLS settings (redis-py's from the URL) are used.
            template = pool.connection_class(**kwargs)
            ssl = template.ssl_context.get() if isinstance(template, SSLConnection) else None
            host, port = address or (kwargs.get("host", "localhost"), kwargs.get("port", 6379))
            await loop.create_connection(lambda: link, host, int(port), ssl=ssl)
        password, username = kwargs.get("password"), kwargs.get("username")
        try:
            if password:
                await link.command("AUTH", *([username] if username else []), password)
            await link.subscribe(key_prefix)
        except BaseException:
            link.close()
            raise
        return link

    async def command(self, *args: str | bytes) -> object:
        """Send one command and wait for its reply (handshake only)."""
        reply: asyncio.Future[object] = asyncio.get_running_loop().create_future()

        def answered(value: object) -> None:
            if not reply.done():
                reply.set_result(value)

        self._send(args, answered)
        value = await reply
        if isinstance(value, RespError):
            # Only the error's code: Redis may echo a command's arguments in its message
            # ("unknown command 'AUTH', with args beginning with: ..."), a password among them.
            code = str(value).split(" ", 1)[0] or "error"
            words = [a if isinstance(a, str) else a.decode("ascii", "replace") for a in args[:2]]
            name = " ".join(words) if words[0] == "CLIENT" else words[0]
            raise RespError(f"{name} refused: {code}")
        return value

    async def subscribe(self, key_prefix: str) -> None:
        await self.command("CLIENT", "SETNAME", "oidc_kit_near_cache")
        own_id = await self.command("CLIENT", "ID")
        tracking = ("CLIENT", "TRACKING", "ON", "REDIRECT", str(own_id), "BCAST", "PREFIX")
        await self.command(*tracking, key_prefix)
        self.subscribed_at = time.monotonic()
        await self.command("SUBSCRIBE", CHANNEL)

    def ping(self, now: float) -> None:
        self._pings.append(now)
        self._send(("PING",), lambda _: self._owner.on_pong(self, self._pings.popleft()))

    def oldest_unanswered(self, now: float) -> float:
        return self._pings[0] if self._pings else now

    def unread(self) -> bool:
        """Whether bytes have arrived that ``data_received`` has not seen yet (one ``poll``)."""
        return bool(self._poll.poll(0))

    def close(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def _send(self, args: tuple[str | bytes, ...], on_reply: Callable[[object], None]) -> None:
        if self._transport is None or self._transport.is_closing():
            raise ConnectionError("the near-cache connection is closed")
        self._expect.append(on_reply)
        self._transport.write(encode_command(args))

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            self._poll.register(sock.fileno(), select.POLLIN)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        try:
            replies, used = parse_replies(self._buffer)
        except ValueError:
            self._give_up()  # not RESP2
            return
        if used == 0 and len(self._buffer) > MAX_PENDING:
            # One reply still incomplete past this size is a mass invalidation (a DEL of
            # thousands of sessions): re-parsing it from the start at every chunk would stall
            # the loop, so the cache is flushed and the listener starts over.
            self._give_up()
            return
        del self._buffer[:used]
        for reply in replies:
            self._dispatch(reply)

    def _give_up(self) -> None:
        """Flush everything (invalidations may have been lost in the bytes not applied) and
        drop this connection: the listener starts over."""
        self._buffer.clear()
        self._owner.on_invalidate(None)
        self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)
        self._owner.on_lost(self)

    def _dispatch(self, reply: object) -> None:
        if isinstance(reply, list) and len(reply) == 3 and reply[0] == b"message":
            if reply[1] == CHANNEL:
                self._owner.on_invalidate(_keys(reply[2]))
        elif self._expect:
            self._expect.popleft()(reply)


def _keys(payload: object) -> list[str] | None:
    """An invalidation's payload as key names; ``None`` (nil) means every key."""
    if not isinstance(payload, list):
        return None
    return [key.decode("utf-8", "surrogateescape") for key in payload if isinstance(key, bytes)]


class RespError(FeedRefused):
    """An error reply (``-ERR ...``) from Redis."""


class _Incomplete(Exception):
    """The buffer ends inside a reply: wait for more bytes."""


def encode_command(args: tuple[str | bytes, ...]) -> bytes:
    """``args`` as a RESP2 array of bulk strings."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg.encode() if isinstance(arg, str) else arg
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def parse_replies(buffer: bytes | bytearray) -> tuple[list[object], int]:
    """Every complete reply at the start of ``buffer``, and how many bytes they took.

    Bulk strings come back as ``bytes``, arrays as lists, nil as ``None``, errors as
    :class:`RespError`; ``ValueError`` for bytes that are not RESP2.
    """
    replies: list[object] = []
    used = 0
    try:
        while used < len(buffer):
            reply, used = _parse(buffer, used)
            replies.append(reply)
    except _Incomplete:
        pass
    return replies, used


def _parse(buffer: bytes | bytearray, pos: int) -> tuple[object, int]:
    end = buffer.find(b"\r\n", pos)
    if end < 0:
        raise _Incomplete
    kind, line, pos = buffer[pos : pos + 1], bytes(buffer[pos + 1 : end]), end + 2
    if kind == b"+":
        return line, pos
    if kind == b"-":
        return RespError(line.decode("utf-8", "replace")), pos
    if kind == b":":
        return int(line), pos
    if kind == b"$":
        size = int(line)
        if size < 0:
            return None, pos
        if len(buffer) < pos + size + 2:
            raise _Incomplete
        return bytes(buffer[pos : pos + size]), pos + size + 2
    if kind == b"*":
        count = int(line)
        if count < 0:
            return None, pos
        items: list[object] = []
        for _ in range(count):
            item, pos = _parse(buffer, pos)
            items.append(item)
        return items, pos
    raise ValueError("not a RESP2 reply")
