"""The built docs site in chromium, opened from disk with the network cut off.

What tests/test_docs_site.py reads in the HTML, a reader sees here: the four diagrams drawn
(mkdocs-material fetches mermaid from unpkg.com unless the site brings it), the search working
from ``file://`` (the offline plugin, with its iframe-worker shim from the site), navigation
landing on pages rather than directory listings, and no request leaving the machine.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.docs_site import build_site

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page, Route

#: The ```mermaid blocks of docs/concepts.md.
DIAGRAMS = 4


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_site(tmp_path_factory.mktemp("site"))


@pytest.fixture
def offline(context: BrowserContext) -> Iterator[tuple[Page, list[str]]]:
    """A page whose every request for anything but a file is refused, and recorded; the
    page's script errors fail the test."""
    elsewhere: list[str] = []

    def only_files(route: Route) -> None:
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    context.route("**/*", only_files)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page, elsewhere
    assert not errors, errors


def test_the_diagrams_are_drawn_with_no_network(
    site: Path, offline: tuple[Page, list[str]]
) -> None:
    page, elsewhere = offline
    page.goto((site / "concepts.html").as_uri())
    # The theme replaces each <pre class="mermaid"> by a <div class="mermaid"> holding the SVG
    # (in a closed shadow root); a diagram that fails to draw stays a <pre> of source.
    page.wait_for_function(f"document.querySelectorAll('div.mermaid').length === {DIAGRAMS}")
    assert page.locator("pre.mermaid").count() == 0
    heights = page.evaluate(
        "[...document.querySelectorAll('div.mermaid')].map(d => d.getBoundingClientRect().height)"
    )
    assert all(height > 150 for height in heights), heights
    assert not elsewhere


def test_every_page_opens_from_disk_asking_no_other_host(
    site: Path, offline: tuple[Page, list[str]]
) -> None:
    page, elsewhere = offline
    pages = sorted(site.glob("*.html"))
    assert len(pages) >= 18
    for path in pages:
        page.goto(path.as_uri(), wait_until="load")
        broken = page.evaluate(
            "[...document.images].filter(i => !i.complete || !i.naturalWidth).map(i => i.src)"
        )
        assert not broken, (path.name, broken)
    assert not elsewhere, elsewhere


def test_search_and_navigation_work_from_disk(site: Path, offline: tuple[Page, list[str]]) -> None:
    page, elsewhere = offline
    page.goto((site / "index.html").as_uri())
    page.fill("input[data-md-component=search-query]", "backchannel")
    results = page.locator(".md-search-result__item")
    results.first.wait_for()
    assert results.count() >= 1
    page.keyboard.press("Escape")
    page.locator(".md-nav__link", has_text="Workshop guide").first.click()
    page.wait_for_url("**/workshop.html")
    assert page.locator("h1").inner_text().startswith("Workshop")
    assert not elsewhere
