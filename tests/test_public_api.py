"""The public API: small, honest and importable from where the docs say.

- every public module's ``__all__`` exists and is sorted, and the whole error tree is exported;
- no public signature (a function's, a method's, a property's, a class's annotated
  attributes) names a type of a private module (``oidc_kit._x``) that no public module
  exports, and no public attribute of a live kit holds one;
- every ``from oidc_kit... import X`` and every ``oidc_kit.x.Y`` the docs, the README and the
  example app name imports.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

import oidc_kit
import oidc_kit._errors
from oidc_kit import (
    BearerAuth,
    ClientCredentials,
    Introspector,
    MemoryStore,
    TokenSet,
    TokenSource,
)
from oidc_kit import _telemetry as telemetry
from oidc_kit.starlette import OIDCAuth
from tests.conftest import make_config

ROOT = Path(__file__).resolve().parent.parent

#: The modules apps import from. A module whose dotted name has a part starting with ``_``
#: is private, whatever its ``__all__`` says.
PUBLIC_MODULES = (
    "oidc_kit",
    "oidc_kit.client_credentials",
    "oidc_kit.django",
    "oidc_kit.django.middleware",
    "oidc_kit.fastapi",
    "oidc_kit.flask",
    "oidc_kit.httpx_auth",
    "oidc_kit.starlette",
    "oidc_kit.stores",
    "oidc_kit.testing",
)


def _is_private(module: str) -> bool:
    return any(part.startswith("_") for part in module.split("."))


def _public_names() -> Iterator[tuple[str, str, object]]:
    """``(module, name, object)`` for every name of every public module's ``__all__``."""
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            yield module_name, name, getattr(module, name)


def _exported() -> set[int]:
    """The ids of every object a public module exports."""
    return {id(obj) for _, _, obj in _public_names()}


def _types_in(hint: object) -> Iterator[object]:
    """Every class a type hint mentions (``X | None``, ``Mapping[str, X]``, ``Callable[[X],
    Awaitable[Y]]``, ``Annotated[X, ...]``, ``type[X]`` ...)."""
    if isinstance(hint, type):
        yield hint
    origin = typing.get_origin(hint)
    if origin is not None:
        yield from _types_in(origin)
    for arg in typing.get_args(hint):
        if isinstance(arg, list | tuple):
            for item in arg:
                yield from _types_in(item)
        else:
            yield from _types_in(arg)


def _leaks(hints: dict[str, Any], exported: set[int]) -> set[str]:
    """The private, unexported kit types ``hints`` name."""
    found = set()
    for hint in hints.values():
        for kind in _types_in(hint):
            module = getattr(kind, "__module__", "")
            if module.startswith("oidc_kit") and _is_private(module) and id(kind) not in exported:
                found.add(f"{module}.{getattr(kind, '__qualname__', kind)}")
    return found


def _own_members(cls: type) -> Iterator[tuple[str, Callable[..., Any]]]:
    """A public class's public functions, methods, properties and ``__init__``/``__call__``
    (the kit's own: not those inherited from Starlette, httpx or ``object``)."""
    for name in dir(cls):
        if name.startswith("_") and name not in ("__init__", "__call__"):
            continue
        member = inspect.getattr_static(cls, name, None)
        if isinstance(member, property):
            member = member.fget
        elif isinstance(member, classmethod | staticmethod):
            member = member.__func__
        if inspect.isfunction(member) and member.__module__.startswith("oidc_kit"):
            yield name, member


def _signature_leaks() -> dict[str, set[str]]:
    exported = _exported()
    leaks: dict[str, set[str]] = {}

    def check(where: str, obj: Any) -> None:
        found = _leaks(typing.get_type_hints(obj, include_extras=True), exported)
        if found:
            leaks[where] = found

    for module, name, obj in _public_names():
        where = f"{module}.{name}"
        if inspect.isclass(obj):
            check(where, obj)  # annotated attributes, dataclass fields
            for member_name, member in _own_members(obj):
                check(f"{where}.{member_name}", member)
        elif inspect.isfunction(obj):
            check(where, obj)
    return leaks


# -- __all__ ----------------------------------------------------------------------------------


def test_all_is_sorted_and_complete() -> None:
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        names = module.__all__
        assert names == sorted(names, key=lambda n: (not n.isupper(), n)), module_name
        for name in names:
            assert hasattr(module, name), f"{module_name}.{name}"


