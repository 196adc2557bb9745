"""Audit events: one structured record per security-relevant fact, on ``oidc_kit.audit`` and
to ``Hooks.on_audit``, with where the request came from and never a token, code or session id."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route

from oidc_kit import AuditEvent, AuditJsonFormatter, Hooks, MemoryStore
from oidc_kit._audit import coarse_ip, session_handle, summarize_user_agent
from oidc_kit.starlette import OIDCAuth, login_required
from tests.conftest import Clock, make_config
from tests.fake_op import FakeOP
from tests.web.test_backchannel import logout_token
from tests.web.test_starlette import do_login

CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)


class Recorder:
    """The app's ``on_audit`` hook, and the JSON lines of the ``oidc_kit.audit`` logger."""

    def __init__(self) -> None:
        self.events: list[AuditEvent] = []
        self.stream = io.StringIO()

    async def __call__(self, event: AuditEvent) -> None:
        self.events.append(event)

    def names(self) -> list[str]:
        return [e.event for e in self.events]

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stream.getvalue().splitlines()]


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    recorder = Recorder()
    handler = logging.StreamHandler(recorder.stream)
    handler.setFormatter(AuditJsonFormatter())
    logger = logging.getLogger("oidc_kit.audit")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    yield recorder
    logger.removeHandler(handler)
    logger.setLevel(level)


@pytest.fixture
async def kit(op: FakeOP, clock: Clock, recorder: Recorder) -> AsyncIterator[OIDCAuth]:
    auth = OIDCAuth(
        make_config(session_idle_timeout=7200),  # an hour's refresh leaves the session alive
        http_client=httpx.AsyncClient(transport=op.transport()),
        store=MemoryStore(),
        clock=clock,
        hooks=Hooks(on_audit=recorder),
    )
    yield auth
    await auth.http.aclose()


def build(auth: OIDCAuth) -> Starlette:
    @login_required(max_age=60)
    async def transfer(request: Request) -> Response:
        return PlainTextResponse("ok")

    @login_required
    async def page(request: Request) -> Response:
        return PlainTextResponse("hello")

    return Starlette(
        routes=[Mount("/auth", routes=auth.routes), Route("/transfer", transfer), Route("/", page)],
        middleware=[auth.middleware],
        exception_handlers=auth.exception_handlers,
    )


@pytest.fixture
async def browser(kit: OIDCAuth) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=build(kit), client=("203.0.113.7", 50123))
    headers = {"User-Agent": CHROME, "X-Request-ID": "req-42"}
    async with httpx.AsyncClient(
        transport=transport, base_url="https://app.test", headers=headers
    ) as client:
        yield client


def session_id(kit: OIDCAuth, browser: httpx.AsyncClient) -> str:
    sid, _ = kit.rp._cookies.read_session(browser.cookies[kit.session_cookie])
    assert sid is not None
    return sid


async def test_a_login_is_one_event_with_where_it_came_from(
    kit: OIDCAuth, browser: httpx.AsyncClient, op: FakeOP, recorder: Recorder
) -> None:
    assert (await do_login(browser, op)).status_code == 303
    sid = session_id(kit, browser)
    [event] = recorder.events
    assert event.event == "login.succeeded" and event.outcome == "success"
    assert (event.sub, event.provider) == ("user-1", "default")
    assert event.session == session_handle(sid) and event.session != sid
    assert event.client_ip == "203.0.113.7"
    assert event.user_agent == "Chrome 131 on Linux"
    assert event.request_id == "req-42"
    assert event.time.endswith("+00:00")
    # The same, as one JSON line on the oidc_kit.audit logger.
    [line] = recorder.lines()
    assert line == event.as_dict()
    # The session remembers the browser and the network, not the address.
    session = await kit.rp._sessions.load(sid)
    assert session is not None
    assert (session.user_agent, session.network) == ("Chrome 131 on Linux", "203.0.113.x")


async def test_a_failed_login_names_its_error_code(
    browser: httpx.AsyncClient, recorder: Recorder
) -> None:
    answer = await browser.get("/auth/callback", params={"code": "c", "state": "forged"})
    assert answer.status_code == 400
    [event] = recorder.events
    assert (event.event, event.outcome, event.error) == ("login.failed", "failure", "invalid_state")


async def test_logout_and_backchannel_logout(
    kit: OIDCAuth, browser: httpx.AsyncClient, op: FakeOP, clock: Clock, recorder: Recorder
) -> None:
    await do_login(browser, op)
    sid = session_id(kit, browser)
    answer = await browser.post("/auth/logout", headers={"Origin": "https://app.test"})
    assert answer.status_code == 303
    assert recorder.names() == ["login.succeeded", "logout"]
    assert recorder.events[-1].session == session_handle(sid)
    assert recorder.events[-1].reason == "user"

    await do_login(browser, op)
    sid = session_id(kit, browser)
    form = {"logout_token": logout_token(op, clock)}
    assert (await browser.post("/auth/backchannel-logout", data=form)).status_code == 200
    event = recorder.events[-1]
    assert (event.event, event.sub, event.session) == (
        "backchannel_logout",
        "user-1",
        session_handle(sid),
    )
    refused = await browser.post("/auth/backchannel-logout", data={"logout_token": "x.y.z"})
    assert refused.status_code == 400
    assert (recorder.events[-1].outcome, recorder.events[-1].error) == (
        "failure",
        "invalid_logout_token",
    )


