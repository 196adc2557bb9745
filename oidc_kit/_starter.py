"""``oidc-kit new``: a starter project, the example app under the user's own name.

The example app (the ``example_app`` package, installed with oidc_kit) is read through
``importlib.resources``, so the command works from a wheel as from a checkout. Its files are
copied under a package named after the app ("My Bank" → ``my_bank``), with every mention of
``example_app`` (and of its sandbox client, ``example-app``) renamed and ``APP_NAME``
defaulting to the given name. Around the package come the files of ``starter/`` (a
``pyproject.toml`` that depends on ``oidc_kit[demo]``, a README, ``.env.example``,
``.gitignore``, a ``Makefile`` (``make demo``, which the copied code's messages name, and
``make test``) and tests that log in through the embedded sandbox), with their
``{{ placeholders }}`` filled in.

Nothing here imports a web framework or the example app's code: it is text in, text out.
"""

from __future__ import annotations

import importlib.resources
import keyword
import re
import sys
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib.resources.abc import Traversable
from pathlib import Path, PurePosixPath

from . import __version__

__all__ = [
    "ProjectNames",
    "StarterError",
    "check_target",
    "default_name",
    "names_for",
    "render",
    "write",
]

#: The package copied, and what its name becomes.
SOURCE_PACKAGE = "example_app"
#: The sandbox client's id in the example app (``settings.SANDBOX_CLIENT_ID``).
SOURCE_CLIENT_ID = "example-app"
SOURCE_APP_NAME = "Example Bank"

#: The longest name accepted: it is a page title and a header, not a sentence.
MAX_NAME = 60
# Letters, digits, spaces and a little punctuation: the name goes into a Python string,
# TOML, a shell-quoted .env line and Markdown as it is, so none of them needs escaping.
_NAME = re.compile(r"[^\W_][\w .,&'()-]*")
#: Packages the project imports (or is): a package of that name would shadow it.
_TAKEN = frozenset(
    {
        "oidc_kit",
        SOURCE_PACKAGE,
        "test",
        "tests",
        "authlib",
        "cryptography",
        "httpx",
        "itsdangerous",
        "jinja2",
        "joserfc",
        "markupsafe",
        "pytest",
        "redis",
        "starlette",
        "uvicorn",
    }
)
#: The starter's own files (in ``oidc_kit/starter/``) and where they go; ``{module}`` is
#: the package's name. ``package_init`` replaces the example app's ``__init__.py``, which
#: presents the demo; the example app's README is left out (the project's README says it).
_TEMPLATES = {
    "pyproject.toml.tmpl": "pyproject.toml",
    "README.md.tmpl": "README.md",
    "env.example.tmpl": ".env.example",
    "gitignore.tmpl": ".gitignore",
    "Makefile.tmpl": "Makefile",
    "test_app.py.tmpl": "tests/test_app.py",
    "package_init.py.tmpl": "{module}/__init__.py",
}
_LEFT_OUT = frozenset({"README.md"})
_PLACEHOLDER = re.compile(r"\{\{ (\w+) \}\}")


class StarterError(ValueError):
    """A name or a folder ``oidc-kit new`` cannot use (a usage error: exit status 2)."""


@dataclass(frozen=True)
class ProjectNames:
    """The app's names: ``name`` on its pages, ``module`` its package, ``dist`` its
    distribution and its sandbox client id."""

    name: str
    module: str
    dist: str


def names_for(name: str) -> ProjectNames:
    """The names a project called ``name`` gets; :class:`StarterError` if it cannot have them."""
    name = " ".join(name.split())
    if not name:
        raise StarterError("the app's name is empty")
    if len(name) > MAX_NAME:
        raise StarterError(f"the app's name is longer than {MAX_NAME} characters")
    if not _NAME.fullmatch(name):
        raise StarterError(
            f"invalid app name {name!r}: use letters, digits, spaces and . , & ' ( ) - "
            "(starting with a letter or a digit)"
        )
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    module = "_".join(re.findall(r"[a-z0-9]+", ascii_name.lower()))
    if not module[:1].isalpha():
        raise StarterError(
            f"invalid app name {name!r}: its package name ({module or 'empty'!r}) must start "
            "with a letter a-z"
        )
    if keyword.iskeyword(module) or module in sys.stdlib_module_names or module in _TAKEN:
        raise StarterError(
            f"invalid app name {name!r}: its package name {module!r} is taken by Python or by "
            "a package the app uses; choose another name"
        )
    return ProjectNames(name=name, module=module, dist=module.replace("_", "-"))


