"""Step-up per route through ``@login_required``: ``max_age``, ``acr_values``, ``prompt=login``.

The fake provider does not authenticate anyone: a test decides what the next ID token says
(``op.id_claims["auth_time"]``, ``["acr"]``), i.e. whether the provider honoured the step-up.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route

from oidc_kit import ConfigurationError, InvalidIdToken, InvalidState, StepUpRequired
from oidc_kit._step_up import MAX_AGE_LIMIT, PROMPT_LOGIN_WINDOW, StepUp
from oidc_kit._transaction import LoginTransaction
from oidc_kit.starlette import OIDCAuth, login_required
from tests.conftest import Clock
from tests.fake_op import DROP, FakeOP
from tests.web.test_starlette import APP, set_cookies

MFA = "urn:portx:acr:mfa"
PWD = "urn:portx:acr:pwd"


def build_app(auth: OIDCAuth) -> Starlette:
    async def hello(request: Request) -> Response:
        return PlainTextResponse(f"hello {request.user.identity}")

    return Starlette(
        routes=[
            Mount("/auth", routes=auth.routes),
            Route("/page", login_required(hello)),
            Route("/called", login_required()(hello)),
            Route("/fresh", login_required(max_age=300)(hello), methods=["GET", "POST"]),
            Route("/mfa", login_required(acr_values=(MFA,))(hello)),
            Route("/api/mfa", login_required(acr_values=f"{MFA} urn:portx:acr:hw")(hello)),
            Route("/api/fresh", login_required(max_age=300)(hello)),
            Route("/sudo", login_required(prompt="login")(hello)),
            Route("/strict", login_required(max_age=60, acr_values=(MFA,))(hello)),
        ],
        middleware=[auth.middleware],
        exception_handlers=auth.exception_handlers,
    )


@pytest.fixture
async def browser(kit: OIDCAuth) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=build_app(kit))
    async with httpx.AsyncClient(transport=transport, base_url=APP) as client:
        yield client


async def login(browser: httpx.AsyncClient, op: FakeOP, url: str = "/auth/login") -> httpx.Response:
    """Follow ``url`` (a login or a step-up redirect) through the provider to the callback."""
    start = await browser.get(url)
    assert start.status_code == 303, start.text
    return await browser.get("/auth/callback", params=op.authorize(start.headers["location"]))


def query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def assert_step_up_redirect(response: httpx.Response, expected: dict[str, list[str]]) -> str:
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert urlsplit(location).path == "/auth/login"
    assert query(location) == expected
    assert response.headers["cache-control"] == "no-store"
    assert "Cookie" in response.headers["vary"]
    return location


# -- the bare helper keeps working ---------------------------------------------------------


async def test_bare_and_called_login_required(browser: httpx.AsyncClient, op: FakeOP) -> None:
    for path in ("/page", "/called"):
        response = await browser.get(path, headers={"Accept": "text/html"})
        assert response.status_code == 303
        assert query(response.headers["location"]) == {"next": [path]}
    await login(browser, op)
    for path in ("/page", "/called"):
        assert (await browser.get(path)).text == "hello user-1"


async def test_a_step_up_route_without_a_session_is_a_plain_login(
    browser: httpx.AsyncClient,
) -> None:
    response = await browser.get("/api/mfa")
    assert response.status_code == 401
    assert response.json()["error"] == "login_required"


# -- max_age -------------------------------------------------------------------------------


async def test_max_age_route_steps_up_an_old_authentication(
    browser: httpx.AsyncClient, op: FakeOP, kit: OIDCAuth, clock: Clock
) -> None:
    await login(browser, op)
    clock.advance(300 + kit.config.clock_leeway)  # at the limit: still fine
    assert (await browser.get("/fresh")).text == "hello user-1"
    clock.advance(1)
    response = await browser.get("/fresh?tab=1", headers={"Accept": "text/html"})
    location = assert_step_up_redirect(response, {"next": ["/fresh?tab=1"], "max_age": ["300"]})
    assert (await browser.get("/page")).status_code == 200  # the session itself is fine
    # The step-up login asks the provider for max_age=300, which authenticates again.
    start = await browser.get(location)
    assert query(start.headers["location"])["max_age"] == ["300"]
    done = await browser.get("/auth/callback", params=op.authorize(start.headers["location"]))
    assert done.status_code == 303
    assert done.headers["location"] == "/fresh?tab=1"
    assert (await browser.get("/fresh")).text == "hello user-1"


async def test_a_provider_ignoring_max_age_fails_the_step_up_login(
    browser: httpx.AsyncClient, op: FakeOP, kit: OIDCAuth, clock: Clock
) -> None:
    await login(browser, op)
    first_auth = clock.now
    clock.advance(1000)
    location = (await browser.get("/fresh", headers={"Accept": "text/html"})).headers["location"]
    op.id_claims["auth_time"] = int(first_auth)  # the provider reused its old session
    response = await login(browser, op, location)
    assert response.status_code == 400
    assert "invalid_id_token" in response.text
    # The failed step-up did not end the session, and did not satisfy the route.
    assert (await browser.get("/page")).status_code == 200
    assert (await browser.get("/fresh", headers={"Accept": "text/html"})).status_code == 303


async def test_a_session_without_auth_time_does_not_satisfy_max_age(
    browser: httpx.AsyncClient, op: FakeOP
) -> None:
    op.id_claims["auth_time"] = DROP
    await login(browser, op)
    assert (await browser.get("/page")).status_code == 200
    assert (await browser.get("/fresh", headers={"Accept": "text/html"})).status_code == 303


# -- acr_values ----------------------------------------------------------------------------


async def test_acr_route_steps_up_to_the_asked_acr(browser: httpx.AsyncClient, op: FakeOP) -> None:
    op.id_claims["acr"] = PWD
    await login(browser, op)
    response = await browser.get("/mfa", headers={"Accept": "text/html"})
    location = assert_step_up_redirect(response, {"next": ["/mfa"], "acr_values": [MFA]})
    start = await browser.get(location)
    assert query(start.headers["location"])["acr_values"] == [MFA]
    op.id_claims["acr"] = MFA
    done = await browser.get("/auth/callback", params=op.authorize(start.headers["location"]))
    assert done.status_code == 303 and done.headers["location"] == "/mfa"
    assert (await browser.get("/mfa")).text == "hello user-1"


@pytest.mark.parametrize("acr", [PWD, DROP, ["urn:portx:acr:mfa"], ""])
async def test_a_login_asking_acr_values_refuses_another_acr(
    browser: httpx.AsyncClient, op: FakeOP, acr: object
) -> None:
    op.id_claims["acr"] = acr
    response = await login(browser, op, f"/auth/login?acr_values={MFA}&next=/mfa")
    assert response.status_code == 400
    assert "invalid_id_token" in response.text
    assert (await browser.get("/auth/session")).status_code == 401


async def test_json_clients_get_rfc_9470_challenges(
    browser: httpx.AsyncClient, op: FakeOP, clock: Clock
) -> None:
    op.id_claims["acr"] = PWD
    await login(browser, op)
    response = await browser.get("/api/mfa")
    assert response.status_code == 401
    assert response.json() == {
        "error": "insufficient_user_authentication",
        "error_description": "a more recent or stronger authentication is required",
    }
    assert response.headers["www-authenticate"] == (
        'Bearer error="insufficient_user_authentication", '
        'error_description="a more recent or stronger authentication is required", '
        'acr_values="urn:portx:acr:mfa urn:portx:acr:hw"'
    )
    assert response.headers["cache-control"] == "no-store"
    assert "Cookie" in response.headers["vary"]
    assert not set_cookies(response)  # the session stays
    clock.advance(1000)
    fresh = await browser.get("/api/fresh")
    assert fresh.status_code == 401
    assert fresh.headers["www-authenticate"].endswith(', max_age="300"')
    accept_json = await browser.get("/fresh", headers={"Accept": "application/json"})
    assert accept_json.status_code == 401
    assert accept_json.json()["error"] == StepUpRequired.code


async def test_a_browser_post_gets_the_401_page_not_a_redirect(
    browser: httpx.AsyncClient, op: FakeOP, clock: Clock
) -> None:
    await login(browser, op)
    clock.advance(1000)
    response = await browser.post("/fresh", headers={"Accept": "text/html"})
    assert response.status_code == 401
    assert "insufficient_user_authentication" in response.text
    assert "max_age" in response.headers["www-authenticate"]


async def test_max_age_and_acr_together(
    browser: httpx.AsyncClient, op: FakeOP, clock: Clock
) -> None:
    op.id_claims["acr"] = MFA
    await login(browser, op)
    assert (await browser.get("/strict")).status_code == 200
    clock.advance(100)
    response = await browser.get("/strict", headers={"Accept": "text/html"})
    assert_step_up_redirect(response, {"next": ["/strict"], "max_age": ["60"], "acr_values": [MFA]})


# -- prompt=login --------------------------------------------------------------------------


async def test_prompt_login_route_forces_a_new_authentication_without_looping(
    browser: httpx.AsyncClient, op: FakeOP, kit: OIDCAuth, clock: Clock
) -> None:
    await login(browser, op)
    assert (await browser.get("/sudo")).status_code == 200  # just authenticated
    clock.advance(PROMPT_LOGIN_WINDOW + kit.config.clock_leeway + 1)
    response = await browser.get("/sudo", headers={"Accept": "text/html"})
    location = assert_step_up_redirect(response, {"next": ["/sudo"], "prompt": ["login"]})
    start = await browser.get(location)
    assert query(start.headers["location"])["prompt"] == ["login"]
    clock.advance(20)  # the user types a password: auth_time is after the login started
    done = await browser.get("/auth/callback", params=op.authorize(start.headers["location"]))
    assert done.status_code == 303 and done.headers["location"] == "/sudo"
    assert (await browser.get("/sudo")).text == "hello user-1"  # satisfied: no loop
    clock.advance(PROMPT_LOGIN_WINDOW + kit.config.clock_leeway + 1)
    assert (await browser.get("/sudo", headers={"Accept": "text/html"})).status_code == 303


async def test_prompt_login_refuses_an_authentication_older_than_the_login(
    browser: httpx.AsyncClient, op: FakeOP, kit: OIDCAuth, clock: Clock
) -> None:
    """The provider ignored prompt=login and answered from its session: refused, even though
    that authentication is recent enough for the route's window."""
    started = clock.now
    op.id_claims["auth_time"] = int(started - kit.config.clock_leeway - 5)
    response = await login(browser, op, "/auth/login?prompt=login&next=/sudo")
    assert response.status_code == 400
    assert "invalid_id_token" in response.text
    op.id_claims["auth_time"] = int(started - kit.config.clock_leeway)  # within the leeway
    assert (await login(browser, op, "/auth/login?prompt=login")).status_code == 303


