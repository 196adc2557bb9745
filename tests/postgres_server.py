"""A real PostgreSQL for the tests: the ``postgres_url`` fixture, and servers tests start.

``postgres_url`` (session-scoped) is the URL of a throwaway database, ``oidc_kit_test_<random>``,
created for the test session and dropped after it, on the first server that answers of:
``$POSTGRES_URL`` (any database of a server where its user may ``CREATE DATABASE``); the
machine's own at ``postgresql://postgres@127.0.0.1:5432/postgres`` (trust auth); a server of our
own, made with ``initdb`` and started with ``pg_ctl`` in a temporary directory on a free port
(:class:`PostgresServer`, stopped and deleted at the end). With none of these the tests that
need PostgreSQL fail under ``CI=true`` and are skipped otherwise.

Tests share that database: each store under test gets its own table prefix
(:func:`unique_table_prefix`), whose tables :func:`drop_tables` removes afterwards.

PostgreSQL refuses to run as root, so when the tests run as root our own server runs as the
``postgres`` user (which Debian's packages create).
"""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Callable, Coroutine, Iterator
from glob import glob
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from tests.servers import free_port

__all__ = [
    "PostgresServer",
    "drop_tables",
    "postgres_url",
    "run_sql",
    "unique_table_prefix",
]

LOCAL_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
_T = TypeVar("_T")


def unique_table_prefix() -> str:
    """A table prefix no other test has."""
    return f"t_{uuid.uuid4().hex[:12]}_"


def in_thread(make: Callable[[], Coroutine[Any, Any, _T]]) -> _T:
    """Run a coroutine on a loop of its own in another thread, so that sync code (fixtures,
    cleanups) can call asyncpg whether or not this thread's loop is running."""
    result: list[_T] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(make()))
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return result[0]


def run_sql(url: str, *statements: str, timeout: float = 5.0) -> list[Any]:
    """Run ``statements`` on one connection to ``url``; the last one's rows."""

    async def run() -> list[Any]:
        conn = await asyncpg.connect(url, timeout=timeout)
        try:
            rows: list[Any] = []
            for statement in statements:
                rows = await conn.fetch(statement, timeout=timeout)
            return rows
        finally:
            await conn.close()

    return in_thread(run)


def answers(url: str, timeout: float = 1.0) -> bool:
    try:
        return run_sql(url, "SELECT 1", timeout=timeout)[0][0] == 1
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
        return False


def drop_tables(url: str, prefix: str) -> None:
    """Drop the two tables of a store's ``prefix`` and its notify function (cleanup after a
    test)."""
    run_sql(
        url,
        f'DROP TABLE IF EXISTS "{prefix}kv", "{prefix}idx"',
        f'DROP FUNCTION IF EXISTS "{prefix}notify"()',
    )


def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def _binary(name: str) -> str | None:
    found = shutil.which(name) or shutil.which(name, path="/usr/local/bin")
    if found is None:
        candidates = sorted(glob(f"/usr/lib/postgresql/*/bin/{name}"))
        found = candidates[-1] if candidates else None
    return found


def _missing(why: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{why}; CI needs a real PostgreSQL", pytrace=False)
    pytest.skip(why)


class PostgresServer:
    """A PostgreSQL of our own (``initdb`` + ``pg_ctl``) on a loopback port, which tests may stop
    and start again; its data directory outlives a stop. Trust auth, user ``postgres``."""

    def __init__(self, port: int | None = None) -> None:
        initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
        if initdb is None or pg_ctl is None:
            _missing("no initdb/pg_ctl for a PostgreSQL of our own")
        assert initdb is not None and pg_ctl is not None
        self._initdb, self._pg_ctl = initdb, pg_ctl
        self._user: str | None = None
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                _missing("running as root and no postgres user to run PostgreSQL as")
            self._user = "postgres"
        self.port = port if port is not None else free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._dir = tempfile.mkdtemp(prefix="oidc_kit_pg_")
        self._data = os.path.join(self._dir, "data")
        if self._user is not None:
            os.chown(self._dir, pwd.getpwnam(self._user).pw_uid, -1)
        self._initialised = False

    def _run(self, *args: str) -> None:
        subprocess.run(  # noqa: S603  (our own argv, no shell)
            args,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            user=self._user,
            cwd=self._dir,
            timeout=60,
        )

    def start(self) -> None:
        if not self._initialised:
            self._run(self._initdb, "-D", self._data, "-A", "trust", "-U", "postgres")
            self._initialised = True
        # The socket goes into the data directory, away from the machine's own server's;
        # fsync off: these databases are thrown away, and a stop still writes everything.
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self._data} -c fsync=off"
        log = os.path.join(self._dir, "log")
        self._run(self._pg_ctl, "-D", self._data, "-o", options, "-l", log, "-w", "start")

    def running(self) -> bool:
        if not self._initialised:
            return False
        status = subprocess.run(  # noqa: S603  (our own argv, no shell)
            [self._pg_ctl, "-D", self._data, "status"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            user=self._user,
            cwd=self._dir,
            timeout=60,
            check=False,
        )
        return status.returncode == 0

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``immediate`` is a crash); a later :meth:`start` restarts it."""
        if self._initialised:
            self._run(self._pg_ctl, "-D", self._data, "-m", mode, "-w", "stop")

    def cleanup(self) -> None:
        if self.running():
            self.stop("immediate")
        shutil.rmtree(self._dir, ignore_errors=True)


def _throwaway_database(server_url: str) -> Iterator[str]:
    name = f"oidc_kit_test_{uuid.uuid4().hex[:12]}"
    run_sql(server_url, f'CREATE DATABASE "{name}"')
    try:
        yield with_database(server_url, name)
    finally:
        run_sql(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """The URL of a database of this test session's own (see the module docstring)."""
    url = os.environ.get("POSTGRES_URL")
    if url:
        if not answers(url, timeout=2.0):
            _missing("POSTGRES_URL is set but its server does not answer")
        yield from _throwaway_database(url)
        return
    if answers(LOCAL_URL):
        yield from _throwaway_database(LOCAL_URL)
        return
    server = PostgresServer()
    try:
        server.start()
        yield from _throwaway_database(server.url)
    finally:
        server.cleanup()
