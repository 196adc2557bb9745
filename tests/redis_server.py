"""A real Redis for the tests: the ``redis_url`` fixture, and servers tests start themselves.

``redis_url`` (session-scoped) is, in order: ``$REDIS_URL``; the machine's own server at
``redis://127.0.0.1:6379/0`` if it answers PING; a ``redis-server`` of our own on a free port
when the binary is on PATH (stopped at the end of the session). With none of these the tests
that need Redis fail under ``CI=true`` and are skipped otherwise.

The server may be shared: tests use their own key prefix (:func:`unique_prefix`) and delete
their keys afterwards, and never stop a server they did not start.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote, urlencode

import pytest
import redis

from oidc_kit.testing import TestCA
from tests.servers import free_port

__all__ = [
    "TLS_USERS",
    "ClusterSetup",
    "RedisServer",
    "SentinelSetup",
    "TLSFiles",
    "TLSRedisServer",
    "delete_prefixed",
    "redis_cluster",
    "redis_sentinel",
    "redis_tls",
    "redis_url",
    "require_redis_server",
    "require_tls_redis_server",
    "unique_prefix",
    "write_tls_files",
]

LOCAL_URL = "redis://127.0.0.1:6379/0"
_RUN_ID = uuid.uuid4().hex[:12]


def unique_prefix() -> str:
    """A key prefix no other test, run or user of a shared server has."""
    return f"oidc_kit_test:{_RUN_ID}:{uuid.uuid4().hex[:12]}:"


def answers_ping(url: str, timeout: float = 0.5) -> bool:
    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


def delete_prefixed(url: str, prefix: str) -> None:
    """Delete every key under ``prefix`` (cleanup after a test on a shared server)."""
    client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    try:
        keys = list(client.scan_iter(match=prefix + "*", count=500))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def require_redis_server() -> str:
    """The ``redis-server`` binary; without it fail under ``CI=true``, else skip."""
    binary = shutil.which("redis-server")
    if binary is None:
        _missing("redis-server is not on PATH")
    assert binary is not None
    return binary


def _missing(why: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{why}; CI needs a real Redis", pytrace=False)
    pytest.skip(why)


class RedisServer:
    """A ``redis-server`` process of our own on a loopback port, which tests may stop.

    ``persist=True`` writes an append-only file (fsync on every write) in a private
    directory, so data survives a kill and restart, as with a production Redis.
    ``password`` makes the server require it (and puts it in ``url``).
    """

    def __init__(
        self,
        port: int | None = None,
        *,
        persist: bool = False,
        password: str | None = None,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.binary = require_redis_server()
        self.port = port if port is not None else free_port()
        auth = f":{password}@" if password else ""
        self.url = f"redis://{auth}127.0.0.1:{self.port}/0"
        self._password = password
        self._dir = tempfile.mkdtemp(prefix="oidc_kit_redis_")
        self._persist = persist
        self._extra_args = list(extra_args)
        self._proc: subprocess.Popen[bytes] | None = None

    def client(self) -> redis.Redis:
        """A plain synchronous client to this server (the test's side channel)."""
        return redis.Redis(
            port=self.port, password=self._password, socket_timeout=5, socket_connect_timeout=5
        )

    def start(self, timeout: float = 10.0) -> None:
        args = [self.binary, *self._listen_args(), "--bind", "127.0.0.1"]
        args += ["--save", "", "--dir", self._dir, "--daemonize", "no"]
        if self._persist:
            args += ["--appendonly", "yes", "--appendfsync", "always"]
        else:
            args += ["--appendonly", "no"]
        if self._password:
            args += ["--requirepass", self._password]
        args += self._extra_args
        self._proc = subprocess.Popen(  # noqa: S603  (our own argv, no shell)
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self._dir
        )
        deadline = time.monotonic() + timeout
        while not answers_ping(self.url, timeout=0.2):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server did not start on port {self.port}")
            time.sleep(0.02)

    def _listen_args(self) -> list[str]:
        return ["--port", str(self.port)]

    def kill(self) -> None:
        """Stop the server abruptly (``SIGKILL``), as a crash would."""
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait(timeout=10)
            self._proc = None

    def pause(self) -> None:
        """Freeze the server (``SIGSTOP``): it accepts connections but answers nothing."""
        assert self._proc is not None
        self._proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self._proc is not None
        self._proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.send_signal(signal.SIGCONT)  # a paused server cannot act on SIGTERM
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=10)
            self._proc = None
        shutil.rmtree(self._dir, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """The URL of a Redis server the tests may write to (under their own key prefix)."""
    url = os.environ.get("REDIS_URL")
    if url:
        if not answers_ping(url, timeout=2.0):
            _missing("REDIS_URL is set but its server does not answer PING")
        yield url
        return
    if answers_ping(LOCAL_URL):
        yield LOCAL_URL
        return
    if shutil.which("redis-server") is None:
        _missing(f"no Redis: REDIS_URL unset, nothing at {LOCAL_URL}, no redis-server on PATH")
    server = RedisServer()
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


# --- topologies: Sentinel and Cluster -----------------------------------------------------------


def _wait_for(what: str, check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except (redis.RedisError, OSError):
            pass  # not up yet
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)


#: A full resync starts at once (redis-server waits 5 s for more replicas by default).
_SYNC_NOW = ("--repl-diskless-sync-delay", "0")

#: ``redis-cli --cluster create`` options: one replica per master, no question asked.
_CLUSTER_CREATE = ("--cluster-replicas", "1", "--cluster-yes")


def _port_if_master(server: RedisServer) -> int | None:
    return server.port if _role(server) == "master" else None


def _role(server: RedisServer) -> str:
    client = server.client()
    try:
        return str(client.execute_command("ROLE")[0].decode())
    finally:
        client.close()


class SentinelSetup:
    """A master, a replica and three sentinels (``redis-server --sentinel``) on loopback ports.

    Data nodes require ``password``; sentinels require ``sentinel_password`` (and use it among
    themselves). Failures are detected after ``down_after_ms``.
    """

    service = "oidc_kit_test"
    password = "data-pw-s3cret"
    sentinel_password = "sentinel-pw-s3cret"

    def __init__(self, down_after_ms: int = 1000) -> None:
        self.binary = require_redis_server()
        auth = ["--masterauth", self.password, *_SYNC_NOW]
        self.nodes = [RedisServer(password=self.password, extra_args=auth) for _ in range(2)]
        self.sentinel_ports = [free_port() for _ in range(3)]
        self._down_after_ms = down_after_ms
        self._dir = tempfile.mkdtemp(prefix="oidc_kit_sentinel_")
        self._sentinels: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)
        query = f"sentinel_password={self.sentinel_password}"
        return f"redis+sentinel://:{self.password}@{hosts}/{self.service}/0?{query}"

    def sentinel(self, index: int = 0) -> redis.Redis:
        return redis.Redis(
            port=self.sentinel_ports[index],
            password=self.sentinel_password,
            socket_timeout=5,
            socket_connect_timeout=5,
        )

    def start(self) -> None:
        master, replica = self.nodes
        master.start()
        replica._extra_args += ["--replicaof", "127.0.0.1", str(master.port)]
        replica.start()
        _wait_for("the replica to sync", lambda: self._replica_in_sync(master))
        for port in self.sentinel_ports:
            self._start_sentinel(port, master.port)
        _wait_for("the sentinels to know each other and the replica", self._all_ready)

    def _replica_in_sync(self, master: RedisServer) -> bool:
        client = master.client()
        try:
            info = client.info("replication")
            return bool(info.get("connected_slaves") == 1 and info["slave0"]["state"] == "online")
        finally:
            client.close()

    def _start_sentinel(self, port: int, master_port: int) -> None:
        conf = os.path.join(self._dir, f"sentinel-{port}.conf")
        with open(conf, "w", encoding="utf-8") as out:
            out.write(
                f"port {port}\nbind 127.0.0.1\ndir {self._dir}\n"
                f"requirepass {self.sentinel_password}\n"
                f"sentinel monitor {self.service} 127.0.0.1 {master_port} 2\n"
                f"sentinel auth-pass {self.service} {self.password}\n"
                f"sentinel sentinel-pass {self.sentinel_password}\n"
                f"sentinel down-after-milliseconds {self.service} {self._down_after_ms}\n"
                f"sentinel failover-timeout {self.service} 10000\n"
            )
        self._sentinels.append(
            subprocess.Popen(  # noqa: S603  (our own argv, no shell)
                [self.binary, conf, "--sentinel"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                cwd=self._dir,
            )
        )

    def _all_ready(self) -> bool:
        return all(self._ready(index) for index in range(len(self.sentinel_ports)))

    def _ready(self, index: int) -> bool:
        client = self.sentinel(index)
        try:
            others = client.execute_command("SENTINEL", "SENTINELS", self.service)
            replicas = client.execute_command("SENTINEL", "REPLICAS", self.service)
            return len(others) == 2 and len(replicas) == 1
        finally:
            client.close()

    def master_port(self) -> int:
        client = self.sentinel()
        try:
            _, port = client.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.service)
            return int(port)
        finally:
            client.close()

    def master(self) -> RedisServer:
        port = self.master_port()
        return next(node for node in self.nodes if node.port == port)

    def failover(self) -> None:
        """``SENTINEL FAILOVER``; returns once the replica is master and the sentinels say so."""
        old = self.master()
        new = next(node for node in self.nodes if node is not old)
        client = self.sentinel()
        try:
            client.execute_command("SENTINEL", "FAILOVER", self.service)
        finally:
            client.close()
        _wait_for("the promotion", lambda: self.master_port() == new.port == _port_if_master(new))

    def settle(self) -> None:
        """Return once the set-up is whole again after a failover: the old master (which the
        sentinels demote only on their next look, up to 10 s later) told now to follow the new
        one, in sync, and every sentinel knowing it as the replica."""
        master = self.master()
        for node in self.nodes:
            if node is not master and _role(node) == "master":
                client = node.client()
                try:
                    client.execute_command("REPLICAOF", "127.0.0.1", master.port)
                finally:
                    client.close()
        _wait_for("the replica to sync", lambda: self._replica_in_sync(master))
        _wait_for("the sentinels to know each other and the replica", self._all_ready)

    def stop(self) -> None:
        for proc in self._sentinels:
            proc.terminate()
        for proc in self._sentinels:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        self._sentinels = []
        for node in self.nodes:
            node.stop()
        shutil.rmtree(self._dir, ignore_errors=True)


