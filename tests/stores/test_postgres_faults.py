"""PostgreSQL going away and coming back, on a server of the test's own (``initdb`` + ``pg_ctl``).

While the server is down every call raises ``StoreUnavailable`` within its deadline (never a
hang, never the URL or its password) and the health check says ``unavailable``; once it is
back the same store object works again, with the data it had, and no restart of the app.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from oidc_kit._health import store_status
from oidc_kit.stores import PostgresStore
from tests.postgres_server import PostgresServer
from tests.stores.test_stores import _assert_unavailable


@pytest.fixture(scope="module")
def _server() -> Iterator[PostgresServer]:
    server = PostgresServer()
    yield server
    server.cleanup()


@pytest.fixture
def own_postgres(_server: PostgresServer) -> PostgresServer:
    """A PostgreSQL of this module's own, running, which a test may stop and start again
    (one ``initdb`` for the module: the tests use stores of their own, on tables of their own)."""
    if not _server.running():
        _server.start()
    return _server


def _with_password(url: str) -> str:
    # Trust auth ignores the password: it is there to show no message repeats it.
    return url.replace("postgres@", "postgres:hunter2@", 1)


@pytest.mark.parametrize("mode", ["fast", "immediate"])
async def test_a_stopped_server_is_unavailable_then_works_after_a_restart(
    own_postgres: PostgresServer, mode: str
) -> None:
    url = _with_password(own_postgres.url)
    store = PostgresStore(url, table_prefix=f"t_{mode}_", connect_timeout=0.5, command_timeout=0.5)
    await store.set("session:a", b"before the stop", 600)
    assert await store.add("lease:a", b"mine", 600) is True
    await store.index_add("sub:alice", "sid-1", 600)
    assert await store_status(store, 1.0) == "ok"

    own_postgres.stop(mode)  # "immediate" is a crash: no shutdown checkpoint
    await _assert_unavailable(store, secret="hunter2")
    assert await store_status(store, 1.0) == "unavailable"

    own_postgres.start()  # same port, same data directory
    assert await store_status(store, 1.0) == "ok"
    assert await store.get("session:a") == b"before the stop"
    assert await store.index_members("sub:alice") == ["sid-1"]
    assert await store.delete_if("lease:a", b"mine") is True
    await store.set("session:b", b"after", 60)
    assert await store.take("session:b") == b"after"
    await store.close()


async def test_a_store_opened_while_the_server_is_down_works_once_it_is_up(
    own_postgres: PostgresServer,
) -> None:
    own_postgres.stop()
    store = PostgresStore(own_postgres.url, connect_timeout=0.5, command_timeout=0.5)
    await _assert_unavailable(store)
    own_postgres.start()
    await store.set("session:a", b"v", 60)  # the tables are made now
    assert await store.get("session:a") == b"v"
    await store.close()
