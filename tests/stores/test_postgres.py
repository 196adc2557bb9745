"""What only the PostgreSQL store has: its URL, tables, expiry timestamps, purge, pool, deadlines.

The contract every store keeps runs on PostgreSQL in tests/stores/test_stores.py; the server
going away and coming back is tests/stores/test_postgres_faults.py (a server of its own).
These tests use the session's throwaway database (``postgres_url``), each store under a table
prefix of its own, dropped afterwards.
"""

# The SQL below names the tables of a test's own generated prefix: nothing to inject.
# ruff: noqa: S608

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import asyncpg
import pytest

from oidc_kit._errors import ConfigurationError, StoreUnavailable
from oidc_kit._health import store_status
from oidc_kit.stores import PostgresStore, SessionStore, open_store
from oidc_kit.stores.postgres import schema_statements
from tests.postgres_server import drop_tables, run_sql, unique_table_prefix
from tests.servers import free_port
from tests.stores.test_stores import HANG_GUARD, _assert_unavailable


@pytest.fixture
def prefix(postgres_url: str) -> Iterator[str]:
    name = unique_table_prefix()
    yield name
    drop_tables(postgres_url, name)


@pytest.fixture
async def make_store(postgres_url: str, prefix: str) -> AsyncIterator[Callable[..., PostgresStore]]:
    """Stores on the session's database under this test's prefix, closed afterwards."""
    made: list[PostgresStore] = []

    def make(**options: Any) -> PostgresStore:
        store = PostgresStore(postgres_url, **{"table_prefix": prefix, **options})
        made.append(store)
        return store

    yield make
    for store in made:
        await store.close()


# --- URL and options ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://app:pw@db.internal:5432/sessions",
        "postgres://app@db.internal/sessions",
        "postgresql:///sessions?host=/var/run/postgresql",
        "postgresql://app:pw@db.internal/sessions?sslmode=require&search_path=auth",
    ],
)
async def test_open_store_postgres(url: str) -> None:
    store = open_store(url)
    assert isinstance(store, PostgresStore)
    assert store.table_prefix == "oidc_kit_"
    assert store.pool_size == 10
    await store.close()  # never connected: nothing to reach


