"""The package people install: the wheel and sdist of ``python -m build``, and the wheel in a
fresh venv, where ``oidc-kit --version`` and ``oidc-kit doctor --help`` run.

Nothing is downloaded while these tests run. The build uses the setuptools of the venv the
tests run in (``--no-isolation``; the ``dev`` extra installs it), and the fresh venv installs
the wheel's dependencies with ``--no-index`` from the wheelhouse that ``make install`` fills
(``pip download`` at install time, into ``.venv/wheelhouse``). Without a wheelhouse the
install tests skip, saying so, and fail under ``CI=true``.
"""

from __future__ import annotations

import email.parser
import json
import os
import re
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from email.message import Message
from pathlib import Path

import pytest

import oidc_kit

ROOT = Path(__file__).resolve().parent.parent

#: The packages the wheel ships: the kit, and the example app (``python -m example_app``, and
#: the starter project's template).
PACKAGES = ("oidc_kit", "example_app")

#: Files of those packages that stay in the repository: the example app's README documents the
#: checkout (a starter project from ``oidc-kit new`` gets a README of its own).
NOT_SHIPPED = frozenset({"example_app/README.md"})

#: The wheelhouse ``make install`` fills for the venv the tests run in (Makefile: WHEELHOUSE).
WHEELHOUSE = Path(sys.prefix) / "wheelhouse"

#: The placeholder home of the project; every project URL is under it.
HOME = "https://github.com/portx/oidc_kit"


@dataclass(frozen=True)
class Dist:
    wheel: Path
    sdist: Path
    log: str


