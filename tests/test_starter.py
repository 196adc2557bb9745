"""``oidc-kit new``: the starter project it writes, and the folders and names it refuses.

The fast tests check the generated tree (every file of the example app, renamed; no leftover
``example_app`` or "example app"; the starter's own files filled in; lint-clean) and run the
new package's ``--help`` in process. The slow one does what a user does: generate, install
into a virtual environment (on top of this interpreter's packages: nothing is downloaded),
and run the project's own tests with that environment's python.
"""

from __future__ import annotations

import importlib
import os
import re
import site
import subprocess
import sys
import venv
import zipfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import pytest

from oidc_kit import _starter
from oidc_kit.cli import main

NAME, MODULE = "Starter Test Bank", "starter_test_bank"
#: What the renaming must leave nowhere (the sandbox users' ``@example.com`` addresses and
#: the seed's made-up "Example Road" stay: they are data, not the app's name).
LEFTOVER = re.compile(r"example[ _-]app|Example Bank", re.IGNORECASE)
#: The files the starter adds around the package.
STARTER_FILES = {
    "pyproject.toml",
    "README.md",
    ".env.example",
    ".gitignore",
    "Makefile",
    "tests/test_app.py",
    f"{MODULE}/__init__.py",
}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("starter") / "starter-test-bank"
    assert main(["new", str(path), "--name", NAME]) == 0
    return path


def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def _example_app_files() -> set[str]:
    root = Path(importlib.import_module("example_app").__file__ or "").parent
    return {
        name
        for name in _files(root)
        if "__pycache__" not in name and not name.endswith(".pyc") and name != "README.md"
    }


# -- names ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "name", "module", "dist"),
    [
        ("My Bank", "My Bank", "my_bank", "my-bank"),
        ("  Zürich   Savings ", "Zürich Savings", "zurich_savings", "zurich-savings"),
        ("AT&T Bank (test)", "AT&T Bank (test)", "at_t_bank_test", "at-t-bank-test"),
        ("Bank 2", "Bank 2", "bank_2", "bank-2"),
    ],
)
def test_a_name_gives_the_package_and_distribution_names(
    given: str, name: str, module: str, dist: str
) -> None:
    assert _starter.names_for(given) == _starter.ProjectNames(name, module, dist)


@pytest.mark.parametrize(
    ("given", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("x" * 61, "longer than 60"),
        ('Say "hi"', "use letters, digits"),
        ("Bank $HOME", "use letters, digits"),
        ("Bank\x00", "use letters, digits"),
        ("-bank", "use letters, digits"),
        ("2 Fast Bank", "must start with a letter"),
        ("Class", "taken by Python"),
        ("Test", "taken by Python"),
        ("Oidc Kit", "taken"),
        ("Example App", "taken"),
    ],
)
def test_a_name_that_cannot_be_used_is_refused(given: str, reason: str) -> None:
    with pytest.raises(_starter.StarterError, match=re.escape(reason)):
        _starter.names_for(given)


@pytest.mark.parametrize(
    ("folder", "name"), [("my-bank", "My Bank"), ("acme_savings", "Acme Savings"), ("x", "X")]
)
def test_the_default_name_comes_from_the_folder(folder: str, name: str, tmp_path: Path) -> None:
    assert _starter.default_name(tmp_path / folder) == name


# -- the generated tree --------------------------------------------------------------------


def test_every_file_of_the_example_app_is_copied_under_the_new_name(project: Path) -> None:
    expected = {f"{MODULE}/{name}" for name in _example_app_files()} | STARTER_FILES
    assert _files(project) == expected


def test_no_example_app_is_left_anywhere(project: Path) -> None:
    leftover = re.compile(LEFTOVER.pattern.encode(), re.IGNORECASE)  # binary files too
    for name in sorted(_files(project)):
        content = (project / name).read_bytes()
        assert not leftover.search(content), (name, leftover.findall(content))
        assert "example_app" not in name


def test_the_apps_name_is_the_default_everywhere_it_is_said(project: Path) -> None:
    settings = (project / MODULE / "settings.py").read_text()
    assert f'DEFAULT_APP_NAME = "{NAME}"' in settings
    assert 'SANDBOX_CLIENT_ID = "starter-test-bank"' in settings
    assert f'APP_NAME="{NAME}"' in (project / ".env.example").read_text()
    pyproject = (project / "pyproject.toml").read_text()
    assert 'name = "starter-test-bank"' in pyproject
    assert f'"oidc_kit[demo]>={_starter.__version__.partition("+")[0]}"' in pyproject
    assert f"{MODULE} = " in pyproject  # its package data
    assert (project / "README.md").read_text().startswith(f"# {NAME}\n")


def test_the_starters_own_files_are_filled_in(project: Path) -> None:
    for name in STARTER_FILES:
        assert "{{" not in (project / name).read_text(), name
    assert ".env\n" in (project / ".gitignore").read_text().splitlines(keepends=True)


