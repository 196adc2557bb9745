"""The example app end to end, in process: sandbox login, pages, /api/*, ORCA's refusals.

The app is driven through ``httpx.ASGITransport``; its own calls to the embedded sandbox
provider and sandbox ORCA go through ``LoopbackTransport``, in process too. No port, no sleep.
"""

from __future__ import annotations

import html
import json
import re
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from example_app.app import create_app
from example_app.loopback import LoopbackTransport
from example_app.seed import data_for
from example_app.settings import DEFAULT_SCOPES, Settings
from example_app.templating import claim_value, content_security_policy, day, label, money

BASE = "http://127.0.0.1:8000"
ENV = {"SESSION_STORE": "memory://", "SESSION_SECRET": "test-secret-0123456789abcdef"}
PAGES = ("/", "/accounts", "/accounts/acc-1001", "/cards", "/profile")


class TokenRecorder:
    """Records every token the provider hands out, to prove none reaches a page."""

    def __init__(self) -> None:
        self.tokens: list[str] = []
        self.grants: list[str] = []

    def wrap(self, original: Callable[..., Any]) -> Callable[..., Any]:
        async def handle(transport: LoopbackTransport, request: httpx.Request) -> httpx.Response:
            response: httpx.Response = await original(transport, request)
            if request.url.path.endswith("/sandbox/op/token"):
                await response.aread()
                body = json.loads(response.content)
                self.grants.append(dict(httpx.QueryParams(request.content.decode()))["grant_type"])
                for name in ("access_token", "refresh_token", "id_token"):
                    if isinstance(body.get(name), str):
                        self.tokens.append(body[name])
            return response

        return handle


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> TokenRecorder:
    recorder = TokenRecorder()
    original = LoopbackTransport.handle_async_request
    monkeypatch.setattr(LoopbackTransport, "handle_async_request", recorder.wrap(original))
    return recorder


