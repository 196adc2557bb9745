"""The markers of tests/markers.py: registered, and every test they name still exists."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

from tests.markers import FOLDER_MARKERS, SLOW_MODULES, SLOW_TESTS, find_test_files

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