# -- /auth/login's parameters --------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        "max_age=-1",
        "max_age=abc",
        "max_age=1e3",
        "max_age=%2B5",
        "max_age=%205",
        "max_age=5_0",
        "max_age=%D9%A5",  # an Arabic-Indic digit five: int() would take it
        f"max_age={MAX_AGE_LIMIT + 1}",
        "max_age=" + "9" * 400,
        "max_age=1&max_age=2",
        "acr_values=a%00b",
        "acr_values=a%09b",
        "acr_values=a%0Ab",
        "acr_values=a%20%20b",
        "acr_values=%20a",
        "acr_values=%22quoted%22",
        "acr_values=back%5Cslash",
        "acr_values=caf%C3%A9",
        "acr_values=" + "%20".join(["a"] * 11),
        "acr_values=" + "a" * 201,
        "acr_values=" + "a" * 5000,
        "prompt=none",
        "prompt=consent",
        "prompt=login%20consent",
        "prompt=LOGIN",
    ],
)
async def test_bad_step_up_parameters_are_400(browser: httpx.AsyncClient, params: str) -> None:
    for accept in ("text/html", "application/json"):
        response = await browser.get(f"/auth/login?next=/x&{params}", headers={"Accept": accept})
        assert response.status_code == 400, params
        assert not set_cookies(response)
    assert response.json()["error"] == "invalid_login_request"


