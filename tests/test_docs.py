"""The documentation's code runs, and its generated references cover the code.

Every ```python block of docs/ and the README is executed (a page's blocks in order, in one
namespace); the ``test_*`` functions a page defines (docs/testing.md's) are then run too. The
Quick start's app is served for real and logged in to, as a new user would.
"""

from __future__ import annotations

import asyncio
import inspect
import re
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path

import httpx
import pytest

from oidc_kit import OIDCConfig, OIDCError
from oidc_kit._env import ENV_NAMES as _ENV_NAMES
from tests.docs_snippets import (
    CLIENT_ID,
    CLIENT_SECRET,
    SESSION_SECRET,
    doc_pages,
    page_source,
    python_blocks,
    run_page,
    serve_docs_app,
)
from tests.servers import ROOT, sandbox_login
from tools.docs_reference import config_reference, error_classes, error_reference

PAGES_WITH_CODE = [page for page in doc_pages() if python_blocks(page)]


@pytest.fixture
def docs_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """What the docs tell a reader to set, pointing nowhere: building an app opens nothing."""
    for name in _ENV_NAMES.values():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OIDC_ISSUER", "https://login.example.com")
    monkeypatch.setenv("OIDC_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("OIDC_CLIENT_SECRET", CLIENT_SECRET)
    monkeypatch.setenv("APP_BASE_URL", "https://app.example.com")
    monkeypatch.setenv("SESSION_SECRET", SESSION_SECRET)
    monkeypatch.setenv("SESSION_STORE", "memory://")
    monkeypatch.chdir(tmp_path)
    yield


def test_the_pages_that_teach_code_have_code() -> None:
    names = {page.relative_to(ROOT).as_posix() for page in PAGES_WITH_CODE}
    assert {"README.md", "docs/index.md", "docs/testing.md", "docs/errors.md"} <= names


@pytest.mark.parametrize("page", PAGES_WITH_CODE, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_python_block_runs(page: Path, docs_env: None) -> None:
    namespace = run_page(page)
    for name, value in list(namespace.items()):
        if name.startswith("test_") and inspect.isfunction(value):
            result = value()
            if inspect.iscoroutine(result):
                asyncio.run(result)


def test_the_quick_start_app_logs_a_user_in(tmp_path: Path) -> None:
    """docs/index.md's app, served by uvicorn, configured only by the variables it names."""
    source = page_source(ROOT / "docs" / "index.md")
    with (
        serve_docs_app(source, tmp_path) as stack,
        httpx.Client(base_url=stack.app.base_url) as browser,
    ):
        assert browser.get("/").status_code == 303  # logged out: sent to log in
        done = sandbox_login(browser, "alice")
        assert done.status_code == 303
        page = browser.get("/")
        assert page.status_code == 200
        assert "sandbox-alice" in page.text


def test_the_quick_start_needs_under_ten_lines_of_integration() -> None:
    """Lines that mention the kit (imports, OIDCAuth, its routes, middleware, handlers)."""
    source = page_source(ROOT / "docs" / "index.md")
    kit_lines = [
        line
        for line in source.splitlines()
        if re.search(r"oidc_kit|OIDCAuth|OIDCConfig|\bauth\b|login_required", line)
    ]
    assert 0 < len(kit_lines) < 10, kit_lines
    # The page marks them "# kit" for the reader: the marks must tell the truth.
    assert kit_lines == [line for line in source.splitlines() if "# kit" in line]


def test_the_configuration_reference_lists_every_setting() -> None:
    table = config_reference()
    for f in fields(OIDCConfig):
        assert f"`{f.name}`" in table
        if f.name in _ENV_NAMES:
            assert f"`{_ENV_NAMES[f.name]}`" in table


def test_the_error_reference_lists_every_error_and_code() -> None:
    table = error_reference()
    classes = [cls for _, cls in error_classes()]
    assert len(classes) >= 20
    for cls in classes:
        assert f".{cls.__name__}`" in table
        assert f"`{cls.code}`" in table
    public = {name for name in dir(__import__("oidc_kit")) if name[0].isupper()}
    for name in public:
        obj = getattr(__import__("oidc_kit"), name)
        if isinstance(obj, type) and issubclass(obj, OIDCError):
            assert obj in classes


def test_the_reference_pages_carry_the_markers() -> None:
    assert "<!-- generated: configuration -->" in (ROOT / "docs/configuration.md").read_text()
    assert "<!-- generated: errors -->" in (ROOT / "docs/errors.md").read_text()


def test_every_variable_the_example_app_reads_is_documented() -> None:
    patterns = (
        r'\b(?:env|environ)\.get\(\s*"([A-Z][A-Z0-9_]+)"',  # env.get("X", ...)
        r'\b(?:_get|_positive_int)\(\s*env,\s*"([A-Z][A-Z0-9_]+)"',  # settings.py helpers
        r'\benviron\["([A-Z][A-Z0-9_]+)"\]',
    )
    read: set[str] = set()
    for module in (ROOT / "example_app").glob("*.py"):
        text = module.read_text()
        for pattern in patterns:
            read |= set(re.findall(pattern, text))
    assert {"OIDC_ISSUER", "ORCA_API_BASE", "TRUSTED_PROXIES"} <= read, read
    documented = (ROOT / "docs/configuration.md").read_text()
    missing = {name for name in read if f"`{name}`" not in documented}
    missing -= set(_ENV_NAMES.values())  # the kit's own: in the generated table
    assert not missing, f"read by example_app but not in docs/configuration.md: {missing}"
