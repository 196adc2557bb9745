"""Helpers for the browser tests: real servers, logging in through the real pages, screenshots."""

from __future__ import annotations

import os
import re
import secrets
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from tests.servers import ROOT, Server, free_port, serve

if TYPE_CHECKING:
    from playwright.sync_api import Page

#: Where the tests write the screenshots shown in README.md and docs/workshop.md: only with
#: UPDATE_SCREENSHOTS=1 (`make screenshots`), so that a test run leaves the work tree clean;
#: otherwise into a temporary folder (the screenshots are still taken, so they still work).
SCREENSHOTS = (
    ROOT / "docs" / "screenshots"
    if os.environ.get("UPDATE_SCREENSHOTS") == "1"
    else Path(tempfile.gettempdir()) / "oidc_kit-screenshots"
)

#: Variables a developer's shell may have set that would point the app elsewhere: blank means
#: unset to the app, so every test starts from the offline sandbox defaults.
_NEUTRAL_ENV = dict.fromkeys(
    (
        "OIDC_ISSUER",
        "OIDC_CLIENT_ID",
        "OIDC_CLIENT_SECRET",
        "OIDC_SCOPES",
        "OIDC_RESPONSE_MODE",
        "OIDC_REFRESH_LEEWAY",
        "ORCA_API_BASE",
        "APP_BASE_URL",
    ),
    "",
)

SANDBOX_CLIENT = ("example-app", "sandbox-secret")


@contextmanager
def run_app(
    tmp: Path, name: str, env: Mapping[str, str] | None = None, *, port: int | None = None
) -> Iterator[Server]:
    """``python -m example_app --port P`` with a SQLite store in ``tmp``; the sandbox by default."""
    port = port or free_port()
    full_env = {
        **_NEUTRAL_ENV,
        "SESSION_STORE": f"sqlite:///{tmp / f'{name}.sqlite3'}",
        "SESSION_SECRET": secrets.token_urlsafe(32),
        **(env or {}),
    }
    args = ["-m", "example_app", "--host", "127.0.0.1", "--port", str(port)]
    with serve(args, port, full_env, tmp / f"{name}.log") as server:
        yield server


@contextmanager
def run_provider(
    tmp: Path, name: str, app_url: str, *, host: str = "127.0.0.1", access_token_ttl: int = 60
) -> Iterator[str]:
    """The sandbox provider in its own process (``python -m oidc_kit.testing``); its issuer.

    ``host="localhost"`` puts it on another *site* than an app on 127.0.0.1, as a real
    provider is: a browser then treats its form_post as a cross-site POST.
    """
    port = free_port()
    client_id, secret = SANDBOX_CLIENT
    args = [
        "-m",
        "oidc_kit.testing",
        "--host",
        host,
        "--port",
        str(port),
        "--client",
        f"{client_id}:{secret}:{app_url}/auth/callback:{app_url}/",
        "--access-token-ttl",
        str(access_token_ttl),
    ]
    ready = "/.well-known/openid-configuration"
    with serve(args, port, {}, tmp / f"{name}.log", ready_path=ready):
        yield f"http://{host}:{port}"


def external_provider_env(issuer: str) -> dict[str, str]:
    """The app's environment for a provider that is not embedded in it."""
    client_id, secret = SANDBOX_CLIENT
    return {
        "OIDC_ISSUER": issuer,
        "OIDC_CLIENT_ID": client_id,
        "OIDC_CLIENT_SECRET": secret,
        "OIDC_ALLOW_INSECURE_HTTP": "1",
    }


def sandbox_login(page: Page, user: str) -> None:
    """On the sandbox provider's login page: type ``user``/``user`` and press "Log in"."""
    page.get_by_label("Username").fill(user)
    page.get_by_label("Password").fill(user)
    page.get_by_role("button", name="Log in").click()


def log_in(page: Page, app_url: str, user: str = "alice") -> None:
    """From the app's home page through the sandbox login, back to the app's home page."""
    page.goto(app_url + "/")
    page.get_by_role("main").get_by_role("link", name="Log in").click()
    page.wait_for_url(re.compile(r".*/authorize\b.*"))
    sandbox_login(page, user)
    page.wait_for_url(app_url + "/")
    assert_no_token(page)


def nav(page: Page, name: str) -> None:
    """Follow a link of the site's main navigation."""
    page.get_by_role("navigation", name="Main").get_by_role("link", name=name).click()


def assert_no_token(page: Page) -> None:
    """No JWT (an access, ID or refresh token) anywhere in the page's HTML."""
    assert not re.search(r"eyJ[\w-]{10,}\.eyJ", page.content()), page.url


def shot(page: Page, name: str, *, full_page: bool = False) -> None:
    """Save the viewport as ``SCREENSHOTS/NAME.png`` (overwritten on every run)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=path, full_page=full_page, animations="disabled", caret="hide")


def no_horizontal_overflow(page: Page) -> bool:
    """Whether the page fits the viewport's width (no sideways scrolling)."""
    fits: bool = page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    return fits
