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
from collections.abc import Iterator

import pytest
import redis

__all__ = ["RedisServer", "delete_prefixed", "redis_url", "require_redis_server", "unique_prefix"]

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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
        self, port: int | None = None, *, persist: bool = False, password: str | None = None
    ) -> None:
        self.binary = require_redis_server()
        self.port = port if port is not None else free_port()
        auth = f":{password}@" if password else ""
        self.url = f"redis://{auth}127.0.0.1:{self.port}/0"
        self._password = password
        self._dir = tempfile.mkdtemp(prefix="oidc_kit_redis_")
        self._persist = persist
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> None:
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        args += ["--save", "", "--dir", self._dir, "--daemonize", "no"]
        if self._persist:
            args += ["--appendonly", "yes", "--appendfsync", "always"]
        else:
            args += ["--appendonly", "no"]
        if self._password:
            args += ["--requirepass", self._password]
        self._proc = subprocess.Popen(  # noqa: S603  (our own argv, no shell)
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self._dir
        )
        deadline = time.monotonic() + timeout
        while not answers_ping(self.url, timeout=0.2):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server did not start on port {self.port}")
            time.sleep(0.02)

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