@pytest.mark.parametrize(
    ("params", "sent"),
    [
        ("max_age=0", {"max_age": ["0"]}),
        (f"max_age={MAX_AGE_LIMIT}", {"max_age": [str(MAX_AGE_LIMIT)]}),
        ("max_age=&acr_values=&prompt=", {}),
        (
            "acr_values=urn:portx:acr:mfa%20http://id.example/loa-3?x=1%238",
            {"acr_values": ["urn:portx:acr:mfa http://id.example/loa-3?x=1#8"]},
        ),
        ("prompt=login", {"prompt": ["login"]}),
    ],
)
async def test_good_step_up_parameters_go_to_the_provider(
    browser: httpx.AsyncClient, params: str, sent: dict[str, list[str]]
) -> None:
    response = await browser.get(f"/auth/login?{params}")
    assert response.status_code == 303
    query_sent = query(response.headers["location"])
    assert {k: v for k, v in query_sent.items() if k in ("max_age", "acr_values", "prompt")} == sent


async def test_the_transaction_remembers_the_step_up(kit: OIDCAuth, op: FakeOP) -> None:
    url = await kit._flow.start("b", "/", max_age=60, acr_values=(MFA,), prompt="login")
    state = query(url)["state"][0]
    raw = await kit.store.get("login:" + hashlib.sha256(state.encode()).hexdigest())
    assert raw is not None
    txn = LoginTransaction.decode(raw)
    assert (txn.max_age, txn.acr_values, txn.prompt) == (60, (MFA,), "login")


@pytest.mark.parametrize("acr_values", ["[1, 2]", '"abc"', "{}", "7", "null"])
def test_an_unreadable_transaction_acr_values_is_invalid_state(acr_values: str) -> None:
    raw = (
        '{"state":"s","nonce":"n","code_verifier":"v","binding":"b","next_path":"/",'
        f'"created_at":1.0,"acr_values":{acr_values}}}'
    ).encode()
    with pytest.raises(InvalidState):
        LoginTransaction.decode(raw)