def test_the_whole_error_tree_is_exported() -> None:
    """An app catches any of the kit's errors by importing it from ``oidc_kit``."""
    for name in oidc_kit._errors.__all__:
        assert name in oidc_kit.__all__, name
        assert getattr(oidc_kit, name) is getattr(oidc_kit._errors, name)


def test_every_public_error_has_a_stable_code_and_a_status() -> None:
    errors = [getattr(oidc_kit, n) for n in oidc_kit.__all__]
    errors = [e for e in errors if isinstance(e, type) and issubclass(e, oidc_kit.OIDCError)]
    assert len(errors) >= 15
    for error in errors:
        assert error.code and error.code == error.code.lower(), error
        assert 400 <= error.status < 600, error
    exc = oidc_kit.InvalidIdToken("ID token aud is invalid", expected="a", actual="b")
    assert exc.as_dict() == {
        "error": "invalid_id_token",
        "error_description": "ID token aud is invalid",
    }
    assert "expected 'a', got 'b'" in str(exc)


def test_the_pieces_apps_and_adapter_authors_use_are_exported() -> None:
    """Hooks and their events (``OIDCAuth(hooks=Hooks(...))``, docs/starlette.md), and the
    core an adapter drives (docs/architecture.md)."""
    for name in (
        "Hooks",
        "LoginEvent",
        "LogoutEvent",
        "RefreshFailedEvent",
        "LoginDenied",
        "RelyingParty",
        "Outcome",
        "CookieChange",
        "Session",
        "TokenSource",
        "BearerAuth",
        "Introspector",
        "TokenIntrospection",
    ):
        assert name in oidc_kit.__all__, name


def test_the_public_api_is_documented() -> None:
    """Every public class and function has a docstring, and so has every public method and
    property a public class defines."""
    undocumented = []
    for module, name, obj in _public_names():
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue
        if not (obj.__doc__ or "").strip():
            undocumented.append(f"{module}.{name}")
        if inspect.isclass(obj):
            undocumented += [
                f"{module}.{name}.{member_name}"
                for member_name, member in _own_members(obj)
                if member_name in vars(obj)
                and not member_name.startswith("_")
                and not (member.__doc__ or "").strip()
            ]
    assert not undocumented, undocumented


# -- no private type in a public signature ----------------------------------------------------


def test_no_public_signature_names_a_private_type() -> None:
    leaks = _signature_leaks()
    assert not leaks, "\n".join(f"{where}: {', '.join(sorted(t))}" for where, t in leaks.items())


def test_the_signature_walk_sees_a_leak() -> None:
    """The walk itself: a public function annotated with a private type is caught, through
    ``X | None``, a container and a ``Callable``."""
    from oidc_kit._dpop import DPoPKey
    from oidc_kit._session import Sessions

    def leaky(key: DPoPKey | None, handlers: dict[str, Callable[[Sessions], None]]) -> None: ...

    found = _leaks(typing.get_type_hints(leaky, localns=locals()), _exported())
    assert found == {"oidc_kit._dpop.DPoPKey", "oidc_kit._session.Sessions"}


def _public_attribute_leaks(obj: object, exported: set[int]) -> set[str]:
    """Public instance attributes holding an object of a private, unexported kit type."""
    found = set()
    for name, value in vars(obj).items():
        kind = type(value)
        if (
            not name.startswith("_")
            and kind.__module__.startswith("oidc_kit")
            and _is_private(kind.__module__)
            and id(kind) not in exported
        ):
            found.add(f"{type(obj).__name__}.{name}: {kind.__module__}.{kind.__qualname__}")
    return found


async def test_no_public_attribute_holds_a_private_type(kit: OIDCAuth) -> None:
    """What an app can reach on the objects it holds: instance attributes are not in any
    signature, so they are checked on live objects."""
    exported = _exported()
    async with httpx.AsyncClient() as http:
        source = ClientCredentials(make_config(), scopes=["accounts:read"], http_client=http)
        introspector = Introspector(make_config(), http_client=http)
        objects = [kit, kit.rp, source, source.auth(), MemoryStore(), introspector]
        leaks = set().union(*(_public_attribute_leaks(o, exported) for o in objects))
    assert not leaks, leaks


