"""The sandbox login page names the client: its ``client_name`` when registered, else its id."""

from __future__ import annotations

import base64
import hashlib
import secrets

import httpx
import pytest

from oidc_kit.testing import SandboxClient, SandboxProvider

ISSUER = "http://op.test"
REDIRECT = "http://app.test/auth/callback"


async def login_page(client: SandboxClient) -> str:
    """The page the provider shows a browser sent by ``client`` to log in."""
    digest = hashlib.sha256(secrets.token_urlsafe(48).encode()).digest()
    params = {
        "client_id": client.client_id,
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "scope": "openid",
        "state": "st",
        "nonce": "n",
        "code_challenge": base64.urlsafe_b64encode(digest).rstrip(b"=").decode(),
        "code_challenge_method": "S256",
    }
    op = SandboxProvider(ISSUER, [client])
    transport = httpx.ASGITransport(app=op.app)
    async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as browser:
        page = await browser.get("/authorize", params=params)
    assert page.status_code == 200, page.text
    return page.text


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("My Bank", "to continue to <strong>My Bank</strong>"),
        ("AT&T <Savings>", "to continue to <strong>AT&amp;T &lt;Savings&gt;</strong>"),
        (None, "to continue to <code>my-bank</code>"),
    ],
)
async def test_the_login_page_names_the_client(name: str | None, shown: str) -> None:
    client = SandboxClient("my-bank", "secret", (REDIRECT,), client_name=name)
    assert shown in await login_page(client)
