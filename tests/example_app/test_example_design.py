"""What the demo's pages say and how they look (issue 15, item 6): one date format, account
numbers as each country writes them, sample data dated relative to today, the countdown's
words, link contrast, the skip link, the favicon. In process, as test_example_pages.py is;
the browser tests check the rest (tests/browser/test_accessibility.py, test_phone.py).
"""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from example_app.seed import data_for
from example_app.templating import day, expires_in
from tests.example_app.test_example_pages import ENV, _client, log_in

STYLESHEET = Path(__file__).parents[2] / "example_app" / "static" / "style.css"


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async for c in _client(ENV):
        yield c


def _visible_text(page: str) -> str:
    """The page's text as a reader sees it: no tags (so no attribute values), no script."""
    body = page.split("<body>", 1)[1]
    body = re.sub(r"<script.*?</script>", "", body, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", body))


# --- dates ---------------------------------------------------------------------------------------

ISO_DATE = re.compile(r"\b\d{4}-\d{2}(-\d{2})?\b")
SHOWN_DATE = re.compile(r"(\d{1,2}\u00a0)?[A-Z][a-z]{2} \d{4}")  # 4 Dec 2026, Dec 2026


#: Each user's pages that show dates: an account's transactions, card expiries, the profile.
DATED_PAGES = {
    "alice": ("/accounts/acc-1001", "/cards", "/profile"),
    "bob": ("/accounts/acc-2001", "/cards", "/profile"),
}


@pytest.mark.parametrize("user", sorted(DATED_PAGES))
async def test_one_date_format_for_people_iso_for_machines(
    client: httpx.AsyncClient, user: str
) -> None:
    """Transactions, card expiries, "customer since" and the claims' times all read
    ``4 Dec 2026`` (a month alone: ``Dec 2026``); ISO 8601 only in ``<time datetime>``.
    The day and the month are joined by a no-break space: a date wraps, if at all, before
    its year."""
    await log_in(client, user)
    for path in DATED_PAGES[user]:
        page = (await client.get(path)).text
        times = re.findall(r'<time datetime="([^"]+)">([^<]+)</time>', page)
        assert times, path
        for machine, shown in times:
            assert shown == day(machine), (path, machine, shown)
            assert SHOWN_DATE.fullmatch(shown), shown
        text = _visible_text(page)
        assert not ISO_DATE.search(text), (path, ISO_DATE.search(text))
    profile = _visible_text((await client.get("/profile")).text)
    assert re.search(r"\(\d{1,2}\u00a0\w{3} \d{4}, \d\d:\d\d:\d\d UTC\)", profile)  # iat...


def test_the_date_filter() -> None:
    assert day("2026-12-04T09:12:00Z") == "4\u00a0Dec 2026"  # a no-break space
    assert day("2019-04-01") == "1\u00a0Apr 2019"
    assert day("2028-09") == "Sep 2028"  # a card's expiry
    assert day("2028-13") == "2028-13" and day("soon") == "soon"  # shown as it came


def test_sample_data_is_dated_relative_to_today() -> None:
    """Yesterday's coffee, whatever day the demo runs; cards that expire years from now."""
    now = datetime.now(UTC)
    for sub in ("sandbox-alice", "sandbox-bob", "someone-of-another-provider"):
        user = data_for(sub)
        stamps = [
            datetime.fromisoformat(t["booked_at"])
            for txns in user.transactions.values()
            for t in txns
        ]
        assert max(stamps) < now, sub  # never in the future
        assert now - max(stamps) < timedelta(days=5), sub
        for card in user.cards:
            expired = card["expiry"] < f"{now:%Y-%m}"
            assert expired == (card["status"] == "expired"), card
    # A day later, the same rows a day later.
    today = now.date()
    alice, tomorrow = (
        data_for("sandbox-alice", today),
        data_for("sandbox-alice", today + timedelta(1)),
    )
    assert alice.transactions["acc-1001"][0]["booked_at"] == f"{today - timedelta(1)}T09:12:00Z"
    assert tomorrow.transactions["acc-1001"][0]["booked_at"] == f"{today}T09:12:00Z"
    assert tomorrow.accounts == alice.accounts
    rent = data_for("sandbox-alice", date(2027, 3, 20)).transactions["acc-1001"][7]
    assert rent["description"] == "Rent March"


# --- account numbers -----------------------------------------------------------------------------


def _summary(page: str) -> dict[str, str]:
    """The account header's label → value pairs."""
    block = page.split('<div class="card summary">', 1)[1].split("<h2>", 1)[0]
    pairs = re.findall(r'<div class="label">([^<]+)</div>\s*<div[^>]*>([^<]+)</div>', block)
    return {label: value.strip() for label, value in pairs}


async def test_the_account_header_labels_the_number_not_with_the_type(
    client: httpx.AsyncClient,
) -> None:
    await log_in(client, "alice")
    current = _summary((await client.get("/accounts/acc-1001")).text)
    assert current["Type"] == "Current"
    assert current["IBAN"] == "DE89 •••• •••• •••• •• 4821"
    assert "Current" not in current  # the type labels nothing
    credit = _summary((await client.get("/accounts/acc-1003")).text)
    assert credit["Type"] == "Credit card"
    assert set(credit) == {"Balance", "Available", "Type"}  # no number, no "—"


async def test_a_us_account_has_a_routing_and_an_account_number(client: httpx.AsyncClient):
    await log_in(client, "bob")
    page = (await client.get("/accounts/acc-2001")).text
    checking = _summary(page)
    assert checking["Routing number"] == "555000128"
    assert checking["Account number"] == "•••• 7719"
    assert "IBAN" not in checking and "US••" not in page
    listing = (await client.get("/accounts")).text
    assert '<th class="hide-sm">Account number</th>' in listing
    assert "•••• 7719" in listing and "IBAN" not in listing


# --- the countdown -------------------------------------------------------------------------------


def test_the_countdown_is_a_phrase() -> None:
    assert expires_in(0) == expires_in(-5) == "Expired"
    assert expires_in(42) == "Expires in 42 s"
    assert expires_in(119) == "Expires in 119 s"
    assert expires_in(150) == "Expires in 3 min"  # rounded half up, as the script does
    assert expires_in(3599) == "Expires in 60 min"
    script = (STYLESHEET.parent / "countdown.js").read_text()
    assert '"Expired"' in script and '"Expires in "' in script and "Math.round" in script


async def test_a_due_token_is_said_in_words(client: httpx.AsyncClient) -> None:
    """Not only the countdown's colour: a note says the token is due for refresh."""
    await log_in(client)
    page = (await client.get("/profile")).text  # 60 s tokens, 30 s leeway: not due yet
    assert re.search(r'id="token-ttl"[^>]*>Expires in \d+ s</span>', page)
    assert re.search(r'<span class="due-note" id="token-due" hidden>', page)
    assert 'class="countdown"' in page
    async for short in _client({**ENV, "SANDBOX_ACCESS_TOKEN_TTL": "4"}):
        await log_in(short)
        due = (await short.get("/profile")).text
        assert 'class="countdown due"' in due
        note = re.search(r'<span class="due-note" id="token-due" ?>(.*?)</span>\s*</p>', due, re.S)
        assert note and "Due for refresh" in note[1]


# --- look and feel -------------------------------------------------------------------------------


def _luminance(colour: str) -> float:
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(a: str, b: str) -> float:
    light, dark = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_links_meet_wcag_aa_contrast_on_every_background() -> None:
    """--accent (links) against every background a link sits on: at least 4.5:1."""
    colours = dict(re.findall(r"--([\w-]+):\s*(#[0-9a-fA-F]{6})\b", STYLESHEET.read_text()))
    for background in ("page", "surface", "table-head", "notice", "notice-ok"):
        ratio = _contrast(colours["accent"], colours[background])
        assert ratio >= 4.5, f"--accent on --{background}: {ratio:.2f}:1"
    assert _contrast(colours["accent-text"], colours["accent"]) >= 4.5  # button labels
    assert _contrast(colours["muted"], colours["page"]) >= 4.5


async def test_the_first_focusable_element_skips_to_the_content(client: httpx.AsyncClient):
    for logged_in in (False, True):
        if logged_in:
            await log_in(client)
        page = (await client.get("/")).text
        body = page.split("<body>", 1)[1]
        first = re.search(r"<(a|button|input|select|textarea)\b[^>]*>([^<]*)", body)
        assert first and first[0] == '<a class="skip-link" href="#content">Skip to content'
        assert '<main class="wrap" id="content" tabindex="-1">' in page


async def test_the_favicon_answers(client: httpx.AsyncClient) -> None:
    icon = await client.get("/favicon.ico")
    assert icon.status_code == 200
    assert icon.headers["content-type"] == "image/x-icon"
    assert icon.content[:4] == b"\x00\x00\x01\x00"  # an ICO file
    home = (await client.get("/")).text
    assert '<link rel="icon" href="/favicon.ico"' in home
