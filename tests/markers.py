"""The suite's markers, applied at collection: ``slow``, ``redis``, ``postgres``, ``browser``,
``interop``.

A developer's quick loop is ``pytest -m "not slow"``: it leaves out the browser tests, the
interop tests and the few tests that start processes or wait on real sockets. Nothing in a
test file carries these markers by hand; :func:`pytest_collection_modifyitems` (re-exported by
tests/conftest.py) sets them from where a test lives and what it uses:

- a test under a ``browser`` folder: ``browser`` and ``slow`` (Playwright + chromium);
- a test under an ``interop`` folder: ``interop`` and ``slow`` (Node + oidc-provider);
- a test that needs a real Redis server: ``redis`` (the ``redis_url`` or ``redis_tls``
  fixture, a ``"redis"`` or ``"rediss"`` parameter, or a :class:`tests.redis_server.RedisServer`
  of its own); one that needs a Sentinel or Cluster set-up (its fixture, or a
  ``"sentinel"``/``"cluster"`` parameter) also ``slow``, as they start several processes;
- a test that needs a real PostgreSQL: ``postgres`` (the ``postgres_url`` or ``own_postgres``
  fixture, a ``"postgres"`` parameter, or a :class:`tests.postgres_server.PostgresServer`);
- a test under a folder of :data:`ADAPTER_FOLDERS` (the conformance suite, run against each
  web adapter through its ``framework`` parameter) on Flask or Django: ``slow``; the quick
  loop keeps its Starlette case (the three together take about four times as long);
- the slowest of the rest, listed in :data:`SLOW_TESTS` and :data:`SLOW_MODULES`: ``slow``.

The lists name files by their base name, so that moving a test file to another folder keeps
its marks; tests/test_markers.py checks every entry still names a test.
"""

from __future__ import annotations

from pathlib import Path

import pytest

__all__ = [
    "ADAPTER_FOLDERS",
    "SLOW_FRAMEWORKS",
    "SLOW_MODULES",
    "SLOW_TESTS",
    "find_test_files",
    "markers_for",
    "pytest_collection_modifyitems",
]

#: Folders whose every test gets these markers.
FOLDER_MARKERS = {"browser": ("browser", "slow"), "interop": ("interop", "slow")}

#: Folders whose tests run against each web adapter, named by their ``framework`` parameter.
ADAPTER_FOLDERS = frozenset({"conformance"})
#: The adapters whose cases of those tests are left to the slow set.
SLOW_FRAMEWORKS = frozenset({"flask", "django"})

#: Test files every test of which starts processes (several app instances, workers; a build of
#: the wheel and a fresh venv to install it in; a build of the docs site; a redis-server to kill).
SLOW_MODULES = frozenset(
    {
        # Many sandbox logins and provider checks, each signing and verifying keys (~5 s and
        # ~4 s): run with the slow set, to keep the quick loop under a minute.
        "test_sandbox_fapi.py",
        "test_doctor.py",
        "test_scale_out.py",
        "test_package.py",
        "test_docs_site.py",
        "test_health_redis.py",
        "test_sessions_blackbox.py",
        # A Sentinel set-up and a Cluster, failed over under load.
        "test_redis_failover.py",
        "test_postgres_faults.py",
        # A redis-server per test, frozen, killed and restarted (the Redis near-cache).
        "test_near_cache.py",
        # A TLS-only redis-server with ACL users, and certificates made for it.
        "test_redis_tls.py",
        # A PostgreSQL of its own, its listener's backend frozen and killed, restarted.
        "test_postgres_near_cache.py",
        # The sandbox and ORCA served over real TLS (uvicorn in a thread) per test: mTLS.
        "test_sandbox_mtls.py",
        # The sandbox's side of issue 19's features: many logins, each signing request
        # objects, assertions and tokens (~1-1.6 s each); the kit's side stays in the quick
        # loop (tests/core, tests/conformance on Starlette).
        "test_sandbox_jar.py",
        "test_sandbox_rar.py",
        "test_sandbox_introspection.py",
        "test_sandbox_client_secret_jwt.py",
        "test_sandbox_jarm.py",
        # Three example apps as real processes (the black-box contract).
        "test_contract.py",
        # The demo's mutual-TLS, client_secret_jwt and JAR/JARM modes as real processes.
        "test_example_modes.py",
    }
)