def _run(args: list[str], *, cwd: Path, env: Mapping[str, str] | None = None) -> str:
    done = subprocess.run(  # noqa: S603 - our own interpreter and tools
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{' '.join(args)} exited {done.returncode}:\n{output}"
    return output


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Dist:
    """``python -m build``: the sdist, then the wheel built from the sdist (so the sdist is
    proved complete)."""
    out = tmp_path_factory.mktemp("dist")
    # Byte-compiling on, as on a user's machine (the tests' environment may turn it off, and
    # setuptools then says so in a warning).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    args = [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)]
    log = _run(args, cwd=ROOT, env=env)
    (wheel,) = out.glob("*.whl")
    (sdist,) = out.glob("*.tar.gz")
    return Dist(wheel, sdist, log)


def _metadata(wheel: Path) -> Message:
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        return email.parser.Parser().parsestr(archive.read(name).decode())


def _package_files() -> set[str]:
    """Every file of the shipped packages in the work tree, but Python's caches."""
    found = {
        path.relative_to(ROOT).as_posix()
        for package in PACKAGES
        for path in (ROOT / package).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }
    return found - NOT_SHIPPED


def test_the_build_says_no_warning(dist: Dist) -> None:
    # E.g. setuptools' BuildBackendWarning boxes for a deprecated `license = { text = ... }`,
    # which pip printed three times in every `make demo`.
    noisy = [line for line in dist.log.splitlines() if re.search(r"warn|deprecat", line, re.I)]
    assert noisy == []


def test_the_wheel_and_sdist_carry_the_version(dist: Dist) -> None:
    version = oidc_kit.__version__
    assert dist.wheel.name == f"oidc_kit-{version}-py3-none-any.whl"
    assert dist.sdist.name == f"oidc_kit-{version}.tar.gz"
    # One source: pyproject.toml reads it from oidc_kit.__version__, never writes its own.
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "version" not in project
    assert "version" in project["dynamic"]


def test_the_wheel_ships_every_file_of_its_packages(dist: Dist) -> None:
    # Templates, static files and py.typed included: a file that package-data misses is
    # missing from every install (the example app's pages, oidc-kit new's templates...).
    with zipfile.ZipFile(dist.wheel) as archive:
        names = set(archive.namelist())
    missing = _package_files() - names
    assert missing == set(), "add them to [tool.setuptools.package-data] in pyproject.toml"
    for name in ("oidc_kit/py.typed", "example_app/static/style.css"):
        assert name in names
    info = f"oidc_kit-{oidc_kit.__version__}.dist-info"
    assert f"{info}/licenses/LICENSE" in names
    assert {n.partition("/")[0] for n in names} == {*PACKAGES, info}


def test_the_metadata(dist: Dist) -> None:
    meta = _metadata(dist.wheel)
    assert meta["Name"] == "oidc_kit"
    assert meta["Version"] == oidc_kit.__version__
    assert meta["License-Expression"] == "Apache-2.0"
    assert meta.get_all("License-File") == ["LICENSE"]
    assert meta["Requires-Python"] == ">=3.11"
    assert meta["Description-Content-Type"] == "text/markdown"
    classifiers = meta.get_all("Classifier") or []
    assert "Typing :: Typed" in classifiers
    assert "Programming Language :: Python :: 3.11" in classifiers
    # An SPDX license expression replaces the license classifiers (PEP 639).
    assert not [c for c in classifiers if c.startswith("License ::")]
    urls = dict(u.split(", ", 1) for u in meta.get_all("Project-URL") or [])
    assert {"Homepage", "Documentation", "Source", "Issues", "Changelog"} <= set(urls)
    assert all(url.startswith(HOME) for url in urls.values()), urls
    assert set(meta.get_all("Provides-Extra") or []) == {
        "redis",
        "postgres",
        "server",
        "fastapi",
        "flask",
        "django",
        "otel",
        "demo",
        "dev",
    }


def test_the_sdist_holds_the_sources_and_no_tests(dist: Dist) -> None:
    top = dist.sdist.name.removesuffix(".tar.gz")
    with tarfile.open(dist.sdist) as archive:
        names = {n.removeprefix(f"{top}/") for n in archive.getnames()}
    assert {"pyproject.toml", "README.md", "LICENSE", "CHANGELOG.md", "PKG-INFO"} <= names
    assert _package_files() <= names
    assert not [n for n in names if n.startswith("tests/")]  # MANIFEST.in: not shipped


@pytest.fixture(scope="module")
def venv(dist: Dist, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh venv with the wheel installed (no extra), its dependencies from the wheelhouse."""
    if not any(WHEELHOUSE.glob("*.whl")):
        reason = f"no wheelhouse at {WHEELHOUSE}: `make install` downloads it"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    folder = tmp_path_factory.mktemp("venv")
    _run([sys.executable, "-m", "venv", str(folder / "venv")], cwd=folder)
    python = folder / "venv" / "bin" / "python"
    # This machine's pip configuration (indexes, constraints) is not the test's business.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    pip = [str(python), "-m", "pip", "--disable-pip-version-check"]
    install = [*pip, "install", "-qq", "--no-index", "--find-links", str(WHEELHOUSE)]
    _run([*install, str(dist.wheel)], cwd=folder, env=env)
    _run([*pip, "check"], cwd=folder, env=env)
    yield folder / "venv"


def _in_venv(venv: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # Run from the venv's folder, not the checkout: what imports comes from the install.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(  # noqa: S603 - the venv's own programs
        [str(venv / "bin" / args[0]), *args[1:]],
        cwd=venv.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_installed_console_script_says_its_version(venv: Path) -> None:
    done = _in_venv(venv, "oidc-kit", "--version")
    assert (done.returncode, done.stdout.strip()) == (0, f"oidc-kit {oidc_kit.__version__}")


def test_the_installed_doctor_answers_help(venv: Path) -> None:
    done = _in_venv(venv, "oidc-kit", "doctor", "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: oidc-kit doctor")


def test_the_installed_packages_import_with_their_files(venv: Path) -> None:
    code = """
import importlib.resources as r, importlib.metadata as m, json
import oidc_kit, oidc_kit.starlette, oidc_kit.testing, example_app.app
files = [r.files("oidc_kit") / "py.typed", r.files("example_app") / "templates" / "base.html",
         r.files("example_app") / "static" / "style.css"]
print(json.dumps({"file": oidc_kit.__file__, "version": m.version("oidc_kit"),
                  "files": [f.is_file() for f in files]}))
"""
    done = _in_venv(venv, "python", "-c", code)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert found["file"].startswith(str(venv)), found  # the wheel's copy, not the checkout
    assert found["version"] == oidc_kit.__version__
    assert found["files"] == [True, True, True]


def test_the_installed_example_app_without_uvicorn_names_the_extra(venv: Path) -> None:
    done = _in_venv(venv, "python", "-m", "example_app", "--help")
    assert done.returncode == 0, done.stderr
    assert "PORT=" in done.stdout  # make demo PORT=..., however argparse wraps it
    done = _in_venv(venv, "python", "-m", "example_app", "--port", "8000")
    assert done.returncode == 1
    assert done.stderr.strip() == "serving the app needs uvicorn: pip install 'oidc_kit[server]'"