async def test_refreshes_succeeded_and_failed(
    kit: OIDCAuth, browser: httpx.AsyncClient, op: FakeOP, clock: Clock, recorder: Recorder
) -> None:
    await do_login(browser, op)
    session = await kit.rp._sessions.load(session_id(kit, browser))
    assert session is not None
    clock.advance(3600)
    await kit.rp.token_source(session).tokens()
    assert recorder.names()[-1] == "refresh.succeeded"
    # The provider forgets every refresh token: the next refresh is refused, the session ends.
    op.refresh_tokens.clear()
    session = await kit.rp._sessions.load(session.sid)
    assert session is not None
    clock.advance(3600)
    with pytest.raises(Exception, match="refused"):
        await kit.rp.token_source(session).tokens()
    event = recorder.events[-1]
    assert (event.event, event.outcome, event.error, event.reason) == (
        "refresh.failed",
        "failure",
        "invalid_grant",
        "session_ended",
    )


async def test_an_expired_session_says_why(
    kit: OIDCAuth, browser: httpx.AsyncClient, op: FakeOP, clock: Clock, recorder: Recorder
) -> None:
    await do_login(browser, op)
    clock.advance(kit.config.session_idle_timeout + 1)
    assert (await browser.get("/")).status_code == 303  # to log in again
    event = recorder.events[-1]
    assert (event.event, event.reason, event.sub) == ("session.expired", "idle", "user-1")
    assert event.client_ip == "203.0.113.7"


async def test_a_step_up_is_recorded(
    browser: httpx.AsyncClient, op: FakeOP, clock: Clock, recorder: Recorder
) -> None:
    await do_login(browser, op)
    clock.advance(120)  # the login is older than the route's max_age=60
    assert (await browser.get("/transfer")).status_code == 303
    assert recorder.names()[-1] == "step_up.required"


async def test_no_token_code_cookie_or_session_id_in_any_event(
    kit: OIDCAuth, browser: httpx.AsyncClient, op: FakeOP, clock: Clock, recorder: Recorder
) -> None:
    start = await browser.get("/auth/login")
    params = op.authorize(start.headers["location"])
    await browser.get("/auth/callback", params=params)
    sid = session_id(kit, browser)
    cookie = browser.cookies[kit.session_cookie]
    session = await kit.rp._sessions.load(sid)
    assert session is not None
    tokens = kit.rp._sessions.tokens(session)
    clock.advance(3600)
    refreshed = await kit.rp.token_source(session).tokens()
    assert refreshed.access_token != tokens.access_token
    await browser.post("/auth/logout", headers={"Origin": "https://app.test"})
    text = recorder.stream.getvalue()
    assert len(recorder.lines()) == 3
    secrets = [sid, params["code"], cookie]
    for each in (tokens, refreshed):
        secrets += [each.access_token, each.refresh_token or "", each.id_token or ""]
    for secret in secrets:
        assert len(secret) > 10 and secret not in text


async def test_a_failing_audit_hook_changes_nothing(
    op: FakeOP, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(event: AuditEvent) -> None:
        raise RuntimeError("the audit sink is down")

    auth = OIDCAuth(
        make_config(),
        http_client=httpx.AsyncClient(transport=op.transport()),
        store=MemoryStore(),
        clock=clock,
        hooks=Hooks(on_audit=broken),
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=build(auth)), base_url="https://app.test"
    ) as browser:
        assert (await do_login(browser, op)).status_code == 303
        assert (await browser.get("/")).text == "hello"
    assert "on_audit hook raised RuntimeError" in caplog.text
    await auth.http.aclose()


@pytest.mark.parametrize(
    ("agent", "summary"),
    [
        (CHROME, "Chrome 131 on Linux"),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
            "Safari 17 on iOS",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.86",
            "Edge 131 on Windows",
        ),
        (
            "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
            "Firefox 133 on Linux",
        ),
        ("curl/8.5.0", "curl 8"),
        ("", None),
        ("something else", "other"),
    ],
)
def test_user_agents_are_summarised(agent: str, summary: str | None) -> None:
    assert summarize_user_agent(agent) == summary


def test_addresses_are_coarsened() -> None:
    assert coarse_ip("203.0.113.7") == "203.0.113.x"
    assert coarse_ip("2001:db8:1:2::7") == "2001:db8:1::/48"
    assert coarse_ip("not an address") is None
    assert coarse_ip(None) is None


def test_a_session_handle_is_stable_and_not_the_id() -> None:
    sid = "A" * 43
    assert session_handle(sid) == session_handle(sid)
    assert session_handle(sid) != session_handle("B" * 43)
    assert sid not in session_handle(sid) and len(session_handle(sid)) == 22


def test_the_operations_page_lists_every_event() -> None:
    from pathlib import Path

    from oidc_kit.audit import EVENTS

    page = (Path(__file__).parents[2] / "docs" / "operations.md").read_text(encoding="utf-8")
    for name in EVENTS:
        assert f"| `{name}` |" in page, name


def test_only_the_start_of_a_user_agent_is_read() -> None:
    """Anyone sends any header: a long one must not make the summary slow (a backtracking
    pattern over 60 KB of digits took seconds of the event loop)."""
    assert summarize_user_agent("x" * 600 + " Chrome/131.0") == "other"
    hostile = "Version/" + "1" * 100_000 + "x Safari/"
    assert summarize_user_agent(hostile) == "other"


async def test_a_session_expiring_under_concurrent_requests_is_recorded_once(
    kit: OIDCAuth, browser: httpx.AsyncClient, op: FakeOP, clock: Clock, recorder: Recorder
) -> None:
    import asyncio

    await do_login(browser, op)
    sid = session_id(kit, browser)
    clock.advance(kit.config.session_idle_timeout + 1)
    await asyncio.gather(*(kit.rp._sessions.load(sid) for _ in range(5)))
    assert recorder.names().count("session.expired") == 1


def test_an_unknown_event_name_is_refused() -> None:
    import asyncio

    from oidc_kit._audit import Auditor

    with pytest.raises(ValueError, match="unknown audit event"):
        asyncio.run(Auditor().emit("login.succeded"))