def test_the_python_files_compile_and_pass_ruff(project: Path) -> None:
    for path in project.rglob("*.py"):
        compile(path.read_text(), str(path), "exec")
    # The project's own ruff settings (its pyproject.toml), as its developers will run it.
    for command in (["check"], ["format", "--check"]):
        ruff = [sys.executable, "-m", "ruff", *command, "--no-cache", "."]
        result = subprocess.run(ruff, cwd=project, capture_output=True, text=True, check=False)  # noqa: S603
        assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture
def imported(project: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The generated package, importable in this process for one test."""
    monkeypatch.syspath_prepend(str(project))
    monkeypatch.delenv("APP_NAME", raising=False)
    yield MODULE
    for name in [m for m in sys.modules if m == MODULE or m.startswith(f"{MODULE}.")]:
        del sys.modules[name]


def test_help_names_the_app(imported: str, capsys: pytest.CaptureFixture[str]) -> None:
    entry = importlib.import_module(f"{imported}.__main__")
    with pytest.raises(SystemExit) as exited:
        entry.main(["--help"])
    assert exited.value.code == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert help_text.startswith(f"usage: python -m {MODULE} ")
    assert f"{NAME}: OpenID Connect login" in help_text
    assert not LEFTOVER.search(help_text)


# -- the command line ----------------------------------------------------------------------


def test_new_says_what_to_run_next(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["new", str(tmp_path / "acme-savings")]) == 0
    out = capsys.readouterr().out
    assert "(package acme_savings)" in out
    assert "pip install -e '.[test]'" in out
    assert "python -m acme_savings" in out
    settings = tmp_path / "acme-savings" / "acme_savings" / "settings.py"
    assert 'DEFAULT_APP_NAME = "Acme Savings"' in settings.read_text()


def test_new_writes_into_an_empty_folder(tmp_path: Path) -> None:
    assert main(["new", str(tmp_path), "--name", "Bank"]) == 0
    assert (tmp_path / "bank" / "app.py").is_file()


def test_new_refuses_a_folder_that_is_not_empty(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    assert main(["new", str(tmp_path), "--name", "My Bank"]) == 2
    assert "is not empty" in capsys.readouterr().err
    assert _files(tmp_path) == {"notes.txt"}


def test_new_refuses_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "my-bank").write_text("")
    assert main(["new", str(tmp_path / "my-bank")]) == 2
    assert "exists and is not a folder" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("name", "message"),
    [(" ", "the app's name is empty"), ("2 Fast", "must start with"), ('My "Bank"', "invalid")],
)
def test_new_refuses_an_invalid_name_and_writes_nothing(
    name: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["new", str(tmp_path / "p"), "--name", name]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "p").exists()


# -- end to end (slow) ---------------------------------------------------------------------


def _environment(tmp_path: Path) -> Path:
    """A virtual environment that sees this interpreter's packages (oidc_kit, pytest, the
    build backend) and installs into its own site-packages."""
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False, symlinks=True).create(env_dir)
    python = env_dir / "bin" / "python"
    own = subprocess.run(  # noqa: S603
        [python, "-c", "import site; print(site.getsitepackages()[0])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # A path line would add the folder, not its own .pth files (oidc_kit's editable install
    # is one): addsitedir processes them too. Ours come after the venv's own packages.
    lines = [f"import site; site.addsitedir({path!r})" for path in site.getsitepackages()]
    Path(own, "_parent_interpreter.pth").write_text("\n".join(lines) + "\n")
    return python


def _run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "APP_NAME")}
    env.update(PIP_NO_INPUT="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    return subprocess.run(  # noqa: S603
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )


def _pip(python: Path, *args: str | Path, cwd: Path) -> None:
    # Offline: no index, no isolated build (the backend comes from the dev extra).
    flags = ("--no-deps", "--no-build-isolation", "--no-index", "--quiet")
    result = _run(python, "-m", "pip", *args, *flags, cwd=cwd)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_new_project_installs_and_passes_its_own_tests(tmp_path: Path) -> None:
    project = tmp_path / "my-bank"
    assert main(["new", str(project), "--name", "My Bank"]) == 0
    python = _environment(tmp_path)

    # Built as a wheel, the package carries its pages and static files.
    _pip(python, "wheel", "--wheel-dir", tmp_path / "dist", project, cwd=tmp_path)
    (wheel,) = (tmp_path / "dist").glob("my_bank-*.whl")
    names = {PurePosixPath(n) for n in zipfile.ZipFile(wheel).namelist()}
    for data in ("templates/base.html", "templates/oidc_kit/logout.html", "static/style.css"):
        assert PurePosixPath("my_bank", data) in names

    _pip(python, "install", "-e", project, cwd=tmp_path)
    tests = _run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=project)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert re.search(r"\b4 passed\b", tests.stdout), tests.stdout

    # Installed, it runs from anywhere, under its own name.
    help_run = _run(python, "-m", "my_bank", "--help", cwd=tmp_path)
    assert help_run.returncode == 0, help_run.stderr
    assert "My Bank: OpenID Connect login" in " ".join(help_run.stdout.split())
