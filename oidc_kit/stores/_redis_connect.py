"""Building the redis-py client of a :class:`~oidc_kit.stores.RedisStore` from a URL.

One Redis, a Sentinel-watched master, or a Cluster, each with or without TLS::

    redis://[[user]:password@]host[:port][/db][?option=value...]
    rediss://...                                      (TLS)
    redis+sentinel://[[user]:password@]host[:port][,host[:port]...]/service[/db][?option=value...]
    rediss+sentinel://...                             (TLS to the sentinels and the master)
    redis+cluster://[[user]:password@]host[:port][,host[:port]...][?option=value...]
    rediss+cluster://...                              (TLS to every node)

The user and password (ACL, or ``requirepass`` with no user) are those of the data nodes. A
Sentinel URL lists sentinels (port 26379 by default), never the master, which the sentinels
name; sentinels that require a password of their own get it as ``sentinel_password`` (and
``sentinel_username``) in the query. A Cluster URL lists a few nodes to discover the others
from (port 6379 by default); a cluster has one database, 0. Query options are redis-py's own
(``ssl_ca_certs``, ``ssl_certfile``, ``ssl_keyfile``, ``ssl_cert_reqs``, ``max_connections``,
...); ``decode_responses`` is refused, as values are opaque bytes.

Every client is built the store's way: bounded socket timeouts, and no command ever retried
by redis-py (a retried ``GETDEL`` or ``SET NX`` could lose a value or a lease). A Cluster client
still follows ``MOVED`` and ``ASK`` redirections, which are answers to a command the node did
not run. A message never repeats the URL: it may carry passwords.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote, urlsplit

from redis.asyncio import Redis, RedisCluster
from redis.asyncio.cluster import ClusterNode
from redis.asyncio.connection import SSLConnection, parse_url
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from .._errors import ConfigurationError

__all__ = ["SCHEMES", "RedisClient", "check_client", "redis_client"]

#: A client the store can use: one server or Sentinel-watched master (``Redis``), or a Cluster.
RedisClient = Redis | RedisCluster

#: Every URL scheme this module builds a client for.
SCHEMES = frozenset(
    {"redis", "rediss", "redis+sentinel", "rediss+sentinel", "redis+cluster", "rediss+cluster"}
)

#: Seconds an idle pooled connection may sit before redis-py PINGs it ahead of a command.
_HEALTH_CHECK_INTERVAL = 30

_SENTINEL_PORT = 26379
_REDIS_PORT = 6379

#: Query options meant for the sentinels themselves, not for the master.
_SENTINEL_AUTH = ("sentinel_username", "sentinel_password")

#: The generic message of every URL we cannot use: it names the setting, never its value.
_BAD_URL = "SESSION_STORE is not a valid Redis URL"

_DIGITS = re.compile(r"[0-9]*")


def redis_client(url: str, *, socket_timeout: float, connect_timeout: float) -> RedisClient:
    """A client for ``url`` (one of :data:`SCHEMES`); no connection is made yet.

    Raises :class:`~oidc_kit.ConfigurationError`, whose message never quotes the URL.
    """
    timeouts: dict[str, Any] = {
        "socket_timeout": socket_timeout,
        "socket_connect_timeout": connect_timeout,
        "retry": Retry(NoBackoff(), 0),
    }
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in SCHEMES:
            raise ConfigurationError("SESSION_STORE is not a redis://, +sentinel or +cluster URL")
        base, _, topology = scheme.partition("+")
        if topology == "sentinel":
            client: RedisClient = _sentinel_master(url, base, timeouts)
        elif topology == "cluster":
            client = _cluster(url, base, timeouts)
        else:
            client = _single(url, parts.path, timeouts)
    except (ValueError, TypeError, RedisError):
        # redis-py's messages may quote parts of the URL: do not pass them on.
        raise ConfigurationError(_BAD_URL) from None
    check_client(client)
    return client


def check_client(client: RedisClient) -> None:
    """Refuse a client that decodes replies: values are opaque bytes (sealed records)."""
    if client.get_encoder().decode_responses:
        raise ConfigurationError("SESSION_STORE must not set decode_responses")


def _single(url: str, path: str, timeouts: dict[str, Any]) -> Redis:
    _database(path)  # redis-py would quietly use database 0 for a path such as /sessions
    return Redis.from_url(url, health_check_interval=_HEALTH_CHECK_INTERVAL, **timeouts)


class _SentinelMaster(Redis):
    """The master's client, which also closes its connections to the sentinels."""

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await super().aclose(close_connection_pool)
        pool = self.connection_pool
        if isinstance(pool, SentinelConnectionPool):
            await pool.sentinel_manager.aclose()