async def test_the_urls_query_sets_the_stores_own_options() -> None:
    url = "postgresql://db.internal/s?table_prefix=auth_&pool_size=3&connect_timeout=2.5"
    store = open_store(url)
    assert isinstance(store, PostgresStore)
    assert (store.table_prefix, store.pool_size) == ("auth_", 3)
    # The store's options are not passed on to the server as settings.
    assert store._options.url == "postgresql://db.internal/s"
    kept = PostgresStore("postgresql://db.internal/s?sslmode=require&pool_size=3")
    assert kept._options.url == "postgresql://db.internal/s?sslmode=require"
    assert store._deadline == 2.5 + 1.0


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://app:hunter2@db.internal:notaport/sessions",
        "postgresql://app:hunter2@db.internal/s?table_prefix=Robert'); DROP TABLE",
        "postgresql://app:hunter2@db.internal/s?table_prefix=",
        "postgresql://app:hunter2@db.internal/s?pool_size=0",
        "postgresql://app:hunter2@db.internal/s?pool_size=hunter2",
        "postgresql://app:hunter2@db.internal/s?connect_timeout=-1",
        "postgresql://app:hunter2@db.internal/s?command_timeout=inf",
    ],
)
def test_bad_urls_are_refused_without_echoing_them(url: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        open_store(url)
    assert info.value.code == "configuration_error"
    assert "hunter2" not in str(info.value)
    assert info.value.__cause__ is None


def test_a_table_prefix_must_be_an_identifier() -> None:
    with pytest.raises(ConfigurationError, match="table_prefix"):
        PostgresStore("postgresql://db.internal/s", table_prefix='x"; DROP TABLE kv; --')
    with pytest.raises(ConfigurationError, match="table_prefix"):
        PostgresStore("postgresql://db.internal/s", table_prefix="Upper_")


# --- tables, expiry timestamps, purge -----------------------------------------------------------


async def test_the_tables_are_made_on_first_use_with_expiry_timestamps(
    make_store: Callable[..., PostgresStore], postgres_url: str, prefix: str
) -> None:
    store = make_store()
    assert run_sql(postgres_url, f"SELECT to_regclass('{prefix}kv')")[0][0] is None
    await store.set("session:a", b"v", 60)
    await store.index_add("sub:alice", "sid-1", 30)
    rows = run_sql(
        postgres_url,
        f"SELECT key, value, extract(epoch FROM expires_at - now()) FROM {prefix}kv",
    )
    assert [(r[0], r[1]) for r in rows] == [("session:a", b"v")]
    assert 58 < rows[0][2] <= 60
    members = run_sql(postgres_url, f"SELECT key, member FROM {prefix}idx")
    assert [tuple(r) for r in members] == [("sub:alice", "sid-1")]


async def test_an_expired_row_is_never_read_before_it_is_purged(
    make_store: Callable[..., PostgresStore], postgres_url: str, prefix: str
) -> None:
    store = make_store()
    await store.set("session:a", b"v", 60)
    await store.set("session:b", b"v", 60)
    await store.index_add("sub:alice", "sid-1", 60)
    run_sql(postgres_url, f"UPDATE {prefix}kv SET expires_at = now() - interval '1 second'")
    run_sql(postgres_url, f"UPDATE {prefix}idx SET expires_at = now() - interval '1 second'")
    assert await store.get("session:a") is None
    assert await store.take("session:b") is None
    assert await store.replace("session:a", b"new", 60) is False
    assert await store.index_members("sub:alice") == []
    assert await store.add("session:a", b"taken over", 60) is True
    assert await store.get("session:a") == b"taken over"


async def test_the_purge_skips_locked_rows_without_waiting(
    make_store: Callable[..., PostgresStore], postgres_url: str, prefix: str
) -> None:
    store = make_store(command_timeout=2.0)
    for i in range(40):  # fewer than 100 writes: no purge of the store's own meanwhile
        await store.set(f"login:{i}", b"abandoned", 60)
        await store.index_add("sub:alice", f"sid-{i}", 60)
    await store.set("session:live", b"live", 60)
    expire = "SET expires_at = now() - interval '1 second' WHERE key <> 'session:live'"
    run_sql(postgres_url, f"UPDATE {prefix}kv {expire}", f"UPDATE {prefix}idx {expire}")
    holder = await asyncpg.connect(postgres_url)
    try:
        # Another transaction holds one expired row: the purge must go round it, at once.
        busy = holder.transaction()
        await busy.start()
        await holder.execute(f"SELECT 1 FROM {prefix}kv WHERE key = 'login:7' FOR UPDATE")
        started = time.monotonic()
        await store._purge_expired()
        assert time.monotonic() - started < 1.0
        left = run_sql(postgres_url, f"SELECT key FROM {prefix}kv ORDER BY key")
        assert [r[0] for r in left] == ["login:7", "session:live"]
        assert run_sql(postgres_url, f"SELECT count(*) FROM {prefix}idx")[0][0] == 0
        await busy.rollback()
    finally:
        await holder.close()
    await store._purge_expired()
    left = run_sql(postgres_url, f"SELECT key FROM {prefix}kv")
    assert [r[0] for r in left] == ["session:live"]


async def test_writes_purge_in_the_background(
    make_store: Callable[..., PostgresStore], postgres_url: str, prefix: str
) -> None:
    store = make_store()
    for i in range(99):
        await store.set(f"login:{i}", b"abandoned", 0.01)
    await asyncio.sleep(0.05)
    purge, seen = store._purge_expired, []

    async def observed() -> None:
        seen.append(REQUEST_VALUE.get())
        await purge()

    store._purge_expired = observed  # type: ignore[method-assign]
    marked = REQUEST_VALUE.set("the request's span")  # the 100th write is some request's
    try:
        await store.set("session:live", b"live", 60)  # the 100th write
    finally:
        REQUEST_VALUE.reset(marked)
    assert store._purger is not None
    await store._purger
    left = run_sql(postgres_url, f"SELECT key FROM {prefix}kv")
    assert [r[0] for r in left] == ["session:live"]
    assert seen == [""]  # the purge runs detached from that request's context


#: What a web framework or OpenTelemetry keeps in a request's context (the current span...).
REQUEST_VALUE: contextvars.ContextVar[str] = contextvars.ContextVar("request_value", default="")


async def test_instances_starting_together_make_the_tables_once(
    make_store: Callable[..., PostgresStore],
) -> None:
    stores = [make_store() for _ in range(6)]
    await asyncio.gather(*(s.ping() for s in stores))
    await stores[0].set("session:a", b"v", 60)
    assert [await s.get("session:a") for s in stores] == [b"v"] * 6


async def test_tables_made_beforehand_need_no_create_rights(postgres_url: str, prefix: str) -> None:
    # A bank's DBA makes the tables and grants the app's role no more than it uses.
    role = f"oidc_kit_app_{prefix.strip('_')}"
    grant = f"GRANT SELECT, INSERT, UPDATE, DELETE ON {prefix}kv, {prefix}idx TO {role}"
    run_sql(postgres_url, f"CREATE ROLE {role} LOGIN", *schema_statements(prefix), grant)
    try:
        as_app = postgres_url.replace("postgresql://postgres@", f"postgresql://{role}@", 1)
        assert as_app != postgres_url, "the test expects the postgres user in the URL"
        no_create = f"SELECT has_schema_privilege('{role}', 'public', 'CREATE')"
        assert run_sql(postgres_url, no_create)[0][0] is False
        store = PostgresStore(as_app, table_prefix=prefix)
        await store.set("session:a", b"v", 60)
        assert await store.take("session:a") == b"v"
        await store.close()
    finally:
        run_sql(postgres_url, f"DROP OWNED BY {role}", f"DROP ROLE {role}")


# --- the pool and deadlines ---------------------------------------------------------------------


async def test_the_pool_is_bounded(
    make_store: Callable[..., PostgresStore], postgres_url: str
) -> None:
    store = make_store(pool_size=2)
    await store.set("session:a", b"v", 60)
    results = await asyncio.gather(*(store.get("session:a") for _ in range(40)))
    assert results == [b"v"] * 40
    database = postgres_url.rsplit("/", 1)[1]
    count = (
        "SELECT count(*) FROM pg_stat_activity"
        f" WHERE application_name = 'oidc_kit' AND datname = '{database}'"
    )
    assert run_sql(postgres_url, count)[0][0] <= 2


async def test_a_blocked_statement_is_unavailable_then_the_store_recovers(
    make_store: Callable[..., PostgresStore], postgres_url: str, prefix: str
) -> None:
    store = make_store(connect_timeout=0.2, command_timeout=0.3)
    await store.set("session:a", b"kept", 60)
    holder = await asyncpg.connect(postgres_url)
    try:
        busy = holder.transaction()
        await busy.start()
        await holder.execute(f"LOCK TABLE {prefix}kv IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        with pytest.raises(StoreUnavailable) as info:
            await store.get("session:a")
        assert time.monotonic() - started < HANG_GUARD
        assert str(info.value) == "session_store_unavailable: the session store did not answer"
        await busy.rollback()
    finally:
        await holder.close()
    assert await store.get("session:a") == b"kept"


async def test_nothing_listening_is_unavailable_without_the_password() -> None:
    store = PostgresStore(f"postgresql://app:hunter2@127.0.0.1:{free_port()}/sessions")
    await _assert_unavailable(store, secret="hunter2")
    await store.close()


@pytest.fixture
async def silent_port() -> AsyncIterator[int]:
    """A port that accepts connections and never answers: a hung or overloaded server."""
    held: list[asyncio.StreamWriter] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    yield int(server.sockets[0].getsockname()[1])
    for writer in held:
        writer.close()
    server.close()
    await server.wait_closed()


async def test_a_silent_server_is_unavailable_within_the_deadline(silent_port: int) -> None:
    url = f"postgresql://app:hunter2@127.0.0.1:{silent_port}/sessions"
    store = PostgresStore(url, connect_timeout=0.1, command_timeout=0.1)
    await _assert_unavailable(store, secret="hunter2")
    await store.close()


async def test_the_health_check_pings_it(make_store: Callable[..., PostgresStore]) -> None:
    store: SessionStore = make_store()
    assert await store_status(store, 1.0) == "ok"
    silent = PostgresStore(f"postgresql://127.0.0.1:{free_port()}/none")
    assert await store_status(silent, 1.0) == "unavailable"
    await silent.close()