def test_a_transaction_written_before_step_up_still_decodes() -> None:
    raw = (
        b'{"state":"s","nonce":"n","code_verifier":"v","binding":"b","next_path":"/",'
        b'"created_at":1.0,"max_age":null}'
    )
    txn = LoginTransaction.decode(raw)
    assert (txn.acr_values, txn.prompt) == ((), None)


# -- the ID token checks, directly ---------------------------------------------------------


async def test_flow_checks_acr_and_auth_time_against_the_login(
    kit: OIDCAuth, op: FakeOP, clock: Clock
) -> None:
    async def finish(**start: object) -> None:
        url = await kit._flow.start("b", "/", **start)  # type: ignore[arg-type]
        params = op.authorize(url)
        await kit._flow.finish({k: [v] for k, v in params.items()}, "b")

    op.id_claims["acr"] = MFA
    await finish(acr_values=(PWD, MFA))
    with pytest.raises(InvalidIdToken, match="acr"):
        await finish(acr_values=(PWD,))
    op.id_claims["auth_time"] = int(clock.now) - 1000
    await finish()  # nothing asked: an old authentication is fine
    with pytest.raises(InvalidIdToken, match="auth_time"):
        await finish(prompt="login")
    op.id_claims["auth_time"] = DROP
    with pytest.raises(InvalidIdToken, match="auth_time"):
        await finish(prompt="login")
    # An authentication "in the future" proves nothing: refused beyond the clock leeway.
    op.id_claims["auth_time"] = int(clock.now) + kit.config.clock_leeway + 5
    await finish()
    for step_up in ({"prompt": "login"}, {"max_age": 600}):
        with pytest.raises(InvalidIdToken, match="auth_time"):
            await finish(**step_up)
    op.id_claims["auth_time"] = int(clock.now) + kit.config.clock_leeway
    await finish(prompt="login", max_age=600)


# -- the decorator's own arguments ---------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {"max_age": -1},
        {"max_age": True},
        {"max_age": "300"},
        {"max_age": MAX_AGE_LIMIT + 1},
        {"acr_values": ("a b",)},
        {"acr_values": ("",)},
        {"acr_values": ("a\nb",)},
        {"prompt": "consent"},
        {"prompt": "none"},
    ],
)
def test_bad_decorator_options_fail_at_import_time(options: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        login_required(**options)  # type: ignore[call-overload]


def test_step_up_requirements() -> None:
    assert not StepUp().required
    assert StepUp.for_route(acr_values=f"{MFA} {PWD}").acr_values == (MFA, PWD)
    assert StepUp.for_route(prompt="login").window == PROMPT_LOGIN_WINDOW
    assert StepUp.for_route(prompt="login", max_age=30).window == 30
    step_up = StepUp.for_route(max_age=10, acr_values=(MFA,))
    now = 1000.0
    assert step_up.satisfied_by({"auth_time": 990, "acr": MFA}, now, 0)
    assert not step_up.satisfied_by({"auth_time": 989, "acr": MFA}, now, 0)
    assert step_up.satisfied_by({"auth_time": 985, "acr": MFA}, now, 5)
    assert not step_up.satisfied_by({"auth_time": 990, "acr": PWD}, now, 0)
    assert not step_up.satisfied_by({"auth_time": 990}, now, 0)
    assert not step_up.satisfied_by({"auth_time": True, "acr": MFA}, now, 0)
    assert not step_up.satisfied_by({"auth_time": "990", "acr": MFA}, now, 0)
    assert not step_up.satisfied_by({"auth_time": float("nan"), "acr": MFA}, now, 0)
    assert not step_up.satisfied_by({"auth_time": float("inf"), "acr": MFA}, now, 0)
    assert not step_up.satisfied_by({"auth_time": 1006, "acr": MFA}, now, 5)
    assert step_up.satisfied_by({"auth_time": 1005, "acr": MFA}, now, 5)


# -- caching of answers that depend on the session -----------------------------------------


async def test_answers_that_depend_on_the_session_vary_on_cookie_and_are_not_stored(
    browser: httpx.AsyncClient, op: FakeOP
) -> None:
    html = {"Accept": "text/html"}
    requests = [("/page", html), ("/mfa", html), ("/api/mfa", {}), ("/auth/session", {})]
    anonymous = [await browser.get(path, headers=headers) for path, headers in requests]
    op.id_claims["acr"] = PWD
    await login(browser, op)
    logged_in = [await browser.get(path, headers=headers) for path, headers in requests]
    statuses = [r.status_code for r in anonymous + logged_in]
    assert statuses == [303, 303, 401, 401, 200, 303, 401, 200]
    for response in anonymous + logged_in:
        assert "Cookie" in response.headers["vary"], response.url
        assert response.headers["cache-control"] == "no-store", response.url
