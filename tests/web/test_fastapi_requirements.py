"""oidc_kit.fastapi's route requirements beyond scopes: ``requires_step_up`` and
``requires_claims``, answered by the kit's exception handlers as ``@login_required`` answers.

Step-up (RFC 9470): a browser ``GET`` is sent to log in again with the route's
``max_age``/``acr_values``/``prompt`` (at the session's own provider), and that login's ID token
must meet them; anything else gets 401 ``insufficient_user_authentication`` with the
``WWW-Authenticate`` challenge. Claims: 403 ``insufficient_claims``, a page or JSON, never a
login loop. The fake provider decides what the next ID token says (``op.id_claims``); the clock
is moved by hand.
"""

# No `from __future__ import annotations`: FastAPI evaluates the routes' annotations.

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from starlette.routing import Mount

from oidc_kit import ConfigurationError, MemoryStore
from oidc_kit.fastapi import OIDCUser, requires_claims, requires_step_up
from oidc_kit.starlette import OIDCAuth
from tests.conftest import Clock, make_config
from tests.fake_op import FakeOP

APP = "https://app.test"
MFA = "urn:portx:acr:mfa"
HTML = {"Accept": "text/html"}
DESCRIPTION = "a more recent or stronger authentication is required"


def build_app(auth: OIDCAuth) -> FastAPI:
    app = FastAPI(
        routes=[Mount("/auth", routes=auth.routes)],
        middleware=[auth.middleware],
        exception_handlers=auth.exception_handlers,
    )

    @app.get("/transfer", dependencies=[requires_step_up(max_age=300)])
    async def transfer_page() -> dict[str, bool]:
        return {"ok": True}

    @app.post("/transfer", dependencies=[requires_step_up(max_age=300)])
    async def transfer_form() -> dict[str, bool]:
        return {"ok": True}

    @app.post("/api/transfer")
    async def transfer(
        user: Annotated[OIDCUser, requires_step_up(max_age=300)],
    ) -> dict[str, str]:
        return {"by": user.identity}

    @app.get("/api/mfa", dependencies=[requires_step_up(acr_values=MFA)])
    async def mfa() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/sudo", dependencies=[requires_step_up(prompt="login")])
    async def sudo() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/api/statements")
    async def statements(
        user: Annotated[OIDCUser, requires_claims({"email_verified": True})],
    ) -> dict[str, str]:
        return {"for": user.identity}

    @app.get("/statements", dependencies=[requires_claims({"email_verified": True})])
    async def statements_page() -> dict[str, bool]:
        return {"ok": True}

    return app


def make_browser(auth: OIDCAuth) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=build_app(auth)), base_url=APP)


@pytest.fixture
async def browser(kit: OIDCAuth) -> AsyncIterator[httpx.AsyncClient]:
    async with make_browser(kit) as client:
        yield client


async def log_in(
    browser: httpx.AsyncClient, op: FakeOP, url: str = "/auth/login", callback: str = ""
) -> httpx.Response:
    """Follow ``url`` (a login, or a step-up redirect) through the provider to the callback."""
    start = await browser.get(url)
    assert start.status_code == 303, start.text
    params = op.authorize(start.headers["location"])
    return await browser.get(f"/auth/callback{callback}", params=params)


def query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def step_up_location(response: httpx.Response) -> str:
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert urlsplit(location).path == "/auth/login"
    assert response.headers["cache-control"] == "no-store"
    return location


# -- requires_step_up --------------------------------------------------------------------------


async def test_a_recent_login_passes_the_step_up(browser: httpx.AsyncClient, op: FakeOP) -> None:
    await log_in(browser, op)
    assert (await browser.get("/transfer")).json() == {"ok": True}
    assert (await browser.post("/api/transfer")).json() == {"by": "user-1"}


async def test_a_browser_is_sent_to_step_up_and_comes_back_without_a_loop(
    browser: httpx.AsyncClient, op: FakeOP, kit: OIDCAuth, clock: Clock
) -> None:
    await log_in(browser, op)
    clock.advance(300 + kit.config.clock_leeway + 1)
    response = await browser.get("/transfer?amount=5", headers=HTML)
    location = step_up_location(response)
    assert query(location) == {"next": ["/transfer?amount=5"], "max_age": ["300"]}
    # The step-up login asks the provider for max_age=300; its fresh authentication passes.
    done = await log_in(browser, op, location)
    assert done.status_code == 303
    assert done.headers["location"] == "/transfer?amount=5"
    assert (await browser.get("/transfer?amount=5", headers=HTML)).json() == {"ok": True}


async def test_api_clients_get_the_rfc_9470_challenge(
    browser: httpx.AsyncClient, op: FakeOP, kit: OIDCAuth, clock: Clock
) -> None:
    op.id_claims["acr"] = "urn:portx:acr:pwd"
    await log_in(browser, op)
    response = await browser.get("/api/mfa")
    assert response.status_code == 401
    assert response.json() == {
        "error": "insufficient_user_authentication",
        "error_description": DESCRIPTION,
    }
    assert response.headers["www-authenticate"] == (
        f'Bearer error="insufficient_user_authentication", '
        f'error_description="{DESCRIPTION}", acr_values="{MFA}"'
    )
    assert (await browser.get("/auth/session")).status_code == 200  # the session stays
    clock.advance(300 + kit.config.clock_leeway + 1)
    # A POST is never redirected (it would lose its body), whatever it accepts.
    for headers in (HTML, {}):
        posted = await browser.post("/api/transfer", headers=headers)
        assert posted.status_code == 401
        assert posted.headers["www-authenticate"].endswith(', max_age="300"')