def free_cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free too."""
    while True:
        port = free_port()
        if port + 10000 < 65536:
            with socket.socket() as sock:
                try:
                    sock.bind(("127.0.0.1", port + 10000))
                except OSError:
                    continue
            return port


class ClusterSetup:
    """A Redis Cluster of ``masters`` masters, each with one replica, on loopback ports.

    Built with ``redis-cli --cluster create``; nodes are judged failed after ``node_timeout_ms``.
    """

    def __init__(self, masters: int = 3, node_timeout_ms: int = 1000) -> None:
        args = ["--cluster-enabled", "yes", "--cluster-node-timeout", str(node_timeout_ms)]
        args += ["--maxmemory", "64mb", *_SYNC_NOW]
        self.nodes = [RedisServer(free_cluster_port(), extra_args=args) for _ in range(2 * masters)]

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in self.nodes[:2])

    def start(self) -> None:
        for node in self.nodes:
            node.start()
        cli = shutil.which("redis-cli")
        if cli is None:
            _missing("redis-cli is not on PATH")
        addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
        subprocess.run(  # noqa: S603  (our own argv, no shell)
            [cli or "redis-cli", "--cluster", "create", *addresses, *_CLUSTER_CREATE],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            timeout=60,
        )
        _wait_for("the cluster to agree", self._agreed)

    def _agreed(self) -> bool:
        for node in self.nodes:
            client = node.client()
            try:
                info = client.execute_command("CLUSTER", "INFO").decode()
                if "cluster_state:ok" not in info:
                    return False
                if f"cluster_known_nodes:{len(self.nodes)}" not in info:
                    return False
                if _role(node) == "slave":
                    link = client.info("replication")["master_link_status"]
                    if link != "up":
                        return False
            finally:
                client.close()
        return True

    def owner_of(self, key: str) -> RedisServer:
        """The master that holds ``key``'s slot."""
        client = self.nodes[0].client()
        try:
            slot = int(client.execute_command("CLUSTER", "KEYSLOT", key))
            for start, end, master, *_ in client.execute_command("CLUSTER", "SLOTS"):
                if start <= slot <= end:
                    return next(n for n in self.nodes if n.port == int(master[1]))
        finally:
            client.close()
        raise AssertionError(f"no master owns the slot of {key}")

    def replica_of(self, master: RedisServer) -> RedisServer:
        for node in self.nodes:
            client = node.client()
            try:
                info = client.info("replication")
            finally:
                client.close()
            if info.get("role") == "slave" and int(info["master_port"]) == master.port:
                return node
        raise AssertionError(f"no replica of {master.port}")

    def failover(self, key: str) -> None:
        """``CLUSTER FAILOVER`` on the replica of ``key``'s master; returns once it serves."""
        old = self.owner_of(key)
        new = self.replica_of(old)
        client = new.client()
        try:
            client.execute_command("CLUSTER", "FAILOVER")
        finally:
            client.close()
        _wait_for("the promotion", lambda: _role(new) == "master" and self.owner_of(key) is new)
        _wait_for("the cluster to agree", self._agreed)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


