"""Reference pages generated from the code, so they cannot drift from it.

Used by mkdocs as a hook (``hooks:`` in mkdocs.yml): a page containing the marker
``<!-- generated: configuration -->`` gets the tables of the settings' fields
(:class:`oidc_kit.ProviderConfig` and :class:`oidc_kit.AppConfig`, which ``OIDCConfig`` joins;
environment variable, type, default, and the ``#:`` comment above the field), and
``<!-- generated: errors -->`` gets the error tree of ``oidc_kit._errors`` (class, code, HTTP
status, docstring). ``python -m tools.docs_reference`` prints both.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Mapping
from dataclasses import MISSING, Field, fields
from typing import Any

from oidc_kit import AppConfig, OIDCError, ProviderConfig
from oidc_kit._env import ENV_NAMES as _ENV_NAMES

CONFIG_MARKER = "<!-- generated: configuration -->"
ERRORS_MARKER = "<!-- generated: errors -->"


def field_comments(cls: type) -> dict[str, str]:
    """The ``#:`` comment lines right above each field of a dataclass, joined."""
    source = textwrap.dedent(inspect.getsource(cls))
    lines = source.splitlines()
    comments: dict[str, str] = {}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            above: list[str] = []
            number = node.lineno - 2  # 0-based index of the line above
            while number >= 0 and lines[number].strip().startswith("#:"):
                above.insert(0, lines[number].strip()[2:].strip())
                number -= 1
            comments[node.target.id] = " ".join(above)
    return comments


def _default(f: Field[Any]) -> str:
    if f.default is not MISSING:
        value = f.default
    elif f.default_factory is not MISSING:
        value = f.default_factory()
    else:
        return "required"
    if value is None:
        return "unset"
    if isinstance(value, tuple | Mapping) and not value:
        return "none"
    if isinstance(value, bool):
        return "`1`" if value else "off"
    if isinstance(value, tuple):
        return "`" + " ".join(map(str, value)) + "`"
    return f"`{value}`"


def _type(f: Field[Any]) -> str:
    # Lists are read from one variable, comma- or space-separated (OIDCConfig.from_env).
    kind = str(f.type).replace(" | None", "").replace("tuple[str, ...]", "list")
    # Mappings are read from one variable as a URL query string (``auth_params``).
    kind = kind.replace("Mapping[str, str]", "query string")
    return {"str": "string", "int": "integer", "float": "number", "bool": "boolean"}.get(kind, kind)


def config_reference() -> str:
    """Markdown tables of every setting: the provider's (:class:`ProviderConfig`) and the
    app's (:class:`AppConfig`), which :class:`OIDCConfig` joins."""
    return "\n\n".join(
        [
            "### Provider settings (`ProviderConfig`)",
            _settings_table(ProviderConfig),
            "### App settings (`AppConfig`)",
            _settings_table(AppConfig),
        ]
    )


def _settings_table(cls: type) -> str:
    """A Markdown table of a settings class's fields."""
    comments = field_comments(cls)
    rows = [
        f"| environment variable | `{cls.__name__}` field | type | default | meaning |",
        "|---|---|---|---|---|",
    ]
    for f in fields(cls):
        env = _ENV_NAMES.get(f.name)
        env_cell = f"`{env}`" if env else "(code only)"
        meaning = _markdown(comments.get(f.name, ""))
        if not meaning:
            raise ValueError(f"{cls.__name__}.{f.name} has no #: comment to document it")
        rows.append(f"| {env_cell} | `{f.name}` | {_type(f)} | {_default(f)} | {meaning} |")
    return "\n".join(rows)


def error_classes(root: type[OIDCError] = OIDCError, depth: int = 0) -> list[tuple[int, type]]:
    """The error tree, depth first, in definition order."""
    found: list[tuple[int, type]] = [(depth, root)]
    for sub in root.__subclasses__():
        found.extend(error_classes(sub, depth + 1))
    return found


def error_reference() -> str:
    """A Markdown table of the error tree: class, ``code``, HTTP status, meaning."""
    rows = ["| error class | `error` code | HTTP status | meaning |", "|---|---|---|---|"]
    for depth, cls in error_classes():
        indent = "&nbsp;&nbsp;&nbsp;&nbsp;" * depth
        doc = " ".join(inspect.cleandoc(cls.__doc__ or "").split("\n\n")[0].split())
        code = getattr(cls, "code", "")
        status = getattr(cls, "status", "")
        name = f"{indent}`{cls.__module__.split('.')[0]}.{cls.__name__}`"
        meaning = _markdown(doc)
        rows.append(f"| {name} | `{code}` | {status} | {meaning} |")
    return "\n".join(rows)


def _markdown(text: str) -> str:
    """A docstring's reST-style ``code`` as Markdown, safe inside a table cell."""
    return text.replace("``", "`").replace("|", "\\|")


def on_page_markdown(markdown: str, **_: Any) -> str:
    """mkdocs hook: fill in the generated references."""
    if CONFIG_MARKER in markdown:
        markdown = markdown.replace(CONFIG_MARKER, config_reference())
    if ERRORS_MARKER in markdown:
        markdown = markdown.replace(ERRORS_MARKER, error_reference())
    return markdown


if __name__ == "__main__":
    print(config_reference(), end="\n\n")
    print(error_reference())
