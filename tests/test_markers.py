"""The markers of tests/markers.py: registered, and every test they name still exists."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from tests.conformance.apps import FRAMEWORKS
from tests.markers import (
    ADAPTER_FOLDERS,
    FOLDER_MARKERS,
    SLOW_FRAMEWORKS,
    SLOW_MODULES,
    SLOW_TESTS,
    find_test_files,
    markers_for,
)

TESTS = Path(__file__).resolve().parent


def _test_functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    kinds = (ast.FunctionDef, ast.AsyncFunctionDef)
    return {node.name for node in tree.body if isinstance(node, kinds)}


def test_the_markers_are_registered() -> None:
    pyproject = tomllib.loads((TESTS.parent / "pyproject.toml").read_text())
    options = pyproject["tool"]["pytest"]["ini_options"]
    registered = {line.split(":", 1)[0] for line in options["markers"]}
    used = {"slow", "redis"} | {m for marks in FOLDER_MARKERS.values() for m in marks}
    assert used <= registered
    assert "--strict-markers" in options["addopts"]


def test_every_slow_entry_names_a_test() -> None:
    files = find_test_files(TESTS)
    for module in SLOW_MODULES:
        assert module in files, module
    for module, name in SLOW_TESTS:
        assert module in files, module
        # A base name may occur in several folders; the test must be in one of them.
        assert any(name in _test_functions(path) for path in files[module]), (module, name)


def test_the_marker_folders_exist() -> None:
    for folder in FOLDER_MARKERS:
        assert (TESTS / folder).is_dir(), folder


def _item(path: Path, **params: str) -> Any:
    """What the rules read of a collected test, for one at ``path`` with ``params``."""
    return SimpleNamespace(
        path=path,
        config=SimpleNamespace(rootpath=TESTS.parent),
        callspec=SimpleNamespace(params=params),
        name=path.stem,
        fixturenames=(),
        function=None,
    )


def test_the_conformance_suite_keeps_only_starlette_in_the_quick_loop() -> None:
    assert SLOW_FRAMEWORKS.issubset(FRAMEWORKS) and "starlette" in FRAMEWORKS
    assert "starlette" not in SLOW_FRAMEWORKS
    for folder in ADAPTER_FOLDERS:
        assert (TESTS / folder).is_dir(), folder
    test = TESTS / "conformance" / "test_basic_rp.py"
    assert "slow" not in markers_for(_item(test, framework="starlette"))
    for name in SLOW_FRAMEWORKS:
        assert "slow" in markers_for(_item(test, framework=name, case="x"))
    # Elsewhere, a framework parameter is the folder's own business.
    other = TESTS / "flask" / "test_flask.py"
    assert "slow" not in markers_for(_item(other, framework="flask"))