@pytest.fixture(scope="session")
def redis_sentinel() -> Iterator[SentinelSetup]:
    """A master, a replica and three sentinels of the session's own (started once)."""
    setup = SentinelSetup()
    try:
        setup.start()
        yield setup
    finally:
        setup.stop()


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[ClusterSetup]:
    """A 3-master cluster with one replica each, of the session's own (started once)."""
    setup = ClusterSetup()
    try:
        setup.start()
        yield setup
    finally:
        setup.stop()


# --- TLS and ACL users ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TLSFiles:
    """PEM files of a throwaway CA and of a server certificate it signed for 127.0.0.1."""

    ca: str
    cert: str
    key: str


def write_tls_files(directory: str, name: str = "oidc_kit test CA") -> TLSFiles:
    """A new CA (its own key, thrown away) and a server certificate for ``127.0.0.1`` and
    ``localhost`` (SAN), valid for a day, written to ``directory``; nothing is ever committed.
    Made by the kit's one test CA maker (:class:`oidc_kit.testing.TestCA`, which mutual TLS
    uses too)."""
    ca = TestCA(name)
    cert, key = ca.server().write(directory, "server")
    return TLSFiles(ca.write(directory), cert, key)


def _write(path: str, data: bytes) -> None:
    with open(path, "wb") as out:
        out.write(data)


