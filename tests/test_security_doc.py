"""docs/security.md names code and tests that exist.

The threat model cites, for each defence, the code that makes it and the tests that prove it.
Code moves; this keeps the page honest, reading the sources with ``ast`` (nothing imported):

- every ``tests/<file>.py::<test>`` (or ``::<Class>::<test>``) is a test that file defines, and
  every ``<file>.py`` named exists;
- every dotted name in backticks whose first part is a module of the kit (``_flow``,
  ``_http``, ``starlette``, ``stores.sqlite``, ``testing/_op_pages``) or a class defined in it
  (``OIDCAuth``, ``Sessions``) names something defined there: a module's functions, classes,
  assignments, and the imports its ``__all__`` re-exports; a class's methods, class
  attributes, ``self.x`` assignments and what it inherits from the kit's classes. Other
  dotted text (``urllib.parse.parse_qsl``, ``request.form()``, ``auth.providers``) is not the
  kit's code, and is not checked.
- the threats are numbered 1, 2, 3... and each has a defence and tests.
"""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "oidc_kit"
DOC = ROOT / "docs" / "security.md"

_SPAN = re.compile(r"`([^`]+)`")
_TEST_REF = re.compile(r"^(tests/[\w/]+\.py)((?:::\w+)*)$")
#: A dotted name, or a path to a module and names in it (``testing/_op_pages.render_page``),
#: at the start of a span; what follows (call arguments, an index) is not part of the name.
_DOTTED = re.compile(r"^((?:\w+/)*[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+)")
_THREAT = re.compile(r"^### (\d+)\. ", re.MULTILINE)


@dataclass
class _Module:
    """What one source file defines at module level, and its classes."""

    names: set[str] = field(default_factory=set)
    classes: dict[str, ast.ClassDef] = field(default_factory=dict)


def _top_level(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """A module's statements, into ``if``/``try``/``with`` blocks (``TYPE_CHECKING`` imports)."""
    for node in body:
        yield node
        if isinstance(node, ast.If | ast.With):
            yield from _top_level(node.body)
            yield from _top_level(getattr(node, "orelse", []))
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody):
                yield from _top_level(block)
            for handler in node.handlers:
                yield from _top_level(handler.body)


def _targets(node: ast.stmt) -> list[ast.expr]:
    if isinstance(node, ast.Assign):
        return node.targets
    if isinstance(node, ast.AnnAssign | ast.AugAssign):
        return [node.target]
    return []


@cache
def _module(path: Path) -> _Module:
    """A module's definitions, and what it imports only where its ``__all__`` re-exports it
    (``oidc_kit.RedactTokens``): a name a module merely uses is not where the code lives."""
    found = _Module()
    imported: set[str] = set()
    exported: set[str] = set()
    for node in _top_level(ast.parse(path.read_text(encoding="utf-8")).body):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            found.names.add(node.name)
            if isinstance(node, ast.ClassDef):
                found.classes[node.name] = node
        elif isinstance(node, ast.Import | ast.ImportFrom):
            imported.update((a.asname or a.name).split(".")[0] for a in node.names)
        for target in _targets(node):
            found.names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
            value = getattr(node, "value", None)
            if isinstance(target, ast.Name) and target.id == "__all__" and value is not None:
                exported.update(
                    c.value
                    for c in ast.walk(value)
                    if isinstance(c, ast.Constant) and isinstance(c.value, str)
                )
    found.names |= imported & exported
    return found


@cache
def _kit_modules() -> dict[str, Path]:
    """The kit's modules by dotted name below ``oidc_kit`` (``_flow``, ``stores.sqlite``), and a
    private one by its last part alone where that is unique (``_op_context``, not ``redis``).
    ``""`` is the package."""
    full: dict[str, Path] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        full[".".join(parts)] = path
    last: dict[str, list[Path]] = {}
    for name, path in full.items():
        if name:
            last.setdefault(name.rpartition(".")[2], []).append(path)
    short = {n: paths[0] for n, paths in last.items() if len(paths) == 1 and n.startswith("_")}
    return {**short, **full}


