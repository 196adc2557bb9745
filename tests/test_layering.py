"""The layers: the core imports no web framework; only the adapters do.

A static walk of every module's imports (``import x``, ``from x import y``, relative ones
resolved), followed through the kit's own modules: a core module that imports an adapter, or
an adapter's framework, fails here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "oidc_kit"

#: The modules that may import a web framework (docs/architecture.md, "Adapters").
ADAPTERS = frozenset(
    {
        "oidc_kit.starlette",
        "oidc_kit.fastapi",
        "oidc_kit._middleware",
        "oidc_kit._starlette_user",
        "oidc_kit._login_required",
        "oidc_kit._web",
        "oidc_kit._body",
        "oidc_kit._web_kit",
        "oidc_kit._routes",
        "oidc_kit.flask",
        "oidc_kit.django",
        "oidc_kit.django._checks",
        "oidc_kit.django._decorators",
        "oidc_kit.django._http",
        "oidc_kit.django._kit",
        "oidc_kit.django._users",
        "oidc_kit.django._views",
        "oidc_kit.django.apps",
        "oidc_kit.django.backends",
        "oidc_kit.django.middleware",
        "oidc_kit.django.urls",
    }
)
FRAMEWORKS = ("starlette", "fastapi", "flask", "django")
#: The sandbox provider is an app of its own (a Starlette app), not part of the kit's core.
OUTSIDE = ("oidc_kit.testing",)


def _name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Absolute names of what ``path`` imports (relative imports resolved)."""
    name = _name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


MODULES = {_name(p): _imports(p) for p in PACKAGE.rglob("*.py")}


def _reach(start: str) -> set[str]:
    """Every kit module ``start`` imports, directly or through others."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        for imported in MODULES.get(todo.pop(), ()):
            if imported in MODULES and imported not in seen:
                seen.add(imported)
                todo.append(imported)
    return seen


CORE = sorted(m for m in MODULES if m not in ADAPTERS and not m.startswith(OUTSIDE))


@pytest.mark.parametrize("module", CORE)
def test_a_core_module_imports_no_web_framework(module: str) -> None:
    for reached in {module, *_reach(module)}:
        assert reached not in ADAPTERS, f"{module} imports the adapter {reached}"
        frameworks = [i for i in MODULES[reached] if i.split(".")[0] in FRAMEWORKS]
        assert not frameworks, f"{module} reaches {reached}, which imports {frameworks}"


def test_the_walk_sees_the_adapters_imports() -> None:
    # Guards the test itself: an adapter's framework imports are found.
    assert any(i.startswith("starlette") for i in MODULES["oidc_kit.starlette"])
    assert "oidc_kit._relying_party" in _reach("oidc_kit.starlette")
    assert any(i.startswith("flask") for i in MODULES["oidc_kit.flask"])


@pytest.mark.parametrize("module", ["oidc_kit._sync_kit", "oidc_kit._kit_parts"])
def test_the_sync_kit_is_core_and_free_of_flask(module: str) -> None:
    # What the Flask adapter (and a Django one) stands on is core: no framework, no adapter,
    # no Starlette; Flask itself is reached by oidc_kit.flask alone.
    assert module in CORE
    for reached in {module, *_reach(module)}:
        assert not any(i.split(".")[0] in FRAMEWORKS for i in MODULES[reached]), reached
    reaching_flask = {m for m in MODULES if any(i.split(".")[0] == "flask" for i in MODULES[m])}
    assert reaching_flask == {"oidc_kit.flask"}


def test_the_flask_adapter_drives_the_sync_kit_not_starlette() -> None:
    # A thin adapter: the routes, the session step and the answers are the sync kit's; none
    # of the Starlette adapter's modules is needed to serve a Flask app.
    reached = _reach("oidc_kit.flask")
    assert "oidc_kit._sync_kit" in reached and "oidc_kit._handlers" in reached
    assert not reached & (ADAPTERS - {"oidc_kit.flask"}), reached & ADAPTERS


DJANGO = frozenset(m for m in ADAPTERS if m.startswith("oidc_kit.django"))


def test_the_django_adapter_drives_the_sync_kit_not_starlette_or_flask() -> None:
    # Every module of the package is listed (a new one must be, to be allowed Django), only
    # they import Django, and none of them needs the Starlette or Flask adapters.
    assert {m for m in MODULES if m.startswith("oidc_kit.django")} == DJANGO
    reaching = {m for m in MODULES if any(i.split(".")[0] == "django" for i in MODULES[m])}
    assert reaching <= DJANGO and "oidc_kit.django.middleware" in reaching
    for module in DJANGO:
        reached = _reach(module)
        assert not reached & (ADAPTERS - DJANGO), (module, reached & ADAPTERS)
    assert "oidc_kit._sync_kit" in _reach("oidc_kit.django.middleware")
    assert "oidc_kit._handlers" in _reach("oidc_kit.django.urls")


@pytest.mark.parametrize(
    "module",
    ["oidc_kit._middleware", "oidc_kit._login_required", "oidc_kit._web_kit", "oidc_kit._routes"],
)
def test_the_adapters_parts_see_the_web_kit_not_oidc_auth(module: str) -> None:
    # They depend on what they use (_web_kit.WebKit; for _routes, what its handlers call), not
    # on OIDCAuth's internals: no import of oidc_kit.starlette, not even for type checking
    # (the walk sees those too).
    assert "oidc_kit.starlette" not in {*MODULES[module], *_reach(module)}


def test_no_kit_module_imports_itself_back() -> None:
    # An import cycle among the kit's own modules (the package itself aside: every module
    # is imported through it).
    cycles = [m for m in MODULES if m != "oidc_kit" and m in _reach(m)]
    assert not cycles, cycles