async def _client(environ: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(environ)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            yield client


@pytest.fixture
async def client(recorder: TokenRecorder) -> AsyncIterator[httpx.AsyncClient]:
    async for c in _client(ENV):
        yield c


async def log_in(client: httpx.AsyncClient, user: str = "alice", next_path: str = "/") -> None:
    """The browser's part of a login at the sandbox provider."""
    response = await client.get("/auth/login", params={"next": next_path})
    assert response.status_code in (302, 303)
    page = await client.get(response.headers["location"])
    form = dict(
        (html.unescape(name), html.unescape(value))
        for name, value in re.findall(r'name="([^"]+)" value="([^"]*)"', page.text)
    )
    action = html.unescape(re.search(r'<form method="post" action="([^"]+)"', page.text)[1])
    form.update(username=user, password=user, action="login")
    response = await client.post(action, data=form)
    assert response.status_code in (302, 303)
    response = await client.get(response.headers["location"])  # the callback
    assert response.status_code == 303, response.text
    assert response.headers["location"] == next_path


def assert_no_token(response: httpx.Response, recorder: TokenRecorder) -> None:
    assert recorder.tokens, "the recorder saw no token"
    text = response.text + str(response.headers)
    for token in recorder.tokens:
        assert token not in text


async def test_home_logged_out_has_login_button_and_sandbox_banner(client: httpx.AsyncClient):
    response = await client.get("/")
    assert response.status_code == 200
    assert 'href="/auth/login"' in response.text
    assert "Sandbox mode — log in as alice/alice or bob/bob" in response.text
    assert "/auth/logout" not in response.text


@pytest.mark.parametrize("path", ["/accounts", "/accounts/acc-1001", "/cards", "/profile"])
async def test_pages_send_browsers_to_login(client: httpx.AsyncClient, path: str):
    response = await client.get(path)
    assert response.status_code == 303
    assert response.headers["location"] == "/auth/login?" + str(httpx.QueryParams(next=path))


@pytest.mark.parametrize(
    "path", ["/api/accounts", "/api/accounts/acc-1001/transactions", "/api/cards", "/api/party"]
)
async def test_api_without_session_is_401_login_required(client: httpx.AsyncClient, path: str):
    response = await client.get(path)
    assert response.status_code == 401
    assert response.json()["error"] == "login_required"


async def test_login_then_every_page_renders_without_tokens(
    client: httpx.AsyncClient, recorder: TokenRecorder
):
    await log_in(client, next_path="/accounts")
    for path in PAGES:
        response = await client.get(path)
        assert response.status_code == 200, path
        assert 'action="/auth/logout"' in response.text, path  # the logout button, everywhere
        assert "Sandbox mode" in response.text
        assert response.headers["cache-control"] == "no-store"
        assert_no_token(response, recorder)
    assert "Alice Example" in (await client.get("/")).text


async def test_accounts_and_transactions_pages_show_orcas_data(client: httpx.AsyncClient):
    await log_in(client)
    accounts = (await client.get("/accounts")).text
    assert "Everyday Current" in accounts and "Gold Credit Card" in accounts
    assert 'href="/accounts/acc-1001"' in accounts
    assert '<td class="num neg">−€412.30</td>' in accounts  # noqa: RUF001 - a minus sign
    page = (await client.get("/accounts/acc-1001")).text
    newest = data_for("sandbox-alice").transactions["acc-1001"][0]  # dated yesterday
    assert "Bäckerei Kraus" in page and day(newest["booked_at"]) in page
    assert '<td class="num pos">€3,420.00</td>' in page


async def test_cards_page_masks_numbers(client: httpx.AsyncClient):
    await log_in(client)
    page = (await client.get("/cards")).text
    assert "•••• 4242" in page and "•••• 5100" in page
    assert "ALICE EXAMPLE" in page


async def test_profile_shows_claims_countdown_and_refresh_form(client: httpx.AsyncClient):
    await log_in(client)
    page = (await client.get("/profile")).text
    assert '<td>sub</td><td class="token">sandbox-alice</td>' in page
    assert '<td>email</td><td class="token">alice@example.com</td>' in page
    remaining = int(re.search(r'data-remaining="(\d+)"', page)[1])
    assert 0 < remaining <= 60
    assert '<form method="post" action="/profile/refresh"' in page
    assert "Musterstraße 12" in page  # ORCA's party record


async def test_pages_have_a_strict_csp_and_cannot_be_framed(client: httpx.AsyncClient):
    """Issue 13, item 10: this origin's scripts and styles only, none inline; never framed."""
    await log_in(client)
    for path in (*PAGES, "/nowhere"):
        response = await client.get(path)
        header = response.headers["content-security-policy"]
        policy = dict(d.strip().split(" ", 1) for d in header.split(";"))
        assert policy["default-src"] == "'self'", path
        assert policy["frame-ancestors"] == "'none'"
        assert policy["base-uri"] == "'none'" and policy["object-src"] == "'none'"
        assert policy["form-action"].split()[0] == "'self'"
        assert "unsafe" not in header and "script-src" not in policy and "style-src" not in policy
        assert response.headers["x-frame-options"] == "DENY"
        # Nothing inline for the policy to block: every script is a file, no style in the page.
        assert not re.search(r"<script(?![^>]*\bsrc=)", response.text), path
        assert "<style" not in response.text and " style=" not in response.text
    profile = (await client.get("/profile")).text
    assert '<script src="/static/countdown.js"' in profile
    script = await client.get("/static/countdown.js")
    assert script.status_code == 200 and 'getElementById("token-ttl")' in script.text
    # "Refresh now" is a same-origin POST form, which form-action 'self' allows.
    assert '<form method="post" action="/profile/refresh"' in profile


def test_the_csp_lets_the_logout_form_go_on_to_the_provider():
    """The logout POST is answered with a redirect to the provider's end_session_endpoint:
    browsers hold a form's redirects to form-action too."""
    policy = content_security_policy("https://login.example.com/tenant/v2")
    assert "form-action 'self' https://login.example.com;" in policy


async def test_refresh_now_needs_same_origin(client: httpx.AsyncClient, recorder: TokenRecorder):
    await log_in(client)
    refused = await client.post("/profile/refresh", headers={"Origin": "https://evil.example"})
    assert refused.status_code == 403
    assert recorder.grants == ["authorization_code"]
    response = await client.post("/profile/refresh", headers={"Origin": BASE})
    assert response.status_code == 303
    assert response.headers["location"] == "/profile"
    assert recorder.grants == ["authorization_code", "refresh_token"]
    assert (await client.get("/api/accounts")).status_code == 200  # the new token works


async def test_api_passes_orcas_json_through(client: httpx.AsyncClient, recorder: TokenRecorder):
    await log_in(client, user="bob")
    alice, bob = data_for("sandbox-alice"), data_for("sandbox-bob")
    response = await client.get("/api/accounts")
    assert response.status_code == 200
    assert response.json() == {"data": bob.accounts}
    assert_no_token(response, recorder)
    txns = await client.get("/api/accounts/acc-2001/transactions")
    assert txns.json() == {"data": bob.transactions["acc-2001"]}
    assert (await client.get("/api/cards")).json() == {"data": bob.cards}
    assert (await client.get("/api/party")).json() == {"data": bob.party}
    # Alice's account is not bob's: ORCA's 404, passed through.
    foreign = await client.get(f"/api/accounts/{alice.accounts[0]['id']}/transactions")
    assert foreign.status_code == 404
    assert foreign.json() == {"error": "not_found", "error_description": "No such account"}


async def test_another_users_account_page_is_404(client: httpx.AsyncClient):
    await log_in(client, user="bob")
    response = await client.get("/accounts/acc-1001")
    assert response.status_code == 404
    assert "ORCA has no such account for you." in response.text


async def test_missing_scope_is_explained_on_pages_and_passed_through_on_api(
    recorder: TokenRecorder,
):
    scopes = DEFAULT_SCOPES.replace(" cards:read", "").replace(" parties:read", "")
    async for client in _client({**ENV, "OIDC_SCOPES": scopes}):
        await log_in(client)
        page = await client.get("/cards")
        assert page.status_code == 403
        assert "ORCA refused: your login does not grant <code>cards:read</code>." in page.text
        api = await client.get("/api/cards")
        assert api.status_code == 403
        assert api.json() == {
            "error": "forbidden",
            "error_description": "The access token does not grant the cards:read scope",
        }
        # The profile still renders; only its ORCA section explains the refusal.
        profile = await client.get("/profile")
        assert profile.status_code == 200
        assert "<code>parties:read</code>" in profile.text
        assert (await client.get("/accounts")).status_code == 200


async def test_logout_ends_the_session(client: httpx.AsyncClient):
    await log_in(client)
    cross_site = await client.post("/auth/logout", headers={"Origin": "https://evil.example"})
    assert cross_site.status_code == 403
    response = await client.post("/auth/logout", headers={"Origin": BASE})
    assert response.status_code == 303
    assert (await client.get("/accounts")).status_code == 303
    assert (await client.get("/api/accounts")).status_code == 401


async def test_unknown_paths_are_404(client: httpx.AsyncClient):
    assert (await client.get("/nowhere")).status_code == 404
    response = await client.get("/api/nowhere")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


async def test_static_css_is_served_without_a_cdn(client: httpx.AsyncClient):
    css = await client.get("/static/style.css")
    assert css.status_code == 200
    assert "--brand:" in css.text
    page = (await client.get("/")).text
    assert "https://" not in page  # no CDN, no external font


async def test_app_name_renames_every_page(recorder: TokenRecorder):
    async for client in _client({**ENV, "APP_NAME": "Acme <Credit> Union"}):
        home = (await client.get("/")).text
        assert "<title>Home · Acme &lt;Credit&gt; Union</title>" in home  # escaped, like all text
        assert '<a class="brand" href="/">Acme &lt;Credit&gt; Union</a>' in home
        assert "<h1>Welcome to Acme &lt;Credit&gt; Union</h1>" in home
        assert "Example Bank" not in home
        await log_in(client)
        for path in PAGES[1:]:
            page = (await client.get(path)).text
            assert re.search(r"<title>[^<]+ · Acme &lt;Credit&gt; Union</title>", page), path
            assert "Example Bank" not in page, path


async def test_the_default_app_name_is_example_bank(client: httpx.AsyncClient):
    home = (await client.get("/")).text
    assert "<title>Home · Example Bank</title>" in home
    assert '<a class="brand" href="/">Example Bank</a>' in home
    assert Settings.from_env({"APP_NAME": "  "}).app_name == "Example Bank"  # blank: the default


async def test_every_colour_of_the_stylesheet_is_a_variable_at_its_top(client: httpx.AsyncClient):
    css = (await client.get("/static/style.css")).text
    root, rest = css.split("\n}\n", 1)  # the :root block, then the rules
    assert root.lstrip().startswith("/*") and ":root {" in root
    colours = re.findall(r"#[0-9a-fA-F]{3,8}\b|\brgba?\(|\bhsla?\(", rest)
    assert colours == [], "colours belong in the variables of :root, for one-place restyling"


def test_settings_defaults():
    settings = Settings.from_env({}, port=9000)
    assert settings.base_url == "http://127.0.0.1:9000"
    assert settings.issuer == "http://127.0.0.1:9000/sandbox/op"
    assert settings.orca_api_base == "http://127.0.0.1:9000/sandbox/orca/v1"
    assert settings.scopes == tuple(DEFAULT_SCOPES.split())
    assert settings.sandbox_provider and settings.sandbox_orca
    config = settings.oidc_config(ENV)
    assert config.client_id == "example-app"
    assert config.allow_insecure_http
    assert config.redirect_uri == "http://127.0.0.1:9000/auth/callback"


async def test_external_provider_and_orca_mount_no_sandbox():
    environ = {
        **ENV,
        "OIDC_ISSUER": "https://login.example.com",
        "OIDC_CLIENT_ID": "my-app",
        "OIDC_CLIENT_SECRET": "my-secret",
        "ORCA_API_BASE": "https://api.example.com/orca/v1",
        "APP_BASE_URL": "https://bank.example.com",
    }
    settings = Settings.from_env(environ)
    assert not settings.sandbox_provider and not settings.sandbox_orca
    async for client in _client(environ):
        home = await client.get("/")
        assert "Sandbox" not in home.text
        assert (await client.get("/sandbox/op/.well-known/openid-configuration")).status_code == 404
        assert (await client.get("/sandbox/orca/v1/accounts")).status_code == 404


async def test_external_provider_with_sandbox_orca_validates_that_issuer():
    environ = {
        **ENV,
        "OIDC_ISSUER": "https://login.example.com",
        "OIDC_CLIENT_ID": "my-app",
        "OIDC_CLIENT_SECRET": "my-secret",
    }
    async for client in _client(environ):
        assert "Sandbox ORCA" in (await client.get("/")).text
        response = await client.get("/sandbox/orca/v1/accounts")
        assert response.status_code == 401  # mounted, and no token


def test_filters():
    assert money("-1234.5", "EUR") == "−€1,234.50"  # noqa: RUF001 - a minus sign
    assert money("12", "USD") == "$12.00"
    assert money("3", "CHF") == "CHF 3.00"
    assert day("2025-06-14T09:12:00Z") == "14\u00a0Jun 2025"  # a no-break space
    assert label("credit_card") == "Credit card"
    assert claim_value(True) == "true"
    assert claim_value(0, "iat") == "0 (1\u00a0Jan 1970, 00:00:00 UTC)"


def test_the_sandbox_refuses_a_public_address_unless_asked() -> None:
    from oidc_kit import ConfigurationError

    public = {**ENV, "APP_BASE_URL": "https://bank.example"}
    with pytest.raises(ConfigurationError, match="SANDBOX_ALLOW_PUBLIC"):
        create_app(public)
    create_app({**public, "SANDBOX_ALLOW_PUBLIC": "1"})  # a workshop on the room's network


async def test_the_sandbox_token_lifetime_can_be_shortened() -> None:
    app = create_app({**ENV, "SANDBOX_ACCESS_TOKEN_TTL": "4"})
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            await log_in(client, "alice")
            body = (await client.get("/auth/session")).json()
    assert 0 < body["expires_at"] - time.time() <= 4


def test_a_bad_sandbox_token_lifetime_is_refused() -> None:
    from oidc_kit import ConfigurationError

    with pytest.raises(ConfigurationError, match="SANDBOX_ACCESS_TOKEN_TTL"):
        create_app({**ENV, "SANDBOX_ACCESS_TOKEN_TTL": "soon"})