@cache
def _kit_classes() -> dict[str, list[ast.ClassDef]]:
    """Every class the kit defines, by name (a name may be defined in several modules)."""
    classes: dict[str, list[ast.ClassDef]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for name, node in _module(path).classes.items():
            classes.setdefault(name, []).append(node)
    return classes


def _members(cls: ast.ClassDef, seen: frozenset[str] = frozenset()) -> set[str]:
    """A class's methods and attributes (class level and ``self.x``), and its kit bases'."""
    names: set[str] = set()
    for node in cls.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        for target in _targets(node):
            names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
    for inner in ast.walk(cls):
        targets = _targets(inner) if isinstance(inner, ast.stmt) else []
        names.update(
            t.attr
            for t in targets
            if isinstance(t, ast.Attribute)
            and isinstance(t.value, ast.Name)
            and t.value.id in {"self", "cls"}
        )
    for base in cls.bases:
        name = base.attr if isinstance(base, ast.Attribute) else getattr(base, "id", None)
        if name and name not in seen:
            for parent in _kit_classes().get(name, []):
                names |= _members(parent, seen | {cls.name})
    return names


def _class_has(name: str, attr: str) -> bool:
    return any(attr in _members(cls) for cls in _kit_classes().get(name, []))


def _module_has(path: Path, parts: list[str]) -> bool:
    """Whether ``parts`` (``["LoginFlow", "start"]``) name something the module defines."""
    module = _module(path)
    if not parts:
        return True  # the module itself
    if parts[0] not in module.names:
        return False
    if len(parts) == 1:
        return True
    if parts[0] in module.classes:
        return parts[1] in _members(module.classes[parts[0]])
    if parts[0] in _kit_classes():  # a class the module imports
        return _class_has(parts[0], parts[1])
    return True  # an attribute of something else the module holds: not followed


def _resolve(ref: str) -> bool | None:
    """Whether a dotted kit name exists; ``None`` when ``ref`` is not the kit's code."""
    if ref.endswith(".py"):  # a file: _flow.py, stores/sqlite.py, example_app/settings.py
        return (ROOT / ref).is_file() or (PACKAGE / ref).is_file() or ref[:-3] in _kit_modules()
    if "/" in ref:
        return _resolve_path(ref)
    modules = _kit_modules()
    parts = ref.split(".")
    if parts[0] == "oidc_kit":  # the longest module prefix, else a name of the package
        parts = parts[1:]
        cut = next((c for c in range(len(parts), 0, -1) if ".".join(parts[:c]) in modules), 0)
        return _module_has(modules[".".join(parts[:cut])], parts[cut:])
    for cut in range(len(parts) - 1, 0, -1):
        if ".".join(parts[:cut]) in modules:
            return _module_has(modules[".".join(parts[:cut])], parts[cut:])
    if parts[0] in _kit_classes():
        return _class_has(parts[0], parts[1])
    return None


def _resolve_path(ref: str) -> bool | None:
    """``testing/_op_pages.render_page``: a module by its path (in the kit, or the project),
    then names in it; ``None`` when the folder holds no Python (``static/countdown.js``)."""
    where, _, rest = ref.rpartition("/")
    folders = [d for d in (PACKAGE / where, ROOT / where) if any(d.glob("*.py"))]
    if not folders:
        return None
    module, *parts = rest.split(".")
    paths = [d / f"{module}.py" for d in folders if (d / f"{module}.py").is_file()]
    return bool(paths) and _module_has(paths[0], parts)


def _spans() -> list[str]:
    """Every backtick span of the page, a span broken over lines joined again."""
    text = DOC.read_text(encoding="utf-8")
    return [" ".join(span.split()) for span in _SPAN.findall(text)]


def _test_refs() -> list[tuple[str, list[str]]]:
    refs = []
    for span in _spans():
        match = _TEST_REF.match(span)
        if match:
            refs.append((match[1], [p for p in match[2].split("::") if p]))
    return refs


def _code_refs() -> list[str]:
    refs = []
    for span in _spans():
        match = _DOTTED.match(span)
        if match and not span.startswith("tests/") and _resolve(match[1]) is not None:
            refs.append(match[1])
    return refs


@functools.cache
def _parsed(path: Path) -> list[ast.stmt]:
    """A test file's top-level statements (parsed once: the page cites hundreds of tests)."""
    return ast.parse(path.read_text(encoding="utf-8")).body


def _defines(path: Path, names: list[str]) -> bool:
    """Whether the test file defines ``names``: a test, or a class and a test in it."""
    body: list[ast.stmt] = _parsed(path)
    for name in names:
        node = next(
            (
                n
                for n in body
                if (
                    isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
                    and n.name == name
                )
                or any(isinstance(t, ast.Name) and t.id == name for t in _targets(n))
            ),
            None,
        )
        if node is None:
            return False
        body = node.body if isinstance(node, ast.ClassDef) else []
    return True


def test_every_test_the_page_cites_exists() -> None:
    refs = _test_refs()
    assert len(refs) > 300, "the page cites fewer tests than expected: is the pattern right?"
    cited = {(file, tuple(names)) for file, names in refs}
    missing = sorted(
        "::".join([file, *names])
        for file, names in cited
        if not (ROOT / file).is_file() or not _defines(ROOT / file, list(names))
    )
    assert not missing, missing


def test_every_kit_name_the_page_cites_exists() -> None:
    refs = _code_refs()
    assert len(refs) > 100, "the page cites fewer names than expected: is the pattern right?"
    missing = sorted({ref for ref in refs if not _resolve(ref)})
    assert not missing, missing


@pytest.mark.parametrize(
    ("ref", "exists"),
    [
        ("_transaction.take_transaction", True),
        ("RelyingParty.finish_login", True),
        ("_dpop.DPoPKey.generate", True),
        ("oidc_kit.fastapi.requires_step_up", True),
        ("_flow.py", True),
        ("OIDCAuth.no_such_method", False),
        ("_flow.no_such_function", False),
        ("_no_such_module.py", False),
        ("tests/no_such_file.py", False),
        ("testing/_op_pages.no_such_function", False),
    ],
)
def test_the_resolver_tells_names_that_exist_from_stale_ones(ref: str, exists: bool) -> None:
    assert _resolve(ref) is exists


def test_the_resolver_leaves_what_is_not_the_kits_code() -> None:
    for text in ("urllib.parse.parse_qsl", "request.form", "auth.providers", "redis.asyncio"):
        assert _resolve(text) is None, text


def test_the_threats_are_numbered_and_each_has_a_defence_and_tests() -> None:
    text = DOC.read_text(encoding="utf-8")
    numbers = [int(n) for n in _THREAT.findall(text)]
    assert len(numbers) >= 50, "fewer threats than expected: is the heading pattern right?"
    assert numbers == list(range(1, len(numbers) + 1)), numbers
    sections = _THREAT.split(text)[1:]
    for number, body in zip(sections[::2], sections[1::2], strict=True):
        body = body.split("\n## ")[0]
        assert "- **Defence:**" in body, f"threat {number} has no defence"
        tests = body.partition("- **Tests")[2]
        assert "`tests/" in tests, f"threat {number} cites no test"