def test_one_token_source_protocol() -> None:
    """A user's session, the app's client credentials and an app's own source are the same
    protocol, and :class:`BearerAuth` takes any of them."""

    class Static:
        async def tokens(self) -> TokenSet:
            return TokenSet(access_token="t", token_type="Bearer")

        async def refreshed(self, rejected: str) -> TokenSet:
            return TokenSet(access_token="t2", token_type="Bearer")

    assert isinstance(Static(), TokenSource)
    assert isinstance(BearerAuth(Static()), httpx.Auth)
    assert "TokenSetSource" not in vars(importlib.import_module("oidc_kit.httpx_auth"))
    assert not hasattr(importlib.import_module("oidc_kit.httpx_auth"), "SessionAuth")


# -- what the docs name imports ---------------------------------------------------------------

#: ``from oidc_kit.x import (A, B as C,\n D)`` in any code block or line of a page (inline
#: code too: it ends at the closing backtick).
_FROM_IMPORT = re.compile(r"from\s+(oidc_kit[\w.]*)\s+import\s+(\([^)]*\)|[^\n`#]+)")
#: ``oidc_kit.x.Y`` named in prose or code.
_DOTTED = re.compile(r"\boidc_kit(?:\.\w+)+")


def _doc_texts() -> Iterator[tuple[str, str]]:
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        yield page.relative_to(ROOT).as_posix(), page.read_text(encoding="utf-8")


def _imported_names(clause: str) -> list[str]:
    names = clause.strip().strip("()").split("#")[0]
    return [n.split(" as ")[0].strip() for n in names.replace("\n", ",").split(",") if n.strip()]


def _resolves(dotted: str) -> bool:
    """Whether ``a.b.C.d`` is a module, or an attribute path from the longest module prefix."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


def _doc_imports() -> list[tuple[str, str, str]]:
    """``(page, module, name)`` for every ``from oidc_kit... import name`` of the docs."""
    found = []
    for page, text in _doc_texts():
        for match in _FROM_IMPORT.finditer(text):
            for name in _imported_names(match.group(2)):
                if name.isidentifier():
                    found.append((page, match.group(1), name))
    return found


def test_the_docs_import_what_exists() -> None:
    imports = _doc_imports()
    assert len(imports) >= 20  # the scan finds the docs' imports
    missing = [
        f"{page}: from {module} import {name}"
        for page, module, name in imports
        if not hasattr(importlib.import_module(module), name)
    ]
    assert not missing, missing


def test_the_docs_import_public_names_from_public_modules() -> None:
    """The docs teach the public API: what they import comes from a public module's
    ``__all__``."""
    private = [
        f"{page}: from {module} import {name}"
        for page, module, name in _doc_imports()
        if _is_private(module) or name not in importlib.import_module(module).__all__
    ]
    assert not private, private


def test_every_dotted_name_the_docs_mention_exists() -> None:
    mentioned = {(page, m) for page, text in _doc_texts() for m in _DOTTED.findall(text)}
    assert mentioned
    # Spans, metrics and attributes (docs/operations.md) are names of telemetry, not of code.
    missing = sorted(
        f"{page}: {name}"
        for page, name in mentioned
        if not _resolves(name) and name not in telemetry.NAMES
    )
    assert not missing, missing


def _example_app_imports() -> Iterator[tuple[str, str, str | None]]:
    """``(file, module, name)`` for every import of the kit in example_app's code."""
    for path in sorted((ROOT / "example_app").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        where = path.relative_to(ROOT).as_posix()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("oidc_kit"):
                for alias in node.names:
                    yield where, node.module or "", alias.name
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("oidc_kit"):
                        yield where, alias.name, None


def test_the_example_app_imports_what_exists() -> None:
    imports = list(_example_app_imports())
    assert imports
    for where, module, name in imports:
        loaded = importlib.import_module(module)
        assert name is None or hasattr(loaded, name), f"{where}: from {module} import {name}"


def test_the_example_app_uses_only_the_public_api() -> None:
    """The starter template people copy imports nothing private of the kit."""
    private = [
        f"{where}: {module}.{name}"
        for where, module, name in _example_app_imports()
        if _is_private(module) or (name is not None and name.startswith("_"))
    ]
    assert not private, private
