"""The built docs site works with no network, opened from disk or served.

``mkdocs build --strict`` checks the Markdown's links, but not what the theme and raw HTML put
in the pages: a raw ``<img>`` with a path that breaks once the page moves, a font from Google,
a link to a folder (a directory listing over ``file://``). These tests build the site as
``make docs`` does and read every page: everything a page loads and every link between pages
must be a file of the built site, and nothing a page loads may come from another host (plain
``<a href>`` links out to other sites are fine: the reader chooses to follow them).
tests/browser/test_docs_offline.py opens the pages in chromium with the network cut off.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from tests.docs_site import build_site, page_references
from tools.docs_offline import MERMAID, SCRIPTS

#: Schemes an ``<a href>`` may use to leave the site.
OUTBOUND = {"http", "https", "mailto"}
#: A stylesheet loading from another host: ``url(https://...)``, ``url(//...)``, ``@import``.
REMOTE_CSS = re.compile(r"""url\(\s*['"]?\s*(?:[a-z]+:)?//|@import""", re.IGNORECASE)
#: The page a web server sends for a missing path, from any folder: mkdocs writes its links
#: from the site's root (``/assets/...``). Opened from disk, nobody lands on it.
NOT_FOUND = "404.html"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_site(tmp_path_factory.mktemp("site"))


def html_pages(site: Path) -> Iterator[Path]:
    yield from sorted(site.rglob("*.html"))


@functools.cache
def anchors(page: Path) -> frozenset[str]:
    return frozenset(page_references(page).anchors)


def resolve(site: Path, page: Path, reference: str) -> Path | str:
    """The file of the site a relative reference names, or why it names none."""
    parts = urlsplit(reference)
    if parts.scheme or parts.netloc:
        return f"{reference!r} is on another host"
    base = page.parent
    if parts.path.startswith("/"):
        if page != site / NOT_FOUND:
            return f"{reference!r} is an absolute path: it breaks opened from disk"
        base = site  # a server answers any missing path with it: its links start at the root
    target = (base / unquote(parts.path.lstrip("/"))).resolve() if parts.path else page
    if not target.is_relative_to(site.resolve()):
        return f"{reference!r} leaves the site"
    if not target.is_file():
        kind = "a folder (a directory listing over file://)" if target.is_dir() else "missing"
        return f"{reference!r} is {kind}"
    return target


def test_the_site_has_every_page(site: Path) -> None:
    names = {page.name for page in html_pages(site)}
    assert {"index.html", "workshop.html", "concepts.html", "starlette.html"} <= names
    assert len(names) >= 18


def test_everything_a_page_loads_is_a_file_of_the_site(site: Path) -> None:
    problems = []
    for page in html_pages(site):
        for tag, attribute, url in page_references(page).resources:
            if url.startswith("data:"):
                continue
            found = resolve(site, page, url)
            if isinstance(found, str):
                problems.append(f"{page.relative_to(site)}: <{tag} {attribute}>: {found}")
    assert not problems, "\n".join(problems)


def test_every_link_between_pages_reaches_a_file_and_its_anchor(site: Path) -> None:
    problems = []
    for page in html_pages(site):
        for href in page_references(page).links:
            if urlsplit(href).scheme in OUTBOUND:
                continue
            found = resolve(site, page, href)
            if isinstance(found, str):
                problems.append(f"{page.relative_to(site)}: <a href>: {found}")
                continue
            fragment = unquote(urlsplit(href).fragment)
            if fragment and found.suffix == ".html" and fragment not in anchors(found):
                problems.append(f"{page.relative_to(site)}: <a href={href!r}>: no such anchor")
    assert not problems, "\n".join(problems)


def test_no_style_loads_from_another_host(site: Path) -> None:
    """No web font or stylesheet from a CDN, in a page's styles or the site's CSS files."""
    problems = [
        f"{page.relative_to(site)}: {style[:120]!r}"
        for page in html_pages(site)
        for style in page_references(page).styles
        if REMOTE_CSS.search(style)
    ]
    problems += [
        f"{css.relative_to(site)} loads from elsewhere"
        for css in site.rglob("*.css")
        if REMOTE_CSS.search(css.read_text(encoding="utf-8"))
    ]
    assert not problems, "\n".join(problems)


def test_the_diagrams_come_with_the_site(site: Path) -> None:
    """The theme fetches mermaid from unpkg.com unless the page loads one: every page does,
    the npm package's own file."""
    assert (site / MERMAID).read_bytes() == SCRIPTS[MERMAID].read_bytes()
    concepts = (site / "concepts.html").read_text(encoding="utf-8")
    assert concepts.count('class="mermaid"') == 4
    for page in html_pages(site):
        loaded = {
            resolve(site, page, url)
            for tag, _, url in page_references(page).resources
            if tag == "script"
        }
        assert (site / MERMAID).resolve() in loaded, page


def test_the_workshop_screenshots_are_in_the_site(site: Path) -> None:
    page = site / "workshop.html"
    images = [url for tag, _, url in page_references(page).resources if tag == "img"]
    assert "screenshots/phone-accounts.png" in images
    assert len(images) >= 10
    for url in images:
        assert isinstance(resolve(site, page, url), Path), url
