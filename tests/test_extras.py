"""Dependencies by extra: the package needs only what its core and Starlette adapter import.

Redis (``oidc_kit[redis]``), asyncpg (``[postgres]``), uvicorn (``[server]``), FastAPI
(``[fastapi]``), Flask (``[flask]``), Django (``[django]``) and the OpenTelemetry API
(``[otel]``) are extras: ``import oidc_kit`` must not import them, the distribution must
not require them, and a missing redis-py or asyncpg must be a clear message naming the
extra, not a traceback from deep inside.
The subprocess tests hide a module with a meta-path finder that refuses to import it, as if
it were not installed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import tomllib
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent

#: What only an extra may bring.
EXTRAS_ONLY = (
    "redis",
    "asyncpg",
    "uvicorn",
    "fastapi",
    "opentelemetry",
    "flask",
    "werkzeug",
    "django",
    "asgiref",
)

#: What the package itself requires (DESIGN.md and issue 14).
CORE = {
    "authlib",
    "joserfc",
    "cryptography",
    "starlette",
    "itsdangerous",
    "jinja2",
    "httpx",
    "anyio",
}

_BLOCKER = """
import importlib.abc
import sys

class _NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {blocked!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None

sys.meta_path.insert(0, _NotInstalled())
"""


def run_python(code: str, *, without: Iterable[str] = ()) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter where the modules ``without`` cannot be imported."""
    source = _BLOCKER.format(blocked=set(without)) + textwrap.dedent(code)
    return subprocess.run(  # noqa: S603  (our own interpreter and code)
        [sys.executable, "-c", source],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _names(requirements: Iterable[str]) -> set[str]:
    return {canonicalize_name(Requirement(r).name) for r in requirements}


def _self_extras(requirements: Iterable[str]) -> set[str]:
    """The extras of the package itself that a list of requirements pulls in."""
    parsed = [Requirement(r) for r in requirements]
    return {e for r in parsed if canonicalize_name(r.name) == "oidc-kit" for e in r.extras}


def _core_requirements(requires: Iterable[str]) -> list[str]:
    """The requirements without an ``extra == ...`` marker."""
    return [r for r in requires if "extra" not in str(Requirement(r).marker or "")]


def test_importing_the_kit_and_its_adapter_imports_no_extra() -> None:
    done = run_python(
        """
        import json, sys
        import oidc_kit, oidc_kit.starlette, oidc_kit.stores, oidc_kit.testing
        print(json.dumps(sorted({name.partition(".")[0] for name in sys.modules})))
        """
    )
    assert done.returncode == 0, done.stderr
    loaded = set(json.loads(done.stdout))
    assert "oidc_kit" in loaded
    assert loaded.isdisjoint(EXTRAS_ONLY), loaded.intersection(EXTRAS_ONLY)


def test_the_kit_and_the_sandbox_work_without_any_extra() -> None:
    # Every extra hidden, and python-multipart too: the sandbox provider parses its forms
    # itself (as the kit's own POST routes do), so a token request to it still works.
    done = run_python(
        """
        import asyncio, httpx, oidc_kit, oidc_kit.starlette
        from oidc_kit.testing import SandboxClient, SandboxProvider

        async def main():
            op = SandboxProvider("http://op.test", [SandboxClient("app", "s", ("http://a/cb",))])
            transport = httpx.ASGITransport(app=op.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://op.test") as c:
                form = {"grant_type": "client_credentials", "scope": "accounts:read"}
                answer = await c.post("/token", data=form, auth=("app", "s"))
            print(answer.status_code, answer.json()["token_type"])

        asyncio.run(main())
        print(type(oidc_kit.open_store("memory://")).__name__)
        """,
        without=(*EXTRAS_ONLY, "python_multipart", "multipart"),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["200", "Bearer", "MemoryStore"]


def test_a_missing_redis_py_names_the_extra() -> None:
    done = run_python(
        """
        import oidc_kit
        from oidc_kit import ConfigurationError, open_store

        try:
            open_store("redis://:hunter2@127.0.0.1:6379/0")
        except ConfigurationError as exc:
            print("open_store:", exc.code, exc)
        exec("from oidc_kit import *")  # every name of __all__, none needing the extra
        accesses = ("from oidc_kit import RedisStore", "import oidc_kit.stores as s; s.RedisStore")
        for access in accesses:
            try:
                exec(access)
            except ImportError as exc:
                print("import:", exc)
        """,
        without=("redis",),
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 3, done.stdout
    assert lines[0].startswith("open_store: configuration_error ")
    assert [line.startswith("import: ") for line in lines[1:]] == [True, True]
    for line in lines:
        assert "pip install 'oidc_kit[redis]'" in line
    assert "hunter2" not in done.stdout + done.stderr


def test_a_missing_asyncpg_names_the_extra() -> None:
    done = run_python(
        """
        from oidc_kit import ConfigurationError, open_store

        for url in ("postgresql://app:hunter2@db.internal/s", "postgres://app:hunter2@db/s"):
            try:
                open_store(url)
            except ConfigurationError as exc:
                print("open_store:", exc.code, exc)
        try:
            import oidc_kit.stores as s; s.PostgresStore
        except ImportError as exc:
            print("import:", exc)
        """,
        without=("asyncpg",),
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 3, done.stdout
    assert [line.split(" ", 1)[0] for line in lines] == ["open_store:", "open_store:", "import:"]
    for line in lines:
        assert "pip install 'oidc_kit[postgres]'" in line
    assert "hunter2" not in done.stdout + done.stderr


def test_the_postgres_store_is_imported_on_first_use() -> None:
    import oidc_kit.stores
    from oidc_kit.stores.postgres import PostgresStore

    assert oidc_kit.stores.PostgresStore is PostgresStore
    assert "PostgresStore" in dir(oidc_kit.stores)


def test_without_opentelemetry_telemetry_is_a_no_op() -> None:
    # A login through the sandbox, a refresh and a logout, with every telemetry call of the
    # kit on the way: nothing fails, nothing is recorded, the store is used unwrapped.
    done = run_python(
        """
        import asyncio, sys, httpx
        from oidc_kit import MemoryStore, OIDCConfig, _telemetry
        from oidc_kit.starlette import OIDCAuth
        from oidc_kit.testing import SandboxClient, SandboxProvider, sandbox_login
        from starlette.applications import Starlette
        from starlette.routing import Mount

        APP, OP = "https://app.test", "https://op.test"
        op = SandboxProvider(OP, [SandboxClient("app", "secret", (APP + "/auth/callback",))])
        config = OIDCConfig(
            issuer=OP, client_id="app", client_secret="secret", base_url=APP,
            scopes=("openid", "offline_access"), session_secrets=("x" * 32,),
        )
        op_http = httpx.AsyncClient(transport=httpx.ASGITransport(app=op.app))
        store = MemoryStore()
        auth = OIDCAuth(config, http_client=op_http, store=store)
        app = Starlette(routes=[Mount("/auth", routes=auth.routes)], middleware=[auth.middleware])

        async def main():
            transport = httpx.ASGITransport(app=app)
            async with auth, httpx.AsyncClient(transport=transport, base_url=APP) as browser:
                assert (await sandbox_login(browser, op, "alice")).status_code == 303
                cookie = browser.cookies[auth.rp.session_cookie]
                session, _ = await auth.rp.load_session(cookie)
                source = auth.rp.token_source(session)
                await source.refreshed((await source.tokens()).access_token)
                logout = await browser.post("/auth/logout", headers={"Origin": APP})
                assert logout.status_code == 303
            with _telemetry.login_span("callback", provider="default"):
                _telemetry.set_provider("default")
                _telemetry.record_login("success", None, "default")
            with _telemetry.refresh_span("default"):
                _telemetry.record_refresh("success")
            print(auth.rp._clients.default.sessions.store is store)

        asyncio.run(main())
        print(_telemetry.enabled(), "opentelemetry" in sys.modules)
        """,
        without=("opentelemetry",),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "False", "False"]


def test_serving_the_sandbox_without_uvicorn_names_the_extra() -> None:
    done = run_python(
        """
        from oidc_kit.testing.__main__ import main

        main(["--port", "9", "--client", "app:secret:http://127.0.0.1:8000/auth/callback"])
        """,
        without=("uvicorn",),
    )
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "serving the sandbox needs uvicorn: pip install 'oidc_kit[server]'"
    )


def test_redis_store_is_still_the_public_class() -> None:
    import oidc_kit
    import oidc_kit.stores
    from oidc_kit.stores.redis import RedisStore

    assert oidc_kit.RedisStore is oidc_kit.stores.RedisStore is RedisStore
    assert "RedisStore" not in oidc_kit.__all__  # a star import must not need redis-py
    assert "RedisStore" in dir(oidc_kit)
    assert "RedisStore" in dir(oidc_kit.stores)


def test_an_unknown_attribute_is_still_an_attribute_error() -> None:
    import oidc_kit
    import oidc_kit.stores

    assert not hasattr(oidc_kit, "NoSuchStore")
    assert not hasattr(oidc_kit.stores, "NoSuchStore")


def test_the_project_requires_no_extra_by_default() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert _names(project["dependencies"]) == CORE
    extras = project["optional-dependencies"]
    assert _names(extras["redis"]) == {"redis"}
    assert _names(extras["postgres"]) == {"asyncpg"}
    assert _names(extras["server"]) == {"uvicorn"}
    assert _names(extras["fastapi"]) == {"fastapi"}
    assert _names(extras["flask"]) == {"flask"}
    assert _names(extras["django"]) == {"django"}
    assert _names(extras["otel"]) == {"opentelemetry-api"}  # the API only: the app picks an SDK
    # `make demo` and `make test` install these: every extra is in `dev`, the demo's in `demo`.
    assert _self_extras(extras["demo"]) == {"redis", "server"}
    assert _self_extras(extras["dev"]) == {
        "redis",
        "postgres",
        "server",
        "fastapi",
        "otel",
        "flask",
        "django",
    }


def test_the_installed_distribution_requires_no_extra_by_default() -> None:
    requires = metadata.requires("oidc_kit") or []
    core = _names(_core_requirements(requires))
    # An editable install keeps the metadata of its install: `make install` refreshes it.
    assert core == CORE, "stale metadata? run `make install`"
    assert core.isdisjoint({*EXTRAS_ONLY, "python-multipart"})
    provided = set(metadata.metadata("oidc_kit").get_all("Provides-Extra") or [])
    assert {
        "redis",
        "postgres",
        "server",
        "fastapi",
        "otel",
        "flask",
        "django",
        "demo",
        "dev",
    } <= provided