async def test_a_browser_post_gets_the_401_page(
    browser: httpx.AsyncClient, op: FakeOP, kit: OIDCAuth, clock: Clock
) -> None:
    await log_in(browser, op)
    clock.advance(1000)
    response = await browser.post("/transfer", headers=HTML)
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("text/html")
    assert 'max_age="300"' in response.headers["www-authenticate"]


async def test_the_401_page_is_the_apps_error_template(
    op: FakeOP, clock: Clock, tmp_path: Path
) -> None:
    (tmp_path / "oidc_kit").mkdir()
    (tmp_path / "oidc_kit" / "error.html").write_text("<h1>Example Bank</h1><p>{{ code }}</p>")
    http = httpx.AsyncClient(transport=op.transport())
    kit = OIDCAuth(
        make_config(), http_client=http, store=MemoryStore(), clock=clock, template_dirs=[tmp_path]
    )
    async with http, make_browser(kit) as browser:
        await log_in(browser, op)
        clock.advance(1000)
        response = await browser.post("/transfer", headers=HTML)
    assert response.status_code == 401
    assert response.text == "<h1>Example Bank</h1><p>insufficient_user_authentication</p>"


async def test_an_acr_step_up_is_met_by_the_stronger_login(
    browser: httpx.AsyncClient, op: FakeOP
) -> None:
    await log_in(browser, op)
    response = await browser.get("/api/mfa", headers=HTML)  # on /api/: JSON, not a redirect
    assert response.status_code == 401
    op.id_claims["acr"] = MFA
    done = await log_in(browser, op, f"/auth/login?acr_values={MFA}&next=/api/mfa")
    assert done.headers["location"] == "/api/mfa"
    assert (await browser.get("/api/mfa")).json() == {"ok": True}


async def test_prompt_login_steps_up_with_prompt(
    browser: httpx.AsyncClient, op: FakeOP, clock: Clock
) -> None:
    await log_in(browser, op)
    assert (await browser.get("/sudo")).status_code == 200  # just authenticated
    clock.advance(1000)
    location = step_up_location(await browser.get("/sudo", headers=HTML))
    assert query(location) == {"next": ["/sudo"], "prompt": ["login"]}


async def test_without_a_session_it_is_the_usual_login(browser: httpx.AsyncClient) -> None:
    response = await browser.get("/transfer", headers=HTML)
    assert query(step_up_location(response)) == {"next": ["/transfer"]}
    api = await browser.post("/api/transfer")
    assert api.status_code == 401
    assert api.json()["error"] == "login_required"
    assert "www-authenticate" not in api.headers


async def test_the_step_up_goes_to_the_sessions_provider(op: FakeOP, clock: Clock) -> None:
    # Two providers, the fake one second: its sessions step up with it, not the default.
    configs = {
        "corp": make_config(issuer="https://corp.test"),
        "portx": make_config(),
    }
    http = httpx.AsyncClient(transport=op.transport())
    kit = OIDCAuth(configs, http_client=http, store=MemoryStore(), clock=clock)
    async with http, make_browser(kit) as browser:
        done = await log_in(browser, op, "/auth/login?provider=portx", callback="/portx")
        assert done.status_code == 303, done.text
        clock.advance(1000)
        location = step_up_location(await browser.get("/transfer", headers=HTML))
        assert query(location) == {"next": ["/transfer"], "max_age": ["300"], "provider": ["portx"]}


@pytest.mark.parametrize(
    "options",
    [{}, {"max_age": -1}, {"acr_values": 'urn:"quoted"'}, {"prompt": "consent"}],
)
def test_bad_step_up_options_fail_where_the_route_is_declared(options: Any) -> None:
    with pytest.raises(ConfigurationError):
        requires_step_up(**options)


# -- requires_claims ---------------------------------------------------------------------------


async def test_met_claims_pass(browser: httpx.AsyncClient, op: FakeOP) -> None:
    op.id_claims["email_verified"] = True
    await log_in(browser, op)
    assert (await browser.get("/api/statements")).json() == {"for": "user-1"}


async def test_unmet_claims_are_403_json_or_a_page_never_a_login_loop(
    browser: httpx.AsyncClient, op: FakeOP
) -> None:
    op.id_claims["email_verified"] = "true"  # a string is not the boolean asked for
    await log_in(browser, op)
    response = await browser.get("/api/statements")
    assert response.status_code == 403
    assert response.json() == {
        "error": "insufficient_claims",
        "error_description": (
            "this needs the claim email_verified, which this account does not meet"
        ),
    }
    page = await browser.get("/statements", headers=HTML)
    assert page.status_code == 403
    assert page.headers["content-type"].startswith("text/html")
    assert "insufficient_claims" in page.text
    assert (await browser.get("/auth/session")).status_code == 200


@pytest.mark.parametrize("claims", [{}, {"email_verified": None}])
def test_bad_claims_fail_where_the_route_is_declared(claims: Any) -> None:
    with pytest.raises(ConfigurationError):
        requires_claims(claims)


async def test_openapi_declares_the_session_cookie_for_both(browser: httpx.AsyncClient) -> None:
    paths = (await browser.get("/openapi.json")).json()["paths"]
    for path, method in [("/transfer", "get"), ("/api/transfer", "post"), ("/statements", "get")]:
        assert paths[path][method]["security"] == [{"oidc_session": []}]