def _sentinel_master(url: str, base: str, timeouts: dict[str, Any]) -> Redis:
    userinfo, hosts, path, query = _split(url)
    service, _, db = path.lstrip("/").partition("/")
    if not service:
        raise ConfigurationError("a Sentinel URL names its service: .../<service_name>[/<db>]")
    options = _options(base, userinfo, hosts[0], _database("/" + db), query)
    tls = options.pop("connection_class", None) is SSLConnection
    options.pop("host", None), options.pop("port", None)
    sentinel_options: dict[str, Any] = {
        name.removeprefix("sentinel_"): options.pop(name)
        for name in _SENTINEL_AUTH
        if name in options
    }
    sentinel_options.update((k, v) for k, v in options.items() if k.startswith("ssl_"))
    sentinel_options.update(timeouts, ssl=tls)  # the URL's timeouts are the master's
    sentinels = [_address(host, _SENTINEL_PORT) for host in hosts]
    manager = Sentinel(sentinels, sentinel_kwargs=sentinel_options)
    master: Redis = manager.master_for(
        unquote(service),
        redis_class=_SentinelMaster,
        # The URL's own options win, as with ``Redis.from_url``.
        **{"health_check_interval": _HEALTH_CHECK_INTERVAL, **timeouts, **options, "ssl": tls},
    )
    return master


def _cluster(url: str, base: str, timeouts: dict[str, Any]) -> RedisCluster:
    userinfo, hosts, path, query = _split(url)
    if _database(path) != 0:
        raise ConfigurationError("a Redis Cluster has one database, 0")
    options = _options(base, userinfo, hosts[0], 0, query)
    options.pop("host", None), options.pop("port", None), options.pop("db", None)
    if options.pop("connection_class", None) is SSLConnection:
        options["ssl"] = True
    nodes = [ClusterNode(*_address(host, _REDIS_PORT)) for host in hosts]
    return RedisCluster(startup_nodes=nodes, **{**timeouts, **options})


def _split(url: str) -> tuple[str, list[str], str, str]:
    """``(userinfo, [host[:port], ...], path, query)`` of a URL listing several hosts."""
    rest = url.partition("://")[2]
    rest, _, query = rest.partition("?")
    netloc, slash, path = rest.partition("/")
    userinfo, _, hostlist = netloc.rpartition("@")
    hosts = hostlist.split(",")
    if not all(hosts):
        raise ConfigurationError("a Redis URL lists at least one host, without empty entries")
    return userinfo, hosts, slash + path, query


def _address(host: str, default_port: int) -> tuple[str, int]:
    parts = urlsplit("//" + host)
    if not parts.hostname:
        raise ConfigurationError(_BAD_URL)
    return unquote(parts.hostname), parts.port or default_port


def _options(base: str, userinfo: str, host: str, db: int, query: str) -> dict[str, Any]:
    """redis-py's own reading of the credentials and query options (typed as it types them)."""
    auth = f"{userinfo}@" if userinfo else ""
    single = f"{base}://{auth}{host}/{db}" + (f"?{query}" if query else "")
    return dict(parse_url(single))


def _database(path: str) -> int:
    """The database number of a URL path (``""``, ``/`` or ``/<n>``)."""
    number = unquote(path).removeprefix("/")
    if not _DIGITS.fullmatch(number):
        raise ConfigurationError("a Redis URL's path must be a database number, e.g. /0")
    return int(number or 0)
