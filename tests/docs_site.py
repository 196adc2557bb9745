"""The built docs site, for tests/test_docs_site.py and tests/browser/test_docs_offline.py.

:func:`build_site` runs ``mkdocs build --strict`` as ``make docs`` does, into a folder of the
test's. :func:`page_references` reads one built page's references: what the browser loads
(``<img src>``, ``<script src>``, ``<link href>``...), where its links go (``<a href>``), and
the anchors it offers. The site's scripts come from npm (tools/package.json): without them the
tests skip with a one-line reason, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.servers import ROOT
from tools.docs_offline import SCRIPTS

__all__ = ["PageReferences", "build_site", "page_references", "require_site_scripts"]

#: The attributes by which a page loads something: the browser fetches these by itself.
RESOURCE_ATTRIBUTES = {
    ("img", "src"),
    ("img", "srcset"),
    ("script", "src"),
    ("link", "href"),
    ("source", "src"),
    ("source", "srcset"),
    ("iframe", "src"),
    ("video", "src"),
    ("video", "poster"),
    ("audio", "src"),
    ("embed", "src"),
    ("object", "data"),
}


def require_site_scripts() -> None:
    """Skip (fail under CI) when the npm packages the site needs are not installed."""
    missing = [path for path in SCRIPTS.values() if not path.is_file()]
    if missing:
        reason = f"{missing[0].relative_to(ROOT)} not installed (make docs, with Node and npm)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"the docs site tests cannot skip under CI=true: {reason}")
        pytest.skip(reason)


def build_site(site_dir: Path) -> Path:
    """``mkdocs build --strict`` into ``site_dir``, as ``make docs`` builds site/."""
    require_site_scripts()
    done = subprocess.run(  # noqa: S603 - our own interpreter and mkdocs
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", site_dir],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return site_dir


@dataclass
class PageReferences:
    """What one HTML page refers to."""

    #: ``(tag, attribute, value)`` of everything the browser loads for the page.
    resources: list[tuple[str, str, str]] = field(default_factory=list)
    #: Every ``<a href>``.
    links: list[str] = field(default_factory=list)
    #: The fragment targets the page offers (``id``, and ``name`` of ``<a>``).
    anchors: set[str] = field(default_factory=set)
    #: The text of its ``<style>`` elements and ``style`` attributes (``url(...)`` loads too).
    styles: list[str] = field(default_factory=list)


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found = PageReferences()
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value is None:
                continue
            if (tag, name) in RESOURCE_ATTRIBUTES:
                urls = _srcset(value) if name == "srcset" else [value]
                self.found.resources.extend((tag, name, url) for url in urls if url)
            elif tag == "a" and name == "href":
                self.found.links.append(value)
            if name == "id" or (tag == "a" and name == "name"):
                self.found.anchors.add(value)
            if name == "style":
                self.found.styles.append(value)
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.found.styles.append(data)


def _srcset(value: str) -> list[str]:
    """The URLs of a ``srcset`` (``"URL 1x, URL 2x"``): the browser may load any of them."""
    return [part.split()[0] for part in value.split(",") if part.strip()]


def page_references(page: Path) -> PageReferences:
    """Read ``page`` (a built HTML file)."""
    reader = _Reader()
    reader.feed(page.read_text(encoding="utf-8"))
    reader.close()
    return reader.found