def default_name(path: Path) -> str:
    """The name of a project written to ``path`` when none is given: ``my-bank`` → My Bank."""
    words = re.split(r"[\s._-]+", path.resolve().name)
    return " ".join(word[:1].upper() + word[1:] for word in words if word)


def render(names: ProjectNames) -> dict[PurePosixPath, bytes]:
    """Every file of the project, by path relative to its folder."""
    files = {
        PurePosixPath(names.module, path): _renamed(content, names)
        for path, content in _source_files()
        if str(path) not in _LEFT_OUT
    }
    values = _values(names)
    for template, target in _TEMPLATES.items():
        text = _starter_dir().joinpath(template).read_text(encoding="utf-8")
        files[PurePosixPath(target.format(module=names.module))] = _filled(text, values)
    return files


def write(path: Path, names: ProjectNames) -> list[PurePosixPath]:
    """Write the project into ``path`` (made if missing; an existing one must be empty).

    Everything is rendered before the first file is written, so that a template or a name
    that fails leaves nothing behind. Returns the files written, relative to ``path``.
    """
    check_target(path)
    files = render(names)
    for relative, content in sorted(files.items()):
        target = path.joinpath(*relative.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    return sorted(files)


def check_target(path: Path) -> None:
    """:class:`StarterError` unless ``path`` is missing or an empty folder."""
    if path.is_dir():
        if any(path.iterdir()):
            raise StarterError(f"{path} is not empty: give a new folder, or an empty one")
    elif path.exists() or path.is_symlink():
        raise StarterError(f"{path} exists and is not a folder")


def _source_files() -> Iterator[tuple[PurePosixPath, bytes]]:
    """The example app's files as installed: sources, templates and static files."""
    try:
        root = importlib.resources.files(SOURCE_PACKAGE)
    except ModuleNotFoundError:
        raise StarterError(
            f"the {SOURCE_PACKAGE} package is not installed: reinstall oidc_kit"
        ) from None
    yield from _walk(root, PurePosixPath())


def _walk(folder: Traversable, relative: PurePosixPath) -> Iterator[tuple[PurePosixPath, bytes]]:
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.startswith(".") or entry.name == "__pycache__":
            continue
        if entry.is_dir():
            yield from _walk(entry, relative / entry.name)
        elif not entry.name.endswith((".pyc", ".pyo")):
            yield relative / entry.name, entry.read_bytes()


def _renamed(content: bytes, names: ProjectNames) -> bytes:
    """A file of the example app, about the user's app; binary files as they are."""
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return content
    text = text.replace(SOURCE_PACKAGE, names.module)
    text = text.replace(SOURCE_CLIENT_ID, names.dist)
    text = text.replace(SOURCE_APP_NAME, names.name)
    # The prose: "the example app's settings" is the app's; the footer's "the demo of
    # oidc_kit" is an app built on it.
    text = re.sub(r"\b([Tt]he) (?:oidc_kit )?example app\b", r"\1 app", text)
    text = text.replace(
        "is the demo of <strong>oidc_kit</strong>", "is built on <strong>oidc_kit</strong>"
    )
    return text.encode("utf-8")


def _values(names: ProjectNames) -> dict[str, str]:
    return {
        "name": names.name,
        "module": names.module,
        "dist": names.dist,
        # The copied code is this release's example app: it needs this release's kit or later
        # (a local version label, "+...", is not allowed in a ">=" requirement).
        "kit_version": __version__.partition("+")[0],
    }


def _filled(text: str, values: Mapping[str, str]) -> bytes:
    def value(match: re.Match[str]) -> str:
        return values[match[1]]  # a KeyError is a broken template: a bug, not a usage error

    return _PLACEHOLDER.sub(value, text).encode("utf-8")


def _starter_dir() -> Traversable:
    return importlib.resources.files(__package__ or "oidc_kit").joinpath("starter")
