"""The framework-neutral core: login, callback, logout driven with plain values, no web
framework; and the app's say in them (hooks, templates) through the Starlette adapter."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx

from oidc_kit import (
    Hooks,
    LoginDenied,
    LoginEvent,
    LogoutEvent,
    MemoryStore,
    Outcome,
    RelyingParty,
)
from oidc_kit.starlette import OIDCAuth
from tests.conftest import Clock, make_config
from tests.fake_op import FakeOP
from tests.web.test_starlette import APP, build_app, do_login


def _rp(op: FakeOP, clock: Clock, hooks: Hooks | None = None) -> RelyingParty:
    http = httpx.AsyncClient(transport=op.transport())
    return RelyingParty(
        {"default": make_config()}, store=MemoryStore(), http=http, hooks=hooks, clock=clock
    )


def _cookies(outcome: Outcome) -> dict[str, str]:
    return {c.name: c.value for c in outcome.cookies if c.value is not None}


async def _callback(rp: RelyingParty, op: FakeOP, start: Outcome) -> Outcome:
    assert start.location is not None
    params = {k: [v] for k, v in op.authorize(start.location).items()}
    return await rp.finish_login("GET", params, _cookies(start), None)


async def test_a_login_with_plain_values_in_and_out(op: FakeOP, clock: Clock) -> None:
    rp = _rp(op, clock)
    start = await rp.start_login({"next": ["/accounts"]}, {})
    assert start.status == 303 and start.location is not None
    assert parse_qs(urlsplit(start.location).query)["code_challenge_method"] == ["S256"]
    assert rp.login_cookie in _cookies(start)

    done = await _callback(rp, op, start)

    assert (done.status, done.location, done.error) == (303, "/accounts", None)
    session, current = await rp.load_session(_cookies(done)[rp.session_cookie])
    assert session is not None and current


async def test_token_status_shows_the_current_tokens_state_never_a_token(
    op: FakeOP, clock: Clock
) -> None:
    """Every adapter's profile-page helper: the grant's state, re-read from the store (a
    refresh made elsewhere shows), and no token, whole or in part."""
    rp = _rp(op, clock)
    op.token_body = {"expires_in": 300}
    done = await _callback(rp, op, await rp.start_login({}, {}))
    session, _ = await rp.load_session(_cookies(done)[rp.session_cookie])
    assert session is not None
    before = await rp.token_status(session)
    clock.advance(290)  # due: the refresh below takes place
    fresh = await rp.token_source(session).tokens()

    status = await rp.token_status(session)  # the session object as the request had it

    assert set(status) == {
        "sub", "claims", "expires_at", "scope", "has_refresh_token", "token_type",
        "dpop_jkt", "profile", "provider", "authorization_details",
    }  # fmt: skip
    assert status["authorization_details"] == []  # the login asked for none (RFC 9396)
    assert status["expires_at"] == fresh.expires_at > before["expires_at"]
    assert (status["sub"], status["scope"], status["token_type"]) == (
        op.sub,
        "openid profile accounts:read",
        "Bearer",
    )
    assert status["has_refresh_token"] is True and status["dpop_jkt"] is None
    shown = json.dumps(status)
    for token in (fresh.access_token, fresh.refresh_token, fresh.id_token):
        assert token and token not in shown and token[:12] not in shown


async def test_a_failed_callback_is_an_outcome_with_the_error(op: FakeOP, clock: Clock) -> None:
    rp = _rp(op, clock)
    outcome = await rp.finish_login("GET", {"state": ["forged"], "code": ["x"]}, {}, None)
    assert outcome.status == 400
    assert outcome.error is not None and outcome.error.code == "invalid_state"
    assert outcome.cookies == ()


async def test_on_login_may_add_claims_but_not_change_who(op: FakeOP, clock: Clock) -> None:
    async def on_login(event: LoginEvent) -> None:
        event.claims["customer_number"] = "C-1001"
        event.claims["sub"] = "someone-else"  # ignored: the identity is the provider's

    rp = _rp(op, clock, Hooks(on_login=on_login))
    done = await _callback(rp, op, await rp.start_login({}, {}))
    session, _ = await rp.load_session(_cookies(done)[rp.session_cookie])
    assert session is not None
    assert session.claims["customer_number"] == "C-1001"
    assert session.sub == session.claims["sub"] == op.sub


async def test_a_denying_on_login_makes_no_session(op: FakeOP, clock: Clock) -> None:
    async def on_login(event: LoginEvent) -> None:
        raise LoginDenied("Your account is not enabled for online banking.")

    rp = _rp(op, clock, Hooks(on_login=on_login))
    done = await _callback(rp, op, await rp.start_login({}, {}))
    assert done.status == 403
    assert isinstance(done.error, LoginDenied)
    assert rp.session_cookie not in _cookies(done)


# -- through the Starlette adapter --------------------------------------------------------------


def _kit(op: FakeOP, clock: Clock, **options: object) -> OIDCAuth:
    http = httpx.AsyncClient(transport=op.transport())
    return OIDCAuth(make_config(), http_client=http, store=MemoryStore(), clock=clock, **options)  # type: ignore[arg-type]


async def test_a_denial_is_a_403_page_from_the_apps_template(
    op: FakeOP, clock: Clock, tmp_path: Path
) -> None:
    (tmp_path / "refused.html").write_text(
        "<h1>{{ bank }}: {{ description }}</h1><p>{{ code }}</p>"
    )

    async def on_login(event: LoginEvent) -> None:
        raise LoginDenied(
            "Online banking is not enabled.", page="refused", context={"bank": "Example Bank"}
        )

    # The app's templates live beside the kit's: page "refused" is oidc_kit/refused.html there.
    (tmp_path / "oidc_kit").mkdir()
    (tmp_path / "refused.html").rename(tmp_path / "oidc_kit" / "refused.html")
    kit = _kit(op, clock, hooks=Hooks(on_login=on_login), template_dirs=[tmp_path])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=build_app(kit)), base_url=APP
    ) as browser:
        answer = await do_login(browser, op)
        assert answer.status_code == 403
        assert "<h1>Example Bank: Online banking is not enabled.</h1>" in answer.text
        assert "login_denied" in answer.text
        assert "__Host-oidc_session" not in browser.cookies
        assert (await browser.get("/auth/session")).status_code == 401
        assert answer.headers["x-frame-options"] == "DENY"


async def test_an_overridden_kit_template_is_used(op: FakeOP, clock: Clock, tmp_path: Path) -> None:
    (tmp_path / "oidc_kit").mkdir()
    (tmp_path / "oidc_kit" / "logout.html").write_text(
        '{% extends "oidc_kit/base.html" %}{% block content %}<h1>Leaving Example Bank?</h1>'
        '<form method="post" action="{{ prefix }}/logout"><button>Sign out</button></form>'
        "{% endblock %}"
    )
    kit = _kit(op, clock, template_dirs=[tmp_path])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=build_app(kit)), base_url=APP
    ) as browser:
        page = await browser.get("/auth/logout")
        error = await browser.get("/auth/callback?state=x&code=y")
    assert "<h1>Leaving Example Bank?</h1>" in page.text
    assert 'action="/auth/logout"' in page.text
    assert "Sign-in problem" in error.text  # the pages it does not override stay the kit's


async def test_on_logout_hears_of_a_user_logout(op: FakeOP, clock: Clock) -> None:
    heard: list[LogoutEvent] = []

    async def on_logout(event: LogoutEvent) -> None:
        heard.append(event)

    kit = _kit(op, clock, hooks=Hooks(on_logout=on_logout))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=build_app(kit)), base_url=APP
    ) as browser:
        await do_login(browser, op)
        answer = await browser.post("/auth/logout", headers={"Sec-Fetch-Site": "same-origin"})
    assert answer.status_code == 303
    assert heard == [LogoutEvent("default", op.sub, "user")]