def require_tls_redis_server() -> str:
    """The ``redis-server`` binary, built with TLS; otherwise fail under ``CI=true``, else skip.

    A build without TLS refuses ``tls-port`` as an unknown directive (a TLS build, given no
    port at all, says it is configured to listen nowhere and exits).
    """
    binary = require_redis_server()
    probe = subprocess.run(  # noqa: S603  (our own argv, no shell)
        [binary, "--port", "0", "--tls-port", "0"],
        capture_output=True,
        stdin=subprocess.DEVNULL,
        timeout=10,
        check=False,
    )
    if b"FATAL CONFIG" in probe.stdout + probe.stderr:
        _missing("redis-server was built without TLS")
    return binary


class TLSRedisServer(RedisServer):
    """A ``redis-server`` that listens on TLS only (no plain port) and knows only ACL users.

    ``users`` maps a user name to its password and ACL rules (``~keys &channels +@commands``);
    the default user is off, so every connection must ``AUTH`` as one of them. Clients need not
    show a certificate. The CA and certificates are made at start-up in the server's private
    directory (:func:`write_tls_files`), and removed with it.
    """

    def __init__(self, users: Mapping[str, tuple[str, str]]) -> None:
        require_tls_redis_server()
        super().__init__()
        self.users = dict(users)
        self.tls = write_tls_files(os.path.join(self._dir, "tls"))
        acl = os.path.join(self._dir, "users.acl")
        lines = ["user default off resetkeys resetchannels -@all"]
        lines += [f"user {name} on >{pw} {rules}" for name, (pw, rules) in self.users.items()]
        _write(acl, ("\n".join(lines) + "\n").encode())
        self._extra_args += ["--aclfile", acl]
        first = next(iter(self.users))
        self.url = self.url_for(first)

    def url_for(self, user: str, password: str | None = None, ca: str | None = None) -> str:
        """A ``rediss://`` URL as ``user`` (with its own password unless ``password`` is given),
        trusting ``ca`` (this server's own CA by default)."""
        secret = self.users[user][0] if password is None else password
        query = urlencode({"ssl_ca_certs": ca or self.tls.ca})
        return f"rediss://{quote(user)}:{quote(secret)}@127.0.0.1:{self.port}/0?{query}"

    def client(self) -> redis.Redis:
        """A plain synchronous client over TLS, as the first user (the test's side channel)."""
        name = next(iter(self.users))
        return redis.Redis(
            port=self.port,
            username=name,
            password=self.users[name][0],
            ssl=True,
            ssl_ca_certs=self.tls.ca,
            socket_timeout=5,
            socket_connect_timeout=5,
        )

    def _listen_args(self) -> list[str]:
        tls = ["--tls-cert-file", self.tls.cert, "--tls-key-file", self.tls.key]
        tls += ["--tls-ca-cert-file", self.tls.ca, "--tls-auth-clients", "no"]
        return ["--port", "0", "--tls-port", str(self.port), *tls]


#: The users of :func:`redis_tls`: name -> (password, ACL rules). ``app`` may do what the store
#: and its near-cache do; the other two lack what only the near-cache's listener needs: the
#: ``CLIENT`` command, or any Pub/Sub channel.
TLS_USERS = {
    "app": ("app-pw-Tls-s3cret", "~oidc_kit_test:* ~oidc_kit:* &* +@all"),
    "nochannels": ("nochannels-pw-s3cret", "~oidc_kit_test:* resetchannels +@all"),
    "noclient": ("noclient-pw-s3cret", "~oidc_kit_test:* &* +@all -client"),
}


@pytest.fixture(scope="session")
def redis_tls() -> Iterator[TLSRedisServer]:
    """A TLS-only redis-server with the ACL users of :data:`TLS_USERS` (started once)."""
    server = TLSRedisServer(TLS_USERS)
    try:
        server.start()
        yield server
    finally:
        server.stop()
