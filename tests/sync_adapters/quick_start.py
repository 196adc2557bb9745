"""The sync adapters' docs pages (docs/flask.md, docs/django.md): their quick start, and its
lines of integration, counted as the Starlette quick start's are (tests/test_docs.py)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.docs_snippets import python_blocks


def quick_start(page: Path) -> str:
    """The page's quick start: its first ```python block."""
    return python_blocks(page)[0]


def integration_lines(page: Path, kit_line: re.Pattern[str]) -> tuple[list[str], list[str]]:
    """The quick start's lines of integration (those ``kit_line`` matches), and the lines the
    page marks ``# kit`` for the reader (the marks tell the truth when the two are equal)."""
    lines = quick_start(page).splitlines()
    integration = [line for line in lines if kit_line.search(line)]
    return integration, [line for line in lines if "# kit" in line]