#: The slowest other tests (file base name, function name), from ``pytest --durations=40``
#: on the suite without browser and interop tests: each took from 0.6 s to 3 s, against a
#: few milliseconds for most tests, because it starts a server or a subprocess (or, for the
#: two at the end, waits on real socket timeouts or generates hundreds of examples).
SLOW_TESTS = frozenset(
    {
        (
            "test_example_fapi2.py",
            "test_the_fapi2_demo_with_workers_runs_the_sandbox_in_fapi2_mode",
        ),
        (
            "test_example_fapi2.py",
            "test_the_fapi2_demo_logs_in_through_par_and_orca_wants_the_sessions_key",
        ),
        ("test_fastapi.py", "test_the_docs_app_served_for_real"),
        ("test_docs.py", "test_the_quick_start_app_logs_a_user_in"),
        ("test_access_log_redaction.py", "test_the_quick_start_under_plain_uvicorn_logs_no_code"),
        ("test_doctor.py", "test_the_console_script_passes_against_a_real_sandbox"),
        ("test_doctor.py", "test_the_console_script_fails_with_a_wrong_secret"),
        ("test_client_credentials.py", "test_accounts_command_as_a_subprocess_with_a_clean_env"),
        (
            "test_port_taken.py",
            "test_a_taken_port_stops_the_app_with_the_port_and_another_to_pick",
        ),
        ("test_stores.py", "test_redis_silent_server_is_unavailable"),
        ("test_health.py", "test_the_route_bounds_a_hanging_store_by_one_second"),
        ("test_doctor.py", "test_any_answer_gives_a_report"),
        ("test_cli_sessions.py", "test_the_console_script_lists_from_another_process"),
        # Makes a virtual environment, builds a wheel, installs and runs a generated project.
        ("test_starter.py", "test_a_new_project_installs_and_passes_its_own_tests"),
    }
)

#: Fixtures that hand a test a real Redis server.
REDIS_FIXTURES = frozenset(
    {"redis_url", "own_redis", "redis_sentinel", "redis_cluster", "redis_tls"}
)

#: Fixtures (and the store backends named after them) that start several processes: a master,
#: a replica and three sentinels; a 3-master cluster with replicas (tests/redis_server.py).
TOPOLOGY_FIXTURES = frozenset({"redis_sentinel", "redis_cluster"})
TOPOLOGY_BACKENDS = frozenset({"sentinel", "cluster"})
#: Store backends on one Redis server: the shared one, and a TLS-only one (``redis_tls``).
REDIS_BACKENDS = frozenset({"redis", "rediss"})
#: Backends kept out of the quick loop, which keeps memory, SQLite and the shared Redis: those
#: on servers the test session starts itself (and certificates made for the TLS one), and
#: PostgreSQL, whose expiry cases wait on its clock (tests/stores/test_postgres.py stays quick).
SLOW_BACKENDS = TOPOLOGY_BACKENDS | {"rediss", "postgres"}

#: Fixtures that hand a test a real PostgreSQL (tests/postgres_server.py).
POSTGRES_FIXTURES = frozenset({"postgres_url", "own_postgres"})


def _folders(item: pytest.Item) -> tuple[str, ...]:
    try:
        return item.path.relative_to(item.config.rootpath).parts[:-1]
    except ValueError:  # a test outside the repository: no folder rule
        return ()


def _folder_markers(item: pytest.Item) -> tuple[str, ...]:
    return tuple(m for folder in _folders(item) for m in FOLDER_MARKERS.get(folder, ()))


def _on_a_slow_adapter(item: pytest.Item) -> bool:
    callspec = getattr(item, "callspec", None)
    if callspec is None or callspec.params.get("framework") not in SLOW_FRAMEWORKS:
        return False
    return bool(ADAPTER_FOLDERS.intersection(_folders(item)))


def _backends(item: pytest.Item) -> set[object]:
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return set()
    # Only plain names can be a backend (a parametrized dict or list cannot be hashed).
    return {value for value in callspec.params.values() if isinstance(value, str)}


def _is_slow(item: pytest.Item) -> bool:
    name = getattr(item, "originalname", item.name)
    if item.path.name in SLOW_MODULES or (item.path.name, name) in SLOW_TESTS:
        return True
    if TOPOLOGY_FIXTURES.intersection(getattr(item, "fixturenames", ())):
        return True
    if _on_a_slow_adapter(item):
        return True
    return bool(SLOW_BACKENDS.intersection(_backends(item)))


def _needs_redis(item: pytest.Item) -> bool:
    if REDIS_FIXTURES.intersection(getattr(item, "fixturenames", ())):
        return True
    if REDIS_BACKENDS.union(TOPOLOGY_BACKENDS).intersection(_backends(item)):
        return True  # a store fixture parametrized over backends, on a Redis case
    function = getattr(item, "function", None)
    # A test that starts a RedisServer itself names it (a global or a local import).
    return function is not None and "RedisServer" in function.__code__.co_names


def _needs_postgres(item: pytest.Item) -> bool:
    if POSTGRES_FIXTURES.intersection(getattr(item, "fixturenames", ())):
        return True
    if "postgres" in _backends(item):
        return True  # a store fixture parametrized over backends, on its PostgreSQL case
    function = getattr(item, "function", None)
    return function is not None and "PostgresServer" in function.__code__.co_names


def markers_for(item: pytest.Item) -> set[str]:
    """The markers the rules above give one test."""
    names = set(_folder_markers(item))
    if _is_slow(item):
        names.add("slow")
    if _needs_redis(item):
        names.add("redis")
    if _needs_postgres(item):
        names.add("postgres")
    return names


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every collected test by the rules of this module."""
    for item in items:
        for name in sorted(markers_for(item)):
            item.add_marker(name)


def find_test_files(root: Path) -> dict[str, list[Path]]:
    """Every test file under ``root``, by base name (for tests/test_markers.py)."""
    found: dict[str, list[Path]] = {}
    for path in sorted(root.rglob("test_*.py")):
        if "node_modules" not in path.parts:
            found.setdefault(path.name, []).append(path)
    return found
