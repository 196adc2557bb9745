"""The docs' install lines name what the package really is: its name and its extras.

``pip install 'oidc_kit[fastapi]'`` works from an index once the package is published, and
``pip install '/path/to/oidc_kit[fastapi]'`` from a checkout today (docs/index.md says so):
either way, a wrong extra or name would fail for a reader. tests/test_package.py builds and
installs the real package.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent

#: ``pip install ARGS`` in a console block or in backquotes, up to the end of the command.
PIP_INSTALL = re.compile(r"pip install ([^`#\n]+)")


def _pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def _kit_specs() -> list[tuple[str, str]]:
    """(page, argument) for every ``pip install`` argument that names oidc_kit."""
    found = []
    for page in _pages():
        for command in PIP_INSTALL.findall(page.read_text()):
            for argument in re.findall(r"[^\s'\"`]+", command):
                # `oidc_kit[...]` in prose stands for any extra
                if "oidc_kit" in argument and "[...]" not in argument:
                    found.append((page.relative_to(ROOT).as_posix(), argument))
    return found


def test_the_install_lines_name_the_package_and_its_extras() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = set(project["optional-dependencies"])
    specs = _kit_specs()
    assert ("docs/fastapi.md", "oidc_kit[fastapi]") in specs
    assert ("docs/fastapi.md", "/path/to/oidc_kit[fastapi]") in specs
    for page, spec in specs:
        if spec.endswith(".whl"):  # a wheel of ours: dist/oidc_kit-*.whl
            assert re.fullmatch(r"(\S+/)?oidc_kit-\S+\.whl", spec), (page, spec)
            continue
        path, _, extra_part = spec.partition("[")
        name = path.rsplit("/", 1)[-1]  # a checkout's folder, or the distribution's name
        requirement = Requirement(name + ("[" + extra_part if extra_part else ""))
        assert canonicalize_name(requirement.name) == canonicalize_name(project["name"]), (
            page,
            spec,
        )
        assert requirement.extras <= extras, (page, spec)


def test_a_checkout_is_never_path_slash_to_without_a_root() -> None:
    # `pip install path/to/oidc_kit` read as a relative path; a placeholder is /path/to/...
    relative = [s for s in _kit_specs() if s[1].startswith("path/to/")]
    assert relative == []
