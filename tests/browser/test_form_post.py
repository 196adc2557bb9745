"""``OIDC_RESPONSE_MODE=form_post`` in a real browser.

The provider answers with an auto-submitting form that POSTs the code to ``/auth/callback``.
From the embedded sandbox that POST is same-origin and carries the ``SameSite=Lax`` login
cookie. From a provider on another site (here ``localhost`` against an app on ``127.0.0.1``)
the browser drops that cookie, and the kit's re-post page must send the fields again from the
app's own origin: the case every real deployment on plain http has.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.browser._support import (
    assert_no_token,
    external_provider_env,
    run_app,
    run_provider,
    sandbox_login,
)
from tests.servers import Server, free_port

if TYPE_CHECKING:
    from playwright.sync_api import Page, Request

REPOST_MARKER = "_oidc_repost"


@contextmanager
def _form_post_app(tmp: Path, provider: str) -> Iterator[Server]:
    """The app with form_post, on the embedded sandbox or a provider on another site."""
    with ExitStack() as stack:
        env = {"OIDC_RESPONSE_MODE": "form_post"}
        if provider == "cross-site":
            # The provider registers the app's redirect URI: choose the app's port first.
            port = free_port()
            app_url = f"http://127.0.0.1:{port}"
            issuer = stack.enter_context(run_provider(tmp, "provider", app_url, host="localhost"))
            env.update(external_provider_env(issuer))
            yield stack.enter_context(run_app(tmp, "app", env, port=port))
        else:
            yield stack.enter_context(run_app(tmp, "app", env))


@pytest.mark.parametrize("provider", ["embedded", "cross-site"])
def test_form_post_login_creates_a_session(page: Page, tmp_path: Path, provider: str) -> None:
    with _form_post_app(tmp_path, provider) as app:
        callbacks: list[Request] = []

        def record(request: Request) -> None:
            if request.url.startswith(app.base_url + "/auth/callback"):
                callbacks.append(request)

        page.on("request", record)

        # A protected page sends the browser to log in, and back to that page afterwards.
        page.goto(app.base_url + "/accounts")
        page.wait_for_url(re.compile(r".*/authorize\?.*response_mode=form_post"))
        sandbox_login(page, "bob")
        page.wait_for_url(app.base_url + "/accounts")

        assert page.get_by_role("heading", level=1).inner_text() == "Your accounts"
        assert page.get_by_role("main").get_by_role("table").get_by_role("link").count() >= 1
        assert page.get_by_role("banner").get_by_text("Bob").is_visible()
        assert_no_token(page)
        session = page.request.get(app.base_url + "/auth/session").json()
        assert session["authenticated"] is True
        assert session["sub"].endswith("bob")

        # The code arrived in a POST body (never in a URL), re-posted once when cross-site.
        assert callbacks and all(r.method == "POST" for r in callbacks)
        assert all("code=" not in r.url for r in callbacks)
        reposted = [r for r in callbacks if REPOST_MARKER in (r.post_data or "")]
        assert len(reposted) == (1 if provider == "cross-site" else 0)
        assert len(callbacks) == len(reposted) + 1
